/* pipeline.h - what happens to one record, the same in eddy run, eddy dev
 * and eddy replay: envelope, routing, handlers, actions on the store, dead
 * letters. Records are handled in batches; one store transaction a batch. */
#ifndef EDDY_PIPELINE_H
#define EDDY_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "handlers.h"
#include "msg.h"

/* The error headers a dead letter carries (eddy.error.*). */
struct eddy_dead_letter {
	const char *stage;   /* envelope | schema | handler | action */
	const char *reason;  /* one readable line */
	const char *handler; /* NULL unless stage is handler or action */
};

/* Where dead letters go: the Kafka dead-letter topic in run and dev, a
 * report line in replay; the function also tells the user (without one,
 * the pipeline logs the dead letter). Returns 0 when accepted (delivery may be
 * confirmed later, before the batch's offsets are committed), -1 when not. */
typedef int (*eddy_dead_letter_fn)(void *ud, const struct eddy_msg *m,
                                   const struct eddy_dead_letter *dl);

struct eddy_record;

/* Where the records handlers publish go: produced in run and dev (their
 * delivery confirmed before the offset of m is committed), reported in
 * replay. Returns 0 when accepted, -1 when not. */
typedef int (*eddy_publish_fn)(void *ud, const struct eddy_msg *m, const struct eddy_record *r);

enum eddy_outcome {
	EDDY_OUTCOME_HANDLED, /* handlers ran */
	EDDY_OUTCOME_SKIPPED, /* no handler subscribed to it */
	EDDY_OUTCOME_DEAD,    /* dead-lettered */
	EDDY_OUTCOME_FAILED,  /* the batch cannot go on (store failure, registry down): abort it */
	/* A handler failed and has retries left (defer_retries): nothing of the
	 * record was applied; hand it in again, attempts + 1, after
	 * eddy_pipeline_retry_ms. */
	EDDY_OUTCOME_RETRY,
};

/* What made eddy_pipeline_handle answer EDDY_OUTCOME_FAILED. */
enum eddy_fault {
	EDDY_FAULT_STORE,    /* a store statement or transaction failed */
	EDDY_FAULT_REGISTRY, /* the schema registry could not be asked */
	EDDY_FAULT_OTHER,    /* a dead letter or published record was not accepted */
};

struct eddy_pipeline_stats {
	uint64_t records, handled, unrouted, dead, upserts, deletes, retries;
	uint64_t schema_invalid; /* of dead: the records that broke their schema */
	uint64_t reloads, reload_failures;
	uint64_t published;
	uint64_t alerts, alerts_deduped; /* written to the outbox / already there */
	uint64_t batches, aborted_batches;
	uint64_t store_commits; /* batch transactions committed */
	double store_seconds;   /* the last one's time to apply and commit */
};

/* An action of a handled event as it happens: what eddy dev and dry runs
 * show. Strings are borrowed for the call; the fields of other kinds are
 * NULL. */
enum eddy_action_kind {
	EDDY_ACTION_UPSERT,  /* target: namespace; key; value */
	EDDY_ACTION_DELETE,  /* target: namespace; key */
	EDDY_ACTION_ALERT,   /* target: sink (NULL: none configured); severity; summary; labels */
	EDDY_ACTION_PUBLISH, /* target: topic; key; value (NULL: tombstone) */
	EDDY_ACTION_LOG,     /* target: handler; severity: level; summary: message; value: fields */
};

struct eddy_action {
	enum eddy_action_kind kind;
	const char *target;
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
	const char *severity;
	const char *summary;
	bool repeated;      /* alert: raised within the dedupe window, not sent again */
	bool resolved;      /* alert: a resolved notification (severity says "resolved") */
	const char *labels; /* alert: JSON object text, NULL: none */
};

typedef void (*eddy_observe_fn)(void *ud, const struct eddy_action *a);

/* An eddy_observe_fn that prints each action as a line on the FILE *ud:
 * "upsert orders ORD-1 {...}" (values cut at 160 bytes). */
void eddy_pipeline_print(void *ud, const struct eddy_action *a);

struct eddy_pipeline_opts {
	/* Sees every action as it happens (eddy dev, dry runs). With an
	 * observer, alerts without configured sinks are shown instead of
	 * failing their event, and ctx.log goes to the observer instead of the
	 * log. */
	eddy_observe_fn observe;
	void *observe_ud;
	/* replay --dry-run: batches are rolled back instead of committed */
	bool dry_run;
	/* A handler retry is the caller's to schedule (EDDY_OUTCOME_RETRY), so
	 * a consumer keeps polling through the backoff; otherwise the pipeline
	 * waits out the backoff itself (replay). */
	bool defer_retries;
	eddy_dead_letter_fn dead_letter;
	void *dead_letter_ud;
	eddy_publish_fn publish; /* NULL: published records only go to the observer */
	void *publish_ud;
	/* after each handler call (NULL: nobody counts them) */
	void (*handler_called)(void *ud, const char *handler, enum eddy_handler_end end,
	                       double seconds);
	void *handler_called_ud;
	/* the handler and rule files to load instead of the config's (eddy
	 * rule test); borrowed for the pipeline's life */
	const struct eddy_handlers_conf *handlers;
	/* alerts raised without any alerts.sinks go to the outbox too (under
	 * the sink ""), so its dedupe applies: eddy rule test's throwaway
	 * store, where nothing is sent */
	bool outbox_unsent;
	/* The store's writes are committed on a thread of their own while the
	 * next batch is handled (eddy run): eddy_pipeline_commit hands the
	 * batch over and eddy_pipeline_flush waits for it. Ignored with an
	 * observer or a dry run, which see each write as it is applied. */
	bool async_store;
};

struct eddy_pipeline;

/* Opens the store and loads the handlers the config names. conf is
 * borrowed for the pipeline's life. NULL with errstr on failure. */
struct eddy_pipeline *eddy_pipeline_new(const struct eddy_config *conf,
                                        const struct eddy_pipeline_opts *opts, char *errstr,
                                        size_t errstr_size);
void eddy_pipeline_destroy(struct eddy_pipeline *p);

int eddy_pipeline_begin(struct eddy_pipeline *p, char *errstr, size_t errstr_size);
/* Handles one record of the open batch; m is borrowed for the call. */
enum eddy_outcome eddy_pipeline_handle(struct eddy_pipeline *p, const struct eddy_msg *m);
/* Makes the batch durable (or rolls it back in a dry run). On failure the
 * batch is rolled back and must be handled again.
 * With opts.async_store it first waits for the batch committed before,
 * then hands this one to the writer and returns: durable once
 * eddy_pipeline_flush (or the next commit) returns 0. -1 says the batch
 * before failed; it was rolled back, this one dropped: both must be
 * handled again. */
int eddy_pipeline_commit(struct eddy_pipeline *p, char *errstr, size_t errstr_size);
void eddy_pipeline_abort(struct eddy_pipeline *p);
/* true while a batch is with the writer (opts.async_store). */
bool eddy_pipeline_pending(const struct eddy_pipeline *p);
/* true when the batch with the writer is done: a flush returns at once. */
bool eddy_pipeline_flushable(const struct eddy_pipeline *p);
/* Waits for the batch with the writer: 0 when it is durable (or there was
 * none), -1 with errstr when it was rolled back and must be handled again. */
int eddy_pipeline_flush(struct eddy_pipeline *p, char *errstr, size_t errstr_size);

/* Loads the handlers and schemas again, each into a fresh state, and swaps
 * them in only when all of it loaded; otherwise the running ones stay and
 * errstr says why ("handlers/x.lua:3: ..."). Call between batches: every
 * event is handled by one set. */
int eddy_pipeline_reload(struct eddy_pipeline *p, char *errstr, size_t errstr_size);
size_t eddy_pipeline_handler_count(const struct eddy_pipeline *p);
/* The time rules take as now from here on (eddy_handlers_set_clock):
 * seconds since the epoch, 0 the system clock, < 0 each event's time. */
void eddy_pipeline_set_clock(struct eddy_pipeline *p, double now);

/* Ticks the time-based alert rules (frequency, flatline, for:) at now,
 * seconds since the epoch, in a store transaction of its own: call it
 * between batches. now 0 is the system clock, at most once a second (a
 * call sooner does nothing), and makes the ticks live: from then on
 * events no longer tick the rules at their own time. Costs nothing when
 * no rule is time-based. A rule file whose tick fails (an error, a limit)
 * is logged and its work dropped; the others' is kept. Returns 0, or -1
 * with errstr when the store failed (the tick is rolled back; the next
 * one does its work). */
int eddy_pipeline_tick(struct eddy_pipeline *p, double now, char *errstr, size_t errstr_size);
/* Whether a tick with the system clock would do work now; a tick needs the
 * store, so with a batch pending it does nothing: flush first. */
bool eddy_pipeline_tick_due(const struct eddy_pipeline *p);

/* Why the last EDDY_OUTCOME_FAILED happened. */
const char *eddy_pipeline_error(const struct eddy_pipeline *p);
enum eddy_fault eddy_pipeline_fault(const struct eddy_pipeline *p);
/* The backoff of the last EDDY_OUTCOME_RETRY, in milliseconds. */
int eddy_pipeline_retry_ms(const struct eddy_pipeline *p);
const struct eddy_pipeline_stats *eddy_pipeline_stats(const struct eddy_pipeline *p);

/* Sleeps ms milliseconds unless stop becomes set (checked every 10 ms). */
void eddy_sleep_ms(int ms, volatile const int *stop);

#endif
