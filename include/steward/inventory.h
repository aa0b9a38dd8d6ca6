/* inventory: the inventory document (hardware, os, software), its caps, its
 * hashes, and deltas between two documents.
 *
 * Shared by the agent (which builds and seals documents) and the site (which
 * parses, verifies and stores them), so both hash exactly the same way. The
 * document format, the canonical form and the hash rules are in
 * docs/internals/inventory.md.
 *
 * Ownership: a struct proto_inventory filled by proto_inventory_parse() or
 * proto_inventory_apply_delta() holds one reference to a json_t; release it
 * with proto_inventory_free(). Functions ending in _new return memory the
 * caller frees with free(). Nothing here keeps a pointer into the caller's
 * buffers.
 */
#ifndef STEWARD_INVENTORY_H
#define STEWARD_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "steward/proto.h"
#include "steward/util.h"

#define PROTO_INVENTORY_SCHEMA 1
#define PROTO_INVENTORY_HEX    (2 * PROTO_HASH_BYTES) /* 64 hex digits */

/* The three classes, in the order their hashes make the full hash. */
enum proto_inventory_class {
	PROTO_INV_HARDWARE = 0,
	PROTO_INV_OS = 1,
	PROTO_INV_SOFTWARE = 2,
};
#define PROTO_INV_NCLASSES 3
#define PROTO_INV_ALL	   0x7u /* bit (1 << class) for every class */

/* "hardware", "os", "software"; NULL for anything else. */
const char *proto_inventory_class_name(int cls);

/* ---- caps ------------------------------------------------------------------
 * Going over any of these refuses the document with code "inventory_too_large"
 * (-STEWARD_ETOOBIG) and a message naming the cap and the count. */
struct proto_inventory_caps {
	size_t packages;     /* classes.software.packages entries */
	size_t steward;	     /* classes.software.steward entries */
	size_t disks;	     /* classes.hardware.disks entries */
	size_t network;	     /* classes.hardware.network entries */
	size_t addresses;    /* addresses of one network interface */
	size_t string_bytes; /* any one string value, in bytes */
	size_t total_bytes;  /* the whole document as received, in bytes */
};

#define PROTO_INVENTORY_PACKAGES_MAX  20000
#define PROTO_INVENTORY_STEWARD_MAX   64
#define PROTO_INVENTORY_DISKS_MAX     256
#define PROTO_INVENTORY_NETWORK_MAX   128
#define PROTO_INVENTORY_ADDRESSES_MAX 32
#define PROTO_INVENTORY_STRING_MAX    256
#define PROTO_INVENTORY_TOTAL_MAX     (8u * 1024 * 1024)

/* The defaults above. */
void proto_inventory_caps_default(struct proto_inventory_caps *caps);

/* ---- parsed documents ----------------------------------------------------- */
struct proto_inventory {
	json_t *doc;	  /* owned reference: the validated document, packages sorted */
	bool delta;	  /* true when the document carries "base" */
	unsigned classes; /* bit (1 << class) per class present in doc */
	char base[PROTO_INVENTORY_HEX + 1]; /* delta: the full hash it applies to; else "" */
	char hashes[PROTO_INV_NCLASSES][PROTO_INVENTORY_HEX + 1]; /* all three, always */
	char full_hash[PROTO_INVENTORY_HEX + 1];
};

/* Parse and verify a full document or a delta (body need not be
 * NUL-terminated; caps NULL means the defaults). Checks every field's type,
 * range and length, every count against caps, every class hash present and
 * the full hash. Sorts the package and steward lists of doc into canonical
 * order (so a client may send them in any order).
 *
 * Returns 0 and fills out (release with proto_inventory_free), or a negative
 * code with err filled and out left empty (safe to free):
 *   -STEWARD_EINVAL   "bad_request": malformed; the message names the field
 *                     path, e.g. classes.software.packages[12].version
 *   -STEWARD_ETOOBIG  "inventory_too_large": over a cap (named with the count)
 *   -STEWARD_EINVAL   "inventory_hash_mismatch": a hash does not match
 *   -STEWARD_EVERSION "version_incompatible": a schema this build cannot read
 *   -STEWARD_ENOMEM */
int proto_inventory_parse(const char *body, size_t len, const struct proto_inventory_caps *caps,
			  struct proto_inventory *out, struct steward_err *err);

/* Release inv->doc and clear inv. NULL and already-empty structs are fine. */
void proto_inventory_free(struct proto_inventory *inv);

/* The canonical text of inv->doc (compact, keys sorted, ASCII): what the site
 * stores. malloc'd; NULL when out of memory. */
char *proto_inventory_text_new(const struct proto_inventory *inv);

/* Apply a parsed delta to the stored full document: stored/stored_len is its
 * text (as proto_inventory_text_new wrote it) and stored_full_hash its full
 * hash. On success out holds the new full document (release with
 * proto_inventory_free), already verified against the delta's full_hash.
 *
 *   -STEWARD_ENOTFOUND "inventory_resync": the delta's base is not the stored
 *                      full hash (or the stored document cannot be read);
 *                      nothing is wrong with the delta, the site lacks its
 *                      base: ask the client for a full inventory
 *   -STEWARD_EINVAL    "bad_request" when delta is not a delta;
 *                      "inventory_hash_mismatch" when the merged document's
 *                      hashes differ from the delta's
 *   -STEWARD_ETOOBIG   "inventory_too_large": the merged document is over a cap
 *   -STEWARD_ENOMEM */
int proto_inventory_apply_delta(const char *stored, size_t stored_len, const char *stored_full_hash,
				const struct proto_inventory *delta,
				const struct proto_inventory_caps *caps,
				struct proto_inventory *out, struct steward_err *err);

/* ---- hashing (the agent and the site share it) ----------------------------- */
/* Hash one class object: BLAKE2b-256 of its canonical JSON (jansson
 * JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII), as hex. For the software
 * class the package and steward lists are first sorted in place. Returns 0 or
 * -STEWARD_ENOMEM (or -STEWARD_EINVAL when cls_obj is not an object). */
int proto_inventory_class_hash(json_t *cls_obj, int cls, char out[PROTO_INVENTORY_HEX + 1]);

/* BLAKE2b-256 over the three class hashes (32 raw bytes each, in the order
 * hardware, os, software), as hex. Returns -STEWARD_EINVAL when a class hash
 * is not 64 hex digits. */
int proto_inventory_full_hash(const char hashes[PROTO_INV_NCLASSES][PROTO_INVENTORY_HEX + 1],
			      char out[PROTO_INVENTORY_HEX + 1]);

/* Complete a full document built by a client: sort its lists, compute the
 * three class hashes and the full hash and set "schema", "hashes" and
 * "full_hash" in doc. Does not validate the classes (proto_inventory_parse
 * does). Returns 0, -STEWARD_EINVAL (a class is missing or not an object) or
 * -STEWARD_ENOMEM, with err filled. */
int proto_inventory_seal(json_t *doc, struct steward_err *err);

#endif
