/* steward-rawhttp: send exactly the given bytes to an HTTP server and say
 * what came back, for the framing tests.
 *
 * curl and libcurl fix up what they send (one Content-Length, a valid
 * Transfer-Encoding); the framing rules are about requests no well-behaved
 * client makes, so this tool writes the bytes it is given, as they are,
 * optionally one at a time (a trickling client) or followed by a large
 * body (memory tests), and reads every response while it sends.
 *
 *   steward-rawhttp --port P [options]
 *
 *   --host ADDR        IPv4 address (default 127.0.0.1)
 *   --send STR         bytes to send, with C escapes \r \n \t \\ \xHH (repeatable;
 *                      the pieces are sent one after the other)
 *   --send-file F      bytes to send from a file (after the --send pieces)
 *   --body-bytes N     then N bytes of 'x', sent as fast as the server takes them
 *   --trickle-ms MS    send the --send/--send-file bytes one at a time, MS ms apart
 *   --trickle-body     with --trickle-ms: the head (up to the first empty line)
 *                      at once, only what follows it one byte at a time
 *   --shut-wr          half-close (shutdown SHUT_WR) once everything is sent
 *   --linger-ms MS     after the first final response, wait this long for the
 *                      server to close or send more (default 500)
 *   --timeout-ms MS    give up this long after connecting (default 15000)
 *   --show             copy what the server sent to stderr
 *
 * Prints one line:
 *   status=S code=C json=yes|no closed=yes|no responses=N statuses=S1,S2
 *   first_s=T close_s=T sent=B
 * status is the first final response's (0: none came), code its JSON
 * .error.code ('-' without one), closed whether the server closed the
 * connection (a reset counts) before the linger time ran out, responses how
 * many final responses arrived (more than one to one request means the
 * server read bytes after it as another request), first_s and close_s the
 * seconds from connecting to the first response and to the close (-1:
 * never). Exit 0 when the exchange ran, 2 on usage errors, 3 when the
 * connection could not be made.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <jansson.h>

#define RAW_SEND_MAX (64u * 1024 * 1024)
#define RAW_RECV_MAX (1024u * 1024)
#define RAW_STATUSES 16

struct opts {
	const char *host;
	int port;
	char *data; /* --send pieces and --send-file, unescaped */
	size_t len;
	unsigned long long body_bytes;
	long trickle_ms, linger_ms, timeout_ms;
	size_t trickle_from; /* bytes sent at once before the trickle */
	bool trickle_body;
	bool shut_wr, show;
};

struct result {
	int statuses[RAW_STATUSES];
	int n; /* final responses seen */
	char code[64];
	bool json;
	bool closed;
	double first_s, close_s;
	unsigned long long sent;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: steward-rawhttp --port P [--host ADDR] [--send STR]... [--send-file F]\n"
		"       [--body-bytes N] [--trickle-ms MS [--trickle-body]] [--shut-wr]\n"
		"       [--linger-ms MS] [--timeout-ms MS] [--show]\n");
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Append s with its C escapes undone; -1 on a bad escape or over the cap. */
static int append_unescaped(struct opts *o, const char *s)
{
	size_t n = strlen(s);
	char *p = realloc(o->data, o->len + n + 1);

	if (!p || o->len + n > RAW_SEND_MAX)
		return -1;
	o->data = p;
	while (*s) {
		char c = *s++;
		if (c == '\\') {
			switch (*s++) {
			case 'r':
				c = '\r';
				break;
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case '\\':
				c = '\\';
				break;
			case 'x': {
				int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
				if (lo < 0)
					return -1;
				c = (char)(hi * 16 + lo);
				s += 2;
				break;
			}
			default:
				return -1;
			}
		}
		o->data[o->len++] = c;
	}
	return 0;
}

static int append_file(struct opts *o, const char *path)
{
	FILE *f = fopen(path, "rb");
	char chunk[65536];
	size_t n;
	int rc = 0;

	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		char *p = realloc(o->data, o->len + n);
		if (!p || o->len + n > RAW_SEND_MAX) {
			rc = -1;
			break;
		}
		o->data = p;
		memcpy(o->data + o->len, chunk, n);
		o->len += n;
	}
	if (ferror(f))
		rc = -1;
	fclose(f);
	return rc;
}

static int parse_num(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end = NULL;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end || *out > max ? -1 : 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum {
		O_HOST = 256,
		O_PORT,
		O_SEND,
		O_SEND_FILE,
		O_BODY,
		O_TRICKLE,
		O_TRICKLE_BODY,
		O_SHUT,
		O_LINGER,
		O_TIMEOUT,
		O_SHOW,
		O_HELP
	};
	static const struct option longopts[] = {
	    {"host", required_argument, NULL, O_HOST},
	    {"port", required_argument, NULL, O_PORT},
	    {"send", required_argument, NULL, O_SEND},
	    {"send-file", required_argument, NULL, O_SEND_FILE},
	    {"body-bytes", required_argument, NULL, O_BODY},
	    {"trickle-ms", required_argument, NULL, O_TRICKLE},
	    {"trickle-body", no_argument, NULL, O_TRICKLE_BODY},
	    {"shut-wr", no_argument, NULL, O_SHUT},
	    {"linger-ms", required_argument, NULL, O_LINGER},
	    {"timeout-ms", required_argument, NULL, O_TIMEOUT},
	    {"show", no_argument, NULL, O_SHOW},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	unsigned long long v;
	int c;

	o->host = "127.0.0.1";
	o->linger_ms = 500;
	o->timeout_ms = 15000;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_HOST:
			o->host = optarg;
			break;
		case O_PORT:
			if (parse_num(optarg, 65535, &v) || v == 0)
				goto bad;
			o->port = (int)v;
			break;
		case O_SEND:
			if (append_unescaped(o, optarg))
				goto bad;
			break;
		case O_SEND_FILE:
			if (append_file(o, optarg))
				goto bad;
			break;
		case O_BODY:
			if (parse_num(optarg, 1ull << 40, &o->body_bytes))
				goto bad;
			break;
		case O_TRICKLE:
			if (parse_num(optarg, 600000, &v))
				goto bad;
			o->trickle_ms = (long)v;
			break;
		case O_TRICKLE_BODY:
			o->trickle_body = true;
			break;
		case O_SHUT:
			o->shut_wr = true;
			break;
		case O_LINGER:
			if (parse_num(optarg, 600000, &v))
				goto bad;
			o->linger_ms = (long)v;
			break;
		case O_TIMEOUT:
			if (parse_num(optarg, 3600000, &v) || v == 0)
				goto bad;
			o->timeout_ms = (long)v;
			break;
		case O_SHOW:
			o->show = true;
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		default:
			goto bad;
		}
	}
	if (optind != argc || !o->port)
		goto bad;
	if (o->trickle_body) {
		const char *end = o->len >= 4 ? memmem(o->data, o->len, "\r\n\r\n", 4) : NULL;
		o->trickle_from = end ? (size_t)(end - o->data) + 4 : 0;
	}
	return 0;
bad:
	fprintf(stderr, "steward-rawhttp: bad arguments%s%s\n", optarg ? " near " : "",
		optarg ? optarg : "");
	usage(stderr);
	return -1;
}

/* ---- reading responses ------------------------------------------------------ */

/* The value of header name in the head [h, h + len), or NULL. */
static const char *find_header(const char *h, size_t len, const char *name, size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *end = h + len, *line = memchr(h, '\n', len);

	while (line && line + 1 < end) {
		const char *start = line + 1, *eol = memchr(start, '\n', (size_t)(end - start));
		if (!eol)
			break;
		if ((size_t)(eol - start) > nlen && strncasecmp(start, name, nlen) == 0 &&
		    start[nlen] == ':') {
			const char *v = start + nlen + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*vlen = (size_t)(eol - v);
			if (*vlen && v[*vlen - 1] == '\r')
				(*vlen)--;
			return v;
		}
		line = eol;
	}
	return NULL;
}

static void note_body(struct result *res, const char *head, size_t hlen, const char *body,
		      size_t blen)
{
	size_t vlen;
	const char *ct = find_header(head, hlen, "Content-Type", &vlen);
	json_t *root, *code;

	if (!ct || vlen < 16 || strncasecmp(ct, "application/json", 16) != 0)
		return;
	root = json_loadb(body, blen, 0, NULL);
	if (!root)
		return;
	res->json = json_is_object(root);
	code = json_object_get(json_object_get(root, "error"), "code");
	if (json_is_string(code))
		snprintf(res->code, sizeof(res->code), "%s", json_string_value(code));
	json_decref(root);
}

/* Consume the complete responses at the start of buf; returns bytes used.
 * at_eof: the server closed, so a response without a length ends here. */
static size_t parse_responses(struct result *res, const char *buf, size_t len, bool at_eof,
			      double t0)
{
	size_t used = 0;

	for (;;) {
		const char *p = buf + used, *hend;
		size_t left = len - used, hlen, vlen, blen = 0;
		const char *cl;
		int status = 0;

		hend = left >= 4 ? memmem(p, left, "\r\n\r\n", 4) : NULL;
		if (!hend)
			return used;
		hlen = (size_t)(hend - p) + 4;
		if (sscanf(p, "HTTP/1.%*d %d", &status) != 1)
			status = -1; /* not HTTP: count it, stop parsing */
		if (status >= 100 && status < 200) {
			used += hlen; /* 100 Continue: no body */
			continue;
		}
		cl = status > 0 ? find_header(p, hlen, "Content-Length", &vlen) : NULL;
		if (cl)
			blen = strtoull(cl, NULL, 10);
		else if (status > 0 && !at_eof)
			return used; /* body until the close */
		else
			blen = left - hlen;
		if (hlen + blen > left)
			return used;
		if (res->n == 0) {
			res->first_s = now_s() - t0;
			note_body(res, p, hlen, p + hlen, blen);
		}
		if (res->n < RAW_STATUSES)
			res->statuses[res->n] = status;
		res->n++;
		used += hlen + blen;
		if (status < 0)
			return len;
	}
}

static int connect_to(const struct opts *o)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
	int fd;

	if (inet_pton(AF_INET, o->host, &sa.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static void run(const struct opts *o, int fd, struct result *res)
{
	static char filler[65536];
	char *in = malloc(RAW_RECV_MAX);
	size_t in_len = 0, in_used = 0, off = 0;
	unsigned long long body_left = o->body_bytes;
	double t0 = now_s(), next_send = t0, linger_until = 0;
	bool sending = true;

	memset(filler, 'x', sizeof(filler));
	res->first_s = res->close_s = -1;
	if (!in)
		return;
	for (;;) {
		double now = now_s(), wait = t0 + o->timeout_ms / 1000.0 - now;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		bool want_send;

		if (sending && off == o->len && body_left == 0) {
			sending = false;
			if (o->shut_wr)
				shutdown(fd, SHUT_WR);
		}
		want_send = sending && now >= next_send;
		if (want_send)
			pfd.events |= POLLOUT;
		else if (sending && next_send - now < wait)
			wait = next_send - now;
		if (res->n > 0 && linger_until == 0)
			linger_until = now + o->linger_ms / 1000.0;
		if (linger_until > 0 && linger_until - now < wait)
			wait = linger_until - now;
		if (wait <= 0)
			break; /* timed out or lingered enough: still open */
		if (poll(&pfd, 1, (int)(wait * 1000) + 1) < 0 && errno != EINTR)
			break;
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = in_len < RAW_RECV_MAX
					? recv(fd, in + in_len, RAW_RECV_MAX - in_len, 0)
					: 0;
			if (n > 0) {
				if (o->show)
					fwrite(in + in_len, 1, (size_t)n, stderr);
				in_len += (size_t)n;
				in_used +=
				    parse_responses(res, in + in_used, in_len - in_used, false, t0);
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				in_used +=
				    parse_responses(res, in + in_used, in_len - in_used, true, t0);
				res->closed = true;
				res->close_s = now_s() - t0;
				break;
			}
		}
		if (want_send && (pfd.revents & POLLOUT)) {
			const char *p;
			size_t n;
			ssize_t w;

			if (off < o->len) {
				p = o->data + off;
				if (!o->trickle_ms)
					n = o->len - off;
				else if (off < o->trickle_from)
					n = o->trickle_from - off; /* the head at once */
				else
					n = 1;
			} else {
				p = filler;
				n = body_left < sizeof(filler) ? (size_t)body_left : sizeof(filler);
			}
			w = send(fd, p, n, MSG_NOSIGNAL);
			if (w > 0) {
				res->sent += (unsigned long long)w;
				if (off < o->len)
					off += (size_t)w;
				else
					body_left -= (unsigned long long)w;
				if (o->trickle_ms && off >= o->trickle_from && off <= o->len)
					next_send = now_s() + o->trickle_ms / 1000.0;
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				sending = false; /* the server closed its side: keep reading */
			}
		}
	}
	free(in);
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	struct result res = {0};
	int fd;

	if (parse_opts(argc, argv, &o))
		return 2;
	snprintf(res.code, sizeof(res.code), "-");
	fd = connect_to(&o);
	if (fd < 0) {
		fprintf(stderr, "steward-rawhttp: cannot connect to %s:%d: %s\n", o.host, o.port,
			strerror(errno));
		return 3;
	}
	run(&o, fd, &res);
	close(fd);
	printf("status=%d code=%s json=%s closed=%s responses=%d statuses=",
	       res.n ? res.statuses[0] : 0, res.code, res.json ? "yes" : "no",
	       res.closed ? "yes" : "no", res.n);
	for (int i = 0; i < res.n && i < RAW_STATUSES; i++)
		printf("%s%d", i ? "," : "", res.statuses[i]);
	printf("%s first_s=%.3f close_s=%.3f sent=%llu\n", res.n ? "" : "-", res.first_s,
	       res.close_s, res.sent);
	free(o.data);
	return 0;
}
