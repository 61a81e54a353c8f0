/* avro.h - Avro payloads (avro-c) decoded into the JSON handlers get, so a
 * handler does not care which encoding arrived. */
#ifndef EDDY_AVRO_H
#define EDDY_AVRO_H

#include <stddef.h>

struct eddy_avro_schema;

/* Parses an Avro schema (its JSON text). NULL with errstr when invalid. */
struct eddy_avro_schema *eddy_avro_schema_parse(const char *json, size_t len, char *errstr,
						size_t errstr_size);
void eddy_avro_schema_free(struct eddy_avro_schema *s);

/* Decodes one Avro binary datum (no wire-format prefix) written with
 * schema s into JSON text: *out is malloc'd, NUL-terminated, the caller
 * frees it. Records are objects, unions their plain value, bytes and fixed
 * base64 strings; logical types as docs/handlers.md says. Returns 0, or -1
 * with errstr when the bytes do not decode with s (truncated, trailing
 * bytes, bad union index). */
int eddy_avro_to_json(struct eddy_avro_schema *s, const void *buf, size_t len, char **out,
		      size_t *out_len, char *errstr, size_t errstr_size);

/* Encodes JSON text (the shape eddy_avro_to_json writes) as one Avro
 * binary datum of schema s, the way a producer would (tests, examples).
 * Returns 0 with a malloc'd *out, or -1 with errstr naming the JSON path
 * that does not fit the schema. */
int eddy_avro_from_json(struct eddy_avro_schema *s, const char *json, size_t len, void **out,
			size_t *out_len, char *errstr, size_t errstr_size);

#endif
