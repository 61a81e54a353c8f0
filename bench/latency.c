/* latency.c - the time from a record's produce to its offset being committed
 * by a consumer group (eddy), at a steady rate; bench/latency runs it.
 *
 *   build/release/latency_bench [-v] [-o RAW] [-l LINGER_MS] [-i POLL_MS]
 *       [-w WARMUP_RATE] [-d DRAIN_S] BOOTSTRAP TOPIC GROUP RATE SECONDS FILE
 *
 * FILE holds KEY<TAB>VALUE lines (bench/gen_events.py; an empty value is a
 * tombstone), produced in order and from the start again when used up.
 * Warm-up: records at WARMUP_RATE (default 200 ev/s) until GROUP has
 * committed one of them in every partition of TOPIC, i.e. the consumer has
 * joined and is assigned everything, then none until all are committed;
 * they are not counted. Then RATE ev/s
 * for SECONDS, paced every millisecond (what is due is sent), with
 * linger.ms LINGER_MS (default 1). Each record's produce time is taken on
 * CLOCK_MONOTONIC just before rd_kafka_producev and kept under the
 * partition and offset its delivery report gives. A second handle with
 * GROUP's group.id, which never subscribes, asks for the group's committed
 * offsets of every partition every POLL_MS (default 2); a record is
 * committed when first seen below its partition's committed offset, at the
 * moment that answer came back. The figures are therefore late by at most
 * one poll interval and one OffsetFetch round trip (both printed). After
 * the measured records, at most DRAIN_S seconds (default 10) for the rest
 * to be committed; those never seen committed are counted. -v adds the
 * figures of each second, -o writes a line per record to RAW. */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

struct rec {
	double produced;   /* monotonic s, just before rd_kafka_producev */
	double delivered;  /* its delivery report; 0 not yet */
	double committed;  /* first seen below the group's offset; 0 not yet */
	int64_t scheduled; /* due at start + scheduled / rate; -1 warm-up */
	int32_t partition; /* from its delivery report; -1 none */
};

struct part {
	int64_t base;       /* the high watermark before the first record */
	int32_t *by_offset; /* record index at offset base + i, -1 none of ours */
	int64_t cap;
	int64_t committed; /* the group's committed offset, -1 none yet */
	int64_t next;      /* records below it are marked committed */
};

struct line {
	const char *key, *value; /* point into the loaded file; value NULL: tombstone */
	size_t key_len, value_len;
};

struct bench {
	pthread_mutex_t lock; /* recs' times, parts, the counters below */
	struct rec *recs;     /* preallocated: indices travel as message opaques */
	size_t n_recs, cap_recs;
	struct part *parts;
	int n_parts;
	const char *topic;
	rd_kafka_t *producer, *watcher;
	long failed;
	long polls, poll_errors;
	double poll_time;
	size_t measured_committed, warm_committed;
	int poll_ms;
	bool stop;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	struct timespec ts = {(time_t)t, (long)((t - (double)(time_t)t) * 1e9)};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
		;
}

/* Marks a record committed at t; the caller holds the lock. */
static void mark(struct bench *b, int32_t i, double t)
{
	struct rec *r = &b->recs[i];

	if (r->committed > 0)
		return;
	r->committed = t;
	if (r->scheduled >= 0)
		b->measured_committed++;
	else
		b->warm_committed++;
}

/* Delivery reports, served by rd_kafka_poll on the producing thread: the
 * record's partition and offset, under which the poller finds it. */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct bench *b = opaque;
	int32_t i = (int32_t)(intptr_t)m->_private;
	double t = now();

	(void)rk;
	pthread_mutex_lock(&b->lock);
	if (m->err || m->partition < 0 || m->partition >= b->n_parts) {
		b->failed++;
		goto out;
	}
	struct part *p = &b->parts[m->partition];
	int64_t at = m->offset - p->base;
	if (at < 0) {
		b->failed++; /* below the watermark taken at the start: not ours */
		goto out;
	}
	if (at >= p->cap) {
		int64_t cap = p->cap ? p->cap * 2 : 4096;
		while (cap <= at)
			cap *= 2;
		int32_t *n = realloc(p->by_offset, (size_t)cap * sizeof *n);
		if (!n) {
			b->failed++;
			goto out;
		}
		for (int64_t k = p->cap; k < cap; k++)
			n[k] = -1;
		p->by_offset = n;
		p->cap = cap;
	}
	p->by_offset[at] = i;
	b->recs[i].delivered = t;
	b->recs[i].partition = m->partition;
	/* committed before its report was served: seen committed now */
	if (m->offset < p->committed)
		mark(b, i, t);
out:
	pthread_mutex_unlock(&b->lock);
}

/* The watcher's loop: the group's committed offsets every poll_ms; every
 * record below a partition's new offset is committed at the answer's time. */
static void *poller(void *arg)
{
	struct bench *b = arg;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(b->n_parts);

	for (int p = 0; p < b->n_parts; p++)
		rd_kafka_topic_partition_list_add(l, b->topic, p);
	for (;;) {
		pthread_mutex_lock(&b->lock);
		bool stop = b->stop;
		pthread_mutex_unlock(&b->lock);
		if (stop)
			break;
		for (int k = 0; k < l->cnt; k++)
			l->elems[k].offset = RD_KAFKA_OFFSET_INVALID;
		double t0 = now();
		rd_kafka_resp_err_t err = rd_kafka_committed(b->watcher, l, 5000);
		double t = now();
		pthread_mutex_lock(&b->lock);
		b->polls++;
		b->poll_time += t - t0;
		if (err)
			b->poll_errors++;
		for (int k = 0; !err && k < l->cnt; k++) {
			struct part *p = &b->parts[l->elems[k].partition];
			int64_t off = l->elems[k].offset;
			if (l->elems[k].err || off <= p->committed)
				continue;
			p->committed = off;
			for (int64_t o = p->next > p->base ? p->next : p->base; o < off; o++) {
				int64_t at = o - p->base;
				if (at >= p->cap)
					break; /* not reported yet: dr_cb marks it */
				if (p->by_offset[at] >= 0)
					mark(b, p->by_offset[at], t);
			}
			p->next = off;
		}
		pthread_mutex_unlock(&b->lock);
		sleep_until(t0 + b->poll_ms / 1000.0);
	}
	rd_kafka_topic_partition_list_destroy(l);
	return NULL;
}

/* Reads FILE whole; its lines in *lines (pointing into the returned text). */
static char *load(const char *path, struct line **lines, size_t *n_lines)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	long size;
	size_t n = 0, cap = 0;

	*lines = NULL;
	if (!f || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || !(text = malloc((size_t)size + 1)) ||
	    fread(text, 1, (size_t)size, f) != (size_t)size)
		goto err;
	fclose(f);
	f = NULL;
	text[size] = '\0';
	for (char *s = text, *end; s < text + size; s = end + 1) {
		if (!(end = memchr(s, '\n', (size_t)(text + size - s))))
			end = text + size;
		if (end == s)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			struct line *nl = realloc(*lines, cap * sizeof *nl);
			if (!nl)
				goto err;
			*lines = nl;
		}
		char *tab = memchr(s, '\t', (size_t)(end - s));
		struct line *ln = &(*lines)[n++];
		ln->key = s;
		ln->key_len = (size_t)((tab ? tab : end) - s);
		ln->value = tab && tab + 1 < end ? tab + 1 : NULL;
		ln->value_len = ln->value ? (size_t)(end - ln->value) : 0;
	}
	if (n == 0)
		goto err;
	*n_lines = n;
	return text;
err:
	if (f)
		fclose(f);
	free(text);
	free(*lines);
	*lines = NULL;
	return NULL;
}

/* Hands record i (the line it takes) to the producer; 0 or -1. */
static int produce(struct bench *b, const struct line *ln, int64_t scheduled)
{
	size_t i = b->n_recs;
	rd_kafka_resp_err_t err;

	if (i == b->cap_recs)
		return -1;
	b->recs[i].scheduled = scheduled;
	b->recs[i].partition = -1;
	for (;;) {
		double t = now();
		err = rd_kafka_producev(b->producer, RD_KAFKA_V_TOPIC(b->topic),
		                        RD_KAFKA_V_KEY((void *)ln->key, ln->key_len),
		                        RD_KAFKA_V_VALUE((void *)ln->value, ln->value_len),
		                        RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END);
		/* its delivery report is served on this thread, later */
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			b->recs[i].produced = t;
			break;
		}
		rd_kafka_poll(b->producer, 1);
	}
	if (err) {
		fprintf(stderr, "latency_bench: produce: %s\n", rd_kafka_err2str(err));
		return -1;
	}
	b->n_recs++;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v, q in hundredths of a percent. */
static double pct(const double *v, size_t n, size_t q)
{
	size_t k = (q * n + 9999) / 10000;

	return v[k ? k - 1 : 0];
}

static void print_dist(const char *what, double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	if (n == 0) {
		printf("%s: count 0\n", what);
		return;
	}
	printf("%s: count %zu p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f ms\n", what, n,
	       pct(v, n, 5000) * 1e3, pct(v, n, 9000) * 1e3, pct(v, n, 9900) * 1e3,
	       pct(v, n, 9990) * 1e3, v[n - 1] * 1e3);
}

/* With -o FILE: a line per measured record, its times in ms from the first
 * one's produce: index, partition, produced, delivered, committed (-1:
 * never). */
static int write_raw(const struct bench *b, size_t first, const char *path)
{
	FILE *f = fopen(path, "w");
	double t0 = first < b->n_recs ? b->recs[first].produced : 0;

	if (!f)
		return -1;
	fprintf(f, "index\tpartition\tproduced_ms\tdelivered_ms\tcommitted_ms\n");
	for (size_t i = first; i < b->n_recs; i++) {
		const struct rec *r = &b->recs[i];
		fprintf(f, "%" PRId64 "\t%d\t%.3f\t%.3f\t%.3f\n", r->scheduled, (int)r->partition,
		        (r->produced - t0) * 1e3, r->delivered > 0 ? (r->delivered - t0) * 1e3 : -1,
		        r->committed > 0 ? (r->committed - t0) * 1e3 : -1);
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* With -v: produce -> committed of the records of each second of the run,
 * to tell a backlog that grows from a steady state. v: scratch space. */
static void per_second(const struct bench *b, size_t first, double rate, double *v)
{
	size_t i = first;

	for (int s = 0; i < b->n_recs; s++) {
		size_t n = 0;
		for (; i < b->n_recs && (double)b->recs[i].scheduled < (s + 1) * rate; i++)
			if (b->recs[i].committed > 0)
				v[n++] = b->recs[i].committed - b->recs[i].produced;
		char what[32];
		snprintf(what, sizeof what, "  second %d", s);
		print_dist(what, v, n);
	}
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *const *kv, struct bench *b)
{
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	char err[512];

	for (; kv[0]; kv += 2)
		if (rd_kafka_conf_set(kc, kv[0], kv[1], err, sizeof err) != RD_KAFKA_CONF_OK) {
			fprintf(stderr, "latency_bench: %s: %s\n", kv[0], err);
			rd_kafka_conf_destroy(kc);
			return NULL;
		}
	if (type == RD_KAFKA_PRODUCER) {
		rd_kafka_conf_set_opaque(kc, b);
		rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
	}
	rd_kafka_t *rk = rd_kafka_new(type, kc, err, sizeof err);
	if (!rk)
		fprintf(stderr, "latency_bench: %s\n", err);
	return rk;
}

/* The topic's partitions and each one's high watermark, the base of its
 * offsets; 0 or -1. */
static int partitions(struct bench *b)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(b->watcher, b->topic, NULL);
	rd_kafka_resp_err_t err =
	    rkt ? rd_kafka_metadata(b->watcher, 0, rkt, &md, 10000) : RD_KAFKA_RESP_ERR__FAIL;

	if (!err && (md->topic_cnt != 1 || md->topics[0].err))
		err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
	if (!err) {
		b->n_parts = md->topics[0].partition_cnt;
		b->parts = calloc((size_t)b->n_parts, sizeof *b->parts);
		if (!b->parts)
			err = RD_KAFKA_RESP_ERR__FAIL;
	}
	for (int p = 0; !err && p < b->n_parts; p++) {
		int64_t lo, hi;
		err = rd_kafka_query_watermark_offsets(b->watcher, b->topic, p, &lo, &hi, 10000);
		b->parts[p].base = b->parts[p].next = hi;
		b->parts[p].committed = -1;
	}
	if (md)
		rd_kafka_metadata_destroy(md);
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	if (err)
		fprintf(stderr, "latency_bench: topic %s: %s\n", b->topic, rd_kafka_err2str(err));
	return err ? -1 : 0;
}

static bool all_partitions_committed(struct bench *b)
{
	bool all = true;

	pthread_mutex_lock(&b->lock);
	for (int p = 0; p < b->n_parts; p++)
		all = all && b->parts[p].committed > b->parts[p].base;
	pthread_mutex_unlock(&b->lock);
	return all;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: latency_bench [-v] [-o RAW] [-l LINGER_MS] [-i POLL_MS] [-w WARMUP_RATE] "
	        "[-d DRAIN_S] BOOTSTRAP TOPIC GROUP RATE SECONDS FILE\n");
}

int main(int argc, char **argv)
{
	struct bench b = {.lock = PTHREAD_MUTEX_INITIALIZER, .poll_ms = 2};
	const char *linger = "1";
	int warm_rate = 200, drain_s = 10, verbose = 0, opt, rc = 1;
	const char *raw = NULL;
	struct line *lines = NULL;
	size_t n_lines = 0, next_line = 0;
	char *text = NULL;
	pthread_t thread;
	bool started = false;

	while ((opt = getopt(argc, argv, "l:i:w:d:vo:")) != -1) {
		switch (opt) {
		case 'l':
			linger = optarg;
			break;
		case 'i':
			b.poll_ms = atoi(optarg);
			break;
		case 'w':
			warm_rate = atoi(optarg);
			break;
		case 'd':
			drain_s = atoi(optarg);
			break;
		case 'v':
			verbose = 1;
			break;
		case 'o':
			raw = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (argc - optind != 6 || b.poll_ms <= 0 || warm_rate <= 0 || drain_s < 0) {
		usage();
		return 2;
	}
	const char *bootstrap = argv[optind], *group = argv[optind + 2], *file = argv[optind + 5];
	double rate = atof(argv[optind + 3]), seconds = atof(argv[optind + 4]);
	const double warm_max_s = 60;
	if (rate <= 0 || seconds <= 0) {
		usage();
		return 2;
	}
	b.topic = argv[optind + 1];
	if (!(text = load(file, &lines, &n_lines))) {
		fprintf(stderr, "latency_bench: %s: cannot read its events\n", file);
		return 1;
	}
	int64_t measured = (int64_t)(rate * seconds);
	b.cap_recs = (size_t)measured + (size_t)(warm_rate * warm_max_s) + 16;
	if (b.cap_recs > INT32_MAX || !(b.recs = calloc(b.cap_recs, sizeof *b.recs)))
		goto out;

	const char *pconf[] = {"bootstrap.servers", bootstrap, "linger.ms", linger,
	                       "log_level",         "3",       NULL};
	const char *wconf[] = {
	    "bootstrap.servers", bootstrap, "group.id", group, "enable.auto.commit", "false",
	    "log_level",         "3",       NULL};
	if (!(b.producer = client(RD_KAFKA_PRODUCER, pconf, &b)) ||
	    !(b.watcher = client(RD_KAFKA_CONSUMER, wconf, &b)) || partitions(&b) != 0)
		goto out;
	if (pthread_create(&thread, NULL, poller, &b) != 0)
		goto out;
	started = true;
	printf("topic %s (%d partitions), group %s, %.0f ev/s for %.0f s, linger.ms %s, "
	       "committed offsets asked every %d ms\n",
	       b.topic, b.n_parts, group, rate, seconds, linger, b.poll_ms);

	/* warm-up: records until the group has joined and committed in every
	 * partition, then none until all of them are committed, so that what
	 * is slow only once (the dead-letter producer's first delivery, its
	 * topic's metadata) is behind us */
	double w0 = now(), t;
	int64_t warm = 0;
	size_t warm_committed = 0;
	while (!all_partitions_committed(&b)) {
		if (now() - w0 > warm_max_s) {
			fprintf(stderr, "latency_bench: group %s committed nothing in %.0f s\n",
			        group, warm_max_s);
			goto out;
		}
		for (t = now(); warm < (int64_t)((t - w0) * warm_rate); warm++) {
			if (produce(&b, &lines[next_line], -1) != 0)
				goto out;
			next_line = (next_line + 1) % n_lines;
		}
		rd_kafka_poll(b.producer, 5);
	}
	double w1 = now();
	while (warm_committed < (size_t)warm) {
		if (now() - w0 > warm_max_s) {
			fprintf(stderr,
			        "latency_bench: group %s did not commit %zu warm-up records in "
			        "%.0f s\n",
			        group, (size_t)warm - warm_committed, warm_max_s);
			goto out;
		}
		rd_kafka_poll(b.producer, 5);
		pthread_mutex_lock(&b.lock);
		warm_committed = b.warm_committed;
		pthread_mutex_unlock(&b.lock);
	}
	printf("warm-up (not counted): %" PRId64 " records at %d ev/s for %.2f s, until the "
	       "group had committed in every partition, and %.2f s more until all were "
	       "committed\n",
	       warm, warm_rate, w1 - w0, now() - w1);

	/* the measured records, paced every millisecond */
	size_t first = b.n_recs;
	double t0 = now(), late = 0;
	int64_t sent = 0;
	while (sent < measured) {
		t = now();
		int64_t due = (int64_t)((t - t0) * rate) + 1;
		if (due > measured)
			due = measured;
		for (; sent < due; sent++) {
			double behind = now() - (t0 + (double)sent / rate);
			if (behind > late)
				late = behind;
			if (produce(&b, &lines[next_line], sent) != 0)
				goto out;
			next_line = (next_line + 1) % n_lines;
		}
		rd_kafka_poll(b.producer, 0);
		sleep_until(t + 0.001);
	}
	double t1 = now();
	printf("produced: %" PRId64 " records in %.2f s (%.0f ev/s), at most %.1f ms behind "
	       "schedule\n",
	       measured, t1 - t0, (double)measured / (t1 - t0), late * 1e3);

	/* drain: the rest delivered and committed, or the time is up */
	for (;;) {
		rd_kafka_poll(b.producer, 10);
		pthread_mutex_lock(&b.lock);
		bool done = b.measured_committed == (size_t)measured;
		pthread_mutex_unlock(&b.lock);
		if (done || now() - t1 > drain_s)
			break;
	}
	pthread_mutex_lock(&b.lock);
	b.stop = true;
	pthread_mutex_unlock(&b.lock);
	pthread_join(thread, NULL);
	started = false;

	double *commit = malloc((size_t)measured * sizeof *commit);
	double *deliver = malloc((size_t)measured * sizeof *deliver);
	size_t n_commit = 0, n_deliver = 0;
	if (!commit || !deliver) {
		free(commit);
		free(deliver);
		goto out;
	}
	for (size_t i = first; i < b.n_recs; i++) {
		if (b.recs[i].delivered > 0)
			deliver[n_deliver++] = b.recs[i].delivered - b.recs[i].produced;
		if (b.recs[i].committed > 0)
			commit[n_commit++] = b.recs[i].committed - b.recs[i].produced;
	}
	printf("offset polls: %ld (%ld failed), %.2f ms per OffsetFetch on average\n", b.polls,
	       b.poll_errors, b.polls ? b.poll_time / (double)b.polls * 1e3 : 0.0);
	if (raw && write_raw(&b, first, raw) != 0)
		fprintf(stderr, "latency_bench: %s: cannot write it\n", raw);
	print_dist("produce -> delivery report", deliver, n_deliver);
	print_dist("produce -> committed", commit, n_commit);
	if (verbose)
		per_second(&b, first, rate, commit);
	printf("never seen committed: %zu of %" PRId64 " (drain of at most %d s), %ld not "
	       "delivered\n",
	       (size_t)measured - n_commit, measured, drain_s, b.failed);
	free(commit);
	free(deliver);
	rc = n_commit == (size_t)measured ? 0 : 1;
out:
	if (started) {
		pthread_mutex_lock(&b.lock);
		b.stop = true;
		pthread_mutex_unlock(&b.lock);
		pthread_join(thread, NULL);
	}
	if (b.producer) {
		rd_kafka_flush(b.producer, 5000);
		rd_kafka_destroy(b.producer);
	}
	if (b.watcher)
		rd_kafka_destroy(b.watcher);
	for (int p = 0; b.parts && p < b.n_parts; p++)
		free(b.parts[p].by_offset);
	free(b.parts);
	free(b.recs);
	free(lines);
	free(text);
	return rc;
}
