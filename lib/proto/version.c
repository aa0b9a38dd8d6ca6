/* proto/version: protocol ranges, negotiation and semantic versions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <ctype.h>

#include "steward/proto.h"
#include "steward/build_version.h" /* generated: CMakeLists.txt */

static int parse_small(const char *s, const char **end, int *out)
{
	long v = 0;

	if (!isdigit((unsigned char)*s))
		return -STEWARD_EINVAL;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (*s - '0');
		if (v > 100000)
			return -STEWARD_EINVAL;
		s++;
	}
	*out = (int)v;
	*end = s;
	return 0;
}

int proto_range_parse(const char *s, struct proto_range *out)
{
	const char *p;
	int a, b;

	if (!s || parse_small(s, &p, &a))
		return -STEWARD_EINVAL;
	if (*p == '\0') {
		b = a;
	} else if (*p == '-') {
		if (parse_small(p + 1, &p, &b) || *p)
			return -STEWARD_EINVAL;
	} else {
		return -STEWARD_EINVAL;
	}
	if (a < 1 || b < a)
		return -STEWARD_EINVAL;
	out->min = a;
	out->max = b;
	return 0;
}

void proto_range_format(const struct proto_range *r, char out[24])
{
	snprintf(out, 24, "%d-%d", r->min, r->max);
}

int proto_negotiate(const struct proto_range *a, const struct proto_range *b)
{
	int lo = a->min > b->min ? a->min : b->min;
	int hi = a->max < b->max ? a->max : b->max;

	return lo <= hi ? hi : -1;
}

struct proto_range proto_self_range(void)
{
	struct proto_range r = {STEWARD_PROTO_MIN, STEWARD_PROTO_MAX};
	return r;
}

const char *proto_self_version(void)
{
	return STEWARD_VERSION;
}

int proto_semver_parse(const char *s, int *major, int *minor, int *patch)
{
	const char *p = s;
	int v[3];

	if (!s)
		return -STEWARD_EINVAL;
	for (int i = 0; i < 3; i++) {
		if (parse_small(p, &p, &v[i]))
			return -STEWARD_EINVAL;
		if (i < 2 && *p++ != '.')
			return -STEWARD_EINVAL;
	}
	if (*p)
		return -STEWARD_EINVAL;
	*major = v[0];
	*minor = v[1];
	*patch = v[2];
	return 0;
}

int proto_semver_cmp(const char *a, const char *b)
{
	int va[3], vb[3];
	bool oka = proto_semver_parse(a, &va[0], &va[1], &va[2]) == 0;
	bool okb = proto_semver_parse(b, &vb[0], &vb[1], &vb[2]) == 0;

	if (!oka || !okb)
		return (int)oka - (int)okb;
	for (int i = 0; i < 3; i++)
		if (va[i] != vb[i])
			return va[i] < vb[i] ? -1 : 1;
	return 0;
}

bool proto_client_id_valid(const char *s)
{
	if (!s || strlen(s) != PROTO_CLIENT_ID_HEX)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

bool proto_site_code_valid(const char *s)
{
	if (!s || strlen(s) != PROTO_SITE_CODE_LEN)
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}
