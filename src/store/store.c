/* store.c - the store interface: the opener by configuration, what every
 * write must be, and dispatch to the backend's operations. */
#include "store_backend.h"

#include <string.h>

#include "config.h"
#include "log.h"
#include "utf8.h"

struct eddy_store *eddy_store_open(const struct eddy_config *conf, char *errstr, size_t errstr_size)
{
	if (conf->store_type && strcmp(conf->store_type, "postgres") == 0) {
		if (!conf->store_dsn || !*conf->store_dsn) {
			eddy_errf(errstr, errstr_size,
			          "store.dsn: required by store.type postgres");
			return NULL;
		}
		return eddy_store_open_pg(conf->store_dsn, errstr, errstr_size);
	}
	return eddy_store_open_sqlite(conf->store_path, errstr, errstr_size);
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

int eddy_store_check_write(struct eddy_store *s, const char *ns, const char *key, size_t key_len,
                           const char *value, size_t len, char *errstr, size_t errstr_size)
{
	if (eddy_store_check_ns(ns, errstr, errstr_size) < 0)
		return -1;
	if (memchr(key, '\0', key_len) || !eddy_utf8_valid(key, key_len)) {
		eddy_errf(errstr, errstr_size, "key must be UTF-8 text without NUL bytes");
		return -1;
	}
	return value && s->ops->check_value ? s->ops->check_value(value, len, errstr, errstr_size)
	                                    : 0;
}
