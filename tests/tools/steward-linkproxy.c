/* steward-linkproxy: a TCP proxy that plays a bad network link, for the tests.
 *
 * This kernel has no netem, so the system tests get delay, cuts, stalls and
 * slow drips from this proxy put between a client and a server. It is one
 * process, one poll loop, non-blocking sockets and no threads; every buffer,
 * count and wait has a bound, and it exits by itself after --max-seconds.
 *
 *   steward-linkproxy --listen ADDR --to ADDR [--control ADDR] [--mode MODE]
 *                     [--max-seconds N] [--buffer BYTES] [--max-conns N] [-v]
 *   steward-linkproxy --ctl ADDR COMMAND...     send one control command
 *
 * On start it prints one line to stdout, e.g.
 *   linkproxy listen=127.0.0.1:41234 control=127.0.0.1:41235 to=127.0.0.1:8420 mode=pass
 * The control port takes one command line per connection and answers one
 * line ("ok ..." or "error: ..."); docs/internals/testing-tools.md lists the
 * modes and commands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdarg.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <netdb.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>

#define LP_CHUNK_MAX	       (16u * 1024)   /* one read, and one endless write */
#define LP_BUFFER_DEFAULT      (1024u * 1024) /* queued bytes per direction */
#define LP_BUFFER_MIN	       1024u
#define LP_BUFFER_MAX	       (16u * 1024 * 1024)
#define LP_CONNS_DEFAULT       256
#define LP_CONNS_MAX	       500 /* two fds each: stays under the usual 1024 */
#define LP_CTL_CLIENTS	       8
#define LP_CMD_MAX	       256 /* bytes in a control line, without the newline */
#define LP_REPLY_MAX	       512
#define LP_MODE_TEXT	       96 /* the longest canonical mode is under 80 */
#define LP_CTL_TIMEOUT_MS      5000
#define LP_ACCEPT_BURST	       32
#define LP_SECONDS_DEFAULT     600
#define LP_SECONDS_MAX	       86400
#define LP_DELAY_MAX	       600000 /* ms */
#define LP_RATE_MAX	       1000000000ull
#define LP_ENDLESS_BPS_DEFAULT 65536
#define LP_LENGTH_MAX	       (1ull << 50)
#define LP_REQ_HEAD_MAX	       (64u * 1024) /* endless starts after this much without a blank line */
#define LP_WORDS_MAX	       10
#define LP_CUT_DRAIN_MS	       2000 /* cutafter: at most this long for the client to take the N bytes */

enum { EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_TRANSPORT = 3 };

enum mode_kind { MODE_PASS, MODE_CUT, MODE_STALL, MODE_BLACKHOLE, MODE_ENDLESS };

/* The link as it is now. delay, the rates and cut_after apply only to
 * MODE_PASS; the endless fields only to connections accepted in MODE_ENDLESS. */
struct mode {
	enum mode_kind kind;
	uint64_t delay_ms;
	uint64_t up_bps, down_bps; /* 0: unlimited */
	uint64_t cut_after;	   /* reset a connection after this many bytes down; 0: never */
	uint64_t endless_bps;
	uint64_t endless_length; /* Content-Length to announce; 0: none */
};

enum { DIR_UP, DIR_DOWN }; /* client->server, server->client */

struct chunk {
	struct chunk *next;
	int64_t due; /* monotonic ms before which it is held (delay) */
	size_t len, off;
	char data[];
};

struct dir {
	struct chunk *head, *tail;
	size_t queued;	 /* bytes in the chunks, at most the --buffer cap */
	bool eof;	 /* the source sent its FIN */
	int64_t eof_due; /* the FIN is delayed like the data */
	bool shut;	 /* the FIN was passed on */
	bool want_out;	 /* a write would block: wait for POLLOUT */
	uint64_t tokens; /* token bucket, in thousandths of a byte */
	int64_t refill_at;
};

/* What a connection is is fixed when it is accepted: a mode change later
 * only decides whether a proxied connection forwards. */
enum conn_kind { CONN_PROXY, CONN_BLACKHOLE, CONN_ENDLESS };

struct conn {
	uint64_t id;
	enum conn_kind kind;
	int cfd, sfd;
	bool connecting;
	bool dead;
	struct dir d[2];
	/* endless */
	unsigned head_match; /* bytes of "\r\n\r\n" matched so far */
	size_t req_bytes;
	bool streaming;
	char hdr[192];
	size_t hdr_len, hdr_off;
	uint64_t stream_off, endless_bps;
	/* cutafter */
	uint64_t sent_down; /* bytes written to the client on this connection */
	int64_t cut_at;	    /* 0, or when the N bytes were written (then the RST follows) */
};

struct ctl_client {
	int fd;
	int64_t deadline;
	size_t len;
	char buf[LP_CMD_MAX + 2];
};

struct stats {
	uint64_t accepted, refused, upstream_failed, cut_closed, cutafter_closed, bytes_up,
	    bytes_down;
};

struct proxy {
	struct mode mode;
	struct sockaddr_storage to;
	socklen_t to_len;
	int lfd, cfd_listen;
	size_t buffer_cap;
	int max_conns;
	bool verbose;
	int64_t started, deadline;
	const char *stop; /* why the loop ends; NULL while it runs */
	struct conn **conns;
	int n_conns;
	uint64_t next_id;
	struct ctl_client ctl[LP_CTL_CLIENTS];
	struct stats st;
	struct pollfd *pfd;
	struct pref {
		int what; /* PREF_* */
		int idx;
	} * pref;
};

enum { PREF_LISTEN, PREF_CONTROL, PREF_CTL, PREF_CLIENT, PREF_SERVER };

static volatile sig_atomic_t got_signal;

/* 64 bytes a line, repeated: what an endless connection streams */
static char endless_block[LP_CHUNK_MAX + 64];

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 2, 3))) static void lp_log(struct proxy *p, const char *fmt, ...)
{
	va_list ap;
	int64_t t = now_ms() - p->started;

	fprintf(stderr, "linkproxy[+%" PRId64 ".%03d]: ", t / 1000, (int)(t % 1000));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void on_signal(int sig)
{
	got_signal = sig;
}

/* ---- parsing --------------------------------------------------------------------------- */

/* Decimal digits only, no sign, in [min, max]. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s || strlen(s) > 20)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* HOST:PORT or [HOST6]:PORT, numeric only: a test must not wait on DNS. */
static int parse_addr(const char *s, bool port0_ok, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	const char *h = s;
	size_t hl;
	uint64_t port;
	struct addrinfo hints = {0}, *res = NULL;
	char portstr[8];

	if (!colon || colon == s)
		return -1;
	hl = (size_t)(colon - s);
	if (*h == '[') {
		if (hl < 3 || h[hl - 1] != ']')
			return -1;
		h++;
		hl -= 2;
	}
	if (hl >= sizeof host)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (parse_u64(colon + 1, port0_ok ? 0 : 1, 65535, &port) < 0)
		return -1;
	snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if (getaddrinfo(host, portstr, &hints, &res) != 0 || !res)
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void fmt_addr(const struct sockaddr_storage *ss, socklen_t len, char *out, size_t n)
{
	char host[INET6_ADDRSTRLEN + 1], serv[8];

	if (getnameinfo((const struct sockaddr *)ss, len, host, sizeof host, serv, sizeof serv,
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(out, n, "?");
		return;
	}
	snprintf(out, n, ss->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
}

static int split_words(char *line, char **words, int max)
{
	int n = 0;
	char *save = NULL, *w;

	for (w = strtok_r(line, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n == max)
			return -1;
		words[n++] = w;
	}
	return n;
}

/* The mode grammar, shared by --mode and the control port:
 *   pass | cut | stall | blackhole | endless [BPS] [length N]
 *   [pass] [delay MS] [rate BPS] [drip BPS] [cutafter N]   (any, in any order)
 * "rate" limits both directions, "drip" the server->client one only (it wins
 * over rate there); "cutafter N" resets each connection once N bytes have gone
 * server->client on it. */
static int parse_mode(const char *text, struct mode *out, char *err, size_t errlen)
{
	char line[LP_CMD_MAX + 1];
	char *w[LP_WORDS_MAX];
	struct mode m = {.kind = MODE_PASS};
	bool seen_delay = false, seen_rate = false, seen_drip = false, seen_cut = false;
	uint64_t rate = 0, drip = 0;
	int n, i = 0;

	if (strlen(text) > LP_CMD_MAX) {
		snprintf(err, errlen, "mode longer than %d bytes", LP_CMD_MAX);
		return -1;
	}
	snprintf(line, sizeof line, "%s", text);
	n = split_words(line, w, LP_WORDS_MAX);
	if (n <= 0) {
		snprintf(err, errlen, n < 0 ? "too many words" : "empty mode");
		return -1;
	}
	if (n == 1 && !strcmp(w[0], "cut"))
		m.kind = MODE_CUT;
	else if (n == 1 && !strcmp(w[0], "stall"))
		m.kind = MODE_STALL;
	else if (n == 1 && !strcmp(w[0], "blackhole"))
		m.kind = MODE_BLACKHOLE;
	else if (!strcmp(w[0], "cut") || !strcmp(w[0], "stall") || !strcmp(w[0], "blackhole")) {
		snprintf(err, errlen, "%s takes no arguments", w[0]);
		return -1;
	} else if (!strcmp(w[0], "endless")) {
		m.kind = MODE_ENDLESS;
		m.endless_bps = LP_ENDLESS_BPS_DEFAULT;
		i = 1;
		if (i < n && strcmp(w[i], "length") != 0) {
			if (parse_u64(w[i], 1, LP_RATE_MAX, &m.endless_bps) < 0) {
				snprintf(err, errlen, "endless: BYTES_PER_SECOND must be 1..%llu",
					 LP_RATE_MAX);
				return -1;
			}
			i++;
		}
		if (i < n) {
			if (strcmp(w[i], "length") != 0 || i + 2 != n ||
			    parse_u64(w[i + 1], 1, LP_LENGTH_MAX, &m.endless_length) < 0) {
				snprintf(err, errlen,
					 "usage: endless [BYTES_PER_SECOND] [length N], N 1..%llu",
					 LP_LENGTH_MAX);
				return -1;
			}
		}
	} else {
		if (!strcmp(w[0], "pass"))
			i = 1;
		for (; i < n; i += 2) {
			bool *seen;
			uint64_t *val, min = 1, max = LP_RATE_MAX;

			if (!strcmp(w[i], "delay")) {
				seen = &seen_delay;
				val = &m.delay_ms;
				min = 0;
				max = LP_DELAY_MAX;
			} else if (!strcmp(w[i], "rate")) {
				seen = &seen_rate;
				val = &rate;
			} else if (!strcmp(w[i], "drip")) {
				seen = &seen_drip;
				val = &drip;
			} else if (!strcmp(w[i], "cutafter")) {
				seen = &seen_cut;
				val = &m.cut_after;
				max = LP_LENGTH_MAX;
			} else {
				snprintf(
				    err, errlen,
				    "unknown mode '%.32s' (pass, cut, stall, delay MS, rate BPS, "
				    "drip BPS, cutafter N, blackhole, endless)",
				    w[i]);
				return -1;
			}
			if (*seen) {
				snprintf(err, errlen, "%s given twice", w[i]);
				return -1;
			}
			*seen = true;
			if (i + 1 >= n || parse_u64(w[i + 1], min, max, val) < 0) {
				snprintf(err, errlen, "%s needs a number %" PRIu64 "..%" PRIu64,
					 w[i], min, max);
				return -1;
			}
		}
		m.up_bps = rate;
		m.down_bps = seen_drip ? drip : rate;
	}
	*out = m;
	return 0;
}

/* The canonical text of a mode: parse_mode() of it gives the same mode. */
static void fmt_mode(const struct mode *m, char *out, size_t n)
{
	size_t off = 0;

	out[0] = '\0';
	switch (m->kind) {
	case MODE_CUT:
		snprintf(out, n, "cut");
		return;
	case MODE_STALL:
		snprintf(out, n, "stall");
		return;
	case MODE_BLACKHOLE:
		snprintf(out, n, "blackhole");
		return;
	case MODE_ENDLESS:
		if (m->endless_length)
			snprintf(out, n, "endless %" PRIu64 " length %" PRIu64, m->endless_bps,
				 m->endless_length);
		else
			snprintf(out, n, "endless %" PRIu64, m->endless_bps);
		return;
	case MODE_PASS:
		break;
	}
	if (m->delay_ms)
		off += (size_t)snprintf(out + off, n - off, "delay %" PRIu64 " ", m->delay_ms);
	if (off < n && m->up_bps)
		off += (size_t)snprintf(out + off, n - off, "rate %" PRIu64 " ", m->up_bps);
	if (off < n && m->down_bps && m->down_bps != m->up_bps)
		off += (size_t)snprintf(out + off, n - off, "drip %" PRIu64 " ", m->down_bps);
	if (off < n && m->cut_after)
		off += (size_t)snprintf(out + off, n - off, "cutafter %" PRIu64 " ", m->cut_after);
	if (off == 0)
		snprintf(out, n, "pass");
	else if (off <= n)
		out[off - 1] = '\0';
}

/* ---- connections ----------------------------------------------------------------------- */

static void close_fd(int fd, bool rst)
{
	if (fd < 0)
		return;
	if (rst) {
		/* a zero linger turns close() into an RST: the peer sees the cut at once */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	close(fd);
}

static void dir_clear(struct dir *d)
{
	struct chunk *c, *next;

	for (c = d->head; c; c = next) {
		next = c->next;
		free(c);
	}
	d->head = d->tail = NULL;
	d->queued = 0;
}

static void conn_close(struct proxy *p, struct conn *c, bool rst, const char *why)
{
	if (c->dead)
		return;
	if (p->verbose)
		lp_log(p, "conn %" PRIu64 " closed (%s%s)", c->id, why, rst ? ", rst" : "");
	close_fd(c->cfd, rst);
	close_fd(c->sfd, rst);
	c->cfd = c->sfd = -1;
	dir_clear(&c->d[DIR_UP]);
	dir_clear(&c->d[DIR_DOWN]);
	c->dead = true;
}

static void sweep_dead(struct proxy *p)
{
	int i = 0;

	while (i < p->n_conns) {
		if (p->conns[i]->dead) {
			free(p->conns[i]);
			p->conns[i] = p->conns[--p->n_conns];
		} else {
			i++;
		}
	}
}

static void set_nodelay(int fd)
{
	int one = 1;

	/* small writes (a drip of one byte) leave at once, not after Nagle's wait */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int connect_upstream(struct proxy *p, struct conn *c)
{
	int fd = socket(p->to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&p->to, p->to_len) == 0) {
		c->connecting = false;
		set_nodelay(fd);
	} else if (errno == EINPROGRESS) {
		c->connecting = true;
	} else {
		int rc = -errno;
		close(fd);
		return rc;
	}
	c->sfd = fd;
	return 0;
}

static void accept_clients(struct proxy *p)
{
	int k;

	for (k = 0; k < LP_ACCEPT_BURST; k++) {
		struct conn *c;
		int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				lp_log(p, "accept: %s", strerror(errno));
			return;
		}
		p->st.accepted++;
		if (p->mode.kind == MODE_CUT || p->n_conns >= p->max_conns) {
			p->st.refused++;
			if (p->verbose)
				lp_log(p, "refused a connection (%s)",
				       p->mode.kind == MODE_CUT ? "cut" : "max-conns");
			close_fd(fd, true);
			continue;
		}
		c = calloc(1, sizeof *c);
		if (!c) {
			p->st.refused++;
			close_fd(fd, true);
			continue;
		}
		c->id = ++p->next_id;
		c->cfd = fd;
		c->sfd = -1;
		set_nodelay(fd);
		if (p->mode.kind == MODE_BLACKHOLE) {
			c->kind = CONN_BLACKHOLE;
		} else if (p->mode.kind == MODE_ENDLESS) {
			c->kind = CONN_ENDLESS;
			c->endless_bps = p->mode.endless_bps;
			if (p->mode.endless_length)
				snprintf(
				    c->hdr, sizeof c->hdr,
				    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
				    "Content-Length: %" PRIu64 "\r\nConnection: close\r\n\r\n",
				    p->mode.endless_length);
			else
				snprintf(
				    c->hdr, sizeof c->hdr,
				    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
				    "Connection: close\r\n\r\n");
			c->hdr_len = strlen(c->hdr);
		} else {
			int rc;

			c->kind = CONN_PROXY;
			rc = connect_upstream(p, c);
			if (rc < 0) {
				p->st.upstream_failed++;
				lp_log(p, "connect upstream: %s", strerror(-rc));
				close_fd(fd, true);
				free(c);
				continue;
			}
		}
		p->conns[p->n_conns++] = c;
		if (p->verbose)
			lp_log(p, "conn %" PRIu64 " accepted (%s)", c->id,
			       c->kind == CONN_PROXY	   ? "proxy"
			       : c->kind == CONN_BLACKHOLE ? "blackhole"
							   : "endless");
	}
}

/* ---- moving bytes ---------------------------------------------------------------------- */

static uint64_t burst_of(uint64_t bps)
{
	/* a twentieth of a second's worth: smooth, yet few wake-ups */
	uint64_t b = bps / 20;

	if (b < 1)
		b = 1;
	if (b > LP_CHUNK_MAX)
		b = LP_CHUNK_MAX;
	return b;
}

static void refill(struct dir *d, uint64_t bps, int64_t now)
{
	uint64_t cap = burst_of(bps) * 1000;

	if (now > d->refill_at) {
		uint64_t add = (uint64_t)(now - d->refill_at) * bps;
		d->tokens = (add >= cap || d->tokens + add > cap) ? cap : d->tokens + add;
	}
	if (d->tokens > cap)
		d->tokens = cap;
	d->refill_at = now;
}

/* How many bytes the bucket lets through now (0: none yet, *wake says when). */
static size_t rate_allow(struct dir *d, uint64_t bps, size_t want, int64_t now, int64_t *wake)
{
	uint64_t need, ms;

	if (!bps)
		return want;
	refill(d, bps, now);
	if (d->tokens >= 1000)
		return d->tokens / 1000 < want ? (size_t)(d->tokens / 1000) : want;
	need = (want < burst_of(bps) ? want : burst_of(bps)) * 1000;
	ms = (need - d->tokens + bps - 1) / bps;
	if (now + (int64_t)(ms ? ms : 1) < *wake)
		*wake = now + (int64_t)(ms ? ms : 1);
	return 0;
}

static void rate_take(struct dir *d, uint64_t bps, size_t n)
{
	if (bps)
		d->tokens = d->tokens > n * 1000 ? d->tokens - n * 1000 : 0;
}

static bool is_again(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

/* cutafter: the N bytes are written; the RST waits until the client has
 * acknowledged them (an RST discards what is still in the send queue), at
 * most LP_CUT_DRAIN_MS, so the client holds exactly N bytes when it is cut. */
static void cut_after_start(struct conn *c, int64_t now, int64_t *wake)
{
	if (!c->cut_at)
		c->cut_at = now;
	if (now + 5 < *wake)
		*wake = now + 5;
}

static bool cut_after_due(struct proxy *p, struct conn *c, int64_t now, int64_t *wake)
{
	int unsent = 0;

	if (!c->cut_at)
		return false;
	if (ioctl(c->cfd, SIOCOUTQ, &unsent) == 0 && unsent > 0 &&
	    now - c->cut_at < LP_CUT_DRAIN_MS) {
		if (now + 5 < *wake)
			*wake = now + 5;
		return false;
	}
	p->st.cutafter_closed++;
	if (p->verbose)
		lp_log(p, "conn %" PRIu64 " cut after %" PRIu64 " bytes down", c->id, c->sent_down);
	return true;
}

/* Passes on what is due in one direction of a proxied connection. */
static int pump_dir(struct proxy *p, struct conn *c, int which, int64_t now, int64_t *wake)
{
	struct dir *d = &c->d[which];
	int dst = which == DIR_UP ? c->sfd : c->cfd;
	uint64_t bps = which == DIR_UP ? p->mode.up_bps : p->mode.down_bps;
	uint64_t *count = which == DIR_UP ? &p->st.bytes_up : &p->st.bytes_down;

	if (c->connecting || p->mode.kind != MODE_PASS || d->shut || d->want_out || c->cut_at)
		return 0;
	while (d->head) {
		struct chunk *ch = d->head;
		size_t n = ch->len - ch->off;
		ssize_t w;

		if (ch->due > now) {
			if (ch->due < *wake)
				*wake = ch->due;
			return 0;
		}
		if (which == DIR_DOWN && p->mode.cut_after) {
			uint64_t left =
			    p->mode.cut_after > c->sent_down ? p->mode.cut_after - c->sent_down : 0;
			if (left == 0) {
				cut_after_start(c, now, wake);
				return 0;
			}
			if (n > left)
				n = (size_t)left;
		}
		n = rate_allow(d, bps, n, now, wake);
		if (!n)
			return 0;
		w = send(dst, ch->data + ch->off, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (is_again(errno)) {
				d->want_out = true;
				return 0;
			}
			return -errno;
		}
		*count += (uint64_t)w;
		if (which == DIR_DOWN)
			c->sent_down += (uint64_t)w;
		rate_take(d, bps, (size_t)w);
		ch->off += (size_t)w;
		d->queued -= (size_t)w;
		if (ch->off == ch->len) {
			d->head = ch->next;
			if (!d->head)
				d->tail = NULL;
			free(ch);
		}
		if ((size_t)w < n) {
			d->want_out = true;
			return 0;
		}
	}
	if (which == DIR_DOWN && p->mode.cut_after && c->sent_down >= p->mode.cut_after) {
		cut_after_start(c, now, wake); /* no FIN after the N bytes: the RST */
		return 0;
	}
	if (d->eof) {
		if (d->eof_due > now) {
			if (d->eof_due < *wake)
				*wake = d->eof_due;
			return 0;
		}
		shutdown(dst, SHUT_WR);
		d->shut = true;
	}
	return 0;
}

static int read_dir(struct proxy *p, struct conn *c, int which, int64_t now)
{
	struct dir *d = &c->d[which];
	int src = which == DIR_UP ? c->cfd : c->sfd;
	size_t room = p->buffer_cap - d->queued;
	char buf[LP_CHUNK_MAX];
	struct chunk *ch;
	ssize_t n;

	if (room == 0 || d->eof)
		return 0;
	n = recv(src, buf, room < sizeof buf ? room : sizeof buf, 0);
	if (n < 0)
		return is_again(errno) ? 0 : -errno;
	if (n == 0) {
		d->eof = true;
		d->eof_due = now + (int64_t)p->mode.delay_ms;
		return 0;
	}
	ch = malloc(sizeof *ch + (size_t)n);
	if (!ch)
		return -ENOMEM;
	ch->next = NULL;
	ch->due = now + (int64_t)p->mode.delay_ms;
	ch->len = (size_t)n;
	ch->off = 0;
	memcpy(ch->data, buf, (size_t)n);
	if (d->tail)
		d->tail->next = ch;
	else
		d->head = ch;
	d->tail = ch;
	d->queued += (size_t)n;
	return 0;
}

/* Blackhole and endless connections read and forget what the client sends;
 * endless starts its stream once the request's blank line has gone by. */
static int read_discard(struct conn *c)
{
	static const char end[] = "\r\n\r\n";
	char buf[LP_CHUNK_MAX];
	ssize_t n, i;

	n = recv(c->cfd, buf, sizeof buf, 0);
	if (n < 0)
		return is_again(errno) ? 0 : -errno;
	if (n == 0) {
		c->d[DIR_UP].eof = true;
		if (c->kind == CONN_ENDLESS)
			c->streaming = true;
		return c->kind == CONN_BLACKHOLE ? -ECONNRESET : 0;
	}
	if (c->kind != CONN_ENDLESS || c->streaming)
		return 0;
	for (i = 0; i < n && !c->streaming; i++) {
		if (buf[i] == end[c->head_match])
			c->head_match++;
		else
			c->head_match = buf[i] == '\r' ? 1 : 0;
		if (c->head_match == 4)
			c->streaming = true;
	}
	c->req_bytes += (size_t)n;
	if (c->req_bytes >= LP_REQ_HEAD_MAX)
		c->streaming = true;
	return 0;
}

static int pump_endless(struct proxy *p, struct conn *c, int64_t now, int64_t *wake)
{
	struct dir *d = &c->d[DIR_DOWN];
	int k;

	if (!c->streaming || d->want_out)
		return 0;
	/* a few writes a turn at most, so one fast client cannot starve the rest */
	for (k = 0; k < 4; k++) {
		const char *from;
		size_t n;
		ssize_t w;

		if (c->hdr_off < c->hdr_len) {
			from = c->hdr + c->hdr_off;
			n = c->hdr_len - c->hdr_off;
		} else {
			from = endless_block + c->stream_off % 64;
			n = LP_CHUNK_MAX;
		}
		n = rate_allow(d, c->endless_bps, n, now, wake);
		if (!n)
			return 0;
		w = send(c->cfd, from, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (is_again(errno)) {
				d->want_out = true;
				return 0;
			}
			return -errno;
		}
		p->st.bytes_down += (uint64_t)w;
		rate_take(d, c->endless_bps, (size_t)w);
		if (c->hdr_off < c->hdr_len)
			c->hdr_off += (size_t)w;
		else
			c->stream_off += (uint64_t)w;
		if ((size_t)w < n) {
			d->want_out = true;
			return 0;
		}
	}
	/* the bucket may still hold more: come back soon rather than on the next event */
	if (now + 1 < *wake)
		*wake = now + 1;
	return 0;
}

static void pump_conn(struct proxy *p, struct conn *c, int64_t now, int64_t *wake)
{
	int rc = 0;

	if (c->dead)
		return;
	if (c->kind == CONN_PROXY) {
		if (cut_after_due(p, c, now, wake)) {
			conn_close(p, c, true, "cutafter");
			return;
		}
		rc = pump_dir(p, c, DIR_UP, now, wake);
		if (rc == 0)
			rc = pump_dir(p, c, DIR_DOWN, now, wake);
		if (rc < 0) {
			conn_close(p, c, true, strerror(-rc));
			return;
		}
		if (c->d[DIR_UP].shut && c->d[DIR_DOWN].shut)
			conn_close(p, c, false, "both sides done");
	} else if (c->kind == CONN_ENDLESS) {
		rc = pump_endless(p, c, now, wake);
		if (rc < 0)
			conn_close(p, c, true, strerror(-rc));
	}
}

/* A connection's events on one of its two sockets. */
static void conn_event(struct proxy *p, struct conn *c, bool server_side, short rev, int64_t now)
{
	int rc = 0;

	if (c->dead)
		return;
	if (server_side && c->connecting) {
		int err = 0;
		socklen_t len = sizeof err;

		if (!(rev & (POLLOUT | POLLERR | POLLHUP)))
			return;
		if (getsockopt(c->sfd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			p->st.upstream_failed++;
			lp_log(p, "connect upstream: %s", strerror(err));
			conn_close(p, c, true, "upstream refused");
			return;
		}
		c->connecting = false;
		set_nodelay(c->sfd);
		return;
	}
	if (c->kind != CONN_PROXY) {
		if (rev & (POLLIN | POLLERR | POLLHUP))
			rc = read_discard(c);
		if (rc == 0 && (rev & (POLLOUT | POLLERR | POLLHUP)))
			c->d[DIR_DOWN].want_out = false;
		if (rc < 0)
			conn_close(p, c, c->kind == CONN_ENDLESS,
				   rc == -ECONNRESET ? "eof" : "error");
		return;
	}
	/* the client socket reads DIR_UP and writes DIR_DOWN; the server one the reverse */
	if (rev & (POLLIN | POLLERR | POLLHUP))
		rc = read_dir(p, c, server_side ? DIR_DOWN : DIR_UP, now);
	if (rc == 0 && (rev & (POLLOUT | POLLERR | POLLHUP)))
		c->d[server_side ? DIR_UP : DIR_DOWN].want_out = false;
	if (rc < 0)
		conn_close(p, c, true, strerror(-rc));
}

/* ---- control port ---------------------------------------------------------------------- */

static void set_mode(struct proxy *p, const struct mode *m)
{
	char text[LP_MODE_TEXT];
	int i, closed = 0;

	p->mode = *m;
	if (m->kind == MODE_CUT) {
		for (i = 0; i < p->n_conns; i++) {
			if (!p->conns[i]->dead) {
				conn_close(p, p->conns[i], true, "cut");
				closed++;
			}
		}
		p->st.cut_closed += (uint64_t)closed;
	}
	fmt_mode(m, text, sizeof text);
	lp_log(p, "mode=%s%s", text, m->kind == MODE_CUT ? " (connections closed)" : "");
}

static void command(struct proxy *p, char *line, char *reply, size_t n)
{
	char mode_text[LP_MODE_TEXT], err[160];
	char *w[LP_WORDS_MAX + 1], copy[LP_CMD_MAX + 1];
	struct mode m;
	int nw;
	const char *c;

	for (c = line; *c; c++) {
		if ((*c < 0x20 && *c != '\t') || *c > 0x7e) {
			snprintf(reply, n,
				 "error: the command has a byte that is not printable ASCII");
			return;
		}
	}
	snprintf(copy, sizeof copy, "%s", line);
	nw = split_words(copy, w, LP_WORDS_MAX + 1);
	if (nw == 0) {
		snprintf(reply, n, "error: empty command");
		return;
	}
	if (nw == 1 && !strcmp(w[0], "stats")) {
		int i, active = 0;

		for (i = 0; i < p->n_conns; i++)
			active += !p->conns[i]->dead;
		fmt_mode(&p->mode, mode_text, sizeof mode_text);
		snprintf(
		    reply, n,
		    "ok accepted=%" PRIu64 " refused=%" PRIu64 " active=%d upstream_failed=%" PRIu64
		    " cut_closed=%" PRIu64 " cutafter_closed=%" PRIu64 " bytes_up=%" PRIu64
		    " bytes_down=%" PRIu64 " mode=%s",
		    p->st.accepted, p->st.refused, active, p->st.upstream_failed, p->st.cut_closed,
		    p->st.cutafter_closed, p->st.bytes_up, p->st.bytes_down, mode_text);
		return;
	}
	if (nw == 1 && !strcmp(w[0], "reset-stats")) {
		memset(&p->st, 0, sizeof p->st);
		snprintf(reply, n, "ok");
		return;
	}
	if (nw == 1 && !strcmp(w[0], "mode")) {
		fmt_mode(&p->mode, mode_text, sizeof mode_text);
		snprintf(reply, n, "ok mode=%s", mode_text);
		return;
	}
	if (nw == 1 && !strcmp(w[0], "quit")) {
		p->stop = "quit";
		snprintf(reply, n, "ok");
		return;
	}
	if (!strcmp(w[0], "stats") || !strcmp(w[0], "reset-stats") || !strcmp(w[0], "mode") ||
	    !strcmp(w[0], "quit")) {
		snprintf(reply, n, "error: %s takes no arguments", w[0]);
		return;
	}
	if (parse_mode(line, &m, err, sizeof err) < 0) {
		snprintf(reply, n, "error: %s", err);
		return;
	}
	set_mode(p, &m);
	fmt_mode(&p->mode, mode_text, sizeof mode_text);
	snprintf(reply, n, "ok mode=%s", mode_text);
}

static void ctl_finish(struct ctl_client *cc, const char *reply)
{
	char out[LP_REPLY_MAX + 2];
	int len = snprintf(out, sizeof out, "%s\n", reply);

	char sink[4096];
	int k;

	/* the reply fits in any socket buffer; a client that is gone just misses it */
	if (len > 0)
		(void)!send(cc->fd, out, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
	/* closing with unread input would send an RST that can destroy the reply
	 * (a line that was too long): read what has come, a bounded amount */
	shutdown(cc->fd, SHUT_WR);
	for (k = 0; k < 16; k++)
		if (recv(cc->fd, sink, sizeof sink, MSG_DONTWAIT) <= 0)
			break;
	close(cc->fd);
	cc->fd = -1;
}

static void ctl_accept(struct proxy *p, int64_t now)
{
	int k, i;

	for (k = 0; k < LP_ACCEPT_BURST; k++) {
		int fd = accept4(p->cfd_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ctl_client *cc = NULL;

		if (fd < 0)
			return;
		for (i = 0; i < LP_CTL_CLIENTS; i++) {
			if (p->ctl[i].fd < 0) {
				cc = &p->ctl[i];
				break;
			}
		}
		if (!cc) {
			struct ctl_client tmp = {.fd = fd};
			ctl_finish(&tmp, "error: busy, try again");
			continue;
		}
		cc->fd = fd;
		cc->len = 0;
		cc->deadline = now + LP_CTL_TIMEOUT_MS;
	}
}

static void ctl_read(struct proxy *p, struct ctl_client *cc)
{
	char reply[LP_REPLY_MAX];
	ssize_t n;
	char *nl;

	n = recv(cc->fd, cc->buf + cc->len, sizeof cc->buf - 1 - cc->len, 0);
	if (n < 0) {
		if (!is_again(errno)) {
			close(cc->fd);
			cc->fd = -1;
		}
		return;
	}
	cc->len += (size_t)n;
	cc->buf[cc->len] = '\0';
	if (memchr(cc->buf, '\0', cc->len)) {
		ctl_finish(cc, "error: the command has a NUL byte");
		return;
	}
	nl = strchr(cc->buf, '\n');
	if (!nl && n > 0 && cc->len <= LP_CMD_MAX)
		return; /* more to come */
	if (!nl && cc->len > LP_CMD_MAX) {
		ctl_finish(cc, "error: command longer than 256 bytes");
		return;
	}
	if (nl)
		*nl = '\0';
	else if (cc->len == 0) {
		close(cc->fd); /* connected and left without a word */
		cc->fd = -1;
		return;
	}
	if (strlen(cc->buf) > LP_CMD_MAX) {
		ctl_finish(cc, "error: command longer than 256 bytes");
		return;
	}
	if (*cc->buf && cc->buf[strlen(cc->buf) - 1] == '\r')
		cc->buf[strlen(cc->buf) - 1] = '\0';
	command(p, cc->buf, reply, sizeof reply);
	ctl_finish(cc, reply);
}

/* ---- the loop -------------------------------------------------------------------------- */

static int listen_on(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	int fd, one = 1;

	if (parse_addr(spec, true, ss, len) < 0) {
		fprintf(stderr, "steward-linkproxy: '%s' is not HOST:PORT (numeric)\n", spec);
		return -1;
	}
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "steward-linkproxy: socket: %s\n", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)ss, *len) < 0 || listen(fd, 64) < 0) {
		fprintf(stderr, "steward-linkproxy: listen on %s: %s\n", spec, strerror(errno));
		close(fd);
		return -1;
	}
	*len = sizeof *ss;
	getsockname(fd, (struct sockaddr *)ss, len);
	return fd;
}

static int add_pfd(struct proxy *p, int n, int fd, short events, int what, int idx)
{
	p->pfd[n].fd = events ? fd : -1; /* nothing wanted: poll skips it, no busy HUP loop */
	p->pfd[n].events = events;
	p->pfd[n].revents = 0;
	p->pref[n].what = what;
	p->pref[n].idx = idx;
	return n + 1;
}

static int build_pollset(struct proxy *p)
{
	int n = 0, i;

	n = add_pfd(p, n, p->lfd, POLLIN, PREF_LISTEN, 0);
	if (p->cfd_listen >= 0)
		n = add_pfd(p, n, p->cfd_listen, POLLIN, PREF_CONTROL, 0);
	for (i = 0; i < LP_CTL_CLIENTS; i++)
		if (p->ctl[i].fd >= 0)
			n = add_pfd(p, n, p->ctl[i].fd, POLLIN, PREF_CTL, i);
	for (i = 0; i < p->n_conns; i++) {
		struct conn *c = p->conns[i];
		short ce = 0, se = 0;

		if (c->dead)
			continue;
		if (c->kind == CONN_PROXY) {
			if (!c->d[DIR_UP].eof && c->d[DIR_UP].queued < p->buffer_cap)
				ce |= POLLIN;
			if (c->d[DIR_DOWN].want_out)
				ce |= POLLOUT;
			if (c->connecting) {
				se = POLLOUT;
			} else {
				if (!c->d[DIR_DOWN].eof && c->d[DIR_DOWN].queued < p->buffer_cap)
					se |= POLLIN;
				if (c->d[DIR_UP].want_out)
					se |= POLLOUT;
			}
		} else {
			if (!c->d[DIR_UP].eof)
				ce |= POLLIN;
			if (c->d[DIR_DOWN].want_out)
				ce |= POLLOUT;
		}
		n = add_pfd(p, n, c->cfd, ce, PREF_CLIENT, i);
		if (c->sfd >= 0)
			n = add_pfd(p, n, c->sfd, se, PREF_SERVER, i);
	}
	return n;
}

static void run(struct proxy *p, const sigset_t *unblocked)
{
	int64_t wake = p->deadline;

	while (!p->stop) {
		int64_t now = now_ms(), until;
		struct timespec ts;
		int n, i, rc;

		if (got_signal) {
			p->stop = got_signal == SIGINT ? "SIGINT" : "SIGTERM";
			break;
		}
		if (now >= p->deadline) {
			p->stop = "max-seconds";
			break;
		}
		until = wake < p->deadline ? wake : p->deadline;
		for (i = 0; i < LP_CTL_CLIENTS; i++)
			if (p->ctl[i].fd >= 0 && p->ctl[i].deadline < until)
				until = p->ctl[i].deadline;
		if (until < now)
			until = now;
		ts.tv_sec = (until - now) / 1000;
		ts.tv_nsec = ((until - now) % 1000) * 1000000;
		n = build_pollset(p);
		rc = ppoll(p->pfd, (nfds_t)n, &ts, unblocked);
		if (rc < 0 && errno != EINTR) {
			lp_log(p, "poll: %s", strerror(errno));
			p->stop = "poll failed";
			break;
		}
		now = now_ms();
		for (i = 0; rc > 0 && i < n; i++) {
			short rev = p->pfd[i].revents;

			if (!rev)
				continue;
			switch (p->pref[i].what) {
			case PREF_LISTEN:
				accept_clients(p);
				break;
			case PREF_CONTROL:
				ctl_accept(p, now);
				break;
			case PREF_CTL:
				if (p->ctl[p->pref[i].idx].fd >= 0)
					ctl_read(p, &p->ctl[p->pref[i].idx]);
				break;
			case PREF_CLIENT:
			case PREF_SERVER:
				/* accept_clients() only appends: the index still holds */
				conn_event(p, p->conns[p->pref[i].idx],
					   p->pref[i].what == PREF_SERVER, rev, now);
				break;
			}
		}
		for (i = 0; i < LP_CTL_CLIENTS; i++) {
			if (p->ctl[i].fd >= 0 && p->ctl[i].deadline <= now)
				ctl_finish(&p->ctl[i], "error: no command within 5 s");
		}
		wake = p->deadline;
		for (i = 0; i < p->n_conns; i++)
			pump_conn(p, p->conns[i], now, &wake);
		sweep_dead(p);
	}
}

/* ---- client side of the control port --------------------------------------------------- */

static int ctl_send(const char *addr, int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char cmd[LP_CMD_MAX + 2], reply[LP_REPLY_MAX + 1];
	size_t off = 0, got = 0;
	struct timeval tv = {.tv_sec = LP_CTL_TIMEOUT_MS / 1000};
	int fd, i;

	if (parse_addr(addr, false, &ss, &len) < 0) {
		fprintf(stderr, "steward-linkproxy: --ctl '%s' is not HOST:PORT (numeric)\n", addr);
		return EXIT_USAGE;
	}
	if (argc == 0) {
		fprintf(stderr, "steward-linkproxy: --ctl needs a command\n");
		return EXIT_USAGE;
	}
	for (i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]);

		if (off + l + 2 > sizeof cmd) {
			fprintf(stderr, "steward-linkproxy: command longer than %d bytes\n",
				LP_CMD_MAX);
			return EXIT_USAGE;
		}
		if (i)
			cmd[off++] = ' ';
		memcpy(cmd + off, argv[i], l);
		off += l;
	}
	cmd[off++] = '\n';
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return EXIT_TRANSPORT;
	/* on Linux the send timeout bounds connect() too */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 ||
	    send(fd, cmd, off, MSG_NOSIGNAL) != (ssize_t)off) {
		fprintf(stderr, "steward-linkproxy: %s: %s\n", addr, strerror(errno));
		close(fd);
		return EXIT_TRANSPORT;
	}
	while (got < sizeof reply - 1) {
		ssize_t n = recv(fd, reply + got, sizeof reply - 1 - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(reply, '\n', got))
			break;
	}
	close(fd);
	reply[got] = '\0';
	reply[strcspn(reply, "\r\n")] = '\0';
	if (!*reply) {
		fprintf(stderr, "steward-linkproxy: no reply from %s\n", addr);
		return EXIT_TRANSPORT;
	}
	printf("%s\n", reply);
	return strncmp(reply, "ok", 2) == 0 && (reply[2] == '\0' || reply[2] == ' ') ? 0
										     : EXIT_ERROR;
}

/* ---- main ------------------------------------------------------------------------------ */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: steward-linkproxy --listen ADDR --to ADDR [--control ADDR] [--mode MODE]\n"
		"                         [--max-seconds N] [--buffer BYTES] [--max-conns N] [-v]\n"
		"       steward-linkproxy --ctl ADDR COMMAND...\n"
		"\n"
		"  ADDR is numeric HOST:PORT or [HOST6]:PORT; port 0 picks a free one.\n"
		"  --listen ADDR       where clients connect\n"
		"  --to ADDR           the server connections are forwarded to\n"
		"  --control ADDR      the control port (one command line per connection)\n"
		"  --mode MODE         mode at start (default pass)\n"
		"  --max-seconds N     exit after N seconds (default %d, at most %d)\n"
		"  --buffer BYTES      queued bytes per direction and connection (default %u)\n"
		"  --max-conns N       open connections; more are closed at once (default %d)\n"
		"  -v, --verbose       log every connection to stderr\n"
		"  --ctl ADDR CMD...   send CMD to a proxy's control port, print the reply;\n"
		"                      exit 0 on 'ok', 1 on 'error: ...', 3 on no reply\n"
		"\n"
		"MODE, and the mode commands of the control port:\n"
		"  pass | cut | stall | blackhole | endless [BPS] [length N]\n"
		"  [pass] [delay MS] [rate BPS] [drip BPS] [cutafter N]   (combine freely)\n"
		"Other commands: mode, stats, reset-stats, quit.\n",
		LP_SECONDS_DEFAULT, LP_SECONDS_MAX, LP_BUFFER_DEFAULT, LP_CONNS_DEFAULT);
}

int main(int argc, char **argv)
{
	enum {
		O_LISTEN = 256,
		O_TO,
		O_CONTROL,
		O_MODE,
		O_SECONDS,
		O_BUFFER,
		O_CONNS,
		O_CTL,
		O_HELP
	};
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, O_LISTEN},
	    {"to", required_argument, NULL, O_TO},
	    {"control", required_argument, NULL, O_CONTROL},
	    {"mode", required_argument, NULL, O_MODE},
	    {"max-seconds", required_argument, NULL, O_SECONDS},
	    {"buffer", required_argument, NULL, O_BUFFER},
	    {"max-conns", required_argument, NULL, O_CONNS},
	    {"verbose", no_argument, NULL, 'v'},
	    {"ctl", required_argument, NULL, O_CTL},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	static struct proxy px;
	struct proxy *p = &px;
	const char *listen_spec = NULL, *to_spec = NULL, *control_spec = NULL, *mode_spec = NULL;
	const char *ctl_addr = NULL;
	uint64_t seconds = LP_SECONDS_DEFAULT, buffer = LP_BUFFER_DEFAULT, conns = LP_CONNS_DEFAULT;
	struct sockaddr_storage lss, css;
	socklen_t llen, clen;
	char lbuf[80], cbuf[80] = "off", tbuf[80], mbuf[LP_MODE_TEXT], err[160];
	struct sigaction sa = {0};
	sigset_t block, unblocked;
	int opt, i, rc = 0;

	while ((opt = getopt_long(argc, argv, "+v", longopts, NULL)) != -1) {
		switch (opt) {
		case O_LISTEN:
			listen_spec = optarg;
			break;
		case O_TO:
			to_spec = optarg;
			break;
		case O_CONTROL:
			control_spec = optarg;
			break;
		case O_MODE:
			mode_spec = optarg;
			break;
		case O_SECONDS:
			if (parse_u64(optarg, 1, LP_SECONDS_MAX, &seconds) < 0) {
				fprintf(stderr, "steward-linkproxy: --max-seconds must be 1..%d\n",
					LP_SECONDS_MAX);
				return EXIT_USAGE;
			}
			break;
		case O_BUFFER:
			if (parse_u64(optarg, LP_BUFFER_MIN, LP_BUFFER_MAX, &buffer) < 0) {
				fprintf(stderr, "steward-linkproxy: --buffer must be %u..%u\n",
					LP_BUFFER_MIN, LP_BUFFER_MAX);
				return EXIT_USAGE;
			}
			break;
		case O_CONNS:
			if (parse_u64(optarg, 1, LP_CONNS_MAX, &conns) < 0) {
				fprintf(stderr, "steward-linkproxy: --max-conns must be 1..%d\n",
					LP_CONNS_MAX);
				return EXIT_USAGE;
			}
			break;
		case 'v':
			p->verbose = true;
			break;
		case O_CTL:
			ctl_addr = optarg;
			break;
		case O_HELP:
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (ctl_addr)
		return ctl_send(ctl_addr, argc - optind, argv + optind);
	if (optind != argc || !listen_spec || !to_spec) {
		usage(stderr);
		return EXIT_USAGE;
	}
	p->mode.kind = MODE_PASS;
	if (mode_spec && parse_mode(mode_spec, &p->mode, err, sizeof err) < 0) {
		fprintf(stderr, "steward-linkproxy: --mode: %s\n", err);
		return EXIT_USAGE;
	}
	if (parse_addr(to_spec, false, &p->to, &p->to_len) < 0) {
		fprintf(stderr, "steward-linkproxy: --to '%s' is not HOST:PORT (numeric)\n",
			to_spec);
		return EXIT_USAGE;
	}
	p->buffer_cap = (size_t)buffer;
	p->max_conns = (int)conns;
	p->cfd_listen = -1;
	for (i = 0; i < LP_CTL_CLIENTS; i++)
		p->ctl[i].fd = -1;
	for (i = 0; i < (int)sizeof endless_block; i++)
		endless_block[i] = i % 64 == 63 ? '\n' : "steward-linkproxy endless "[i % 64 % 26];
	p->conns = calloc((size_t)p->max_conns, sizeof *p->conns);
	p->pfd = calloc((size_t)(2 + LP_CTL_CLIENTS + 2 * p->max_conns), sizeof *p->pfd);
	p->pref = calloc((size_t)(2 + LP_CTL_CLIENTS + 2 * p->max_conns), sizeof *p->pref);
	if (!p->conns || !p->pfd || !p->pref) {
		fprintf(stderr, "steward-linkproxy: out of memory\n");
		return EXIT_ERROR;
	}

	p->lfd = listen_on(listen_spec, &lss, &llen);
	if (p->lfd < 0)
		return EXIT_ERROR;
	if (control_spec) {
		p->cfd_listen = listen_on(control_spec, &css, &clen);
		if (p->cfd_listen < 0)
			return EXIT_ERROR;
		fmt_addr(&css, clen, cbuf, sizeof cbuf);
	}

	/* The stop signals stay blocked except inside ppoll(), so one that comes
	 * between the check and the wait is not lost. */
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &unblocked);
	sigdelset(&unblocked, SIGTERM);
	sigdelset(&unblocked, SIGINT);

	p->started = now_ms();
	p->deadline = p->started + (int64_t)seconds * 1000;
	fmt_addr(&lss, llen, lbuf, sizeof lbuf);
	fmt_addr(&p->to, p->to_len, tbuf, sizeof tbuf);
	fmt_mode(&p->mode, mbuf, sizeof mbuf);
	printf("linkproxy listen=%s control=%s to=%s mode=%s\n", lbuf, cbuf, tbuf, mbuf);
	fflush(stdout);

	run(p, &unblocked);
	rc = strcmp(p->stop, "poll failed") == 0 ? EXIT_ERROR : 0;

	lp_log(p,
	       "exit (%s): accepted=%" PRIu64 " refused=%" PRIu64 " bytes_up=%" PRIu64
	       " bytes_down=%" PRIu64,
	       p->stop, p->st.accepted, p->st.refused, p->st.bytes_up, p->st.bytes_down);
	for (i = 0; i < p->n_conns; i++)
		conn_close(p, p->conns[i], false, "exit");
	sweep_dead(p);
	for (i = 0; i < LP_CTL_CLIENTS; i++)
		if (p->ctl[i].fd >= 0)
			close(p->ctl[i].fd);
	close(p->lfd);
	if (p->cfd_listen >= 0)
		close(p->cfd_listen);
	free(p->conns);
	free(p->pfd);
	free(p->pref);
	return rc;
}
