/* store_sqlite.c - the store on one SQLite file: a table per namespace,
 * statements prepared once per namespace, WAL with synchronous=FULL. */
#include "store.h"
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
#define CACHE_KIB "65536"
#define CHECKPOINT_PAGES "10000"

/* Where a namespace's table came from, so that undoing a transaction or a
 * savepoint also forgets the statements prepared against a table it
 * dropped. */
enum created {
	CREATED_BEFORE, /* existed when first seen, or created and committed */
	CREATED_TXN,    /* created by the open transaction */
	CREATED_SP,     /* created inside the open savepoint */
};

/* A namespace whose table exists, with its statements ready. */
struct ns {
	char name[NS_MAX + 1];
	enum created created;
	sqlite3_stmt *get;
	sqlite3_stmt *upsert;
	sqlite3_stmt *del;
};

struct eddy_store {
	sqlite3 *db;
	int in_txn;
	int in_sp;
	/* the get statement whose row the caller still borrows: reset at the
	 * start of the next call, not before, so the value stays valid */
	sqlite3_stmt *pending;
	sqlite3_stmt *begin, *commit, *rollback;
	sqlite3_stmt *savepoint, *release, *rollback_to;
	sqlite3_stmt *table_exists;
	/* sorted by ns_cmp; few namespaces, so a sorted array beats a hash */
	struct ns *ns;
	size_t n_ns, cap_ns;
	/* updated_at up to the seconds, rebuilt only when the second changes */
	time_t stamp_sec;
	char stamp[32];
};


/* "sqlite: <what>[ <ns>]: <SQLite's message>", for every failure SQLite
 * reports. */
static void db_fail(struct eddy_store *s, const char *what, const char *ns, char *errstr,
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

static int is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

int eddy_store_ns_valid(const char *ns)
{
	static const char reserved[] = "sqlite_";
	size_t i;

	if (!ns || !is_alpha(ns[0]))
		return 0;
	for (i = 1; ns[i]; i++)
		if (i >= NS_MAX || !(is_alpha(ns[i]) || (ns[i] >= '0' && ns[i] <= '9')))
			return 0;
	/* SQLite refuses to create tables with these names */
	for (i = 0; reserved[i]; i++)
		if (lower((unsigned char)ns[i]) != reserved[i])
			return 1;
	return 0;
}

/* The namespace as it may appear in a message: invalid names come from
 * handlers, and the message must stay one short line. */
static const char *printable(char *out, size_t out_size, const char *ns)
{
	size_t i;

	for (i = 0; ns && ns[i] && i + 1 < out_size; i++)
		out[i] = (ns[i] >= 0x20 && ns[i] < 0x7f) ? ns[i] : '?';
	out[i] = '\0';
	return out;
}

static int check_ns(const char *ns, char *errstr, size_t errstr_size)
{
	char shown[NS_MAX + 2];

	if (eddy_store_ns_valid(ns))
		return 0;
	eddy_errf(
	    errstr, errstr_size,
	    "invalid namespace \"%s\": want [A-Za-z_][A-Za-z0-9_]{0,62}, not starting with sqlite_",
	    printable(shown, sizeof(shown), ns));
	return -1;
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
			eddy_errf(errstr, errstr_size, "sqlite: mkdir %s: %s", dir, strerror(errno));
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

static int prepare(struct eddy_store *s, const char *sql, sqlite3_stmt **st, const char *what,
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
static int finish(struct eddy_store *s, sqlite3_stmt *st, int rc, const char *what, const char *ns,
                  char *errstr, size_t errstr_size)
{
	if (rc != SQLITE_DONE)
		db_fail(s, what, ns, errstr, errstr_size);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int run(struct eddy_store *s, sqlite3_stmt *st, const char *what, char *errstr,
               size_t errstr_size)
{
	return finish(s, st, sqlite3_step(st), what, NULL, errstr, errstr_size);
}

/* Ends the borrow of the last get's value: every call on the store starts
 * here. Clearing the bindings drops the pointer to the caller's key. */
static void settle(struct eddy_store *s)
{
	if (!s->pending)
		return;
	sqlite3_reset(s->pending);
	sqlite3_clear_bindings(s->pending);
	s->pending = NULL;
}

static void ns_drop(struct eddy_store *s, size_t i)
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
static void ns_forget(struct eddy_store *s, enum created level)
{
	size_t i = 0;

	while (i < s->n_ns) {
		if (s->ns[i].created >= level)
			ns_drop(s, i);
		else
			i++;
	}
}

static void ns_promote(struct eddy_store *s, enum created from, enum created to)
{
	size_t i;

	for (i = 0; i < s->n_ns; i++)
		if (s->ns[i].created == from)
			s->ns[i].created = to;
}

/* Index of ns in the cache, or -1 with *pos where it would go. */
static long ns_find(const struct eddy_store *s, const char *ns, size_t *pos)
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

static int table_exists(struct eddy_store *s, const char *ns, char *errstr, size_t errstr_size)
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
static int ns_get(struct eddy_store *s, const char *ns, int create, struct ns **out, char *errstr,
                  size_t errstr_size)
{
	char sql[512];
	struct ns n = {0};
	size_t pos = 0;
	long i;
	int exists;

	if (!ns)
		return check_ns(ns, errstr, errstr_size);
	i = ns_find(s, ns, &pos);
	if (i >= 0) {
		*out = &s->ns[i];
		return 1;
	}
	if (check_ns(ns, errstr, errstr_size) < 0)
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
		n.created = s->in_sp ? CREATED_SP : s->in_txn ? CREATED_TXN : CREATED_BEFORE;
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
static int check_txn(struct eddy_store *s, const char *what, char *errstr, size_t errstr_size)
{
	if (!s->in_txn || !sqlite3_get_autocommit(s->db))
		return 0;
	eddy_errf(errstr, errstr_size, "sqlite: %s: the transaction was rolled back after an error",
	     what);
	return -1;
}

/* Updates the cached timestamp: ISO 8601 UTC with milliseconds, what a
 * person reading the table with the sqlite3 shell expects. */
static const char *stamp(struct eddy_store *s)
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

struct eddy_store *eddy_store_open_sqlite(const char *path, char *errstr, size_t errstr_size)
{
	struct eddy_store *s = NULL;
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
	s->stamp_sec = (time_t)-1;

	/* NOMUTEX: a store belongs to one thread, its locks would be waste */
	rc = sqlite3_open_v2(
	    path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		eddy_errf(errstr, errstr_size, "sqlite: %s: %s", path,
		     s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto err;
	}
	/* another process (a person with the sqlite3 shell) may hold the
	 * write lock for a moment: wait rather than fail the batch */
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);

	/* the first statement that reads the file: "file is not a database"
	 * shows up here */
	if (prepare(s, "PRAGMA journal_mode=WAL", &st, path, NULL, errstr, errstr_size) < 0)
		goto err;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		db_fail(s, path, NULL, errstr, errstr_size);
		goto err;
	}
	mode = (const char *)sqlite3_column_text(st, 0);
	if (!mode || strcmp(mode, "wal") != 0) {
		eddy_errf(errstr, errstr_size, "sqlite: %s: cannot use WAL (journal mode is %s)", path,
		     mode ? mode : "unknown");
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
	 * the working set saves re-reading pages, and checkpointing every
	 * 10000 pages of WAL (40 MB at 4 KiB) instead of 1000 writes a page
	 * rewritten by many batches to the database once (bench/store_bench.c:
	 * about twice the upserts per second). */
	if (sqlite3_exec(s->db,
	                 "PRAGMA cache_size=-" CACHE_KIB
	                 "; PRAGMA wal_autocheckpoint=" CHECKPOINT_PAGES,
	                 NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(s, path, NULL, errstr, errstr_size);
		goto err;
	}

	if (prepare(s, "BEGIN IMMEDIATE", &s->begin, "begin", NULL, errstr, errstr_size) < 0 ||
	    prepare(s, "COMMIT", &s->commit, "commit", NULL, errstr, errstr_size) < 0 ||
	    prepare(s, "ROLLBACK", &s->rollback, "rollback", NULL, errstr, errstr_size) < 0 ||
	    prepare(s, "SAVEPOINT ev", &s->savepoint, "savepoint", NULL, errstr, errstr_size) < 0 ||
	    prepare(s, "RELEASE ev", &s->release, "release", NULL, errstr, errstr_size) < 0 ||
	    prepare(s, "ROLLBACK TO ev", &s->rollback_to, "rollback to savepoint", NULL, errstr,
	            errstr_size) < 0 ||
	    prepare(s,
	            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
	            &s->table_exists, "schema", NULL, errstr, errstr_size) < 0)
		goto err;
	return s;

err:
	sqlite3_finalize(st);
	eddy_store_destroy(s);
	return NULL;
}

/* An open transaction is rolled back: closing is not committing. */
void eddy_store_destroy(struct eddy_store *s)
{
	if (!s)
		return;
	while (s->n_ns)
		ns_drop(s, s->n_ns - 1);
	free(s->ns);
	sqlite3_finalize(s->begin);
	sqlite3_finalize(s->commit);
	sqlite3_finalize(s->rollback);
	sqlite3_finalize(s->savepoint);
	sqlite3_finalize(s->release);
	sqlite3_finalize(s->rollback_to);
	sqlite3_finalize(s->table_exists);
	sqlite3_close_v2(s->db);
	free(s);
}

/* Leaves the store outside any transaction, whatever SQLite did. */
static void end_txn(struct eddy_store *s, int committed)
{
	if (committed) {
		ns_promote(s, CREATED_TXN, CREATED_BEFORE);
		ns_promote(s, CREATED_SP, CREATED_BEFORE);
	} else {
		ns_forget(s, CREATED_TXN);
	}
	s->in_txn = 0;
	s->in_sp = 0;
}

int eddy_store_begin(struct eddy_store *s, char *errstr, size_t errstr_size)
{
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

/* On failure the transaction is rolled back and the store is ready for
 * the next begin: the caller handles the batch again. */
int eddy_store_commit(struct eddy_store *s, char *errstr, size_t errstr_size)
{
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

/* Nothing to roll back is not an error, so that cleanup paths can call
 * it unconditionally. */
int eddy_store_rollback(struct eddy_store *s)
{
	int rc = 0;

	settle(s);
	if (!sqlite3_get_autocommit(s->db))
		rc = run(s, s->rollback, "rollback", NULL, 0);
	end_txn(s, 0);
	return rc;
}

int eddy_store_savepoint(struct eddy_store *s, char *errstr, size_t errstr_size)
{
	settle(s);
	if (!s->in_txn) {
		eddy_errf(errstr, errstr_size, "sqlite: savepoint: no transaction open");
		return -1;
	}
	if (s->in_sp) {
		eddy_errf(errstr, errstr_size, "sqlite: savepoint: one is already open");
		return -1;
	}
	if (check_txn(s, "savepoint", errstr, errstr_size) < 0)
		return -1;
	if (run(s, s->savepoint, "savepoint", errstr, errstr_size) < 0)
		return -1;
	s->in_sp = 1;
	return 0;
}

int eddy_store_release(struct eddy_store *s, char *errstr, size_t errstr_size)
{
	settle(s);
	if (!s->in_sp) {
		eddy_errf(errstr, errstr_size, "sqlite: release: no savepoint open");
		return -1;
	}
	if (check_txn(s, "release", errstr, errstr_size) < 0)
		return -1;
	if (run(s, s->release, "release", errstr, errstr_size) < 0)
		return -1;
	s->in_sp = 0;
	ns_promote(s, CREATED_SP, CREATED_TXN);
	return 0;
}

/* ROLLBACK TO keeps the savepoint; the RELEASE after it ends it, so that
 * the next event starts a fresh one. */
int eddy_store_rollback_savepoint(struct eddy_store *s, char *errstr, size_t errstr_size)
{
	settle(s);
	if (!s->in_sp) {
		eddy_errf(errstr, errstr_size, "sqlite: rollback to savepoint: no savepoint open");
		return -1;
	}
	if (check_txn(s, "rollback to savepoint", errstr, errstr_size) < 0)
		return -1;
	if (run(s, s->rollback_to, "rollback to savepoint", errstr, errstr_size) < 0)
		return -1;
	ns_forget(s, CREATED_SP);
	if (run(s, s->release, "release", errstr, errstr_size) < 0)
		return -1;
	s->in_sp = 0;
	return 0;
}

/* Binds are STATIC: the step that follows is the only reader, and finish
 * or settle clears them before the caller's buffers can go. */
static int bind_key(sqlite3_stmt *st, const char *key, size_t key_len)
{
	return sqlite3_bind_text64(st, 1, key ? key : "", key_len, SQLITE_STATIC, SQLITE_UTF8);
}

int eddy_store_get(struct eddy_store *s, const char *ns, const char *key, size_t key_len,
                   const char **value, size_t *len, char *errstr, size_t errstr_size)
{
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
	return 1;
}

int eddy_store_upsert(struct eddy_store *s, const char *ns, const char *key, size_t key_len,
                      const char *value, size_t len, const struct eddy_store_origin *origin,
                      char *errstr, size_t errstr_size)
{
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

int eddy_store_delete(struct eddy_store *s, const char *ns, const char *key, size_t key_len,
                      char *errstr, size_t errstr_size)
{
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
