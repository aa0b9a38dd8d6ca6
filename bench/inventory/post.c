/* bench-inventory-post: post full inventories of 2,000 packages to a real
 * stewardd, signed with the keys of clients steward-sim enrolled, and print
 * how many the site ingested per second. See bench/README.md.
 *
 *   bench-inventory-post --server URL --state FILE [--clients N] [--rounds R]
 *                        [--concurrency C] [--packages P]
 *
 * Every client sends R full inventories. Round 1 is the warm-up (each
 * client's first inventory); rounds 2..R are timed. The documents differ per
 * client and per round (versions bumped, packages dropped and added, disk
 * free space moved), so the site sees three changed classes every time and
 * reads every software class anew. All bodies of a round are built and
 * sealed before the round's clock starts, so the figure is the site's.
 *
 * Prints one line: "inventories=N seconds=S rate=R/s p50_ms=.. p99_ms=..
 * errors=E bytes_per_inventory=B".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "steward/inventory.h"
#include "steward/net.h"
#include "steward/proto.h"
#include "steward/util.h"

#define POST_PATH	"/api/v1/inventory"
#define STATE_MAX	((size_t)64 << 20)
#define IMAGES		20 /* distinct base software images */
#define REPLY_MAX	65536
#define POST_TIMEOUT_MS 60000

struct client {
	char id[PROTO_CLIENT_ID_HEX + 1];
	struct proto_keypair kp;
	uint64_t seq;
	char *body; /* this round's document */
	size_t body_len;
};

struct run {
	const char *server;
	struct client *c;
	unsigned n, conc, packages;
	unsigned next; /* next client index of the round, under mu */
	pthread_mutex_t mu;
	double *lat_ms; /* one per request of the measured rounds */
	size_t n_lat;
	unsigned errors;
	char first_error[512];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int load_state(const char *path, unsigned want, struct client **out, unsigned *n)
{
	char *data = NULL, *line, *save = NULL;
	size_t len = 0;
	struct client *c;
	unsigned k = 0;
	int rc = file_read_all(path, STATE_MAX, &data, &len);

	if (rc) {
		fprintf(stderr, "bench-inventory-post: cannot read %s: %s\n", path,
			steward_strerror(rc));
		return -1;
	}
	c = calloc(want, sizeof(*c));
	if (!c) {
		free(data);
		return -1;
	}
	for (line = strtok_r(data, "\n", &save); line && k < want;
	     line = strtok_r(NULL, "\n", &save)) {
		char sk[2 * PROTO_SK_BYTES + 2];
		unsigned long long seq;

		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (sscanf(line, "%32s %129s %llu", c[k].id, sk, &seq) != 3 ||
		    !proto_client_id_valid(c[k].id) ||
		    hex_decode(sk, c[k].kp.sk, sizeof(c[k].kp.sk)) != 0) {
			fprintf(stderr, "bench-inventory-post: %s: a line is not \"ID KEY SEQ\"\n",
				path);
			free(c);
			free(data);
			return -1;
		}
		crypto_sign_ed25519_sk_to_pk(c[k].kp.pk, c[k].kp.sk);
		/* agents count in wall-clock ms: above what the site may have
		 * seen, even when the state file is from an earlier run */
		c[k].seq = (uint64_t)seq > (uint64_t)time_now_ms() ? (uint64_t)seq
								   : (uint64_t)time_now_ms();
		k++;
	}
	sodium_memzero(data, len);
	free(data);
	if (k < want) {
		fprintf(stderr, "bench-inventory-post: %s holds %u clients, %u wanted\n", path, k,
			want);
		free(c);
		return -1;
	}
	*out = c;
	*n = k;
	return 0;
}

static uint32_t mix(uint32_t a, uint32_t b, uint32_t c)
{
	uint32_t h = a * 0x9e3779b1u ^ b * 0x85ebca77u ^ c * 0xc2b2ae3du;

	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	return h;
}

/* Client i's document in round r: image i % IMAGES; about 2% of its
 * packages dropped and replaced by client-specific ones, about 2% at a
 * version bumped by the round, disk free space that moves. */
static json_t *build_doc(unsigned i, unsigned r, unsigned packages)
{
	json_t *doc = json_object(), *cls = json_object(), *hw, *os, *sw, *pk;
	unsigned img = i % IMAGES, k = 0;
	char name[64], ver[64], addr[32];

	snprintf(addr, sizeof(addr), "10.%u.%u.%u", img, (i >> 8) & 255, i & 255);
	hw = json_pack("{s:{s:s,s:i,s:i,s:i},s:{s:I},s:[{s:s,s:s,s:s,s:I,s:I}],"
		       "s:[{s:s,s:s,s:[s]}],s:{s:s,s:s,s:s},s:s}",
		       "cpu", "model", img % 2 ? "Intel(R) Xeon(R) Gold 6338" : "AMD EPYC 7543",
		       "sockets", 1, "cores", 2 << (int)(i % 4), "threads", 4 << (int)(i % 4),
		       "memory", "total_mb", (json_int_t)(1024 << (i % 6)), "disks", "device",
		       "/dev/vda1", "mount", "/", "fs", "ext4", "size_mb", (json_int_t)40960,
		       "free_mb", (json_int_t)(20000 + mix(i, r, 7) % 10000), "network", "name",
		       "eth0", "mac", "52:54:00:12:34:56", "addresses", addr, "dmi", "vendor",
		       "QEMU", "product", "Standard PC", "serial", "", "virtualization", "kvm");
	os =
	    json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s}", "id", "debian", "name",
		      "Debian GNU/Linux", "version_id", img % 3 ? "12" : "11", "version",
		      img % 3 ? "12 (bookworm)" : "11 (bullseye)", "pretty_name",
		      img % 3 ? "Debian GNU/Linux 12 (bookworm)" : "Debian GNU/Linux 11 (bullseye)",
		      "kernel_release", img % 2 ? "6.1.0-26-amd64" : "6.1.0-25-amd64", "arch",
		      "x86_64", "boot_time", (json_int_t)1700000000, "timezone", "Etc/UTC");
	pk = json_array();
	for (unsigned p = 0; k < packages; p++) {
		bool dropped = p < packages && mix(i, r, p) % 50 == 0;
		json_t *e;

		if (dropped)
			continue;
		if (p < packages) {
			snprintf(name, sizeof(name), "lib%s-pkg%04u", img % 2 ? "x" : "y", p);
			snprintf(ver, sizeof(ver), "%u.%u.%u-%u+deb12u%u", 1 + p % 9, p % 31, img,
				 1 + p % 3, mix(i, r + 1000, p) % 50 == 0 ? r : 0);
		} else {
			/* replacements for the dropped ones, specific to the client */
			snprintf(name, sizeof(name), "local-%u-%u", i, p);
			snprintf(ver, sizeof(ver), "0.%u", r);
		}
		e = json_pack("{s:s,s:s,s:s,s:s}", "name", name, "version", ver, "arch",
			      p % 17 ? "amd64" : "all", "source", "dpkg");
		json_array_append_new(pk, e);
		k++;
	}
	sw = json_pack("{s:o,s:[{s:s,s:s}]}", "packages", pk, "steward", "name", "steward-agent",
		       "version", "0.4.0");
	json_object_set_new(cls, "hardware", hw);
	json_object_set_new(cls, "os", os);
	json_object_set_new(cls, "software", sw);
	json_object_set_new(doc, "classes", cls);
	return doc;
}

static int build_round(struct run *R, unsigned r)
{
	struct steward_err err;

	for (unsigned i = 0; i < R->n; i++) {
		json_t *doc = build_doc(i, r, R->packages);

		free(R->c[i].body);
		R->c[i].body = NULL;
		if (!doc || proto_inventory_seal(doc, &err)) {
			fprintf(stderr, "bench-inventory-post: sealing a document: %s\n",
				doc ? err.message : "out of memory");
			json_decref(doc);
			return -1;
		}
		R->c[i].body = json_dumps(doc, JSON_COMPACT);
		json_decref(doc);
		if (!R->c[i].body)
			return -1;
		R->c[i].body_len = strlen(R->c[i].body);
	}
	return 0;
}

static void *worker(void *arg)
{
	struct run *R = arg;
	char url[1024];

	snprintf(url, sizeof(url), "%s%s", R->server, POST_PATH);
	for (;;) {
		struct client *c;
		struct proto_auth auth;
		struct http_call call;
		struct http_resp resp;
		struct steward_err err = {.code = ""};
		double t0, ms;
		unsigned i;
		int rc;

		pthread_mutex_lock(&R->mu);
		i = R->next < R->n ? R->next++ : R->n;
		pthread_mutex_unlock(&R->mu);
		if (i >= R->n)
			return NULL;
		c = &R->c[i];
		t0 = now_s();
		c->seq++;
		http_resp_init(&resp);
		rc = proto_auth_build(&auth, "POST", POST_PATH, c->id, time_now_s(), c->seq,
				      c->body, c->body_len, &c->kp, NULL, 0);
		if (rc == 0) {
			memset(&call, 0, sizeof(call));
			call.method = "POST";
			call.url = url;
			call.headers = (const char *const *)auth.list;
			call.body = c->body;
			call.body_len = c->body_len;
			call.timeout_ms = POST_TIMEOUT_MS;
			call.max_response = REPLY_MAX;
			rc = http_call(&call, &resp, &err);
		}
		ms = (now_s() - t0) * 1000;
		pthread_mutex_lock(&R->mu);
		if (R->lat_ms)
			R->lat_ms[R->n_lat++] = ms;
		if (rc || resp.status != 200) {
			if (R->errors++ == 0)
				snprintf(R->first_error, sizeof(R->first_error), "%ld %s %s",
					 resp.status, rc ? err.message : "",
					 resp.body.data ? resp.body.data : "");
		}
		pthread_mutex_unlock(&R->mu);
		http_resp_free(&resp);
	}
}

static int run_round(struct run *R)
{
	pthread_t th[256];
	unsigned n = R->conc;

	R->next = 0;
	for (unsigned t = 0; t < n; t++)
		if (pthread_create(&th[t], NULL, worker, R)) {
			n = t;
			break;
		}
	for (unsigned t = 0; t < n; t++)
		pthread_join(th[t], NULL);
	return n ? 0 : -1;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static unsigned arg_u(const char *s, unsigned lo, unsigned hi, const char *what)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !end || *end || v < lo || v > hi) {
		fprintf(stderr, "bench-inventory-post: %s needs %u..%u\n", what, lo, hi);
		exit(2);
	}
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"server", required_argument, NULL, 's'},
	    {"state", required_argument, NULL, 'f'},
	    {"clients", required_argument, NULL, 'n'},
	    {"rounds", required_argument, NULL, 'r'},
	    {"concurrency", required_argument, NULL, 'c'},
	    {"packages", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	struct run R = {.conc = 4, .packages = 2000, .n = 100};
	const char *state = NULL;
	unsigned rounds = 3, loaded = 0;
	double timed = 0, sum_bytes = 0;
	int o, rc = 1;

	while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (o) {
		case 's':
			R.server = optarg;
			break;
		case 'f':
			state = optarg;
			break;
		case 'n':
			R.n = arg_u(optarg, 1, 1000000, "--clients");
			break;
		case 'r':
			rounds = arg_u(optarg, 2, 1000, "--rounds");
			break;
		case 'c':
			R.conc = arg_u(optarg, 1, 256, "--concurrency");
			break;
		case 'p':
			R.packages = arg_u(optarg, 1, 20000, "--packages");
			break;
		default:
			return 2;
		}
	}
	if (!R.server || !state) {
		fprintf(stderr,
			"usage: bench-inventory-post --server URL --state FILE [--clients N]"
			" [--rounds R] [--concurrency C] [--packages P]\n");
		return 2;
	}
	if (proto_init() || http_client_global_init()) {
		fprintf(stderr, "bench-inventory-post: cannot initialise libsodium or libcurl\n");
		return 1;
	}
	pthread_mutex_init(&R.mu, NULL);
	if (load_state(state, R.n, &R.c, &loaded))
		return 1;
	R.lat_ms = calloc((size_t)R.n * rounds, sizeof(double));
	if (!R.lat_ms)
		goto out;
	for (unsigned r = 1; r <= rounds; r++) {
		double t0;

		if (build_round(&R, r))
			goto out;
		if (r == 1) {
			double *keep = R.lat_ms;
			R.lat_ms = NULL; /* the warm-up's latencies are not kept */
			run_round(&R);
			R.lat_ms = keep;
			if (R.errors) {
				fprintf(stderr,
					"bench-inventory-post: warm-up: %u errors, first: %s\n",
					R.errors, R.first_error);
				goto out;
			}
			continue;
		}
		for (unsigned i = 0; i < R.n; i++)
			sum_bytes += (double)R.c[i].body_len;
		t0 = now_s();
		run_round(&R);
		timed += now_s() - t0;
	}
	qsort(R.lat_ms, R.n_lat, sizeof(double), cmp_d);
	printf("inventories=%zu seconds=%.2f rate=%.1f/s p50_ms=%.1f p99_ms=%.1f errors=%u "
	       "bytes_per_inventory=%.0f\n",
	       R.n_lat, timed, timed > 0 ? (double)(R.n_lat - R.errors) / timed : 0,
	       R.n_lat ? R.lat_ms[R.n_lat / 2] : 0,
	       R.n_lat ? R.lat_ms[(size_t)((double)R.n_lat * 0.99)] : 0, R.errors,
	       R.n_lat ? sum_bytes / (double)R.n_lat : 0);
	if (R.errors)
		fprintf(stderr, "bench-inventory-post: %u errors, first: %s\n", R.errors,
			R.first_error);
	rc = R.errors ? 1 : 0;
out:
	for (unsigned i = 0; R.c && i < R.n; i++) {
		free(R.c[i].body);
		sodium_memzero(&R.c[i].kp, sizeof(R.c[i].kp));
	}
	free(R.c);
	free(R.lat_ms);
	return rc;
}
