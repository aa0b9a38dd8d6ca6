/* agent/swdist_outbox: status messages for the site, durable until delivered.
 *
 * STATE_DIR/swdist/outbox.jsonl holds one message per line, appended and
 * fsync'd before anything else happens, so a crash between "running" and
 * the result loses nothing. swdist_flush sends what it holds in
 * POST /api/v1/agent/status and rewrites the file (atomically) without
 * what the site answered 2xx for. The site ignores a seq it already has,
 * so resending after a crash is harmless.
 *
 * seq = max(last + 1, unix ms), the last one kept in STATE_DIR/swdist/
 * status_seq (written before the message is queued), so seqs keep growing
 * across restarts even when the file is lost, as long as the clock does.
 *
 * The outbox is capped at SWDIST_OUTBOX_MAX bytes: when full, the oldest
 * half goes, counted, and the count reaches the site as a status_dropped
 * event with the next check-in.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "agent.h"

#define OUTBOX_FILE    "outbox.jsonl"
#define SEQ_FILE       "status_seq"
#define SEND_MAX_MSGS  200 /* per POST */
#define SEND_MAX_BYTES (512 * 1024)

static void outbox_path(const struct agent *ag, const char *name, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/%s", ag->sw.dir, name);
}

/* Keep printable ASCII, newlines and tabs, at most max bytes, trimmed from
 * the front (the end of a program's output says most). */
static void clean_detail(const char *in, char *out, size_t max)
{
	size_t n = strlen(in), i, o = 0;
	const char *p = n > max ? in + (n - max) : in;

	for (i = 0; p[i] && o < max; i++) {
		unsigned char c = (unsigned char)p[i];

		out[o++] = (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t' ? (char)c : '?';
	}
	out[o] = '\0';
}

int swdist_outbox_open(struct agent *ag, struct steward_err *err)
{
	char path[PATH_MAX], *data = NULL;
	size_t len = 0;
	uint64_t last = 0;

	outbox_path(ag, SEQ_FILE, path, sizeof(path));
	if (file_read_all(path, 64, &data, &len) == 0)
		last = strtoull(data, NULL, 10);
	free(data);
	data = NULL;
	/* a seq file lost (or older than the outbox) must not take seqs back */
	outbox_path(ag, OUTBOX_FILE, path, sizeof(path));
	if (file_read_all(path, SWDIST_OUTBOX_MAX * 2, &data, &len) == 0) {
		for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
			json_t *m = json_loads(line, 0, NULL);
			json_int_t s = json_integer_value(json_object_get(m, "seq"));

			if (s > 0 && (uint64_t)s > last)
				last = (uint64_t)s;
			json_decref(m);
		}
	}
	free(data);
	ag->sw.last_seq = last;
	(void)err;
	return 0;
}

/* Drop the oldest half of the outbox; returns how many went. */
static unsigned outbox_shrink(const char *path)
{
	char *data = NULL, *keep;
	size_t len = 0, lines = 0, dropped = 0;

	if (file_read_all(path, SWDIST_OUTBOX_MAX * 2, &data, &len) != 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		lines += data[i] == '\n';
	keep = data;
	while (dropped < (lines + 1) / 2 && (keep = strchr(keep, '\n'))) {
		keep++;
		dropped++;
	}
	if (!keep)
		keep = data + len;
	if (file_write_atomic(path, keep, (size_t)(data + len - keep), 0600) != 0)
		dropped = 0;
	free(data);
	return (unsigned)dropped;
}

static int append_line(const char *path, const char *line)
{
	size_t len = strlen(line);
	struct stat st;
	int fd, rc = 0;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -STEWARD_EIO;
	if (write(fd, line, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) != 0)
		rc = -STEWARD_EIO;
	if (fstat(fd, &st) == 0 && st.st_size > SWDIST_OUTBOX_MAX)
		rc = rc ? rc : 1; /* over the cap: the caller shrinks it */
	close(fd);
	return rc;
}

void swdist_report(struct agent *ag, int64_t advert, int64_t revision, const char *state,
		   int exit_code, const char *fmt, ...)
{
	char detail[4 * SWDIST_DETAIL_MAX], clean[SWDIST_DETAIL_MAX + 1];
	char path[PATH_MAX], seqtext[32];
	uint64_t now = (uint64_t)time_now_ms();
	uint64_t seq = ag->sw.last_seq + 1 > now ? ag->sw.last_seq + 1 : now;
	json_t *m;
	char *line;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	clean_detail(detail, clean, SWDIST_DETAIL_MAX);
	ag->sw.last_seq = seq;
	outbox_path(ag, SEQ_FILE, path, sizeof(path));
	snprintf(seqtext, sizeof(seqtext), "%llu\n", (unsigned long long)seq);
	if (file_write_atomic(path, seqtext, strlen(seqtext), 0600) != 0)
		log_warn("swdist", "seq_unsaved", "path=%s", path);
	m = json_pack("{s:I,s:I,s:I,s:s,s:o,s:s,s:I}", "seq", (json_int_t)seq, "advert",
		      (json_int_t)advert, "revision", (json_int_t)revision, "state", state,
		      "exit_code", exit_code >= 0 ? json_integer(exit_code) : json_null(), "detail",
		      clean, "time", (json_int_t)time_now_s());
	line = m ? json_dumps(m, JSON_COMPACT) : NULL;
	json_decref(m);
	log_info("swdist", "status",
		 "advert=%lld revision=%lld state=%s exit_code=%d detail=\"%.200s\"",
		 (long long)advert, (long long)revision, state, exit_code, clean);
	if (!line) {
		log_error("swdist", "status_lost", "advert=%lld state=%s reason=\"out of memory\"",
			  (long long)advert, state);
		return;
	}
	outbox_path(ag, OUTBOX_FILE, path, sizeof(path));
	rc = append_line(path, line);
	free(line);
	if (rc < 0)
		log_error("swdist", "status_lost",
			  "advert=%lld state=%s path=%s reason=\"cannot append: %s\"",
			  (long long)advert, state, path, strerror(errno));
	if (rc > 0) {
		unsigned n = outbox_shrink(path);

		ag->sw.dropped += n;
		log_warn("swdist", "outbox_full", "path=%s dropped=%u", path, n);
	}
}

/* One POST of up to SEND_MAX_MSGS messages; true when more are left. */
static bool flush_once(struct agent *ag)
{
	bool more = false;
	char path[PATH_MAX], *data = NULL, *rest = NULL, *body = NULL;
	struct steward_err err;
	enum core_result res;
	json_t *msgs = NULL, *doc = NULL;
	int64_t retry_after = 0;
	size_t len = 0, bytes = 0;
	int n = 0;

	outbox_path(ag, OUTBOX_FILE, path, sizeof(path));
	if (file_read_all(path, SWDIST_OUTBOX_MAX * 2, &data, &len) != 0 || len == 0)
		goto out;
	msgs = json_array();
	rest = data;
	while (rest && *rest && n < SEND_MAX_MSGS && bytes < SEND_MAX_BYTES) {
		char *nl = strchr(rest, '\n');
		json_t *m;

		if (!nl)
			break; /* a torn last line (crash mid-append): leave it */
		*nl = '\0';
		m = json_loads(rest, 0, NULL);
		bytes += (size_t)(nl - rest);
		rest = nl + 1;
		if (!json_is_object(m)) {
			json_decref(m);
			log_warn("swdist", "outbox_bad_line", "path=%s note=\"skipped\"", path);
			continue;
		}
		json_array_append_new(msgs, m);
		n++;
	}
	if (n == 0 && rest == data)
		goto out;
	doc = json_pack("{s:O}", "messages", msgs);
	body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	if (!body)
		goto out;
	memset(&err, 0, sizeof(err));
	res = n ? session_status(ag, body, &retry_after, &err) : CORE_RES_OK;
	if (res != CORE_RES_OK) {
		log_warn("swdist", "status_not_sent",
			 "messages=%d result=%s code=%s message=\"%s\" note=\"kept in the outbox\"",
			 n, agent_result_name(res), err.code, err.message);
		goto out;
	}
	log_info("swdist", "status_sent", "messages=%d", n);
	/* what is left after the sent lines stays, appended-to order kept */
	if (file_write_atomic(path, rest, strlen(rest), 0600) != 0)
		log_warn("swdist", "outbox_unsaved",
			 "path=%s note=\"sent messages will be sent again; the site ignores them\"",
			 path);
	else
		more = *rest != '\0' && strchr(rest, '\n');
out:
	free(body);
	json_decref(doc);
	json_decref(msgs);
	free(data);
	return more;
}

void swdist_flush(struct agent *ag)
{
	if (ag->sw.dropped) {
		agent_status_add(ag, "status_dropped",
				 "%llu software distribution status messages were dropped "
				 "(outbox full)",
				 (unsigned long long)ag->sw.dropped);
		ag->sw.dropped = 0;
	}
	if (!ag->have_session || !ag->st.client_id[0])
		return; /* they go after the next check-in */
	for (int round = 0; round < 50 && flush_once(ag); round++)
		;
}
