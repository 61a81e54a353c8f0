/* schemas.h - which schema a record must satisfy, and the check: the
 * Confluent wire format (magic byte 0, schema id) through the registry, the
 * CloudEvents dataschema, the type mapping onto the local folder, or the
 * registry subject of the topic or type. Avro payloads are decoded into JSON
 * here, so the envelope and the handlers see one kind of document. */
#ifndef EDDY_SCHEMAS_H
#define EDDY_SCHEMAS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "envelope.h"
#include "json.h"
#include "jsonschema.h"
#include "schema_files.h"
#include "msg.h"

enum eddy_schemas_outcome {
	EDDY_SCHEMAS_VALID,   /* checked, or nothing to check */
	EDDY_SCHEMAS_INVALID, /* the record breaks its contract: reason says how */
	EDDY_SCHEMAS_RETRY,   /* the registry could not be asked: not the record's fault */
};

struct eddy_schemas;

/* Indexes the local folder, compiles every schema the config maps a type
 * to, and sets up the registry client (no request is made yet). conf is
 * borrowed for the life of the result. NULL with errstr when a schema of
 * the config cannot be loaded. */
/* The registry client's settings from conf's registry.* properties. */
struct eddy_registry_conf;
void eddy_schemas_registry_conf(const struct eddy_config *conf, struct eddy_registry_conf *rc);

struct eddy_schemas *eddy_schemas_new(const struct eddy_config *conf, char *errstr,
                                      size_t errstr_size);
void eddy_schemas_destroy(struct eddy_schemas *s);

/* Before the envelope: when m's value starts with the wire format, looks up
 * the schema id and writes into *out a copy of m whose value follows the
 * prefix (Avro decoded into JSON text, owned by s until the next call).
 * Otherwise *out is m. */
enum eddy_schemas_outcome eddy_schemas_unwrap(struct eddy_schemas *s, const struct eddy_msg *m,
                                              struct eddy_msg *out, char *reason,
                                              size_t reason_size);

/* After the envelope: checks ev (decoded from the *out of the last unwrap,
 * parsed with doc) against its schema. A binary-mode Avro payload is parsed
 * into doc here and becomes ev->data_json. */
enum eddy_schemas_outcome eddy_schemas_check(struct eddy_schemas *s, struct eddy_event *ev,
                                             struct eddy_json_doc *doc, char *reason,
                                             size_t reason_size);

/* Schema-on-write: checks data (JSON text) that is to be published to topic
 * as an event of type (and dataschema, may be NULL) against its schema,
 * found as for a record without wire format. */
enum eddy_schemas_outcome eddy_schemas_check_data(struct eddy_schemas *s, const char *topic,
                                                  const char *type, const char *dataschema,
                                                  const char *data, size_t len, char *reason,
                                                  size_t reason_size);

/* The errors of the last record's failed validation, valid until the next
 * unwrap; NULL when it failed otherwise (or did not fail). */
const struct eddy_jsonschema_result *eddy_schemas_last_errors(const struct eddy_schemas *s);

#endif
