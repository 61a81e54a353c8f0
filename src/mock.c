/* mock.c - an embedded Kafka cluster for eddy dev and the tests. */
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "input.h"

struct eddy_mock {
	rd_kafka_t *rk; /* hosts the cluster, and produces into it */
	rd_kafka_mock_cluster_t *cluster;
	long failed;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	(void)rk;
	struct eddy_mock *m = opaque;
	if (msg->err)
		m->failed++;
}

/* The producer that hosts the cluster reconnects noisily while the cluster
 * shuts down; its failures that matter come back as delivery reports. */
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

struct eddy_mock *eddy_mock_new(int brokers, char *errstr, size_t errstr_size)
{
	struct eddy_mock *m = calloc(1, sizeof *m);
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	char err[512];
	if (!m) {
		snprintf(errstr, errstr_size, "out of memory");
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	rd_kafka_conf_set_opaque(kc, m);
	rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
	rd_kafka_conf_set_log_cb(kc, quiet_log);
	if (rd_kafka_conf_set(kc, "log_level", "3", err, sizeof err) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(kc, "linger.ms", "5", err, sizeof err) != RD_KAFKA_CONF_OK) {
		snprintf(errstr, errstr_size, "mock: %s", err);
		rd_kafka_conf_destroy(kc);
		goto err;
	}
	if (!(m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof err))) {
		snprintf(errstr, errstr_size, "mock: %s", err);
		rd_kafka_conf_destroy(kc);
		goto err;
	}
	if (!(m->cluster = rd_kafka_mock_cluster_new(m->rk, brokers))) {
		snprintf(errstr, errstr_size, "mock: cannot start the cluster");
		goto err;
	}
	rd_kafka_brokers_add(m->rk, rd_kafka_mock_cluster_bootstraps(m->cluster));
	return m;
err:
	eddy_mock_destroy(m);
	return NULL;
}

void eddy_mock_destroy(struct eddy_mock *m)
{
	if (!m)
		return;
	if (m->rk)
		rd_kafka_flush(m->rk, 5000);
	if (m->cluster)
		rd_kafka_mock_cluster_destroy(m->cluster);
	if (m->rk)
		rd_kafka_destroy(m->rk);
	free(m);
}

const char *eddy_mock_bootstraps(const struct eddy_mock *m)
{
	return rd_kafka_mock_cluster_bootstraps(m->cluster);
}

struct rd_kafka_mock_cluster_s *eddy_mock_cluster(struct eddy_mock *m)
{
	return m->cluster;
}

int eddy_mock_topic(struct eddy_mock *m, const char *topic, int partitions, char *errstr,
                    size_t errstr_size)
{
	rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(m->cluster, topic, partitions, 1);
	if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
		snprintf(errstr, errstr_size, "topic %s: %s", topic, rd_kafka_err2str(err));
		return -1;
	}
	return 0;
}

long eddy_mock_produce_file(struct eddy_mock *m, const char *path, const char *topic, char *errstr,
                            size_t errstr_size)
{
	struct eddy_input *in = eddy_input_open(path, topic, errstr, errstr_size);
	if (!in)
		return -1;
	struct eddy_msg msg;
	long n = 0;
	int got;
	m->failed = 0;
	while ((got = eddy_input_next(in, &msg, errstr, errstr_size)) > 0) {
		rd_kafka_resp_err_t err;
		while (
		    (err = rd_kafka_producev(
		         m->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		         RD_KAFKA_V_KEY((void *)msg.key, msg.key ? msg.key_len : 0),
		         RD_KAFKA_V_VALUE((void *)msg.value, msg.value ? msg.value_len : 0),
		         RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(m->rk, 50);
		if (err) {
			snprintf(errstr, errstr_size, "produce to %s: %s", topic,
			         rd_kafka_err2str(err));
			got = -1;
			break;
		}
		n++;
		rd_kafka_poll(m->rk, 0);
	}
	eddy_input_destroy(in);
	if (got < 0)
		return -1;
	rd_kafka_flush(m->rk, 30000);
	if (rd_kafka_outq_len(m->rk) > 0 || m->failed) {
		snprintf(errstr, errstr_size, "produce to %s: %ld of %ld records not delivered",
		         topic, m->failed + rd_kafka_outq_len(m->rk), n);
		return -1;
	}
	return n;
}
