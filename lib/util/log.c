/* log: one line per event, "TIME LEVEL component event key=value ...". */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>

#include "steward/util.h"

static enum log_level g_level = LOG_INFO;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level lvl)
{
	g_level = lvl;
}

enum log_level log_get_level(void)
{
	return g_level;
}

const char *log_level_name(enum log_level lvl)
{
	return (unsigned)lvl < 4 ? level_names[lvl] : "?";
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -STEWARD_EINVAL;
}

void log_event(enum log_level lvl, const char *component, const char *event, const char *fmt,
	       ...)
{
	char ts[32], line[2048];
	int n;
	va_list ap;

	if (lvl < g_level)
		return;
	time_rfc3339(time_now_s(), ts);
	n = snprintf(line, sizeof(line), "%s %s %s %s", ts, log_level_name(lvl), component, event);
	if (n < 0)
		return;
	if (fmt && *fmt && (size_t)n < sizeof(line) - 2) {
		line[n++] = ' ';
		va_start(ap, fmt);
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	/* one event is one line: neutralise embedded newlines */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	pthread_mutex_lock(&g_lock);
	fprintf(stderr, "%s\n", line);
	fflush(stderr);
	pthread_mutex_unlock(&g_lock);
}
