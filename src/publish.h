/* publish.h - ctx.publish: a handler's event turned into a CloudEvents
 * record (structured or binary mode), its data checked against the schema
 * of its type before anything is produced (schema-on-write). */
#ifndef EDDY_PUBLISH_H
#define EDDY_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "envelope.h"
#include "schema/schemas.h"

/* What a handler asked for. Strings are borrowed for the call; NULL when
 * not given. */
struct eddy_publish_req {
	const char *topic;
	const char *type;
	const char *key;
	size_t key_len;
	const char *id; /* default: key, or a new UUID without key */
	const char *subject;
	const char *dataschema;
	const char *data; /* JSON text; NULL: a tombstone for key */
	size_t data_len;
	bool binary;                /* ce_* headers instead of a JSON envelope */
	const char *const *headers; /* name, value, name, value, ... */
	size_t n_headers;           /* pairs */
};

/* A record ready to produce; every pointer is owned by the record. */
struct eddy_record {
	char *topic;
	char *key;
	size_t key_len;
	char *value; /* NULL: tombstone */
	size_t value_len;
	char **headers;   /* name, value, ... */
	size_t n_headers; /* pairs */
};

void eddy_record_free(struct eddy_record *r);

/* Builds the record for req, triggered by ev (its meta.correlation_id and
 * tenant are carried over; source, application and environment from conf)
 * after checking req's data against the schema of its type with s.
 * Returns EDDY_SCHEMAS_VALID with *out filled, EDDY_SCHEMAS_INVALID with the
 * reason (a bad request or data that breaks its schema: the triggering
 * event fails), or EDDY_SCHEMAS_RETRY (the registry could not be asked). */
enum eddy_schemas_outcome eddy_publish_build(const struct eddy_config *conf, struct eddy_schemas *s,
                                             const struct eddy_publish_req *req,
                                             const struct eddy_event *ev, struct eddy_record *out,
                                             char *reason, size_t reason_size);

#endif
