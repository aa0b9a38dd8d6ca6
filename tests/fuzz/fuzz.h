/* fuzz: helpers shared by the fuzz targets in this directory.
 *
 * A target reports a broken property with FUZZ_CHECK, which prints the
 * condition and aborts: libFuzzer then saves the input as a crash, and the
 * replay runner (replay.c) fails the ctest.
 */
#ifndef STEWARD_FUZZ_H
#define STEWARD_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steward/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__,      \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Is the fixed-size array s NUL-terminated? */
#define FUZZ_TERMINATED(s) (memchr((s), '\0', sizeof(s)) != NULL)

/* The strings a parser promised printable (0x20..0x7e) and at most max bytes. */
static inline int fuzz_printable_max(const char *s, size_t max)
{
	return strlen(s) <= max && str_printable(s);
}

/* The error body a refusal becomes (proto_error_body, with the site's
 * fallback message when truncation split a UTF-8 sequence) parses back
 * with the same code. */
static inline void fuzz_check_error_body(const struct steward_err *err)
{
	struct steward_err safe = *err, back;
	char *body;

	body = proto_error_body(err);
	if (!body) {
		snprintf(safe.message, sizeof(safe.message), "(message not representable)");
		body = proto_error_body(&safe);
	}
	FUZZ_CHECK(body != NULL);
	memset(&back, 0, sizeof(back));
	FUZZ_CHECK(proto_error_parse(body, strlen(body), &back) == 0);
	FUZZ_CHECK(strcmp(back.code, err->code) == 0);
	free(body);
}

/* A refused request must be answerable: stewardd sends err back with
 * http_reply_error(), which falls back to a fixed message when the message
 * is not valid UTF-8. Check the error is filled, and that what the server
 * would send parses back (proto_error_parse) with the same code. */
static inline void fuzz_check_refusal(const struct steward_err *err)
{
	FUZZ_CHECK(FUZZ_TERMINATED(err->code) && FUZZ_TERMINATED(err->message) &&
		   FUZZ_TERMINATED(err->remedy));
	FUZZ_CHECK(strcmp(err->code, "bad_request") == 0);
	FUZZ_CHECK(err->message[0] != '\0');
	fuzz_check_error_body(err);
}

/* An accepted field says exactly what the body said: the JSON string at
 * obj[key] (absent or null: "") has the same bytes as got, with no NUL
 * inside it cut short and nothing dropped. The body is parsed again here,
 * independently of the parser under test. */
static inline int fuzz_json_str_is(json_t *obj, const char *key, const char *got)
{
	json_t *v = key ? json_object_get(obj, key) : obj;

	if (!v || json_is_null(v))
		return got[0] == '\0';
	return json_is_string(v) && json_string_length(v) == strlen(got) &&
	       memcmp(json_string_value(v), got, strlen(got)) == 0;
}

/* libsodium must be initialised once before the parsers run. */
static inline void fuzz_init(void)
{
	static int done;

	if (!done) {
		FUZZ_CHECK(proto_init() == 0);
		done = 1;
	}
}

#endif
