/* bench-link-direct: the reference of bench/replication. The same status
 * reports a child sends its parent, applied straight into a parent's store
 * through the same store call the receiver uses (site_apply, one
 * transaction per batch of 1000, WAL, synchronous=FULL), without the link:
 * no JSON, no zstd, no HTTP, no signatures. Prints
 *   direct reports=N batches=B seconds=S rate=R/s
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>

#include "steward/store.h"
#include "steward/util.h"

#define BATCH 1000

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
					     {"reports", required_argument, NULL, 'n'},
					     {"detail", required_argument, NULL, 'p'},
					     {NULL, 0, NULL, 0}};
	const char *db = NULL;
	long n = 100000, pad = 0;
	struct store *st = NULL;
	struct steward_err err;
	struct store_site child;
	struct store_link_rec *recs;
	char (*clients)[PROTO_CLIENT_ID_HEX + 1], *detail;
	uint64_t applied[PROTO_LINK_CLASSES];
	int64_t t0, t1;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd')
			db = optarg;
		else if (c == 'n')
			n = strtol(optarg, NULL, 10);
		else if (c == 'p')
			pad = strtol(optarg, NULL, 10);
		else
			return 2;
	}
	if (!db || n < 1 || pad < 0 || pad > 1000) {
		fprintf(stderr, "usage: bench-link-direct --db FILE [--reports N] [--detail BYTES]\n");
		return 2;
	}
	memset(&err, 0, sizeof(err));
	if (store_sqlite_ops.open(db, &st, &err)) {
		fprintf(stderr, "bench-link-direct: %s: %s\n", err.code, err.message);
		return 1;
	}
	memset(&child, 0, sizeof(child));
	snprintf(child.code, sizeof(child.code), "C01");
	child.relation = STORE_SITE_CHILD;
	snprintf(child.url, sizeof(child.url), "http://127.0.0.1:1");
	memset(child.public_key, 'a', 64);
	child.attached = true;
	child.attached_at = time_now_s();
	recs = calloc(BATCH, sizeof(*recs));
	clients = calloc(BATCH, sizeof(*clients));
	detail = calloc(1, (size_t)pad + 1);
	if (!recs || !clients || !detail || st->ops->site_put(st, &child)) {
		fprintf(stderr, "bench-link-direct: setup failed\n");
		return 1;
	}
	memset(detail, 'd', (size_t)pad);
	t0 = time_mono_us();
	for (long done = 0, seq = 1; done < n;) {
		long k = n - done < BATCH ? n - done : BATCH;

		for (long i = 0; i < k; i++, seq++) {
			struct store_link_rec *r = &recs[i];

			snprintf(clients[i], sizeof(clients[i]), "%032lx", (unsigned long)(seq % 3000));
			memset(r, 0, sizeof(*r));
			r->cls = 1;
			r->seq = (uint64_t)seq;
			r->kind = STORE_LINK_STATUS;
			r->u.status = (struct store_site_status){.site = "C01", .advert = "roll-out",
								 .client = clients[i], .revision = 1,
								 .seq = seq, .state = "succeeded",
								 .detail = detail, .has_exit_code = true,
								 .time = time_now_s()};
		}
		if (st->ops->site_apply(st, "C01", (uint64_t)seq, recs, (size_t)k, applied)) {
			fprintf(stderr, "bench-link-direct: site_apply failed\n");
			return 1;
		}
		done += k;
	}
	t1 = time_mono_us();
	printf("direct reports=%ld batches=%ld seconds=%.3f rate=%.0f/s\n", n, (n + BATCH - 1) / BATCH,
	       (double)(t1 - t0) / 1e6, (double)n * 1e6 / (double)(t1 - t0));
	st->ops->close(st);
	free(recs);
	free(clients);
	free(detail);
	return 0;
}
