/* core: boundaries, which map address ranges to sites.
 *
 * A boundary line is "CIDR SITE [CLASS [final]]", e.g. "10.1.0.0/16 ABC" or
 * "10.8.0.0/16 BR1 slow": the class is the link class of the clients in
 * it (lan, wan, slow or metered), and "final" makes it hold whatever the
 * agents measure (linkclass.c). The parser is
 * strict because a boundary typo silently files clients under the wrong
 * site: host bits, out-of-range or zero-padded prefixes, lower-case or
 * wrong-length site codes and trailing text are all refused, each with a
 * message that names the problem. Surrounding whitespace is allowed.
 *
 * Assignment is longest prefix wins over all of a client's addresses,
 * IPv4 and IPv6 together; on equal prefixes the earlier boundary wins, so
 * the outcome never depends on the order the agent lists its addresses.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "steward/core.h"

/* Longest piece of user input echoed back in a message. */
#define BOUNDARY_ECHO_MAX 48

static bool boundary_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool boundary_is_site_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int boundary_echo_len(size_t n)
{
	return n > BOUNDARY_ECHO_MAX ? BOUNDARY_ECHO_MAX : (int)n;
}

static int boundary_fail(char *msg, size_t msgsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int boundary_fail(char *msg, size_t msgsz, const char *fmt, ...)
{
	va_list ap;

	if (msg && msgsz > 0) {
		va_start(ap, fmt);
		vsnprintf(msg, msgsz, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int boundary_max_prefix(int family)
{
	return family == 4 ? 32 : 128;
}

/* Does addr lie inside the network net/prefix? */
static bool boundary_prefix_match(const uint8_t *net, const uint8_t *addr, int prefix)
{
	int whole = prefix / 8;
	int rest = prefix % 8;
	uint8_t mask;

	if (memcmp(net, addr, (size_t)whole) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (net[whole] & mask) == (addr[whole] & mask);
}

/* Clear the host bits; true when any were set. */
static bool boundary_clear_host_bits(uint8_t *addr, int nbytes, int prefix)
{
	bool had = false;
	int i;

	for (i = 0; i < nbytes; i++) {
		int keep = prefix - i * 8;
		uint8_t mask;

		if (keep >= 8)
			continue;
		mask = keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
		if (addr[i] & (uint8_t)~mask)
			had = true;
		addr[i] &= mask;
	}
	return had;
}

int core_addr_parse(const char *text, uint8_t out[16])
{
	uint8_t a[16] = {0};

	if (!text || !out)
		return 0;
	/* Decide by the text rather than trying both: "1.2.3.4" is never
	 * IPv6, and a string with a colon is never IPv4. */
	if (strchr(text, ':')) {
		if (inet_pton(AF_INET6, text, a) != 1)
			return 0;
		memcpy(out, a, sizeof(a));
		return 6;
	}
	if (inet_pton(AF_INET, text, a) != 1)
		return 0;
	memcpy(out, a, sizeof(a));
	return 4;
}

int core_boundary_parse(const char *text, struct core_boundary *out, char *msg, size_t msgsz)
{
	struct core_boundary b;
	char addr[INET6_ADDRSTRLEN];
	char net[INET6_ADDRSTRLEN];
	const char *p, *tok, *digits;
	size_t len, ndigits;
	int prefix = 0, max;

	if (msg && msgsz > 0)
		msg[0] = '\0';
	if (!text || !out)
		return boundary_fail(msg, msgsz, "no boundary given");
	memset(&b, 0, sizeof(b));

	p = text;
	while (boundary_is_space(*p))
		p++;
	if (*p == '\0')
		return boundary_fail(msg, msgsz,
				     "empty boundary; expected CIDR and site code, "
				     "e.g. '10.1.0.0/16 ABC'");

	/* The address, up to '/'. */
	tok = p;
	while (*p && *p != '/' && !boundary_is_space(*p))
		p++;
	len = (size_t)(p - tok);
	if (*p != '/')
		return boundary_fail(msg, msgsz,
				     "'%.*s' has no /prefix; expected CIDR like '10.1.0.0/16'",
				     boundary_echo_len(len), tok);
	if (len == 0)
		return boundary_fail(msg, msgsz, "missing address before '/'");
	if (len >= sizeof(addr))
		return boundary_fail(msg, msgsz, "address '%.*s...' is too long",
				     boundary_echo_len(len), tok);
	memcpy(addr, tok, len);
	addr[len] = '\0';
	b.family = core_addr_parse(addr, b.addr);
	if (b.family == 0)
		return boundary_fail(msg, msgsz, "'%s' is not a valid %s address", addr,
				     strchr(addr, ':') ? "IPv6" : "IPv4");

	/* The prefix length: plain decimal digits. */
	p++;
	digits = p;
	while (*p >= '0' && *p <= '9') {
		if (prefix < 1000)
			prefix = prefix * 10 + (*p - '0');
		p++;
	}
	ndigits = (size_t)(p - digits);
	max = boundary_max_prefix(b.family);
	if (ndigits == 0)
		return boundary_fail(msg, msgsz, "missing prefix length after '%s/'", addr);
	if (*p && !boundary_is_space(*p)) {
		tok = p;
		while (*p && !boundary_is_space(*p))
			p++;
		return boundary_fail(msg, msgsz, "unexpected '%.*s' after prefix /%.*s",
				     boundary_echo_len((size_t)(p - tok)), tok,
				     boundary_echo_len(ndigits), digits);
	}
	if (prefix > max)
		return boundary_fail(msg, msgsz, "prefix /%.*s is out of range for IPv%d (0-%d)",
				     boundary_echo_len(ndigits), digits, b.family, max);
	/* "/016" is probably a typo for something; refuse rather than guess. */
	if (ndigits > 1 && digits[0] == '0')
		return boundary_fail(msg, msgsz, "prefix /%.*s has a leading zero",
				     boundary_echo_len(ndigits), digits);
	b.prefix = prefix;

	if (boundary_clear_host_bits(b.addr, b.family == 4 ? 4 : 16, prefix)) {
		if (!inet_ntop(b.family == 4 ? AF_INET : AF_INET6, b.addr, net, sizeof(net)))
			net[0] = '\0';
		return boundary_fail(msg, msgsz, "%s/%d has host bits set; the network is %s/%d",
				     addr, prefix, net, prefix);
	}

	/* The site code. */
	while (boundary_is_space(*p))
		p++;
	tok = p;
	while (*p && !boundary_is_space(*p))
		p++;
	len = (size_t)(p - tok);
	if (len == 0)
		return boundary_fail(msg, msgsz, "missing site code after %s/%d", addr, prefix);
	if (len != 3 || !boundary_is_site_char(tok[0]) || !boundary_is_site_char(tok[1]) ||
	    !boundary_is_site_char(tok[2]))
		return boundary_fail(msg, msgsz,
				     "site code '%.*s' must be exactly 3 characters A-Z or 0-9",
				     boundary_echo_len(len), tok);
	memcpy(b.site, tok, 3);
	b.site[3] = '\0';

	/* An optional link class, then an optional "final". */
	while (boundary_is_space(*p))
		p++;
	if (*p) {
		tok = p;
		while (*p && !boundary_is_space(*p))
			p++;
		b.link_class = core_link_class_parse(tok, (size_t)(p - tok));
		if (!b.link_class)
			return boundary_fail(msg, msgsz,
					     "'%.*s' after site code %s is not a link class "
					     "(lan, wan, slow or metered)",
					     boundary_echo_len((size_t)(p - tok)), tok, b.site);
		while (boundary_is_space(*p))
			p++;
	}
	if (*p) {
		tok = p;
		while (*p && !boundary_is_space(*p))
			p++;
		if ((size_t)(p - tok) == 5 && strncmp(tok, "final", 5) == 0) {
			b.final = true;
			while (boundary_is_space(*p))
				p++;
			tok = p;
			while (*p && !boundary_is_space(*p))
				p++;
		}
		if (p > tok)
			return boundary_fail(msg, msgsz, "unexpected '%.*s' after %s %s%s",
					     boundary_echo_len((size_t)(p - tok)), tok, b.site,
					     core_link_class_name(b.link_class),
					     b.final ? " final" : "");
	}

	*out = b;
	return 0;
}

const char *core_boundary_assign(const struct core_boundary *b, size_t nb, const char *const *addrs,
				 size_t naddrs)
{
	int i = core_boundary_find(b, nb, addrs, naddrs);

	return i < 0 ? NULL : b[i].site;
}

int core_boundary_find(const struct core_boundary *b, size_t nb, const char *const *addrs,
		       size_t naddrs)
{
	size_t best = nb; /* index of the winner; nb while there is none */
	size_t i, j;

	if (!b || !addrs)
		return -1;
	for (i = 0; i < naddrs; i++) {
		uint8_t a[16];
		int family = core_addr_parse(addrs[i], a);

		/* Agents report what they see; an address we cannot read
		 * simply matches nothing. */
		if (family == 0)
			continue;
		for (j = 0; j < nb; j++) {
			/* Boundaries may be built by hand, not only by the
			 * parser: skip any that could read out of bounds or
			 * return an unterminated site. */
			if (b[j].family != family || b[j].prefix < 0 ||
			    b[j].prefix > boundary_max_prefix(family) || b[j].site[3] != '\0')
				continue;
			if (best < nb && (b[j].prefix < b[best].prefix ||
					  (b[j].prefix == b[best].prefix && j >= best)))
				continue;
			if (!boundary_prefix_match(b[j].addr, a, b[j].prefix))
				continue;
			best = j;
		}
	}
	return best < nb ? (int)best : -1;
}
