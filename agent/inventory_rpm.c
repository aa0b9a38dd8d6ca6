/* agent/inventory_rpm: the installed packages, from rpm's own database.
 *
 * rpm 4.16 and later keep /var/lib/rpm/rpmdb.sqlite, an SQLite database
 * whose table Packages(hnum INTEGER PRIMARY KEY, blob BLOB) holds one rpm
 * header per installed package. We read it with SQLite itself (read-only,
 * never librpm, never the rpm command) and parse each header here.
 *
 * A stored header has no 8-byte magic: big-endian int32 il (index entries)
 * and dl (data bytes), il entries of {tag, type, offset, count} (int32 each,
 * 16 bytes), then the dl bytes of data the offsets point into. The blob is
 * untrusted in the sense that it may be damaged: every length, offset, type
 * and terminator is checked before use, with rpm's own caps on il and dl,
 * and a header that fails any check is skipped and counted, never guessed.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "inventory.h"

#define RPMTAG_NAME    1000
#define RPMTAG_VERSION 1001
#define RPMTAG_RELEASE 1002
#define RPMTAG_EPOCH   1003
#define RPMTAG_ARCH    1022

#define RPM_INT32_TYPE	4
#define RPM_STRING_TYPE 6

#define RPM_BUSY_TIMEOUT_MS 5000

struct entry {
	int32_t type;
	uint32_t offset, count;
	bool set;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* A STRING entry: count 1, offset inside the data, NUL before its end. */
static int string_at(const struct entry *e, const uint8_t *data, size_t dl, const char **out)
{
	if (e->type != RPM_STRING_TYPE || e->count != 1 || e->offset >= dl ||
	    !memchr(data + e->offset, '\0', dl - e->offset))
		return -STEWARD_EINVAL;
	*out = (const char *)data + e->offset;
	return 0;
}

/* What the site accepts: printable ASCII, no spaces, within the string cap. */
static bool usable(const char *s, bool may_be_empty)
{
	size_t n = strlen(s);

	if ((!may_be_empty && n == 0) || n > PROTO_INVENTORY_STRING_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

int agent_rpm_header_parse(const uint8_t *blob, size_t len, json_t **pkg)
{
	static const int32_t tags[] = {RPMTAG_NAME, RPMTAG_VERSION, RPMTAG_RELEASE, RPMTAG_EPOCH,
				       RPMTAG_ARCH};
	struct entry e[5];
	const char *name, *version, *release = NULL, *arch = "";
	const uint8_t *data;
	char full[PROTO_INVENTORY_STRING_MAX + 1];
	uint32_t il, dl, epoch = 0;
	bool has_epoch = false;
	int n;

	*pkg = NULL;
	memset(e, 0, sizeof(e));
	if (len < 8)
		return -STEWARD_EINVAL;
	il = be32(blob);
	dl = be32(blob + 4);
	/* rpm's own limits (hdrchkTags, hdrchkData) */
	if (il < 1 || il > AGENT_RPM_HEADER_IL_MAX || dl > AGENT_RPM_HEADER_DL_MAX)
		return -STEWARD_EINVAL;
	if (len != 8 + 16 * (size_t)il + dl)
		return -STEWARD_EINVAL;
	data = blob + 8 + 16 * (size_t)il;

	for (uint32_t i = 0; i < il; i++) {
		const uint8_t *ent = blob + 8 + 16 * (size_t)i;
		int32_t tag = (int32_t)be32(ent);

		for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++) {
			if (tag != tags[t] || e[t].set)
				continue; /* another tag, or a repeated one: the first wins */
			e[t].type = (int32_t)be32(ent + 4);
			e[t].offset = be32(ent + 8);
			e[t].count = be32(ent + 12);
			e[t].set = true;
		}
	}

	if (!e[0].set || string_at(&e[0], data, dl, &name) != 0)
		return -STEWARD_EINVAL;
	if (strcmp(name, "gpg-pubkey") == 0)
		return AGENT_RPM_PUBKEY; /* rpm's imported signing keys, not packages */
	if (!e[1].set || string_at(&e[1], data, dl, &version) != 0)
		return -STEWARD_EINVAL;
	if (e[2].set && string_at(&e[2], data, dl, &release) != 0)
		return -STEWARD_EINVAL;
	if (e[3].set) {
		/* one int32, 4-aligned like rpm requires (hdrchkAlign) */
		if (e[3].type != RPM_INT32_TYPE || e[3].count != 1 || e[3].offset % 4 != 0 ||
		    e[3].offset > dl || dl - e[3].offset < 4)
			return -STEWARD_EINVAL;
		epoch = be32(data + e[3].offset);
		has_epoch = true;
	}
	if (e[4].set && string_at(&e[4], data, dl, &arch) != 0)
		return -STEWARD_EINVAL;

	if (has_epoch)
		n = snprintf(full, sizeof(full), "%u:%s%s%s", (unsigned)epoch, version,
			     release ? "-" : "", release ? release : "");
	else
		n = snprintf(full, sizeof(full), "%s%s%s", version, release ? "-" : "",
			     release ? release : "");
	if (n < 0 || (size_t)n >= sizeof(full) || !usable(name, false) || !usable(full, false) ||
	    !usable(arch, true))
		return -STEWARD_EINVAL;

	*pkg = json_pack("{s:s,s:s,s:s,s:s}", "name", name, "version", full, "arch", arch, "source",
			 "rpm");
	return *pkg ? 0 : -STEWARD_ENOMEM;
}

/* "file:" URI for path with immutable=1: no locks, no -shm, no journal, for
 * a database we may not write (an agent not running as root). */
static int immutable_uri(const char *path, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (size < 6)
		return -STEWARD_ETOOBIG;
	memcpy(out, "file:", 5);
	o = 5;
	for (const char *p = path; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (o + 4 > size)
			return -STEWARD_ETOOBIG;
		if (c == '%' || c == '?' || c == '#' || c < 0x21 || c > 0x7e) {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	if (o + sizeof("?immutable=1") > size)
		return -STEWARD_ETOOBIG;
	memcpy(out + o, "?immutable=1", sizeof("?immutable=1"));
	return 0;
}

int agent_rpmdb_read(const char *path, size_t max_packages, json_t *packages,
		     struct agent_rpm_stats *stats, struct steward_err *err)
{
	char uri[4200];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	const char *target = path;
	int flags = SQLITE_OPEN_READONLY, rc = 0, s;

	memset(stats, 0, sizeof(*stats));
	if (!json_is_array(packages) || !path)
		return steward_err_set(err, STEWARD_EINVAL, "internal", NULL,
				       "agent_rpmdb_read: bad arguments");
	if (access(path, W_OK) != 0) {
		if (immutable_uri(path, uri, sizeof(uri)) != 0)
			return steward_err_set(err, STEWARD_ETOOBIG, "internal", NULL,
					       "rpm database path too long");
		target = uri;
		flags |= SQLITE_OPEN_URI;
	}
	s = sqlite3_open_v2(target, &db, flags, NULL);
	if (s != SQLITE_OK) {
		rc = steward_err_set(err, STEWARD_EIO, "internal", NULL, "cannot open %s: %s", path,
				     db ? sqlite3_errmsg(db) : sqlite3_errstr(s));
		goto out;
	}
	sqlite3_busy_timeout(db, RPM_BUSY_TIMEOUT_MS);
	if (sqlite3_prepare_v2(db, "SELECT blob FROM Packages ORDER BY hnum", -1, &st, NULL) !=
	    SQLITE_OK) {
		rc = steward_err_set(err, STEWARD_EIO, "internal", NULL,
				     "%s is not an rpm database: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(st, 0);
		int blen = sqlite3_column_bytes(st, 0);
		json_t *pkg;
		int prc;

		if (!blob || blen <= 0) {
			stats->malformed++;
			continue;
		}
		prc = agent_rpm_header_parse(blob, (size_t)blen, &pkg);
		if (prc == -STEWARD_ENOMEM) {
			rc = steward_err_set(err, STEWARD_ENOMEM, "internal", NULL,
					     "out of memory reading %s", path);
			goto out;
		}
		if (prc == AGENT_RPM_PUBKEY) {
			stats->pubkeys++;
			continue;
		}
		if (prc != 0) {
			stats->malformed++;
			continue;
		}
		if (json_array_size(packages) >= max_packages) {
			json_decref(pkg);
			stats->truncated = true;
			continue;
		}
		if (json_array_append_new(packages, pkg) != 0) {
			rc = steward_err_set(err, STEWARD_ENOMEM, "internal", NULL,
					     "out of memory reading %s", path);
			goto out;
		}
		stats->installed++;
	}
	if (s != SQLITE_DONE)
		rc = steward_err_set(err, s == SQLITE_BUSY ? STEWARD_EBUSY : STEWARD_EIO,
				     "internal", NULL, "reading %s: %s", path, sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}
