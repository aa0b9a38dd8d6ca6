/* proto: wire messages, signatures, MACs and the version handshake.
 *
 * Shared by stewardd, steward-agent, stewardctl and steward-sim so that all
 * four speak exactly the same protocol. See docs/internals/protocol.md.
 */
#ifndef STEWARD_PROTO_H
#define STEWARD_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include <jansson.h>

#include "steward/util.h"

/* ---- HTTP header names ------------------------------------------------- */
#define PROTO_H_VERSION "Steward-Version"     /* sender's software version */
#define PROTO_H_PROTOCOL "Steward-Protocol"   /* sender's protocol range "MIN-MAX" */
#define PROTO_H_API "Steward-Api"             /* API major version (consoles) */
#define PROTO_H_CLIENT "Steward-Client"       /* client id (32 hex) */
#define PROTO_H_TIMESTAMP "Steward-Timestamp" /* unix seconds */
#define PROTO_H_SEQ "Steward-Seq"             /* strictly increasing per client */
#define PROTO_H_SIGNATURE "Steward-Signature" /* base64 Ed25519 signature */
#define PROTO_H_SESSION "Steward-Session"     /* session epoch (decimal) */
#define PROTO_H_MAC "Steward-Mac"             /* hex BLAKE2b-256 MAC */

/* ---- sizes -------------------------------------------------------------- */
#define PROTO_CLIENT_ID_BYTES 16
#define PROTO_CLIENT_ID_HEX 32
#define PROTO_PK_BYTES 32       /* Ed25519 public key */
#define PROTO_SK_BYTES 64       /* Ed25519 secret key (libsodium layout) */
#define PROTO_SIG_BYTES 64
#define PROTO_HASH_BYTES 32     /* BLAKE2b-256 */
#define PROTO_SESSION_KEY_BYTES 32
#define PROTO_SITE_SECRET_BYTES 32
#define PROTO_SEALED_KEY_BYTES (PROTO_SESSION_KEY_BYTES + 48) /* crypto_box_SEALBYTES */

/* caps on message fields */
#define PROTO_HOSTNAME_MAX 253
#define PROTO_VERSION_MAX 32
#define PROTO_OS_FIELD_MAX 128
#define PROTO_ADDR_MAX 64      /* one address as text */
#define PROTO_ADDRS_MAX 32     /* addresses in an enrollment */
#define PROTO_TOKEN_MAX 256
#define PROTO_COMPONENTS_MAX 32
#define PROTO_COMPONENT_NAME_MAX 32
#define PROTO_STATUS_MAX 64    /* status messages in one check-in */
#define PROTO_STATUS_TYPE_MAX 64
#define PROTO_STATUS_TEXT_MAX 1024
#define PROTO_REASON_MAX 256
#define PROTO_SITE_CODE_LEN 3

/* Initialise libsodium; call once at program start. */
int proto_init(void);

/* ---- versions and the handshake ---------------------------------------- */
struct proto_range {
	int min, max;
};

/* Parse "1-3" or "2". Returns 0 or -STEWARD_EINVAL. */
int proto_range_parse(const char *s, struct proto_range *out);
/* Format as "MIN-MAX"; out holds 24 bytes. */
void proto_range_format(const struct proto_range *r, char out[24]);
/* The highest protocol both speak, or -1 when the ranges do not overlap. */
int proto_negotiate(const struct proto_range *a, const struct proto_range *b);
/* This build's own range and version. */
struct proto_range proto_self_range(void);
const char *proto_self_version(void);
/* Semantic version "X.Y.Z" (no pre-release); returns 0 or -STEWARD_EINVAL. */
int proto_semver_parse(const char *s, int *major, int *minor, int *patch);
/* Ordering: <0, 0, >0. Unparseable versions sort first. */
int proto_semver_cmp(const char *a, const char *b);

/* ---- identity, signatures and MACs ------------------------------------ */
struct proto_keypair {
	uint8_t pk[PROTO_PK_BYTES];
	uint8_t sk[PROTO_SK_BYTES];
};

int proto_keypair_new(struct proto_keypair *kp);
/* Load the key file (64-byte libsodium secret key, mode 0600) or create it. */
int proto_keypair_load_or_create(const char *path, struct proto_keypair *kp, bool *created);

/* BLAKE2b-256 of data. */
void proto_hash(const void *data, size_t len, uint8_t out[PROTO_HASH_BYTES]);

/* The string every agent request authenticates:
 *   "steward-req-v1\n" METHOD "\n" PATH "\n" CLIENT "\n" TS "\n" SEQ "\n" HEX(H(body))
 * CLIENT is "-" before enrollment. out must hold PROTO_CANON_MAX bytes.
 */
#define PROTO_CANON_MAX 512
int proto_canonical(const char *method, const char *path, const char *client_id, int64_t ts,
		    uint64_t seq, const void *body, size_t body_len, char *out, size_t outsz);

/* Signature as base64 text (out holds 96 bytes). */
void proto_sign(const struct proto_keypair *kp, const char *canon, char out[96]);
/* 0 when valid, -STEWARD_EAUTH otherwise. */
int proto_verify(const uint8_t pk[PROTO_PK_BYTES], const char *canon, const char *sig_b64);

/* Session key = BLAKE2b-256 keyed with the site secret over
 * "steward-session-v1" || client id bytes || epoch (little-endian 64-bit). */
void proto_session_key(const uint8_t secret[PROTO_SITE_SECRET_BYTES],
		       const uint8_t client_id[PROTO_CLIENT_ID_BYTES], uint64_t epoch,
		       uint8_t key[PROTO_SESSION_KEY_BYTES]);
/* MAC as hex text (out holds 65 bytes). */
void proto_mac(const uint8_t key[PROTO_SESSION_KEY_BYTES], const char *canon, char out[65]);
/* Constant-time check; 0 when valid, -STEWARD_EAUTH otherwise. */
int proto_mac_verify(const uint8_t key[PROTO_SESSION_KEY_BYTES], const char *canon,
		     const char *mac_hex);
/* Seal the session key to the client's Ed25519 public key (converted to X25519).
 * out_b64 is malloc'd base64. */
int proto_seal_session_key(const uint8_t client_pk[PROTO_PK_BYTES],
			   const uint8_t key[PROTO_SESSION_KEY_BYTES], char **out_b64);
/* Open a sealed key with the client's key pair. */
int proto_open_session_key(const struct proto_keypair *kp, const char *sealed_b64,
			   uint8_t key[PROTO_SESSION_KEY_BYTES]);

/* The headers of one authenticated agent request, ready for http_call():
 * version, protocol, client, timestamp, sequence and either the signature
 * (session_key NULL) or the session MAC. */
#define PROTO_AUTH_HEADERS 8
struct proto_auth {
	char lines[PROTO_AUTH_HEADERS][160];
	const char *list[PROTO_AUTH_HEADERS + 2]; /* NULL-terminated; room for one extra */
};

int proto_auth_build(struct proto_auth *out, const char *method, const char *path,
		     const char *client_id, int64_t ts, uint64_t seq, const void *body,
		     size_t body_len, const struct proto_keypair *kp, const uint8_t *session_key,
		     uint64_t epoch);

/* Client ids: 32 lowercase hex digits. */
bool proto_client_id_valid(const char *s);
/* Site codes: exactly 3 characters A-Z / 0-9. */
bool proto_site_code_valid(const char *s);

/* ---- site links (sitelink.c) ------------------------------------------ */
#define PROTO_H_SITE "Steward-Site" /* the sending site's code, on site links */
#define PROTO_FP_HEX 64		    /* a site key's fingerprint: hex BLAKE2b-256 */
void proto_site_fingerprint(const uint8_t pk[PROTO_PK_BYTES], char out[PROTO_FP_HEX + 1]);

/* Enrollment tokens (enroll.c): "stwenr1.SECRET.FINGERPRINT[.PIN]". */
#define PROTO_ENROLL_PREFIX "stwenr1."
#define PROTO_ENROLL_SECRET_HEX 40
#define PROTO_ENROLL_SECRET_MAX 128 /* a bare secret of an older site */
#define PROTO_PIN_HEX 64	       /* SHA-256 of a certificate's public key */
#define PROTO_ENROLL_MAC_B64 44	       /* base64 HMAC-SHA-256 */
#define PROTO_ENROLL_MAC_HEADER "Steward-Enroll-Mac"
struct proto_enroll_token {
	char secret[PROTO_ENROLL_SECRET_MAX + 1];
	char fp[PROTO_FP_HEX + 1];   /* "" for a bare secret */
	char pin[PROTO_PIN_HEX + 1]; /* "" without one (a plain-HTTP site, a bare secret) */
};
int proto_enroll_token_parse(const char *text, struct proto_enroll_token *out,
			     struct steward_err *err);
int proto_enroll_token_format(const char *secret, const char *fp, const char *pin, char *out,
			      size_t outsz);
/* The secret of a token in either form (text itself when malformed). */
const char *proto_enroll_token_secret(const char *text, char *buf, size_t bufsz);
/* The MAC of an enrollment reply: HMAC-SHA-256 keyed with the hash of the
 * token's secret over a label, the request's sequence, the enrolling key
 * and the reply body. */
void proto_enroll_mac(const uint8_t key[PROTO_HASH_BYTES], const uint8_t pk[PROTO_PK_BYTES],
		      uint64_t seq, const void *body, size_t len,
		      char out[PROTO_ENROLL_MAC_B64 + 1]);
int proto_enroll_mac_verify(const uint8_t key[PROTO_HASH_BYTES],
			    const uint8_t pk[PROTO_PK_BYTES], uint64_t seq, const void *body,
			    size_t len, const char *mac_b64);

/* "stwsite1.ID.SECRET.FINGERPRINT[.PIN]": a one-time token a parent gives a
 * child to attach with; it carries the parent key's fingerprint. */
#define PROTO_ATTACH_PREFIX "stwsite1."
#define PROTO_ATTACH_ID_HEX 16
#define PROTO_ATTACH_SECRET_HEX 32
#define PROTO_ATTACH_TOKEN_MAX 240
struct proto_attach_token {
	char id[PROTO_ATTACH_ID_HEX + 1];
	char secret[PROTO_ATTACH_SECRET_HEX + 1];
	char fp[PROTO_FP_HEX + 1];
	char pin[PROTO_PIN_HEX + 1]; /* the parent's certificate pin; "" without HTTPS */
};
int proto_attach_token_format(const struct proto_attach_token *t, char *out, size_t outsz);
int proto_attach_token_parse(const char *text, struct proto_attach_token *out,
			     struct steward_err *err);

/* A batch: one zstd frame of {"format", "from", "to", "messages": [{"seq",
 * "class", "kind", "body"}]}; sequences grow within each class. Optional
 * (a receiver that predates them ignores them): "epoch", the sender's own
 * link epoch, and "to_epoch", the receiver's as the sender last heard it
 * ("" before it heard one): 16 lowercase hex digits each; and, from a
 * parent to a child, "inventory": the level of inventory the parent wants
 * up that link ("none", "summary" or "full"). */
#define PROTO_BATCH_FORMAT "steward-link-batch-1"
#define PROTO_BATCH_MSGS_MAX 10000
#define PROTO_BATCH_PLAIN_MAX (16u * 1024 * 1024) /* decompressed, at most */
#define PROTO_LINK_CLASSES 3			  /* 0 control, 1 status, 2 bulk */
#define PROTO_LINK_KIND_MAX 23
#define PROTO_EPOCH_HEX	      16 /* a site's link epoch: 64 random bits, a new one at every start */
struct proto_batch_msg {
	uint64_t seq;
	int cls;
	char kind[PROTO_LINK_KIND_MAX + 1];
	json_t *body; /* borrowed from the batch's root */
};
struct proto_batch {
	char from[PROTO_SITE_CODE_LEN + 1], to[PROTO_SITE_CODE_LEN + 1];
	char epoch[PROTO_EPOCH_HEX + 1];    /* "" when the batch has none */
	bool has_to_epoch;		    /* the sender says which epoch it writes to */
	char to_epoch[PROTO_EPOCH_HEX + 1]; /* that epoch; "" when it has heard none */
	char inventory[8];		    /* "none", "summary", "full"; "" when it has none */
	struct proto_batch_msg *msgs;
	size_t n;
	uint64_t last[PROTO_LINK_CLASSES]; /* the highest sequence of each class */
	json_t *root;
};
/* Decompress (at most max_plain bytes) and check a batch; codes
 * batch_invalid and batch_too_large. Clear it with proto_batch_clear. */
int proto_batch_parse(const uint8_t *z, size_t zlen, size_t max_plain, struct proto_batch *out,
		      struct steward_err *err);
void proto_batch_clear(struct proto_batch *b);
/* A link epoch: 16 lowercase hex digits. */
bool proto_link_epoch_valid(const char *s);
/* One zstd frame of plain (malloc'd into *out). */
int proto_batch_compress(const char *plain, size_t len, uint8_t **out, size_t *outlen);
/* An inventory level of a link: "none", "summary" or "full". */
bool proto_link_inv_level_valid(const char *s);

/* Inventory up a site link: a message of kind "inventory", body
 *   {"site"?: CODE, "level": "summary", "clients": [{"id", "received",
 *     "hardware": {"cpu": {"model", "sockets", "cores", "threads"},
 *                  "memory": {"total_mb"}, "disk_total_mb",
 *                  "dmi": {"vendor", "product"}, "virtualization"},
 *     "os": {"id", "name", "version_id", "version", "pretty_name",
 *            "kernel_release", "arch"}}, ...]}            (1 to 1000 clients)
 * or {"site"?, "level": "full", "clients": [{"id", "received",
 *     "inventory": A FULL INVENTORY DOCUMENT}]}             (exactly 1 client)
 * A summary's members are checked one by one and written again from what
 * was checked (members it does not know are left out); a full document is
 * checked as an agent's would be (proto_inventory_parse, every field, cap
 * and hash), within PROTO_LINK_INV_DOC_MAX bytes whatever the receiver's
 * own inventory_max_bytes, so that two sites never disagree on what fits. */
#define PROTO_LINK_INV_CLIENTS_MAX 1000
#define PROTO_LINK_INV_DOC_MAX (8u * 1024 * 1024) /* PROTO_INVENTORY_TOTAL_MAX */
struct proto_link_inv_client {
	char id[PROTO_CLIENT_ID_HEX + 1];
	int64_t received;
	/* JSON text, malloc'd: summary or canonical classes; software NULL
	 * for a summary */
	char *hardware, *os, *software;
	/* a full document's hashes; "" for a summary */
	char hashes[3][2 * PROTO_HASH_BYTES + 1];
	char full_hash[2 * PROTO_HASH_BYTES + 1];
};
struct proto_link_inv {
	char site[PROTO_SITE_CODE_LEN + 1]; /* "" when the body names none: the sender's */
	bool full;
	size_t n;
	struct proto_link_inv_client *v;
};
/* Check body into out (clear it with proto_link_inv_clear, also after a
 * failure); code batch_invalid naming what is wrong. */
int proto_link_inv_parse(json_t *body, struct proto_link_inv *out, struct steward_err *err);
void proto_link_inv_clear(struct proto_link_inv *x);

/* ---- messages --------------------------------------------------------- */
/* Every parser checks types, ranges and caps and, on refusal, fills err with
 * code "bad_request" (or "version_incompatible") and a message naming the
 * field. They never keep a reference into the json_t. */

struct proto_enroll_req {
	char token[PROTO_TOKEN_MAX + 1];
	uint8_t public_key[PROTO_PK_BYTES];
	char hostname[PROTO_HOSTNAME_MAX + 1];
	int n_addrs;
	char addrs[PROTO_ADDRS_MAX][PROTO_ADDR_MAX + 1];
	char os_name[PROTO_OS_FIELD_MAX + 1];
	char os_version[PROTO_OS_FIELD_MAX + 1];
	char agent_version[PROTO_VERSION_MAX + 1];
	struct proto_range protocol;
};

int proto_enroll_req_parse(const char *body, size_t len, struct proto_enroll_req *out,
			   struct steward_err *err);
/* Build the JSON body (malloc'd) from a filled request. */
char *proto_enroll_req_build(const struct proto_enroll_req *req);

struct proto_component {
	char name[PROTO_COMPONENT_NAME_MAX + 1];
	char version[PROTO_VERSION_MAX + 1];
};

struct proto_status_msg {
	char type[PROTO_STATUS_TYPE_MAX + 1];
	char text[PROTO_STATUS_TEXT_MAX + 1];
	int64_t time;
};

/* What the agent measured of its link (docs/slow-links.md): optional in a
 * check-in; present is false without one. */
#define PROTO_LINK_KBPS_MAX   100000000 /* 100 Gbit/s */
#define PROTO_LINK_RTT_MAX    600000    /* ms */
#define PROTO_LINK_VIA_MAX    15
struct proto_link_report {
	bool present;
	int64_t kbps;	/* throughput, kbit/s; 0: none yet */
	int64_t rtt_ms; /* round trip to the management point; 0: none */
	int64_t age;	/* seconds since the throughput was measured */
	bool metered;	/* the system says the link is metered */
	char via[PROTO_LINK_VIA_MAX + 1]; /* "probe", "download" */
};

struct proto_checkin_req {
	char agent_version[PROTO_VERSION_MAX + 1];
	struct proto_range protocol;
	int n_components;
	struct proto_component components[PROTO_COMPONENTS_MAX];
	int n_status;
	struct proto_status_msg status[PROTO_STATUS_MAX];
	int64_t uptime;      /* seconds, >= 0 */
	char inventory_hash[2 * PROTO_HASH_BYTES + 1]; /* "" when absent */
	struct proto_link_report link;
};

int proto_checkin_req_parse(const char *body, size_t len, struct proto_checkin_req *out,
			    struct steward_err *err);
/* The two halves of proto_checkin_req_parse. _scan (checkin.c) reads the
 * body an agent sends in one pass without allocating; it returns false,
 * setting no error, for anything it is not sure the tree parser would
 * accept the same way. _tree (messages.c) parses through jansson's tree
 * and decides every other body, with every refusal's text. The fuzz
 * target checks that _scan never accepts what _tree would not, nor reads
 * it differently. */
bool proto_checkin_req_scan(const char *body, size_t len, struct proto_checkin_req *out);
int proto_checkin_req_parse_tree(const char *body, size_t len, struct proto_checkin_req *out,
				 struct steward_err *err);
char *proto_checkin_req_build(const struct proto_checkin_req *req);

/* Error bodies: {"error":{"code":..,"message":..,"remedy":..}} */
char *proto_error_body(const struct steward_err *err);
/* Parse an error body into err; returns 0 if it was one. */
int proto_error_parse(const char *body, size_t len, struct steward_err *err);

/* ---- console updates (console.c) ---------------------------------------- *
 * GET /update/console answers every console, whatever protocol or API it
 * speaks, with one document in a frozen format, so that a stewardctl the
 * site refuses can still update itself (docs/internals/console-update.md).
 * The format never changes meaning: a later site may add members, which
 * readers ignore; a change that old readers could misread gets a new
 * format name. */
#define PROTO_CONSOLE_UPDATE_FORMAT "steward-console-update-1"
#define PROTO_CONSOLE_UPDATE_PATH   "/update/console"
#define PROTO_CONSOLE_MANIFEST_MAX  (1024u * 1024) /* a release manifest (CONTENT_RELEASE_MAX) */
/* the whole reply: the manifest as a JSON string (as POST /api/v1/releases caps it) */
#define PROTO_CONSOLE_UPDATE_MAX   (3u * PROTO_CONSOLE_MANIFEST_MAX + 64u * 1024)
#define PROTO_CONSOLE_PATH_MAX	   1024 /* the file's path in its component */
#define PROTO_CONSOLE_DOWNLOAD_MAX 255	/* the download path on the site */
#define PROTO_CONSOLE_HASH_HEX	   64	/* SHA-256 */
#define PROTO_CONSOLE_SIZE_MAX	   ((uint64_t)1 << 40)

struct proto_console_update {
	/* the site that answers */
	char site_code[PROTO_SITE_CODE_LEN + 1];
	char site_version[PROTO_VERSION_MAX + 1];
	struct proto_range site_protocol;
	int site_api;
	/* the release it offers and that release's signed manifest, verbatim */
	char release[PROTO_VERSION_MAX + 1];
	char *manifest; /* malloc'd, NUL-terminated; proto_console_update_clear frees */
	size_t manifest_len;
	/* the console component of that release and its stewardctl binary */
	char component[PROTO_COMPONENT_NAME_MAX + 1];
	char version[PROTO_VERSION_MAX + 1];
	struct proto_range protocol;
	char path[PROTO_CONSOLE_PATH_MAX + 1];
	char sha256[PROTO_CONSOLE_HASH_HEX + 1];
	uint64_t size;
	char download[PROTO_CONSOLE_DOWNLOAD_MAX + 1]; /* "/update/console/files/HASH" */
};

/* Parse a reply of GET /update/console with every cap; refusals have code
 * "bad_reply" and name the member. The manifest is not checked here: the
 * caller verifies its signature (content_release_parse) and that the
 * members agree with it. */
int proto_console_update_parse(const char *body, size_t len, struct proto_console_update *out,
			       struct steward_err *err);
/* The document's text (malloc'd), or NULL when out of memory or a field
 * cannot be represented. */
char *proto_console_update_build(const struct proto_console_update *u);
void proto_console_update_clear(struct proto_console_update *u);

#endif
