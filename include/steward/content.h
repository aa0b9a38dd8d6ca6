/* content: content-addressed blobs, package manifests, directory import.
 *
 * A blob is named by the SHA-256 of its bytes (64 lowercase hex digits), so
 * a name is also its check: whoever stores or fetches a blob verifies the
 * hash before trusting it. A package is a signed manifest listing its files
 * by path, size, mode and hash; the manifest is itself stored as a blob.
 *
 * Used by stewardd (the store of the site server and of every distribution
 * point), stewardctl (walking and hashing a source directory) and the agent
 * (verifying manifests and downloaded blobs). No network, no database.
 * docs/internals/content.md describes the formats.
 */
#ifndef STEWARD_CONTENT_H
#define STEWARD_CONTENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "steward/proto.h"
#include "steward/util.h"

#define CONTENT_HASH_BYTES 32
#define CONTENT_HASH_HEX   64
#define CONTENT_PATH_MAX   1024 /* a path inside a package, bytes */
#define CONTENT_NAME_MAX   255  /* one path component */
#define CONTENT_FILES_MAX  100000
#define CONTENT_MANIFEST_MAX (16u * 1024 * 1024)
#define CONTENT_PKG_NAME_MAX 64 /* package names: A-Z a-z 0-9 . _ - + */
#define CONTENT_PKG_VERSION_MAX 64

/* ---- hashing ------------------------------------------------------------- */
bool content_hash_valid(const char *hex); /* 64 lowercase hex digits */
void content_hash_buf(const void *data, size_t len, char out[CONTENT_HASH_HEX + 1]);
/* Hash a whole open file from its current offset; *size receives its length. */
int content_hash_fd(int fd, char out[CONTENT_HASH_HEX + 1], uint64_t *size);
int content_hash_file(const char *path, char out[CONTENT_HASH_HEX + 1], uint64_t *size);

/* Incremental hashing (downloads, uploads arriving in pieces). */
struct content_hasher {
	uint8_t state[512]; /* crypto_hash_sha256_state, kept opaque */
	uint64_t size;
};
void content_hasher_init(struct content_hasher *h);
void content_hasher_update(struct content_hasher *h, const void *data, size_t len);
void content_hasher_final(struct content_hasher *h, char out[CONTENT_HASH_HEX + 1]);

/* ---- the blob store ------------------------------------------------------ *
 * DIR/blobs/ab/abcd...: one file per blob, mode 0644, written to DIR/tmp
 * first, fsync'd and renamed into place, so a crash leaves either the whole
 * verified blob or nothing under blobs/. */
struct content_store;

int content_store_open(const char *dir, struct content_store **out, struct steward_err *err);
void content_store_close(struct content_store *cs);
bool content_store_has(struct content_store *cs, const char *hash, uint64_t *size);
/* DIR/blobs/ab/<hash> into out (whether or not it exists). */
int content_store_path(struct content_store *cs, const char *hash, char *out, size_t outsz);
/* Open a stored blob read-only; *size receives its length. -STEWARD_ENOTFOUND. */
int content_store_open_blob(struct content_store *cs, const char *hash, int *fd, uint64_t *size);
/* Store bytes under their hash; when expected is not NULL and differs from
 * the bytes' hash, store nothing and return -STEWARD_EINVAL with err naming
 * both hashes. Storing an existing blob is a no-op that succeeds. */
int content_store_put_buf(struct content_store *cs, const void *data, size_t len,
			  const char *expected, char out[CONTENT_HASH_HEX + 1],
			  struct steward_err *err);
/* The same from an open file read from its current offset to its end. */
int content_store_put_fd(struct content_store *cs, int fd, const char *expected,
			 char out[CONTENT_HASH_HEX + 1], struct steward_err *err);

/* Writing in pieces (a body arriving from the network): begin, write, then
 * commit (verifies against expected, renames into place) or abort. */
struct content_put;
int content_put_begin(struct content_store *cs, const char *expected, uint64_t max_bytes,
		      struct content_put **out, struct steward_err *err);
/* -STEWARD_ETOOBIG once more than max_bytes arrived. */
int content_put_write(struct content_put *p, const void *data, size_t len,
		      struct steward_err *err);
int content_put_commit(struct content_put *p, char out[CONTENT_HASH_HEX + 1],
		       struct steward_err *err); /* frees p */
void content_put_abort(struct content_put *p);   /* frees p; NULL is fine */

int content_store_remove(struct content_store *cs, const char *hash);
typedef int (*content_blob_cb)(const char *hash, uint64_t size, int64_t mtime, void *ctx);
/* Every stored blob; a callback's non-zero return stops the walk and is
 * returned. Leftovers in DIR/tmp older than an hour are removed. */
int content_store_walk(struct content_store *cs, content_blob_cb cb, void *ctx);

/* A put that survives an interrupted transfer (remote distribution points
 * resume with an HTTP Range request). Like content_put_begin with expected
 * required, but the bytes are kept in DIR/tmp/part.HASH, which
 * content_put_abort leaves in place. *have: on entry the most bytes of an
 * earlier attempt to keep (0 starts over, UINT64_MAX keeps all); on return
 * how many were kept, already hashed into the put, so the caller writes
 * only what follows. A partial over max_bytes, or of max_bytes that does
 * not hash to expected, is discarded. content_put_commit and _abort as
 * usual. When the blob is stored already, its partial is removed and
 * -STEWARD_EEXIST returned (err untouched): call it once more after a
 * commit to drop the partial's name at once. The tmp/ sweep removes a
 * partial untouched for an hour. One caller per hash at a time. */
int content_put_resume(struct content_store *cs, const char *expected, uint64_t max_bytes,
		       uint64_t *have, struct content_put **out, struct steward_err *err);

/* ---- manifests ----------------------------------------------------------- */
enum content_entry_type { CONTENT_FILE = 0, CONTENT_DIR, CONTENT_LINK };

struct content_entry {
	enum content_entry_type type;
	char path[CONTENT_PATH_MAX + 1];   /* relative, '/'-separated, normalized */
	char hash[CONTENT_HASH_HEX + 1];   /* files */
	uint64_t size;                     /* files */
	unsigned mode;                     /* permission bits 0..0777 */
	char target[CONTENT_PATH_MAX + 1]; /* links: relative, stays inside */
};

struct content_manifest {
	char package[CONTENT_PKG_NAME_MAX + 1];
	char version[CONTENT_PKG_VERSION_MAX + 1];
	char site[PROTO_SITE_CODE_LEN + 1];
	int64_t created;
	uint8_t key[PROTO_PK_BYTES]; /* the signer's public key */
	uint64_t total_bytes;        /* sum of file sizes */
	size_t n_entries;
	struct content_entry *entries; /* heap; content_manifest_clear frees */
};

void content_manifest_clear(struct content_manifest *m);
bool content_pkg_name_valid(const char *name);
bool content_pkg_version_valid(const char *version);
/* A relative path as a manifest holds it: no leading '/', no empty, '.' or
 * '..' components, no control characters, within the caps. */
bool content_path_valid(const char *path);
/* A link target is allowed when, resolved from the link's directory, it
 * stays inside the package. */
bool content_link_target_valid(const char *link_path, const char *target);

/* Check entries (paths valid and unique, parents listed before children,
 * links inside) and write the signed manifest text (malloc'd). */
int content_manifest_build(const struct content_manifest *m, const struct proto_keypair *kp,
			   char **text, size_t *len, struct steward_err *err);
/* Parse manifest text with every cap and check its signature against
 * trusted_key (NULL: against the key it names; the caller must then decide
 * whether to trust m->key). On failure err says what is wrong, with
 * code "manifest_invalid" or "manifest_signature". */
int content_manifest_parse(const char *text, size_t len, const uint8_t *trusted_key,
			   struct content_manifest *m, struct steward_err *err);
/* Why a path (or a link target) is refused, as a fixed phrase to follow the
 * quoted path ("is absolute (starts with '/')"), or NULL when it is valid;
 * the _valid functions above are these == NULL. */
const char *content_path_problem(const char *path);
const char *content_link_target_problem(const char *link_path, const char *target);
/* Sort entries into manifest order (by path, byte order: every directory
 * before its contents), as content_manifest_build wants them. */
void content_manifest_sort(struct content_manifest *m);

/* ---- importing a directory (stewardctl packages add) --------------------- *
 * Walk dir and fill m->entries (sorted by path, directories first) with
 * hashes and sizes. Refuses, naming the path: symlinks whose target leaves
 * the package (or is absolute), hard links to files outside the package
 * (st_nlink greater than the links found inside), device files, FIFOs and
 * sockets, names the manifest cannot hold, more than CONTENT_FILES_MAX
 * entries, and a total above max_bytes. */
int content_import_dir(const char *dir, uint64_t max_bytes, struct content_manifest *m,
		       struct steward_err *err);

/* ---- releases ------------------------------------------------------------ *
 * A release (a service pack) is a signed list of components: the agent's
 * launcher and components, stewardd and stewardctl, each with its version,
 * the protocol range it speaks and its files by hash. The manifest is
 * signed with a release key (Ed25519) that sites trust by configuration;
 * docs/internals/releases.md describes the format and the compatibility
 * rules it carries. */
#define CONTENT_RELEASE_MAX	    (1024u * 1024)
#define CONTENT_RELEASE_COMPONENTS_MAX 32
#define CONTENT_RELEASE_FILES_MAX   1024
#define CONTENT_COMPONENT_NAME_MAX  32 /* a-z 0-9 -, starting with a letter */
#define CONTENT_VERSION_MAX	    31 /* X.Y.Z, each part 0 to 100000 */
#define CONTENT_PROTO_MAX	    65535

enum content_component_kind {
	CONTENT_KIND_LAUNCHER = 0, /* the agent's launcher: switches slots */
	CONTENT_KIND_BASE,	   /* the agent's base component */
	CONTENT_KIND_OPTIONAL,	   /* an optional agent component */
	CONTENT_KIND_SITE,	   /* stewardd: the site systems */
	CONTENT_KIND_CONSOLE,	   /* stewardctl */
};
const char *content_component_kind_name(enum content_component_kind k);

struct content_component {
	char name[CONTENT_COMPONENT_NAME_MAX + 1];
	enum content_component_kind kind;
	char version[CONTENT_VERSION_MAX + 1];
	unsigned proto_min, proto_max; /* the protocol range it speaks */
	char needs_base[CONTENT_VERSION_MAX + 1]; /* optional components: the
						    * lowest base version; "" */
};

struct content_release_file {
	char component[CONTENT_COMPONENT_NAME_MAX + 1];
	char path[CONTENT_PATH_MAX + 1]; /* inside the component's directory */
	unsigned mode;			 /* permission bits */
	uint64_t size;
	char hash[CONTENT_HASH_HEX + 1];
};

struct content_release {
	char version[CONTENT_VERSION_MAX + 1];
	int64_t created, expires;
	uint8_t key[PROTO_PK_BYTES]; /* the release key that signed it */
	/* the lowest version an agent or site may upgrade from directly */
	char upgrade_from[CONTENT_VERSION_MAX + 1];
	size_t n_components;
	struct content_component components[CONTENT_RELEASE_COMPONENTS_MAX];
	size_t n_files;
	struct content_release_file *files; /* heap; content_release_clear frees */
};

void content_release_clear(struct content_release *r);
bool content_component_name_valid(const char *name);
/* The component named name, or NULL. */
const struct content_component *content_release_component(const struct content_release *r,
							     const char *name);
/* Check r (versions, names, ranges, files sorted by component then path,
 * each file's component listed) and write the text signed with sk
 * (malloc'd); the key line is kp's public key. */
int content_release_build(const struct content_release *r, const struct proto_keypair *kp,
			  char **text, size_t *len, struct steward_err *err);
/* Parse with every cap and check the signature against the key the text
 * names; then, when n_trusted > 0, that this key is one of trusted[]
 * (PROTO_PK_BYTES each). Codes: "release_invalid", "release_signature",
 * "release_untrusted". Expiry is the caller's to judge (it has the clock). */
int content_release_parse(const char *text, size_t len, const uint8_t (*trusted)[PROTO_PK_BYTES],
			  size_t n_trusted, struct content_release *r, struct steward_err *err);

/* ---- release keys: what agents trust, and statements signed by a release key
 * docs/security-release-keys.md describes why each exists.
 *
 * The key list: the release keys a site trusts, as the site hands them to
 * its agents (enrollment reply, upgrade offers), signed with the site key
 * over CONTENT_KEYS_CONTEXT then each key (64 lowercase hex) and a newline.
 *
 * A rollback authorization, one line an administrator makes with the
 * release key (stewardctl releases rollback-sign): agents install a
 * release older than the newest they have run only with one for exactly
 * that release, unexpired, signed by a release key they trust:
 *   rollback VERSION EXPIRES KEY SIGNATURE
 * signed text: "steward-release-rollback-v1\nversion V\nexpires T\nkey K\n".
 *
 * A key endorsement, one line signed by a release key already trusted
 * (stewardctl releases endorse-key): how a new release key reaches agents.
 *   endorse NEWKEY BYKEY SIGNATURE
 * signed text: "steward-release-key-endorse-v1\nkey NEW\nby BY\n". */
#define CONTENT_RELEASE_KEYS_MAX 8
#define CONTENT_KEYS_CONTEXT	 "steward-release-keys-v1\n"
#define CONTENT_STATEMENT_MAX	 300 /* one rollback or endorse line */

/* The text the site key signs for a list of keys (hex): malloc'd, NULL
 * when out of memory or a key is not 64 lowercase hex digits. */
char *content_release_keys_canon(const char *const *keys, size_t n);

struct content_rollback {
	char version[CONTENT_VERSION_MAX + 1];
	int64_t expires;
	uint8_t key[PROTO_PK_BYTES];
};
/* Write the authorization line for version, signed by kp (out: at least
 * CONTENT_STATEMENT_MAX + 1 bytes). */
int content_rollback_sign(const char *version, int64_t expires, const struct proto_keypair *kp,
			  char *out, size_t outsz);
/* Parse a line and check its signature against the key it names; trust
 * and expiry are the caller's. Code "rollback_invalid". */
int content_rollback_parse(const char *line, struct content_rollback *out, struct steward_err *err);

struct content_endorsement {
	uint8_t key[PROTO_PK_BYTES]; /* the key endorsed */
	uint8_t by[PROTO_PK_BYTES];  /* the key that signed */
};
int content_endorse_sign(const uint8_t key[PROTO_PK_BYTES], const struct proto_keypair *kp,
			 char *out, size_t outsz);
/* Parse a line and check its signature against the key it names as
 * signer. Code "endorsement_invalid". */
int content_endorse_parse(const char *line, struct content_endorsement *out,
			  struct steward_err *err);

/* ---- deltas between releases (delta.c) ------------------------------------ *
 * A delta turns one file of the release an agent runs (the base) into the
 * same file of a newer release (the target): a zstd frame compressed with
 * the base as its prefix (zstd's --patch-from), long-distance matching and
 * a window covering both files. Whoever applies it checks the result's
 * SHA-256 against the signed release manifest: a delta is only a cheaper
 * way to get bytes whose hash is already known. docs/internals/deltas.md. */
#define CONTENT_DELTA_FILE_MAX (512u * 1024 * 1024) /* a base or a target, bytes */
#define CONTENT_DELTA_LEVEL    19

/* Make the patch (malloc'd into *patch) that turns base into target.
 * -STEWARD_ETOOBIG when either is over CONTENT_DELTA_FILE_MAX. */
int content_delta_make(const void *base, size_t base_len, const void *target, size_t target_len,
		       void **patch, size_t *patch_len, struct steward_err *err);
/* Apply patch to base: the result (malloc'd into *out) must be exactly
 * target_len bytes (never more is decoded) and, when target_hash is not
 * NULL, hash to it. Codes: "delta_invalid" (not a patch, truncated, or
 * not of target_len bytes), "delta_mismatch" (the result's hash differs:
 * most often a patch made from another base), "delta_too_big". */
int content_delta_apply(const void *base, size_t base_len, const void *patch, size_t patch_len,
			uint64_t target_len, const char *target_hash, void **out,
			struct steward_err *err);

/* The delta list of a release (release.deltas): which patch turns which
 * base into which file of the release, signed by the release key over the
 * release's version and the SHA-256 of its manifest text. It is a text of
 * its own, not lines of the manifest, so that agents and sites built before
 * deltas still read every release manifest. */
#define CONTENT_DELTAS_MAX	  (256u * 1024)
#define CONTENT_DELTAS_ENTRIES_MAX 1024

struct content_delta {
	char target[CONTENT_HASH_HEX + 1]; /* the file of the release */
	char base[CONTENT_HASH_HEX + 1];   /* the file it is made from */
	char patch[CONTENT_HASH_HEX + 1];  /* the patch blob */
	uint64_t patch_size;
};

struct content_deltas {
	char version[CONTENT_VERSION_MAX + 1];	   /* the release's */
	char previous[CONTENT_VERSION_MAX + 1];	   /* the release the bases are from */
	char manifest[CONTENT_HASH_HEX + 1];	   /* SHA-256 of the release manifest text */
	uint8_t key[PROTO_PK_BYTES];		   /* the release key that signed it */
	size_t n;
	struct content_delta *d; /* heap, sorted by target then base;
				  * content_deltas_clear frees */
};

void content_deltas_clear(struct content_deltas *ds);
/* Append one (growing d); -STEWARD_ETOOBIG past CONTENT_DELTAS_ENTRIES_MAX. */
int content_deltas_add(struct content_deltas *ds, const struct content_delta *d);

/* Sort, check and sign (text malloc'd). */
int content_deltas_build(struct content_deltas *ds, const struct proto_keypair *kp, char **text,
			 size_t *len, struct steward_err *err);
/* Parse with every cap and check the signature against the key the text
 * names; when r_key is not NULL it must be that key (the release's). Code
 * "deltas_invalid". */
int content_deltas_parse(const char *text, size_t len, const uint8_t *r_key,
			 struct content_deltas *ds, struct steward_err *err);
/* The first delta for target from base, or NULL. */
const struct content_delta *content_deltas_find(const struct content_deltas *ds,
						const char *target, const char *base);

#endif
