/* fetch_nudge.c - see fetch_nudge.h. */
#include "fetch_nudge.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "worker.h"

/* A queue estimated at this share of a limit counts as full: the estimate
 * is a mean, and a nudge too many costs one small request. */
#define FULL_SHARE 0.9

bool eddy_fetch_gauge_taken(struct eddy_fetch_gauge *g, size_t n, size_t bytes, size_t after)
{
	if (n > 0) {
		double mean = (double)bytes / (double)n;
		g->mean = g->mean > 0 ? g->mean + (mean - g->mean) / 8 : mean;
	}
	/* what the queue held when the batch was taken: the batch itself, and
	 * what is left at the mean size */
	double left = (double)after * g->mean;
	if ((double)(n + after) >= g->max_records * FULL_SHARE ||
	    (double)bytes + left >= g->max_bytes * FULL_SHARE)
		g->full = true;
	if (!g->full || (double)after >= g->max_records || left >= g->max_bytes)
		return false;
	g->full = false;
	return true;
}

struct eddy_fetch_nudge {
	rd_kafka_t *rk;
	struct eddy_metric *counter;   /* eddy_fetch_nudges_total, NULL: none */
	struct eddy_fetch_gauge gauge; /* the loop's */
	struct eddy_worker t;
	bool due; /* under t.lock */
};

/* One request to each leader of the partitions assigned now. */
static void nudge(rd_kafka_t *rk)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	if (rd_kafka_assignment(rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	for (int i = 0; i < parts->cnt; i++)
		parts->elems[i].offset = RD_KAFKA_OFFSET_END; /* the latest: cheapest to answer */
	/* one ListOffsets per leader; its failure (a leader away) is of no
	 * consequence: the fetcher wakes on its own timer then */
	if (parts->cnt > 0)
		rd_kafka_offsets_for_times(rk, parts, 1000);
	rd_kafka_topic_partition_list_destroy(parts);
}

static void *nudge_main(void *arg)
{
	struct eddy_fetch_nudge *n = arg;
	pthread_setname_np(pthread_self(), "eddy-nudge"); /* in top -H, perf */
	pthread_mutex_lock(&n->t.lock);
	for (;;) {
		while (!n->due && !n->t.stopping)
			pthread_cond_wait(&n->t.wake, &n->t.lock);
		if (n->t.stopping)
			break;
		n->due = false; /* nudges asked for meanwhile: this one serves them */
		pthread_mutex_unlock(&n->t.lock);
		nudge(n->rk);
		eddy_metric_inc(n->counter); /* NULL: none */
		pthread_mutex_lock(&n->t.lock);
	}
	pthread_mutex_unlock(&n->t.lock);
	return NULL;
}

/* The consumer property key of kc as a number, or fallback. */
static double conf_number(const rd_kafka_conf_t *kc, const char *key, double fallback)
{
	char value[64];
	size_t size = sizeof value;
	if (rd_kafka_conf_get(kc, key, value, &size) != RD_KAFKA_CONF_OK)
		return fallback;
	char *end;
	double v = strtod(value, &end);
	return end != value && v > 0 ? v : fallback;
}

struct eddy_fetch_nudge *eddy_fetch_nudge_start(rd_kafka_t *rk, struct eddy_metric *sent,
                                                char *errstr, size_t errstr_size)
{
	const rd_kafka_conf_t *kc = rd_kafka_conf(rk);
	struct eddy_fetch_nudge *n = calloc(1, sizeof *n);
	if (!n) {
		eddy_errf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	n->rk = rk;
	n->counter = sent;
	/* librdkafka's defaults, should a value be unreadable */
	n->gauge.max_bytes = conf_number(kc, "queued.max.messages.kbytes", 65536) * 1024;
	n->gauge.max_records = conf_number(kc, "queued.min.messages", 100000);
	if (eddy_worker_start(&n->t, nudge_main, n, "fetch nudge", errstr, errstr_size) != 0) {
		free(n);
		return NULL;
	}
	return n;
}

void eddy_fetch_nudge_stop(struct eddy_fetch_nudge *n)
{
	if (!n)
		return;
	eddy_worker_stop(&n->t);
	free(n);
}

void eddy_fetch_nudge_taken(struct eddy_fetch_nudge *n, size_t count, size_t bytes, size_t after)
{
	if (!eddy_fetch_gauge_taken(&n->gauge, count, bytes, after))
		return;
	pthread_mutex_lock(&n->t.lock);
	n->due = true;
	pthread_cond_signal(&n->t.wake);
	pthread_mutex_unlock(&n->t.lock);
}
