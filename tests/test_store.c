/* test_store.c - the SQLite store on real files, checked through its API
 * and through a second connection, the way a user with the sqlite3 shell
 * sees it. */
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "test.h"

static char dir[1024];

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

/* The first column of the first row of sql on a separate connection, as
 * text ("(null)" for NULL), or NULL when there is no row or an error.
 * The caller frees it. */
static char *query(const char *db_path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *out = NULL;

	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
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

static int query_is(const char *db_path, const char *sql, const char *want)
{
	char *got = query(db_path, sql);
	int ok = got && strcmp(got, want) == 0;

	if (!ok)
		fprintf(stderr, "  %s: got \"%s\", want \"%s\"\n", sql, got ? got : "(no row)",
		        want);
	free(got);
	return ok;
}

static struct eddy_store *open_at(const char *name)
{
	char err[256] = "";
	struct eddy_store *s = eddy_store_open_sqlite(path_in(name), err, sizeof(err));

	if (!s)
		fprintf(stderr, "open %s: %s\n", name, err);
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
	CHECK_STR(get(s, "orders", "o-1"), "{\"total\":12.5,\"items\":[]}");
	CHECK(eddy_store_delete(s, "orders", "o-1", 3, err, sizeof(err)) == 0);
	CHECK_STR(get(s, "orders", "o-1"), "");
	CHECK(commit(s) == 0);
	CHECK(query_is(path_in("round/state.db"), "SELECT count(*) FROM orders", "0"));
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
	CHECK_STR(get(s, "orders", "o-1"), "{\"v\":2}");
	CHECK(commit(s) == 0);
	CHECK(query_is(path_in("replace.db"), "SELECT count(*) || ' ' || value FROM orders",
	               "1 {\"v\":2}"));
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
	CHECK(query_is(path_in("origin.db"),
	               "SELECT topic || '/' || partition || '/' || \"offset\" FROM orders "
	               "WHERE key = 'a'",
	               "orders.v1/3/1234567890123"));
	CHECK(query_is(path_in("origin.db"),
	               "SELECT count(*) FROM orders WHERE key = 'b' AND topic IS NULL AND "
	               "partition IS NULL AND \"offset\" IS NULL",
	               "1"));
	CHECK(query_is(path_in("origin.db"),
	               "SELECT quote(topic) || '/' || partition || '/' || \"offset\" FROM orders "
	               "WHERE key = 'c'",
	               "NULL/0/17"));
	/* a replace moves the origin along with the value */
	CHECK(begin(s) == 0);
	o.offset++;
	CHECK(eddy_store_upsert(s, "orders", "a", 1, "4", 1, &o, err, sizeof(err)) == 0);
	CHECK(commit(s) == 0);
	CHECK(query_is(path_in("origin.db"),
	               "SELECT value || '/' || \"offset\" FROM orders WHERE key = 'a'",
	               "4/1234567890124"));
	stamp = query(path_in("origin.db"), "SELECT updated_at FROM orders WHERE key = 'a'");
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
	CHECK(query_is(path_in("own.db"),
	               "SELECT count(*) FROM sqlite_master WHERE name = 'orders'", "0"));
	CHECK(commit(s) == 0);
	CHECK(query_is(path_in("own.db"), "SELECT value FROM orders WHERE key = 'o-1'", "{}"));
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
	CHECK(query_is(path_in("rollback.db"),
	               "SELECT count(*) FROM sqlite_master WHERE name = 'ghost'", "0"));
	CHECK(begin(s) == 0);
	CHECK(put(s, "ghost", "x", "5") == 0);
	CHECK(commit(s) == 0);
	CHECK(query_is(path_in("rollback.db"), "SELECT value FROM ghost", "5"));
	/* nothing to roll back is fine */
	CHECK(eddy_store_rollback(s) == 0);
	eddy_store_destroy(s);
}

static void test_savepoints(void)
{
	struct eddy_store *s = open_at("savepoint.db");
	char err[256] = "";

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(begin(s) == 0);
	CHECK(eddy_store_savepoint(s, err, sizeof(err)) == 0);
	CHECK(put(s, "orders", "a", "1") == 0);
	CHECK(eddy_store_release(s, err, sizeof(err)) == 0);

	/* a failed event: its writes go, the batch's stay */
	CHECK(eddy_store_savepoint(s, err, sizeof(err)) == 0);
	CHECK(put(s, "orders", "a", "changed") == 0);
	CHECK(put(s, "orders", "b", "2") == 0);
	CHECK(put(s, "fresh", "f", "3") == 0);
	CHECK(eddy_store_rollback_savepoint(s, err, sizeof(err)) == 0);
	CHECK_STR(get(s, "orders", "a"), "1");
	CHECK_STR(get(s, "orders", "b"), "");
	CHECK_STR(get(s, "fresh", "f"), "");

	/* the savepoint is gone: a new one opens, and a second release fails */
	CHECK(eddy_store_savepoint(s, err, sizeof(err)) == 0);
	CHECK(put(s, "orders", "c", "4") == 0);
	CHECK(put(s, "fresh", "g", "5") == 0);
	CHECK(eddy_store_release(s, err, sizeof(err)) == 0);
	CHECK(eddy_store_release(s, err, sizeof(err)) == -1);
	CHECK(eddy_store_rollback_savepoint(s, err, sizeof(err)) == -1);
	CHECK(commit(s) == 0);

	CHECK(query_is(path_in("savepoint.db"),
	               "SELECT group_concat(key || '=' || value, ',') FROM "
	               "(SELECT * FROM orders ORDER BY key)",
	               "a=1,c=4"));
	CHECK(query_is(path_in("savepoint.db"), "SELECT group_concat(key) FROM fresh", "g"));

	/* savepoints belong inside a batch */
	CHECK(eddy_store_savepoint(s, err, sizeof(err)) == -1);
	CHECK(strstr(err, "no transaction") != NULL);
	CHECK(begin(s) == 0);
	CHECK(eddy_store_savepoint(s, err, sizeof(err)) == 0);
	CHECK(eddy_store_savepoint(s, err, sizeof(err)) == -1);
	/* commit with the event's savepoint open keeps the event */
	CHECK(put(s, "orders", "d", "6") == 0);
	CHECK(commit(s) == 0);
	CHECK_STR(get(s, "orders", "d"), "6");
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
	CHECK_STR(get(s, "orders", "o-1"), "{\"v\":1}");
	CHECK_STR(get(s, "orders", "o-2"), "");
	eddy_store_destroy(s);
}

static void test_namespace_names(void)
{
	static const char *bad[] = {"",         "1abc",     "a-b",          "a b", "a\"b",
	                            "sqlite_x", "SQLite_x", "sqlite_",      "é",   "orders;",
	                            "a\nb",     "a.b",      "sqlite_master"};
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
	CHECK(query_is(path_in("names.db"),
	               "SELECT count(*) FROM sqlite_master WHERE type = 'table'", "1"));
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
	CHECK(query_is(path_in("missing.db"), "SELECT count(*) FROM sqlite_master", "0"));
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
	CHECK(query_is(path_in("two.db"), "SELECT value FROM customers", "\"customer\""));
	CHECK(query_is(path_in("two.db"), "SELECT count(*) || value FROM orders", "1\"again\""));
	CHECK(query_is(path_in("two.db"), "SELECT count(*) FROM sqlite_master WHERE type='table'",
	               "2"));
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

	CHECK(s != NULL);
	CHECK(query_is(path_in("wal.db"), "PRAGMA journal_mode", "wal"));
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
	CHECK(query_is(path_in("bytes.db"), "SELECT count(*) FROM b", "3"));
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
	CHECK(len == 7 && memcmp(v, "{\"a\":1}", 7) == 0);
	CHECK(begin(s) == 0);
	CHECK(eddy_store_get(s, "orders", "k", 1, &v, &len, err, sizeof(err)) == 1);
	CHECK(put(s, "orders", "k", "{\"a\":2}") == 0);
	CHECK(eddy_store_get(s, "orders", "k", 1, &v, &len, err, sizeof(err)) == 1);
	CHECK(commit(s) == 0);
	CHECK(query_is(path_in("borrow.db"), "SELECT value FROM orders", "{\"a\":2}"));
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
	CHECK(eddy_store_open_sqlite(path_in("plain/sub/state.db"), err, sizeof(err)) == NULL);
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
	CHECK(eddy_store_open_sqlite(path_in("garbage.db"), err, sizeof(err)) == NULL);
	CHECK(strstr(err, "not a database") != NULL);

	err[0] = '\0';
	CHECK(eddy_store_open_sqlite("", err, sizeof(err)) == NULL);
	CHECK(err[0] != '\0');
}

/* A commit that cannot be written (here: the file size limit, standing in
 * for a full disk) fails, undoes the batch, and leaves the store ready for
 * the next one. */
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
	CHECK(query_is(path_in("full/state.db"),
	               "SELECT group_concat(key, ',') FROM (SELECT key FROM orders ORDER BY key)",
	               "after,before"));
	CHECK(query_is(path_in("full/state.db"), "SELECT value FROM grown", "3"));
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

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/eddy-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	eddy_store_destroy(NULL);
	test_round_trip();
	test_replace_keeps_one_row();
	test_origin_columns();
	test_transaction_sees_own_writes_only();
	test_rollback();
	test_savepoints();
	test_persists_across_reopen();
	test_namespace_names();
	test_missing_namespace();
	test_two_namespaces();
	test_wal();
	test_delete_missing_key();
	test_transaction_misuse();
	test_key_and_value_bytes();
	test_borrowed_value();
	test_open_errors();
	test_failing_commit();
	test_waits_for_lock();
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return test_report("store");
}
