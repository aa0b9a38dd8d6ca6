/* agent/inventory: the inventory component's collector.
 *
 *   inventory.c       collects hardware, os and software facts from /proc,
 *                     /sys and files (never from the output of commands) into
 *                     a sealed inventory document; deltas between documents
 *   inventory_dpkg.c  the parser of /var/lib/dpkg/status, on a buffer, so that
 *                     it can be unit-tested and fuzzed without the machine
 *   inventory_rpm.c   rpm's rpmdb.sqlite (through SQLite, not librpm) and the
 *                     parser of one rpm header blob, on a buffer
 *
 * The document format and the hash rules are in include/steward/inventory.h
 * and docs/internals/inventory.md; hashing is lib/proto's, shared with the
 * site. Neither file depends on agent.h, so tests compile them alone.
 */
#ifndef STEWARD_AGENT_INVENTORY_H
#define STEWARD_AGENT_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "steward/inventory.h"
#include "steward/util.h"

#define AGENT_DPKG_STATUS     "/var/lib/dpkg/status"
#define AGENT_DPKG_STATUS_MAX (64u * 1024 * 1024) /* the file is read whole */

/* What agent_dpkg_status_parse saw. */
struct agent_dpkg_stats {
	size_t installed;     /* packages appended */
	size_t not_installed; /* stanzas whose Status is not "<want> ok installed" */
	size_t skipped;	      /* installed, but Package or Version missing, too long
			       * (over PROTO_INVENTORY_STRING_MAX) or not printable ASCII */
	bool truncated;	      /* more installed packages than max_packages */
};

/* Parse the text of a dpkg status file (len bytes, need not be
 * NUL-terminated) and append one object per installed package to the array
 * packages: {"name","version","arch","source":"dpkg"}. A package counts as
 * installed when its Status is "WANT ok installed" for any WANT (install,
 * hold, deinstall, purge: all still on disk). Stanzas are separated by blank
 * lines; continuation lines, unknown fields, CRLF line ends and a missing
 * final newline are handled; field names are case-insensitive; a missing
 * Architecture is "". Appends at most max_packages entries in total (the
 * array's size counts), then only counts (stats->truncated).
 * Returns 0, -STEWARD_EINVAL (packages is not an array) or -STEWARD_ENOMEM. */
int agent_dpkg_status_parse(const char *buf, size_t len, size_t max_packages, json_t *packages,
			    struct agent_dpkg_stats *stats);

#define AGENT_RPMDB_SQLITE	"/var/lib/rpm/rpmdb.sqlite"
#define AGENT_RPM_HEADER_IL_MAX 0x10000u	     /* index entries, rpm's hdrchkTags */
#define AGENT_RPM_HEADER_DL_MAX (256u * 1024 * 1024) /* data bytes, rpm's hdrchkData */
#define AGENT_RPM_PUBKEY	1 /* agent_rpm_header_parse: a gpg-pubkey, not a package */

/* What agent_rpmdb_read saw. */
struct agent_rpm_stats {
	size_t installed; /* packages appended */
	size_t pubkeys;	  /* gpg-pubkey pseudo-packages, left out */
	size_t malformed; /* headers that failed a check (or whose values the site
			   * would refuse: empty, over 256 bytes, not printable) */
	bool truncated;	  /* more packages than max_packages */
};

/* Parse one rpm header as rpmdb.sqlite stores it (no magic: il, dl, il index
 * entries, dl data bytes; len must be exactly 8 + 16*il + dl, il 1..0x10000,
 * dl at most 256 MiB). NAME, VERSION, RELEASE, ARCH must be STRING entries
 * (count 1, NUL-terminated inside the data), EPOCH one aligned INT32; NAME
 * and VERSION are required. On 0, *pkg is a new object {"name","version",
 * "arch","source":"rpm"} with version [EPOCH:]VERSION[-RELEASE] and arch ""
 * when absent. Returns AGENT_RPM_PUBKEY (*pkg NULL) for a gpg-pubkey,
 * -STEWARD_EINVAL for a malformed header or values the site would refuse,
 * -STEWARD_ENOMEM. Reads only len bytes of blob. */
int agent_rpm_header_parse(const uint8_t *blob, size_t len, json_t **pkg);

/* Read the rpm database at path (an rpmdb.sqlite) read-only (immutable when
 * we cannot write it, so no lock or -shm file is needed) with a busy
 * timeout, and append every package to the array packages, at most
 * max_packages entries in total (the array's size counts, as for dpkg).
 * Malformed headers and gpg-pubkeys are counted in stats and skipped.
 * Returns 0, or a negative code with err filled (cannot open, not an rpm
 * database, busy, out of memory); packages appended before a failure stay. */
int agent_rpmdb_read(const char *path, size_t max_packages, json_t *packages,
		     struct agent_rpm_stats *stats, struct steward_err *err);

/* Collect this machine's full inventory, sealed (hashes and full_hash set,
 * lists in canonical order) and within the default caps of
 * proto_inventory_caps_default(). Facts that cannot be read are left empty
 * or 0. base_version is the base component that asks (NULL: this build).
 * On success *out is a new reference (json_decref it). Fails only when
 * out of memory (-STEWARD_ENOMEM, err filled). */
int agent_inventory_collect(const char *base_version, json_t **out, struct steward_err *err);

/* The delta from prev_full to cur_full (both sealed full documents): "base"
 * is prev's full_hash, "classes" holds only the classes whose hash changed
 * (none when nothing did), "hashes" and "full_hash" are cur's. When prev_full
 * is NULL or has no valid full_hash, a copy of cur_full (a full document).
 * Returns a new reference (json_decref it), or NULL when cur_full is not a
 * sealed document or memory runs out. */
json_t *agent_inventory_delta(const json_t *prev_full, const json_t *cur_full);

#endif
