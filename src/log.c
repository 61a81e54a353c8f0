/* log.c - leveled log lines on stderr, as text or as JSON objects. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum eddy_log_level threshold = EDDY_LOG_INFO;
static int json_format;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int eddy_log_setup(const char *level, const char *format)
{
	int rc = 0, found = 0;
	if (level) {
		for (int i = 0; i < 4; i++)
			if (strcmp(level, level_names[i]) == 0) {
				threshold = (enum eddy_log_level)i;
				found = 1;
			}
		if (!found)
			rc = -1;
	}
	if (format) {
		if (strcmp(format, "auto") == 0)
			json_format = !isatty(STDERR_FILENO);
		else if (strcmp(format, "json") == 0)
			json_format = 1;
		else if (strcmp(format, "text") == 0)
			json_format = 0;
		else
			rc = -1;
	}
	return rc;
}

int eddy_log_json(void)
{
	return json_format;
}

int eddy_log_enabled(enum eddy_log_level level)
{
	return level >= threshold;
}

/* Writes s[0..len) as the body of a JSON string (without quotes). */
static void put_json_string(FILE *f, const char *s, size_t len)
{
	for (const unsigned char *p = (const unsigned char *)s; len--; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
}

static void put_member(FILE *f, const char *name, const char *s, size_t len)
{
	fprintf(f, ",\"%s\":\"", name);
	put_json_string(f, s, len);
	fputc('"', f);
}

static void put_ctx(FILE *f, const struct eddy_log_ctx *c)
{
	if (c->topic)
		put_member(f, "topic", c->topic, strlen(c->topic));
	if (c->partition >= 0)
		fprintf(f, ",\"partition\":%d", (int)c->partition);
	if (c->offset >= 0)
		fprintf(f, ",\"offset\":%lld", (long long)c->offset);
	if (c->handler)
		put_member(f, "handler", c->handler, strlen(c->handler));
	if (c->correlation_id)
		put_member(f, "correlation_id", c->correlation_id, c->correlation_id_len);
	if (c->tenant)
		put_member(f, "tenant", c->tenant, c->tenant_len);
	if (c->facility)
		put_member(f, "facility", c->facility, strlen(c->facility));
}

static void vlog(enum eddy_log_level level, const struct eddy_log_ctx *ctx, const char *fields_json,
                 const char *fmt, va_list ap)
{
	char msg[4096], ts[40];

	vsnprintf(msg, sizeof msg, fmt, ap);
	eddy_time_rfc3339(eddy_now_ms(), ts);

	/* one locked write per line keeps lines whole when threads log too */
	flockfile(stderr);
	if (json_format) {
		fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts,
		        level_names[level]);
		put_json_string(stderr, msg, strlen(msg));
		fputc('"', stderr);
		if (ctx)
			put_ctx(stderr, ctx);
		/* splice the fields object's members into the line */
		if (fields_json) {
			const char *b = strchr(fields_json, '{'), *e = strrchr(fields_json, '}');
			if (b && e && e > b + 1)
				fprintf(stderr, ",%.*s", (int)(e - b - 1), b + 1);
		}
		fputs("}\n", stderr);
	} else {
		fprintf(stderr, "%s %-5s %s", ts, level_names[level], msg);
		if (fields_json)
			fprintf(stderr, " %s", fields_json);
		fputc('\n', stderr);
	}
	funlockfile(stderr);
}

void eddy_log_at(enum eddy_log_level level, const struct eddy_log_ctx *ctx, const char *fields_json,
                 const char *fmt, ...)
{
	va_list ap;

	if (level < threshold)
		return;
	va_start(ap, fmt);
	vlog(level, ctx, fields_json, fmt, ap);
	va_end(ap);
}

void eddy_errf(char *errstr, size_t errstr_size, const char *fmt, ...)
{
	va_list ap;
	if (!errstr || !errstr_size)
		return;
	va_start(ap, fmt);
	vsnprintf(errstr, errstr_size, fmt, ap);
	va_end(ap);
}

int64_t eddy_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void eddy_time_rfc3339(int64_t ms, char out[EDDY_TIME_LEN])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(out, EDDY_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, EDDY_TIME_LEN - n, ".%03dZ", (int)(ms % 1000));
}
