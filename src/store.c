/* store.c - the store interface: namespace rules shared by the backends,
 * the opener by configuration, and dispatch to the backend's operations. */
#include "store_backend.h"

#include <string.h>

#include "config.h"
#include "log.h"

#define NS_MAX 63

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

/* true when ns starts with prefix, ignoring ASCII case */
static int has_prefix(const char *ns, const char *prefix)
{
	size_t i;

	for (i = 0; prefix[i]; i++)
		if (lower((unsigned char)ns[i]) != prefix[i])
			return 0;
	return 1;
}

int eddy_store_ns_valid(const char *ns)
{
	size_t i;

	if (!ns || !is_alpha(ns[0]))
		return 0;
	for (i = 1; ns[i]; i++)
		if (i >= NS_MAX || !(is_alpha(ns[i]) || (ns[i] >= '0' && ns[i] <= '9')))
			return 0;
	/* SQLite refuses to create tables with the first; the second names
	 * the store's own tables */
	return !has_prefix(ns, "sqlite_") && !has_prefix(ns, "eddy_");
}

int eddy_store_check_ns(const char *ns, char *errstr, size_t errstr_size)
{
	char shown[NS_MAX + 2];
	size_t i;

	if (eddy_store_ns_valid(ns))
		return 0;
	for (i = 0; ns && ns[i] && i + 1 < sizeof(shown); i++)
		shown[i] = (ns[i] >= 0x20 && ns[i] < 0x7f) ? ns[i] : '?';
	shown[i] = '\0';
	eddy_errf(errstr, errstr_size,
	          "invalid namespace \"%s\": want [A-Za-z_][A-Za-z0-9_]{0,62}, not starting "
	          "with sqlite_ or eddy_",
	          shown);
	return -1;
}

const char *eddy_store_outbox_state_name(enum eddy_outbox_state state)
{
	switch (state) {
	case EDDY_OUTBOX_PENDING:
		return "pending";
	case EDDY_OUTBOX_DELIVERED:
		return "delivered";
	case EDDY_OUTBOX_FAILED:
		return "failed";
	}
	return "unknown";
}

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

const char *eddy_store_type(const struct eddy_store *s)
{
	return s->ops->type;
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
