/* store: names shared by every backend. */
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
