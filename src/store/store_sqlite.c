/* store_sqlite.c - the store on one SQLite file: a table per namespace,
 * statements prepared once per namespace, WAL with synchronous=FULL, and
 * the alert outbox in the table eddy_outbox. */
#include "store_backend.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#define NS_MAX 63
#define BUSY_TIMEOUT_MS 5000
#define CACHE_KIB "8192" /* store.cache_kib's default */
#define PAGE_KIB 4       /* store.page_kib's default */
#define CHECKPOINT_BYTES (40 << 20)

/* Where a namespace's table came from, so that undoing a transaction also
 * forgets the statements prepared against a table it dropped. */
enum created {
	CREATED_BEFORE, /* existed when first seen, or created and committed */
	CREATED_TXN,    /* created by the open transaction */
};

/* A namespace whose table exists, with its statements ready. */
struct ns {
	char name[NS_MAX + 1];
	enum created created;
	sqlite3_stmt *get;
	sqlite3_stmt *upsert;
	sqlite3_stmt *del;
};

struct store {
	struct eddy_store base; /* first: the interface's view of it */
	sqlite3 *db;
	int in_txn;
	/* the get statement whose row the caller still borrows: reset at the
	 * start of the next call, not before, so the value stays valid */
	sqlite3_stmt *pending;
	/* a value read outside a transaction, copied so that its statement
	 * is reset at once: a reader beside a writer (store_batch.c's) must
	 * not hold a WAL snapshot between its reads */
	char *copy;
	size_t copy_cap;
	sqlite3_stmt *begin, *commit, *rollback;
	sqlite3_stmt *table_exists;
	/* the outbox's statements, prepared once its table exists: the first
	 * alert creates it (in its batch), so that opening writes nothing */
	sqlite3_stmt *ob_seen, *ob_add, *ob_due, *ob_mark, *ob_pending;
	int ob_ready;
	enum created ob_created;
	/* sorted by ns_cmp; few namespaces, so a sorted array beats a hash */
	struct ns *ns;
	size_t n_ns, cap_ns;
	/* updated_at up to the seconds, rebuilt only when the second changes */
	time_t stamp_sec;
	char stamp[32];
};

/* "sqlite: <what>[ <ns>]: <SQLite's message>", for every failure SQLite
 * reports. */
static void db_fail(struct store *s, const char *what, const char *ns, char *errstr,
                    size_t errstr_size)
{
	eddy_errf(errstr, errstr_size, "sqlite: %s%s%s: %s", what, ns ? " " : "", ns ? ns : "",
	          sqlite3_errmsg(s->db));
}

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* SQLite folds ASCII case in table names ("Orders" and "orders" are one
 * table), so the cache folds it too: one table, one entry. */
static int ns_cmp(const char *a, const char *b)
{
	while (*a && lower((unsigned char)*a) == lower((unsigned char)*b)) {
		a++;
		b++;
	}
	return lower((unsigned char)*a) - lower((unsigned char)*b);
}

/* mkdir -p of path's directory, so a fresh deployment needs no setup. */
static int make_parent(const char *path, char *errstr, size_t errstr_size)
{
	char *dir = strdup(path);
	char *slash, *p;

	if (!dir) {
		eddy_errf(errstr, errstr_size, "sqlite: out of memory");
		return -1;
	}
	slash = strrchr(dir, '/');
	if (!slash || slash == dir) {
		free(dir);
		return 0;
	}
	*slash = '\0';
	for (p = dir + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
			eddy_errf(errstr, errstr_size, "sqlite: mkdir %s: %s", dir,
			          strerror(errno));
			free(dir);
			return -1;
		}
		*p = c;
		if (!c)
			break;
	}
	free(dir);
	return 0;
}

static int prepare(struct store *s, const char *sql, sqlite3_stmt **st, const char *what,
                   const char *ns, char *errstr, size_t errstr_size)
{
	/* PERSISTENT: these live as long as the store, keep them out of
	 * SQLite's short-term lookaside memory */
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK)
		return 0;
	db_fail(s, what, ns, errstr, errstr_size);
	return -1;
}

/* Ends a statement that returns no row (or a lookup that found nothing):
 * rc is its step's result, or a failed bind's. The message is taken before
 * the reset so that it is the step's own; clearing the bindings drops the
 * pointers to the caller's key and value. */
static int finish(struct store *s, sqlite3_stmt *st, int rc, const char *what, const char *ns,
                  char *errstr, size_t errstr_size)
{
	if (rc != SQLITE_DONE)
		db_fail(s, what, ns, errstr, errstr_size);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int run(struct store *s, sqlite3_stmt *st, const char *what, char *errstr,
               size_t errstr_size)
{
	return finish(s, st, sqlite3_step(st), what, NULL, errstr, errstr_size);
}

/* Ends the borrow of the last get's value: every call on the store starts
 * here. Clearing the bindings drops the pointer to the caller's key. */
static void settle(struct store *s)
{
	if (!s->pending)
		return;
	sqlite3_reset(s->pending);
	sqlite3_clear_bindings(s->pending);
	s->pending = NULL;
}

static void ns_drop(struct store *s, size_t i)
{
	struct ns *n = &s->ns[i];

	sqlite3_finalize(n->get);
	sqlite3_finalize(n->upsert);
	sqlite3_finalize(n->del);
	memmove(n, n + 1, (s->n_ns - i - 1) * sizeof(*n));
	s->n_ns--;
}

/* Forgets the namespaces whose table was created at level or deeper: an
 * undone CREATE TABLE takes the table, and their statements, away. */
static void ns_forget(struct store *s, enum created level)
{
	size_t i = 0;

	while (i < s->n_ns) {
		if (s->ns[i].created >= level)
			ns_drop(s, i);
		else
			i++;
	}
}

static void ns_promote(struct store *s, enum created from, enum created to)
{
	size_t i;

	for (i = 0; i < s->n_ns; i++)
		if (s->ns[i].created == from)
			s->ns[i].created = to;
}

/* Index of ns in the cache, or -1 with *pos where it would go. */
static long ns_find(const struct store *s, const char *ns, size_t *pos)
{
	size_t lo = 0, hi = s->n_ns;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = ns_cmp(ns, s->ns[mid].name);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*pos = lo;
	return -1;
}

static int table_exists(struct store *s, const char *ns, char *errstr, size_t errstr_size)
{
	sqlite3_stmt *st = s->table_exists;
	int rc;

	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		finish(s, st, SQLITE_DONE, NULL, NULL, NULL, 0);
		return 1;
	}
	return finish(s, st, rc, "looking up table", ns, errstr, errstr_size);
}

/* Finds ns's cache entry, preparing it on first use. With create, a
 * missing table is created (inside the open transaction, if any); without,
 * a missing table yields 0 and leaves the database as it was. Returns 1
 * with *out set, 0, or -1 with errstr filled. *out is valid until the next
 * change to the cache. */
static int ns_get(struct store *s, const char *ns, int create, struct ns **out, char *errstr,
                  size_t errstr_size)
{
	char sql[512];
	struct ns n = {0};
	size_t pos = 0;
	long i;
	int exists;

	if (!ns)
		return eddy_store_check_ns(ns, errstr, errstr_size);
	i = ns_find(s, ns, &pos);
	if (i >= 0) {
		*out = &s->ns[i];
		return 1;
	}
	if (eddy_store_check_ns(ns, errstr, errstr_size) < 0)
		return -1;
	exists = table_exists(s, ns, errstr, errstr_size);
	if (exists < 0)
		return -1;
	if (!exists && !create)
		return 0;
	if (!exists) {
		char *msg = NULL;

		snprintf(sql, sizeof(sql),
		         "CREATE TABLE IF NOT EXISTS \"%s\" (key TEXT PRIMARY KEY, value TEXT NOT "
		         "NULL, updated_at TEXT NOT NULL, topic TEXT, \"partition\" INTEGER, "
		         "\"offset\" INTEGER)",
		         ns);
		if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
			eddy_errf(errstr, errstr_size, "sqlite: create table %s: %s", ns,
			          msg ? msg : sqlite3_errmsg(s->db));
			sqlite3_free(msg);
			return -1;
		}
		n.created = s->in_txn ? CREATED_TXN : CREATED_BEFORE;
	}
	strcpy(n.name, ns);

	snprintf(sql, sizeof(sql), "SELECT value FROM \"%s\" WHERE key = ?1", ns);
	if (prepare(s, sql, &n.get, "get from", ns, errstr, errstr_size) < 0)
		goto err;
	snprintf(sql, sizeof(sql),
	         "INSERT INTO \"%s\" (key, value, updated_at, topic, \"partition\", \"offset\") "
	         "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(key) DO UPDATE SET "
	         "value = excluded.value, updated_at = excluded.updated_at, "
	         "topic = excluded.topic, \"partition\" = excluded.\"partition\", "
	         "\"offset\" = excluded.\"offset\"",
	         ns);
	if (prepare(s, sql, &n.upsert, "upsert into", ns, errstr, errstr_size) < 0)
		goto err;
	snprintf(sql, sizeof(sql), "DELETE FROM \"%s\" WHERE key = ?1", ns);
	if (prepare(s, sql, &n.del, "delete from", ns, errstr, errstr_size) < 0)
		goto err;

	if (s->n_ns == s->cap_ns) {
		size_t cap = s->cap_ns ? s->cap_ns * 2 : 8;
		struct ns *grown = realloc(s->ns, cap * sizeof(*grown));

		if (!grown) {
			eddy_errf(errstr, errstr_size, "sqlite: out of memory");
			goto err;
		}
		s->ns = grown;
		s->cap_ns = cap;
	}
	memmove(&s->ns[pos + 1], &s->ns[pos], (s->n_ns - pos) * sizeof(n));
	s->ns[pos] = n;
	s->n_ns++;
	*out = &s->ns[pos];
	return 1;

err:
	/* a table created above stays: the transaction it belongs to decides */
	sqlite3_finalize(n.get);
	sqlite3_finalize(n.upsert);
	sqlite3_finalize(n.del);
	return -1;
}

/* SQLite rolls a transaction back by itself after some errors (disk full,
 * I/O error); writing on would then autocommit each write, outside the
 * batch the offsets describe. */
static int check_txn(struct store *s, const char *what, char *errstr, size_t errstr_size)
{
	if (!s->in_txn || !sqlite3_get_autocommit(s->db))
		return 0;
	eddy_errf(errstr, errstr_size, "sqlite: %s: the transaction was rolled back after an error",
	          what);
	return -1;
}

/* Updates the cached timestamp: ISO 8601 UTC with milliseconds, what a
 * person reading the table with the sqlite3 shell expects. */
static const char *stamp(struct store *s)
{
	struct timespec ts;
	int ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != s->stamp_sec) {
		struct tm tm;

		gmtime_r(&ts.tv_sec, &tm);
		strftime(s->stamp, sizeof(s->stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		s->stamp_sec = ts.tv_sec;
	}
	ms = (int)(ts.tv_nsec / 1000000);
	s->stamp[19] = '.';
	s->stamp[20] = (char)('0' + ms / 100);
	s->stamp[21] = (char)('0' + ms / 10 % 10);
	s->stamp[22] = (char)('0' + ms % 10);
	s->stamp[23] = 'Z';
	s->stamp[24] = '\0';
	return s->stamp;
}

/* The outbox table and its indexes: the dedupe lookup by key and time,
 * and the pending alerts in the order they were added. */
static const char outbox_schema[] =
    "CREATE TABLE IF NOT EXISTS eddy_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "sink TEXT NOT NULL, dedupe_key TEXT NOT NULL, body TEXT NOT NULL, "
    "created_ms INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL, "
    "attempts INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL DEFAULT 'pending', error TEXT);"
    "CREATE INDEX IF NOT EXISTS eddy_outbox_dedupe ON eddy_outbox (dedupe_key, created_ms);"
    "CREATE INDEX IF NOT EXISTS eddy_outbox_pending ON eddy_outbox (id) "
    "WHERE state = 'pending'";

static void outbox_forget(struct store *s)
{
	sqlite3_finalize(s->ob_seen);
	sqlite3_finalize(s->ob_add);
	sqlite3_finalize(s->ob_due);
	sqlite3_finalize(s->ob_mark);
	sqlite3_finalize(s->ob_pending);
	s->ob_seen = s->ob_add = s->ob_due = s->ob_mark = s->ob_pending = NULL;
	s->ob_ready = 0;
}

/* Prepares the outbox's statements, creating its table first when create
 * is set (inside the open transaction: undone with it). Returns 1 ready,
 * 0 no table yet (without create), -1 with errstr filled. */
static int outbox_ready(struct store *s, int create, char *errstr, size_t errstr_size)
{
	int exists;

	if (s->ob_ready)
		return 1;
	exists = table_exists(s, "eddy_outbox", errstr, errstr_size);
	if (exists < 0)
		return -1;
	if (!exists && !create)
		return 0;
	if (!exists) {
		char *msg = NULL;

		if (sqlite3_exec(s->db, outbox_schema, NULL, NULL, &msg) != SQLITE_OK) {
			eddy_errf(errstr, errstr_size, "sqlite: creating eddy_outbox: %s",
			          msg ? msg : sqlite3_errmsg(s->db));
			sqlite3_free(msg);
			return -1;
		}
	}
	s->ob_created = !exists && s->in_txn ? CREATED_TXN : CREATED_BEFORE;
	if (prepare(s,
	            "SELECT 1 FROM eddy_outbox WHERE dedupe_key = ?1 AND created_ms > ?2 LIMIT 1",
	            &s->ob_seen, "outbox", NULL, errstr, errstr_size) < 0 ||
	    prepare(s,
	            "INSERT INTO eddy_outbox (sink, dedupe_key, body, created_ms, next_attempt_ms) "
	            "VALUES (?1, ?2, ?3, ?4, ?4)",
	            &s->ob_add, "outbox", NULL, errstr, errstr_size) < 0 ||
	    prepare(s,
	            "SELECT id, sink, dedupe_key, body, attempts, created_ms, next_attempt_ms "
	            "FROM eddy_outbox WHERE state = 'pending' AND next_attempt_ms <= ?1 "
	            "ORDER BY id LIMIT ?2",
	            &s->ob_due, "outbox", NULL, errstr, errstr_size) < 0 ||
	    prepare(s,
	            "UPDATE eddy_outbox SET state = ?2, next_attempt_ms = ?3, "
	            "attempts = attempts + 1, error = ?4 WHERE id = ?1",
	            &s->ob_mark, "outbox", NULL, errstr, errstr_size) < 0 ||
	    prepare(s, "SELECT count(*) FROM eddy_outbox WHERE state = 'pending'", &s->ob_pending,
	            "outbox", NULL, errstr, errstr_size) < 0) {
		outbox_forget(s);
		return -1;
	}
	s->ob_ready = 1;
	return 1;
}

static const struct eddy_store_ops sqlite_ops;
static void store_destroy(struct eddy_store *base);

struct eddy_store *eddy_store_open_sqlite(const char *path, int page_kib, char *errstr,
                                          size_t errstr_size)
{
	struct store *s = NULL;
	sqlite3_stmt *st = NULL;
	const char *mode;
	int rc;

	if (!path || !*path) {
		eddy_errf(errstr, errstr_size, "sqlite: no database path");
		return NULL;
	}
	if (make_parent(path, errstr, errstr_size) < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		eddy_errf(errstr, errstr_size, "sqlite: out of memory");
		return NULL;
	}
	s->base.ops = &sqlite_ops;
	s->stamp_sec = (time_t)-1;

	/* NOMUTEX: a store belongs to one thread, its locks would be waste */
	rc = sqlite3_open_v2(
	    path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		eddy_errf(errstr, errstr_size, "sqlite: %s: %s", path,
		          s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto err;
	}
	/* another connection (the alert sender's, a person with the sqlite3
	 * shell) may hold the write lock for a moment: wait rather than fail */
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);

	/* The first statements read the file: "file is not a database" shows
	 * up here. A new database gets pages of page_kib (an existing one keeps
	 * its own). Bigger pages make fewer WAL writes for the records of a big
	 * batch, but a small batch writes a whole page for each record it
	 * changes (bench/results.md, 2026-12-06: 16 KiB pages 6 % faster than 4
	 * catching up over 20,000 keys, 25 % over 250,000; 3.3 times the bytes
	 * written at a steady 10,000 records/s). */
	char pragma[64];
	snprintf(pragma, sizeof pragma, "PRAGMA page_size=%d",
	         (page_kib > 0 ? page_kib : PAGE_KIB) * 1024);
	if (sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(s, path, NULL, errstr, errstr_size);
		goto err;
	}
	if (prepare(s, "PRAGMA journal_mode=WAL", &st, path, NULL, errstr, errstr_size) < 0)
		goto err;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		db_fail(s, path, NULL, errstr, errstr_size);
		goto err;
	}
	mode = (const char *)sqlite3_column_text(st, 0);
	if (!mode || strcmp(mode, "wal") != 0) {
		eddy_errf(errstr, errstr_size, "sqlite: %s: cannot use WAL (journal mode is %s)",
		          path, mode ? mode : "unknown");
		goto err;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* offsets are committed to Kafka after the transaction: with NORMAL
	 * a power cut could lose a batch whose offsets are already gone */
	if (sqlite3_exec(s->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(s, path, NULL, errstr, errstr_size);
		goto err;
	}
	/* Batches of scattered keys dirty a page per write: a cache that holds
	 * the working set saves re-reading pages (bench/store_bench.c, 20,000
	 * keys: 2 MiB 52k upserts/s, 8 MiB 64k, 64 MiB 67k), and checkpointing
	 * every 40 MiB of WAL instead of SQLite's 1000 pages writes a page
	 * rewritten by many batches to the database once. */
	if (sqlite3_exec(s->db, "PRAGMA cache_size=-" CACHE_KIB, NULL, NULL, NULL) != SQLITE_OK ||
	    prepare(s, "PRAGMA page_size", &st, path, NULL, errstr, errstr_size) < 0) {
		db_fail(s, path, NULL, errstr, errstr_size);
		goto err;
	}
	int page = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	st = NULL;
	snprintf(pragma, sizeof pragma, "PRAGMA wal_autocheckpoint=%d",
	         CHECKPOINT_BYTES / (page > 0 ? page : 4096));
	if (sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(s, path, NULL, errstr, errstr_size);
		goto err;
	}

	if (prepare(s, "BEGIN IMMEDIATE", &s->begin, "begin", NULL, errstr, errstr_size) < 0 ||
	    prepare(s, "COMMIT", &s->commit, "commit", NULL, errstr, errstr_size) < 0 ||
	    prepare(s, "ROLLBACK", &s->rollback, "rollback", NULL, errstr, errstr_size) < 0 ||
	    prepare(s,
	            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
	            &s->table_exists, "schema", NULL, errstr, errstr_size) < 0)
		goto err;
	return &s->base;

err:
	sqlite3_finalize(st);
	store_destroy(&s->base);
	return NULL;
}

static void store_destroy(struct eddy_store *base)
{
	struct store *s = (struct store *)base;

	while (s->n_ns)
		ns_drop(s, s->n_ns - 1);
	free(s->ns);
	sqlite3_finalize(s->begin);
	sqlite3_finalize(s->commit);
	sqlite3_finalize(s->rollback);
	sqlite3_finalize(s->table_exists);
	outbox_forget(s);
	sqlite3_close_v2(s->db);
	free(s->copy);
	free(s);
}

/* Leaves the store outside any transaction, whatever SQLite did. */
static void end_txn(struct store *s, int committed)
{
	if (committed) {
		ns_promote(s, CREATED_TXN, CREATED_BEFORE);
		s->ob_created = CREATED_BEFORE;
	} else {
		ns_forget(s, CREATED_TXN);
		if (s->ob_ready && s->ob_created == CREATED_TXN)
			outbox_forget(s);
	}
	s->in_txn = 0;
}

static int store_begin(struct eddy_store *base, char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;

	settle(s);
	if (s->in_txn || !sqlite3_get_autocommit(s->db)) {
		eddy_errf(errstr, errstr_size, "sqlite: begin: a transaction is already open");
		return -1;
	}
	if (run(s, s->begin, "begin", errstr, errstr_size) < 0)
		return -1;
	s->in_txn = 1;
	return 0;
}

static int store_commit(struct eddy_store *base, char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;

	settle(s);
	if (!s->in_txn) {
		eddy_errf(errstr, errstr_size, "sqlite: commit: no transaction open");
		return -1;
	}
	if (check_txn(s, "commit", errstr, errstr_size) < 0) {
		end_txn(s, 0);
		return -1;
	}
	if (run(s, s->commit, "commit", errstr, errstr_size) < 0) {
		if (!sqlite3_get_autocommit(s->db))
			run(s, s->rollback, "rollback", NULL, 0);
		end_txn(s, 0);
		return -1;
	}
	end_txn(s, 1);
	return 0;
}

static int store_rollback(struct eddy_store *base)
{
	struct store *s = (struct store *)base;
	int rc = 0;

	settle(s);
	if (!sqlite3_get_autocommit(s->db))
		rc = run(s, s->rollback, "rollback", NULL, 0);
	end_txn(s, 0);
	return rc;
}

/* Binds are STATIC: the step that follows is the only reader, and finish
 * or settle clears them before the caller's buffers can go. */
static int bind_key(sqlite3_stmt *st, const char *key, size_t key_len)
{
	return sqlite3_bind_text64(st, 1, key ? key : "", key_len, SQLITE_STATIC, SQLITE_UTF8);
}

static int store_get(struct eddy_store *base, const char *ns, const char *key, size_t key_len,
                     const char **value, size_t *len, char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;
	struct ns *n;
	int rc;

	settle(s);
	rc = ns_get(s, ns, 0, &n, errstr, errstr_size);
	if (rc <= 0)
		return rc;
	rc = bind_key(n->get, key, key_len);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(n->get);
	if (rc != SQLITE_ROW)
		return finish(s, n->get, rc, "get from", ns, errstr, errstr_size);
	/* text before bytes: the order SQLite documents for a stable length */
	*value = (const char *)sqlite3_column_text(n->get, 0);
	*len = (size_t)sqlite3_column_bytes(n->get, 0);
	if (!*value) {
		eddy_errf(errstr, errstr_size, "sqlite: get from %s: %s", ns,
		          sqlite3_column_type(n->get, 0) == SQLITE_NULL ? "value is NULL"
		                                                        : "out of memory");
		finish(s, n->get, SQLITE_DONE, NULL, NULL, NULL, 0);
		return -1;
	}
	s->pending = n->get;
	if (!s->in_txn) {
		if (*len + 1 > s->copy_cap) {
			char *c = realloc(s->copy, *len + 1);
			if (!c) {
				settle(s);
				eddy_errf(errstr, errstr_size, "sqlite: get from %s: out of memory",
				          ns);
				return -1;
			}
			s->copy = c;
			s->copy_cap = *len + 1;
		}
		memcpy(s->copy, *value, *len + 1);
		*value = s->copy;
		settle(s);
	}
	return 1;
}

static int store_upsert(struct eddy_store *base, const char *ns, const char *key, size_t key_len,
                        const char *value, size_t len, const struct eddy_store_origin *origin,
                        char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;
	sqlite3_stmt *st;
	struct ns *n;
	int rc;

	settle(s);
	if (check_txn(s, "upsert", errstr, errstr_size) < 0)
		return -1;
	if (ns_get(s, ns, 1, &n, errstr, errstr_size) < 0)
		return -1;
	st = n->upsert;
	rc = bind_key(st, key, key_len);
	if (rc == SQLITE_OK)
		rc =
		    sqlite3_bind_text64(st, 2, value ? value : "", len, SQLITE_STATIC, SQLITE_UTF8);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 3, stamp(s), 24, SQLITE_STATIC);
		if (origin) {
			if (origin->topic)
				sqlite3_bind_text(st, 4, origin->topic, -1, SQLITE_STATIC);
			sqlite3_bind_int(st, 5, origin->partition);
			sqlite3_bind_int64(st, 6, origin->offset);
		}
		rc = sqlite3_step(st);
	}
	return finish(s, st, rc, "upsert into", ns, errstr, errstr_size);
}

static int store_delete(struct eddy_store *base, const char *ns, const char *key, size_t key_len,
                        char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;
	struct ns *n;
	int rc;

	settle(s);
	if (check_txn(s, "delete", errstr, errstr_size) < 0)
		return -1;
	/* a namespace never written has nothing to delete: no table for it */
	rc = ns_get(s, ns, 0, &n, errstr, errstr_size);
	if (rc <= 0)
		return rc;
	rc = bind_key(n->del, key, key_len);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(n->del);
	return finish(s, n->del, rc, "delete from", ns, errstr, errstr_size);
}

static int outbox_add(struct eddy_store *base, const char *sink, const char *dedupe_key,
                      const char *body, size_t body_len, int64_t now_ms, int64_t window_ms,
                      char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;
	int rc;

	settle(s);
	if (!s->in_txn) {
		eddy_errf(errstr, errstr_size, "sqlite: outbox add: no transaction open");
		return -1;
	}
	if (check_txn(s, "outbox add", errstr, errstr_size) < 0 ||
	    outbox_ready(s, 1, errstr, errstr_size) < 0)
		return -1;
	rc = sqlite3_bind_text(s->ob_seen, 1, dedupe_key, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s->ob_seen, 2, now_ms - window_ms);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s->ob_seen);
	if (rc == SQLITE_ROW) {
		finish(s, s->ob_seen, SQLITE_DONE, NULL, NULL, NULL, 0);
		return 1;
	}
	if (finish(s, s->ob_seen, rc, "outbox dedupe lookup", NULL, errstr, errstr_size) < 0)
		return -1;
	rc = sqlite3_bind_text(s->ob_add, 1, sink, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s->ob_add, 2, dedupe_key, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text64(s->ob_add, 3, body ? body : "", body_len, SQLITE_STATIC,
		                         SQLITE_UTF8);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s->ob_add, 4, now_ms);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s->ob_add);
	return finish(s, s->ob_add, rc, "outbox add", NULL, errstr, errstr_size);
}

/* A due alert copied out of its row: the rows are all read before the
 * first callback, which may then write to the table. */
struct due {
	struct eddy_outbox_alert a;
	char *text; /* sink, dedupe_key and body, each NUL-terminated */
};

static int outbox_due(struct eddy_store *base, int64_t now_ms, int max,
                      void (*cb)(void *ud, const struct eddy_outbox_alert *a), void *ud,
                      char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;
	sqlite3_stmt *st;
	struct due *rows = NULL;
	int n = 0, i, rc = SQLITE_DONE;

	settle(s);
	if (s->in_txn) {
		eddy_errf(errstr, errstr_size, "sqlite: outbox due: a transaction is open");
		return -1;
	}
	if (max <= 0)
		return 0;
	rc = outbox_ready(s, 0, errstr, errstr_size);
	if (rc <= 0)
		return rc; /* no alert was ever added */
	st = s->ob_due;
	rc = SQLITE_DONE;
	rows = calloc((size_t)max, sizeof(*rows));
	if (!rows) {
		eddy_errf(errstr, errstr_size, "sqlite: out of memory");
		return -1;
	}
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int(st, 2, max);
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct due *d = &rows[n];
		const char *sink = (const char *)sqlite3_column_text(st, 1);
		size_t sink_len = (size_t)sqlite3_column_bytes(st, 1);
		const char *key = (const char *)sqlite3_column_text(st, 2);
		size_t key_len = (size_t)sqlite3_column_bytes(st, 2);
		const char *body = (const char *)sqlite3_column_text(st, 3);
		size_t body_len = (size_t)sqlite3_column_bytes(st, 3);

		d->text = malloc(sink_len + key_len + body_len + 3);
		if (!d->text || !sink || !key || !body) {
			eddy_errf(errstr, errstr_size, "sqlite: outbox due: out of memory");
			rc = SQLITE_NOMEM;
			n++;
			break;
		}
		memcpy(d->text, sink, sink_len + 1);
		memcpy(d->text + sink_len + 1, key, key_len + 1);
		memcpy(d->text + sink_len + key_len + 2, body, body_len + 1);
		d->a.id = sqlite3_column_int64(st, 0);
		d->a.sink = d->text;
		d->a.dedupe_key = d->text + sink_len + 1;
		d->a.body = d->text + sink_len + key_len + 2;
		d->a.body_len = body_len;
		d->a.attempts = sqlite3_column_int(st, 4);
		d->a.created_ms = sqlite3_column_int64(st, 5);
		d->a.next_attempt_ms = sqlite3_column_int64(st, 6);
		n++;
	}
	if (rc == SQLITE_ROW)
		rc = SQLITE_DONE;
	if (rc == SQLITE_NOMEM) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		rc = -1;
	} else {
		rc = finish(s, st, rc, "outbox due", NULL, errstr, errstr_size);
	}
	for (i = 0; i < n; i++) {
		if (rc == 0)
			cb(ud, &rows[i].a);
		free(rows[i].text);
	}
	free(rows);
	return rc < 0 ? -1 : n;
}

static int outbox_mark(struct eddy_store *base, int64_t id, enum eddy_outbox_state state,
                       int64_t next_attempt_ms, const char *error, char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;
	sqlite3_stmt *st;

	settle(s);
	if (s->in_txn) {
		eddy_errf(errstr, errstr_size, "sqlite: outbox mark: a transaction is open");
		return -1;
	}
	switch (outbox_ready(s, 0, errstr, errstr_size)) {
	case -1:
		return -1;
	case 0:
		eddy_errf(errstr, errstr_size, "sqlite: outbox mark: no alert %lld", (long long)id);
		return -1;
	}
	st = s->ob_mark;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, eddy_store_outbox_state_name(state), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, next_attempt_ms);
	if (error)
		sqlite3_bind_text(st, 4, error, -1, SQLITE_STATIC);
	if (finish(s, st, sqlite3_step(st), "outbox mark", NULL, errstr, errstr_size) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0) {
		eddy_errf(errstr, errstr_size, "sqlite: outbox mark: no alert %lld", (long long)id);
		return -1;
	}
	return 0;
}

static int64_t outbox_pending(struct eddy_store *base, char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;
	sqlite3_stmt *st;
	int64_t n = 0;
	int rc;

	settle(s);
	if (s->in_txn) {
		eddy_errf(errstr, errstr_size, "sqlite: outbox pending: a transaction is open");
		return -1;
	}
	rc = outbox_ready(s, 0, errstr, errstr_size);
	if (rc <= 0)
		return rc; /* no alert was ever added */
	st = s->ob_pending;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 0);
		rc = SQLITE_DONE;
	}
	return finish(s, st, rc, "outbox pending", NULL, errstr, errstr_size) < 0 ? -1 : n;
}

static int lazy_commits(struct eddy_store *base, char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;

	settle(s);
	if (s->in_txn) {
		eddy_errf(errstr, errstr_size, "sqlite: lazy commits: a transaction is open");
		return -1;
	}
	/* In WAL mode NORMAL syncs at checkpoints only; a commit of the
	 * consumer's handle (FULL) syncs the WAL with these in it. */
	if (sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(s, "lazy commits", NULL, errstr, errstr_size);
		return -1;
	}
	return 0;
}

int eddy_store_sqlite_cache(struct eddy_store *base, int kib, char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;
	char sql[64];

	if (base->ops != &sqlite_ops) {
		eddy_errf(errstr, errstr_size, "store.cache_kib: not a sqlite store");
		return -1;
	}
	snprintf(sql, sizeof sql, "PRAGMA cache_size=-%d", kib);
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(s, "cache size", NULL, errstr, errstr_size);
		return -1;
	}
	return 0;
}

static const struct eddy_store_ops sqlite_ops = {
    .type = "sqlite",
    .destroy = store_destroy,
    .begin = store_begin,
    .commit = store_commit,
    .rollback = store_rollback,
    .get = store_get,
    .upsert = store_upsert,
    .del = store_delete,
    .outbox_add = outbox_add,
    .outbox_due = outbox_due,
    .outbox_mark = outbox_mark,
    .outbox_pending = outbox_pending,
    .lazy_commits = lazy_commits,
    .nul_ok = true,
};
