/* agent/idle: between cycles the daemon waits as steward-agent-idle.
 *
 * steward-agent links libcurl and OpenSSL, and through Debian's libcurl some
 * thirty more libraries (GnuTLS, Kerberos, LDAP, SSH, ...). Loading and
 * relocating them costs about 7 MB of resident memory before the first
 * request; a cycle (TLS handshakes, the inventory, JSON documents) leaves
 * more, in libcrypto's pages and in the heap. None of it is needed while the
 * agent sleeps, and a process cannot give back the pages of the libraries it
 * has mapped. So when the daemon has nothing to do for IDLE_MIN_S or longer,
 * it writes what it holds in memory into a memfd and replaces itself with
 * steward-agent-idle (execve: the same process and PID, the lock on the
 * state directory kept), a program of libc alone that sleeps until the due
 * time or a signal and then replaces itself with this same steward-agent
 * again (an open file of /proc/self/exe, so files swapped on disk meanwhile
 * cannot mix two builds), which takes its memory back (idle_resume) and goes
 * on where it left off. docs/internals/agent.md has the figures.
 *
 * What crosses the exec: struct agent and struct core_agent as they are
 * (only the very same binary reads them back: its version and their sizes
 * are checked), the JSON documents they point to as text, and the lock fd.
 * Without steward-agent-idle beside the binary the agent sleeps in place, as
 * before.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "agent.h"

#define IDLE_MAGIC   "steward-agent idle v1"
#define IDLE_BIN     "steward-agent-idle"
#define IDLE_DOC_MAX (16u * 1024 * 1024) /* one JSON document read back */

struct idle_head {
	char magic[24];
	char version[64];
	uint32_t agent_size, core_size;
	int lock_fd;
	uint32_t doc_len[4]; /* dp_pins, sw.policy, sw.records, up.offer */
};

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *p, size_t n)
{
	char *c = p;

	while (n) {
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

static json_t **docs_of(struct agent *ag, int i)
{
	switch (i) {
	case 0:
		return &ag->dp_pins;
	case 1:
		return &ag->sw.policy;
	case 2:
		return &ag->sw.records;
	default:
		return &ag->up.offer;
	}
}

/* Everything idle_resume reads, into a new memfd; its fd, or -1. */
static int save_memory(struct agent *ag, const struct core_agent *a)
{
	struct idle_head h;
	char *text[4] = {NULL, NULL, NULL, NULL};
	int fd, rc = -1;

	memset(&h, 0, sizeof(h));
	snprintf(h.magic, sizeof(h.magic), "%s", IDLE_MAGIC);
	snprintf(h.version, sizeof(h.version), "%s", proto_self_version());
	h.agent_size = sizeof(*ag);
	h.core_size = sizeof(*a);
	h.lock_fd = ag->lock_fd;
	for (int i = 0; i < 4; i++) {
		json_t *d = *docs_of(ag, i);
		if (!d)
			continue;
		text[i] = json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!text[i] || strlen(text[i]) > IDLE_DOC_MAX)
			goto out;
		h.doc_len[i] = (uint32_t)strlen(text[i]);
	}
	fd = memfd_create("steward-agent-memory", 0); /* crosses both execs */
	if (fd < 0)
		goto out;
	if (write_all(fd, &h, sizeof(h)) || write_all(fd, ag, sizeof(*ag)) ||
	    write_all(fd, a, sizeof(*a)))
		goto fail;
	for (int i = 0; i < 4; i++)
		if (text[i] && write_all(fd, text[i], h.doc_len[i]))
			goto fail;
	if (lseek(fd, 0, SEEK_SET) != 0)
		goto fail;
	rc = fd;
	goto out;
fail:
	close(fd);
out:
	for (int i = 0; i < 4; i++)
		free(text[i]);
	return rc;
}

int idle_enter(struct agent *ag, const struct core_agent *a, int64_t until_s, char *const *argv,
	       const volatile sig_atomic_t *poke)
{
	static bool said;
	char self[PATH_MAX], idle[PATH_MAX + 32], until[24], exe_num[12], mem_num[12], *slash;
	char **args = NULL;
	sigset_t sigs, old;
	int argc = 0, exe_fd = -1, mem_fd = -1, n = 0, err;
	ssize_t len;

	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0)
		return -STEWARD_EIO;
	self[len] = '\0';
	slash = strrchr(self, '/');
	snprintf(idle, sizeof(idle), "%.*s/" IDLE_BIN, slash ? (int)(slash - self) : 1,
		 slash ? self : ".");
	if (access(idle, X_OK) != 0) {
		if (!said)
			log_info("agent", "idle_unavailable",
				 "path=%s note=\"sleeping in place between cycles\"", idle);
		said = true;
		return -STEWARD_ENOTFOUND;
	}
	while (argv[argc])
		argc++;
	args = calloc((size_t)argc + 5, sizeof(*args));
	exe_fd = open("/proc/self/exe", O_PATH); /* no O_CLOEXEC: the idle program runs it */
	if (!args || exe_fd < 0)
		goto fail;
	mem_fd = save_memory(ag, a);
	if (mem_fd < 0)
		goto fail;
	if (fcntl(ag->lock_fd, F_SETFD, 0) != 0)
		goto fail;
	snprintf(until, sizeof(until), "%lld", (long long)until_s * 1000);
	snprintf(exe_num, sizeof(exe_num), "%d", exe_fd);
	snprintf(mem_num, sizeof(mem_num), "%d", mem_fd);
	args[n++] = argv[0];
	args[n++] = "--idle";
	args[n++] = until;
	args[n++] = exe_num;
	args[n++] = mem_num;
	for (int i = 1; i < argc; i++)
		args[n++] = argv[i];
	args[n] = NULL;

	/* a signal from here on stays pending for the idle program */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigprocmask(SIG_BLOCK, &sigs, &old);
	if (*ag->stop || *poke) { /* it came before the block: act on it here */
		sigprocmask(SIG_SETMASK, &old, NULL);
		err = 0;
		goto undo;
	}
	fflush(NULL);
	execv(idle, args);
	err = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	log_warn("agent", "idle_failed", "path=%s message=\"%s\" note=\"sleeping in place\"", idle,
		 strerror(err));
	goto undo;
fail:
	err = errno;
	log_warn("agent", "idle_failed", "message=\"%s\" note=\"sleeping in place\"",
		 strerror(err));
undo:
	fcntl(ag->lock_fd, F_SETFD, FD_CLOEXEC);
	if (mem_fd >= 0)
		close(mem_fd);
	if (exe_fd >= 0)
		close(exe_fd);
	free(args);
	return err ? -STEWARD_EIO : 0;
}

static int bad(struct steward_err *err, const char *why)
{
	return steward_err_set(
	    err, STEWARD_EINVAL, "resume_invalid",
	    "--resume is for steward-agent-idle only; start the agent without it",
	    "cannot resume: %s", why);
}

int idle_resume(const char *arg, struct agent *ag, struct core_agent *a, int *why,
		struct steward_err *err)
{
	struct idle_head h;
	struct agent *got = NULL;
	struct core_agent core;
	bool docs = false; /* got's documents are its own (or NULL) */
	char *end, *text = NULL;
	long fd;
	int rc = 0;

	errno = 0;
	fd = strtol(arg, &end, 10);
	if (errno || end == arg || *end != ':' || fd < 0 || fd > INT_MAX)
		return bad(err, "not FD:WHY");
	if (strcmp(end + 1, "time") == 0)
		*why = 0;
	else if (strcmp(end + 1, "poke") == 0)
		*why = -1;
	else if ((*why = atoi(end + 1)) <= 0)
		return bad(err, "WHY is not time, poke or a signal number");
	if (read_all((int)fd, &h, sizeof(h)) || memcmp(h.magic, IDLE_MAGIC, sizeof(IDLE_MAGIC)) ||
	    h.agent_size != sizeof(*ag) || h.core_size != sizeof(*a) ||
	    strncmp(h.version, proto_self_version(), sizeof(h.version)) != 0) {
		rc = bad(err, "the memory left by steward-agent-idle is not this build's");
		goto out;
	}
	got = malloc(sizeof(*got));
	if (!got || read_all((int)fd, got, sizeof(*got)) ||
	    read_all((int)fd, &core, sizeof(core))) {
		rc = bad(err, "the memory left by steward-agent-idle is short");
		goto out;
	}
	/* pointers of the other image: none survives */
	got->dp_pins = got->sw.policy = got->sw.records = got->up.offer = NULL;
	got->token = NULL;
	got->stop = NULL;
	got->lock_fd = h.lock_fd;
	docs = true;
	for (int i = 0; i < 4; i++) {
		json_t **d = docs_of(got, i);
		if (!h.doc_len[i])
			continue;
		if (h.doc_len[i] > IDLE_DOC_MAX || !(text = malloc(h.doc_len[i])) ||
		    read_all((int)fd, text, h.doc_len[i])) {
			rc = bad(err, "a document left by steward-agent-idle is short");
			goto out;
		}
		*d = json_loadb(text, h.doc_len[i], JSON_DECODE_ANY, NULL);
		free(text);
		text = NULL;
		if (!*d) {
			rc = bad(err, "a document left by steward-agent-idle does not parse");
			goto out;
		}
	}
	/* the lock stays ours; the programs the agent runs must not inherit it */
	if (fcntl(got->lock_fd, F_SETFD, FD_CLOEXEC) != 0) {
		rc = bad(err, "the state directory's lock did not survive");
		goto out;
	}
	memcpy(ag, got, sizeof(*ag));
	*a = core;
out:
	if (rc && docs)
		for (int i = 0; i < 4; i++)
			json_decref(*docs_of(got, i));
	if (got)
		explicit_bzero(got, sizeof(*got)); /* the keys */
	explicit_bzero(&core, sizeof(core));
	free(got);
	free(text);
	close((int)fd);
	return rc;
}
