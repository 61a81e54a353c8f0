/* test_fetch_nudge.c - when the loop's takes say the fetch queue was full
 * and has room again, and the nudge's request reaching the leader of a
 * consumer's partitions on librdkafka's mock cluster. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "fetch_nudge.h"
#include "metrics.h"
#include "mock.h"
#include "test.h"

#define KIB 1024.0

static struct eddy_fetch_gauge gauge(double max_kbytes, double max_records)
{
	return (struct eddy_fetch_gauge){.max_bytes = max_kbytes * KIB, .max_records = max_records};
}

static void test_bytes(void)
{
	struct eddy_fetch_gauge g = gauge(1024, 100000);
	/* the whole queue taken at once: 1300 records of 800 bytes, 1 MB */
	CHECK(eddy_fetch_gauge_taken(&g, 1300, 1300 * 800, 0));
	CHECK(g.mean == 800 && !g.full);
	/* a queue filling, far from its limit: no request */
	CHECK(!eddy_fetch_gauge_taken(&g, 200, 200 * 800, 0));
	CHECK(!eddy_fetch_gauge_taken(&g, 500, 500 * 800, 300));
	/* part of a full queue taken, the rest below the limit */
	CHECK(eddy_fetch_gauge_taken(&g, 1000, 1000 * 800, 400));
	/* full, and still full after the take: later, when there is room */
	CHECK(!eddy_fetch_gauge_taken(&g, 100, 100 * 800, 1500));
	CHECK(g.full);
	CHECK(!eddy_fetch_gauge_taken(&g, 100, 100 * 800, 1350));
	CHECK(eddy_fetch_gauge_taken(&g, 1000, 1000 * 800, 350));
	CHECK(!g.full);
	/* one nudge a fill: the next take of the same queue asks for none */
	CHECK(!eddy_fetch_gauge_taken(&g, 350, 350 * 800, 0));
}

static void test_mean(void)
{
	struct eddy_fetch_gauge g = gauge(1024, 100000);
	/* tombstones have no value: a queue of them is never full by bytes */
	CHECK(!eddy_fetch_gauge_taken(&g, 5000, 0, 0));
	CHECK(g.mean == 0);
	/* the mean moves an eighth of the way to each batch's */
	CHECK(!eddy_fetch_gauge_taken(&g, 10, 10 * 1000, 0));
	CHECK(g.mean == 1000);
	CHECK(!eddy_fetch_gauge_taken(&g, 10, 10 * 200, 0));
	CHECK(g.mean == 900);
	/* what is left is counted at the mean (now 800): 1000 taken of 100
	 * bytes and 1200 left made the queue full, and leave room */
	CHECK(eddy_fetch_gauge_taken(&g, 1000, 1000 * 100, 1200));
	CHECK(g.mean == 800);
}

static void test_records(void)
{
	/* queued.min.messages: a limit by count, reached by small records */
	struct eddy_fetch_gauge g = gauge(65536, 1000);
	CHECK(!eddy_fetch_gauge_taken(&g, 100, 100 * 10, 1200));
	CHECK(g.full);
	CHECK(eddy_fetch_gauge_taken(&g, 500, 500 * 10, 700));
	CHECK(!eddy_fetch_gauge_taken(&g, 100, 100 * 10, 600));
}

/* librdkafka's protocol log of the consumer: the requests it sent. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int list_offsets_sent;

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	if (strcmp(fac, "SEND") == 0 && strstr(buf, "Sent ListOffsetsRequest")) {
		pthread_mutex_lock(&log_lock);
		list_offsets_sent++;
		pthread_mutex_unlock(&log_lock);
	}
}

static int sent_requests(void)
{
	pthread_mutex_lock(&log_lock);
	int n = list_offsets_sent;
	pthread_mutex_unlock(&log_lock);
	return n;
}

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

static void test_nudge(void)
{
	char err[512];
	struct eddy_mock *m = eddy_mock_new(1, err, sizeof err);
	CHECK(m != NULL);
	if (!m) {
		fprintf(stderr, "mock: %s\n", err);
		return;
	}
	CHECK(eddy_mock_topic(m, "nudged", 2, err, sizeof err) == 0);

	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	CHECK(rd_kafka_conf_set(kc, "bootstrap.servers", eddy_mock_bootstraps(m), err,
	                        sizeof err) == RD_KAFKA_CONF_OK);
	CHECK(rd_kafka_conf_set(kc, "group.id", "nudge", err, sizeof err) == RD_KAFKA_CONF_OK);
	CHECK(rd_kafka_conf_set(kc, "queued.max.messages.kbytes", "64", err, sizeof err) ==
	      RD_KAFKA_CONF_OK);
	CHECK(rd_kafka_conf_set(kc, "debug", "protocol", err, sizeof err) == RD_KAFKA_CONF_OK);
	rd_kafka_conf_set_log_cb(kc, log_cb);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof err);
	CHECK(rk != NULL);
	if (!rk) {
		eddy_mock_destroy(m);
		return;
	}

	struct eddy_metrics *reg = eddy_metrics_new();
	struct eddy_metric *sent = eddy_metric_only(eddy_metrics_family(
	    reg, "eddy_fetch_nudges_total", "nudges", EDDY_METRIC_COUNTER, NULL, NULL, 0));
	CHECK(sent != NULL);
	struct eddy_fetch_nudge *n = eddy_fetch_nudge_start(rk, sent, err, sizeof err);
	CHECK(n != NULL);
	if (n) {
		/* nothing assigned: nothing to ask, the nudge still counts */
		eddy_fetch_nudge_taken(n, 100, 100 * 1000, 0);
		for (int i = 0; i < 200 && eddy_metric_value(sent) < 1; i++)
			sleep_ms(10);
		CHECK(eddy_metric_value(sent) == 1);
		CHECK(sent_requests() == 0);

		rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
		/* at concrete offsets: fetching needs no ListOffsets of its own */
		rd_kafka_topic_partition_list_add(parts, "nudged", 0)->offset = 0;
		rd_kafka_topic_partition_list_add(parts, "nudged", 1)->offset = 0;
		CHECK(rd_kafka_assign(rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR);
		rd_kafka_topic_partition_list_destroy(parts);

		/* below the limit (64 KiB): no nudge */
		eddy_fetch_nudge_taken(n, 10, 10 * 1000, 0);
		/* the queue was full (70 records of 1000 bytes), 10 are left */
		eddy_fetch_nudge_taken(n, 60, 60 * 1000, 10);
		for (int i = 0; i < 500 && eddy_metric_value(sent) < 2; i++)
			sleep_ms(10);
		CHECK(eddy_metric_value(sent) == 2);
		/* one request to the one leader of both partitions */
		CHECK(sent_requests() == 1);
		eddy_fetch_nudge_stop(n);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	eddy_mock_destroy(m);
	eddy_metrics_destroy(reg);
}

int main(void)
{
	test_bytes();
	test_mean();
	test_records();
	test_nudge();
	return test_report("test_fetch_nudge");
}
