/* content/text: strict readers and writers of the manifest line format.
 * See text_int.h; the formats are in docs/internals/content.md and
 * docs/internals/releases.md. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "text_int.h"

bool ctext_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool ctext_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
 * Paths reach JSON (the admin API, error messages), which must be UTF-8. */
bool ctext_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		uint32_t cp, min;
		size_t k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			k = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

bool ctext_has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return true;
	return false;
}

/* Input inside an error message: valid UTF-8 and printable ASCII as they
 * are, other bytes as \xNN, cut with "..." so the message keeps its reason.
 * Messages travel as JSON strings, which must be valid UTF-8. */
const char *ctext_quote(char out[CTEXT_QUOTE_MAX + 4], const char *s, size_t n)
{
	size_t o = 0, i = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t k = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;

		if (c >= 0x80 && k <= n - i && ctext_utf8_valid((const unsigned char *)s + i, k)) {
			if (o + k > CTEXT_QUOTE_MAX)
				break;
			memcpy(out + o, s + i, k);
			o += k, i += k;
		} else if (c >= 0x20 && c < 0x7f) {
			if (o + 1 > CTEXT_QUOTE_MAX)
				break;
			out[o++] = (char)c, i++;
		} else {
			if (o + 4 > CTEXT_QUOTE_MAX)
				break;
			snprintf(out + o, 5, "\\x%02x", c);
			o += 4, i++;
		}
	}
	if (i < n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* ---- time --------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;
	unsigned mp = m > 2 ? m - 3 : m + 9; /* months from March */

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * mp + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static unsigned digits(const char *s, size_t n)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned)(s[i] - '0');
	return v;
}

/* Exactly the text time_rfc3339 writes, "2026-11-25T09:00:00Z". */
bool ctext_parse_time(const char *s, size_t n, int64_t *out)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	unsigned y, mo, d, h, mi, sec;
	char back[32];
	int64_t t;

	if (n != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (shape[i] == 'd' ? !ctext_is_digit((unsigned char)s[i]) : s[i] != shape[i])
			return false;
	y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
		return false;
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	/* a day past the month's end (02-30) comes back as another date */
	time_rfc3339(t, back);
	if (strlen(back) != n || memcmp(back, s, n) != 0)
		return false;
	*out = t;
	return true;
}

/* ---- numbers -------------------------------------------------------------- */

/* Decimal without sign or leading zeros, at most max: one text per number.
 * NULL when good, else why not. */
const char *ctext_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return "is empty";
	for (size_t i = 0; i < n; i++)
		if (!ctext_is_digit((unsigned char)s[i]))
			return "is not a number";
	if (s[0] == '0' && n > 1)
		return "has a leading zero";
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (max - d) / 10 || d > max)
			return "is too large";
		v = v * 10 + d;
	}
	*out = v;
	return NULL;
}

/* Exactly four octal digits of permission bits: "0755". */
bool ctext_parse_mode(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;

	if (n != 4 || s[0] != '0')
		return false;
	for (size_t i = 1; i < 4; i++) {
		if (s[i] < '0' || s[i] > '7')
			return false;
		v = v * 8 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* The next line without its '\n'; false at the end of the text. */
bool ctext_next_line(struct ctext_cursor *c, struct ctext_field *l)
{
	const char *nl;

	if (c->p >= c->end)
		return false;
	nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
	l->s = c->p;
	l->n = (size_t)(nl - c->p);
	c->p = nl + 1;
	c->line++;
	return true;
}

/* Split at TABs into at most max fields; returns how many there were (max + 1
 * when there are more). */
size_t ctext_split(struct ctext_field l, struct ctext_field *f, size_t max)
{
	size_t k = 0;

	for (;;) {
		const char *tab = memchr(l.s, '\t', l.n);
		size_t n = tab ? (size_t)(tab - l.s) : l.n;

		if (k == max)
			return max + 1;
		f[k].s = l.s, f[k].n = n;
		k++;
		if (!tab)
			return k;
		l.s = tab + 1, l.n -= n + 1;
	}
}

bool ctext_field_is(struct ctext_field f, const char *s)
{
	return f.n == strlen(s) && memcmp(f.s, s, f.n) == 0;
}

/* Copy a field into a fixed buffer as a C string; false when it does not fit. */
bool ctext_field_copy(struct ctext_field f, char *out, size_t outsz)
{
	if (f.n >= outsz)
		return false;
	memcpy(out, f.s, f.n);
	out[f.n] = '\0';
	return true;
}

bool ctext_hex_lower(struct ctext_field f, uint8_t *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	if (f.n != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		const char *hi = memchr(hex, f.s[2 * i], 16), *lo = memchr(hex, f.s[2 * i + 1], 16);

		if (!hi || !lo)
			return false;
		out[i] = (uint8_t)((hi - hex) << 4 | (lo - hex));
	}
	return true;
}


/* ---- whole texts and signatures ------------------------------------------ */

const char *ctext_bad_bytes(const char *text, size_t len, int *line, int *byte)
{
	*line = 1;
	*byte = -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char b = (unsigned char)text[i];

		if (b == '\n') {
			(*line)++;
		} else if ((b < 0x20 && b != '\t') || b == 0x7f) {
			*byte = b;
			return "(only TAB separates fields and LF ends a line)";
		}
	}
	if (len == 0 || text[len - 1] != '\n')
		return "the last line does not end with a line feed";
	return NULL;
}

int ctext_sign(struct buf *b, const uint8_t *sk)
{
	uint8_t sig[crypto_sign_BYTES];
	char b64[CTEXT_SIG_B64_LEN + 1];

	crypto_sign_detached(sig, NULL, (const uint8_t *)b->data, b->len, sk);
	sodium_bin2base64(b64, sizeof(b64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
	/* the signature line is outside the cap the caller gave its text */
	b->max += CTEXT_SIG_LINE_MAX;
	return buf_printf(b, "signature\t%s\n", b64);
}

/* One text per signature: base64 that encodes back to the same bytes
 * (libsodium's decoder alone also accepts some other final characters). */
bool ctext_signature_value(struct ctext_field v, uint8_t sig[64])
{
	char back[CTEXT_SIG_B64_LEN + 1];
	const char *end = NULL;
	size_t n = 0;

	if (v.n != CTEXT_SIG_B64_LEN ||
	    sodium_base642bin(sig, 64, v.s, v.n, NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) !=
		0 ||
	    n != 64 || end != v.s + v.n)
		return false;
	sodium_bin2base64(back, sizeof(back), sig, 64, sodium_base64_VARIANT_ORIGINAL);
	return memcmp(back, v.s, CTEXT_SIG_B64_LEN) == 0;
}

int ctext_open(struct ctext_cursor *c, size_t max, const struct ctext_kind *k,
	       struct steward_err *err)
{
	char q[CTEXT_QUOTE_MAX + 4];
	const char *text = c->p, *problem;
	size_t len = text ? (size_t)(c->end - c->p) : 0;
	struct ctext_field l = {text, 0}, f[2];
	int line = 1, byte;

#define REFUSE(...) steward_err_set(err, STEWARD_EINVAL, k->code, k->remedy, __VA_ARGS__)
	if (!text || len == 0)
		return REFUSE("the %s is empty", k->what);
	if (len > max)
		return REFUSE("the %s is %zu bytes; the cap is %zu", k->what, len, max);
	/* One pass for the bytes no line may hold, so each field after this
	 * is a string: no NUL, and no CR or other control byte hides in a value. */
	if ((problem = ctext_bad_bytes(text, len, &line, &byte))) {
		if (byte >= 0)
			return REFUSE("line %d: control byte 0x%02x %s", line, byte, problem);
		return REFUSE("line %d: %s", line, problem);
	}
	if (!ctext_next_line(c, &l) || ctext_split(l, f, 2) != 2 ||
	    !ctext_field_is(f[0], k->magic) || !ctext_field_is(f[1], k->version)) {
		if (ctext_split(l, f, 2) == 2 && ctext_field_is(f[0], k->magic))
			return REFUSE("line 1: %s '%s' is not supported (this build reads %s)",
				      k->format, ctext_quote(q, f[1].s, f[1].n), k->version);
		return REFUSE("line 1: not a steward %s (expected '%s<TAB>%s', found '%s')",
			      k->what, k->magic, k->version, ctext_quote(q, l.s, l.n));
	}
#undef REFUSE
	return 0;
}
