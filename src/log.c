/* log.c - leveled log lines on stderr, as text or as JSON objects. */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "utf8.h"

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

/* Writes s[0..len) for a line: JSON (the body of a JSON string, without
 * quotes: control characters as JSON escapes) or text (control characters
 * as \n, \r, \t or \xHH). Either way a byte that is not part of UTF-8,
 * and the C1 control characters U+0080..U+009F that terminals obey, show as
 * \xHH: a line stays one line, valid JSON, and says what it was given. */
static void put_escaped(FILE *f, const char *s, size_t len, bool json)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	size_t n;

	for (size_t i = 0; i < len; i += n) {
		unsigned char c = p[i];
		n = 1;
		if (c >= 0x80) {
			n = eddy_utf8_decode(s + i, len - i, &cp);
			if (n && cp >= 0xa0) {
				fwrite(s + i, 1, n, f);
				continue;
			}
			/* not UTF-8 (one byte), or C1 (both bytes) */
			n = n ? n : 1;
			for (size_t k = 0; k < n; k++)
				fprintf(f, json ? "\\\\x%02x" : "\\x%02x", p[i + k]);
		} else if (c == '\n') {
			fputs("\\n", f);
		} else if (c == '\r') {
			fputs("\\r", f);
		} else if (c == '\t') {
			fputs("\\t", f);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, json ? "\\u%04x" : "\\x%02x", c);
		} else if (json && (c == '"' || c == '\\')) {
			fprintf(f, "\\%c", c);
		} else {
			fputc(c, f);
		}
	}
}

static void put_json_string(FILE *f, const char *s, size_t len)
{
	put_escaped(f, s, len, true);
}

void eddy_log_put_text(FILE *f, const char *s, size_t len)
{
	put_escaped(f, s, len, false);
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

	/* the line is made in memory and written at once: one write per line
	 * (stderr is unbuffered: a byte at a time otherwise), whole when
	 * threads log too */
	char *line = NULL;
	size_t line_len = 0;
	FILE *f = open_memstream(&line, &line_len);
	if (!f)
		f = stderr;
	if (json_format) {
		fprintf(f, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, level_names[level]);
		put_json_string(f, msg, strlen(msg));
		fputc('"', f);
		if (ctx)
			put_ctx(f, ctx);
		/* the caller's members under a key of their own: none can
		 * stand in for ts, level, msg or the record's */
		if (fields_json && *fields_json == '{')
			fprintf(f, ",\"fields\":%s", fields_json);
		fputs("}\n", f);
	} else {
		fprintf(f, "%s %-5s ", ts, level_names[level]);
		eddy_log_put_text(f, msg, strlen(msg));
		if (fields_json) {
			fputc(' ', f);
			eddy_log_put_text(f, fields_json, strlen(fields_json));
		}
		fputc('\n', f);
	}
	if (f != stderr) {
		if (fclose(f) == 0)
			fwrite(line, 1, line_len, stderr);
		free(line);
	}
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
