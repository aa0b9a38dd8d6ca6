/* fuzz_relkeys: content_rollback_parse and content_endorse_parse, the
 * one-line statements a release key signs (lib/content/relkeys.c); both
 * reach stewardd (import, configuration) and agents (upgrade offers).
 *
 * A refusal has its code and leaves the output zeroed. An accepted rollback
 * line names a version X.Y.Z and an expiry after 1970; an accepted line of
 * either kind is at most CONTENT_STATEMENT_MAX bytes and printable. The
 * signature must verify, so random input is refused: the corpus holds lines
 * signed for real, and mutations of them.
 */
#include "fuzz.h"

#include "steward/content.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct content_rollback rb;
	struct content_endorsement en;
	struct steward_err err;
	char line[CONTENT_STATEMENT_MAX + 2];
	int x, y, z;

	if (size > CONTENT_STATEMENT_MAX + 1)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	memset(&err, 0, sizeof(err));
	if (content_rollback_parse(line, &rb, &err) == 0) {
		FUZZ_CHECK(fuzz_printable_max(line, CONTENT_STATEMENT_MAX));
		FUZZ_CHECK(proto_semver_parse(rb.version, &x, &y, &z) == 0);
		FUZZ_CHECK(rb.expires > 0);
	} else {
		FUZZ_CHECK(strcmp(err.code, "rollback_invalid") == 0);
		FUZZ_CHECK(rb.expires == 0 && rb.version[0] == '\0');
	}
	memset(&err, 0, sizeof(err));
	if (content_endorse_parse(line, &en, &err) == 0)
		FUZZ_CHECK(fuzz_printable_max(line, CONTENT_STATEMENT_MAX));
	else
		FUZZ_CHECK(strcmp(err.code, "endorsement_invalid") == 0);
	return 0;
}
