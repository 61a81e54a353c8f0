/* mock.h - an embedded Kafka cluster (librdkafka's mock cluster: the real
 * protocol on loopback, consumer groups and commits included) for eddy dev
 * and the tests, and loading records into it. */
#ifndef EDDY_MOCK_H
#define EDDY_MOCK_H

#include <stddef.h>

struct eddy_mock;

/* Starts a cluster of brokers brokers on 127.0.0.1. NULL with errstr. */
struct eddy_mock *eddy_mock_new(int brokers, char *errstr, size_t errstr_size);
void eddy_mock_destroy(struct eddy_mock *m);

/* "127.0.0.1:PORT,..." for bootstrap.servers (and kcat -b). */
const char *eddy_mock_bootstraps(const struct eddy_mock *m);

/* The librdkafka mock cluster itself, for error injection in tests. */
struct rd_kafka_mock_cluster_s *eddy_mock_cluster(struct eddy_mock *m);

int eddy_mock_topic(struct eddy_mock *m, const char *topic, int partitions, char *errstr,
                    size_t errstr_size);

/* Produces every record of an input file (NDJSON or KEY<TAB>VALUE, see
 * input.h) to topic and waits for their delivery. Returns the count, or -1
 * with errstr. */
long eddy_mock_produce_file(struct eddy_mock *m, const char *path, const char *topic, char *errstr,
                            size_t errstr_size);

#endif
