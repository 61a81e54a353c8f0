/* store_bench.c - upserts per second through the SQLite store, batched
 * the way the consumer batches them, and what synchronous=FULL costs; with
 * EDDY_PG_DSN set, the same through the PostgreSQL store, and a batch of
 * upserts sent one at a time against the same batch in libpq's pipeline
 * mode.
 *
 * Built with the project: build/release/store_bench [DIR]
 * EDDY_PG_DSN="$(tests/tools/pg-start)" build/release/store_bench
 *
 * DIR (default: a new directory under $TMPDIR or /tmp) should be on the
 * disk the service will use: the commit figures are fsync figures. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "store/store.h"

#define UPSERTS 200000
#define KEYS 20000
#define BATCH 1000
#define VALUES 256
#define COMMITS 300

static char values[VALUES][800];
static size_t value_len[VALUES];
static char keys[KEYS][16];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift: keys in a scattered order, as events for many entities are */
static unsigned next_rand(unsigned *state)
{
	unsigned x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

/* An order document of about 700 bytes, varied so that pages differ. */
static void make_values(void)
{
	int i;

	for (i = 0; i < VALUES; i++) {
		int n = snprintf(
		    values[i], sizeof(values[i]),
		    "{\"id\":\"order-%05d\",\"status\":\"shipped\",\"version\":%d,"
		    "\"customer\":{\"id\":\"cust-%06d\",\"name\":\"Ada Lovelace\","
		    "\"email\":\"ada.lovelace@example.com\",\"tier\":\"gold\"},"
		    "\"shipping\":{\"street\":\"12 Analytical Engine Road\",\"city\":\"London\","
		    "\"postcode\":\"NW1 %dAB\",\"country\":\"GB\"},"
		    "\"items\":[{\"sku\":\"SKU-%04d\",\"qty\":%d,\"price\":19.99},"
		    "{\"sku\":\"SKU-%04d\",\"qty\":1,\"price\":5.25},"
		    "{\"sku\":\"SKU-%04d\",\"qty\":3,\"price\":102.5}],"
		    "\"total\":%d.%02d,\"currency\":\"EUR\","
		    "\"created_at\":\"2025-01-14T12:30:00.123Z\","
		    "\"updated_at\":\"2025-01-14T12:31:%02d.456Z\","
		    "\"tags\":[\"priority\",\"gift\",\"eu\"],\"note\":\"",
		    i, i, i * 7, i % 10, i, i % 5 + 1, i + 1, i + 2, 100 + i, i % 100, i % 60);

		for (; n < 698; n++)
			values[i][n] = (char)('a' + (n + i) % 26);
		values[i][n++] = '"';
		values[i][n++] = '}';
		values[i][n] = '\0';
		value_len[i] = (size_t)n;
	}
	for (i = 0; i < KEYS; i++)
		snprintf(keys[i], sizeof(keys[i]), "order-%05d", i);
}

static void die(const char *what, const char *err)
{
	fprintf(stderr, "store_bench: %s: %s\n", what, err);
	exit(1);
}

/* Upserts per second over UPSERTS upserts in batches of BATCH on a fresh
 * store. */
static double run_upserts(struct eddy_store *s, double *commit_share)
{
	struct eddy_store_origin o = {"orders", 0, 0};
	unsigned seed = 2463534242u;
	char err[256];
	double t0, t, tc, in_commit = 0;
	int i;

	t0 = now();
	for (i = 0; i < UPSERTS; i++) {
		unsigned k = next_rand(&seed) % KEYS;

		if (i % BATCH == 0 && eddy_store_begin(s, err, sizeof(err)) < 0)
			die("begin", err);
		o.offset = i;
		if (eddy_store_upsert(s, "orders", keys[k], strlen(keys[k]), values[i % VALUES],
		                      value_len[i % VALUES], &o, err, sizeof(err)) < 0)
			die("upsert", err);
		if (i % BATCH != BATCH - 1)
			continue;
		tc = now();
		if (eddy_store_commit(s, err, sizeof(err)) < 0)
			die("commit", err);
		in_commit += now() - tc;
	}
	t = now() - t0;
	*commit_share = in_commit / t;
	return UPSERTS / t;
}

/* Microseconds per one-upsert transaction with plain SQLite in WAL mode,
 * synchronous set as given: what FULL costs per batch against NORMAL. */
static double run_commits(const char *path, const char *synchronous)
{
	char sql[128];
	sqlite3 *db;
	sqlite3_stmt *st;
	double t0, t;
	int i;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		die(path, sqlite3_errmsg(db));
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s", synchronous);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db,
	                 "CREATE TABLE IF NOT EXISTS orders (key TEXT PRIMARY KEY, value TEXT NOT "
	                 "NULL, updated_at TEXT NOT NULL, topic TEXT, partition INTEGER, "
	                 "\"offset\" INTEGER)",
	                 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	                       "INSERT INTO orders VALUES (?1, ?2, '2025-01-14T12:30:00.123Z', "
	                       "'orders', 0, ?3) ON CONFLICT(key) DO UPDATE SET "
	                       "value = excluded.value, \"offset\" = excluded.\"offset\"",
	                       -1, &st, NULL) != SQLITE_OK)
		die(path, sqlite3_errmsg(db));
	t0 = now();
	for (i = 0; i < COMMITS; i++) {
		sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		sqlite3_bind_text(st, 1, keys[i % KEYS], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, values[i % VALUES], (int)value_len[i % VALUES],
		                  SQLITE_STATIC);
		sqlite3_bind_int(st, 3, i);
		if (sqlite3_step(st) != SQLITE_DONE)
			die("commit bench", sqlite3_errmsg(db));
		sqlite3_reset(st);
		if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			die("commit bench", sqlite3_errmsg(db));
	}
	t = now() - t0;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return t / COMMITS * 1e6;
}

/* ---- PostgreSQL ---------------------------------------------------------- */

#define PG_BATCHES 100

static void pg_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		die(sql, PQerrorMessage(c));
	PQclear(r);
}

static void pg_expect(PGconn *c, PGresult *r, ExecStatusType want)
{
	if (!r || PQresultStatus(r) != want)
		die("pipeline", PQerrorMessage(c));
	PQclear(r);
}

/* Milliseconds per batch of BATCH upserts in one transaction, with libpq
 * directly: each upsert waiting for its answer (one round trip each), or
 * all of them in pipeline mode with one sync at the commit. */
static double run_pg_raw(const char *dsn, int pipeline)
{
	static const char upsert[] =
	    "INSERT INTO bench_raw (key, value, updated_at, topic, \"partition\", \"offset\") "
	    "VALUES ($1, $2::jsonb, now(), 'orders', 0, $3) ON CONFLICT (key) DO UPDATE SET "
	    "value = excluded.value, updated_at = excluded.updated_at, topic = excluded.topic, "
	    "\"partition\" = excluded.\"partition\", \"offset\" = excluded.\"offset\"";
	unsigned seed = 2463534242u;
	PGconn *c = PQconnectdb(dsn);
	PGresult *r;
	double t0, t;
	int b, i;

	if (PQstatus(c) != CONNECTION_OK)
		die(dsn, PQerrorMessage(c));
	pg_exec(c, "DROP TABLE IF EXISTS bench_raw");
	pg_exec(c, "CREATE TABLE bench_raw (key text PRIMARY KEY, value jsonb NOT NULL, "
	           "updated_at timestamptz NOT NULL, topic text, \"partition\" int, "
	           "\"offset\" bigint)");
	r = PQprepare(c, "up", upsert, 3, NULL);
	pg_expect(c, r, PGRES_COMMAND_OK);
	t0 = now();
	for (b = 0; b < PG_BATCHES; b++) {
		if (pipeline && !PQenterPipelineMode(c))
			die("pipeline mode", PQerrorMessage(c));
		if (pipeline) {
			if (!PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0))
				die("begin", PQerrorMessage(c));
		} else {
			pg_exec(c, "BEGIN");
		}
		for (i = 0; i < BATCH; i++) {
			unsigned k = next_rand(&seed) % KEYS;
			char off[24];
			const char *p[3] = {keys[k], values[i % VALUES], off};

			snprintf(off, sizeof(off), "%d", b * BATCH + i);
			if (!pipeline) {
				pg_expect(c, PQexecPrepared(c, "up", 3, p, NULL, NULL, 0),
				          PGRES_COMMAND_OK);
				continue;
			}
			if (!PQsendQueryPrepared(c, "up", 3, p, NULL, NULL, 0))
				die("send", PQerrorMessage(c));
		}
		if (!pipeline) {
			pg_exec(c, "COMMIT");
			continue;
		}
		if (!PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) ||
		    !PQpipelineSync(c))
			die("commit", PQerrorMessage(c));
		for (i = 0; i < BATCH + 2; i++) {
			pg_expect(c, PQgetResult(c), PGRES_COMMAND_OK);
			if (PQgetResult(c) != NULL)
				die("pipeline", "more than one result");
		}
		pg_expect(c, PQgetResult(c), PGRES_PIPELINE_SYNC);
		if (!PQexitPipelineMode(c))
			die("pipeline mode", PQerrorMessage(c));
	}
	t = now() - t0;
	pg_exec(c, "DROP TABLE bench_raw");
	PQfinish(c);
	return t / PG_BATCHES * 1e3;
}

static void run_pg(const char *dsn)
{
	struct eddy_store *s;
	char err[256];
	double upserts, share, plain, piped;

	plain = run_pg_raw(dsn, 0);
	piped = run_pg_raw(dsn, 1);
	printf("postgres: batches of %d upserts, %s\n", BATCH, dsn);
	printf("  libpq, one round trip each  %9.1f ms/batch\n", plain);
	printf("  libpq, pipeline mode        %9.1f ms/batch\n", piped);
	fflush(stdout);
	if (!(s = eddy_store_open_pg(dsn, err, sizeof(err))))
		die("open", err);
	upserts = run_upserts(s, &share);
	eddy_store_destroy(s);
	printf("  store upserts               %9.0f upserts/s (%.0f%% of it in commit)\n", upserts,
	       share * 100);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

int main(int argc, char **argv)
{
	char dir[1024], path[1100];
	const char *tmp = getenv("TMPDIR");
	double upserts, full, normal, share;
	struct eddy_store *s;
	char err[256];

	snprintf(dir, sizeof(dir), "%s/eddy-store-bench-XXXXXX",
	         argc > 1      ? argv[1]
	         : tmp && *tmp ? tmp
	                       : "/tmp");
	if (argc > 1)
		mkdir(argv[1], 0777);
	if (!mkdtemp(dir)) {
		perror(dir);
		return 1;
	}
	make_values();

	snprintf(path, sizeof(path), "%s/upserts.db", dir);
	if (!(s = eddy_store_open_sqlite(path, 0, err, sizeof(err))))
		die("open", err);
	upserts = run_upserts(s, &share);
	eddy_store_destroy(s);
	snprintf(path, sizeof(path), "%s/full.db", dir);
	full = run_commits(path, "FULL");
	snprintf(path, sizeof(path), "%s/normal.db", dir);
	normal = run_commits(path, "NORMAL");

	printf("store: %d upserts of %zu-byte values over %d keys, batches of %d, in %s\n", UPSERTS,
	       value_len[0], KEYS, BATCH, dir);
	printf("  store upserts               %9.0f upserts/s (%.0f%% of it in commit)\n", upserts,
	       share * 100);
	printf("  commit, synchronous=FULL    %9.1f us/transaction\n", full);
	printf("  commit, synchronous=NORMAL  %9.1f us/transaction\n", normal);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (getenv("EDDY_PG_DSN") && *getenv("EDDY_PG_DSN"))
		run_pg(getenv("EDDY_PG_DSN"));
	return 0;
}
