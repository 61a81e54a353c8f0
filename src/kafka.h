/* kafka.h - the consumer loop: a librdkafka consumer group feeding the
 * pipeline in batches, a producer for dead letters, offsets committed only
 * after a batch is durable. */
#ifndef EDDY_KAFKA_H
#define EDDY_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "pipeline.h"

struct eddy_kafka_opts {
	/* Stop once every assigned partition is at its end and committed. */
	bool exit_at_end;
	/* Set from a signal handler to stop after the current batch. */
	volatile int *stop;
	/* eddy dev: a live progress/lag line every second on this stream */
	FILE *progress;
	/* eddy dev: an HTTP endpoint that cannot listen is a warning, not an error */
	bool http_optional;
	/* Pipeline options (the observer); dead letters and publishing are set here. */
	struct eddy_pipeline_opts pipeline;
};

/* Runs until *stop or, with exit_at_end, the end of every partition.
 * Returns 0 after a clean shutdown (consumer closed, work committed), 2 on
 * a configuration error, 1 on another fatal error; errstr says why. */
int eddy_kafka_run(const struct eddy_config *conf, const struct eddy_kafka_opts *opts, char *errstr,
                   size_t errstr_size);

#endif
