/* store: names shared by every backend. */
#include <stdio.h>
#include <string.h>

#include "steward/store.h"

static const char *const state_names[] = {"pending", "approved", "blocked", "deleted"};

const char *store_client_state_name(enum store_client_state s)
{
	return (unsigned)s < 4 ? state_names[s] : "unknown";
}

int store_client_state_parse(const char *s, enum store_client_state *out)
{
	for (int i = 0; s && i < 4; i++) {
		if (strcmp(s, state_names[i]) == 0) {
			*out = (enum store_client_state)i;
			return 0;
		}
	}
	return -STEWARD_EINVAL;
}

void store_target_masked(const char *target, char *out, size_t outsz)
{
	const char *scheme = strstr(target, "://");
	const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
	const char *colon = NULL;
	char *pw;

	/* postgresql://user:password@host/...: keep user, mask the password */
	if (at)
		for (const char *p = scheme + 3; p < at; p++)
			if (*p == ':') {
				colon = p;
				break;
			}
	if (colon)
		snprintf(out, outsz, "%.*s:***%s", (int)(colon - target), target, at);
	else
		snprintf(out, outsz, "%s", target);
	/* a password given as a query parameter is masked the same way */
	pw = strstr(out, "password=");
	if (pw) {
		char *end = strchr(pw, '&');
		char rest[1024];

		snprintf(rest, sizeof(rest), "%s", end ? end : "");
		snprintf(pw, outsz - (size_t)(pw - out), "password=***%s", rest);
	}
}
