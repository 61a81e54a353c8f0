/* test_store.c - the stores on real files and a real PostgreSQL server,
 * checked through their API and through a connection of their own, the way
 * a user with the sqlite3 shell or psql sees them; the alert outbox on
 * both. */
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "store/store.h"
#include "test.h"

static char dir[1024];

/* A store backend under test: how a test's store is opened by name, and
 * how its tables look from a connection of its own (the sqlite3 shell,
 * psql). */
struct backend {
	const char *name;
	struct eddy_store *(*open)(const char *name, char *err, size_t err_size);
	/* the first column of the first row of sql as text ("(null)" for
	 * NULL), or NULL when there is no row or an error; freed by the
	 * caller */
	char *(*query)(const char *name, const char *sql);
	/* SQL: the count of namespace tables, the same up to a name's
	 * closing quote, updated_at of key 'a' in orders as ISO 8601 UTC,
	 * and the function joining strings with a separator */
	const char *tables_sql, *table_sql, *stamp_sql, *agg;
	int jsonb; /* values come back normalized (PostgreSQL's jsonb) */
};

static const struct backend *be;

static const char *path_in(const char *name)
{
	static char buf[8][4096];
	static int next;
	char *p = buf[next++ % 8];

	snprintf(p, 4096, "%s/%s", dir, name);
	return p;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static struct eddy_store *sqlite_open(const char *name, char *err, size_t err_size)
{
	return eddy_store_open_sqlite(path_in(name), 0, err, err_size);
}

static char *sqlite_query(const char *name, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *out = NULL;

	if (sqlite3_open_v2(path_in(name), &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto done;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "query %s: %s\n", sql, sqlite3_errmsg(db));
		goto done;
	}
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);

		out = strdup(t ? t : "(null)");
	}
done:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

static const struct backend sqlite_backend = {
    "sqlite",
    sqlite_open,
    sqlite_query,
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'eddy%' "
    "AND name NOT LIKE 'sqlite%'",
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '",
    "SELECT updated_at FROM orders WHERE key = 'a'",
    "group_concat",
    0,
};

/* ---- PostgreSQL: a server of the test's own (tests/tools/pg-start), a
 * schema per store name ------------------------------------------------- */

static char pg_dsn[1024]; /* the server's */
static char pg_dir[1024]; /* its folder, for pg-stop */

/* The DSN of the store called name: its own schema (created here), as
 * the connection's search_path. */
static const char *pg_dsn_of(const char *name)
{
	static char dsn[2048];
	char schema[64], sql[200];
	size_t i;
	PGconn *c;

	for (i = 0; name[i] && i + 1 < sizeof(schema); i++)
		schema[i] = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')
		                ? name[i]
		                : '_';
	schema[i] = '\0';
	snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS t_%s", schema);
	c = PQconnectdb(pg_dsn);
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	PQclear(PQexec(c, sql));
	PQfinish(c);
	snprintf(dsn, sizeof(dsn), "%s options='-c search_path=t_%s'", pg_dsn, schema);
	return dsn;
}

static struct eddy_store *pg_open(const char *name, char *err, size_t err_size)
{
	return eddy_store_open_pg(pg_dsn_of(name), err, err_size);
}

static char *pg_query(const char *name, const char *sql)
{
	PGconn *c = PQconnectdb(pg_dsn_of(name));
	PGresult *r = PQexec(c, sql);
	char *out = NULL;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fprintf(stderr, "query %s: %s\n", sql, PQerrorMessage(c));
	else if (PQntuples(r) > 0)
		out = strdup(PQgetisnull(r, 0, 0) ? "(null)" : PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return out;
}

static const struct backend pg_backend = {
    "postgres",
    pg_open,
    pg_query,
    "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND "
    "tablename NOT LIKE 'eddy%'",
    "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = '",
    "SELECT to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
    "FROM orders WHERE key = 'a'",
    "string_agg",
    1,
};

/* Runs tests/tools/pg-start (arg: a stopped server's folder, or NULL for
 * a new one); 0 with pg_dsn and pg_dir set. */
static int pg_start(const char *arg)
{
	char cmd[1200];
	FILE *p;
	int ok;

	snprintf(cmd, sizeof(cmd), "tests/tools/pg-start %s", arg ? arg : "");
	p = popen(cmd, "r");
	if (!p)
		return -1;
	ok = fgets(pg_dsn, sizeof(pg_dsn), p) != NULL;
	ok = pclose(p) == 0 && ok;
	if (!ok || strncmp(pg_dsn, "host=", 5) != 0) {
		fprintf(stderr, "pg-start failed: %s\n", pg_dsn);
		return -1;
	}
	pg_dsn[strcspn(pg_dsn, "\n")] = '\0';
	snprintf(pg_dir, sizeof(pg_dir), "%.*s", (int)strcspn(pg_dsn + 5, " "), pg_dsn + 5);
	return 0;
}

static void pg_stop(int keep)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd), "tests/tools/pg-stop %s%s", keep ? "--keep " : "", pg_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "pg-stop %s failed\n", pg_dir);
}

static char *query(const char *name, const char *sql)
{
	return be->query(name, sql);
}

static int query_is(const char *name, const char *sql, const char *want)
{
	char *got = query(name, sql);
	int ok = got && strcmp(got, want) == 0;

	if (!ok)
		fprintf(stderr, "  %s: %s: got \"%s\", want \"%s\"\n", be->name, sql,
		        got ? got : "(no row)", want);
	free(got);
	return ok;
}

/* The number of namespace tables of the store called name (like is NULL),
 * or of those named like like, is want. */
static int tables_is(const char *name, const char *like, const char *want)
{
	char sql[512];

	if (like)
		snprintf(sql, sizeof(sql), "%s%s'", be->table_sql, like);
	else
		snprintf(sql, sizeof(sql), "%s", be->tables_sql);
	return query_is(name, sql, want);
}

/* A JSON text as the store gives it back: as stored, or as jsonb writes
 * it. */
static const char *J(const char *as_stored, const char *as_jsonb)
{
	return be->jsonb ? as_jsonb : as_stored;
}

static struct eddy_store *open_at(const char *name)
{
	char err[256] = "";
	struct eddy_store *s = be->open(name, err, sizeof(err));

	if (!s)
		fprintf(stderr, "%s: open %s: %s\n", be->name, name, err);
	return s;
}

static int put(struct eddy_store *s, const char *ns, const char *key, const char *value)
{
	char err[256] = "";
	int rc = eddy_store_upsert(s, ns, key, strlen(key), value, strlen(value), NULL, err,
	                           sizeof(err));

	if (rc)
		fprintf(stderr, "upsert %s %s: %s\n", ns, key, err);
	return rc;
}

/* The value of key as a NUL-terminated copy in buf, "" when missing,
 * "(error)" on error. */
static const char *get(struct eddy_store *s, const char *ns, const char *key)
{
	static char buf[4096];
	char err[256] = "";
	const char *v = NULL;
	size_t len = 0;
	int rc = eddy_store_get(s, ns, key, strlen(key), &v, &len, err, sizeof(err));

	if (rc < 0) {
		fprintf(stderr, "get %s %s: %s\n", ns, key, err);
		return "(error)";
	}
	if (rc == 0)
		return "";
	snprintf(buf, sizeof(buf), "%.*s", (int)len, v);
	return buf;
}

static int begin(struct eddy_store *s)
{
	char err[256] = "";
	int rc = eddy_store_begin(s, err, sizeof(err));

	if (rc)
		fprintf(stderr, "begin: %s\n", err);
	return rc;
}

static int commit(struct eddy_store *s)
{
	char err[256] = "";
	int rc = eddy_store_commit(s, err, sizeof(err));

	if (rc)
		fprintf(stderr, "commit: %s\n", err);
	return rc;
}

static void test_round_trip(void)
{
	struct eddy_store *s = open_at("round/state.db");
	char err[256] = "";

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	CHECK(put(s, "orders", "o-1", "{\"total\":12.5,\"items\":[]}") == 0);
	CHECK_STR(get(s, "orders", "o-1"),
	          J("{\"total\":12.5,\"items\":[]}", "{\"items\": [], \"total\": 12.5}"));
	CHECK(eddy_store_delete(s, "orders", "o-1", 3, err, sizeof(err)) == 0);
	CHECK_STR(get(s, "orders", "o-1"), "");
	CHECK(commit(s) == 0);
	CHECK(query_is("round/state.db", "SELECT count(*) FROM orders", "0"));
	eddy_store_destroy(s);
}

static void test_replace_keeps_one_row(void)
{
	struct eddy_store *s = open_at("replace.db");

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	CHECK(put(s, "orders", "o-1", "{\"v\":1}") == 0);
	CHECK(put(s, "orders", "o-1", "{\"v\":2}") == 0);
	CHECK_STR(get(s, "orders", "o-1"), J("{\"v\":2}", "{\"v\": 2}"));
	CHECK(commit(s) == 0);
	CHECK(query_is("replace.db", "SELECT count(*) FROM orders", "1"));
	CHECK(query_is("replace.db", "SELECT CAST(value AS TEXT) FROM orders",
	               J("{\"v\":2}", "{\"v\": 2}")));
	eddy_store_destroy(s);
}

/* updated_at parses as ISO 8601 UTC with milliseconds, close to now. */
static int recent_stamp(const char *t)
{
	struct tm tm = {0};
	int ms = -1, n = 0;
	time_t when;

	if (!t || strlen(t) != 24)
		return 0;
	if (sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	           &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &n) != 7 ||
	    n != 24 || ms < 0)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	when = timegm(&tm);
	return labs((long)(when - time(NULL))) <= 5;
}

static void test_origin_columns(void)
{
	struct eddy_store *s = open_at("origin.db");
	struct eddy_store_origin o = {"orders.v1", 3, 1234567890123};
	struct eddy_store_origin no_topic = {NULL, 0, 17};
	char err[256] = "";
	char *stamp;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	CHECK(eddy_store_upsert(s, "orders", "a", 1, "1", 1, &o, err, sizeof(err)) == 0);
	CHECK(eddy_store_upsert(s, "orders", "b", 1, "2", 1, NULL, err, sizeof(err)) == 0);
	CHECK(eddy_store_upsert(s, "orders", "c", 1, "3", 1, &no_topic, err, sizeof(err)) == 0);
	CHECK(commit(s) == 0);
	CHECK(query_is("origin.db",
	               "SELECT topic || '/' || partition || '/' || \"offset\" FROM orders "
	               "WHERE key = 'a'",
	               "orders.v1/3/1234567890123"));
	CHECK(query_is("origin.db",
	               "SELECT count(*) FROM orders WHERE key = 'b' AND topic IS NULL AND "
	               "partition IS NULL AND \"offset\" IS NULL",
	               "1"));
	CHECK(query_is("origin.db",
	               "SELECT coalesce(topic, 'NULL') || '/' || partition || '/' || \"offset\" "
	               "FROM orders WHERE key = 'c'",
	               "NULL/0/17"));
	/* a replace moves the origin along with the value */
	CHECK(begin(s) == 0);
	o.offset++;
	CHECK(eddy_store_upsert(s, "orders", "a", 1, "4", 1, &o, err, sizeof(err)) == 0);
	CHECK(commit(s) == 0);
	CHECK(
	    query_is("origin.db",
	             "SELECT CAST(value AS TEXT) || '/' || \"offset\" FROM orders WHERE key = 'a'",
	             "4/1234567890124"));
	stamp = query("origin.db", be->stamp_sql);
	CHECK(recent_stamp(stamp));
	if (!recent_stamp(stamp))
		fprintf(stderr, "  updated_at: %s\n", stamp ? stamp : "(none)");
	free(stamp);
	eddy_store_destroy(s);
}

static void test_transaction_sees_own_writes_only(void)
{
	struct eddy_store *s = open_at("own.db");

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	CHECK(put(s, "orders", "o-1", "{}") == 0);
	CHECK_STR(get(s, "orders", "o-1"), "{}");
	/* nobody else sees the batch before it commits */
	CHECK(tables_is("own.db", "orders", "0"));
	CHECK(commit(s) == 0);
	CHECK(query_is("own.db", "SELECT value FROM orders WHERE key = 'o-1'", "{}"));
	eddy_store_destroy(s);
}

static void test_rollback(void)
{
	struct eddy_store *s = open_at("rollback.db");

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	CHECK(put(s, "orders", "kept", "1") == 0);
	CHECK(commit(s) == 0);

	CHECK(begin(s) == 0);
	CHECK(put(s, "orders", "kept", "2") == 0);
	CHECK(put(s, "orders", "new", "3") == 0);
	CHECK(put(s, "ghost", "x", "4") == 0);
	CHECK(eddy_store_rollback(s) == 0);
	CHECK_STR(get(s, "orders", "kept"), "1");
	CHECK_STR(get(s, "orders", "new"), "");
	/* the table created by the undone batch is gone, and comes back on
	 * the next write */
	CHECK_STR(get(s, "ghost", "x"), "");
	CHECK(tables_is("rollback.db", "ghost", "0"));
	CHECK(begin(s) == 0);
	CHECK(put(s, "ghost", "x", "5") == 0);
	CHECK(commit(s) == 0);
	CHECK(query_is("rollback.db", "SELECT value FROM ghost", "5"));
	/* nothing to roll back is fine */
	CHECK(eddy_store_rollback(s) == 0);
	eddy_store_destroy(s);
}

static void test_persists_across_reopen(void)
{
	struct eddy_store *s = open_at("persist.db");

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	CHECK(put(s, "orders", "o-1", "{\"v\":1}") == 0);
	CHECK(commit(s) == 0);
	/* closing with a batch open is not committing it */
	CHECK(begin(s) == 0);
	CHECK(put(s, "orders", "o-2", "{\"v\":2}") == 0);
	eddy_store_destroy(s);

	s = open_at("persist.db");
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_STR(get(s, "orders", "o-1"), J("{\"v\":1}", "{\"v\": 1}"));
	CHECK_STR(get(s, "orders", "o-2"), "");
	eddy_store_destroy(s);
}

static void test_namespace_names(void)
{
	static const char *bad[] = {
	    "",  "1abc",    "a-b",  "a b", "a\"b",          "sqlite_x",    "SQLite_x", "sqlite_",
	    "é", "orders;", "a\nb", "a.b", "sqlite_master", "eddy_outbox", "EDDY_x",   "eddy_"};
	char long63[64], long64[65];
	struct eddy_store *s = open_at("names.db");
	char err[256];
	const char *v;
	size_t len, i;

	memset(long63, 'n', 63);
	long63[63] = '\0';
	memset(long64, 'n', 64);
	long64[64] = '\0';
	CHECK(eddy_store_ns_valid("orders"));
	CHECK(eddy_store_ns_valid("_"));
	CHECK(eddy_store_ns_valid("Orders_2"));
	CHECK(eddy_store_ns_valid("sqlite"));
	CHECK(eddy_store_ns_valid("sqlitex"));
	CHECK(eddy_store_ns_valid("eddy"));
	CHECK(eddy_store_ns_valid("eddyx"));
	CHECK(eddy_store_ns_valid(long63));
	CHECK(!eddy_store_ns_valid(long64));
	CHECK(!eddy_store_ns_valid(NULL));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!eddy_store_ns_valid(bad[i]));

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK(eddy_store_upsert(s, bad[i], "k", 1, "1", 1, NULL, err, sizeof(err)) == -1);
		CHECK(strstr(err, "invalid namespace") != NULL);
		/* one printable line, whatever the name held */
		CHECK(strchr(err, '\n') == NULL);
		CHECK(eddy_store_get(s, bad[i], "k", 1, &v, &len, err, sizeof(err)) == -1);
		CHECK(eddy_store_delete(s, bad[i], "k", 1, err, sizeof(err)) == -1);
	}
	CHECK(eddy_store_upsert(s, long64, "k", 1, "1", 1, NULL, err, sizeof(err)) == -1);
	CHECK(eddy_store_upsert(s, NULL, "k", 1, "1", 1, NULL, err, sizeof(err)) == -1);
	CHECK(put(s, long63, "k", "1") == 0);
	CHECK(commit(s) == 0);
	/* the refused names left no table behind */
	CHECK(tables_is("names.db", NULL, "1"));
	eddy_store_destroy(s);
}

static void test_missing_namespace(void)
{
	struct eddy_store *s = open_at("missing.db");
	const char *v = "untouched";
	size_t len = 0;
	char err[256] = "";

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(eddy_store_get(s, "nowhere", "k", 1, &v, &len, err, sizeof(err)) == 0);
	CHECK(begin(s) == 0);
	CHECK(eddy_store_get(s, "nowhere", "k", 1, &v, &len, err, sizeof(err)) == 0);
	CHECK(eddy_store_delete(s, "nowhere", "k", 1, err, sizeof(err)) == 0);
	CHECK(commit(s) == 0);
	CHECK(tables_is("missing.db", NULL, "0"));
	eddy_store_destroy(s);
}

static void test_two_namespaces(void)
{
	struct eddy_store *s = open_at("two.db");

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	CHECK(put(s, "orders", "k", "\"order\"") == 0);
	CHECK(put(s, "customers", "k", "\"customer\"") == 0);
	CHECK_STR(get(s, "orders", "k"), "\"order\"");
	CHECK_STR(get(s, "customers", "k"), "\"customer\"");
	/* SQLite's table names ignore case, and so do namespaces */
	CHECK_STR(get(s, "ORDERS", "k"), "\"order\"");
	CHECK(put(s, "Orders", "k", "\"again\"") == 0);
	CHECK(commit(s) == 0);
	CHECK(query_is("two.db", "SELECT value FROM customers", "\"customer\""));
	CHECK(query_is("two.db", "SELECT count(*) FROM orders", "1"));
	CHECK(query_is("two.db", "SELECT CAST(value AS TEXT) FROM orders", "\"again\""));
	CHECK(tables_is("two.db", NULL, "2"));
	eddy_store_destroy(s);

	/* a table found on disk is found under any case */
	s = open_at("two.db");
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_STR(get(s, "oRDERs", "k"), "\"again\"");
	/* a table undone by a rollback is gone under every case it was used by */
	CHECK(begin(s) == 0);
	CHECK(put(s, "Fresh", "k", "1") == 0);
	CHECK_STR(get(s, "fresh", "k"), "1");
	CHECK(eddy_store_rollback(s) == 0);
	CHECK_STR(get(s, "fresh", "k"), "");
	CHECK_STR(get(s, "FRESH", "k"), "");
	eddy_store_destroy(s);
}

static void test_wal(void)
{
	struct eddy_store *s = open_at("wal.db");
	char err[256] = "";

	CHECK(s != NULL);
	CHECK(query_is("wal.db", "PRAGMA journal_mode", "wal"));
	/* a new database has pages of store.page_kib's default, 4 KiB ... */
	CHECK(query_is("wal.db", "PRAGMA page_size", "4096"));
	eddy_store_destroy(s);
	/* ... or of the size asked for */
	s = eddy_store_open_sqlite(path_in("big.db"), 16, err, sizeof err);
	CHECK(s != NULL);
	CHECK(query_is("big.db", "PRAGMA page_size", "16384"));
	eddy_store_destroy(s);

	/* one made elsewhere keeps its own, and its table */
	sqlite3 *db = NULL;
	CHECK(sqlite3_open(path_in("made.db"), &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "PRAGMA page_size=8192; CREATE TABLE t(x)", NULL, NULL, NULL) ==
	      SQLITE_OK);
	sqlite3_close(db);
	s = eddy_store_open_sqlite(path_in("made.db"), 16, err, sizeof err);
	CHECK(s != NULL);
	CHECK(query_is("made.db", "PRAGMA page_size", "8192"));
	CHECK(query_is("made.db", "SELECT count(*) FROM t", "0"));
	eddy_store_destroy(s);
}

static void test_delete_missing_key(void)
{
	struct eddy_store *s = open_at("delete.db");
	char err[256] = "";

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	CHECK(put(s, "orders", "here", "1") == 0);
	CHECK(eddy_store_delete(s, "orders", "not-here", 8, err, sizeof(err)) == 0);
	CHECK(eddy_store_delete(s, "orders", "here", 4, err, sizeof(err)) == 0);
	CHECK(eddy_store_delete(s, "orders", "here", 4, err, sizeof(err)) == 0);
	CHECK(commit(s) == 0);
	eddy_store_destroy(s);
}

static void test_transaction_misuse(void)
{
	struct eddy_store *s = open_at("misuse.db");
	char err[256] = "";

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(eddy_store_commit(s, err, sizeof(err)) == -1);
	CHECK(strstr(err, "no transaction") != NULL);
	CHECK(begin(s) == 0);
	err[0] = '\0';
	CHECK(eddy_store_begin(s, err, sizeof(err)) == -1);
	CHECK(strstr(err, "already open") != NULL);
	/* the first batch is still open and usable */
	CHECK(put(s, "orders", "k", "1") == 0);
	CHECK(commit(s) == 0);
	CHECK_STR(get(s, "orders", "k"), "1");
	eddy_store_destroy(s);
}

/* Keys are bytes: NUL inside, and a length that stops short of the
 * string; values are stored exactly as long as told. */
static void test_key_and_value_bytes(void)
{
	struct eddy_store *s = open_at("bytes.db");
	char err[256] = "";
	const char *v;
	size_t len;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	CHECK(eddy_store_upsert(s, "b", "a\0b", 3, "1", 1, NULL, err, sizeof(err)) == 0);
	CHECK(eddy_store_upsert(s, "b", "a\0c", 3, "2", 1, NULL, err, sizeof(err)) == 0);
	CHECK(eddy_store_upsert(s, "b", "abcdef", 2, "[1,2]trailing", 5, NULL, err, sizeof(err)) ==
	      0);
	CHECK(eddy_store_get(s, "b", "a\0b", 3, &v, &len, err, sizeof(err)) == 1);
	CHECK(len == 1 && v[0] == '1');
	CHECK(eddy_store_get(s, "b", "a\0c", 3, &v, &len, err, sizeof(err)) == 1);
	CHECK(len == 1 && v[0] == '2');
	CHECK(eddy_store_get(s, "b", "a", 1, &v, &len, err, sizeof(err)) == 0);
	CHECK(eddy_store_get(s, "b", "ab", 2, &v, &len, err, sizeof(err)) == 1);
	CHECK(len == 5 && memcmp(v, "[1,2]", 5) == 0);
	CHECK(commit(s) == 0);
	CHECK(query_is("bytes.db", "SELECT count(*) FROM b", "3"));
	eddy_store_destroy(s);
}

/* The value a get lends stays readable until the next call, and an
 * outstanding read holds nothing up once that call is made. */
static void test_borrowed_value(void)
{
	struct eddy_store *s = open_at("borrow.db");
	char err[256] = "";
	const char *v;
	size_t len;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	CHECK(put(s, "orders", "k", "{\"a\":1}") == 0);
	CHECK(commit(s) == 0);
	CHECK(eddy_store_get(s, "orders", "k", 1, &v, &len, err, sizeof(err)) == 1);
	CHECK(len == strlen(J("{\"a\":1}", "{\"a\": 1}")) &&
	      memcmp(v, J("{\"a\":1}", "{\"a\": 1}"), len) == 0);
	CHECK(begin(s) == 0);
	CHECK(eddy_store_get(s, "orders", "k", 1, &v, &len, err, sizeof(err)) == 1);
	CHECK(put(s, "orders", "k", "{\"a\":2}") == 0);
	CHECK(eddy_store_get(s, "orders", "k", 1, &v, &len, err, sizeof(err)) == 1);
	CHECK(commit(s) == 0);
	CHECK(query_is("borrow.db", "SELECT CAST(value AS TEXT) FROM orders",
	               J("{\"a\":2}", "{\"a\": 2}")));
	eddy_store_destroy(s);
}

static void test_open_errors(void)
{
	char err[256] = "";
	FILE *f;

	/* a file in the way of the directory */
	f = fopen(path_in("plain"), "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	CHECK(eddy_store_open_sqlite(path_in("plain/sub/state.db"), 0, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "mkdir") != NULL);

	f = fopen(path_in("garbage.db"), "w");
	CHECK(f != NULL);
	if (f) {
		fputs("this is not a database, not even a little bit, and it is long enough "
		      "for SQLite to read a header out of it............................",
		      f);
		fclose(f);
	}
	err[0] = '\0';
	CHECK(eddy_store_open_sqlite(path_in("garbage.db"), 0, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "not a database") != NULL);

	err[0] = '\0';
	CHECK(eddy_store_open_sqlite("", 0, err, sizeof(err)) == NULL);
	CHECK(err[0] != '\0');
}

/* A commit that cannot be written (here: the file size limit, standing in
 * for a full disk) fails, undoes the batch, and leaves the store ready for
 * the next one. */
/* SQLite's memory after reading every row of a 4 MB table again. */
static sqlite3_int64 memory_after_reading(struct eddy_store *s, int rows)
{
	char key[32];
	for (int i = 0; i < rows; i++) {
		snprintf(key, sizeof key, "k-%d", i);
		CHECK(get(s, "orders", key)[0] == '"');
	}
	return sqlite3_memory_used();
}

/* store.cache_kib: the page cache grows to the size given, and no more. */
static void test_cache_size(void)
{
	static char value[1024];
	char err[256] = "", key[32];
	const int rows = 4000;
	struct eddy_store *s = sqlite_open("cache/state.db", err, sizeof(err));
	CHECK(s != NULL);
	if (!s)
		return;
	memset(value, 'x', sizeof value - 2);
	value[0] = value[sizeof value - 2] = '"';
	CHECK(begin(s) == 0);
	for (int i = 0; i < rows; i++) {
		snprintf(key, sizeof key, "k-%d", i);
		CHECK(put(s, "orders", key, value) == 0);
	}
	CHECK(commit(s) == 0);

	CHECK(eddy_store_sqlite_cache(s, 64, err, sizeof(err)) == 0);
	sqlite3_int64 small = memory_after_reading(s, rows);
	CHECK(eddy_store_sqlite_cache(s, 16384, err, sizeof(err)) == 0);
	sqlite3_int64 big = memory_after_reading(s, rows);
	/* the table's pages, ~4 MB more, are kept now */
	CHECK(big - small > 3000000);
	CHECK(eddy_store_sqlite_cache(s, 64, err, sizeof(err)) == 0);
	CHECK(sqlite3_memory_used() < small + 500000);
	eddy_store_destroy(s);
}

static void test_failing_commit(void)
{
	struct eddy_store *s = open_at("full/state.db");
	static char big[4096];
	struct rlimit saved, small;
	char err[256] = "", key[32];
	int i, ok = 1;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	CHECK(put(s, "orders", "before", "1") == 0);
	CHECK(commit(s) == 0);

	memset(big, 'x', sizeof(big) - 3);
	big[0] = '"';
	big[sizeof(big) - 3] = '"';
	CHECK(begin(s) == 0);
	CHECK(put(s, "grown", "g", "1") == 0);
	for (i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "big-%d", i);
		ok &= put(s, "orders", key, big) == 0;
	}
	CHECK(ok);
	CHECK(getrlimit(RLIMIT_FSIZE, &saved) == 0);
	small = saved;
	small.rlim_cur = 256 * 1024;
	signal(SIGXFSZ, SIG_IGN);
	CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
	CHECK(eddy_store_commit(s, err, sizeof(err)) == -1);
	CHECK(setrlimit(RLIMIT_FSIZE, &saved) == 0);
	signal(SIGXFSZ, SIG_DFL);
	CHECK(strncmp(err, "sqlite: commit: ", 16) == 0);

	CHECK_STR(get(s, "orders", "big-0"), "");
	CHECK_STR(get(s, "grown", "g"), "");
	CHECK_STR(get(s, "orders", "before"), "1");
	CHECK(begin(s) == 0);
	CHECK(put(s, "orders", "after", "2") == 0);
	CHECK(put(s, "grown", "g", "3") == 0);
	CHECK(commit(s) == 0);
	eddy_store_destroy(s);
	CHECK(query_is("full/state.db",
	               "SELECT group_concat(key, ',') FROM (SELECT key FROM orders ORDER BY key)",
	               "after,before"));
	CHECK(query_is("full/state.db", "SELECT value FROM grown", "3"));
}

/* Someone else holding the write lock for a moment (the sqlite3 shell)
 * makes begin wait, not fail. */
static void test_waits_for_lock(void)
{
	struct eddy_store *s = open_at("busy.db");
	int ready[2];
	pid_t pid;
	char c;

	CHECK(s != NULL);
	if (!s || pipe(ready) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		sqlite3 *db;
		struct timespec hold = {0, 300 * 1000 * 1000};

		close(ready[0]);
		if (sqlite3_open(path_in("busy.db"), &db) != SQLITE_OK ||
		    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		nanosleep(&hold, NULL);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(db);
		_exit(0);
	}
	close(ready[1]);
	CHECK(pid > 0);
	CHECK(read(ready[0], &c, 1) == 1);
	close(ready[0]);
	CHECK(begin(s) == 0);
	CHECK(put(s, "orders", "k", "1") == 0);
	CHECK(commit(s) == 0);
	if (pid > 0) {
		int status = -1;

		waitpid(pid, &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	eddy_store_destroy(s);
}

/* ---- the alert outbox ---------------------------------------------------- */

static int add(struct eddy_store *s, const char *sink, const char *key, const char *body,
               int64_t now_ms, int64_t window_ms)
{
	char err[256] = "";
	int rc = eddy_store_outbox_add(s, sink, key, body, strlen(body), now_ms, window_ms, err,
	                               sizeof(err));

	if (rc < 0)
		fprintf(stderr, "%s: outbox add %s: %s\n", be->name, key, err);
	return rc;
}

/* What outbox_due saw, in order: "id:sink:key:body:attempts:created:next" */
struct seen {
	char rows[16][256];
	int n;
};

static void collect(void *ud, const struct eddy_outbox_alert *a)
{
	struct seen *seen = ud;

	if (seen->n < 16)
		snprintf(seen->rows[seen->n], sizeof(seen->rows[0]), "%lld:%s:%s:%.*s:%d:%lld:%lld",
		         (long long)a->id, a->sink, a->dedupe_key, (int)a->body_len, a->body,
		         a->attempts, (long long)a->created_ms, (long long)a->next_attempt_ms);
	seen->n++;
}

/* The due alerts' dedupe keys, comma-separated, or "(error)". */
static const char *due_keys(struct eddy_store *s, int64_t now_ms, int max)
{
	static char out[1024];
	struct seen seen = {0};
	char err[256] = "";
	int i, n = eddy_store_outbox_due(s, now_ms, max, collect, &seen, err, sizeof(err));

	if (n < 0 || n != seen.n) {
		fprintf(stderr, "%s: outbox due: %d (%d seen) %s\n", be->name, n, seen.n, err);
		return "(error)";
	}
	out[0] = '\0';
	for (i = 0; i < seen.n && i < 16; i++) {
		char *key = strchr(strchr(seen.rows[i], ':') + 1, ':') + 1;

		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%.*s", i ? "," : "",
		         (int)(strchr(key, ':') - key), key);
	}
	return out;
}

static int64_t first_due_id(struct eddy_store *s, int64_t now_ms)
{
	struct seen seen = {0};
	char err[256] = "";

	if (eddy_store_outbox_due(s, now_ms, 1, collect, &seen, err, sizeof(err)) != 1)
		return -1;
	return strtoll(seen.rows[0], NULL, 10);
}

static void test_outbox_add_and_dedupe(void)
{
	struct eddy_store *s = open_at("outbox.db");
	struct seen seen = {0};
	char err[256] = "";

	CHECK(s != NULL);
	if (!s)
		return;
	/* outside a batch: refused */
	CHECK(eddy_store_outbox_add(s, "ops", "k", "{}", 2, 1000, 60000, err, sizeof(err)) == -1);
	CHECK(strstr(err, "no transaction") != NULL);

	CHECK(begin(s) == 0);
	CHECK(add(s, "ops", "ORD-1", "{\"n\":1}", 1000000, 60000) == 0);
	/* the same key within the window, in the same batch: once */
	CHECK(add(s, "ops", "ORD-1", "{\"n\":2}", 1000500, 60000) == 1);
	/* another sink, same key: the key decides */
	CHECK(add(s, "pager", "ORD-1", "{\"n\":3}", 1001000, 60000) == 1);
	CHECK(add(s, "ops", "ORD-2", "{\"n\":4}", 1002000, 60000) == 0);
	CHECK(commit(s) == 0);

	/* a later batch (a replay after a restart) still within the window */
	CHECK(begin(s) == 0);
	CHECK(add(s, "ops", "ORD-1", "{\"n\":5}", 1059999, 60000) == 1);
	/* exactly the window after it: added again */
	CHECK(add(s, "ops", "ORD-2", "{\"n\":6}", 1062000, 60000) == 0);
	/* a window of 0 never deduplicates */
	CHECK(add(s, "ops", "ORD-2", "{\"n\":7}", 1062000, 0) == 0);
	CHECK(commit(s) == 0);

	CHECK(eddy_store_outbox_due(s, 2000000, 10, collect, &seen, err, sizeof(err)) == 4);
	CHECK(seen.n == 4);
	/* the first as it was added: body as given, no attempts, due at once */
	CHECK(strstr(seen.rows[0], ":ops:ORD-1:{\"n\":1}:0:1000000:1000000") != NULL);
	CHECK(strstr(seen.rows[1], ":ops:ORD-2:{\"n\":4}:0:1002000:1002000") != NULL);
	CHECK(strstr(seen.rows[2], ":ops:ORD-2:{\"n\":6}:0:1062000:1062000") != NULL);
	CHECK(strstr(seen.rows[3], ":ops:ORD-2:{\"n\":7}:0:1062000:1062000") != NULL);
	eddy_store_destroy(s);
}

static void test_outbox_rollback(void)
{
	struct eddy_store *s = open_at("outbox-rollback.db");

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	CHECK(add(s, "ops", "kept", "{}", 1000, 60000) == 0);
	CHECK(commit(s) == 0);
	CHECK(begin(s) == 0);
	CHECK(add(s, "ops", "undone", "{}", 2000, 60000) == 0);
	CHECK(put(s, "orders", "k", "1") == 0);
	CHECK(eddy_store_rollback(s) == 0);
	CHECK_STR(due_keys(s, 10000, 10), "kept");
	/* the undone alert left nothing to deduplicate against */
	CHECK(begin(s) == 0);
	CHECK(add(s, "ops", "undone", "{}", 3000, 60000) == 0);
	CHECK(commit(s) == 0);
	CHECK_STR(due_keys(s, 10000, 10), "kept,undone");
	eddy_store_destroy(s);

	/* the first alert of a store creates the outbox in its batch: undone
	 * with it, and made again by the next */
	s = open_at("outbox-fresh.db");
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_STR(due_keys(s, 10000, 10), "");
	CHECK(begin(s) == 0);
	CHECK(add(s, "ops", "gone", "{}", 1000, 60000) == 0);
	CHECK(eddy_store_rollback(s) == 0);
	CHECK_STR(due_keys(s, 10000, 10), "");
	CHECK(begin(s) == 0);
	CHECK(add(s, "ops", "here", "{}", 1000, 60000) == 0);
	CHECK(commit(s) == 0);
	CHECK_STR(due_keys(s, 10000, 10), "here");
	eddy_store_destroy(s);
}

static void test_outbox_due_and_mark(void)
{
	struct eddy_store *s = open_at("outbox-due.db");
	char err[256] = "", sql[512];
	struct seen seen = {0};
	int64_t id;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_STR(due_keys(s, 10000, 10), "");
	CHECK(begin(s) == 0);
	CHECK(add(s, "ops", "a", "{}", 1000, 0) == 0);
	CHECK(add(s, "ops", "b", "{}", 1001, 0) == 0);
	CHECK(add(s, "ops", "c", "{}", 1002, 0) == 0);
	CHECK(add(s, "ops", "d", "{}", 5000, 0) == 0);
	/* not while a batch is open on this handle */
	CHECK(eddy_store_outbox_due(s, 10000, 10, collect, &seen, err, sizeof(err)) == -1);
	CHECK(eddy_store_outbox_mark(s, 1, EDDY_OUTBOX_DELIVERED, 0, NULL, err, sizeof(err)) == -1);
	CHECK(commit(s) == 0);

	/* only what is due, first added first, at most max */
	CHECK_STR(due_keys(s, 999, 10), "");
	CHECK_STR(due_keys(s, 1001, 10), "a,b");
	CHECK_STR(due_keys(s, 10000, 10), "a,b,c,d");
	CHECK_STR(due_keys(s, 10000, 2), "a,b");
	CHECK_STR(due_keys(s, 10000, 0), "");

	/* a delivered: gone from the due list */
	id = first_due_id(s, 10000);
	CHECK(eddy_store_outbox_mark(s, id, EDDY_OUTBOX_DELIVERED, 0, NULL, err, sizeof(err)) == 0);
	CHECK_STR(due_keys(s, 10000, 10), "b,c,d");
	/* b failed for now: due again later, attempts counted, the error kept */
	id = first_due_id(s, 10000);
	CHECK(eddy_store_outbox_mark(s, id, EDDY_OUTBOX_PENDING, 20000, "HTTP 503", err,
	                             sizeof(err)) == 0);
	CHECK_STR(due_keys(s, 10000, 10), "c,d");
	CHECK_STR(due_keys(s, 20000, 10), "b,c,d");
	memset(&seen, 0, sizeof(seen));
	CHECK(eddy_store_outbox_due(s, 20000, 1, collect, &seen, err, sizeof(err)) == 1);
	CHECK(strstr(seen.rows[0], ":ops:b:{}:1:1001:20000") != NULL);
	/* c failed for good */
	id = first_due_id(s, 10000);
	CHECK(eddy_store_outbox_mark(s, id, EDDY_OUTBOX_FAILED, 0, "HTTP 400", err, sizeof(err)) ==
	      0);
	CHECK_STR(due_keys(s, 1000000, 10), "b,d");
	/* an unknown id is an error */
	err[0] = '\0';
	CHECK(eddy_store_outbox_mark(s, 987654, EDDY_OUTBOX_DELIVERED, 0, NULL, err, sizeof(err)) ==
	      -1);
	CHECK(strstr(err, "987654") != NULL);
	snprintf(sql, sizeof(sql),
	         "SELECT %s(dedupe_key || '=' || state || '/' || attempts || '/' || "
	         "coalesce(error, '-'), ',') FROM (SELECT * FROM eddy_outbox ORDER BY id) o",
	         be->agg);
	CHECK(query_is("outbox-due.db", sql,
	               "a=delivered/1/-,b=pending/1/HTTP 503,c=failed/1/HTTP 400,d=pending/0/-"));
	eddy_store_destroy(s);
}

/* What the outbox still holds, due or in backoff; the sender's lazy
 * commits, refused in a batch, change nothing it reads. */
static void test_outbox_pending_and_lazy(void)
{
	struct eddy_store *s = open_at("outbox-pending.db");
	char err[256] = "";
	int64_t id;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(eddy_store_outbox_pending(s, err, sizeof(err)) == 0); /* no outbox yet */
	CHECK(begin(s) == 0);
	CHECK(add(s, "ops", "a", "{}", 1000, 0) == 0);
	CHECK(add(s, "ops", "b", "{}", 1001, 0) == 0);
	CHECK(add(s, "ops", "c", "{}", 1002, 0) == 0);
	CHECK(eddy_store_outbox_pending(s, err, sizeof(err)) == -1);
	CHECK(eddy_store_lazy_commits(s, err, sizeof(err)) == -1);
	CHECK(commit(s) == 0);
	CHECK(eddy_store_lazy_commits(s, err, sizeof(err)) == 0);
	CHECK(eddy_store_outbox_pending(s, err, sizeof(err)) == 3);
	id = first_due_id(s, 10000);
	CHECK(eddy_store_outbox_mark(s, id, EDDY_OUTBOX_DELIVERED, 0, NULL, err, sizeof(err)) == 0);
	id = first_due_id(s, 10000);
	CHECK(eddy_store_outbox_mark(s, id, EDDY_OUTBOX_PENDING, 20000, "HTTP 503", err,
	                             sizeof(err)) == 0);
	CHECK(eddy_store_outbox_pending(s, err, sizeof(err)) == 2); /* b is in backoff */
	id = first_due_id(s, 10000);
	CHECK(eddy_store_outbox_mark(s, id, EDDY_OUTBOX_FAILED, 0, "HTTP 400", err, sizeof(err)) ==
	      0);
	CHECK(eddy_store_outbox_pending(s, err, sizeof(err)) == 1);
	/* the handle still takes batches */
	CHECK(begin(s) == 0);
	CHECK(add(s, "ops", "d", "{}", 1003, 0) == 0);
	CHECK(commit(s) == 0);
	CHECK(eddy_store_outbox_pending(s, err, sizeof(err)) == 2);
	eddy_store_destroy(s);
}

/* The callback marks what it is given on the same handle. */
struct marker {
	struct eddy_store *s;
	int ok;
};

static void mark_delivered(void *ud, const struct eddy_outbox_alert *a)
{
	struct marker *m = ud;
	char err[256] = "";

	if (eddy_store_outbox_mark(m->s, a->id, EDDY_OUTBOX_DELIVERED, 0, NULL, err, sizeof(err)) <
	    0) {
		fprintf(stderr, "%s: mark in callback: %s\n", be->name, err);
		m->ok = 0;
	}
}

static void test_outbox_mark_in_callback(void)
{
	struct eddy_store *s = open_at("outbox-cb.db");
	struct marker m;
	char err[256] = "";

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	CHECK(add(s, "ops", "a", "{}", 1000, 0) == 0);
	CHECK(add(s, "ops", "b", "{}", 1000, 0) == 0);
	CHECK(commit(s) == 0);
	m.s = s;
	m.ok = 1;
	CHECK(eddy_store_outbox_due(s, 2000, 10, mark_delivered, &m, err, sizeof(err)) == 2);
	CHECK(m.ok);
	CHECK_STR(due_keys(s, 2000, 10), "");
	eddy_store_destroy(s);
}

struct mark_job {
	struct eddy_store *s;
	int64_t id;
	int rc;
	char err[256];
};

static void *mark_thread(void *arg)
{
	struct mark_job *j = arg;

	j->rc = eddy_store_outbox_mark(j->s, j->id, EDDY_OUTBOX_DELIVERED, 0, NULL, j->err,
	                               sizeof(j->err));
	return NULL;
}

/* The sender's handle reads and marks while the consumer's holds a batch
 * open: it sees what is committed, not the batch's alerts, and its mark
 * waits for the batch rather than failing. */
static void test_outbox_second_handle(void)
{
	struct eddy_store *consumer = open_at("outbox-two.db");
	struct eddy_store *sender = open_at("outbox-two.db");
	struct timespec pause = {0, 200 * 1000 * 1000};
	struct mark_job job = {0};
	pthread_t th;

	CHECK(consumer != NULL && sender != NULL);
	if (!consumer || !sender) {
		eddy_store_destroy(consumer);
		eddy_store_destroy(sender);
		return;
	}
	CHECK(begin(consumer) == 0);
	CHECK(add(consumer, "ops", "first", "{}", 1000, 60000) == 0);
	CHECK(commit(consumer) == 0);

	CHECK(begin(consumer) == 0);
	CHECK(add(consumer, "ops", "second", "{}", 1001, 60000) == 0);
	CHECK(put(consumer, "orders", "k", "1") == 0);
	CHECK_STR(due_keys(sender, 5000, 10), "first");
	job.s = sender;
	job.id = first_due_id(sender, 5000);
	job.rc = -2;
	CHECK(pthread_create(&th, NULL, mark_thread, &job) == 0);
	nanosleep(&pause, NULL);
	CHECK(commit(consumer) == 0);
	pthread_join(th, NULL);
	CHECK(job.rc == 0);
	if (job.rc != 0)
		fprintf(stderr, "%s: mark while a batch was open: %s\n", be->name, job.err);
	CHECK_STR(due_keys(sender, 5000, 10), "second");
	CHECK_STR(get(sender, "orders", "k"), "1");
	eddy_store_destroy(sender);
	eddy_store_destroy(consumer);
}

/* 0 when the store would take value under key; else -1, with err holding
 * the reason and a match for want. */
static int refused(struct eddy_store *s, const char *key, size_t key_len, const char *value,
                   const char *want)
{
	char err[256] = "";
	int rc = eddy_store_check_write(s, "checked", key, key_len, value,
	                                value ? strlen(value) : 0, false, err, sizeof(err));
	if (rc < 0 && (!strstr(err, want) || strchr(err, '\n')))
		fprintf(stderr, "check_write: \"%s\" does not say \"%s\"\n", err, want);
	return rc < 0 && strstr(err, want) && !strchr(err, '\n');
}

/* n arrays, one in the other, as text in buf (2 * n + 1 bytes). */
static const char *nested(char *buf, int n)
{
	for (int i = 0; i < n; i++)
		buf[i] = '[', buf[n + i] = ']';
	buf[2 * n] = '\0';
	return buf;
}

/* What a write must be to read back (eddy_store_check_write), whichever
 * writes it: UTF-8 keys and values, nesting the parser reads, and on
 * PostgreSQL no \u0000; a get of a key no write can have finds nothing,
 * without an error (on PostgreSQL the query would fail the batch). */
static void test_check_write(void)
{
	struct eddy_store *s = open_at("check/state.db");
	char deep[2 * 130 + 1];
	const char *v;
	size_t len;
	char err[256] = "";
	int pg = strcmp(be->name, "sqlite") != 0;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(refused(s, "k", 1, "\"\xff\xfe\"", "not UTF-8"));
	CHECK(refused(s, "k", 1, "{\"a\":[\"x\",\"\xc3\"]}", "byte 0xc3 at 11"));
	CHECK(refused(s, "k", 1, "{\"\xed\xa0\x80\":1}", "not UTF-8"));
	CHECK(refused(s, "\xff", 1, "1", "key must be UTF-8 text"));
	CHECK(refused(s, "a\0b", 3, NULL, "without NUL"));
	CHECK(!refused(s, "k\xc3\xa9", 3, "{\"\xc3\xa9\":\"\xf0\x9f\x98\x80\"}", ""));
	/* as deep as the parser reads, and no deeper */
	CHECK(!refused(s, "k", 1, nested(deep, 128), ""));
	CHECK(refused(s, "k", 1, nested(deep, 129), "nests deeper than 128"));
	/* brackets in strings are text */
	CHECK(
	    !refused(s, "k", 1, "{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", ""));
	/* jsonb has no NUL character; an escaped backslash before u0000 is text */
	CHECK(refused(s, "k", 1, "[\"a\\u0000\"]", "\\u0000") == pg);
	CHECK(!refused(s, "k", 1, "[\"a\\\\u0000\"]", ""));
	CHECK(refused(s, "k", 1, "[\"a\\u0001\\\"\\u00001\"]", "\\u0000") == pg);
	/* text the parser read (an event's data passed on) is UTF-8 and nested
	 * within reach already: only what the backend cannot keep is looked for */
	CHECK(eddy_store_check_write(s, "checked", "k", 1, "[\"a\\u0000\"]", 11, true, err,
	                             sizeof err) == -pg);
	CHECK(eddy_store_check_write(s, "checked", "k", 1, "[\"a\"]", 5, true, err, sizeof err) ==
	      0);
	CHECK(eddy_store_check_write(s, "eddy_x", "k", 1, "1", 1, true, err, sizeof err) == -1);

	CHECK(begin(s) == 0);
	CHECK(put(s, "checked", "deep", nested(deep, 128)) == 0);
	CHECK(eddy_store_get(s, "checked", "\xff", 1, &v, &len, err, sizeof(err)) == 0);
	CHECK(eddy_store_get(s, "checked", "a\0b", 3, &v, &len, err, sizeof(err)) == 0);
	CHECK(strcmp(get(s, "checked", "deep"), "(error)") != 0);
	CHECK(commit(s) == 0);
	CHECK(strlen(get(s, "checked", "deep")) >= 256);
	eddy_store_destroy(s);
}

/* ---- PostgreSQL's own --------------------------------------------------- */

/* jsonb keeps the value, not its spelling: what a get gives back. */
static void test_pg_jsonb(void)
{
	struct eddy_store *s = open_at("jsonb.db");
	char err[256] = "";

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	CHECK(put(s, "v", "1",
	          "{ \"b\" : 1, \"a\":312.0, \"c\":1e3, \"aa\":[1.50, -0, \"\\u00e9\"]}") == 0);
	CHECK(put(s, "v", "2", "{\"k\":1,\"k\":2}") == 0);
	CHECK(put(s, "v", "3", "\"text\"") == 0);
	CHECK(put(s, "v", "4", "null") == 0);
	CHECK_STR(get(s, "v", "1"),
	          "{\"a\": 312.0, \"b\": 1, \"c\": 1000, \"aa\": [1.50, 0, \"\xc3\xa9\"]}");
	CHECK_STR(get(s, "v", "2"), "{\"k\": 2}");
	CHECK_STR(get(s, "v", "3"), "\"text\"");
	CHECK_STR(get(s, "v", "4"), "null");
	CHECK(commit(s) == 0);
	CHECK(query_is("jsonb.db", "SELECT value->>'a' FROM v WHERE key = '1'", "312.0"));

	/* not JSON: the batch fails at its next answer (here the commit), and
	 * the store takes the next one */
	CHECK(begin(s) == 0);
	CHECK(put(s, "v", "5", "1") == 0);
	CHECK(eddy_store_upsert(s, "v", "6", 1, "not json", 8, NULL, err, sizeof(err)) == 0);
	CHECK(eddy_store_commit(s, err, sizeof(err)) == -1);
	CHECK(strstr(err, "json") != NULL);
	CHECK(strchr(err, '\n') == NULL);
	CHECK_STR(get(s, "v", "5"), "");
	CHECK(begin(s) == 0);
	CHECK(put(s, "v", "5", "1") == 0);
	/* or at the next get, which then fails too */
	CHECK(eddy_store_upsert(s, "v", "7", 1, "{", 1, NULL, err, sizeof(err)) == 0);
	CHECK_STR(get(s, "v", "5"), "(error)");
	CHECK(eddy_store_commit(s, err, sizeof(err)) == -1);
	CHECK(begin(s) == 0);
	CHECK(put(s, "v", "8", "[]") == 0);
	CHECK(commit(s) == 0);
	CHECK(query_is("jsonb.db", "SELECT string_agg(key, ',' ORDER BY key) FROM v", "1,2,3,4,8"));
	eddy_store_destroy(s);
}

/* Keys are text: any bytes but NUL, a length that stops short of the
 * string; a NUL is refused before anything is sent. */
static void test_pg_keys(void)
{
	struct eddy_store *s = open_at("keys.db");
	char err[256] = "";
	const char *v;
	size_t len;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	CHECK(eddy_store_upsert(s, "b", "abcdef", 2, "[1,2]trailing", 5, NULL, err, sizeof(err)) ==
	      0);
	CHECK(eddy_store_upsert(s, "b", "a\0b", 3, "1", 1, NULL, err, sizeof(err)) == -1);
	CHECK(strstr(err, "NUL") != NULL);
	CHECK(eddy_store_get(s, "b", "ab", 2, &v, &len, err, sizeof(err)) == 1);
	CHECK(len == 6 && memcmp(v, "[1, 2]", 6) == 0);
	CHECK(eddy_store_get(s, "b", "a", 1, &v, &len, err, sizeof(err)) == 0);
	CHECK(commit(s) == 0);
	CHECK(query_is("keys.db", "SELECT key FROM b", "ab"));
	eddy_store_destroy(s);
}

/* More upserts in a batch than are sent before their answers are read,
 * with gets in between: each sees the batch's writes so far. */
static void test_pg_long_batch(void)
{
	struct eddy_store *s = open_at("long.db");
	char key[32], value[32];
	int i, ok = 1;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	for (i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "k%d", i % 700);
		snprintf(value, sizeof(value), "%d", i);
		ok &= put(s, "orders", key, value) == 0;
		if (i % 333 == 0)
			ok &= strcmp(get(s, "orders", key), value) == 0;
	}
	CHECK(ok);
	CHECK(commit(s) == 0);
	CHECK(query_is("long.db", "SELECT count(*) || '/' || max(value::text::int) FROM orders",
	               "700/1999"));
	eddy_store_destroy(s);
}

/* The server goes away mid-batch and while idle: each failure is an
 * error, nothing of the failed batch is kept, and the first begin once it
 * is back works on a new connection. */
static void test_pg_reconnect(void)
{
	struct eddy_store *s = open_at("reconnect.db");
	char err[256] = "";

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	CHECK(put(s, "orders", "before", "1") == 0);
	CHECK(commit(s) == 0);

	CHECK(begin(s) == 0);
	CHECK(put(s, "orders", "lost", "2") == 0);
	pg_stop(1);
	CHECK(eddy_store_commit(s, err, sizeof(err)) == -1);
	CHECK(strncmp(err, "postgres: ", 10) == 0);
	err[0] = '\0';
	CHECK(eddy_store_begin(s, err, sizeof(err)) == -1);
	CHECK(strstr(err, "connect") != NULL);
	CHECK(eddy_store_rollback(s) == 0);
	CHECK(pg_start(pg_dir) == 0);
	CHECK(begin(s) == 0);
	CHECK_STR(get(s, "orders", "before"), "1");
	CHECK_STR(get(s, "orders", "lost"), "");
	CHECK(put(s, "orders", "after", "3") == 0);
	CHECK(commit(s) == 0);

	/* restarted while idle: the begin notices and connects again */
	pg_stop(1);
	CHECK(pg_start(pg_dir) == 0);
	CHECK(begin(s) == 0);
	CHECK(put(s, "orders", "idle", "4") == 0);
	CHECK(commit(s) == 0);
	CHECK(query_is("reconnect.db", "SELECT string_agg(key, ',' ORDER BY key) FROM orders",
	               "after,before,idle"));
	eddy_store_destroy(s);
}

static void test_pg_open_errors(void)
{
	char err[256] = "";

	CHECK(eddy_store_open_pg("", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "store.dsn") != NULL);
	err[0] = '\0';
	CHECK(eddy_store_open_pg("host=/nonexistent/eddy port=1", err, sizeof(err)) == NULL);
	CHECK(strncmp(err, "postgres: connect: ", 19) == 0);
	CHECK(strchr(err, '\n') == NULL);
}

/* store.cache_kib is the sqlite store's */
static void test_pg_cache_size(void)
{
	char err[256] = "";
	struct eddy_store *s = open_at("cache");
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(eddy_store_sqlite_cache(s, 1024, err, sizeof(err)) == -1);
	CHECK_STR(err, "store.cache_kib: not a sqlite store");
	eddy_store_destroy(s);
}

/* Every check that holds for any backend. */
static void test_backend(const struct backend *b)
{
	be = b;
	test_round_trip();
	test_replace_keeps_one_row();
	test_origin_columns();
	test_transaction_sees_own_writes_only();
	test_rollback();
	test_persists_across_reopen();
	test_namespace_names();
	test_missing_namespace();
	test_two_namespaces();
	test_delete_missing_key();
	test_transaction_misuse();
	test_borrowed_value();
	test_outbox_add_and_dedupe();
	test_outbox_rollback();
	test_outbox_due_and_mark();
	test_outbox_pending_and_lazy();
	test_outbox_mark_in_callback();
	test_outbox_second_handle();
	test_check_write();
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/eddy-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	eddy_store_destroy(NULL);
	test_backend(&sqlite_backend);
	/* SQLite's own */
	test_wal();
	test_key_and_value_bytes();
	test_open_errors();
	test_cache_size();
	test_failing_commit();
	test_waits_for_lock();
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	/* the same against a real server, then PostgreSQL's own */
	CHECK(pg_start(NULL) == 0);
	if (pg_dir[0]) {
		test_backend(&pg_backend);
		test_pg_jsonb();
		test_pg_keys();
		test_pg_long_batch();
		test_pg_open_errors();
		test_pg_cache_size();
		test_pg_reconnect();
		pg_stop(0);
	}
	return test_report("store");
}
