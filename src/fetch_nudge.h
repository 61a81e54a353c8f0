/* fetch_nudge.h - wakes librdkafka's fetcher as soon as the loop has taken
 * a full fetch queue below its limits.
 *
 * librdkafka 2.0 stops fetching while the consumer's queue holds
 * queued.max.messages.kbytes of record values or queued.min.messages
 * records, and looks at the queue again only when the leader's broker
 * thread wakes: for a response, for a request to send, or once a second.
 * With a queue that holds less than a second of records the consumer idles
 * for the rest of each second, so a small queue (a small footprint) used
 * to cost most of the throughput. The nudge hands each leader a request
 * (ListOffsets for the ends of the partitions assigned then; the answer is
 * unused) when the loop drains a queue it saw full, from a thread of its
 * own ("eddy-nudge"), so the loop never waits for it. librdkafka 2.1 added
 * fetch.queue.backoff.ms for the same; the nudge does no harm there. */
#ifndef EDDY_FETCH_NUDGE_H
#define EDDY_FETCH_NUDGE_H

#include <stdbool.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>

/* When a nudge is due: the queue's limits and what the loop has seen. */
struct eddy_fetch_gauge {
	double max_bytes;   /* queued.max.messages.kbytes, in bytes */
	double max_records; /* queued.min.messages */
	double mean;        /* bytes of value per record, a moving mean; 0: none seen */
	bool full;          /* the queue was seen at its limit since the last nudge */
};

/* A batch of n records with `bytes` of values was taken from the queue,
 * which holds `after` records now (as rd_kafka_queue_length counts).
 * Returns true when the fetcher has likely stopped on a full queue and
 * could go on now: nudge it. */
bool eddy_fetch_gauge_taken(struct eddy_fetch_gauge *g, size_t n, size_t bytes, size_t after);

struct eddy_fetch_nudge;

struct eddy_metric;

/* Starts the thread for consumer rk, whose configuration says the queue's
 * limits; each nudge sent counts in sent (a counter, NULL: none). NULL
 * (errstr) when the thread cannot start. */
struct eddy_fetch_nudge *eddy_fetch_nudge_start(rd_kafka_t *rk, struct eddy_metric *sent,
                                                char *errstr, size_t errstr_size);
/* Stops and joins the thread (a request in flight is waited for, at most
 * its one-second timeout); NULL is a no-op. Call before rk is closed. */
void eddy_fetch_nudge_stop(struct eddy_fetch_nudge *n);
/* A batch was taken (see eddy_fetch_gauge_taken); nudges when due. */
void eddy_fetch_nudge_taken(struct eddy_fetch_nudge *n, size_t count, size_t bytes, size_t after);

#endif
