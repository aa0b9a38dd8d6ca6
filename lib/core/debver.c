/* core: Debian version ordering (Debian policy 5.6.12, dpkg's verrevcmp).
 *
 * A version is [epoch:]upstream[-revision]. The epoch compares as a
 * number; upstream and revision each compare as alternating runs of
 * non-digits and digits. Non-digit runs compare byte by byte where letters
 * sort before non-letters and '~' before anything, even the end of the
 * string (so 1.0~rc1 < 1.0). Digit runs compare as numbers; rather than
 * convert them (a long run would overflow) leading zeros are skipped and
 * the longer run wins, then the first differing digit decides.
 *
 * The ordering is defined for any string, valid or not, because agents
 * report whatever their package database holds and sorting must not fail.
 * Only ASCII is classified; other bytes are "non-letters".
 */
#include <limits.h>
#include <string.h>

#include "steward/query.h"

static bool debver_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool debver_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The weight of one byte in a non-digit run; the end of the string (0)
 * and digits weigh 0. */
static int debver_order(unsigned char c)
{
	if (debver_digit(c))
		return 0;
	if (debver_alpha(c))
		return c;
	if (c == '~')
		return -1;
	if (c)
		return c + 256;
	return 0;
}

/* Compare a[0..an) with b[0..bn) the dpkg way. */
static int debver_verrevcmp(const char *a, size_t an, const char *b, size_t bn)
{
	const unsigned char *pa = (const unsigned char *)a, *ea = pa + an;
	const unsigned char *pb = (const unsigned char *)b, *eb = pb + bn;

	while (pa < ea || pb < eb) {
		int first_diff = 0;

		while ((pa < ea && !debver_digit(*pa)) || (pb < eb && !debver_digit(*pb))) {
			int ac = pa < ea ? debver_order(*pa) : 0;
			int bc = pb < eb ? debver_order(*pb) : 0;

			if (ac != bc)
				return ac - bc;
			/* Equal weights here mean both are the same non-digit
			 * (an end or a digit weighs 0 and a non-digit never
			 * does), so neither pointer is at its end. */
			pa++;
			pb++;
		}
		while (pa < ea && *pa == '0')
			pa++;
		while (pb < eb && *pb == '0')
			pb++;
		while (pa < ea && pb < eb && debver_digit(*pa) && debver_digit(*pb)) {
			if (!first_diff)
				first_diff = *pa - *pb;
			pa++;
			pb++;
		}
		if (pa < ea && debver_digit(*pa))
			return 1;
		if (pb < eb && debver_digit(*pb))
			return -1;
		if (first_diff)
			return first_diff;
	}
	return 0;
}

struct debver_parts {
	const char *epoch; /* digits, leading zeros skipped */
	size_t epoch_len;
	const char *upstream;
	size_t upstream_len;
	const char *revision; /* "" when there is none */
	size_t revision_len;
};

static void debver_split(const char *v, struct debver_parts *p)
{
	const char *colon = strchr(v, ':');
	const char *rest = v, *hyphen;
	size_t i;

	p->epoch = "";
	p->epoch_len = 0;
	if (colon && colon > v) {
		for (i = 0; v + i < colon && debver_digit((unsigned char)v[i]); i++)
			;
		/* Only an all-digit prefix is an epoch; otherwise the colon is
		 * part of the upstream version. */
		if (v + i == colon) {
			p->epoch = v;
			p->epoch_len = i;
			while (p->epoch_len > 0 && p->epoch[0] == '0') {
				p->epoch++;
				p->epoch_len--;
			}
			rest = colon + 1;
		}
	}
	hyphen = strrchr(rest, '-');
	p->upstream = rest;
	if (hyphen) {
		p->upstream_len = (size_t)(hyphen - rest);
		p->revision = hyphen + 1;
		p->revision_len = strlen(hyphen + 1);
	} else {
		p->upstream_len = strlen(rest);
		p->revision = "";
		p->revision_len = 0;
	}
}

int core_debver_cmp(const char *a, const char *b)
{
	struct debver_parts pa, pb;
	int rc;

	debver_split(a ? a : "", &pa);
	debver_split(b ? b : "", &pb);
	if (pa.epoch_len != pb.epoch_len)
		return pa.epoch_len < pb.epoch_len ? -1 : 1;
	rc = memcmp(pa.epoch, pb.epoch, pa.epoch_len);
	if (rc)
		return rc < 0 ? -1 : 1;
	rc = debver_verrevcmp(pa.upstream, pa.upstream_len, pb.upstream, pb.upstream_len);
	if (rc)
		return rc < 0 ? -1 : 1;
	rc = debver_verrevcmp(pa.revision, pa.revision_len, pb.revision, pb.revision_len);
	return rc < 0 ? -1 : rc > 0;
}

bool core_debver_valid(const char *v)
{
	const char *colon, *rest, *hyphen, *p, *end;
	long long epoch = 0;

	if (!v || !*v)
		return false;
	rest = v;
	colon = strchr(v, ':');
	if (colon) {
		if (colon == v)
			return false;
		for (p = v; p < colon; p++) {
			if (!debver_digit((unsigned char)*p))
				return false;
			epoch = epoch * 10 + (*p - '0');
			if (epoch > INT_MAX)
				return false;
		}
		rest = colon + 1;
	}
	hyphen = strrchr(rest, '-');
	end = hyphen ? hyphen : rest + strlen(rest);
	if (end == rest || !debver_digit((unsigned char)*rest))
		return false;
	for (p = rest; p < end; p++)
		if (!debver_digit((unsigned char)*p) && !debver_alpha((unsigned char)*p) &&
		    !strchr(".+~-", *p))
			return false;
	if (hyphen) {
		if (!hyphen[1])
			return false;
		for (p = hyphen + 1; *p; p++)
			if (!debver_digit((unsigned char)*p) && !debver_alpha((unsigned char)*p) &&
			    !strchr(".+~", *p))
				return false;
	}
	return true;
}
