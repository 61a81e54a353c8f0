/* avro_int.h - what the Avro decoder (avro.c) shares with the encoder that
 * tests and tools link (tests/support/avro_encode.c): the schema's node tree
 * and errors that name a JSON path. Not for other modules. */
#ifndef EDDY_AVRO_INT_H
#define EDDY_AVRO_INT_H

#include <stdbool.h>
#include <stddef.h>

/* avro-c's umbrella header is also called avro.h and src/ comes first on
 * the include path, so its parts are included one by one. */
#include <avro/basics.h>
#include <avro/io.h>
#include <avro/schema.h>
#include <avro/value.h>

#include "avro.h"
#include "json.h"

/* Containers inside containers, as for JSON: a recursive schema must not
 * let a crafted datum exhaust the C stack of avro-c's recursive reader. */
#define EDDY_AVRO_MAX_DEPTH EDDY_JSON_MAX_DEPTH
/* A decimal's unscaled value: 256 bytes hold 616 digits. */
#define EDDY_AVRO_MAX_DECIMAL_BYTES 256

enum logical {
	LT_NONE,
	LT_DATE,
	LT_TIME_MILLIS,
	LT_TIME_MICROS,
	LT_TS_MILLIS,
	LT_TS_MICROS,
	LT_LOCAL_TS_MILLIS,
	LT_LOCAL_TS_MICROS,
	LT_UUID,
	LT_DECIMAL,
};

/* The logicalType names, indexed by enum logical ("" for LT_NONE). */
extern const char *const eddy_avro_logical_names[];

/* One occurrence of a type in the schema, parallel to avro-c's schema
 * (whose primitives are shared singletons, so they cannot carry a logical
 * type). A named type is one node however often it is referenced. */
struct node {
	avro_type_t type;
	avro_schema_t schema; /* borrowed from the root schema */
	enum logical logical;
	int precision, scale; /* decimal */
	size_t size;          /* fixed */
	size_t n;             /* record fields, union branches; 1 for array items, map values */
	struct node **kids;
	char **keys; /* record: "\"name\":" ready to write */
	size_t *key_lens;
	const struct eddy_json **defaults; /* record fields' "default" (in the schema doc) */
	int empty; /* 0 unknown, 1 being computed, 2 takes bytes, 3 may take none */
};

struct eddy_avro_schema {
	avro_schema_t schema;
	avro_value_iface_t *iface;
	avro_value_t value; /* reused by every call, decoding or encoding */
	avro_reader_t reader;
	struct eddy_json_doc *doc; /* the schema text, which the defaults point into */
	struct node *root;
	struct node **nodes; /* every node, for named lookups and freeing */
	size_t n_nodes, cap_nodes;
};

/* An error message and the JSON path to where it happened, the path built
 * from the inside out while the recursion unwinds, so that the success path
 * pays nothing for it. */
struct err {
	char msg[256];
	char path[512];
	size_t at; /* the path is path[at..] */
	bool cut;
};

void eddy_avro_err_reset(struct err *e);
/* Sets the message; returns -1, for `return eddy_avro_err_set(...)`. */
int eddy_avro_err_set(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepend "/key" (JSON Pointer escapes) or "/i" to the path. */
void eddy_avro_err_key(struct err *e, const char *key, size_t n);
void eddy_avro_err_index(struct err *e, size_t i);
/* "path: message", or the message alone at the root, into errstr. */
void eddy_avro_err_out(const struct err *e, char *errstr, size_t errstr_size);

/* avro-c's last error as one line in buf; returns buf. */
const char *eddy_avro_error_line(char *buf, size_t size);

#endif
