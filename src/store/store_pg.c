/* store_pg.c - the store on PostgreSQL through libpq: a table per
 * namespace in the connection's current schema, a batch sent in pipeline
 * mode inside one transaction, the alert outbox in eddy_outbox, and a new
 * connection at the next begin once one is lost. */
#include "store_backend.h"
#include "log.h"
#include "utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define NS_MAX EDDY_STORE_NS_MAX
/* Statements sent in a batch before their results are read: bounds what
 * libpq and the server buffer (a few KiB of answers), so that neither side
 * blocks writing while the other does too. */
#define QUEUE_MAX 256

/* type oids, for the statements' parameters */
#define OID_INT4 23
#define OID_INT8 20
#define OID_TEXT 25

enum created {
	CREATED_BEFORE, /* existed when first seen, or created and committed */
	CREATED_TXN,    /* created by the open transaction */
};

/* A namespace whose table exists, with its statements prepared on this
 * connection ("e<n>g", "e<n>u", "e<n>d"). */
struct ns {
	char name[NS_MAX + 1]; /* lower case: the table's name */
	enum created created;
	unsigned id;
};

struct store {
	struct eddy_store base; /* first: the interface's view of it */
	char *dsn;
	PGconn *conn;
	char *schema; /* current_schema(), quoted as an identifier */
	int in_txn;
	int piped;         /* in pipeline mode: the open batch's statements */
	int queued;        /* statements sent whose results are not read yet */
	PGresult *pending; /* the get result the caller still borrows */
	struct ns *ns;
	size_t n_ns, cap_ns;
	unsigned next_id; /* names of prepared statements on this connection */
	int ob_ready;     /* the outbox's statements are prepared */
	int lazy;         /* eddy_store_lazy_commits: every session gets it */
	enum created ob_created;
	char error[512]; /* the first failure among the queued statements */
};

/* "postgres: <what>[ <ns>]: <libpq's message, one line>" */
static void pg_fail(struct store *s, const char *what, const char *ns, const char *msg,
                    char *errstr, size_t errstr_size)
{
	size_t n;
	char line[400];

	snprintf(line, sizeof(line), "%s", msg ? msg : PQerrorMessage(s->conn));
	for (n = strlen(line); n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '); n--)
		line[n - 1] = '\0';
	for (n = 0; line[n]; n++)
		if (line[n] == '\n')
			line[n] = ' ';
	eddy_errf(errstr, errstr_size, "postgres: %s%s%s: %s", what, ns ? " " : "", ns ? ns : "",
	          line[0] ? line : "connection lost");
}

/* The server's own words for a failed result, without the "ERROR:"
 * prefix, DETAIL and CONTEXT lines of its full message. */
static const char *result_msg(const PGresult *r)
{
	const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	return m ? m : r ? PQresultErrorMessage(r) : NULL;
}

/* NOTICEs (CREATE TABLE IF NOT EXISTS on a table that exists) are not
 * worth a line on stderr. */
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Runs sql (no parameters) outside pipeline mode; 0 when the server
 * answered with want. */
static int exec(struct store *s, const char *sql, ExecStatusType want, const char *what,
                char *errstr, size_t errstr_size)
{
	PGresult *r = PQexec(s->conn, sql);
	int ok = r && PQresultStatus(r) == want;

	if (!ok)
		pg_fail(s, what, NULL, result_msg(r), errstr, errstr_size);
	PQclear(r);
	return ok ? 0 : -1;
}

static void forget_session(struct store *s)
{
	PQclear(s->pending);
	s->pending = NULL;
	s->n_ns = 0;
	s->ob_ready = 0;
	s->in_txn = s->piped = s->queued = 0;
}

/* A new connection, and what the store needs of its session: the
 * current schema, where the tables are. Keeps the old one on failure. */
static int connect_db(struct store *s, char *errstr, size_t errstr_size)
{
	/* defaults the DSN may override: it is expanded after them */
	static const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *values[] = {"10", "eddy", s->dsn, NULL};
	PGconn *c = PQconnectdbParams(keys, values, 1);
	PGresult *r;
	char *schema = NULL;

	if (!c || PQstatus(c) != CONNECTION_OK) {
		eddy_errf(errstr, errstr_size, "postgres: connect: %s",
		          c ? PQerrorMessage(c) : "out of memory");
		/* libpq's messages end in a newline */
		if (errstr && errstr_size && strchr(errstr, '\n'))
			*strchr(errstr, '\n') = '\0';
		PQfinish(c);
		return -1;
	}
	PQsetNoticeProcessor(c, quiet, NULL);
	if (s->lazy) {
		r = PQexec(c, "SET synchronous_commit TO off");
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			eddy_errf(errstr, errstr_size, "postgres: %s", result_msg(r));
			PQclear(r);
			PQfinish(c);
			return -1;
		}
		PQclear(r);
	}
	r = PQexec(c, "SELECT current_schema()");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQgetisnull(r, 0, 0)) {
		eddy_errf(errstr, errstr_size, "postgres: %s",
		          PQresultStatus(r) == PGRES_TUPLES_OK
		              ? "no current schema: search_path names no schema that exists"
		              : result_msg(r));
		PQclear(r);
		PQfinish(c);
		return -1;
	}
	schema = PQescapeIdentifier(c, PQgetvalue(r, 0, 0), strlen(PQgetvalue(r, 0, 0)));
	PQclear(r);
	if (!schema) {
		eddy_errf(errstr, errstr_size, "postgres: out of memory");
		PQfinish(c);
		return -1;
	}
	PQfinish(s->conn);
	PQfreemem(s->schema);
	s->conn = c;
	s->schema = schema;
	forget_session(s);
	return 0;
}

/* Outside a transaction: a connection that failed (or a server that went
 * away since) is replaced by a new one. */
static int usable(struct store *s, char *errstr, size_t errstr_size)
{
	if (PQstatus(s->conn) == CONNECTION_OK)
		return 0;
	return connect_db(s, errstr, errstr_size);
}

static void settle(struct store *s)
{
	PQclear(s->pending);
	s->pending = NULL;
}

/* Reads the results of every statement sent so far, up to a sync: the
 * first failure is kept in s->error; the result of the last statement, when
 * it returned rows and last is not NULL, is handed to the caller. */
static int drain(struct store *s, PGresult **last)
{
	int nulls = 0;

	if (last)
		*last = NULL;
	if (!PQpipelineSync(s->conn)) {
		if (!s->error[0])
			pg_fail(s, "sync", NULL, NULL, s->error, sizeof(s->error));
		return -1;
	}
	for (;;) {
		PGresult *r = PQgetResult(s->conn);

		if (!r) {
			/* a NULL ends each statement's results; two in a row:
			 * nothing more is coming (the connection is gone) */
			if (++nulls >= 2 || PQstatus(s->conn) != CONNECTION_OK) {
				if (!s->error[0])
					pg_fail(s, "batch", NULL, NULL, s->error, sizeof(s->error));
				break;
			}
			continue;
		}
		nulls = 0;
		switch (PQresultStatus(r)) {
		case PGRES_PIPELINE_SYNC:
			PQclear(r);
			s->queued = 0;
			return s->error[0] ? -1 : 0;
		case PGRES_COMMAND_OK:
			break;
		case PGRES_TUPLES_OK:
			if (last) {
				PQclear(*last);
				*last = r;
				r = NULL;
			}
			break;
		case PGRES_PIPELINE_ABORTED:
			if (!s->error[0])
				pg_fail(s, "batch", NULL, "aborted by an earlier error", s->error,
				        sizeof(s->error));
			break;
		default:
			if (!s->error[0])
				pg_fail(s, "batch", NULL, result_msg(r), s->error,
				        sizeof(s->error));
			break;
		}
		PQclear(r);
	}
	s->queued = 0;
	if (last) {
		PQclear(*last);
		*last = NULL;
	}
	return -1;
}

/* The batch's first failure as the caller's error. */
static int batch_failed(struct store *s, char *errstr, size_t errstr_size)
{
	eddy_errf(errstr, errstr_size, "%s", s->error[0] ? s->error : "postgres: batch failed");
	return -1;
}

/* Leaves pipeline mode for a statement whose result decides what comes
 * next (a table to create, a dedupe lookup); resume enters it again. */
static int pause_pipeline(struct store *s, char *errstr, size_t errstr_size)
{
	if (!s->piped)
		return 0;
	if (drain(s, NULL) < 0)
		return batch_failed(s, errstr, errstr_size);
	if (!PQexitPipelineMode(s->conn)) {
		pg_fail(s, "leaving pipeline mode", NULL, NULL, errstr, errstr_size);
		return -1;
	}
	s->piped = 0;
	return 0;
}

static int resume_pipeline(struct store *s, char *errstr, size_t errstr_size)
{
	if (!s->in_txn || s->piped)
		return 0;
	if (!PQenterPipelineMode(s->conn)) {
		pg_fail(s, "entering pipeline mode", NULL, NULL, errstr, errstr_size);
		return -1;
	}
	s->piped = 1;
	return 0;
}

/* Counts a statement sent in pipeline mode, reading the answers once
 * QUEUE_MAX are outstanding. */
static int sent(struct store *s, int ok, const char *what, const char *ns, char *errstr,
                size_t errstr_size)
{
	if (!ok) {
		pg_fail(s, what, ns, NULL, errstr, errstr_size);
		return -1;
	}
	if (++s->queued >= QUEUE_MAX && drain(s, NULL) < 0)
		return batch_failed(s, errstr, errstr_size);
	return 0;
}

static void lower_copy(char *out, const char *ns)
{
	size_t i;

	for (i = 0; ns[i] && i < NS_MAX; i++)
		out[i] = (ns[i] >= 'A' && ns[i] <= 'Z') ? (char)(ns[i] - 'A' + 'a') : ns[i];
	out[i] = '\0';
}

static int table_exists(struct store *s, const char *table, char *errstr, size_t errstr_size)
{
	const char *p[1] = {table};
	PGresult *r = PQexecParams(s->conn,
	                           "SELECT 1 FROM pg_catalog.pg_tables "
	                           "WHERE schemaname = current_schema() AND tablename = $1",
	                           1, NULL, p, NULL, NULL, 0);
	int rc = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		rc = PQntuples(r) > 0;
	else
		pg_fail(s, "looking up table", table, result_msg(r), errstr, errstr_size);
	PQclear(r);
	return rc;
}

static int prepare(struct store *s, const char *name, const char *sql, int n, const Oid *types,
                   const char *what, const char *ns, char *errstr, size_t errstr_size)
{
	PGresult *r = PQprepare(s->conn, name, sql, n, types);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		pg_fail(s, what, ns, result_msg(r), errstr, errstr_size);
	PQclear(r);
	return ok ? 0 : -1;
}

/* Finds ns's entry, preparing its statements on first use; with create, a
 * missing table is created (inside the open transaction, if any). Returns
 * 1 with *out set, 0 (no table, without create), or -1. */
static int ns_get(struct store *s, const char *ns, int create, struct ns **out, char *errstr,
                  size_t errstr_size)
{
	static const Oid types[] = {OID_TEXT, OID_TEXT, OID_TEXT, OID_INT4, OID_INT8};
	char sql[1024], name[16], table[NS_MAX + 1];
	struct ns n = {0};
	size_t i;
	int exists;

	if (eddy_store_check_ns(ns, errstr, errstr_size) < 0)
		return -1;
	lower_copy(table, ns);
	for (i = 0; i < s->n_ns; i++)
		if (strcmp(s->ns[i].name, table) == 0) {
			*out = &s->ns[i];
			return 1;
		}
	if (pause_pipeline(s, errstr, errstr_size) < 0)
		return -1;
	exists = table_exists(s, table, errstr, errstr_size);
	if (exists < 0)
		return -1;
	if (!exists && !create)
		return resume_pipeline(s, errstr, errstr_size) < 0 ? -1 : 0;
	if (!exists) {
		snprintf(sql, sizeof(sql),
		         "CREATE TABLE IF NOT EXISTS %s.\"%s\" (key text PRIMARY KEY, "
		         "value jsonb NOT NULL, updated_at timestamptz NOT NULL, topic text, "
		         "\"partition\" int, \"offset\" bigint)",
		         s->schema, table);
		if (exec(s, sql, PGRES_COMMAND_OK, "create table", errstr, errstr_size) < 0)
			return -1;
		n.created = s->in_txn ? CREATED_TXN : CREATED_BEFORE;
	}
	strcpy(n.name, table);
	n.id = ++s->next_id;

	snprintf(name, sizeof(name), "e%ug", n.id);
	snprintf(sql, sizeof(sql), "SELECT value FROM %s.\"%s\" WHERE key = $1", s->schema, table);
	if (prepare(s, name, sql, 1, types, "get from", ns, errstr, errstr_size) < 0)
		return -1;
	snprintf(name, sizeof(name), "e%uu", n.id);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO %s.\"%s\" AS t (key, value, updated_at, topic, \"partition\", "
	         "\"offset\") VALUES ($1, $2::jsonb, clock_timestamp(), $3, $4, $5) "
	         "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
	         "updated_at = excluded.updated_at, topic = excluded.topic, "
	         "\"partition\" = excluded.\"partition\", \"offset\" = excluded.\"offset\"",
	         s->schema, table);
	if (prepare(s, name, sql, 5, types, "upsert into", ns, errstr, errstr_size) < 0)
		return -1;
	snprintf(name, sizeof(name), "e%ud", n.id);
	snprintf(sql, sizeof(sql), "DELETE FROM %s.\"%s\" WHERE key = $1", s->schema, table);
	if (prepare(s, name, sql, 1, types, "delete from", ns, errstr, errstr_size) < 0)
		return -1;

	if (s->n_ns == s->cap_ns) {
		size_t cap = s->cap_ns ? s->cap_ns * 2 : 8;
		struct ns *grown = realloc(s->ns, cap * sizeof(*grown));

		if (!grown) {
			eddy_errf(errstr, errstr_size, "postgres: out of memory");
			return -1;
		}
		s->ns = grown;
		s->cap_ns = cap;
	}
	s->ns[s->n_ns] = n;
	*out = &s->ns[s->n_ns++];
	return resume_pipeline(s, errstr, errstr_size) < 0 ? -1 : 1;
}

/* The outbox table and its indexes: the dedupe lookup by key and time,
 * and the pending alerts in the order they were added. */
#define OUTBOX_SCHEMA                                                                              \
	"CREATE TABLE IF NOT EXISTS %s.eddy_outbox (id bigserial PRIMARY KEY, "                    \
	"sink text NOT NULL, dedupe_key text NOT NULL, body text NOT NULL, "                       \
	"created_ms bigint NOT NULL, next_attempt_ms bigint NOT NULL, "                            \
	"attempts int NOT NULL DEFAULT 0, state text NOT NULL DEFAULT 'pending', error text);"     \
	"CREATE INDEX IF NOT EXISTS eddy_outbox_dedupe ON %s.eddy_outbox (dedupe_key, "            \
	"created_ms);"                                                                             \
	"CREATE INDEX IF NOT EXISTS eddy_outbox_pending ON %s.eddy_outbox (id) "                   \
	"WHERE state = 'pending'"

/* Prepares the outbox's statements ("ob_add", "ob_due", "ob_mark"),
 * creating its table first when create is set (inside the open
 * transaction: undone with it). Returns 1 ready, 0 no table yet, -1. */
static int outbox_ready(struct store *s, int create, char *errstr, size_t errstr_size)
{
	static const Oid types[] = {OID_TEXT, OID_TEXT, OID_TEXT, OID_INT8, OID_INT8};
	char sql[1024];
	int exists;

	if (s->ob_ready)
		return 1;
	exists = table_exists(s, "eddy_outbox", errstr, errstr_size);
	if (exists < 0)
		return -1;
	if (!exists && !create)
		return 0;
	if (!exists) {
		snprintf(sql, sizeof(sql), OUTBOX_SCHEMA, s->schema, s->schema, s->schema);
		if (exec(s, sql, PGRES_COMMAND_OK, "creating eddy_outbox", errstr, errstr_size) < 0)
			return -1;
	}
	s->ob_created = !exists && s->in_txn ? CREATED_TXN : CREATED_BEFORE;
	/* one statement: the lookup and the insert in one round trip */
	snprintf(sql, sizeof(sql),
	         "INSERT INTO %s.eddy_outbox (sink, dedupe_key, body, created_ms, "
	         "next_attempt_ms) SELECT $1, $2, $3, $4, $4 WHERE NOT EXISTS (SELECT 1 FROM "
	         "%s.eddy_outbox WHERE dedupe_key = $2 AND created_ms > $5)",
	         s->schema, s->schema);
	if (prepare(s, "ob_add", sql, 5, types, "outbox", NULL, errstr, errstr_size) < 0)
		return -1;
	snprintf(sql, sizeof(sql),
	         "SELECT id, sink, dedupe_key, body, attempts, created_ms, next_attempt_ms "
	         "FROM %s.eddy_outbox WHERE state = 'pending' AND next_attempt_ms <= $1 "
	         "ORDER BY id LIMIT $2",
	         s->schema);
	if (prepare(s, "ob_due", sql, 0, NULL, "outbox", NULL, errstr, errstr_size) < 0)
		return -1;
	snprintf(sql, sizeof(sql),
	         "UPDATE %s.eddy_outbox SET state = $2, next_attempt_ms = $3, "
	         "attempts = attempts + 1, error = $4 WHERE id = $1",
	         s->schema);
	if (prepare(s, "ob_mark", sql, 0, NULL, "outbox", NULL, errstr, errstr_size) < 0)
		return -1;
	s->ob_ready = 1;
	return 1;
}

static const struct eddy_store_ops pg_ops;

struct eddy_store *eddy_store_open_pg(const char *dsn, char *errstr, size_t errstr_size)
{
	struct store *s;

	if (!dsn || !*dsn) {
		eddy_errf(errstr, errstr_size, "postgres: no connection string (store.dsn)");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->dsn = strdup(dsn))) {
		free(s);
		eddy_errf(errstr, errstr_size, "postgres: out of memory");
		return NULL;
	}
	s->base.ops = &pg_ops;
	if (connect_db(s, errstr, errstr_size) < 0) {
		free(s->dsn);
		free(s);
		return NULL;
	}
	return &s->base;
}

static void store_destroy(struct eddy_store *base)
{
	struct store *s = (struct store *)base;

	/* closing the connection rolls an open transaction back */
	PQclear(s->pending);
	PQfinish(s->conn);
	PQfreemem(s->schema);
	free(s->ns);
	free(s->dsn);
	free(s);
}

/* Forgets what the undone transaction created: its tables are gone, and
 * the statements prepared against them with them. */
static void end_txn(struct store *s, int committed)
{
	size_t i = 0;

	s->in_txn = 0;
	s->error[0] = '\0';
	if (committed) {
		for (i = 0; i < s->n_ns; i++)
			s->ns[i].created = CREATED_BEFORE;
		s->ob_created = CREATED_BEFORE;
		return;
	}
	while (i < s->n_ns) {
		if (s->ns[i].created == CREATED_TXN) {
			char sql[64];

			if (PQstatus(s->conn) == CONNECTION_OK) {
				snprintf(sql, sizeof(sql),
				         "DEALLOCATE e%ug; DEALLOCATE e%uu; "
				         "DEALLOCATE e%ud",
				         s->ns[i].id, s->ns[i].id, s->ns[i].id);
				PQclear(PQexec(s->conn, sql));
			}
			s->ns[i] = s->ns[--s->n_ns];
		} else {
			i++;
		}
	}
	if (s->ob_ready && s->ob_created == CREATED_TXN) {
		if (PQstatus(s->conn) == CONNECTION_OK)
			PQclear(PQexec(s->conn, "DEALLOCATE ob_add; DEALLOCATE ob_due; "
			                        "DEALLOCATE ob_mark"));
		s->ob_ready = 0;
	}
}

/* Out of pipeline mode and out of the transaction, whatever happened. */
static void abandon(struct store *s)
{
	if (s->piped) {
		if (s->queued && PQstatus(s->conn) == CONNECTION_OK)
			drain(s, NULL);
		if (PQexitPipelineMode(s->conn))
			s->piped = 0;
	}
	if (!s->piped && PQstatus(s->conn) == CONNECTION_OK &&
	    PQtransactionStatus(s->conn) != PQTRANS_IDLE)
		PQclear(PQexec(s->conn, "ROLLBACK"));
	if (s->piped || PQstatus(s->conn) != CONNECTION_OK ||
	    PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
		/* a session in a state of its own: the next begin starts over
		 * on a new connection */
		PQfinish(s->conn);
		s->conn = NULL;
		s->piped = 0;
	}
	end_txn(s, 0);
	s->queued = 0;
}

static int store_begin(struct eddy_store *base, char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;
	int attempt;

	settle(s);
	if (s->in_txn) {
		eddy_errf(errstr, errstr_size, "postgres: begin: a transaction is already open");
		return -1;
	}
	/* a server restarted while the store was idle shows up here: the
	 * begin is tried once more on a new connection */
	for (attempt = 0;; attempt++) {
		if (usable(s, errstr, errstr_size) < 0)
			return -1;
		if (exec(s, "BEGIN", PGRES_COMMAND_OK, "begin", errstr, errstr_size) == 0)
			break;
		if (attempt > 0 || PQstatus(s->conn) == CONNECTION_OK)
			return -1;
	}
	s->in_txn = 1;
	s->error[0] = '\0';
	if (resume_pipeline(s, errstr, errstr_size) < 0) {
		abandon(s);
		return -1;
	}
	return 0;
}

static int store_commit(struct eddy_store *base, char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;
	PGresult *r;
	int ok;

	settle(s);
	if (!s->in_txn) {
		eddy_errf(errstr, errstr_size, "postgres: commit: no transaction open");
		return -1;
	}
	if (pause_pipeline(s, errstr, errstr_size) < 0) {
		abandon(s);
		return -1;
	}
	/* an aborted transaction answers COMMIT with ROLLBACK */
	r = PQexec(s->conn, "COMMIT");
	ok = PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0;
	if (!ok)
		pg_fail(s, "commit", NULL,
		        PQresultStatus(r) == PGRES_COMMAND_OK ? "the transaction was rolled back"
		                                              : result_msg(r),
		        errstr, errstr_size);
	PQclear(r);
	if (!ok) {
		abandon(s);
		return -1;
	}
	end_txn(s, 1);
	return 0;
}

static int store_rollback(struct eddy_store *base)
{
	struct store *s = (struct store *)base;

	settle(s);
	abandon(s);
	return 0;
}

/* A key as a binary-format text parameter: any length, no NUL needed,
 * but PostgreSQL's text holds no NUL byte. */
static int check_key(const char *key, size_t key_len, const char *what, const char *ns,
                     char *errstr, size_t errstr_size)
{
	if (!memchr(key ? key : "", '\0', key_len))
		return 0;
	eddy_errf(errstr, errstr_size, "postgres: %s %s: a key with a NUL byte cannot be stored",
	          what, ns);
	return -1;
}

static int store_get(struct eddy_store *base, const char *ns, const char *key, size_t key_len,
                     const char **value, size_t *len, char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;
	const char *p[1] = {key ? key : ""};
	const int lens[1] = {(int)key_len}, fmts[1] = {1};
	char name[16];
	PGresult *r;
	struct ns *n;
	int rc;

	settle(s);
	if (!s->in_txn && usable(s, errstr, errstr_size) < 0)
		return -1;
	rc = ns_get(s, ns, 0, &n, errstr, errstr_size);
	if (rc <= 0)
		return rc;
	/* a key no write can have (eddy_store_check_write) is not there:
	 * sent, it would fail the query and with it the batch */
	if (memchr(key ? key : "", '\0', key_len) || !eddy_utf8_valid(key, key_len))
		return 0;
	snprintf(name, sizeof(name), "e%ug", n->id);
	if (s->piped) {
		/* the batch's earlier writes are answered first, then this */
		if (!PQsendQueryPrepared(s->conn, name, 1, p, lens, fmts, 0)) {
			pg_fail(s, "get from", ns, NULL, errstr, errstr_size);
			return -1;
		}
		s->queued++;
		if (drain(s, &r) < 0)
			return batch_failed(s, errstr, errstr_size);
	} else {
		r = PQexecPrepared(s->conn, name, 1, p, lens, fmts, 0);
	}
	if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_fail(s, "get from", ns, result_msg(r), errstr, errstr_size);
		PQclear(r);
		return -1;
	}
	if (PQntuples(r) == 0) {
		PQclear(r);
		return 0;
	}
	*value = PQgetvalue(r, 0, 0);
	*len = (size_t)PQgetlength(r, 0, 0);
	s->pending = r;
	return 1;
}

static int store_upsert(struct eddy_store *base, const char *ns, const char *key, size_t key_len,
                        const char *value, size_t len, const struct eddy_store_origin *origin,
                        char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;
	char part[16], off[24], name[16];
	const char *p[5] = {key ? key : "", value ? value : "", NULL, NULL, NULL};
	const int lens[5] = {(int)key_len, (int)len, 0, 0, 0}, fmts[5] = {1, 1, 0, 0, 0};
	struct ns *n;

	settle(s);
	if (!s->in_txn) {
		eddy_errf(errstr, errstr_size, "postgres: upsert: no transaction open");
		return -1;
	}
	if (ns_get(s, ns, 1, &n, errstr, errstr_size) < 0)
		return -1;
	if (check_key(key, key_len, "upsert into", ns, errstr, errstr_size) < 0)
		return -1;
	if (origin) {
		snprintf(part, sizeof(part), "%d", (int)origin->partition);
		snprintf(off, sizeof(off), "%lld", (long long)origin->offset);
		p[2] = origin->topic;
		p[3] = part;
		p[4] = off;
	}
	snprintf(name, sizeof(name), "e%uu", n->id);
	return sent(s, PQsendQueryPrepared(s->conn, name, 5, p, lens, fmts, 0), "upsert into", ns,
	            errstr, errstr_size);
}

static int store_delete(struct eddy_store *base, const char *ns, const char *key, size_t key_len,
                        char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;
	const char *p[1] = {key ? key : ""};
	const int lens[1] = {(int)key_len}, fmts[1] = {1};
	char name[16];
	struct ns *n;
	int rc;

	settle(s);
	if (!s->in_txn) {
		eddy_errf(errstr, errstr_size, "postgres: delete: no transaction open");
		return -1;
	}
	/* a namespace never written has nothing to delete: no table for it */
	rc = ns_get(s, ns, 0, &n, errstr, errstr_size);
	if (rc <= 0)
		return rc;
	if (check_key(key, key_len, "delete from", ns, errstr, errstr_size) < 0)
		return -1;
	snprintf(name, sizeof(name), "e%ud", n->id);
	return sent(s, PQsendQueryPrepared(s->conn, name, 1, p, lens, fmts, 0), "delete from", ns,
	            errstr, errstr_size);
}

static int outbox_add(struct eddy_store *base, const char *sink, const char *dedupe_key,
                      const char *body, size_t body_len, int64_t now_ms, int64_t window_ms,
                      char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;
	char now[24], since[24];
	const char *p[5] = {sink, dedupe_key, body ? body : "", now, since};
	const int lens[5] = {0, 0, (int)body_len, 0, 0}, fmts[5] = {0, 0, 1, 0, 0};
	PGresult *r;
	int rc;

	settle(s);
	if (!s->in_txn) {
		eddy_errf(errstr, errstr_size, "postgres: outbox add: no transaction open");
		return -1;
	}
	/* whether it was added decides what the caller does: a round trip */
	if (pause_pipeline(s, errstr, errstr_size) < 0 ||
	    outbox_ready(s, 1, errstr, errstr_size) < 0)
		return -1;
	snprintf(now, sizeof(now), "%lld", (long long)now_ms);
	snprintf(since, sizeof(since), "%lld", (long long)(now_ms - window_ms));
	r = PQexecPrepared(s->conn, "ob_add", 5, p, lens, fmts, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		pg_fail(s, "outbox add", NULL, result_msg(r), errstr, errstr_size);
		PQclear(r);
		return -1;
	}
	rc = strcmp(PQcmdTuples(r), "1") == 0 ? 0 : 1;
	PQclear(r);
	return resume_pipeline(s, errstr, errstr_size) < 0 ? -1 : rc;
}

static int outbox_due(struct eddy_store *base, int64_t now_ms, int max,
                      void (*cb)(void *ud, const struct eddy_outbox_alert *a), void *ud,
                      char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;
	char now[24], limit[16];
	const char *p[2] = {now, limit};
	PGresult *r;
	int rc, i, n;

	settle(s);
	if (s->in_txn) {
		eddy_errf(errstr, errstr_size, "postgres: outbox due: a transaction is open");
		return -1;
	}
	if (max <= 0)
		return 0;
	if (usable(s, errstr, errstr_size) < 0)
		return -1;
	rc = outbox_ready(s, 0, errstr, errstr_size);
	if (rc <= 0)
		return rc; /* no alert was ever added */
	snprintf(now, sizeof(now), "%lld", (long long)now_ms);
	snprintf(limit, sizeof(limit), "%d", max);
	/* the whole answer is in r before the first call: cb may mark */
	r = PQexecPrepared(s->conn, "ob_due", 2, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_fail(s, "outbox due", NULL, result_msg(r), errstr, errstr_size);
		PQclear(r);
		return -1;
	}
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		struct eddy_outbox_alert a;

		a.id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		a.sink = PQgetvalue(r, i, 1);
		a.dedupe_key = PQgetvalue(r, i, 2);
		a.body = PQgetvalue(r, i, 3);
		a.body_len = (size_t)PQgetlength(r, i, 3);
		a.attempts = atoi(PQgetvalue(r, i, 4));
		a.created_ms = strtoll(PQgetvalue(r, i, 5), NULL, 10);
		a.next_attempt_ms = strtoll(PQgetvalue(r, i, 6), NULL, 10);
		cb(ud, &a);
	}
	PQclear(r);
	return n;
}

static int outbox_mark(struct eddy_store *base, int64_t id, enum eddy_outbox_state state,
                       int64_t next_attempt_ms, const char *error, char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;
	char ids[24], next[24];
	const char *p[4] = {ids, eddy_store_outbox_state_name(state), next, error};
	PGresult *r;
	int rc;

	settle(s);
	if (s->in_txn) {
		eddy_errf(errstr, errstr_size, "postgres: outbox mark: a transaction is open");
		return -1;
	}
	if (usable(s, errstr, errstr_size) < 0)
		return -1;
	rc = outbox_ready(s, 0, errstr, errstr_size);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		eddy_errf(errstr, errstr_size, "postgres: outbox mark: no alert %lld",
		          (long long)id);
		return -1;
	}
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	snprintf(next, sizeof(next), "%lld", (long long)next_attempt_ms);
	r = PQexecPrepared(s->conn, "ob_mark", 4, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		pg_fail(s, "outbox mark", NULL, result_msg(r), errstr, errstr_size);
		PQclear(r);
		return -1;
	}
	rc = strcmp(PQcmdTuples(r), "0") == 0 ? -1 : 0;
	PQclear(r);
	if (rc < 0)
		eddy_errf(errstr, errstr_size, "postgres: outbox mark: no alert %lld",
		          (long long)id);
	return rc;
}

static int64_t outbox_pending(struct eddy_store *base, char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;
	char sql[256];
	PGresult *r;
	int64_t n;
	int rc;

	settle(s);
	if (s->in_txn) {
		eddy_errf(errstr, errstr_size, "postgres: outbox pending: a transaction is open");
		return -1;
	}
	if (usable(s, errstr, errstr_size) < 0)
		return -1;
	rc = outbox_ready(s, 0, errstr, errstr_size);
	if (rc <= 0)
		return rc; /* no alert was ever added */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.eddy_outbox WHERE state = 'pending'",
	         s->schema);
	r = PQexec(s->conn, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		pg_fail(s, "outbox pending", NULL, result_msg(r), errstr, errstr_size);
		PQclear(r);
		return -1;
	}
	n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return n;
}

static int lazy_commits(struct eddy_store *base, char *errstr, size_t errstr_size)
{
	struct store *s = (struct store *)base;

	settle(s);
	if (s->in_txn) {
		eddy_errf(errstr, errstr_size, "postgres: lazy commits: a transaction is open");
		return -1;
	}
	s->lazy = 1;
	if (usable(s, errstr, errstr_size) < 0)
		return -1;
	return exec(s, "SET synchronous_commit TO off", PGRES_COMMAND_OK, "lazy commits", errstr,
	            errstr_size);
}

static const struct eddy_store_ops pg_ops = {
    .type = "postgres",
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
    .nul_ok = false,
};
