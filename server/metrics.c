/* metrics: counters kept in memory and rendered in the Prometheus text
 * format for GET /metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>

#include "site.h"

/* status codes counted separately; anything else lands in "other" */
static const int tracked_status[] = {200, 201, 204, 400, 401, 403, 404, 405, 409,
				     413, 431, 499, 500, 503};
#define N_STATUS (sizeof(tracked_status) / sizeof(tracked_status[0]) + 1)

/* check-in latency buckets, seconds */
static const double lat_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				    0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define N_LAT (sizeof(lat_bounds) / sizeof(lat_bounds[0]))

struct metrics {
	size_t n_routes;
	atomic_uint_least64_t *requests; /* [route + 1][status]; index 0: unmatched */
	atomic_uint_least64_t lat[N_LAT + 1];
	atomic_uint_least64_t lat_count;
	atomic_uint_least64_t lat_sum_us;
};

int metrics_new(size_t n_routes, struct metrics **out)
{
	struct metrics *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return -STEWARD_ENOMEM;
	m->n_routes = n_routes;
	m->requests = calloc((n_routes + 1) * N_STATUS, sizeof(*m->requests));
	if (!m->requests) {
		free(m);
		return -STEWARD_ENOMEM;
	}
	*out = m;
	return 0;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	free(m->requests);
	free(m);
}

static size_t status_index(int status)
{
	for (size_t i = 0; i < N_STATUS - 1; i++)
		if (tracked_status[i] == status)
			return i;
	return N_STATUS - 1;
}

void metrics_observe(struct metrics *m, size_t route_index, int status, int64_t usec)
{
	if (route_index > m->n_routes)
		route_index = 0;
	atomic_fetch_add(&m->requests[route_index * N_STATUS + status_index(status)], 1);
}

void metrics_checkin_latency(struct metrics *m, int64_t usec)
{
	double s = (double)usec / 1e6;
	size_t i;

	for (i = 0; i < N_LAT && s > lat_bounds[i]; i++)
		;
	atomic_fetch_add(&m->lat[i], 1);
	atomic_fetch_add(&m->lat_count, 1);
	atomic_fetch_add(&m->lat_sum_us, (uint64_t)(usec > 0 ? usec : 0));
}

int metrics_render(struct site *s, struct buf *out)
{
	struct metrics *m = s->metrics;
	struct store_writer_stats ws;
	static const char *const hist_labels[] = {"1", "4", "16", "64", "256", "1024", "+Inf"};
	uint64_t cum = 0;
	int64_t counts[4];
	int rc = 0;

	rc |= buf_puts(out, "# HELP steward_http_requests_total HTTP requests by route and status.\n"
			    "# TYPE steward_http_requests_total counter\n");
	for (size_t r = 0; r <= m->n_routes; r++) {
		const char *name = r ? site_routes[r - 1].name : "unmatched";
		for (size_t i = 0; i < N_STATUS; i++) {
			uint64_t v = atomic_load(&m->requests[r * N_STATUS + i]);
			char code[8];
			if (!v)
				continue;
			if (i == N_STATUS - 1)
				snprintf(code, sizeof(code), "other");
			else
				snprintf(code, sizeof(code), "%d", tracked_status[i]);
			rc |= buf_printf(out, "steward_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
					 name, code, (unsigned long long)v);
		}
	}
	rc |= buf_puts(out, "# HELP steward_checkin_duration_seconds Check-in latency, receipt to reply (after commit).\n"
			    "# TYPE steward_checkin_duration_seconds histogram\n");
	for (size_t i = 0; i <= N_LAT; i++) {
		cum += atomic_load(&m->lat[i]);
		if (i < N_LAT)
			rc |= buf_printf(out, "steward_checkin_duration_seconds_bucket{le=\"%g\"} %llu\n",
					 lat_bounds[i], (unsigned long long)cum);
		else
			rc |= buf_printf(out, "steward_checkin_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
					 (unsigned long long)cum);
	}
	rc |= buf_printf(out, "steward_checkin_duration_seconds_sum %.6f\n"
			      "steward_checkin_duration_seconds_count %llu\n",
			 (double)atomic_load(&m->lat_sum_us) / 1e6,
			 (unsigned long long)atomic_load(&m->lat_count));

	store_writer_get_stats(s->writer, &ws);
	rc |= buf_puts(out, "# HELP steward_writer_batch_size Records (check-ins, sequence numbers)"
			    " committed per transaction.\n"
			    "# TYPE steward_writer_batch_size histogram\n");
	cum = 0;
	for (int i = 0; i < 7; i++) {
		cum += ws.batch_hist[i];
		rc |= buf_printf(out, "steward_writer_batch_size_bucket{le=\"%s\"} %llu\n",
				 hist_labels[i], (unsigned long long)cum);
	}
	rc |= buf_printf(out, "steward_writer_batch_size_sum %llu\nsteward_writer_batch_size_count %llu\n",
			 (unsigned long long)ws.records, (unsigned long long)ws.batches);
	rc |= buf_printf(out, "# HELP steward_writer_queue_depth Check-ins waiting for the database.\n"
			      "# TYPE steward_writer_queue_depth gauge\nsteward_writer_queue_depth %zu\n",
			 ws.queue_depth);
	rc |= buf_printf(out, "# HELP steward_writer_failures_total Batches that failed to commit.\n"
			      "# TYPE steward_writer_failures_total counter\nsteward_writer_failures_total %llu\n",
			 (unsigned long long)ws.failures);
	registry_counts(s->reg, counts);
	rc |= buf_puts(out, "# HELP steward_clients Clients by state.\n# TYPE steward_clients gauge\n");
	for (int i = 0; i < 4; i++)
		rc |= buf_printf(out, "steward_clients{state=\"%s\"} %lld\n",
				 store_client_state_name((enum store_client_state)i),
				 (long long)counts[i]);
	rc |= buf_printf(out, "# HELP steward_http_connections Open HTTP connections.\n"
			      "# TYPE steward_http_connections gauge\nsteward_http_connections %u\n",
			 s->http ? http_server_connections(s->http) : 0);
	rc |= site_rollouts_metrics(s, out);
	return rc ? -STEWARD_ETOOBIG : 0;
}
