/* log.h - leveled log lines on stderr, as text or as JSON objects. */
#ifndef EDDY_LOG_H
#define EDDY_LOG_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

enum eddy_log_level { EDDY_LOG_DEBUG, EDDY_LOG_INFO, EDDY_LOG_WARN, EDDY_LOG_ERROR };

/* Sets the threshold and format ("text" | "json" | "auto": text when
 * stderr is a terminal, else JSON); unknown names leave the setting
 * unchanged and return -1. */
int eddy_log_setup(const char *level, const char *format);
/* Whether lines are JSON objects (fields are then worth adding). */
int eddy_log_json(void);
int eddy_log_enabled(enum eddy_log_level level);

/* Where a line comes from: the record, the handler, the event's
 * correlation id and tenant (len bytes each, not NUL-terminated), a
 * librdkafka facility. Unset: NULL, and -1 for partition and offset. JSON
 * lines carry them as members; text lines say in the message what matters. */
struct eddy_log_ctx {
	const char *topic;
	int32_t partition;
	int64_t offset;
	const char *handler;
	const char *correlation_id, *tenant;
	size_t correlation_id_len, tenant_len;
	const char *facility;
};
#define EDDY_LOG_CTX_NONE ((struct eddy_log_ctx){.partition = -1, .offset = -1})

/* One line: time, level, message, then the context (ctx, may be NULL)
 * and fields_json (a JSON object text, may be NULL): in a JSON line as its
 * member "fields", in a text line after the message. Text lines escape
 * what they show (eddy_log_put_text). */
void eddy_log_at(enum eddy_log_level level, const struct eddy_log_ctx *ctx, const char *fields_json,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define eddy_log_fields(level, fields_json, ...)                                                   \
	eddy_log_at((level), NULL, (fields_json), __VA_ARGS__)
#define eddy_log(level, ...) eddy_log_at((level), NULL, NULL, __VA_ARGS__)

/* Writes s[0..len) to f as text lines show it: control characters as \n,
 * \r, \t or \xHH, bytes that are not UTF-8 and C1 controls as \xHH, so
 * that text from records and handlers cannot start a line of its own or
 * steer a terminal. Every text line eddy writes passes its text here. */
void eddy_log_put_text(FILE *f, const char *s, size_t len);

/* Milliseconds since the epoch, wall clock. */
int64_t eddy_now_ms(void);
/* ms since the epoch as RFC 3339 UTC with milliseconds into out:
 * "2025-01-14T12:30:00.123Z". */
#define EDDY_TIME_LEN 32
void eddy_time_rfc3339(int64_t ms, char out[EDDY_TIME_LEN]);

/* Formats an error message into errstr (the errstr, errstr_size pair every
 * setup call takes); a NULL or empty buffer is left alone. */
void eddy_errf(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
