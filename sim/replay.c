/* sim/replay: pre-built, MACed check-ins written to files that a cheap
 * load generator (wrk with bench/checkin/replay.lua) sends unchanged.
 *
 * The site accepts a check-in only once: its sequence number must be above
 * the last one accepted from the client, and its timestamp within
 * clock_skew_max of the site's clock. So every request here carries a
 * fresh sequence number of a client whose session the fleet opened, and
 * the time the file was written. The load generator's threads each read
 * their own file (FILE.0, FILE.1, ...), and a client's requests are all in
 * one file, in the order of their sequence numbers: thread t owns the
 * clients i with i % threads == t. Within a file the requests go
 * round-robin over the thread's clients, so two requests of one client
 * are (clients per thread) requests apart; sim/README.md says why that
 * keeps them in order on the wire.
 *
 * File format (version 1), all bytes as they go on the wire:
 *
 *   steward-replay 1 bodies=B requests=N\n
 *   B times: LEN\n BODY \n
 *   N times: one digit, the body's index, then the request line and
 *            headers, ending with \r\n\r\n (the body follows on the wire)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <inttypes.h>

#include <sodium.h>

#include "sim.h"

#define REPLAY_PATH   "/api/v1/checkin"
#define REPLAY_BODIES 2

/* The bodies a replay file holds: one for the steady state (or with
 * status messages); with changed, two that differ in one component's
 * version, sent in turn, so that every check-in changes what the site
 * stored from the one before. */
static int bodies_build(const struct sim_opts *o, const struct proto_checkin_req *tpl,
			char *bodies[REPLAY_BODIES], int *n)
{
	struct proto_checkin_req *ck = malloc(sizeof(*ck));
	int64_t now = time_now_s();

	*n = 0;
	if (!ck)
		return -STEWARD_ENOMEM;
	*ck = *tpl;
	ck->n_status = 0;
	for (uint32_t i = 0; i < o->replay_status; i++) {
		struct proto_status_msg *m = &ck->status[ck->n_status++];

		snprintf(m->type, sizeof(m->type), "program_finished");
		snprintf(m->text, sizeof(m->text),
			 "advertisement ADV%05" PRIu32
			 ": program \"install\" exited with 0 after 12 s",
			 i);
		m->time = now - (int64_t)(o->replay_status - i);
	}
	bodies[(*n)++] = proto_checkin_req_build(ck);
	if (o->replay_changed) {
		for (int i = 0; i < ck->n_components; i++)
			if (strcmp(ck->components[i].name, "inventory") == 0)
				snprintf(ck->components[i].version,
					 sizeof(ck->components[i].version), "%s",
					 strcmp(ck->components[i].version, "0.0.1") ? "0.0.1"
										    : "0.0.2");
		bodies[(*n)++] = proto_checkin_req_build(ck);
	}
	free(ck);
	for (int i = 0; i < *n; i++)
		if (!bodies[i])
			return -STEWARD_ENOMEM;
	return 0;
}

/* "host:port" of scheme://host:port */
static const char *authority(const char *server)
{
	const char *p = strstr(server, "://");

	return p ? p + 3 : server;
}

static int write_thread(const struct sim_opts *o, struct sim_replay_client *c, uint32_t n,
			uint32_t t, char *const bodies[], int n_bodies, uint64_t *bytes)
{
	uint32_t threads = o->replay_threads, mine = 0;
	uint64_t count, rounds;
	struct proto_auth auth;
	char *path = NULL;
	int64_t ts = time_now_s();
	FILE *fp = NULL;
	int rc = -STEWARD_EIO;

	for (uint32_t i = t; i < n; i += threads)
		mine++;
	/* the thread's share of the requests, whole rounds over its clients */
	count = o->replay_requests / threads + (t < o->replay_requests % threads);
	rounds = (count + mine - 1) / mine;
	if (asprintf(&path, "%s.%" PRIu32, o->replay_out, t) < 0) {
		rc = -STEWARD_ENOMEM;
		goto out;
	}
	fp = fopen(path, "w");
	if (!fp) {
		fprintf(stderr, "steward-sim: cannot write %s: %s\n", path, strerror(errno));
		goto out;
	}
	fprintf(fp, "steward-replay 1 bodies=%d requests=%" PRIu64 "\n", n_bodies, count);
	for (int b = 0; b < n_bodies; b++)
		fprintf(fp, "%zu\n%s\n", strlen(bodies[b]), bodies[b]);
	for (uint64_t r = 0, k = 0; r < rounds && k < count; r++) {
		/* changed: the first round differs from the steady body the
		 * clients reported before */
		int b = n_bodies > 1 ? (int)((r + 1) % (uint64_t)n_bodies) : 0;
		size_t blen = strlen(bodies[b]);

		for (uint32_t i = t; i < n && k < count; i += threads, k++) {
			uint64_t seq = ++*c[i].seq;

			rc = proto_auth_build(&auth, "POST", REPLAY_PATH, c[i].id, ts, seq,
					      bodies[b], blen, NULL, c[i].skey, c[i].epoch);
			if (rc)
				goto out;
			fprintf(fp, "%dPOST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %zu\r\n", b,
				REPLAY_PATH, authority(o->server), blen);
			for (const char *const *h = auth.list; *h; h++)
				fprintf(fp, "%s\r\n", *h);
			fputs("\r\n", fp);
		}
	}
	rc = 0;
out:
	sodium_memzero(&auth, sizeof(auth));
	if (fp) {
		if (!rc && ferror(fp))
			rc = -STEWARD_EIO;
		if (!rc)
			*bytes += (uint64_t)ftello(fp);
		if (fclose(fp) != 0 && !rc)
			rc = -STEWARD_EIO;
		if (rc)
			fprintf(stderr, "steward-sim: writing %s failed: %s\n", path,
				steward_strerror(rc));
	}
	free(path);
	return rc;
}

int replay_write(const struct sim_opts *o, const struct proto_checkin_req *tpl,
		 struct sim_replay_client *c, uint32_t n)
{
	char *bodies[REPLAY_BODIES] = {NULL};
	uint64_t bytes = 0;
	int n_bodies = 0, rc;

	if (n < o->replay_threads) {
		fprintf(stderr,
			"steward-sim: %" PRIu32 " clients with a session, fewer than the %" PRIu32
			" replay threads\n",
			n, o->replay_threads);
		return -STEWARD_EINVAL;
	}
	rc = bodies_build(o, tpl, bodies, &n_bodies);
	for (uint32_t t = 0; !rc && t < o->replay_threads; t++)
		rc = write_thread(o, c, n, t, bodies, n_bodies, &bytes);
	if (!rc)
		printf("replay_requests=%" PRIu64 " clients=%" PRIu32 " threads=%" PRIu32
		       " bodies=%d body_bytes=%zu status=%" PRIu32 " bytes=%" PRIu64 "\n",
		       o->replay_requests, n, o->replay_threads, n_bodies, strlen(bodies[0]),
		       o->replay_status, bytes);
	for (int i = 0; i < REPLAY_BODIES; i++)
		free(bodies[i]);
	return rc;
}
