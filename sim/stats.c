/* sim/stats: latency histogram, error tally, the summary line, and the
 * acknowledgement log.
 *
 * The histogram is log-linear: exact microseconds below 2048 us, then 1024
 * buckets per power of two (under 0.1% error), about 250 KB whatever the
 * run length, so a long run never grows memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <inttypes.h>

#include <jansson.h>

#include "sim.h"

#define HIST_LINEAR 2048  /* 2^11: exact below this */
#define HIST_SUB 1024     /* buckets per power of two above it */
#define HIST_TOP 40       /* 2^40 us (12 days): the last bucket holds the rest */
#define HIST_BUCKETS (HIST_LINEAR + (HIST_TOP - 11) * HIST_SUB)

static size_t hist_index(uint64_t us)
{
	int e;

	if (us < HIST_LINEAR)
		return (size_t)us;
	e = 63 - __builtin_clzll(us);
	if (e >= HIST_TOP)
		return HIST_BUCKETS - 1;
	return HIST_LINEAR + (size_t)(e - 11) * HIST_SUB + ((us >> (e - 10)) & (HIST_SUB - 1));
}

/* Middle of a bucket, in microseconds. */
static double hist_value(size_t i)
{
	size_t o, sub;
	double lo, width;

	if (i < HIST_LINEAR)
		return (double)i;
	o = (i - HIST_LINEAR) / HIST_SUB;
	sub = (i - HIST_LINEAR) % HIST_SUB;
	width = (double)((uint64_t)1 << (o + 1));
	lo = (double)(HIST_SUB + sub) * width;
	return lo + width / 2;
}

int stats_init(struct sim_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->hist = calloc(HIST_BUCKETS, sizeof(*s->hist));
	return s->hist ? 0 : -STEWARD_ENOMEM;
}

void stats_free(struct sim_stats *s)
{
	free(s->hist);
	s->hist = NULL;
}

void stats_latency(struct sim_stats *s, int64_t usec)
{
	s->hist[hist_index(usec > 0 ? (uint64_t)usec : 0)]++;
	s->hist_n++;
}

void stats_error(struct sim_stats *s, const char *key)
{
	char k[SIM_KEY_MAX];
	size_t n = 0;

	/* Keys are printed as key=count: keep them to one token. */
	for (const char *p = key && *key ? key : "unknown"; *p && n + 1 < sizeof(k); p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
		k[n++] = ok ? c : '_';
	}
	k[n] = '\0';
	s->errors++;
	for (;;) {
		for (int i = 0; i < s->n_keys; i++) {
			if (strcmp(s->keys[i].key, k) == 0) {
				s->keys[i].n++;
				return;
			}
		}
		/* The last entry is kept for "other", so the tally stays bounded
		 * whatever a misbehaving server sends. */
		if (s->n_keys < SIM_ERR_KEYS - 1 || strcmp(k, "other") == 0)
			break;
		snprintf(k, sizeof(k), "other");
	}
	snprintf(s->keys[s->n_keys].key, sizeof(s->keys[0].key), "%s", k);
	s->keys[s->n_keys].n = 1;
	s->n_keys++;
}

double stats_quantile_ms(const struct sim_stats *s, double q)
{
	uint64_t rank, seen = 0;

	if (s->hist_n == 0)
		return 0.0;
	rank = (uint64_t)(q * (double)s->hist_n);
	if ((double)rank < q * (double)s->hist_n)
		rank++;
	if (rank < 1)
		rank = 1;
	for (size_t i = 0; i < HIST_BUCKETS; i++) {
		seen += s->hist[i];
		if (seen >= rank)
			return hist_value(i) / 1000.0;
	}
	return hist_value(HIST_BUCKETS - 1) / 1000.0;
}

static int key_cmp(const void *a, const void *b)
{
	const struct sim_errkey *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->key, y->key);
}

void stats_print(const struct sim_stats *s, const struct sim_up_counts *up, double elapsed_s,
		 bool json)
{
	double rate = elapsed_s > 0 ? (double)s->ok / elapsed_s : 0.0;
	double p50 = stats_quantile_ms(s, 0.50), p99 = stats_quantile_ms(s, 0.99);
	struct sim_errkey sorted[SIM_ERR_KEYS];

	memcpy(sorted, s->keys, sizeof(sorted));
	qsort(sorted, (size_t)s->n_keys, sizeof(sorted[0]), key_cmp);
	if (json) {
		json_t *codes = json_object(), *root;
		char *out;

		for (int i = 0; i < s->n_keys; i++)
			json_object_set_new(codes, sorted[i].key,
					    json_integer((json_int_t)sorted[i].n));
		root = json_pack("{s:I,s:f,s:f,s:f,s:I,s:o,s:f}", "checkins", (json_int_t)s->ok,
				 "rate", rate, "p50_ms", p50, "p99_ms", p99, "errors",
				 (json_int_t)s->errors, "error_codes", codes, "elapsed_s",
				 elapsed_s);
		if (root && s->paced) {
			json_object_set_new(root, "offered", json_real(s->offered));
			json_object_set_new(root, "behind", json_integer((json_int_t)s->behind));
		}
		if (root && up) {
			json_object_set_new(root, "upgrades_offered", json_integer((json_int_t)up->offered));
			json_object_set_new(root, "upgrades_succeeded",
					    json_integer((json_int_t)up->succeeded));
			json_object_set_new(root, "upgrades_failed", json_integer((json_int_t)up->failed));
			json_object_set_new(root, "upgrades_skipped", json_integer((json_int_t)up->skipped));
			json_object_set_new(root, "content_requests",
					    json_integer((json_int_t)up->content_requests));
			json_object_set_new(root, "content_bytes",
					    json_integer((json_int_t)up->content_bytes));
		}
		out = root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
		printf("%s\n", out ? out : "{}");
		free(out);
		json_decref(root);
	} else {
		printf("checkins=%" PRIu64 " rate=%.1f/s p50_ms=%.2f p99_ms=%.2f", s->ok, rate, p50,
		       p99);
		/* before errors=N, which its tally of codes follows */
		if (s->paced)
			printf(" offered=%.1f/s behind=%" PRIu64, s->offered, s->behind);
		if (up)
			printf(" upgrades_offered=%" PRIu64 " upgrades_succeeded=%" PRIu64
			       " upgrades_failed=%" PRIu64 " upgrades_skipped=%" PRIu64
			       " content_requests=%" PRIu64 " content_bytes=%" PRIu64,
			       up->offered, up->succeeded, up->failed, up->skipped,
			       up->content_requests, up->content_bytes);
		printf(" errors=%" PRIu64, s->errors);
		for (int i = 0; i < s->n_keys; i++)
			printf(" %s=%" PRIu64, sorted[i].key, sorted[i].n);
		printf("\n");
	}
	fflush(stdout);
}

/* ---- acknowledgement log -------------------------------------------------
 * Lines are added only in the completion handler of a check-in answered
 * 200, so nothing reaches the file before the site acknowledged it. The
 * buffer is written out every second and at exit with plain write(2); a
 * crash test kills the site, not the simulator, so no fsync is needed. */

#define ACK_BUF_MAX (8u << 20)
#define ACK_FLUSH_AT (1u << 20)

int acklog_open(struct sim_acklog *a, const char *path)
{
	a->fd = -1;
	a->failed = false;
	a->last_flush_us = time_mono_us();
	buf_init(&a->b, ACK_BUF_MAX);
	if (!path)
		return 0;
	a->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (a->fd < 0) {
		fprintf(stderr, "steward-sim: cannot open ack log %s: %s\n", path, strerror(errno));
		return -STEWARD_EIO;
	}
	return 0;
}

static void acklog_flush(struct sim_acklog *a)
{
	const char *p = a->b.data;
	size_t left = a->b.len;

	while (left && !a->failed) {
		ssize_t n = write(a->fd, p, left);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "steward-sim: writing the ack log failed: %s\n",
				strerror(errno));
			a->failed = true;
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	buf_reset(&a->b);
}

void acklog_add(struct sim_acklog *a, const char *client_hex, uint64_t seq)
{
	if (a->fd < 0)
		return;
	if (a->b.len >= ACK_FLUSH_AT)
		acklog_flush(a);
	if (buf_printf(&a->b, "%s %" PRIu64 "\n", client_hex, seq) != 0) {
		acklog_flush(a);
		buf_printf(&a->b, "%s %" PRIu64 "\n", client_hex, seq);
	}
}

void acklog_tick(struct sim_acklog *a, int64_t now_us, bool force)
{
	if (a->fd < 0)
		return;
	if (!force && now_us - a->last_flush_us < 1000000)
		return;
	a->last_flush_us = now_us;
	if (a->b.len)
		acklog_flush(a);
}

int acklog_close(struct sim_acklog *a)
{
	int rc = 0;

	if (a->fd >= 0) {
		acklog_flush(a);
		if (close(a->fd) != 0 || a->failed)
			rc = -STEWARD_EIO;
	}
	a->fd = -1;
	buf_free(&a->b);
	return rc;
}
