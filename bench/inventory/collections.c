/* bench-collections: membership upkeep of the collections engine
 * (server/collections.c over server/facts.c, linked as the unit test links
 * them, without the rest of the site). See bench/README.md.
 *
 *   bench-collections [--clients N] [--images I] [--packages P]
 *                     [--collections C] [--changes K] [--seed S]
 *
 * Builds a synthetic fleet through facts_put(), the seam stewardd loads its
 * store through: N clients with P packages each, drawn from I distinct
 * software images (so I package sets), varied hardware, OS, sites and
 * addresses; then C query collections mixing os, memory, cpu, site, ip and
 * package predicates (one of them a wildcard over every package). Times:
 *
 *   one change     K inventory changes of random clients: facts_put() with
 *                  new memory, kernel and another image's software (a
 *                  known software hash, as most changes are), then
 *                  coll_client_changed() with every inventory class;
 *                  median and p99
 *   new software   K/10 (at most 100) changes whose software nobody had before (the
 *                  package list is read), median
 *   full re-eval   every collection redefined (coll_define replace): one
 *                  evaluation per client per collection
 *
 * Prints name=value lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <getopt.h>
#include <time.h>

#include "../../server/collections.h"

#define COLLS_MAX 200

struct opts {
	unsigned clients, images, packages, collections, changes, seed;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t mix(uint32_t a, uint32_t b)
{
	uint32_t h = a * 0x9e3779b1u ^ b * 0x85ebca77u;

	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	h *= 0x297a2d39u;
	h ^= h >> 15;
	return h;
}

static uint64_t rng_state;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static long rss_kb(const char *field)
{
	char line[256];
	long v = -1;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

/* Image img's software class: most packages common to all images (with
 * versions that vary by image family), the rest drawn from a larger pool.
 * Every tenth image has nginx; openssl's version depends on the image.
 * malloc'd JSON text; tag makes a never-seen variant when non-zero. */
static char *software_json(unsigned img, unsigned packages, unsigned tag)
{
	size_t cap = (size_t)packages * 96 + 256, used = 0;
	char *b = malloc(cap);

	if (!b)
		return NULL;
	used += (size_t)snprintf(b + used, cap - used, "{\"packages\":[");
	for (unsigned p = 0; p < packages; p++) {
		char name[64], ver[64];

		if (p == 0)
			snprintf(name, sizeof(name), "openssl");
		else if (p == 1)
			snprintf(name, sizeof(name), img % 10 == 0 ? "nginx" : "bash");
		else if (p < packages * 3 / 4)
			snprintf(name, sizeof(name), "lib-common-%04u", p);
		else
			snprintf(name, sizeof(name), "pkg-%u", mix(img, p) % 20000);
		if (p == 0)
			snprintf(ver, sizeof(ver), "3.0.%u-1~deb12u1", 8 + img % 8);
		else
			snprintf(ver, sizeof(ver), "%u.%u-%u%s%u", 1 + p % 7, (img / 50 + p) % 13,
				 1 + img % 4, tag ? "+local" : "", tag);
		used += (size_t)snprintf(b + used, cap - used,
					 "%s{\"name\":\"%s\",\"version\":\"%s\",\"arch\":\"%s\"}",
					 p ? "," : "", name, ver, p % 11 ? "amd64" : "all");
	}
	snprintf(b + used, cap - used, "]}");
	return b;
}

struct client_gen {
	char id[40], hostname[32], site[8], hw[320], os[256], addrs[64], sw_hash[32];
	struct store_client_facts row;
};

/* Client i's rows at generation g (g > 0: after a change). */
static void gen_client(struct client_gen *c, unsigned i, unsigned g, unsigned img)
{
	uint32_t h = mix(i, g);

	snprintf(c->id, sizeof(c->id), "%032x", i + 1);
	snprintf(c->hostname, sizeof(c->hostname), "host-%06u", i);
	snprintf(c->site, sizeof(c->site), "S%02u", i % 8);
	snprintf(c->hw, sizeof(c->hw),
		 "{\"cpu\":{\"model\":\"%s\",\"sockets\":1,\"cores\":%u,\"threads\":%u},"
		 "\"memory\":{\"total_mb\":%u},\"virtualization\":\"%s\","
		 "\"dmi\":{\"vendor\":\"%s\",\"product\":\"Model %u\"},"
		 "\"network\":[{\"name\":\"eth0\",\"addresses\":[\"10.%u.%u.%u\"]}]}",
		 h % 3 ? "Intel(R) Xeon(R) Gold 6338" : "AMD EPYC 7543", 1u << (h % 5),
		 2u << (h % 5), 512u << (h / 7 % 7), h % 4 ? "kvm" : "none",
		 h % 2 ? "Dell Inc." : "HPE", h % 40, i % 8, (i >> 8) & 255, i & 255);
	snprintf(c->os, sizeof(c->os),
		 "{\"id\":\"%s\",\"name\":\"%s\",\"version_id\":\"%s\","
		 "\"kernel_release\":\"6.1.0-%u-amd64\",\"arch\":\"x86_64\"}",
		 img % 5 ? "debian" : "ubuntu", img % 5 ? "Debian GNU/Linux" : "Ubuntu",
		 img % 5 ? (img % 3 ? "12" : "11") : "22.04", 20 + (h >> 8) % 8);
	snprintf(c->addrs, sizeof(c->addrs), "[\"10.%u.%u.%u\"]", i % 8, (i >> 8) & 255, i & 255);
	snprintf(c->sw_hash, sizeof(c->sw_hash), "image-%u", img);
	memset(&c->row, 0, sizeof(c->row));
	c->row.id = c->id;
	c->row.hostname = c->hostname;
	c->row.site = c->site;
	c->row.agent_version = mix(i, 0) % 9 ? "0.4.0" : "0.3.2";
	c->row.addresses = c->addrs;
	c->row.state = i % 50 == 0 ? CLIENT_PENDING : CLIENT_APPROVED;
	c->row.hardware = c->hw;
	c->row.os = c->os;
	c->row.software_hash = c->sw_hash;
}

/* Put client i with image img; the software text is made only when the
 * image's hash is new to the facts (seen[img]). */
static int put_client(struct facts *f, unsigned i, unsigned g, unsigned img, unsigned packages,
		      unsigned char *seen, uint32_t *slot)
{
	struct client_gen c;
	char *sw = NULL;
	int rc;

	gen_client(&c, i, g, img);
	if (!seen[img]) {
		sw = software_json(img, packages, 0);
		if (!sw)
			return -1;
		seen[img] = 1;
	}
	c.row.software = sw ? sw : "{}"; /* not read: the hash is known */
	rc = facts_put(f, &c.row, slot);
	free(sw);
	return rc;
}

static void make_query(unsigned k, char *q, size_t n)
{
	switch (k % 12) {
	case 0:
		snprintf(q, n,
			 "os.name = \"Debian GNU/Linux\" and memory.total_mb >= %u and "
			 "not has_package(\"nginx\")",
			 1024u << (k % 4));
		break;
	case 1:
		snprintf(q, n, "has_package(\"nginx\") and site = \"S%02u\"", k % 8);
		break;
	case 2:
		snprintf(q, n, "package(\"openssl\").version < \"3.0.%u\"", 9 + k % 6);
		break;
	case 3:
		snprintf(q, n, "memory.total_mb >= %u and cpu.cores >= %u", 1024u << (k % 5),
			 1u << (k % 4));
		break;
	case 4:
		snprintf(q, n, "site in (\"S%02u\", \"S%02u\")", k % 8, (k + 3) % 8);
		break;
	case 5:
		snprintf(q, n, "os.version_id = \"12\" and kernel.release < \"6.1.0-%u-amd64\"",
			 20 + k % 8);
		break;
	case 6:
		snprintf(q, n, "ip in 10.%u.0.0/16", k % 8);
		break;
	case 7:
		snprintf(q, n, "has_package(\"pkg-%u\") or has_package(\"pkg-%u\")", k * 37 % 20000,
			 k * 91 % 20000);
		break;
	case 8:
		snprintf(q, n, "cpu.model like \"*Xeon*\" and virtualization = \"kvm\"");
		break;
	case 9:
		snprintf(
		    q, n,
		    "package(\"lib-common-%04u\").version >= \"%u.5\" and not os.id = \"ubuntu\"",
		    2 + k, 1 + k % 7);
		break;
	case 10:
		snprintf(q, n,
			 "(os.id = \"ubuntu\" or cpu.cores > %u) and agent.version < \"0.4.0\"",
			 k % 8);
		break;
	default:
		/* a wildcard: visits every package of every client */
		if (k == 11)
			snprintf(q, n, "has_package(\"pkg-1*\")");
		else
			snprintf(q, n, "dmi.vendor = \"HPE\" and memory.total_mb <= %u",
				 2048u << (k % 3));
		break;
	}
}

static unsigned arg_u(const char *s, unsigned lo, unsigned hi, const char *what)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !end || *end || v < lo || v > hi) {
		fprintf(stderr, "bench-collections: %s needs %u..%u\n", what, lo, hi);
		exit(2);
	}
	return (unsigned)v;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"clients", required_argument, NULL, 'n'},
	    {"images", required_argument, NULL, 'i'},
	    {"packages", required_argument, NULL, 'p'},
	    {"collections", required_argument, NULL, 'c'},
	    {"changes", required_argument, NULL, 'k'},
	    {"seed", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	struct opts o = {100000, 500, 2000, 50, 5000, 1};
	struct facts *f = NULL;
	struct coll_engine *e = NULL;
	struct coll_source src;
	struct facts_stats fs;
	struct core_query_error qerr;
	char msg[COLL_MSG_MAX], query[COLLS_MAX][256], name[COLLS_MAX][32];
	unsigned char *seen = NULL;
	double *lat = NULL, t0, t_load, t_define, t_reeval, t_slowest = 0, new_sw_med;
	unsigned n_new, slowest = 0;
	long members = 0;
	int opt, rc = 1;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			o.clients = arg_u(optarg, 1, 10000000, "--clients");
			break;
		case 'i':
			o.images = arg_u(optarg, 1, 100000, "--images");
			break;
		case 'p':
			o.packages = arg_u(optarg, 4, 20000, "--packages");
			break;
		case 'c':
			o.collections = arg_u(optarg, 1, COLLS_MAX, "--collections");
			break;
		case 'k':
			o.changes = arg_u(optarg, 10, 1000000, "--changes");
			break;
		case 's':
			o.seed = arg_u(optarg, 1, 1u << 31, "--seed");
			break;
		default:
			return 2;
		}
	}
	rng_state = 0x9e3779b97f4a7c15ull * o.seed;
	seen = calloc(o.images, 1);
	lat = calloc(o.changes, sizeof(double));
	if (!seen || !lat || facts_new(&f))
		goto out;

	/* the fleet */
	t0 = now_s();
	for (unsigned i = 0; i < o.clients; i++) {
		uint32_t slot;
		if (put_client(f, i, 0, mix(i, 0xabc) % o.images, o.packages, seen, &slot)) {
			fprintf(stderr, "bench-collections: facts_put failed for client %u\n", i);
			goto out;
		}
	}
	t_load = now_s() - t0;
	facts_source(f, &src);
	if (coll_engine_new(&src, facts_slots(f), 0, &e) || coll_engine_add_site(e, "S00"))
		goto out;

	/* the collections */
	t0 = now_s();
	for (unsigned k = 0; k < o.collections; k++) {
		struct coll_def d = {.name = name[k], .query = query[k]};
		snprintf(name[k], sizeof(name[k]), "bench-%02u", k);
		make_query(k, query[k], sizeof(query[k]));
		if (coll_define(e, &d, false, &qerr, msg, sizeof(msg))) {
			fprintf(stderr, "bench-collections: %s: %s\n", query[k], msg);
			goto out;
		}
	}
	t_define = now_s() - t0;

	/* one change at a time: a random client moves to another image */
	for (unsigned k = 0; k < o.changes; k++) {
		unsigned i = rnd() % o.clients, img = rnd() % o.images;
		uint32_t slot;

		t0 = now_s();
		if (put_client(f, i, k + 1, img, o.packages, seen, &slot) ||
		    coll_client_changed(e, slot, COLL_DEPS_ALL & ~CORE_QUERY_DEP_CLIENT)) {
			fprintf(stderr, "bench-collections: change %u failed\n", k);
			goto out;
		}
		lat[k] = (now_s() - t0) * 1e6;
	}
	qsort(lat, o.changes, sizeof(double), cmp_d);

	/* a change to software nobody had: the package list is read */
	n_new = o.changes / 10 < 100 ? o.changes / 10 : 100;
	{
		double *l2 = calloc(n_new, sizeof(double));
		if (!l2)
			goto out;
		for (unsigned k = 0; k < n_new; k++) {
			unsigned i = rnd() % o.clients;
			struct client_gen c;
			char *sw = software_json(rnd() % o.images, o.packages, k + 1);
			uint32_t slot;
			int r;

			if (!sw) {
				free(l2);
				goto out;
			}
			gen_client(&c, i, o.changes + k + 1, 0);
			snprintf(c.sw_hash, sizeof(c.sw_hash), "new-software-%u", k);
			c.row.software = sw;
			t0 = now_s();
			r = facts_put(f, &c.row, &slot) ||
			    coll_client_changed(e, slot, COLL_DEPS_ALL & ~CORE_QUERY_DEP_CLIENT);
			l2[k] = (now_s() - t0) * 1e6;
			free(sw);
			if (r) {
				free(l2);
				goto out;
			}
		}
		qsort(l2, n_new, sizeof(double), cmp_d);
		new_sw_med = n_new ? l2[n_new / 2] : 0;
		free(l2);
	}

	/* full re-evaluation of every collection; the slowest one is named */
	t_reeval = 0;
	for (unsigned k = 0; k < o.collections; k++) {
		struct coll_def d = {.name = name[k], .query = query[k]};
		double t;

		t0 = now_s();
		if (coll_define(e, &d, true, &qerr, msg, sizeof(msg))) {
			fprintf(stderr, "bench-collections: redefining %s: %s\n", name[k], msg);
			goto out;
		}
		t = now_s() - t0;
		t_reeval += t;
		if (t > t_slowest) {
			t_slowest = t;
			slowest = k;
		}
	}
	for (unsigned k = 0; k < o.collections; k++)
		members += (long)coll_count(e, name[k]);
	facts_get_stats(f, &fs);

	printf("clients=%u\n", o.clients);
	printf("collections=%u\n", o.collections);
	printf("package_sets=%zu\n", fs.package_sets);
	printf("interned_strings=%zu\n", fs.strings);
	printf("avg_members_per_collection=%ld\n", members / (long)o.collections);
	printf("load_s=%.2f\n", t_load);
	printf("define_all_ms=%.0f\n", t_define * 1e3);
	printf("membership_one_change_us=%.1f\n", lat[o.changes / 2]);
	printf("membership_one_change_p99_us=%.1f\n", lat[(size_t)(o.changes * 0.99)]);
	printf("membership_one_change_new_software_us=%.0f\n", new_sw_med);
	printf("membership_full_reeval_ms=%.1f\n", t_reeval * 1e3);
	printf("slowest_collection_reeval_ms=%.1f\n", t_slowest * 1e3);
	printf("slowest_collection_query='%s'\n", query[slowest]);
	printf("one_change_vs_full_reeval=%.7f\n", lat[o.changes / 2] / (t_reeval * 1e6));
	printf("rss_mb=%.1f\n", (double)rss_kb("VmRSS") / 1024);
	printf("peak_rss_mb=%.1f\n", (double)rss_kb("VmHWM") / 1024);
	rc = 0;
out:
	coll_engine_free(e);
	facts_free(f);
	free(seen);
	free(lat);
	return rc;
}
