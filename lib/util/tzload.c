/* util/tzload: read a time zone by name from the zoneinfo directory.
 *
 * The only I/O behind windows: the name is checked to stay inside the
 * directory, the file is read with a size cap and handed to core_tz_parse.
 * The directory is $STEWARD_ZONEINFO when set (tests, systems with tzdata
 * elsewhere), else /usr/share/zoneinfo. "UTC" needs no file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steward/util.h"
#include "steward/window.h"

#define TZ_NAME_MAX 64

bool core_tz_name_valid(const char *name)
{
	size_t len, comp = 0;

	if (!name || !(len = strlen(name)) || len > TZ_NAME_MAX || name[0] == '/' ||
	    strstr(name, ".."))
		return false;
	for (const char *p = name; *p; p++) {
		char c = *p;

		if (c == '/') {
			if (!comp)
				return false; /* empty component: "a//b" */
			comp = 0;
			continue;
		}
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '+' || c == '-'))
			return false;
		comp++;
	}
	return comp > 0; /* no trailing '/' */
}

int tz_load(const char *name, struct core_tz **out, char *msg, size_t msgsz)
{
	const char *dir = getenv("STEWARD_ZONEINFO");
	char path[4096], why[200];
	char *data = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (!core_tz_name_valid(name)) {
		snprintf(msg, msgsz,
			 "'%.64s' is not a time zone name (like UTC or Europe/Berlin: letters, "
			 "digits, _ + - and /)",
			 name ? name : "");
		return -1;
	}
	if (strcmp(name, "UTC") == 0) {
		*out = core_tz_utc();
		return 0;
	}
	if (!dir || !*dir)
		dir = "/usr/share/zoneinfo";
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
		snprintf(msg, msgsz, "unknown time zone '%s' (zoneinfo path too long)", name);
		return -1;
	}
	rc = file_read_all(path, CORE_TZ_FILE_MAX, &data, &len);
	if (rc == -STEWARD_ENOTFOUND) {
		snprintf(msg, msgsz, "unknown time zone '%s' (no %s)", name, path);
		return -1;
	}
	if (rc < 0) {
		snprintf(
		    msg, msgsz,
		    "unknown time zone '%s' (%s is not a readable zone file of at most %d KiB)",
		    name, path, CORE_TZ_FILE_MAX / 1024);
		return -1;
	}
	rc = core_tz_parse((const unsigned char *)data, len, out, why, sizeof(why));
	free(data);
	if (rc < 0) {
		snprintf(msg, msgsz, "time zone '%s': %s: %s", name, path, why);
		return -1;
	}
	return 0;
}
