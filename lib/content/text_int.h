/* content/text_int: the line format shared by package and release manifests.
 *
 * Both are UTF-8 text of TAB-separated fields, one record a line, signed
 * over every byte before a final "signature<TAB>BASE64" line, and both are
 * read from the network: these are the strict readers and writers they
 * share (one text per value: no leading zeros, canonical base64, exact
 * times). Private to lib/content.
 */
#ifndef STEWARD_CONTENT_TEXT_INT_H
#define STEWARD_CONTENT_TEXT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "steward/util.h"

#define CTEXT_QUOTE_MAX	  48 /* a quoted piece of input inside a message */
#define CTEXT_SIG_B64_LEN 88 /* base64 of 64 bytes */
#define CTEXT_SIG_LINE_MAX (sizeof("signature\t") - 1 + CTEXT_SIG_B64_LEN + 1)
#define CTEXT_TIME_MAX	  INT64_C(253402300799) /* 9999-12-31T23:59:59Z: four-digit years */

struct ctext_cursor {
	const char *p, *end; /* the text ends with '\n', checked first */
	int line;	     /* number of the line last taken */
};

struct ctext_field {
	const char *s;
	size_t n;
};

bool ctext_is_alnum(unsigned char c);
bool ctext_is_digit(unsigned char c);
/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
bool ctext_utf8_valid(const unsigned char *s, size_t n);
bool ctext_has_control(const char *s);
/* Input inside an error message, printable and cut (see text.c). */
const char *ctext_quote(char out[CTEXT_QUOTE_MAX + 4], const char *s, size_t n);
/* Exactly the text time_rfc3339 writes, "2026-11-25T09:00:00Z". */
bool ctext_parse_time(const char *s, size_t n, int64_t *out);
/* Decimal without sign or leading zeros, at most max; NULL or why not. */
const char *ctext_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out);
/* Exactly four octal digits of permission bits: "0755". */
bool ctext_parse_mode(const char *s, size_t n, unsigned *out);

bool ctext_next_line(struct ctext_cursor *c, struct ctext_field *l);
size_t ctext_split(struct ctext_field l, struct ctext_field *f, size_t max);
bool ctext_field_is(struct ctext_field f, const char *s);
bool ctext_field_copy(struct ctext_field f, char *out, size_t outsz);
bool ctext_hex_lower(struct ctext_field f, uint8_t *out, size_t n);

/* The bytes no line may hold: NULL when every byte is TAB, LF or printable
 * and the text ends with LF; else why not, with *line the line it is on
 * and *byte the control byte found there (-1: the text lacks its final LF). */
const char *ctext_bad_bytes(const char *text, size_t len, int *line, int *byte);
/* What a kind of signed text is called, for ctext_open's refusals. */
struct ctext_kind {
	const char *what;   /* "manifest": "the manifest is empty" */
	const char *format; /* "manifest format version": "... '2' is not supported" */
	const char *magic;  /* the first line is MAGIC<TAB>VERSION */
	const char *version;
	const char *code;   /* the error code of a refusal */
	const char *remedy;
};
/* The checks every signed text starts with, on the text c spans: not
 * empty, at most max bytes, no byte a line may not hold (ctext_bad_bytes),
 * and the first line MAGIC<TAB>VERSION. 0 with c past that line, or
 * -STEWARD_EINVAL with err filled. */
int ctext_open(struct ctext_cursor *c, size_t max, const struct ctext_kind *k,
	       struct steward_err *err);
/* Sign b's contents with sk (crypto_sign_SECRETKEYBYTES) and append the
 * "signature<TAB>BASE64<LF>" line; b's cap is raised by its length. */
int ctext_sign(struct buf *b, const uint8_t *sk);
/* A signature value: canonical base64 of 64 bytes into sig. */
bool ctext_signature_value(struct ctext_field v, uint8_t sig[64]);

#endif
