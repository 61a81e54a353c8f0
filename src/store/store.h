/* store.h - where handlers keep state: namespaces of key -> JSON value,
 * written in one transaction per batch, and the alert outbox beside them.
 * One interface, two backends: SQLite (store_sqlite.c) and PostgreSQL
 * (store_pg.c). */
#ifndef EDDY_STORE_H
#define EDDY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

struct eddy_config;
struct eddy_store;

/* Where a write came from, kept beside the value. */
struct eddy_store_origin {
	const char *topic; /* NULL for replayed input without a topic */
	int32_t partition;
	int64_t offset;
};

/* Opens the store conf names (store.type: sqlite at store.path, postgres
 * at store.dsn). Returns NULL with errstr filled on failure. */
struct eddy_store *eddy_store_open(const struct eddy_config *conf, char *errstr,
                                   size_t errstr_size);

/* Opens (creating if needed) the SQLite database at path: WAL mode, one
 * table per namespace, a page cache of store.cache_kib's default. A new
 * database gets pages of page_kib KiB (a power of two up to 64; 0:
 * store.page_kib's default); an existing one keeps its own. Returns NULL
 * with errstr filled on failure. */
struct eddy_store *eddy_store_open_sqlite(const char *path, int page_kib, char *errstr,
                                          size_t errstr_size);
/* Sets the page cache of a SQLite store's connection, in KiB. Returns 0, or
 * -1 with errstr filled. */
int eddy_store_sqlite_cache(struct eddy_store *s, int kib, char *errstr, size_t errstr_size);

/* Connects to PostgreSQL with a libpq connection string or URI: one table
 * per namespace in the connection's current schema. Returns NULL with
 * errstr filled when the server cannot be reached at start-up; a
 * connection lost later is made again by the next begin. */
struct eddy_store *eddy_store_open_pg(const char *dsn, char *errstr, size_t errstr_size);

/* An open transaction is rolled back: closing is not committing. */
void eddy_store_destroy(struct eddy_store *s);

/* "sqlite" or "postgres". */

/* Batch transaction. begin fails when one is already open. A failed
 * commit rolls back: the store is ready for the next begin either way, and
 * the caller handles the batch again. */
int eddy_store_begin(struct eddy_store *s, char *errstr, size_t errstr_size);
int eddy_store_commit(struct eddy_store *s, char *errstr, size_t errstr_size);
/* Nothing to roll back is not an error: cleanup paths call it always. */
int eddy_store_rollback(struct eddy_store *s);

/* The longest namespace name. */
#define EDDY_STORE_NS_MAX 63

/* true when ns is a valid namespace name: [A-Za-z_][A-Za-z0-9_]{0,62}, not
 * starting with "sqlite_" (SQLite's own) or "eddy_" (the store's own
 * tables, such as eddy_outbox). Names that differ only in ASCII case are
 * one namespace, as they are one SQLite table; PostgreSQL tables are named
 * by the lower-case spelling. Inline: the backends check names too (they
 * make table names of them), and they do not call back into store.c. */
static inline int eddy_store_ns_valid(const char *ns)
{
	static const char *const reserved[] = {"sqlite_", "eddy_"};
	size_t i;

	if (!ns)
		return 0;
	for (i = 0; ns[i]; i++) {
		char c = ns[i];
		int alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
		if (i >= EDDY_STORE_NS_MAX || !(alpha || (i > 0 && c >= '0' && c <= '9')))
			return 0;
	}
	if (i == 0)
		return 0;
	/* SQLite refuses to create tables with the first; the second names
	 * the store's own tables */
	for (size_t r = 0; r < 2; r++) {
		const char *p = reserved[r];
		for (i = 0; p[i]; i++) {
			char c = ns[i] >= 'A' && ns[i] <= 'Z' ? (char)(ns[i] - 'A' + 'a') : ns[i];
			if (c != p[i])
				break;
		}
		if (!p[i])
			return 0;
	}
	return 1;
}

/* The same as a message for the handler that named ns: "invalid namespace
 * ..." with the rule, in errstr, and -1 when ns is not valid, else 0. */
static inline int eddy_store_check_ns(const char *ns, char *errstr, size_t errstr_size)
{
	char shown[EDDY_STORE_NS_MAX + 2];
	size_t i;

	if (eddy_store_ns_valid(ns))
		return 0;
	/* the name comes from a handler: one short printable line */
	for (i = 0; ns && ns[i] && i + 1 < sizeof(shown); i++)
		shown[i] = (ns[i] >= 0x20 && ns[i] < 0x7f) ? ns[i] : '?';
	shown[i] = '\0';
	eddy_errf(errstr, errstr_size,
	          "invalid namespace \"%s\": want [A-Za-z_][A-Za-z0-9_]{0,62}, not starting "
	          "with sqlite_ or eddy_",
	          shown);
	return -1;
}

/* 0 when the store can keep a write of key and value (NULL for a delete)
 * in namespace ns; else -1 with the reason: a write the store refuses
 * outright fails its event (retrying cannot help), where a store error
 * holds the batch back. parsed: value is text eddy's JSON parser read (an
 * event's data passed on unchanged), so its UTF-8 and nesting are known
 * good and only what the backend cannot keep is looked for. */
int eddy_store_check_write(struct eddy_store *s, const char *ns, const char *key, size_t key_len,
                           const char *value, size_t len, bool parsed, char *errstr,
                           size_t errstr_size);

/* Looks key up in namespace ns (a missing namespace is empty). Returns 1
 * and sets *value and *len (borrowed until the next call on s) when found, 0
 * when not, -1 on error. Sees the open transaction's own writes. The value
 * is valid JSON: SQLite gives the text as stored, PostgreSQL its jsonb
 * form of it (see eddy_store_upsert). */
int eddy_store_get(struct eddy_store *s, const char *ns, const char *key, size_t key_len,
                   const char **value, size_t *len, char *errstr, size_t errstr_size);

/* Inserts or replaces key's value (JSON text) in ns, creating the
 * namespace's table on first use. SQLite stores the text as is;
 * PostgreSQL stores jsonb, which normalizes it: whitespace, object keys
 * sorted (shorter first) with the last of duplicate keys kept, \u escapes
 * of printable characters decoded, numbers in exponent form written out
 * (1e3 -> 1000; 312.0 stays 312.0). PostgreSQL also refuses keys with a NUL
 * byte or invalid UTF-8, and \u0000 in a value. */
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
 * the same dedupe_key (whatever its sink and state: name the sink in the
 * key when one alert goes to several) was added less than window_ms before
 * now_ms (a replay of the same events, a restart). Rolled back with the
 * batch. The body is stored as given. Returns 0 added, 1 deduplicated, -1
 * error. */
int eddy_store_outbox_add(struct eddy_store *s, const char *sink, const char *dedupe_key,
                          const char *body, size_t body_len, int64_t now_ms, int64_t window_ms,
                          char *errstr, size_t errstr_size);

/* Outside any transaction (the sender's own handle, while the consumer's
 * holds a batch open): calls cb for up to max pending alerts due at now_ms
 * (next_attempt_ms <= now_ms), oldest (first added) first; the alert is
 * borrowed for the call. The alerts are read before the first call, so cb
 * may mark them on the same store. Returns the number seen or -1. */
int eddy_store_outbox_due(struct eddy_store *s, int64_t now_ms, int max,
                          void (*cb)(void *ud, const struct eddy_outbox_alert *a), void *ud,
                          char *errstr, size_t errstr_size);

/* Outside any transaction: the number of alerts still pending, due now or
 * later (in backoff); 0 when no alert was ever added, -1 with errstr
 * filled. */
int64_t eddy_store_outbox_pending(struct eddy_store *s, char *errstr, size_t errstr_size);

/* For the alert sender's own handle, outside any transaction: commits on s
 * stop waiting for the disk (SQLite synchronous=NORMAL, PostgreSQL
 * synchronous_commit off, kept across reconnects). A crash of the machine
 * or of the database server, not of eddy, may then undo the last of them,
 * never corrupt the store. Right for the outbox's outcomes only: an undone
 * outcome sends its alert again, which receivers drop by its webhook-id,
 * whereas a flush per outcome bounds the sender to the disk's flushes per
 * second (30 a second on a disk that takes 30 ms for one). Returns 0 or -1
 * with errstr filled. */
int eddy_store_lazy_commits(struct eddy_store *s, char *errstr, size_t errstr_size);

/* Outside any transaction: records the outcome of an attempt (attempts
 * counted up): delivered, failed for good (error kept), or pending again
 * at next_attempt_ms with the error of this attempt (error may be NULL).
 * An unknown id is an error. */
int eddy_store_outbox_mark(struct eddy_store *s, int64_t id, enum eddy_outbox_state state,
                           int64_t next_attempt_ms, const char *error, char *errstr,
                           size_t errstr_size);

#endif
