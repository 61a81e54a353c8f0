/* msg.h - one input record, whatever it came from (Kafka, a replay file). */
#ifndef EDDY_MSG_H
#define EDDY_MSG_H

#include <stddef.h>
#include <stdint.h>

struct eddy_header {
	const char *name;  /* NUL-terminated */
	const char *value; /* NULL for a header with a null value */
	size_t len;
};

/* Everything borrowed from the source (a Kafka message, a line of a file)
 * for as long as the record is being handled. value == NULL is a tombstone. */
struct eddy_msg {
	const char *topic;
	int32_t partition;
	int64_t offset;
	int64_t timestamp_ms; /* -1 when unknown */
	const char *key;      /* NULL when the record has no key */
	size_t key_len;
	const char *value;
	size_t value_len;
	const struct eddy_header *headers;
	size_t n_headers;
	/* Failed handler calls of this record so far: a retry the consumer
	 * deferred (eddy_pipeline_opts.defer_retries) comes back with them. */
	int attempts;
};

#endif
