/* eddy-mock - test tool: a librdkafka mock cluster in its own process, so
 * that specs can stop and restart eddy against the same broker; and a
 * query of a group's committed offsets.
 *
 *   eddy-mock [--brokers N] [--topic NAME[:PARTITIONS]]... [--load TOPIC=FILE]...
 *             [--control FILE] [--stdin]
 *       prints "bootstrap ADDR" and then "ready", serves until SIGTERM/SIGINT
 *       (or, with --stdin, until standard input closes). With --control,
 *       faults written to FILE, a line each, are applied (the file is
 *       removed once read; "ok" or "bad control line: ..." on stdout):
 *         produce-errors COUNT CODE       the next COUNT Produce requests fail
 *         request-errors API COUNT CODE   the same for any API key (1 Fetch,
 *                                         8 OffsetCommit, 11 JoinGroup, ...)
 *         broker-down ID | broker-up ID   a broker stops or starts answering
 *         coordinator GROUP ID            the group's coordinator moves
 *         leader TOPIC PARTITION ID       a partition's leader moves
 *   eddy-mock offsets ADDR GROUP TOPIC[:PARTITIONS]
 *       prints "TOPIC PARTITION OFFSET" per partition (-1001: none committed).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>

#include <librdkafka/rdkafka.h>

#include <librdkafka/rdkafka_mock.h>

#include "mock.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* One line of the control file (see the top of this file). */
static void apply_fault(rd_kafka_mock_cluster_t *mc, const char *line)
{
	char a[256];
	int api, count, code, id, partition;
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

	if (sscanf(line, " produce-errors %d %d", &count, &code) == 2) {
		for (int k = 0; k < count; k++)
			rd_kafka_mock_push_request_errors(mc, 0 /* Produce */, 1,
			                                  (rd_kafka_resp_err_t)code);
	} else if (sscanf(line, " request-errors %d %d %d", &api, &count, &code) == 3) {
		for (int k = 0; k < count; k++)
			rd_kafka_mock_push_request_errors(mc, (int16_t)api, 1,
			                                  (rd_kafka_resp_err_t)code);
	} else if (sscanf(line, " broker-down %d", &id) == 1) {
		err = rd_kafka_mock_broker_set_down(mc, id);
	} else if (sscanf(line, " broker-up %d", &id) == 1) {
		err = rd_kafka_mock_broker_set_up(mc, id);
	} else if (sscanf(line, " coordinator %255s %d", a, &id) == 2) {
		err = rd_kafka_mock_coordinator_set(mc, "group", a, id);
	} else if (sscanf(line, " leader %255s %d %d", a, &partition, &id) == 3) {
		err = rd_kafka_mock_partition_set_leader(mc, a, partition, id);
	} else if (strspn(line, " \t\r\n") != strlen(line)) {
		printf("bad control line: %s", line);
		return;
	}
	if (err)
		printf("control: %s", rd_kafka_err2str(err));
	else
		printf("ok %s", line);
}

static int offsets(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: eddy-mock offsets ADDR GROUP TOPIC[:PARTITIONS]\n");
		return 2;
	}
	char err[512], topic[256];
	int parts = 1;
	snprintf(topic, sizeof topic, "%s", argv[4]);
	char *colon = strrchr(topic, ':');
	if (colon) {
		*colon = '\0';
		parts = atoi(colon + 1);
	}
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	if (rd_kafka_conf_set(kc, "bootstrap.servers", argv[2], err, sizeof err) ||
	    rd_kafka_conf_set(kc, "group.id", argv[3], err, sizeof err) ||
	    rd_kafka_conf_set(kc, "log_level", "3", err, sizeof err)) {
		fprintf(stderr, "eddy-mock: %s\n", err);
		return 1;
	}
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof err);
	if (!rk) {
		fprintf(stderr, "eddy-mock: %s\n", err);
		return 1;
	}
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
	for (int p = 0; p < parts; p++)
		rd_kafka_topic_partition_list_add(l, topic, p);
	rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, 10000);
	int rc = 0;
	if (e) {
		fprintf(stderr, "eddy-mock: committed: %s\n", rd_kafka_err2str(e));
		rc = 1;
	} else {
		for (int i = 0; i < l->cnt; i++)
			printf("%s %d %lld\n", l->elems[i].topic, (int)l->elems[i].partition,
			       (long long)l->elems[i].offset);
	}
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy(rk);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "offsets") == 0)
		return offsets(argc, argv);

	int brokers = 1, watch_stdin = 0;
	const char *control = NULL;
	char err[1024];
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc)
			brokers = atoi(argv[++i]);
	struct eddy_mock *m = eddy_mock_new(brokers, err, sizeof err);
	if (!m) {
		fprintf(stderr, "eddy-mock: %s\n", err);
		return 1;
	}
	printf("bootstrap %s\n", eddy_mock_bootstraps(m));
	fflush(stdout);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--brokers") == 0) {
			i++;
		} else if (strcmp(argv[i], "--stdin") == 0) {
			watch_stdin = 1;
		} else if (strcmp(argv[i], "--control") == 0 && i + 1 < argc) {
			control = argv[++i];
		} else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc) {
			char topic[256];
			snprintf(topic, sizeof topic, "%s", argv[++i]);
			char *colon = strrchr(topic, ':');
			int parts = 1;
			if (colon) {
				*colon = '\0';
				parts = atoi(colon + 1);
			}
			if (eddy_mock_topic(m, topic, parts, err, sizeof err) != 0) {
				fprintf(stderr, "eddy-mock: %s\n", err);
				return 1;
			}
		} else if (strcmp(argv[i], "--load") == 0 && i + 1 < argc) {
			char spec[4096];
			snprintf(spec, sizeof spec, "%s", argv[++i]);
			char *eq = strchr(spec, '=');
			if (!eq) {
				fprintf(stderr, "eddy-mock: --load TOPIC=FILE\n");
				return 2;
			}
			*eq = '\0';
			if (eddy_mock_produce_file(m, eq + 1, spec, err, sizeof err) < 0) {
				fprintf(stderr, "eddy-mock: %s\n", err);
				return 1;
			}
		} else {
			fprintf(stderr, "eddy-mock: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	printf("ready\n");
	fflush(stdout);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	struct pollfd pfd = {watch_stdin ? STDIN_FILENO : -1, POLLIN, 0};
	char buf[256];
	while (!stop) {
		int r = poll(&pfd, 1, 200);
		if (r > 0) {
			if (read(STDIN_FILENO, buf, sizeof buf) <= 0)
				break;
		}
		FILE *f = control ? fopen(control, "r") : NULL;
		if (f) {
			char line[512];
			while (fgets(line, sizeof line, f))
				apply_fault(eddy_mock_cluster(m), line);
			fclose(f);
			unlink(control);
			fflush(stdout);
		}
	}
	eddy_mock_destroy(m);
	return 0;
}
