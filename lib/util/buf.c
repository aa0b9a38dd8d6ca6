/* buf: growable buffer with a hard maximum fixed at creation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steward/util.h"

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static int buf_reserve(struct buf *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	if (extra > b->max || b->len > b->max - extra)
		return -STEWARD_ETOOBIG;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap *= 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	p = realloc(b->data, ncap);
	if (!p)
		return -STEWARD_ENOMEM;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	int rc = buf_reserve(b, n);

	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

/* Formats once, into the room the buffer has or, when that is small, a
 * buffer on the stack; only a longer text is formatted a second time,
 * after the buffer grew for it. */
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	char tmp[256];
	size_t room = b->cap > b->len ? b->cap - b->len : 0;
	char *dst = room >= sizeof(tmp) ? b->data + b->len : tmp;
	size_t dsz = room >= sizeof(tmp) ? room : sizeof(tmp);
	va_list ap2;
	int n, rc;

	va_copy(ap2, ap);
	n = vsnprintf(dst, dsz, fmt, ap2);
	va_end(ap2);
	if (n >= 0 && (size_t)n < dsz) {
		if (dst == tmp)
			return buf_append(b, tmp, (size_t)n);
		if ((size_t)n <= b->max && b->len <= b->max - (size_t)n) {
			b->len += (size_t)n; /* vsnprintf ended it with a NUL */
			return 0;
		}
	}
	if (dst != tmp)
		b->data[b->len] = '\0'; /* the text does not count */
	if (n < 0)
		return -STEWARD_EINVAL;
	rc = buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

char *buf_steal(struct buf *b)
{
	char *p = b->data;

	if (!p)
		p = calloc(1, 1);
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
