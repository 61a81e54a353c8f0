/* store.c - the store interface: the opener by configuration, what every
 * write must be, and dispatch to the backend's operations. */
#include "store_backend.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "json.h"
#include "log.h"
#include "utf8.h"

struct eddy_store *eddy_store_open(const struct eddy_config *conf, char *errstr, size_t errstr_size)
{
	struct eddy_store *s;

	if (conf->store_type && strcmp(conf->store_type, "postgres") == 0) {
		if (!conf->store_dsn || !*conf->store_dsn) {
			eddy_errf(errstr, errstr_size,
			          "store.dsn: required by store.type postgres");
			return NULL;
		}
		s = eddy_store_open_pg(conf->store_dsn, errstr, errstr_size);
	} else {
		s = eddy_store_open_sqlite(conf->store_path,
		                           conf->store_page_kib ? atoi(conf->store_page_kib) : 0,
		                           errstr, errstr_size);
		if (s && conf->store_cache_kib > 0 &&
		    eddy_store_sqlite_cache(s, conf->store_cache_kib, errstr, errstr_size) != 0) {
			eddy_store_destroy(s);
			return NULL;
		}
	}
	if (s && conf->store_max_value_bytes > 0)
		s->max_value = (size_t)conf->store_max_value_bytes;
	return s;
}

void eddy_store_destroy(struct eddy_store *s)
{
	if (s)
		s->ops->destroy(s);
}

int eddy_store_begin(struct eddy_store *s, char *errstr, size_t errstr_size)
{
	return s->ops->begin(s, errstr, errstr_size);
}

int eddy_store_commit(struct eddy_store *s, char *errstr, size_t errstr_size)
{
	return s->ops->commit(s, errstr, errstr_size);
}

int eddy_store_rollback(struct eddy_store *s)
{
	return s->ops->rollback(s);
}

int eddy_store_get(struct eddy_store *s, const char *ns, const char *key, size_t key_len,
                   const char **value, size_t *len, char *errstr, size_t errstr_size)
{
	return s->ops->get(s, ns, key, key_len, value, len, errstr, errstr_size);
}

int eddy_store_upsert(struct eddy_store *s, const char *ns, const char *key, size_t key_len,
                      const char *value, size_t len, const struct eddy_store_origin *origin,
                      char *errstr, size_t errstr_size)
{
	return s->ops->upsert(s, ns, key, key_len, value, len, origin, errstr, errstr_size);
}

int eddy_store_delete(struct eddy_store *s, const char *ns, const char *key, size_t key_len,
                      char *errstr, size_t errstr_size)
{
	return s->ops->del(s, ns, key, key_len, errstr, errstr_size);
}

int eddy_store_outbox_add(struct eddy_store *s, const char *sink, const char *dedupe_key,
                          const char *body, size_t body_len, int64_t now_ms, int64_t window_ms,
                          char *errstr, size_t errstr_size)
{
	return s->ops->outbox_add(s, sink, dedupe_key, body, body_len, now_ms, window_ms, errstr,
	                          errstr_size);
}

int eddy_store_outbox_due(struct eddy_store *s, int64_t now_ms, int max,
                          void (*cb)(void *ud, const struct eddy_outbox_alert *a), void *ud,
                          char *errstr, size_t errstr_size)
{
	return s->ops->outbox_due(s, now_ms, max, cb, ud, errstr, errstr_size);
}

int64_t eddy_store_outbox_pending(struct eddy_store *s, char *errstr, size_t errstr_size)
{
	return s->ops->outbox_pending(s, errstr, errstr_size);
}

int eddy_store_lazy_commits(struct eddy_store *s, char *errstr, size_t errstr_size)
{
	return s->ops->lazy_commits(s, errstr, errstr_size);
}

int eddy_store_outbox_mark(struct eddy_store *s, int64_t id, enum eddy_outbox_state state,
                           int64_t next_attempt_ms, const char *error, char *errstr,
                           size_t errstr_size)
{
	return s->ops->outbox_mark(s, id, state, next_attempt_ms, error, errstr, errstr_size);
}

/* The hex digit c's value, or -1. */
static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Checks that value, JSON text, reads back as it was written: UTF-8
 * throughout (what eddy_json_parse requires: SQLite would keep other bytes
 * but ctx.get could not read them; PostgreSQL refuses them and with them
 * the batch), nested at most EDDY_JSON_MAX_DEPTH deep (the parser's limit),
 * and, where the backend has no NUL character (nul_ok false), no \u0000 in
 * a string. One pass: escapes are followed so that "\\u0000" (a
 * backslash, then u0000) is text, not a NUL. -1 with the reason. */
static int check_value(const struct eddy_store *s, const char *value, size_t len, char *errstr,
                       size_t errstr_size)
{
	const unsigned char *v = (const unsigned char *)value;
	bool in_string = false;
	unsigned depth = 0;
	uint32_t cp;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = v[i];
		if (c >= 0x80) {
			size_t n = eddy_utf8_decode(value + i, len - i, &cp);
			if (!n) {
				eddy_errf(errstr, errstr_size,
				          "value is not UTF-8 text: byte 0x%02x at %zu of its JSON "
				          "(every string must be UTF-8)",
				          c, i);
				return -1;
			}
			i += n - 1;
		} else if (in_string) {
			if (c == '"') {
				in_string = false;
			} else if (c == '\\' && i + 1 < len) {
				if (v[++i] != 'u' || i + 4 >= len || s->ops->nul_ok)
					continue;
				int u = 0;
				for (int k = 1; k <= 4; k++)
					u |= hex_value(v[i + k]);
				if (u == 0) {
					eddy_errf(
					    errstr, errstr_size,
					    "value holds \\u0000, which the %s store cannot keep",
					    s->ops->type);
					return -1;
				}
			}
		} else if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > EDDY_JSON_MAX_DEPTH) {
				eddy_errf(errstr, errstr_size,
				          "value nests deeper than %d, more than eddy reads back",
				          EDDY_JSON_MAX_DEPTH);
				return -1;
			}
		} else if ((c == ']' || c == '}') && depth) {
			depth--;
		}
	}
	return 0;
}

int eddy_store_check_write(struct eddy_store *s, const char *ns, const char *key, size_t key_len,
                           const char *value, size_t len, bool parsed, char *errstr,
                           size_t errstr_size)
{
	if (eddy_store_check_ns(ns, errstr, errstr_size) < 0)
		return -1;
	if (memchr(key, '\0', key_len) || !eddy_utf8_valid(key, key_len)) {
		eddy_errf(errstr, errstr_size, "key must be UTF-8 text without NUL bytes");
		return -1;
	}
	if (value && s->max_value && len > s->max_value) {
		eddy_errf(errstr, errstr_size,
		          "value of %zu bytes is more than store.max_value_bytes (%zu)", len,
		          s->max_value);
		return -1;
	}
	if (!value || (parsed && s->ops->nul_ok))
		return 0;
	return check_value(s, value, len, errstr, errstr_size);
}
