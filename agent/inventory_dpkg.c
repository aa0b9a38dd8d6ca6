/* agent/inventory_dpkg: the installed packages, from dpkg's own database.
 *
 * /var/lib/dpkg/status is a deb822 file: stanzas of "Field: value" lines
 * separated by blank lines, where a line starting with a space or tab
 * continues the field before it (Description, Conffiles, ...). We read only
 * Package, Status, Version and Architecture, all single-line fields, so
 * continuation lines are skipped whole: a Description line that happens to
 * read " Package: x" is not a field.
 *
 * The text is untrusted in the sense that it may be damaged: every value is
 * bounded by PROTO_INVENTORY_STRING_MAX and must be printable ASCII (Debian
 * policy allows nothing else in these fields), or the package is counted as
 * skipped rather than reported wrong.
 */
#include <string.h>
#include <strings.h>

#include "inventory.h"

struct span {
	const char *p;
	size_t n;
	bool set;
};

struct stanza {
	struct span package, version, arch, status;
	bool any; /* saw at least one field */
};

static bool is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

static bool field_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

static bool usable(const struct span *s, bool may_be_empty)
{
	if (!s->set || (!may_be_empty && s->n == 0) || s->n > PROTO_INVENTORY_STRING_MAX)
		return false;
	for (size_t i = 0; i < s->n; i++)
		if ((unsigned char)s->p[i] < 0x21 || (unsigned char)s->p[i] > 0x7e)
			return false;
	return true;
}

/* "WANT ok installed": three words, the last two exact. */
static bool installed(const struct span *st)
{
	const char *p, *end, *w[3];
	size_t wn[3];
	int words = 0;

	if (!st->set)
		return false;
	p = st->p;
	end = st->p + st->n;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end)
			break;
		if (words == 3)
			return false;
		w[words] = p;
		while (p < end && *p != ' ' && *p != '\t')
			p++;
		wn[words] = (size_t)(p - w[words]);
		words++;
	}
	return words == 3 && wn[1] == 2 && memcmp(w[1], "ok", 2) == 0 && wn[2] == 9 &&
	       memcmp(w[2], "installed", 9) == 0;
}

static int finish(struct stanza *s, size_t max, json_t *packages, struct agent_dpkg_stats *stats)
{
	json_t *obj;

	if (!s->any)
		return 0;
	if (!installed(&s->status)) {
		stats->not_installed++;
		return 0;
	}
	if (!usable(&s->package, false) || !usable(&s->version, false) ||
	    (s->arch.set && !usable(&s->arch, true))) {
		stats->skipped++;
		return 0;
	}
	if (json_array_size(packages) >= max) {
		stats->truncated = true;
		return 0;
	}
	obj = json_pack("{s:s%,s:s%,s:s%,s:s}", "name", s->package.p, s->package.n, "version",
			s->version.p, s->version.n, "arch", s->arch.set ? s->arch.p : "",
			s->arch.set ? s->arch.n : (size_t)0, "source", "dpkg");
	if (!obj || json_array_append_new(packages, obj) != 0)
		return -STEWARD_ENOMEM;
	stats->installed++;
	return 0;
}

int agent_dpkg_status_parse(const char *buf, size_t len, size_t max_packages, json_t *packages,
			    struct agent_dpkg_stats *stats)
{
	const char *p = buf, *end = buf + len;
	struct stanza s;
	int rc;

	memset(stats, 0, sizeof(*stats));
	memset(&s, 0, sizeof(s));
	if (!json_is_array(packages))
		return -STEWARD_EINVAL;
	while (p < end) {
		const char *line = p, *eol = memchr(p, '\n', (size_t)(end - p)), *colon, *v, *ve;
		size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
		struct span *f = NULL;

		p = eol ? eol + 1 : end;
		if (n && line[n - 1] == '\r')
			n--;
		if (is_blank(line, n)) {
			rc = finish(&s, max_packages, packages, stats);
			if (rc)
				return rc;
			memset(&s, 0, sizeof(s));
			continue;
		}
		/* continuation of a multi-line field we do not read */
		if (line[0] == ' ' || line[0] == '\t')
			continue;
		colon = memchr(line, ':', n);
		if (!colon)
			continue; /* not a field; dpkg would refuse the file, we skip the line */
		s.any = true;
		if (field_is(line, (size_t)(colon - line), "Package"))
			f = &s.package;
		else if (field_is(line, (size_t)(colon - line), "Version"))
			f = &s.version;
		else if (field_is(line, (size_t)(colon - line), "Architecture"))
			f = &s.arch;
		else if (field_is(line, (size_t)(colon - line), "Status"))
			f = &s.status;
		if (!f || f->set)
			continue; /* another field, or a repeated one: the first wins */
		v = colon + 1;
		ve = line + n;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		f->p = v;
		f->n = (size_t)(ve - v);
		f->set = true;
	}
	return finish(&s, max_packages, packages, stats);
}
