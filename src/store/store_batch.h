/* store_batch.h - a batch's store writes kept in memory and committed on a
 * thread of its own: the consumer handles batch N+1 while the writer
 * applies batch N in one transaction and waits for the disk. Writes are
 * coalesced per key (the last one of a batch wins) and readable before
 * they are applied, so a handler sees its own batch's writes and those of
 * the batch being committed. */
#ifndef EDDY_STORE_BATCH_H
#define EDDY_STORE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct eddy_store_batch;

struct eddy_store_batch *eddy_store_batch_new(void);
void eddy_store_batch_destroy(struct eddy_store_batch *b);
/* Empties b for the next batch (keeps its buffers, unless one big batch
 * grew them past a bound). */
void eddy_store_batch_reset(struct eddy_store_batch *b);
/* Writes and alerts held: 0 for an empty batch. */
size_t eddy_store_batch_count(const struct eddy_store_batch *b);

/* Adds an upsert of value (NULL: a delete) to key in namespace ns; the
 * arguments are copied. A write to a key the batch already writes replaces
 * that one. ns must be valid and key free of NUL bytes (what
 * eddy_store_check_write asks). Returns 0, or -1 when out of memory. */
int eddy_store_batch_put(struct eddy_store_batch *b, const char *ns, const char *key,
                         size_t key_len, const char *value, size_t len,
                         const struct eddy_store_origin *origin);

/* Adds an alert for the outbox (eddy_store_outbox_add's arguments, copied).
 * Returns 0, or -1 when out of memory. */
int eddy_store_batch_alert(struct eddy_store_batch *b, const char *sink, const char *dedupe_key,
                           const char *body, size_t body_len, int64_t now_ms, int64_t window_ms);

/* The batch's write of key in ns: 1 with *value and *len (NULL for a
 * delete; borrowed until b changes), 0 when the batch does not write it.
 * Namespaces differing only in ASCII case are one. */
int eddy_store_batch_find(const struct eddy_store_batch *b, const char *ns, const char *key,
                          size_t key_len, const char **value, size_t *len);

/* What committing a batch did. */
struct eddy_store_batch_result {
	uint64_t alerts, alerts_deduped; /* added to the outbox / already there */
	double seconds;                  /* applying and committing it */
};

/* Applies b to s in one transaction and commits it (synchronous FULL: on
 * disk when this returns 0). On failure the transaction is rolled back and
 * -1 returned with errstr. */
int eddy_store_batch_commit(struct eddy_store *s, const struct eddy_store_batch *b,
                            struct eddy_store_batch_result *res, char *errstr, size_t errstr_size);

/* ---- the writer thread ------------------------------------------------- */

struct eddy_store_writer;

/* Starts a thread that commits batches to s, which it uses while a batch
 * is in flight (borrowed for the writer's life; between batches the caller
 * may use it). NULL with errstr on failure. */
struct eddy_store_writer *eddy_store_writer_start(struct eddy_store *s, char *errstr,
                                                  size_t errstr_size);
/* Waits for the batch in flight, then ends the thread. */
void eddy_store_writer_stop(struct eddy_store_writer *w);

/* Hands b to the writer, which commits it as eddy_store_batch_commit does;
 * b is borrowed (and must not change) until eddy_store_writer_wait. At
 * most one batch in flight: the caller waits for one before the next. */
void eddy_store_writer_submit(struct eddy_store_writer *w, const struct eddy_store_batch *b);
/* true while a submitted batch has not been waited for. */
bool eddy_store_writer_busy(const struct eddy_store_writer *w);
/* true when the submitted batch is committed or rolled back: a wait
 * returns at once. */
bool eddy_store_writer_done(struct eddy_store_writer *w);
/* Waits for the batch in flight: 0 committed, -1 rolled back with errstr;
 * 0 at once when none is. */
int eddy_store_writer_wait(struct eddy_store_writer *w, struct eddy_store_batch_result *res,
                           char *errstr, size_t errstr_size);

#endif
