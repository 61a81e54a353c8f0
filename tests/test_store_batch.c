/* test_store_batch.c - batches of store writes in memory (coalesced per key,
 * readable before they are committed) and the writer thread that commits
 * them, on a real SQLite file read back through a connection of its own. */
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "alloc.h"
#include "store/store.h"
#include "store/store_batch.h"
#include "test.h"

static char dir[1024];
static char db[1100];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* The first column of the first row of sql from a connection of our own,
 * "" when there is no row; into buf. */
static const char *query(const char *sql, char *buf, size_t size)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	buf[0] = '\0';
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return buf;
}

/* The batch's view of ns/key: the value, "(deleted)" or "(none)". */
static const char *found(const struct eddy_store_batch *b, const char *ns, const char *key)
{
	static char buf[256];
	const char *v;
	size_t len;
	if (!eddy_store_batch_find(b, ns, key, strlen(key), &v, &len))
		return "(none)";
	if (!v)
		return "(deleted)";
	snprintf(buf, sizeof buf, "%.*s", (int)len, v);
	return buf;
}

static int put(struct eddy_store_batch *b, const char *ns, const char *key, const char *value,
               int64_t offset)
{
	struct eddy_store_origin o = {"orders-topic", 3, offset};
	return eddy_store_batch_put(b, ns, key, strlen(key), value, value ? strlen(value) : 0, &o);
}

/* The last write of a key wins, whatever the namespace's case; only it
 * reaches the store, with its own origin. */
static void test_coalesce(struct eddy_store *s)
{
	struct eddy_store_batch *b = eddy_store_batch_new();
	struct eddy_store_batch_result res;
	char err[256] = "", got[256];

	CHECK(eddy_store_batch_count(b) == 0);
	CHECK_STR(found(b, "orders", "a"), "(none)");
	CHECK(put(b, "orders", "a", "{\"v\":1}", 10) == 0);
	CHECK(put(b, "Orders", "a", "{\"v\":2}", 11) == 0);
	CHECK(put(b, "orders", "b", "{\"v\":1}", 12) == 0);
	CHECK(put(b, "ORDERS", "b", NULL, 13) == 0);
	CHECK(put(b, "orders2", "a", "{\"v\":9}", 14) == 0);
	CHECK(eddy_store_batch_count(b) == 5);
	CHECK_STR(found(b, "orders", "a"), "{\"v\":2}");
	CHECK_STR(found(b, "orders", "b"), "(deleted)");
	CHECK_STR(found(b, "oRders2", "a"), "{\"v\":9}");
	CHECK_STR(found(b, "orders", "c"), "(none)");
	CHECK_STR(found(b, "order", "a"), "(none)");

	CHECK(eddy_store_batch_commit(s, b, &res, err, sizeof err) == 0);
	CHECK_STR(err, "");
	CHECK_STR(query("select value from orders where key = 'a'", got, sizeof got), "{\"v\":2}");
	CHECK_STR(query("select \"offset\" || ' ' || topic || ' ' || \"partition\" from orders "
	                "where key = 'a'",
	                got, sizeof got),
	          "11 orders-topic 3");
	CHECK_STR(query("select count(*) from orders", got, sizeof got), "1");
	CHECK_STR(query("select value from orders2 where key = 'a'", got, sizeof got), "{\"v\":9}");

	eddy_store_batch_reset(b);
	CHECK(eddy_store_batch_count(b) == 0);
	CHECK_STR(found(b, "orders", "a"), "(none)");
	eddy_store_batch_destroy(b);
	eddy_store_batch_destroy(NULL);
}

/* Thousands of keys, many written twice: each one found at its last
 * value while the table grows, and the store gets one row per key. */
static void test_many_keys(struct eddy_store *s)
{
	struct eddy_store_batch *b = eddy_store_batch_new();
	struct eddy_store_batch_result res;
	char err[256] = "", key[32], value[64], got[256];
	int bad = 0;

	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 20000; i += round + 1) {
			snprintf(key, sizeof key, "K-%d", i);
			snprintf(value, sizeof value, "{\"i\":%d,\"round\":%d}", i, round);
			bad += put(b, "many", key, value, i) != 0;
		}
	CHECK(bad == 0);
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof key, "K-%d", i);
		snprintf(value, sizeof value, "{\"i\":%d,\"round\":%d}", i, i % 2 == 0);
		bad += strcmp(found(b, "many", key), value) != 0;
	}
	CHECK(bad == 0);
	CHECK(eddy_store_batch_commit(s, b, &res, err, sizeof err) == 0);
	CHECK_STR(query("select count(*) from many", got, sizeof got), "20000");
	CHECK_STR(query("select sum(json_extract(value, '$.round')) from many", got, sizeof got),
	          "10000");
	eddy_store_batch_destroy(b);
}

/* Alerts reach the outbox in the batch's transaction, deduplicated there. */
static void test_alerts(struct eddy_store *s)
{
	struct eddy_store_batch *b = eddy_store_batch_new();
	struct eddy_store_batch_result res;
	char err[256] = "", got[256];

	CHECK(eddy_store_batch_alert(b, "ops", "dd-1", "{\"n\":1}", 7, 1000, 60000) == 0);
	CHECK(eddy_store_batch_alert(b, "ops", "dd-1", "{\"n\":2}", 7, 1001, 60000) == 0);
	CHECK(eddy_store_batch_alert(b, "ops", "dd-2", "{\"n\":3}", 7, 1002, 60000) == 0);
	CHECK(eddy_store_batch_count(b) == 3);
	CHECK(eddy_store_batch_commit(s, b, &res, err, sizeof err) == 0);
	CHECK(res.alerts == 2);
	CHECK(res.alerts_deduped == 1);
	CHECK(eddy_store_outbox_pending(s, err, sizeof err) == 2);
	CHECK_STR(query("select group_concat(body, ' ') from eddy_outbox", got, sizeof got),
	          "{\"n\":1} {\"n\":3}");
	eddy_store_batch_destroy(b);
}

/* A write the store refuses rolls the whole batch back. */
static void test_failed_commit(struct eddy_store *s)
{
	struct eddy_store_batch *b = eddy_store_batch_new();
	struct eddy_store_batch_result res;
	char err[256] = "", got[256];

	CHECK(put(b, "rolled", "a", "{}", 1) == 0);
	CHECK(put(b, "eddy_reserved", "a", "{}", 2) == 0); /* check_write's to refuse */
	CHECK(eddy_store_batch_commit(s, b, &res, err, sizeof err) == -1);
	CHECK(strstr(err, "invalid namespace") != NULL);
	CHECK_STR(
	    query("select count(*) from sqlite_master where name = 'rolled'", got, sizeof got),
	    "0");
	/* the store takes the next batch */
	eddy_store_batch_reset(b);
	CHECK(put(b, "rolled", "a", "{}", 1) == 0);
	CHECK(eddy_store_batch_commit(s, b, &res, err, sizeof err) == 0);
	CHECK_STR(query("select count(*) from rolled", got, sizeof got), "1");
	eddy_store_batch_destroy(b);
}

/* Running out of memory fails the write, and leaves the batch as it was. */
static void test_out_of_memory(void)
{
	struct eddy_store_batch *b = eddy_store_batch_new();
	CHECK(put(b, "orders", "a", "{\"v\":1}", 1) == 0);
	int failed = 0;
	for (unsigned long nth = 1; nth < 8; nth++) {
		char key[32];
		snprintf(key, sizeof key, "big-%lu", nth);
		eddy_alloc_fail_at(nth, false);
		/* a value bigger than the buffer: it grows */
		char *big = calloc(1, 200000);
		memset(big, 'x', 199998);
		big[0] = '"';
		big[199998] = '"';
		failed += put(b, "orders", key, big, 2) != 0;
		eddy_alloc_fail_at(0, false);
		free(big);
	}
	CHECK(failed > 0);
	CHECK_STR(found(b, "orders", "a"), "{\"v\":1}");
	eddy_store_batch_destroy(b);
}

/* The writer commits batch after batch while the caller goes on; a failed
 * batch is reported by the wait, and the next one still commits. A
 * reader on its own connection sees what is committed. */
static void test_writer(struct eddy_store *s)
{
	struct eddy_store_batch *b[2] = {eddy_store_batch_new(), eddy_store_batch_new()};
	struct eddy_store_batch_result res;
	char err[256] = "", key[32], got[256];
	struct eddy_store_writer *w = eddy_store_writer_start(s, err, sizeof err);
	struct eddy_store *reader = eddy_store_open_sqlite(db, 0, err, sizeof err);
	int bad = 0;

	CHECK(w != NULL && reader != NULL);
	CHECK(!eddy_store_writer_busy(w));
	CHECK(eddy_store_writer_wait(w, &res, err, sizeof err) == 0); /* none in flight */
	for (int n = 0; n < 20; n++) {
		struct eddy_store_batch *cur = b[n % 2];
		eddy_store_batch_reset(cur);
		for (int i = 0; i < 100; i++) {
			snprintf(key, sizeof key, "W-%d", i);
			char value[32];
			snprintf(value, sizeof value, "%d", n);
			bad += put(cur, "written", key, value, n) != 0;
		}
		bad += eddy_store_writer_wait(w, &res, err, sizeof err) != 0;
		eddy_store_writer_submit(w, cur);
		CHECK(eddy_store_writer_busy(w));
	}
	bad += eddy_store_writer_wait(w, &res, err, sizeof err) != 0;
	CHECK(bad == 0);
	CHECK(res.seconds > 0);
	CHECK(!eddy_store_writer_busy(w));
	CHECK_STR(query("select min(value) || ' ' || max(value) from written", got, sizeof got),
	          "19 19");
	const char *v = NULL;
	size_t len = 0;
	CHECK(eddy_store_get(reader, "written", "W-7", 3, &v, &len, err, sizeof err) == 1);
	CHECK(len == 2 && v && memcmp(v, "19", 2) == 0);

	eddy_store_batch_reset(b[0]);
	CHECK(put(b[0], "eddy_nope", "a", "{}", 1) == 0);
	eddy_store_writer_submit(w, b[0]);
	CHECK(eddy_store_writer_wait(w, &res, err, sizeof err) == -1);
	CHECK(strstr(err, "invalid namespace") != NULL);
	eddy_store_batch_reset(b[1]);
	CHECK(put(b[1], "written", "W-0", "20", 20) == 0);
	eddy_store_writer_submit(w, b[1]);
	eddy_store_writer_stop(w); /* waits for it */
	CHECK_STR(query("select value from written where key = 'W-0'", got, sizeof got), "20");
	eddy_store_writer_stop(NULL);
	eddy_store_destroy(reader);
	eddy_store_batch_destroy(b[0]);
	eddy_store_batch_destroy(b[1]);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char err[256] = "";

	snprintf(dir, sizeof(dir), "%s/eddy-batch-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(db, sizeof db, "%s/batch.db", dir);
	struct eddy_store *s = eddy_store_open_sqlite(db, 0, err, sizeof err);
	CHECK(s != NULL);
	if (s) {
		test_coalesce(s);
		test_many_keys(s);
		test_alerts(s);
		test_failed_commit(s);
		test_writer(s);
	}
	test_out_of_memory();
	eddy_store_destroy(s);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return test_report("store_batch");
}
