/* envelope.h - CloudEvents 1.0 envelope of a Kafka record (structured and
 * binary content modes of the Kafka protocol binding), and the domain's
 * conventions (key == id, meta.tenant, tenant matching the topic). */
#ifndef EDDY_ENVELOPE_H
#define EDDY_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>

#include "json.h"
#include "msg.h"

struct eddy_envelope_conf {
	bool require_key_equals_id; /* record key must equal the CE id */
	bool require_tenant;        /* meta.tenant must be a non-empty string */
	/* When set, the topic must match this glob after "{tenant}" in it is
	 * replaced by the event's tenant, e.g. "{tenant}.*". NULL: no check. */
	const char *tenant_topic_pattern;
};

enum eddy_envelope_mode {
	EDDY_ENVELOPE_STRUCTURED, /* value is a JSON CloudEvent */
	EDDY_ENVELOPE_BINARY,     /* ce_* headers, value is the data */
};

/* A string attribute: NULL/0 when absent. */
struct eddy_attr {
	const char *s;
	size_t len;
};

/* An extension attribute (any attribute that is not one of the known ones;
 * "meta" is not an extension). Structured mode: the JSON value; binary
 * mode: the ce_ header's value as a string. */
struct eddy_extension {
	const char *name; /* without "ce_" */
	size_t name_len;
	const struct eddy_json *json; /* structured mode */
	struct eddy_attr str;         /* binary mode */
};

#define EDDY_ENVELOPE_MAX_EXTENSIONS 32

/* One decoded event. Every pointer is borrowed from the record (struct
 * eddy_msg) or from the json doc that parsed it; valid while both are. */
struct eddy_event {
	const struct eddy_msg *msg;
	enum eddy_envelope_mode mode;
	bool deleted; /* tombstone: null value; key names the entity */

	struct eddy_attr id, source, specversion, type, subject, time, datacontenttype, dataschema;

	/* data: data_json when the payload is JSON (structured "data", or a
	 * binary value whose content type is JSON: application/json, text/json,
	 * anything ending in +json, or none); otherwise data_bytes (structured
	 * "data_base64" decoded is not supported: it is kept as an extension
	 * string) */
	const struct eddy_json *data_json;
	struct eddy_attr data_bytes;

	const struct eddy_json *root;    /* structured mode: the whole CloudEvent object */
	const struct eddy_json *meta;    /* the RELEX meta object, NULL when absent */
	struct eddy_attr tenant;         /* meta.tenant */
	struct eddy_attr correlation_id; /* meta.correlation_id */

	struct eddy_extension extensions[EDDY_ENVELOPE_MAX_EXTENSIONS];
	size_t n_extensions;
};

/* Decodes msg into ev, parsing JSON with doc (every event is parsed once;
 * ev points into doc afterwards). A tombstone (NULL value) needs a key and
 * yields ev->deleted with no attributes beyond what binary ce_ headers give.
 * Returns 0, or -1 with a one-line reason a person can act on in reason, e.g.
 * "required attribute \"specversion\" is missing",
 * "specversion is \"0.3\", expected \"1.0\"",
 * "time \"2025-13-01\" is not an RFC 3339 date-time",
 * "key \"ORD-1\" does not equal id \"ORD-2\"",
 * "value is not JSON: <parser reason>". */
int eddy_envelope_decode(const struct eddy_envelope_conf *conf, struct eddy_json_doc *doc,
                         const struct eddy_msg *msg, struct eddy_event *ev, char *reason,
                         size_t reason_size);

/* true when s (len bytes) is an RFC 3339 date-time, e.g.
 * "2025-01-14T12:30:00Z", "2025-01-14T12:30:00.123+02:00". */
bool eddy_envelope_rfc3339(const char *s, size_t len);

#endif
