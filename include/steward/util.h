/* util: errors, capped buffers, logging, time, files, encodings.
 *
 * The bottom layer: everything else may use it; it uses only libc and
 * libsodium (for randomness and encodings).
 */
#ifndef STEWARD_UTIL_H
#define STEWARD_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* ---- errors ------------------------------------------------------------
 * Functions return 0 on success or a negative STEWARD_E* code. Where the
 * user needs to know more, a struct steward_err carries a stable code
 * string (documented in docs/errors.md), a message and a remedy.
 */
enum {
	STEWARD_OK = 0,
	STEWARD_EINVAL = 1,   /* bad argument or malformed input */
	STEWARD_ENOMEM = 2,   /* allocation failed */
	STEWARD_ETOOBIG = 3,  /* over a configured cap */
	STEWARD_EIO = 4,      /* file or socket error */
	STEWARD_ENOTFOUND = 5,
	STEWARD_EEXIST = 6,
	STEWARD_ESTORE = 7,   /* database error */
	STEWARD_EAUTH = 8,    /* authentication failed */
	STEWARD_EPERM = 9,    /* authenticated but not allowed */
	STEWARD_EVERSION = 10, /* incompatible versions */
	STEWARD_ETIMEDOUT = 11,
	STEWARD_EBUSY = 12,   /* overloaded; try later */
	STEWARD_ESCHEMA = 13, /* database schema newer than this binary */
	STEWARD_ECLOSED = 14, /* shutting down */
};

const char *steward_strerror(int rc);

#define STEWARD_ERR_CODE_MAX 48
#define STEWARD_ERR_MSG_MAX 256

struct steward_err {
	char code[STEWARD_ERR_CODE_MAX];      /* e.g. "body_too_large" */
	char message[STEWARD_ERR_MSG_MAX];    /* what went wrong */
	char remedy[STEWARD_ERR_MSG_MAX];     /* what to do about it */
};

/* Fill err (which may be NULL) and return -rc. Message is printf-style. */
int steward_err_set(struct steward_err *err, int rc, const char *code, const char *remedy,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- capped buffer -----------------------------------------------------
 * A growable byte buffer with a maximum fixed at creation: input from the
 * network never grows memory without a bound. Always NUL-terminated.
 */
struct buf {
	char *data;
	size_t len;
	size_t cap;   /* allocated */
	size_t max;   /* never grow beyond this many bytes of content */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Returns 0, or -STEWARD_ETOOBIG when max would be exceeded (b unchanged),
 * or -STEWARD_ENOMEM. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Take ownership of the content (caller frees); b is reset. */
char *buf_steal(struct buf *b);

/* ---- logging -------------------------------------------------------------
 * One line per event: time level component msg key=value ...
 *   log_info("http", "listening", "addr=%s port=%d", addr, port);
 */
enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level lvl);
void log_event(enum log_level lvl, const char *component, const char *event, const char *fmt,
	       ...) __attribute__((format(printf, 4, 5)));

#define log_debug(c, e, ...) log_event(LOG_DEBUG, c, e, __VA_ARGS__)
#define log_info(c, e, ...) log_event(LOG_INFO, c, e, __VA_ARGS__)
#define log_warn(c, e, ...) log_event(LOG_WARN, c, e, __VA_ARGS__)
#define log_error(c, e, ...) log_event(LOG_ERROR, c, e, __VA_ARGS__)

/* ---- time ------------------------------------------------------------- */
int64_t time_now_s(void);       /* wall clock, seconds since the epoch */
int64_t time_now_ms(void);      /* wall clock, milliseconds */
int64_t time_mono_us(void);     /* monotonic microseconds */
/* RFC 3339 UTC ("2026-11-25T09:00:00Z"); out must hold 32 bytes. */
void time_rfc3339(int64_t t, char out[32]);
/* Parse "90", "90s", "15m", "23h", "7d". Returns 0 or -STEWARD_EINVAL. */
int time_parse_duration(const char *s, int64_t *seconds);

/* Tell the service manager a state ("READY=1", "STOPPING=1", "STATUS=..."):
 * one datagram to $NOTIFY_SOCKET (systemd's sd_notify protocol, abstract
 * sockets '@' included). 0 when sent or when NOTIFY_SOCKET is unset;
 * -STEWARD_EINVAL for an unusable NOTIFY_SOCKET, -STEWARD_EIO when the
 * datagram could not be sent. */
int notify_service_manager(const char *state);

/* ---- files ---------------------------------------------------------------- */
/* Write atomically: temp file in the same directory, fsync, rename, fsync dir. */
int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* fsync the directory that holds path, so a rename into it survives a power cut. */
int file_sync_dir_of(const char *path);
/* Read a whole file of at most max bytes into a NUL-terminated malloc'd buffer. */
int file_read_all(const char *path, size_t max, char **out, size_t *len);
/* mkdir -p with mode for created directories. */
int file_mkdirs(const char *path, unsigned mode);

/* ---- programs -------------------------------------------------------------- */
/* Run BIN --version (killed after timeout_s) and put the second word of
 * what it prints, the version, in out; "" when it does not run here,
 * fails, or prints more than 4 KiB. */
void exec_version(const char *bin, unsigned timeout_s, char *out, size_t outsz);
/* Run argv (argv[0] a path; killed by SIGALRM after timeout_s) and append
 * its stdout to out (capped by out's max). 0 with *status its exit status
 * (-1 killed), or -STEWARD_ETOOBIG / -STEWARD_EIO. */
int exec_capture(const char *const argv[], unsigned timeout_s, struct buf *out, int *status);

/* ---- encodings and randomness (libsodium) ------------------------------ */
/* out must hold 2*n+1 bytes. */
void hex_encode(const uint8_t *in, size_t n, char *out);
/* Returns 0 only when s is exactly 2*n hex digits. */
int hex_decode(const char *s, uint8_t *out, size_t n);
/* Standard base64 without line breaks. Returns malloc'd string. */
char *b64_encode_new(const uint8_t *in, size_t n);
/* Returns number of bytes decoded, or -STEWARD_EINVAL. */
int b64_decode(const char *s, uint8_t *out, size_t outmax);
void rand_bytes(void *out, size_t n);
uint32_t rand_uniform(uint32_t upper); /* 0 .. upper-1 */

/* Safe string copy: returns -STEWARD_ETOOBIG if src does not fit. */
int str_copy(char *dst, size_t dstsz, const char *src);
/* True when s consists only of printable ASCII (0x20..0x7e). */
bool str_printable(const char *s);

#endif
