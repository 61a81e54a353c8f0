/* kafka.c - the consumer loop: a librdkafka consumer group feeding the
 * pipeline in batches, a producer for dead letters, offsets committed only
 * after everything a batch did is durable (store transaction committed,
 * dead letters acknowledged by the broker). */
#include "kafka.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "alerts.h"
#include "fetch_nudge.h"
#include "handlers.h"
#include "log.h"
#include "publish.h"
#include "store/store.h"
#include "reload.h"
#include "rules.h"
#include "telemetry.h"

/* A partition this process holds or has records of in the current batch. */
struct part {
	char *topic;
	int32_t partition;
	bool assigned;
	bool eof;          /* reached the end, nothing handled since */
	int64_t first;     /* first offset of the current batch, -1 none */
	int64_t next;      /* offset after the last handled record of the batch */
	int64_t durable;   /* the store's work is committed below this, -1 none */
	int64_t committed; /* last offset committed to the group, -1 none */
	/* A handler retry in backoff: the partition is paused and sought back
	 * to the record, which comes back with its failed attempts. */
	int64_t retry_offset; /* -1: none */
	int retry_attempts;
	bool held;        /* its record is retried: the batch skips the rest of it */
	double resume_at; /* paused until then (monotonic seconds); 0: fetching */
	/* records of the current batch by outcome, counted when it ends */
	uint32_t tally[EDDY_RECORD_N];
	/* the batch last handed to the store (see struct consumer's stored):
	 * its range and tallies, counted once it is durable or lost */
	int64_t s_first, s_next;
	uint32_t s_tally[EDDY_RECORD_N];
	struct eddy_metric *records[EDDY_RECORD_N], *lag; /* series, made on first use */
};

/* A record produced for a source record (its dead letter, or what its
 * handlers published) not yet acknowledged holds the source partition's
 * commit below its offset; one that failed sends the partition back to it. */
struct pending {
	size_t part;
	int64_t offset;
	int state;      /* 0 in flight, 1 settled, -1 failed */
	bool published; /* else a dead letter */
};

struct consumer {
	const struct eddy_config *conf;
	const struct eddy_kafka_opts *opts;
	rd_kafka_t *rk;       /* consumer */
	rd_kafka_t *producer; /* dead letters */
	struct eddy_pipeline *pipeline;
	struct eddy_reload *reload; /* handlers and schemas changed on disk, SIGHUP */
	struct eddy_alerts *alerts; /* the outbox's sender, NULL without sinks */
	struct eddy_telemetry *tel; /* metrics, probes and their HTTP endpoint */
	const char *group;          /* kafka.group.id */
	const char *offset_reset;   /* where a partition without a committed offset starts */
	bool transactional;         /* publish.transactional: a Kafka transaction a batch */
	bool lost_track;            /* a partition could not be tracked (no memory): stop */
	struct part *parts;
	size_t n_parts, cap_parts;
	struct pending *pending; /* pending[i] has id pending_base + i */
	size_t n_pending, cap_pending;
	uint64_t pending_base;
	struct eddy_header *headers;
	size_t cap_headers;
	uint64_t consumed;
	uint64_t consumed_shown;        /* what the last progress line said */
	double first_batch, last_batch; /* monotonic seconds: the steady rate */
	/* seconds spent per phase, reported at debug level on exit */
	double t_poll, t_handle, t_store_commit, t_kafka_commit;
	/* the loop's own */
	rd_kafka_conf_t *kc, *pc;       /* until the consumer and producer take them */
	rd_kafka_queue_t *queue;        /* the consumer's */
	struct eddy_fetch_nudge *nudge; /* wakes the fetcher when the queue drains */
	rd_kafka_queue_t *commits;      /* results of the loop's offset commits */
	bool committing;                /* one of them in flight */
	/* The last batch handed to the store, not yet known durable: with an
	 * async store it is committed while the next batch is handled. */
	bool stored;
	bool stored_records;       /* it held records (it counts as a batch) */
	uint64_t store_commits;    /* the pipeline's, last seen */
	uint64_t alerts_seen;      /* the pipeline's alerts count the sender was woken for */
	rd_kafka_message_t **msgs; /* batch.size of them */
	int backoff;               /* ms paused after a failed batch, doubled each time */
	double backoff_until;      /* the failed batch's partitions are paused until then */
	double deadline;           /* of the stop (monotonic seconds); 0: not stopping */
	time_t last_lag;           /* monotonic second the lag gauges were set */
	struct timespec last_progress;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keys only a consumer understands; the producer would warn about each. */
static const char *const consumer_only[] = {
    "group.",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "auto.offset.reset",
    "auto.commit.",
    "enable.auto.",
    "partition.assignment.strategy",
    "enable.partition.eof",
    "fetch.",
    "queued.",
    "isolation.level",
    "check.crcs",
    "consume.callback.max.messages",
    "coordinator.query.interval.ms",
    "offset.store.",
    "allow.auto.create.topics",
    NULL,
};

static bool is_consumer_only(const char *key)
{
	for (const char *const *p = consumer_only; *p; p++) {
		size_t n = strlen(*p);
		if ((*p)[n - 1] == '.' ? strncmp(key, *p, n) == 0 : strcmp(key, *p) == 0)
			return true;
	}
	return false;
}

/* Applies the config's kafka: properties to a new librdkafka conf, skipping
 * consumer-only ones when for_producer. NULL with "kafka.<key>: <error>". */
static rd_kafka_conf_t *kafka_conf(const struct eddy_config *conf, bool for_producer, char *errstr,
                                   size_t errstr_size)
{
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	char err[512];
	for (size_t i = 0; i < conf->n_kafka; i++) {
		const struct eddy_config_kv *kv = &conf->kafka[i];
		if (for_producer && is_consumer_only(kv->key))
			continue;
		if (rd_kafka_conf_set(kc, kv->key, kv->value, err, sizeof err) !=
		    RD_KAFKA_CONF_OK) {
			snprintf(errstr, errstr_size, "kafka.%s: %s", kv->key, err);
			rd_kafka_conf_destroy(kc);
			return NULL;
		}
	}
	return kc;
}

static int set(rd_kafka_conf_t *kc, const char *key, const char *value, char *errstr,
               size_t errstr_size)
{
	char err[512];
	if (rd_kafka_conf_set(kc, key, value, err, sizeof err) == RD_KAFKA_CONF_OK)
		return 0;
	snprintf(errstr, errstr_size, "kafka.%s: %s", key, err);
	return -1;
}

/* The value the config's kafka section gives key, or NULL. */
static const char *kafka_value(const struct eddy_config *conf, const char *key)
{
	for (size_t i = 0; i < conf->n_kafka; i++)
		if (strcmp(conf->kafka[i].key, key) == 0)
			return conf->kafka[i].value;
	return NULL;
}

/* A consumer property as the consumer runs with it: the kafka section's
 * value, else eddy's default, else NULL (librdkafka's). */
/* Whether eddy's consumer default d is used: the kafka section sets
 * neither its key nor the key that rules it out. */
static bool default_applies(const struct eddy_config *conf, const struct eddy_config_default *d)
{
	return !kafka_value(conf, d->key) && !(d->unless && kafka_value(conf, d->unless));
}

static const char *consumer_value(const struct eddy_config *conf, const char *key)
{
	const char *v = kafka_value(conf, key);
	for (const struct eddy_config_default *d = eddy_kafka_consumer_defaults; !v && d->key; d++)
		if (strcmp(d->key, key) == 0 && default_applies(conf, d))
			v = d->value;
	return v;
}

static size_t find_part(struct consumer *c, const char *topic, int32_t partition, bool add)
{
	for (size_t i = 0; i < c->n_parts; i++)
		if (c->parts[i].partition == partition && strcmp(c->parts[i].topic, topic) == 0)
			return i;
	if (!add)
		return SIZE_MAX;
	if (c->n_parts == c->cap_parts) {
		size_t cap = c->cap_parts ? c->cap_parts * 2 : 16;
		struct part *n = realloc(c->parts, cap * sizeof *n);
		if (!n)
			return SIZE_MAX;
		c->parts = n;
		c->cap_parts = cap;
	}
	c->parts[c->n_parts] = (struct part){.topic = strdup(topic),
	                                     .partition = partition,
	                                     .first = -1,
	                                     .next = -1,
	                                     .durable = -1,
	                                     .committed = -1,
	                                     .retry_offset = -1};
	if (!c->parts[c->n_parts].topic)
		return SIZE_MAX;
	return c->n_parts++;
}

static void settle(struct consumer *c, double until);
static void commit_durable(struct consumer *c, double until);
static void reset_batch(struct consumer *c);
static bool flush(struct consumer *c);
static void abandon(struct consumer *c);
static void resume_due(struct consumer *c, const rd_kafka_topic_partition_list_t *revoked);

/* How long a wait that must not outlast a stop may take: until the stop's
 * deadline, or for good while running. */
static double wait_until(const struct consumer *c)
{
	return c->deadline > 0 ? c->deadline : INFINITY;
}

/* Says where each newly assigned partition without a committed offset of
 * the group starts, as kafka.auto.offset.reset decides: a new group that
 * starts at the end skips what the topic already holds, and the log is
 * where a user finds out. Asks the group coordinator and the partition
 * leaders; when they do not answer in time only the rule is logged. */
static void log_starts(struct consumer *c, rd_kafka_t *rk,
                       const rd_kafka_topic_partition_list_t *list)
{
	rd_kafka_topic_partition_list_t *copy = rd_kafka_topic_partition_list_copy(list);
	rd_kafka_resp_err_t err = rd_kafka_committed(rk, copy, 5000);
	const char *r = c->offset_reset;
	bool earliest = !strcmp(r, "earliest") || !strcmp(r, "smallest") || !strcmp(r, "beginning");
	bool latest = !strcmp(r, "latest") || !strcmp(r, "largest") || !strcmp(r, "end");

	for (int i = 0; i < copy->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &copy->elems[i];
		int64_t lo, hi;

		if (!err && (tp->err || tp->offset >= 0))
			continue;
		if (err || !(earliest || latest) ||
		    rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &lo, &hi,
		                                     5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
			eddy_log(EDDY_LOG_INFO,
			         "%s/%d: no committed offset for group %s (or none could be read): "
			         "kafka.auto.offset.reset: %s decides where it starts",
			         tp->topic, (int)tp->partition, c->group, c->offset_reset);
			continue;
		}
		if (earliest || hi == lo)
			eddy_log(EDDY_LOG_INFO,
			         "%s/%d: no committed offset for group %s: starting at the "
			         "earliest retained record, offset %" PRId64 " (%" PRId64
			         " records; kafka.auto.offset.reset: %s)",
			         tp->topic, (int)tp->partition, c->group, lo, hi - lo,
			         c->offset_reset);
		else
			eddy_log(EDDY_LOG_WARN,
			         "%s/%d: no committed offset for group %s: starting at offset "
			         "%" PRId64 " (kafka.auto.offset.reset: %s), the %" PRId64
			         " records already there are skipped",
			         tp->topic, (int)tp->partition, c->group, hi, c->offset_reset,
			         hi - lo);
	}
	rd_kafka_topic_partition_list_destroy(copy);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *list, void *opaque)
{
	struct consumer *c = opaque;
	bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	rd_kafka_error_t *error = NULL;
	rd_kafka_resp_err_t ret = RD_KAFKA_RESP_ERR_NO_ERROR;

	/* Batches end before the next poll, so nothing is half done here;
	 * what is durable is committed before the partitions are given up. */
	bool assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
	if (!assign) {
		/* the batch with the store's writer decides what is durable */
		reset_batch(c);
		if (!flush(c))
			abandon(c);
		settle(c, wait_until(c));
		commit_durable(c, wait_until(c));
		/* librdkafka keeps a partition's pause across a reassignment */
		resume_due(c, list);
	}
	for (int i = 0; i < list->cnt; i++) {
		size_t p = find_part(c, list->elems[i].topic, list->elems[i].partition, true);
		if (p == SIZE_MAX) {
			/* Its records could be neither handled nor committed: stop,
			 * and let the next start resume from the committed offsets. */
			eddy_log(EDDY_LOG_ERROR, "out of memory tracking %s/%d: stopping",
			         list->elems[i].topic, (int)list->elems[i].partition);
			c->lost_track = true;
			continue;
		}
		c->parts[p].assigned = assign;
		c->parts[p].eof = false;
		c->parts[p].durable = c->parts[p].committed = -1;
		c->parts[p].retry_offset = -1;
		c->parts[p].retry_attempts = 0;
		c->parts[p].held = false;
	}
	eddy_log(EDDY_LOG_INFO, "%s %d partition(s)", assign ? "assigned" : "revoked", list->cnt);
	if (assign)
		log_starts(c, rk, list);
	for (int i = 0; !assign && i < list->cnt; i++) {
		/* its new owner reports its lag now */
		size_t p = find_part(c, list->elems[i].topic, list->elems[i].partition, false);
		if (p != SIZE_MAX)
			eddy_metric_set(c->parts[p].lag, 0);
	}
	eddy_metric_inc(eddy_metric_get(c->tel->rebalances,
	                                (const char *const[]){assign ? "assign" : "revoke"}));
	size_t held = 0;
	for (size_t i = 0; i < c->n_parts; i++)
		held += c->parts[i].assigned;
	eddy_health_set(c->tel->health, EDDY_HEALTH_ASSIGNED,
	                held ? NULL : "no partitions assigned to this member");
	if (cooperative)
		error = assign ? rd_kafka_incremental_assign(rk, list)
		               : rd_kafka_incremental_unassign(rk, list);
	else
		ret = rd_kafka_assign(rk, assign ? list : NULL);
	if (error) {
		eddy_log(EDDY_LOG_ERROR, "rebalance: %s", rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	} else if (ret) {
		eddy_log(EDDY_LOG_ERROR, "rebalance: %s", rd_kafka_err2str(ret));
	}
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	struct consumer *c = opaque;
	uint64_t id = (uint64_t)(uintptr_t)m->_private;
	if (id < c->pending_base || id - c->pending_base >= c->n_pending)
		return;
	size_t i = (size_t)(id - c->pending_base);
	c->pending[i].state = m->err ? -1 : 1;
	if (m->err)
		eddy_metric_inc(eddy_metric_get(
		    c->tel->delivery_failures,
		    (const char *const[]){c->pending[i].published ? "published" : "dead_letter"}));
	if (m->err)
		eddy_log(EDDY_LOG_ERROR, "%s for %s %d/%" PRId64 " not delivered: %s",
		         c->pending[i].published ? "published record" : "dead letter",
		         c->parts[c->pending[i].part].topic,
		         (int)c->parts[c->pending[i].part].partition, c->pending[i].offset,
		         rd_kafka_err2str(m->err));
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	enum eddy_log_level l = level <= 3   ? EDDY_LOG_ERROR
	                        : level <= 4 ? EDDY_LOG_WARN
	                        : level <= 6 ? EDDY_LOG_INFO
	                                     : EDDY_LOG_DEBUG;
	struct eddy_log_ctx ctx = EDDY_LOG_CTX_NONE;
	ctx.facility = fac;
	eddy_log_at(l, &ctx, NULL, "kafka %s: %s", fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)rk;
	(void)opaque;
	eddy_log(err == RD_KAFKA_RESP_ERR__FATAL ? EDDY_LOG_ERROR : EDDY_LOG_WARN, "kafka: %s: %s",
	         rd_kafka_err2name(err), reason);
}

/* Produces to topic (taking h), the delivery tracked as pending for the
 * source record m. */
static int produce_tracked(struct consumer *c, const struct eddy_msg *m, bool published,
                           const char *topic, const char *key, size_t key_len, const char *value,
                           size_t value_len, rd_kafka_headers_t *h)
{
	if (c->n_pending == c->cap_pending) {
		size_t cap = c->cap_pending ? c->cap_pending * 2 : 64;
		struct pending *np = realloc(c->pending, cap * sizeof *np);
		if (!np) {
			rd_kafka_headers_destroy(h);
			return -1;
		}
		c->pending = np;
		c->cap_pending = cap;
	}
	uint64_t id = c->pending_base + c->n_pending;
	size_t part = find_part(c, m->topic, m->partition, false);
	if (part == SIZE_MAX) {
		rd_kafka_headers_destroy(h);
		return -1;
	}
	c->pending[c->n_pending] = (struct pending){part, m->offset, 0, published};
	rd_kafka_resp_err_t err = rd_kafka_producev(
	    c->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	    RD_KAFKA_V_KEY((void *)key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
	    RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)id), RD_KAFKA_V_END);
	if (err) {
		rd_kafka_headers_destroy(h);
		eddy_log(EDDY_LOG_ERROR, "%s to %s: %s", published ? "publish" : "dead letter",
		         topic, rd_kafka_err2str(err));
		return -1;
	}
	c->n_pending++;
	rd_kafka_poll(c->producer, 0);
	return 0;
}

/* Produces a dead letter: the original key, value and headers plus the
 * eddy.error.* headers. Delivery is confirmed before the commit. */
static int dead_letter(void *ud, const struct eddy_msg *m, const struct eddy_dead_letter *dl)
{
	struct consumer *c = ud;
	struct eddy_log_ctx ctx = {.topic = m->topic,
	                           .partition = m->partition,
	                           .offset = m->offset,
	                           .handler = dl->handler};
	eddy_log_at(EDDY_LOG_WARN, &ctx, NULL, "dead letter: %s %d/%" PRId64 ": %s: %s%s%s",
	            m->topic, (int)m->partition, m->offset, dl->stage,
	            dl->handler ? dl->handler : "", dl->handler ? ": " : "", dl->reason);
	eddy_telemetry_dead_letter(c->tel, dl->stage);
	rd_kafka_headers_t *h = rd_kafka_headers_new(m->n_headers + 7);
	char num[32], when[40];
	for (size_t i = 0; i < m->n_headers; i++)
		rd_kafka_header_add(h, m->headers[i].name, -1, m->headers[i].value,
		                    (ssize_t)m->headers[i].len);
	rd_kafka_header_add(h, "eddy.error.stage", -1, dl->stage, -1);
	rd_kafka_header_add(h, "eddy.error.reason", -1, dl->reason, -1);
	rd_kafka_header_add(h, "eddy.error.topic", -1, m->topic, -1);
	snprintf(num, sizeof num, "%d", (int)m->partition);
	rd_kafka_header_add(h, "eddy.error.partition", -1, num, -1);
	snprintf(num, sizeof num, "%" PRId64, m->offset);
	rd_kafka_header_add(h, "eddy.error.offset", -1, num, -1);
	if (dl->handler)
		rd_kafka_header_add(h, "eddy.error.handler", -1, dl->handler, -1);
	eddy_time_rfc3339(eddy_now_ms(), when);
	rd_kafka_header_add(h, "eddy.error.time", -1, when, -1);

	return produce_tracked(c, m, false, c->conf->dead_letter_topic, m->key,
	                       m->key ? m->key_len : 0, m->value, m->value ? m->value_len : 0, h);
}

/* Produces a record of the handlers of m (ctx.publish), its delivery
 * awaited before m's offset is committed. */
static int publish(void *ud, const struct eddy_msg *m, const struct eddy_record *r)
{
	struct consumer *c = ud;
	rd_kafka_headers_t *h = rd_kafka_headers_new(r->n_headers ? r->n_headers : 1);
	for (size_t i = 0; i < r->n_headers; i++)
		rd_kafka_header_add(h, r->headers[2 * i], -1, r->headers[2 * i + 1], -1);
	return produce_tracked(c, m, true, r->topic, r->key, r->key ? r->key_len : 0, r->value,
	                       r->value ? r->value_len : 0, h);
}

/* Lends m's fields to an eddy_msg; headers go into c's reused array.
 * -1 when that array cannot grow (no memory). */
static int to_msg(struct consumer *c, rd_kafka_message_t *rkm, struct eddy_msg *m)
{
	rd_kafka_headers_t *hdrs = NULL;
	size_t nh = 0;
	if (rd_kafka_message_headers(rkm, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		nh = rd_kafka_header_cnt(hdrs);
		if (nh > c->cap_headers) {
			struct eddy_header *n = realloc(c->headers, nh * sizeof *n);
			if (!n)
				return -1;
			c->headers = n;
			c->cap_headers = nh;
		}
		for (size_t i = 0; i < nh; i++) {
			const void *v;
			size_t len;
			rd_kafka_header_get_all(hdrs, i, &c->headers[i].name, &v, &len);
			c->headers[i].value = v;
			c->headers[i].len = len;
		}
	}
	rd_kafka_timestamp_type_t tstype;
	*m = (struct eddy_msg){
	    .topic = rd_kafka_topic_name(rkm->rkt),
	    .partition = rkm->partition,
	    .offset = rkm->offset,
	    .timestamp_ms = rd_kafka_message_timestamp(rkm, &tstype),
	    .key = rkm->key,
	    .key_len = rkm->key_len,
	    .value = rkm->payload,
	    .value_len = rkm->len,
	    .headers = c->headers,
	    .n_headers = nh,
	};
	return 0;
}

/* Moves each partition of l to its offset: the next fetch starts there. */
static void seek(struct consumer *c, rd_kafka_topic_partition_list_t *l)
{
	rd_kafka_error_t *e = l->cnt > 0 ? rd_kafka_seek_partitions(c->rk, l, 5000) : NULL;
	if (e) {
		eddy_log(EDDY_LOG_ERROR, "seek: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
}

/* Pauses or resumes the partitions of l. */
static void pause(struct consumer *c, rd_kafka_topic_partition_list_t *l, bool paused)
{
	rd_kafka_resp_err_t err = l->cnt == 0 ? RD_KAFKA_RESP_ERR_NO_ERROR
	                          : paused    ? rd_kafka_pause_partitions(c->rk, l)
	                                      : rd_kafka_resume_partitions(c->rk, l);
	if (err)
		eddy_log(EDDY_LOG_ERROR, "%s: %s", paused ? "pause" : "resume",
		         rd_kafka_err2str(err));
}

/* Resumes the paused partitions whose backoff is over, or (revoked) those
 * of revoked at once: a revoked partition must not stay paused for its
 * next owner here. */
static void resume_due(struct consumer *c, const rd_kafka_topic_partition_list_t *revoked)
{
	size_t paused = 0;
	for (size_t i = 0; i < c->n_parts; i++)
		paused += c->parts[i].resume_at > 0;
	if (!paused)
		return; /* the common case: nothing to list, nothing to ask */
	double now = now_s();
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
	for (size_t i = 0; i < c->n_parts; i++) {
		struct part *p = &c->parts[i];
		if (p->resume_at == 0 ||
		    (revoked ? !rd_kafka_topic_partition_list_find(revoked, p->topic, p->partition)
		             : now < p->resume_at))
			continue;
		p->resume_at = 0;
		if (p->assigned)
			rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
	}
	pause(c, l, false);
	rd_kafka_topic_partition_list_destroy(l);
}

/* Records of the batch's partitions are fetched again from `first` (the
 * batch was abandoned: all of them, after c->backoff) or from the record a
 * handler retries (held partitions, after the handler's backoff). Paused,
 * not slept on: the loop goes on polling, so the group keeps this member
 * (max.poll.interval.ms) and a stop is not held up. */
static void pause_and_seek(struct consumer *c, bool abandoned)
{
	size_t holding = 0;
	for (size_t i = 0; i < c->n_parts && !abandoned; i++)
		holding += c->parts[i].held;
	if (!abandoned && !holding)
		return; /* after most batches: nothing to pause */
	double now = now_s();
	rd_kafka_topic_partition_list_t *paused = rd_kafka_topic_partition_list_new(4);
	rd_kafka_topic_partition_list_t *to = rd_kafka_topic_partition_list_new(4);
	for (size_t i = 0; i < c->n_parts; i++) {
		struct part *p = &c->parts[i];
		bool held = p->held;
		p->held = false;
		if (!p->assigned || (!abandoned && !held))
			continue;
		if (abandoned)
			p->resume_at = c->backoff_until = now + c->backoff / 1000.0;
		if (p->resume_at > 0)
			rd_kafka_topic_partition_list_add(paused, p->topic, p->partition);
		int64_t at = abandoned ? p->first : p->retry_offset;
		if (at >= 0)
			rd_kafka_topic_partition_list_add(to, p->topic, p->partition)->offset = at;
		p->eof = false;
	}
	pause(c, paused, true);
	seek(c, to);
	rd_kafka_topic_partition_list_destroy(paused);
	rd_kafka_topic_partition_list_destroy(to);
}

/* A handler of the record at offset failed with retries left: its
 * partition stops here for this batch and is paused for ms. */
static void hold(struct part *p, int64_t offset, int ms)
{
	if (p->retry_offset != offset) {
		p->retry_offset = offset;
		p->retry_attempts = 0;
	}
	p->retry_attempts++;
	p->held = true;
	p->resume_at = now_s() + ms / 1000.0;
	p->tally[EDDY_RECORD_RETRIED]++;
}

/* Serves delivery reports of dead letters, waiting for every one until
 * the monotonic second until (0: not at all). A dead letter that failed
 * sends its partition back to that record: it and what follows are
 * handled again, nothing past it is committed before. */
static void settle(struct consumer *c, double until)
{
	for (;;) {
		rd_kafka_poll(c->producer, 0);
		size_t open = 0;
		for (size_t i = 0; i < c->n_pending; i++)
			open += c->pending[i].state == 0;
		if (!open || now_s() >= until)
			break;
		/* flush, not poll: it sends what lingers at once */
		rd_kafka_flush(c->producer, 100);
	}
	rd_kafka_topic_partition_list_t *l = NULL;
	for (size_t i = 0; i < c->n_pending; i++) {
		struct pending *e = &c->pending[i];
		if (e->state >= 0)
			continue;
		e->state = 1;
		struct part *p = &c->parts[e->part];
		if (!p->assigned)
			continue;
		if (p->durable > e->offset)
			p->durable = e->offset;
		/* nor may the batch with the store's writer take it past */
		if (c->stored && p->s_next > e->offset)
			p->s_next = e->offset;
		p->eof = false;
		if (!l)
			l = rd_kafka_topic_partition_list_new(4);
		rd_kafka_topic_partition_t *tp =
		    rd_kafka_topic_partition_list_find(l, p->topic, p->partition);
		if (!tp)
			rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
			    e->offset;
		else if (e->offset < tp->offset)
			tp->offset = e->offset;
	}
	if (l) {
		seek(c, l);
		rd_kafka_topic_partition_list_destroy(l);
	}
	size_t done = 0;
	while (done < c->n_pending && c->pending[done].state != 0)
		done++;
	if (done) {
		memmove(c->pending, c->pending + done, (c->n_pending - done) * sizeof *c->pending);
		c->n_pending -= done;
	}
	c->pending_base += done;
}

/* What the group said of an offset commit. */
static void committed(struct consumer *c, rd_kafka_resp_err_t err,
                      const rd_kafka_topic_partition_list_t *l)
{
	eddy_metric_inc(err ? c->tel->commit_failures : c->tel->commits);
	if (err)
		/* The partitions moved on: their new owner starts from the last
		 * commit and repeats some idempotent work. Or the group is not
		 * reachable: the next commit says it again. */
		eddy_log(EDDY_LOG_WARN, "commit: %s", rd_kafka_err2str(err));
	for (int i = 0; !err && i < l->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &l->elems[i];
		size_t pi = find_part(c, tp->topic, tp->partition, false);
		if (tp->err)
			eddy_log(EDDY_LOG_WARN, "commit of %s/%d: %s", tp->topic,
			         (int)tp->partition, rd_kafka_err2str(tp->err));
		else if (pi != SIZE_MAX && c->parts[pi].assigned)
			c->parts[pi].committed = tp->offset;
	}
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	struct consumer *c = opaque;
	(void)rk;
	c->committing = false;
	committed(c, err, offsets);
}

/* Commits, per partition, the offset below which everything is durable:
 * the store's work committed and every dead letter acknowledged.
 * With until 0 (the loop) the commit is sent and its answer served by a
 * later turn; otherwise (a rebalance, the stop) it is awaited, at most
 * until then. One commit at a time: a request librdkafka retries must not
 * land after a newer one and take the group's offsets back. */
static void commit_durable(struct consumer *c, double until)
{
	/* with transactions, offsets are committed in them only */
	if (c->transactional || !c->commits)
		return;
	rd_kafka_queue_poll_callback(c->commits, 0);
	while (until > 0 && c->committing && now_s() < until)
		rd_kafka_queue_poll_callback(c->commits, 100);
	if (c->committing)
		return;
	rd_kafka_topic_partition_list_t *l = NULL;
	for (size_t i = 0; i < c->n_parts; i++) {
		struct part *p = &c->parts[i];
		if (!p->assigned || p->durable < 0)
			continue;
		int64_t to = p->durable;
		for (size_t j = 0; j < c->n_pending; j++)
			if (c->pending[j].part == i && c->pending[j].state == 0 &&
			    c->pending[j].offset < to)
				to = c->pending[j].offset;
		if (to > p->committed) {
			if (!l)
				l = rd_kafka_topic_partition_list_new(4);
			rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = to;
		}
	}
	if (!l)
		return;
	if (until > 0)
		committed(c, rd_kafka_commit(c->rk, l, 0), l);
	else if (rd_kafka_commit_queue(c->rk, l, c->commits, commit_cb, c) == 0)
		c->committing = true;
	else
		committed(c, RD_KAFKA_RESP_ERR__FAIL, l);
	rd_kafka_topic_partition_list_destroy(l);
}

static void reset_batch(struct consumer *c)
{
	for (size_t i = 0; i < c->n_parts; i++) {
		c->parts[i].first = c->parts[i].next = -1;
		memset(c->parts[i].tally, 0, sizeof c->parts[i].tally);
	}
}

/* Adds a partition's tally of records by outcome to the metrics, and
 * zeroes it. */
static void add_tally(struct consumer *c, struct part *p, uint32_t *tally)
{
	for (int o = 0; o < EDDY_RECORD_N; o++) {
		if (!tally[o])
			continue;
		if (!p->records[o])
			p->records[o] = eddy_telemetry_records(c->tel, p->topic, o);
		eddy_metric_add(p->records[o], tally[o]);
	}
	memset(tally, 0, EDDY_RECORD_N * sizeof *tally);
}

/* Counts the batch's records by topic and outcome: as they went when it
 * was made durable; every record of it as retried when it was abandoned
 * (it is polled again, handled or not). */
static void count_batch(struct consumer *c, bool durable, rd_kafka_message_t **msgs, ssize_t n)
{
	for (size_t i = 0; !durable && i < c->n_parts; i++)
		memset(c->parts[i].tally, 0, sizeof c->parts[i].tally);
	for (ssize_t i = 0; !durable && i < n; i++) {
		size_t pi = msgs[i]->err ? SIZE_MAX
		                         : find_part(c, rd_kafka_topic_name(msgs[i]->rkt),
		                                     msgs[i]->partition, false);
		if (pi != SIZE_MAX && c->parts[pi].assigned)
			c->parts[pi].tally[EDDY_RECORD_RETRIED]++;
	}
	for (size_t i = 0; i < c->n_parts; i++)
		add_tally(c, &c->parts[i], c->parts[i].tally);
}

/* The batch just handled goes to the store: its range and tallies wait in
 * the parts' s_ fields until it is known durable or lost. */
static void to_store(struct consumer *c, bool records)
{
	for (size_t i = 0; i < c->n_parts; i++) {
		struct part *p = &c->parts[i];
		p->s_first = p->first;
		p->s_next = p->next;
		memcpy(p->s_tally, p->tally, sizeof p->tally);
		memset(p->tally, 0, sizeof p->tally);
	}
	c->stored = true;
	c->stored_records = records;
}

/* The stored batch is durable: its offsets may be committed, its records
 * count by outcome. */
static void batch_durable(struct consumer *c)
{
	if (!c->stored)
		return;
	for (size_t i = 0; i < c->n_parts; i++) {
		struct part *p = &c->parts[i];
		if (p->assigned && p->s_first >= 0 && p->s_next > p->durable)
			p->durable = p->s_next;
		add_tally(c, p, p->s_tally);
	}
	if (c->stored_records)
		eddy_metric_inc(c->tel->batches);
	c->stored = false;
	const struct eddy_pipeline_stats *s = eddy_pipeline_stats(c->pipeline);
	if (s->store_commits != c->store_commits) {
		c->store_commits = s->store_commits;
		eddy_metric_observe(c->tel->store_seconds, s->store_seconds);
	}
}

/* The stored batch was rolled back: its partitions go back to its first
 * records (with those of the batch at hand), its records count as
 * retried. */
static void batch_lost(struct consumer *c)
{
	if (!c->stored)
		return;
	for (size_t i = 0; i < c->n_parts; i++) {
		struct part *p = &c->parts[i];
		uint32_t n = 0;
		for (int o = 0; o < EDDY_RECORD_N; o++)
			n += p->s_tally[o];
		memset(p->s_tally, 0, sizeof p->s_tally);
		p->s_tally[EDDY_RECORD_RETRIED] = n;
		add_tally(c, p, p->s_tally);
		if (p->s_first >= 0 && (p->first < 0 || p->s_first < p->first))
			p->first = p->s_first;
	}
	if (c->stored_records)
		eddy_metric_inc(c->tel->batches_abandoned);
	c->stored = false;
}

/* Every assigned partition at its end, and all of it committed. */
static bool all_at_end(struct consumer *c)
{
	size_t assigned = 0;
	for (size_t i = 0; i < c->n_parts; i++) {
		const struct part *p = &c->parts[i];
		if (!p->assigned)
			continue;
		assigned++;
		if (!p->eof || p->durable > p->committed)
			return false;
	}
	return assigned > 0 && c->n_pending == 0 && !eddy_pipeline_pending(c->pipeline);
}

/* Records behind the end of the partitions held, from the watermarks of
 * the last fetch (no request to the broker); sets each partition's gauge. */
static int64_t lag(struct consumer *c)
{
	int64_t total = 0;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
	for (size_t i = 0; i < c->n_parts; i++)
		if (c->parts[i].assigned)
			rd_kafka_topic_partition_list_add(l, c->parts[i].topic,
			                                  c->parts[i].partition)
			    ->opaque = &c->parts[i];
	rd_kafka_position(c->rk, l);
	for (int i = 0; i < l->cnt; i++) {
		struct part *p = l->elems[i].opaque;
		int64_t lo, hi;
		if (rd_kafka_get_watermark_offsets(c->rk, l->elems[i].topic, l->elems[i].partition,
		                                   &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
		    hi < 0)
			continue;
		int64_t pos = l->elems[i].offset >= 0 ? l->elems[i].offset : lo;
		int64_t behind = hi > pos ? hi - pos : 0;
		if (!p->lag)
			p->lag = eddy_telemetry_lag(c->tel, p->topic, p->partition);
		eddy_metric_set(p->lag, (double)behind);
		total += behind;
	}
	rd_kafka_topic_partition_list_destroy(l);
	return total;
}

static void progress(struct consumer *c)
{
	const struct eddy_pipeline_stats *s = eddy_pipeline_stats(c->pipeline);
	c->consumed_shown = c->consumed;
	fprintf(c->opts->progress,
	        "-- consumed %" PRIu64 ", handled %" PRIu64 ", dead-lettered %" PRIu64
	        ", upserts %" PRIu64 ", deletes %" PRIu64 ", lag %" PRId64 "\n",
	        c->consumed, s->handled, s->dead, s->upserts, s->deletes, lag(c));
	fflush(c->opts->progress);
}

/* Between two batches: the new handlers and schemas, or the old ones and
 * the error. */
static void reload(struct consumer *c)
{
	char err[1024];
	double t0 = now_s();

	if (eddy_pipeline_reload(c->pipeline, err, sizeof err) != 0) {
		eddy_log(EDDY_LOG_ERROR, "reload failed, the running handlers stay: %s", err);
		return;
	}
	eddy_log(EDDY_LOG_INFO, "reloaded %zu handlers from %s in %.1f ms",
	         eddy_pipeline_handler_count(c->pipeline), c->conf->handlers,
	         (now_s() - t0) * 1000);
}

/* The sender of the alert outbox, on a store handle of its own. */
static struct eddy_alerts *start_alerts(const struct eddy_config *conf, char *errstr,
                                        size_t errstr_size)
{
	struct eddy_alerts_sink *sinks = calloc(conf->n_alert_sinks, sizeof *sinks);
	struct eddy_store *store = NULL;
	struct eddy_alerts *a = NULL;

	if (!sinks) {
		eddy_errf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < conf->n_alert_sinks; i++) {
		const struct eddy_config_sink *s = &conf->alert_sinks[i];
		sinks[i] = (struct eddy_alerts_sink){
		    s->name,
		    strcmp(s->type, "slack") == 0          ? EDDY_ALERTS_SLACK
		    : strcmp(s->type, "alertmanager") == 0 ? EDDY_ALERTS_ALERTMANAGER
		                                           : EDDY_ALERTS_WEBHOOK,
		    s->url, s->secret, s->timeout_ms};
	}
	struct eddy_alerts_conf ac = {
	    .sinks = sinks,
	    .n_sinks = conf->n_alert_sinks,
	    .max_age_ms = conf->alerts_max_age_s > INT32_MAX / 1000 ? INT32_MAX
	                                                            : conf->alerts_max_age_s * 1000,
	    .generator_url = conf->alerts_generator_url,
	};
	if ((store = eddy_store_open(conf, errstr, errstr_size)))
		a = eddy_alerts_start(&ac, store, errstr, errstr_size);
	free(sinks);
	return a;
}

static bool has_records(rd_kafka_message_t **msgs, ssize_t n)
{
	for (ssize_t i = 0; i < n; i++)
		if (!msgs[i]->err)
			return true;
	return false;
}

/* publish.transactional: the batch's records and its consumer offsets
 * committed together. On failure the transaction is aborted (its records
 * are never seen by read_committed consumers) and false is returned: the
 * batch is done again. A fatal error stops the consumer. */
static bool commit_transaction(struct consumer *c, bool ok)
{
	rd_kafka_error_t *e = NULL;

	if (ok) {
		rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
		for (size_t i = 0; i < c->n_parts; i++) {
			struct part *p = &c->parts[i];
			if (p->first >= 0 && p->assigned)
				rd_kafka_topic_partition_list_add(l, p->topic, p->partition)
				    ->offset = p->next;
		}
		rd_kafka_consumer_group_metadata_t *md = rd_kafka_consumer_group_metadata(c->rk);
		e = rd_kafka_send_offsets_to_transaction(c->producer, l, md, 30000);
		rd_kafka_consumer_group_metadata_destroy(md);
		if (!e)
			e = rd_kafka_commit_transaction(c->producer, 30000);
		if (!e)
			eddy_log(EDDY_LOG_DEBUG,
			         "transaction committed: offsets of %d partition(s)", l->cnt);
		if (!e)
			for (int i = 0; i < l->cnt; i++) {
				size_t p =
				    find_part(c, l->elems[i].topic, l->elems[i].partition, false);
				c->parts[p].committed = c->parts[p].durable = l->elems[i].offset;
			}
		rd_kafka_topic_partition_list_destroy(l);
		if (!e)
			return true;
		eddy_log(EDDY_LOG_ERROR, "transaction: %s", rd_kafka_error_string(e));
		if (rd_kafka_error_is_fatal(e)) {
			rd_kafka_error_destroy(e);
			return false;
		}
		rd_kafka_error_destroy(e);
	}
	if ((e = rd_kafka_abort_transaction(c->producer, 30000))) {
		eddy_log(EDDY_LOG_ERROR, "transaction abort: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	/* nothing of the batch counts: what the store holds is redone */
	for (size_t i = 0; i < c->n_parts; i++)
		c->parts[i].durable = c->parts[i].committed;
	return false;
}

/* The store or the schema registry failed: the store's failures are
 * counted, and the service is not ready until a batch commits again. */
static void batch_failed(struct consumer *c, enum eddy_fault fault, const char *err)
{
	char reason[600];
	bool registry = fault == EDDY_FAULT_REGISTRY;
	snprintf(reason, sizeof reason, "%s: %.580s", registry ? "schema registry" : "store", err);
	if (fault == EDDY_FAULT_STORE)
		eddy_metric_inc(c->tel->store_failures);
	if (fault != EDDY_FAULT_OTHER)
		eddy_health_set(c->tel->health, registry ? EDDY_HEALTH_REGISTRY : EDDY_HEALTH_STORE,
		                reason);
}

/* Handles one batch of records; returns false when it had to be abandoned. */
static bool handle_batch(struct consumer *c, rd_kafka_message_t **msgs, ssize_t n)
{
	char err[1024];
	double t0 = now_s();
	if (eddy_pipeline_begin(c->pipeline, err, sizeof err) != 0) {
		eddy_log(EDDY_LOG_ERROR, "store: %s", err);
		batch_failed(c, EDDY_FAULT_STORE, err);
		return false;
	}
	for (ssize_t i = 0; i < n; i++) {
		rd_kafka_message_t *rkm = msgs[i];
		const char *topic = rd_kafka_topic_name(rkm->rkt);
		if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			size_t p = find_part(c, topic, rkm->partition, false);
			if (p != SIZE_MAX && c->parts[p].assigned)
				c->parts[p].eof = true;
			continue;
		}
		if (rkm->err) {
			eddy_log(EDDY_LOG_WARN, "consume: %s", rd_kafka_message_errstr(rkm));
			continue;
		}
		size_t pi = find_part(c, topic, rkm->partition, false);
		if (pi == SIZE_MAX || !c->parts[pi].assigned)
			continue; /* revoked while this batch was fetched: not ours now */
		struct part *p = &c->parts[pi];
		if (p->held) {
			/* fetched again once its held record's retry is due */
			p->tally[EDDY_RECORD_RETRIED]++;
			continue;
		}
		struct eddy_msg m;
		struct eddy_log_ctx at = {
		    .topic = topic, .partition = rkm->partition, .offset = rkm->offset};
		if (to_msg(c, rkm, &m) != 0) {
			eddy_log_at(EDDY_LOG_ERROR, &at, NULL,
			            "batch abandoned at %s %d/%" PRId64
			            ": out of memory for its headers",
			            topic, (int)rkm->partition, rkm->offset);
			eddy_pipeline_abort(c->pipeline);
			return false;
		}
		c->consumed++;
		m.attempts = rkm->offset == p->retry_offset ? p->retry_attempts : 0;
		enum eddy_outcome o = eddy_pipeline_handle(c->pipeline, &m);
		if (o == EDDY_OUTCOME_FAILED) {
			const char *why = eddy_pipeline_error(c->pipeline);
			eddy_log_at(EDDY_LOG_ERROR, &at, NULL,
			            "batch abandoned at %s %d/%" PRId64 ": %s", topic,
			            (int)rkm->partition, rkm->offset, why);
			batch_failed(c, eddy_pipeline_fault(c->pipeline), why);
			eddy_pipeline_abort(c->pipeline);
			return false;
		}
		if (o == EDDY_OUTCOME_RETRY) {
			hold(p, rkm->offset, eddy_pipeline_retry_ms(c->pipeline));
			p->eof = false;
			continue;
		}
		if (rkm->offset == p->retry_offset)
			p->retry_offset = -1;
		p->tally[o == EDDY_OUTCOME_DEAD      ? EDDY_RECORD_DEAD_LETTERED
		         : o == EDDY_OUTCOME_SKIPPED ? EDDY_RECORD_SKIPPED
		                                     : EDDY_RECORD_HANDLED]++;
		if (p->first < 0)
			p->first = rkm->offset;
		p->next = rkm->offset + 1;
		p->eof = false;
	}
	double t1 = now_s();
	/* with an async store: waits for the batch before, hands this one over */
	if (eddy_pipeline_commit(c->pipeline, err, sizeof err) != 0) {
		eddy_log(EDDY_LOG_ERROR, "store commit: %s", err);
		batch_failed(c, EDDY_FAULT_STORE, err);
		batch_lost(c);
		return false;
	}
	eddy_health_set(c->tel->health, EDDY_HEALTH_STORE, NULL);
	eddy_health_set(c->tel->health, EDDY_HEALTH_REGISTRY, NULL);
	batch_durable(c);
	to_store(c, has_records(msgs, n));
	double t2 = now_s();
	c->t_handle += t1 - t0;
	c->t_store_commit += t2 - t1;
	return true;
}

/* Waits for the batch with the store's writer: true when it is durable,
 * false when it was rolled back (then its partitions' firsts are set for
 * the seek back). */
static bool flush(struct consumer *c)
{
	char err[1024];
	if (!eddy_pipeline_pending(c->pipeline))
		return true;
	if (eddy_pipeline_flush(c->pipeline, err, sizeof err) == 0) {
		batch_durable(c);
		return true;
	}
	eddy_log(EDDY_LOG_ERROR, "store commit: %s", err);
	batch_failed(c, EDDY_FAULT_STORE, err);
	batch_lost(c);
	return false;
}

/* The store or the registry failed: nothing of the batch is committed;
 * its partitions go back to its first records after a pause, doubled each
 * time. */
static void abandon(struct consumer *c)
{
	c->backoff = c->backoff ? (c->backoff * 2 > 30000 ? 30000 : c->backoff * 2) : 500;
	eddy_log(EDDY_LOG_WARN, "retrying the batch in %d ms", c->backoff);
	pause_and_seek(c, true);
}

/* Records of the abandoned batch that came before the failure still count
 * as "first" of their partition, so the seek goes back far enough. */
static void mark_batch_starts(struct consumer *c, rd_kafka_message_t **msgs, ssize_t n)
{
	for (ssize_t i = 0; i < n; i++) {
		if (msgs[i]->err)
			continue;
		size_t p =
		    find_part(c, rd_kafka_topic_name(msgs[i]->rkt), msgs[i]->partition, false);
		if (p != SIZE_MAX && (c->parts[p].first < 0 || msgs[i]->offset < c->parts[p].first))
			c->parts[p].first = msgs[i]->offset;
	}
}

/* The two librdkafka configurations: the user's kafka section plus what
 * eddy's commit protocol needs. Returns 0, or -1 with errstr. */
static int make_confs(struct consumer *c, char *errstr, size_t errstr_size)
{
	const struct eddy_config *conf = c->conf;

	if (!(c->kc = kafka_conf(conf, false, errstr, errstr_size)))
		return -1;
	if (set(c->kc, "enable.auto.commit", "false", errstr, errstr_size) ||
	    set(c->kc, "enable.auto.offset.store", "false", errstr, errstr_size) ||
	    set(c->kc, "enable.partition.eof", "true", errstr, errstr_size))
		return -1;
	for (const struct eddy_config_default *d = eddy_kafka_consumer_defaults; d->key; d++)
		if (default_applies(conf, d) && set(c->kc, d->key, d->value, errstr, errstr_size))
			return -1;
	c->offset_reset = consumer_value(conf, "auto.offset.reset");
	if (!(c->pc = kafka_conf(conf, true, errstr, errstr_size)))
		return -1;
	/* dead letters are awaited before each commit: send them at once */
	if (set(c->pc, "enable.idempotence", "true", errstr, errstr_size) ||
	    set(c->pc, "linger.ms", "0", errstr, errstr_size))
		return -1;
	if (conf->publish_transactional) {
		char tid[256];
		snprintf(tid, sizeof tid, "%s%s", conf->publish_transactional_id ? "" : "eddy-",
		         conf->publish_transactional_id ? conf->publish_transactional_id
		                                        : c->group);
		if (set(c->pc, "transactional.id", tid, errstr, errstr_size))
			return -1;
		c->transactional = true;
	}
	rd_kafka_conf_set_opaque(c->kc, c);
	rd_kafka_conf_set_rebalance_cb(c->kc, rebalance_cb);
	rd_kafka_conf_set_log_cb(c->kc, log_cb);
	rd_kafka_conf_set_error_cb(c->kc, error_cb);
	rd_kafka_conf_set_opaque(c->pc, c);
	rd_kafka_conf_set_dr_msg_cb(c->pc, dr_msg_cb);
	rd_kafka_conf_set_log_cb(c->pc, log_cb);
	rd_kafka_conf_set_error_cb(c->pc, error_cb);
	return 0;
}

/* The producer (transactions initialised when configured) and the
 * consumer, subscribed. Returns 0, or -1 with errstr. */
static int open_clients(struct consumer *c, char *errstr, size_t errstr_size)
{
	const struct eddy_config *conf = c->conf;
	char err[512];

	if (!(c->producer = rd_kafka_new(RD_KAFKA_PRODUCER, c->pc, err, sizeof err))) {
		snprintf(errstr, errstr_size, "kafka producer: %s", err);
		return -1;
	}
	c->pc = NULL;
	if (c->transactional) {
		rd_kafka_error_t *e = rd_kafka_init_transactions(c->producer, 30000);
		if (e) {
			snprintf(errstr, errstr_size, "kafka producer transactions: %s",
			         rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
			return -1;
		}
	}
	if (!(c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c->kc, err, sizeof err))) {
		snprintf(errstr, errstr_size, "kafka consumer: %s", err);
		return -1;
	}
	c->kc = NULL;
	rd_kafka_poll_set_consumer(c->rk);

	rd_kafka_topic_partition_list_t *subs =
	    rd_kafka_topic_partition_list_new((int)conf->n_topics);
	for (size_t i = 0; i < conf->n_topics; i++)
		rd_kafka_topic_partition_list_add(subs, conf->topics[i], RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t serr = rd_kafka_subscribe(c->rk, subs);
	rd_kafka_topic_partition_list_destroy(subs);
	if (serr) {
		snprintf(errstr, errstr_size, "subscribe: %s", rd_kafka_err2str(serr));
		return -1;
	}
	for (size_t i = 0; i < conf->n_topics; i++)
		eddy_log(EDDY_LOG_INFO, "subscribed to %s", conf->topics[i]);
	c->queue = rd_kafka_queue_get_consumer(c->rk);
	c->commits = rd_kafka_queue_new(c->rk);
	if (!(c->nudge = eddy_fetch_nudge_start(c->rk, c->tel->fetch_nudges, errstr, errstr_size)))
		return -1;
	return 0;
}

/* Everything the loop needs: configurations, metrics and the HTTP
 * endpoint, the pipeline (store, handlers, schemas), Kafka clients, the
 * alert sender, reload watches. Returns 0, or the exit status with errstr:
 * 2 for a configuration error, 1 for another. */
static int consumer_open(struct consumer *c, char *errstr, size_t errstr_size)
{
	const struct eddy_config *conf = c->conf;

	if (conf->n_topics == 0) {
		snprintf(errstr, errstr_size, "topics: no topics configured");
		return 2;
	}
	if (!(c->group = kafka_value(conf, "group.id"))) {
		snprintf(errstr, errstr_size, "kafka.group.id: required (the consumer group)");
		return 2;
	}
	if (make_confs(c, errstr, errstr_size) ||
	    !(c->tel = eddy_telemetry_new(conf, !c->opts->http_optional, errstr, errstr_size)))
		return 2;
	struct eddy_pipeline_opts popts = c->opts->pipeline;
	popts.dead_letter = dead_letter;
	popts.dead_letter_ud = c;
	popts.publish = publish;
	popts.publish_ud = c;
	popts.handler_called = eddy_telemetry_handler_called;
	popts.handler_called_ud = c->tel;
	popts.defer_retries = true; /* hold(): the partition is paused, not slept on */
	/* the store commits a batch while the next is handled; a Kafka
	 * transaction takes the store's commit before its own */
	popts.async_store = !c->transactional;
	if (!(c->pipeline = eddy_pipeline_new(conf, &popts, errstr, errstr_size)))
		return 2;
	if (open_clients(c, errstr, errstr_size))
		return 1;
	if (!(c->msgs = calloc((size_t)conf->batch_size, sizeof *c->msgs))) {
		snprintf(errstr, errstr_size, "out of memory");
		return 1;
	}
	if (conf->n_alert_sinks && !(c->alerts = start_alerts(conf, errstr, errstr_size)))
		return 1;
	bool rules_optional;
	const char *watched[] = {conf->handlers, conf->schemas_dir,
	                         eddy_rules_dir(conf, &rules_optional)};
	if (!(c->reload = eddy_reload_new(watched, 3, conf->reload_watch, conf->reload_debounce_ms,
	                                  errstr, errstr_size)))
		return 1;
	return 0;
}

/* What a loop turn does after its batch: the lag gauges once a second,
 * eddy dev's progress line, a reload that is due. */
static void housekeeping(struct consumer *c)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec != c->last_lag) {
		lag(c);
		c->last_lag = now.tv_sec;
	}
	if (c->opts->progress && now.tv_sec != c->last_progress.tv_sec &&
	    (c->consumed != c->consumed_shown || now.tv_sec - c->last_progress.tv_sec >= 5)) {
		progress(c);
		c->last_progress = now;
	}
	if (eddy_reload_due(c->reload)) {
		reload(c);
		eddy_reload_done(c->reload);
	}
}

/* A batch: the records queued now, up to batch.size; when none are, the
 * first to come within batch.timeout_ms and those queued behind it. A
 * busy consumer's batches fill while the last one is handled; a quiet
 * one's records are not held back waiting for more. */
static ssize_t take_batch(struct consumer *c)
{
	size_t size = (size_t)c->conf->batch_size;
	ssize_t n = rd_kafka_consume_batch_queue(c->queue, 0, c->msgs, size);
	if (n == 0) {
		rd_kafka_message_t *first =
		    rd_kafka_consume_queue(c->queue, c->conf->batch_timeout_ms);
		if (!first)
			return 0;
		c->msgs[0] = first;
		n = size > 1 ? rd_kafka_consume_batch_queue(c->queue, 0, c->msgs + 1, size - 1) : 0;
		n = n > 0 ? n + 1 : 1;
	}
	size_t bytes = 0;
	for (ssize_t i = 0; i < n; i++)
		bytes += c->msgs[i]->err ? 0 : c->msgs[i]->len;
	if (n > 0)
		eddy_fetch_nudge_taken(c->nudge, (size_t)n, bytes, rd_kafka_queue_length(c->queue));
	return n;
}

/* One turn of the loop: poll a batch, handle it (in a transaction when
 * configured), count it, settle and commit what is durable. Returns 1 to
 * go on, 0 when --exit-at-end is met, -1 on a fatal error (errstr). */
static int poll_once(struct consumer *c, char *errstr, size_t errstr_size)
{
	const struct eddy_config *conf = c->conf;
	resume_due(c, NULL);
	double tp = now_s();
	ssize_t n = take_batch(c);
	rd_kafka_message_t **msgs = c->msgs;

	eddy_health_beat(c->tel->health);
	if (c->lost_track) {
		snprintf(errstr, errstr_size, "out of memory: a partition could not be tracked");
		for (ssize_t i = 0; i < n; i++)
			rd_kafka_message_destroy(msgs[i]);
		return -1;
	}
	if (c->first_batch > 0)
		c->t_poll += now_s() - tp;
	if (n < 0) {
		snprintf(errstr, errstr_size, "consume: %s",
		         rd_kafka_err2str(rd_kafka_last_error()));
		return -1;
	}
	reset_batch(c);
	/* the batch with the store's writer, when it is done or nothing new
	 * came: its offsets are committed at the end of this turn */
	bool flushed = (n > 0 && !eddy_pipeline_flushable(c->pipeline)) || flush(c);
	if (flushed && n == 0 && now_s() < c->backoff_until) {
		/* paused after a failure: the store is not tried again before
		 * its backoff is over */
		housekeeping(c);
		return 1;
	}
	double t0 = now_s();
	uint64_t consumed = c->consumed;
	bool txn = c->transactional && has_records(msgs, n);
	rd_kafka_error_t *te = txn ? rd_kafka_begin_transaction(c->producer) : NULL;
	if (te) {
		snprintf(errstr, errstr_size, "transaction: %s", rd_kafka_error_string(te));
		rd_kafka_error_destroy(te);
		for (ssize_t i = 0; i < n; i++)
			rd_kafka_message_destroy(msgs[i]);
		return -1;
	}
	bool ok = flushed && handle_batch(c, msgs, n);
	if (txn) {
		ok = commit_transaction(c, ok);
		if (!ok)
			c->stored = false; /* this batch: counted as retried below */
	}
	if (!ok) {
		/* polled again, handled or not; a batch only when it was handled
		 * (a failed flush counted the one it lost) */
		count_batch(c, false, msgs, n);
		if (flushed)
			eddy_metric_inc(c->tel->batches_abandoned);
	}
	if (ok && !eddy_pipeline_pending(c->pipeline))
		batch_durable(c); /* committed already: not an async store, or no writes */
	/* time-based alert rules: a tick about once a second, on the system
	 * clock, in a transaction of its own; not while a full batch says the
	 * consumer is catching up (old events would look like silence) */
	char terr[512];
	if (ok && n < (ssize_t)conf->batch_size && eddy_pipeline_tick_due(c->pipeline) &&
	    (ok = flush(c)) && eddy_pipeline_tick(c->pipeline, 0, terr, sizeof terr) != 0)
		eddy_log(EDDY_LOG_WARN, "tick of the alert rules: %s", terr);
	if (c->alerts && eddy_pipeline_stats(c->pipeline)->alerts != c->alerts_seen) {
		c->alerts_seen = eddy_pipeline_stats(c->pipeline)->alerts;
		eddy_alerts_wake(c->alerts);
	}
	if (ok && c->consumed > consumed) {
		if (c->first_batch == 0)
			c->first_batch = t0;
		c->last_batch = now_s();
	}
	if (!ok) {
		/* The store or the registry failed: nothing of the batch is
		 * committed; go back and do it again after a pause. */
		mark_batch_starts(c, msgs, n);
		abandon(c);
	} else {
		c->backoff = 0;
		pause_and_seek(c, false);
	}
	for (ssize_t i = 0; i < n; i++)
		rd_kafka_message_destroy(msgs[i]);
	double tc = now_s();
	settle(c, 0);
	commit_durable(c, 0);
	c->t_kafka_commit += now_s() - tc;
	if (ok && c->consumed > consumed)
		eddy_metric_observe(c->tel->commit_seconds, now_s() - tc);
	eddy_telemetry_sync(c->tel, eddy_pipeline_stats(c->pipeline));
	if (c->alerts) {
		struct eddy_alerts_stats as;
		eddy_alerts_stats(c->alerts, &as);
		eddy_telemetry_sync_alerts(c->tel, &as);
	}
	housekeeping(c);
	return c->opts->exit_at_end && ok && all_at_end(c) ? 0 : 1;
}

/* The summary lines of a run. */
static void report(struct consumer *c)
{
	const struct eddy_pipeline_stats *s = eddy_pipeline_stats(c->pipeline);
	eddy_log(EDDY_LOG_INFO,
	         "stopped: %" PRIu64 " records, %" PRIu64 " handled, %" PRIu64
	         " dead-lettered, %" PRIu64 " upserts, %" PRIu64 " deletes, %" PRIu64
	         " published, %" PRIu64 " alerts, %" PRIu64 " reloads (%" PRIu64
	         " failed), %" PRIu64 " limit stops",
	         s->records, s->handled, s->dead, s->upserts, s->deletes, s->published, s->alerts,
	         s->reloads, s->reload_failures, eddy_handlers_limit_stops());
	if (c->last_batch > c->first_batch)
		eddy_log(EDDY_LOG_INFO, "steady: %.0f records/s (%" PRIu64 " in %.3f s)",
		         (double)s->records / (c->last_batch - c->first_batch), s->records,
		         c->last_batch - c->first_batch);
	eddy_log(EDDY_LOG_DEBUG,
	         "time: poll %.3f s, handle %.3f s, store commit %.3f s, offset commit %.3f s; "
	         "%" PRIu64 " fetch nudges",
	         c->t_poll, c->t_handle, c->t_store_commit, c->t_kafka_commit,
	         (uint64_t)eddy_metric_value(c->tel->fetch_nudges));
}

/* Milliseconds left until the stop's deadline. */
static int grace_left_ms(const struct consumer *c)
{
	double left = (c->deadline - now_s()) * 1000;
	return left > 0 ? (int)left : 0;
}

/* Commits what is durable, leaves the group, flushes the producer,
 * reports, lets the alert sender finish, frees everything, all within
 * shutdown.grace_ms: what is not done by then is done by the next start
 * (records not acknowledged stay uncommitted, alerts stay in the outbox).
 * Whatever consumer_open got to is undone. */
static void consumer_close(struct consumer *c)
{
	c->deadline = now_s() + c->conf->shutdown_grace_ms / 1000.0;
	if (c->rk && c->pipeline && c->opts->progress && c->consumed != c->consumed_shown)
		progress(c);
	if (c->rk && c->producer) {
		flush(c);
		settle(c, c->deadline);
		commit_durable(c, c->deadline);
	}
	eddy_fetch_nudge_stop(c->nudge);
	if (c->queue)
		rd_kafka_queue_destroy(c->queue);
	if (c->rk) {
		rd_kafka_consumer_close(c->rk);
		if (c->commits) /* the close's own commit came before */
			rd_kafka_queue_destroy(c->commits);
		rd_kafka_destroy(c->rk);
	}
	if (c->producer) {
		if (rd_kafka_flush(c->producer, grace_left_ms(c)) == RD_KAFKA_RESP_ERR__TIMED_OUT) {
			eddy_log(EDDY_LOG_WARN,
			         "shutdown.grace_ms over: %d record(s) not acknowledged; their "
			         "sources stay uncommitted and are handled again at the next start",
			         rd_kafka_outq_len(c->producer));
			rd_kafka_purge(c->producer,
			               RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		}
		rd_kafka_destroy(c->producer);
	}
	if (c->pipeline)
		report(c);
	/* sends what is due first, then logs "alerts: stopped: ..." */
	eddy_alerts_stop(c->alerts, grace_left_ms(c));
	eddy_pipeline_destroy(c->pipeline);
	eddy_telemetry_destroy(c->tel);
	eddy_reload_destroy(c->reload);
	if (c->kc)
		rd_kafka_conf_destroy(c->kc);
	if (c->pc)
		rd_kafka_conf_destroy(c->pc);
	for (size_t i = 0; i < c->n_parts; i++)
		free(c->parts[i].topic);
	free(c->parts);
	free(c->pending);
	free(c->headers);
	free(c->msgs);
}

int eddy_kafka_run(const struct eddy_config *conf, const struct eddy_kafka_opts *opts, char *errstr,
                   size_t errstr_size)
{
	struct consumer c = {.conf = conf, .opts = opts};
	int rc = consumer_open(&c, errstr, errstr_size);

	while (rc == 0 && !*opts->stop) {
		int turn = poll_once(&c, errstr, errstr_size);
		if (turn < 0)
			rc = 1;
		if (turn <= 0)
			break;
	}
	consumer_close(&c);
	return rc;
}
