/* agent/inventory: collect this machine's inventory document.
 *
 * Every fact comes from /proc, /sys or a file, never from the human output of
 * a command (which changes with versions and locales). Each collector fills
 * what it can and leaves the rest empty or 0: an inventory with an unknown
 * serial number is still worth sending. Everything read is treated as
 * untrusted text: strings are cut to PROTO_INVENTORY_STRING_MAX bytes and
 * reduced to printable ASCII, lists to the default caps, so that the site's
 * parser (proto_inventory_parse with default caps) accepts what we send.
 *
 * Lists are put in a stable order (disks by mount point, interfaces by name,
 * addresses as text) so that an unchanged machine hashes the same twice and
 * its next report is an empty delta.
 */
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "inventory.h"

#define CPUINFO_MAX	     (16u * 1024 * 1024) /* ~1.5 KiB per CPU */
#define SMALL_FILE_MAX	     (64u * 1024)	 /* os-release, meminfo, /proc/stat head, sysfs */
#define PROC_STAT_MAX	     (4u * 1024 * 1024)
#define MOUNTS_MAX	     (4u * 1024 * 1024)
#define CPU_MAX		     65536 /* processors we look at in /proc/cpuinfo */
#define ARPHRD_LOOPBACK_TYPE 772

#define STR_MAX PROTO_INVENTORY_STRING_MAX

/* ---- small helpers ---------------------------------------------------------- */

/* A JSON string of s[0..n): blanks trimmed at both ends, anything but
 * printable ASCII replaced by '?', cut to STR_MAX bytes. */
static json_t *jstrn(const char *s, size_t n)
{
	char tmp[STR_MAX + 1];
	size_t o = 0;

	while (n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	for (size_t i = 0; i < n && o < STR_MAX; i++)
		tmp[o++] =
		    ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] <= 0x7e) ? s[i] : '?';
	/* cutting may leave a trailing blank */
	while (o && tmp[o - 1] == ' ')
		o--;
	return json_stringn(tmp, o);
}

static json_t *jstr(const char *s)
{
	return jstrn(s ? s : "", s ? strlen(s) : 0);
}

/* First line of a small file (sysfs attributes), trimmed; "" when unreadable. */
static void read_line(const char *path, char *out, size_t outsz)
{
	char *text = NULL;
	size_t len = 0, n;

	out[0] = '\0';
	if (file_read_all(path, SMALL_FILE_MAX, &text, &len) != 0)
		return;
	n = strcspn(text, "\n");
	while (n && (text[n - 1] == ' ' || text[n - 1] == '\t' || text[n - 1] == '\r'))
		n--;
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, text, n);
	out[n] = '\0';
	free(text);
}

/* Iterate the lines of text: *line and *n get the next line (without "\n"). */
static bool next_line(const char **p, const char *end, const char **line, size_t *n)
{
	const char *eol;

	if (*p >= end)
		return false;
	eol = memchr(*p, '\n', (size_t)(end - *p));
	*line = *p;
	*n = eol ? (size_t)(eol - *p) : (size_t)(end - *p);
	*p = eol ? eol + 1 : end;
	return true;
}

/* For "key<blanks>: value" lines (/proc/cpuinfo): true when the line's key is
 * key; *v is the value. */
static bool colon_field(const char *line, size_t n, const char *key, const char **v, size_t *vn)
{
	size_t kl = strlen(key), i;

	if (n < kl || memcmp(line, key, kl) != 0)
		return false;
	for (i = kl; i < n && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	if (i >= n || line[i] != ':')
		return false;
	for (i++; i < n && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	*v = line + i;
	*vn = n - i;
	return true;
}

static long long parse_ll(const char *s, size_t n, long long dflt)
{
	char tmp[32];
	char *end;
	long long v;

	if (n == 0 || n >= sizeof(tmp))
		return dflt;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	v = strtoll(tmp, &end, 10);
	if (errno || end == tmp)
		return dflt;
	return v;
}

static bool has_word(const char *s, size_t n, const char *word)
{
	size_t wl = strlen(word);

	for (size_t i = 0; i + wl <= n; i++)
		if ((i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t') &&
		    memcmp(s + i, word, wl) == 0 &&
		    (i + wl == n || s[i + wl] == ' ' || s[i + wl] == '\t'))
			return true;
	return false;
}

/* ---- cpu ---------------------------------------------------------------------- */
struct cpu_slot {
	long long package, core; /* -1 when unknown */
};

static int cmp_slot(const void *a, const void *b)
{
	const struct cpu_slot *x = a, *y = b;

	if (x->package != y->package)
		return x->package < y->package ? -1 : 1;
	if (x->core != y->core)
		return x->core < y->core ? -1 : 1;
	return 0;
}

/* Fill slot i from sysfs topology (ARM and some VMs have no "physical id"). */
static void sysfs_topology(struct cpu_slot *slot, size_t i)
{
	char path[128], v[32];

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%zu/topology/physical_package_id",
		 i);
	read_line(path, v, sizeof(v));
	if (v[0])
		slot->package = parse_ll(v, strlen(v), -1);
	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%zu/topology/core_id", i);
	read_line(path, v, sizeof(v));
	if (v[0])
		slot->core = parse_ll(v, strlen(v), -1);
}

/* sockets = distinct packages; cores = distinct (package, core) pairs;
 * threads = processors. Where the topology is unknown (some VMs hide it):
 * one socket, and a core per thread. */
static void cpu_topology(struct cpu_slot *slots, size_t threads, long long *sockets,
			 long long *cores)
{
	bool known = true;

	for (size_t i = 0; i < threads; i++)
		if (slots[i].package < 0 || slots[i].core < 0)
			known = false;
	if (!known)
		for (size_t i = 0; i < threads; i++)
			sysfs_topology(&slots[i], i);
	for (size_t i = 0; i < threads; i++)
		if (slots[i].package < 0 || slots[i].core < 0) {
			*sockets = threads ? 1 : 0;
			*cores = (long long)threads;
			return;
		}
	qsort(slots, threads, sizeof(*slots), cmp_slot);
	*sockets = threads ? 1 : 0;
	*cores = threads ? 1 : 0;
	for (size_t i = 1; i < threads; i++) {
		if (slots[i].package != slots[i - 1].package)
			(*sockets)++;
		if (cmp_slot(&slots[i], &slots[i - 1]) != 0)
			(*cores)++;
	}
}

static json_t *collect_cpu(bool *hypervisor)
{
	static const char *const model_keys[] = {"model name", "Model", "Hardware", "cpu model",
						 "Processor",  "cpu",	NULL};
	char *text = NULL;
	size_t len = 0, threads = 0, n, vn;
	const char *p, *end, *line, *v, *model = NULL;
	size_t model_n = 0;
	int model_rank = 99;
	struct cpu_slot *slots;
	long long sockets = 0, cores = 0;
	json_t *out;

	*hypervisor = false;
	slots = calloc(CPU_MAX, sizeof(*slots));
	if (!slots)
		return NULL;
	if (file_read_all("/proc/cpuinfo", CPUINFO_MAX, &text, &len) == 0) {
		p = text;
		end = text + len;
		while (next_line(&p, end, &line, &n)) {
			if (colon_field(line, n, "processor", &v, &vn)) {
				if (threads < CPU_MAX) {
					slots[threads].package = -1;
					slots[threads].core = -1;
					threads++;
				}
				continue;
			}
			if (threads && colon_field(line, n, "physical id", &v, &vn))
				slots[threads - 1].package = parse_ll(v, vn, -1);
			else if (threads && colon_field(line, n, "core id", &v, &vn))
				slots[threads - 1].core = parse_ll(v, vn, -1);
			else if (colon_field(line, n, "flags", &v, &vn) &&
				 has_word(v, vn, "hypervisor"))
				*hypervisor = true;
			for (int k = 0; model_keys[k] && k < model_rank; k++)
				if (colon_field(line, n, model_keys[k], &v, &vn) && vn) {
					model = v;
					model_n = vn;
					model_rank = k;
					break;
				}
		}
	} else {
		log_warn("inventory", "cpuinfo_unreadable", "path=/proc/cpuinfo");
	}
	if (threads == 0) {
		long nc = sysconf(_SC_NPROCESSORS_CONF);
		threads = nc > 0 && nc <= CPU_MAX ? (size_t)nc : 0;
		for (size_t i = 0; i < threads; i++)
			slots[i].package = slots[i].core = -1;
	}
	cpu_topology(slots, threads, &sockets, &cores);
	out = json_pack("{s:o,s:I,s:I,s:I}", "model", model ? jstrn(model, model_n) : jstr(""),
			"sockets", (json_int_t)sockets, "cores", (json_int_t)cores, "threads",
			(json_int_t)threads);
	free(slots);
	free(text);
	return out;
}

/* ---- memory ------------------------------------------------------------------- */
static json_t *collect_memory(void)
{
	char *text = NULL;
	size_t len = 0, n, vn;
	const char *p, *end, *line, *v;
	long long kb = 0;

	if (file_read_all("/proc/meminfo", SMALL_FILE_MAX, &text, &len) == 0) {
		p = text;
		end = text + len;
		while (next_line(&p, end, &line, &n))
			if (colon_field(line, n, "MemTotal", &v, &vn)) {
				kb = parse_ll(v, strcspn(v, " \t\n"), 0); /* "16322716 kB" */
				break;
			}
		free(text);
	}
	if (kb < 0)
		kb = 0;
	return json_pack("{s:I}", "total_mb", (json_int_t)(kb / 1024));
}

/* ---- disks -------------------------------------------------------------------- */
/* Filesystems on local block devices. Left out on purpose: virtual ones
 * (proc, sysfs, tmpfs, overlay, ...), and network and FUSE ones, whose
 * statvfs() can hang on a dead server. */
static const char *const local_fs[] = {
    "ext2", "ext3", "ext4",	"xfs",	   "btrfs",   "vfat", "exfat",	  "ntfs",   "ntfs3", "f2fs",
    "zfs",  "jfs",  "reiserfs", "hfsplus", "iso9660", "udf",  "bcachefs", "nilfs2", NULL};

static bool local_fs_type(const char *fs)
{
	for (int i = 0; local_fs[i]; i++)
		if (strcmp(fs, local_fs[i]) == 0)
			return true;
	return false;
}

/* One space-separated field of a mounts line, with the kernel's octal
 * escapes (\040 for a space, ...) decoded. Returns false when it does not fit. */
static bool mount_field(const char **p, const char *end, char *out, size_t outsz)
{
	size_t o = 0;

	while (*p < end && **p == ' ')
		(*p)++;
	while (*p < end && **p != ' ') {
		char c = **p;
		if (c == '\\' && end - *p >= 4 && (*p)[1] >= '0' && (*p)[1] <= '3' &&
		    (*p)[2] >= '0' && (*p)[2] <= '7' && (*p)[3] >= '0' && (*p)[3] <= '7') {
			c = (char)(((*p)[1] - '0') * 64 + ((*p)[2] - '0') * 8 + ((*p)[3] - '0'));
			*p += 3;
		}
		(*p)++;
		if (o + 1 >= outsz)
			return false;
		out[o++] = c;
	}
	out[o] = '\0';
	return o > 0;
}

struct disk {
	char device[PATH_MAX];
	char mount[STR_MAX + 1];
	char fs[32];
};

static int cmp_disk_mount(const void *a, const void *b)
{
	return strcmp(((const struct disk *)a)->mount, ((const struct disk *)b)->mount);
}

static json_t *collect_disks(void)
{
	char *text = NULL;
	size_t len = 0, n, nd = 0;
	const char *p, *end, *line;
	struct disk *d, cur;
	json_t *arr = json_array();

	d = calloc(PROTO_INVENTORY_DISKS_MAX, sizeof(*d));
	if (!arr || !d)
		goto fail;
	if (file_read_all("/proc/self/mounts", MOUNTS_MAX, &text, &len) != 0) {
		log_warn("inventory", "mounts_unreadable", "path=/proc/self/mounts");
		goto out;
	}
	p = text;
	end = text + len;
	while (next_line(&p, end, &line, &n)) {
		const char *q = line, *qe = line + n;
		size_t i;

		if (!mount_field(&q, qe, cur.device, sizeof(cur.device)) ||
		    !mount_field(&q, qe, cur.mount, sizeof(cur.mount)) ||
		    !mount_field(&q, qe, cur.fs, sizeof(cur.fs)) || !local_fs_type(cur.fs))
			continue;
		/* One entry per device: bind mounts and btrfs subvolumes show the
		 * same filesystem again; keep its shortest mount point. */
		for (i = 0; i < nd; i++)
			if (strcmp(d[i].device, cur.device) == 0)
				break;
		if (i < nd) {
			if (strlen(cur.mount) < strlen(d[i].mount))
				d[i] = cur;
			continue;
		}
		if (nd == PROTO_INVENTORY_DISKS_MAX)
			continue;
		d[nd++] = cur;
	}
	qsort(d, nd, sizeof(*d), cmp_disk_mount);
	for (size_t i = 0; i < nd; i++) {
		struct statvfs sv;
		unsigned long long size_mb, free_mb;
		json_t *o;

		if (statvfs(d[i].mount, &sv) != 0)
			continue;
		size_mb = (unsigned long long)sv.f_blocks * sv.f_frsize / (1024 * 1024);
		/* free as an ordinary user sees it (df's "Avail") */
		free_mb = (unsigned long long)sv.f_bavail * sv.f_frsize / (1024 * 1024);
		o = json_pack("{s:o,s:o,s:o,s:I,s:I}", "device", jstr(d[i].device), "mount",
			      jstr(d[i].mount), "fs", jstr(d[i].fs), "size_mb", (json_int_t)size_mb,
			      "free_mb", (json_int_t)free_mb);
		if (!o || json_array_append_new(arr, o) != 0)
			goto fail;
	}
out:
	free(text);
	free(d);
	return arr;
fail:
	free(text);
	free(d);
	json_decref(arr);
	return NULL;
}

/* ---- network ------------------------------------------------------------------ */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_json_str(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
		      json_string_value(*(json_t *const *)b));
}

/* A MAC from sysfs, lowercase, or "" when it is not "xx:xx:...". */
static void clean_mac(char *mac)
{
	size_t n = strlen(mac);
	bool ok = n % 3 == 2 && n <= 32 * 3 - 1;

	for (size_t i = 0; ok && i < n; i++) {
		if (i % 3 == 2)
			ok = mac[i] == ':';
		else if (mac[i] >= 'A' && mac[i] <= 'F')
			mac[i] = (char)(mac[i] - 'A' + 'a');
		else
			ok = (mac[i] >= '0' && mac[i] <= '9') || (mac[i] >= 'a' && mac[i] <= 'f');
	}
	if (!ok)
		mac[0] = '\0';
}

/* The addresses getifaddrs() has for interface name ("eth0", also labels
 * "eth0:1"), as text, sorted, at most the cap. */
static json_t *iface_addresses(struct ifaddrs *list, const char *name)
{
	json_t *items[PROTO_INVENTORY_ADDRESSES_MAX], *arr;
	size_t n = 0, nl = strlen(name);
	char text[INET6_ADDRSTRLEN];

	for (struct ifaddrs *i = list; i; i = i->ifa_next) {
		const void *bin;
		size_t k;

		if (!i->ifa_addr || !i->ifa_name || strncmp(i->ifa_name, name, nl) != 0 ||
		    (i->ifa_name[nl] != '\0' && i->ifa_name[nl] != ':'))
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			bin = &((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr;
		else if (i->ifa_addr->sa_family == AF_INET6)
			bin = &((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr;
		else
			continue;
		if (!inet_ntop(i->ifa_addr->sa_family, bin, text, sizeof(text)))
			continue;
		for (k = 0; k < n; k++)
			if (strcmp(json_string_value(items[k]), text) == 0)
				break;
		if (k < n || n == PROTO_INVENTORY_ADDRESSES_MAX)
			continue;
		items[n] = json_string(text);
		if (!items[n])
			goto fail;
		n++;
	}
	qsort(items, n, sizeof(items[0]), cmp_json_str);
	arr = json_array();
	if (!arr)
		goto fail;
	for (size_t k = 0; k < n; k++)
		json_array_append_new(arr, items[k]);
	return arr;
fail:
	for (size_t k = 0; k < n; k++)
		json_decref(items[k]);
	return NULL;
}

static json_t *collect_network(void)
{
	char *names[PROTO_INVENTORY_NETWORK_MAX];
	size_t nn = 0;
	struct ifaddrs *list = NULL;
	struct dirent *e;
	json_t *arr = json_array();
	DIR *dir;

	if (!arr)
		return NULL;
	dir = opendir("/sys/class/net");
	if (!dir) {
		log_warn("inventory", "network_unknown", "path=/sys/class/net");
		return arr;
	}
	while ((e = readdir(dir)) != NULL && nn < PROTO_INVENTORY_NETWORK_MAX) {
		char path[PATH_MAX], type[16];
		if (e->d_name[0] == '.' || strlen(e->d_name) >= IFNAMSIZ)
			continue;
		snprintf(path, sizeof(path), "/sys/class/net/%s/type", e->d_name);
		read_line(path, type, sizeof(type));
		if (parse_ll(type, strlen(type), -1) == ARPHRD_LOOPBACK_TYPE)
			continue;
		names[nn] = strdup(e->d_name);
		if (!names[nn])
			break;
		nn++;
	}
	closedir(dir);
	qsort(names, nn, sizeof(names[0]), cmp_str);
	if (getifaddrs(&list) != 0) {
		log_warn("inventory", "addresses_unknown", "reason=\"getifaddrs failed\"");
		list = NULL;
	}
	for (size_t i = 0; i < nn; i++) {
		char path[PATH_MAX], mac[STR_MAX + 1];
		json_t *o;

		snprintf(path, sizeof(path), "/sys/class/net/%s/address", names[i]);
		read_line(path, mac, sizeof(mac));
		clean_mac(mac);
		o = json_pack("{s:o,s:s,s:o}", "name", jstr(names[i]), "mac", mac, "addresses",
			      iface_addresses(list, names[i]));
		if (!o || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			arr = NULL;
			break;
		}
	}
	if (list)
		freeifaddrs(list);
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	return arr;
}

/* ---- dmi and virtualization ------------------------------------------------------ */
static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* What kind of virtual machine this is, like systemd-detect-virt's VM names,
 * from what files show: Xen's /sys/hypervisor/type, the DMI vendor and
 * product, the kvm-clock or Hyper-V clock source, and the "hypervisor" CPU
 * flag. "none" on bare metal; "other" for a hypervisor we cannot name. */
static const char *virtualization(const char *vendor, const char *product, bool hv_flag)
{
	char hv[32], clocks[256];

	read_line("/sys/hypervisor/type", hv, sizeof(hv));
	if (strcmp(hv, "xen") == 0)
		return "xen";
	read_line("/sys/devices/system/clocksource/clocksource0/available_clocksource", clocks,
		  sizeof(clocks));
	if (starts(vendor, "QEMU"))
		/* QEMU's DMI with KVM acceleration underneath */
		return strstr(clocks, "kvm-clock") ? "kvm" : "qemu";
	if (strstr(product, "KVM") || starts(vendor, "KVM"))
		return "kvm";
	if (starts(vendor, "Amazon EC2"))
		return "amazon";
	if (starts(vendor, "Google") && strstr(product, "Compute Engine"))
		return "google";
	if (starts(vendor, "VMware"))
		return "vmware";
	if (starts(vendor, "innotek GmbH") || strstr(product, "VirtualBox"))
		return "oracle";
	if (starts(vendor, "Xen"))
		return "xen";
	if (starts(vendor, "Microsoft Corporation") && strstr(product, "Virtual Machine"))
		return "microsoft";
	if (starts(vendor, "Parallels"))
		return "parallels";
	if (starts(vendor, "Bochs"))
		return "bochs";
	if (hv_flag) {
		if (strstr(clocks, "kvm-clock"))
			return "kvm";
		if (strstr(clocks, "hyperv"))
			return "microsoft";
		if (strstr(clocks, "xen"))
			return "xen";
		return "other";
	}
	return "none";
}

static json_t *collect_hardware(void)
{
	char vendor[STR_MAX + 1], product[STR_MAX + 1], serial[STR_MAX + 1];
	bool hv_flag = false;
	json_t *cpu, *dmi;

	cpu = collect_cpu(&hv_flag);
	read_line("/sys/class/dmi/id/sys_vendor", vendor, sizeof(vendor));
	read_line("/sys/class/dmi/id/product_name", product, sizeof(product));
	/* usually readable by root only: left empty otherwise */
	read_line("/sys/class/dmi/id/product_serial", serial, sizeof(serial));
	dmi = json_pack("{s:o,s:o,s:o}", "vendor", jstr(vendor), "product", jstr(product), "serial",
			jstr(serial));
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:s}", "cpu", cpu, "memory", collect_memory(),
			 "disks", collect_disks(), "network", collect_network(), "dmi", dmi,
			 "virtualization", virtualization(vendor, product, hv_flag));
}

/* ---- operating system ------------------------------------------------------------ */
/* os-release(5) value: "..." (with \-escapes), '...' or bare. */
static json_t *os_release_value(const char *v, size_t n)
{
	char tmp[STR_MAX + 1];
	size_t o = 0, i = 0;
	char q = 0;

	if (n && (v[0] == '"' || v[0] == '\'')) {
		q = v[0];
		i = 1;
	}
	for (; i < n && o < STR_MAX; i++) {
		if (q && v[i] == q)
			break;
		if (q == '"' && v[i] == '\\' && i + 1 < n && strchr("\"\\$`", v[i + 1]))
			i++;
		tmp[o++] = v[i];
	}
	return jstrn(tmp, o);
}

static json_t *collect_os(void)
{
	static const char *const keys[] = {"ID", "NAME", "VERSION_ID", "VERSION", "PRETTY_NAME"};
	static const char *const names[] = {"id", "name", "version_id", "version", "pretty_name"};
	/* os-release(5): the defaults when a key is absent */
	static const char *const dflt[] = {"linux", "Linux", "", "", "Linux"};
	json_t *vals[5] = {NULL}, *os = NULL;
	char *text = NULL, tz[STR_MAX + 1] = "", link[PATH_MAX];
	size_t len = 0, n;
	const char *p, *end, *line;
	struct utsname u;
	long long btime = 0;
	ssize_t ln;

	if (file_read_all("/etc/os-release", SMALL_FILE_MAX, &text, &len) == 0 ||
	    file_read_all("/usr/lib/os-release", SMALL_FILE_MAX, &text, &len) == 0) {
		p = text;
		end = text + len;
		while (next_line(&p, end, &line, &n)) {
			if (n && line[n - 1] == '\r')
				n--;
			for (int k = 0; k < 5; k++) {
				size_t kl = strlen(keys[k]);
				if (!vals[k] && n > kl && memcmp(line, keys[k], kl) == 0 &&
				    line[kl] == '=')
					vals[k] = os_release_value(line + kl + 1, n - kl - 1);
			}
		}
		free(text);
		text = NULL;
	}
	for (int k = 0; k < 5; k++)
		if (!vals[k])
			vals[k] = jstr(dflt[k]);

	memset(&u, 0, sizeof(u));
	if (uname(&u) != 0)
		memset(&u, 0, sizeof(u));

	if (file_read_all("/proc/stat", PROC_STAT_MAX, &text, &len) == 0) {
		p = text;
		end = text + len;
		while (next_line(&p, end, &line, &n))
			if (n > 6 && memcmp(line, "btime ", 6) == 0) {
				btime = parse_ll(line + 6, n - 6, 0);
				break;
			}
		free(text);
	}
	if (btime < 0 || btime > INT64_C(253402300799))
		btime = 0;

	/* Debian's /etc/timezone, else the zone the /etc/localtime link names */
	read_line("/etc/timezone", tz, sizeof(tz));
	if (!tz[0] && (ln = readlink("/etc/localtime", link, sizeof(link) - 1)) > 0) {
		const char *z;
		link[ln] = '\0';
		z = strstr(link, "zoneinfo/");
		if (z)
			snprintf(tz, sizeof(tz), "%s", z + strlen("zoneinfo/"));
	}

	os = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:o}", names[0], vals[0], names[1],
		       vals[1], names[2], vals[2], names[3], vals[3], names[4], vals[4],
		       "kernel_release", jstr(u.release), "arch", jstr(u.machine), "boot_time",
		       (json_int_t)btime, "timezone", jstr(tz));
	return os;
}

/* ---- software ------------------------------------------------------------------- */
static json_t *collect_packages(void)
{
	/* rpm 4.16+ (sqlite); /var/lib/rpm is often a link to the sysimage one */
	static const char *const rpmdbs[] = {AGENT_RPMDB_SQLITE,
					     "/usr/lib/sysimage/rpm/rpmdb.sqlite"};
	/* older rpm: BerkeleyDB, and SUSE's ndb; neither is read */
	static const char *const rpm_other[] = {"/var/lib/rpm/Packages",
						"/var/lib/rpm/Packages.db"};
	struct agent_rpm_stats rst;
	struct steward_err err;
	bool rpm_found = false;
	struct agent_dpkg_stats st;
	json_t *arr = json_array();
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (!arr)
		return NULL;
	rc = file_read_all(AGENT_DPKG_STATUS, AGENT_DPKG_STATUS_MAX, &text, &len);
	if (rc == 0) {
		rc = agent_dpkg_status_parse(text, len, PROTO_INVENTORY_PACKAGES_MAX, arr, &st);
		free(text);
		if (rc) {
			json_decref(arr);
			return NULL;
		}
		if (st.skipped || st.truncated)
			log_warn("inventory", "dpkg_packages_left_out",
				 "path=%s installed=%zu skipped=%zu truncated=%d cap=%d",
				 AGENT_DPKG_STATUS, st.installed, st.skipped, st.truncated ? 1 : 0,
				 PROTO_INVENTORY_PACKAGES_MAX);
	} else if (rc != -STEWARD_ENOTFOUND) {
		log_warn("inventory", "dpkg_status_unreadable", "path=%s reason=\"%s\"",
			 AGENT_DPKG_STATUS, steward_strerror(rc));
	}
	for (size_t i = 0; i < sizeof(rpmdbs) / sizeof(rpmdbs[0]) && !rpm_found; i++) {
		if (access(rpmdbs[i], F_OK) != 0)
			continue;
		rpm_found = true;
		rc = agent_rpmdb_read(rpmdbs[i], PROTO_INVENTORY_PACKAGES_MAX, arr, &rst, &err);
		if (rc == -STEWARD_ENOMEM) {
			json_decref(arr);
			return NULL;
		}
		if (rc)
			log_warn("inventory", "rpmdb_unreadable", "path=%s reason=\"%s\"",
				 rpmdbs[i], err.message);
		if (rst.malformed || rst.truncated)
			log_warn("inventory", "rpm_packages_left_out",
				 "path=%s installed=%zu malformed=%zu truncated=%d cap=%d",
				 rpmdbs[i], rst.installed, rst.malformed, rst.truncated ? 1 : 0,
				 PROTO_INVENTORY_PACKAGES_MAX);
	}
	for (size_t i = 0; i < sizeof(rpm_other) / sizeof(rpm_other[0]) && !rpm_found; i++)
		if (access(rpm_other[i], F_OK) == 0) {
			log_info("inventory", "rpm_not_read",
				 "path=%s reason=\"only rpmdb.sqlite (rpm 4.16+) is read, not the "
				 "BerkeleyDB or ndb formats\"",
				 rpm_other[i]);
			break;
		}
	return arr;
}

static json_t *collect_software(const char *base_version)
{
	/* steward's own components: the base that asked, and this inventory */
	json_t *steward =
	    json_pack("[{s:s,s:s},{s:s,s:s}]", "name", "base", "version", base_version, "name",
		      "inventory", "version", proto_self_version());

	return json_pack("{s:o,s:o}", "packages", collect_packages(), "steward", steward);
}

/* ---- the document ------------------------------------------------------------------- */
int agent_inventory_collect(const char *base_version, json_t **out, struct steward_err *err)
{
	json_t *doc;
	int rc;

	*out = NULL;
	/* json_pack steals every "o" reference, also when one of them is NULL */
	doc = json_pack("{s:i,s:{s:o,s:o,s:o}}", "schema", PROTO_INVENTORY_SCHEMA, "classes",
			"hardware", collect_hardware(), "os", collect_os(), "software",
			collect_software(base_version ? base_version : proto_self_version()));
	if (!doc)
		return steward_err_set(err, STEWARD_ENOMEM, "internal", NULL,
				       "out of memory collecting the inventory");
	rc = proto_inventory_seal(doc, err);
	if (rc) {
		json_decref(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

static bool sealed(const json_t *doc)
{
	json_t *h = json_object_get(doc, "hashes");
	const char *full = json_string_value(json_object_get(doc, "full_hash"));

	if (!json_is_object(h) || !full || strlen(full) != PROTO_INVENTORY_HEX)
		return false;
	for (int c = 0; c < PROTO_INV_NCLASSES; c++) {
		const char *s =
		    json_string_value(json_object_get(h, proto_inventory_class_name(c)));
		if (!s || strlen(s) != PROTO_INVENTORY_HEX)
			return false;
	}
	return true;
}

json_t *agent_inventory_delta(const json_t *prev_full, const json_t *cur_full)
{
	json_t *prev_h, *cur_h, *cur_classes, *classes, *delta;

	if (!sealed(cur_full) || !json_is_object(json_object_get(cur_full, "classes")))
		return NULL;
	if (!prev_full || !sealed(prev_full))
		return json_deep_copy(cur_full);
	prev_h = json_object_get(prev_full, "hashes");
	cur_h = json_object_get(cur_full, "hashes");
	cur_classes = json_object_get(cur_full, "classes");
	classes = json_object();
	if (!classes)
		return NULL;
	for (int c = 0; c < PROTO_INV_NCLASSES; c++) {
		const char *name = proto_inventory_class_name(c);
		json_t *cls = json_object_get(cur_classes, name);
		if (strcmp(json_string_value(json_object_get(prev_h, name)),
			   json_string_value(json_object_get(cur_h, name))) == 0)
			continue;
		if (!cls || json_object_set_new(classes, name, json_deep_copy(cls)) != 0) {
			json_decref(classes);
			return NULL;
		}
	}
	delta =
	    json_pack("{s:i,s:O,s:o,s:o,s:O}", "schema", PROTO_INVENTORY_SCHEMA, "base",
		      json_object_get(prev_full, "full_hash"), "classes", classes, "hashes",
		      json_deep_copy(cur_h), "full_hash", json_object_get(cur_full, "full_hash"));
	return delta;
}
