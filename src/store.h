/* store.h - where handlers keep state: namespaces of key -> JSON value,
 * written in one transaction per batch. */
#ifndef EDDY_STORE_H
#define EDDY_STORE_H

#include <stddef.h>
#include <stdint.h>

struct eddy_store;

/* Where a write came from, kept beside the value. */
struct eddy_store_origin {
	const char *topic; /* NULL for replayed input without a topic */
	int32_t partition;
	int64_t offset;
};

/* Opens (creating if needed) the SQLite database at path: WAL mode, one
 * table per namespace. Returns NULL with errstr filled on failure. */
struct eddy_store *eddy_store_open_sqlite(const char *path, char *errstr, size_t errstr_size);
void eddy_store_destroy(struct eddy_store *s);

/* Batch transaction. begin fails when one is already open. */
int eddy_store_begin(struct eddy_store *s, char *errstr, size_t errstr_size);
int eddy_store_commit(struct eddy_store *s, char *errstr, size_t errstr_size);
int eddy_store_rollback(struct eddy_store *s);

/* Per-event savepoint inside the batch transaction: release keeps the
 * event's writes, rollback undoes them (the transaction stays open). */
int eddy_store_savepoint(struct eddy_store *s, char *errstr, size_t errstr_size);
int eddy_store_release(struct eddy_store *s, char *errstr, size_t errstr_size);
int eddy_store_rollback_savepoint(struct eddy_store *s, char *errstr, size_t errstr_size);

/* true when ns is a valid namespace name: [A-Za-z_][A-Za-z0-9_]{0,62}, not
 * starting with "sqlite_" (SQLite's own). Names that differ only in ASCII
 * case are one namespace, as they are one SQLite table. */
int eddy_store_ns_valid(const char *ns);

/* Looks key up in namespace ns (a missing namespace is empty). Returns 1
 * and sets *value and *len (borrowed until the next call on s) when found, 0
 * when not, -1 on error. Sees the open transaction's own writes. */
int eddy_store_get(struct eddy_store *s, const char *ns, const char *key, size_t key_len,
		   const char **value, size_t *len, char *errstr, size_t errstr_size);

/* Inserts or replaces key's value (JSON text, stored as is) in ns,
 * creating the namespace's table on first use. */
int eddy_store_upsert(struct eddy_store *s, const char *ns, const char *key, size_t key_len,
		      const char *value, size_t len, const struct eddy_store_origin *origin,
		      char *errstr, size_t errstr_size);

/* Deletes key from ns; deleting what is not there is not an error. */
int eddy_store_delete(struct eddy_store *s, const char *ns, const char *key, size_t key_len,
		      char *errstr, size_t errstr_size);

/* ---- the alert outbox ------------------------------------------------------
 * Alerts are written in the batch transaction, beside the state, so they
 * are durable exactly when the batch's offsets may be committed; a sender
 * (its own store handle, outside batch transactions) delivers them later. */

enum eddy_outbox_state {
	EDDY_OUTBOX_PENDING,   /* to be sent (again) at next_attempt_ms */
	EDDY_OUTBOX_DELIVERED, /* the sink accepted it */
	EDDY_OUTBOX_FAILED,    /* given up: permanent error or too old */
};

struct eddy_outbox_alert {
	int64_t id;
	const char *sink;
	const char *dedupe_key;
	const char *body; /* JSON object of the alert and its event's context */
	size_t body_len;
	int attempts;
	int64_t created_ms, next_attempt_ms;
};

/* In the open batch transaction: adds an alert for sink, unless one with
 * the same dedupe_key was added less than window_ms before now_ms (a replay
 * of the same events, a restart). Returns 0 added, 1 deduplicated, -1
 * error. */
int eddy_store_outbox_add(struct eddy_store *s, const char *sink, const char *dedupe_key,
			  const char *body, size_t body_len, int64_t now_ms, int64_t window_ms,
			  char *errstr, size_t errstr_size);

/* Outside any transaction: calls cb for up to max pending alerts due at
 * now_ms (next_attempt_ms <= now_ms), oldest first; the alert is borrowed
 * for the call. Returns the number seen or -1. */
int eddy_store_outbox_due(struct eddy_store *s, int64_t now_ms, int max,
			  void (*cb)(void *ud, const struct eddy_outbox_alert *a), void *ud,
			  char *errstr, size_t errstr_size);

/* Outside any transaction: records the outcome of an attempt (attempts
 * counted up): delivered, failed for good (error kept), or pending again
 * at next_attempt_ms with the error of this attempt. */
int eddy_store_outbox_mark(struct eddy_store *s, int64_t id, enum eddy_outbox_state state,
			   int64_t next_attempt_ms, const char *error, char *errstr,
			   size_t errstr_size);

#endif
