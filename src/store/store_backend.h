/* store_backend.h - what a store backend provides: the table of operations
 * store.c dispatches through. Only the backends include this. */
#ifndef EDDY_STORE_BACKEND_H
#define EDDY_STORE_BACKEND_H

#include <stdbool.h>

#include "store.h"

/* One function per call of store.h, with its meaning; errstr is never
 * NULL (store.c passes a scratch buffer for the calls without one). */
struct eddy_store_ops {
	const char *type;
	void (*destroy)(struct eddy_store *s);
	int (*begin)(struct eddy_store *s, char *errstr, size_t errstr_size);
	int (*commit)(struct eddy_store *s, char *errstr, size_t errstr_size);
	int (*rollback)(struct eddy_store *s);
	int (*get)(struct eddy_store *s, const char *ns, const char *key, size_t key_len,
	           const char **value, size_t *len, char *errstr, size_t errstr_size);
	int (*upsert)(struct eddy_store *s, const char *ns, const char *key, size_t key_len,
	              const char *value, size_t len, const struct eddy_store_origin *origin,
	              char *errstr, size_t errstr_size);
	int (*del)(struct eddy_store *s, const char *ns, const char *key, size_t key_len,
	           char *errstr, size_t errstr_size);
	int (*outbox_add)(struct eddy_store *s, const char *sink, const char *dedupe_key,
	                  const char *body, size_t body_len, int64_t now_ms, int64_t window_ms,
	                  char *errstr, size_t errstr_size);
	int (*outbox_due)(struct eddy_store *s, int64_t now_ms, int max,
	                  void (*cb)(void *ud, const struct eddy_outbox_alert *a), void *ud,
	                  char *errstr, size_t errstr_size);
	int (*outbox_mark)(struct eddy_store *s, int64_t id, enum eddy_outbox_state state,
	                   int64_t next_attempt_ms, const char *error, char *errstr,
	                   size_t errstr_size);
	int64_t (*outbox_pending)(struct eddy_store *s, char *errstr, size_t errstr_size);
	int (*lazy_commits)(struct eddy_store *s, char *errstr, size_t errstr_size);
	/* whether a JSON string may hold \u0000 (jsonb has no NUL character);
	 * store.c refuses the writes the backend could not keep */
	bool nul_ok;
};

/* The first member of every backend's store, so that a struct eddy_store *
 * is also a pointer to the backend's own struct. */
struct eddy_store {
	const struct eddy_store_ops *ops;
	size_t max_value; /* store.max_value_bytes; 0: only the backend's own limit */
};

/* The outbox's states as both backends store them: readable in a shell. */
static inline const char *eddy_store_outbox_state_name(enum eddy_outbox_state state)
{
	switch (state) {
	case EDDY_OUTBOX_PENDING:
		return "pending";
	case EDDY_OUTBOX_DELIVERED:
		return "delivered";
	case EDDY_OUTBOX_FAILED:
		return "failed";
	}
	return "pending";
}

#endif
