/* agent/sysinfo: the facts about this machine that enrollment reports.
 *
 * Everything here is read from the local system but still treated as
 * untrusted text: it is capped to the protocol's field sizes and reduced to
 * printable ASCII, because the site refuses anything else and a refused
 * enrollment is worse than a slightly mangled OS name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "agent.h"

#define OS_RELEASE_MAX (64 * 1024)

/* Copy at most outsz-1 bytes, replacing anything the site would refuse. */
static void copy_printable(char *out, size_t outsz, const char *in, size_t n)
{
	size_t i;

	if (n >= outsz)
		n = outsz - 1;
	for (i = 0; i < n; i++)
		out[i] = (in[i] >= 0x20 && in[i] <= 0x7e) ? in[i] : '?';
	out[i] = '\0';
}

/* Unquote one os-release value (shell-like: "..." with \-escapes, or '...')
 * into out, capped. */
static void os_release_value(const char *v, size_t n, char *out, size_t outsz)
{
	char tmp[PROTO_OS_FIELD_MAX + 1];
	size_t o = 0, i = 0;
	char q = 0;

	if (n && (v[0] == '"' || v[0] == '\'')) {
		q = v[0];
		i = 1;
	}
	for (; i < n && o < sizeof(tmp) - 1; i++) {
		if (q && v[i] == q)
			break;
		if (q == '"' && v[i] == '\\' && i + 1 < n && strchr("\"\\$`", v[i + 1]))
			i++;
		tmp[o++] = v[i];
	}
	/* unquoted values end at trailing blanks */
	while (!q && o && (tmp[o - 1] == ' ' || tmp[o - 1] == '\t'))
		o--;
	copy_printable(out, outsz, tmp, o);
}

void sysinfo_os_release_parse(const char *text, size_t len, char *name, size_t namesz,
			      char *version, size_t versionsz)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *line = p;
		size_t n;

		if (!eol)
			eol = end;
		n = (size_t)(eol - line);
		p = eol + 1;
		if (n && line[n - 1] == '\r')
			n--;
		while (n && (*line == ' ' || *line == '\t')) {
			line++;
			n--;
		}
		if (n > 5 && memcmp(line, "NAME=", 5) == 0)
			os_release_value(line + 5, n - 5, name, namesz);
		else if (n > 11 && memcmp(line, "VERSION_ID=", 11) == 0)
			os_release_value(line + 11, n - 11, version, versionsz);
	}
}

static void collect_os(struct agent_sysinfo *si)
{
	static const char *const paths[] = {"/etc/os-release", "/usr/lib/os-release"};
	char *text = NULL;
	size_t len = 0;

	/* os-release(5): NAME defaults to "Linux"; VERSION_ID may be absent
	 * (rolling distributions). */
	snprintf(si->os_name, sizeof(si->os_name), "Linux");
	si->os_version[0] = '\0';
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (file_read_all(paths[i], OS_RELEASE_MAX, &text, &len) == 0) {
			sysinfo_os_release_parse(text, len, si->os_name, sizeof(si->os_name),
						 si->os_version, sizeof(si->os_version));
			free(text);
			return;
		}
	}
}

static void collect_hostname(struct agent_sysinfo *si)
{
	char h[PROTO_HOSTNAME_MAX + 2];

	memset(h, 0, sizeof(h));
	if (gethostname(h, sizeof(h) - 1) != 0 || !h[0]) {
		snprintf(si->hostname, sizeof(si->hostname), "localhost");
		return;
	}
	copy_printable(si->hostname, sizeof(si->hostname), h, strlen(h));
}

static bool addr_seen(const struct agent_sysinfo *si, const char *a)
{
	for (int i = 0; i < si->n_addrs; i++)
		if (strcmp(si->addrs[i], a) == 0)
			return true;
	return false;
}

/* Add the interface addresses; loopback ones only when want_loopback. */
static void add_addrs(struct agent_sysinfo *si, struct ifaddrs *list, bool want_loopback)
{
	char text[INET6_ADDRSTRLEN];

	for (struct ifaddrs *i = list; i && si->n_addrs < PROTO_ADDRS_MAX; i = i->ifa_next) {
		const void *bin;
		int fam;
		bool loop;

		if (!i->ifa_addr || !(i->ifa_flags & IFF_UP))
			continue;
		fam = i->ifa_addr->sa_family;
		if (fam == AF_INET)
			bin = &((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr;
		else if (fam == AF_INET6)
			bin = &((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr;
		else
			continue;
		loop = (i->ifa_flags & IFF_LOOPBACK) != 0;
		if (fam == AF_INET6)
			loop = loop || IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)bin);
		else
			loop = loop || (ntohl(((const struct in_addr *)bin)->s_addr) >> 24) == 127;
		if (loop != want_loopback)
			continue;
		if (!inet_ntop(fam, bin, text, sizeof(text)) || strlen(text) > PROTO_ADDR_MAX ||
		    addr_seen(si, text))
			continue;
		snprintf(si->addrs[si->n_addrs++], sizeof(si->addrs[0]), "%s", text);
	}
}

static void collect_addrs(struct agent_sysinfo *si)
{
	struct ifaddrs *list = NULL;

	si->n_addrs = 0;
	if (getifaddrs(&list) != 0) {
		log_warn("agent", "addresses_unknown", "reason=\"getifaddrs failed\"");
		return;
	}
	add_addrs(si, list, false);
	/* a machine with nothing but loopback still says where it can be reached */
	if (si->n_addrs == 0)
		add_addrs(si, list, true);
	freeifaddrs(list);
}

void sysinfo_collect(struct agent_sysinfo *si)
{
	memset(si, 0, sizeof(*si));
	collect_hostname(si);
	collect_addrs(si);
	collect_os(si);
}

int64_t sysinfo_uptime(void)
{
	char *text = NULL;
	size_t len = 0;
	double up;
	int64_t out = 0;

	if (file_read_all("/proc/uptime", 256, &text, &len) != 0)
		return 0;
	if (sscanf(text, "%lf", &up) == 1 && up >= 0 && up < 1e15)
		out = (int64_t)up;
	free(text);
	return out;
}
