/* avro.h - Avro payloads (avro-c) decoded into the JSON handlers get, so a
 * handler does not care which encoding arrived. Encoding is for tests and
 * tools: tests/support/avro_encode.h. */
#ifndef EDDY_AVRO_H
#define EDDY_AVRO_H

#include <stddef.h>

struct eddy_avro_schema;

/* Parses an Avro schema (its JSON text). NULL with errstr when invalid.
 * A schema keeps one decoding value and reader, reused by every call: it
 * and everything from it is used by one thread at a time. Self-contained
 * schemas only (no references to other registry subjects). */
struct eddy_avro_schema *eddy_avro_schema_parse(const char *json, size_t len, char *errstr,
                                                size_t errstr_size);
void eddy_avro_schema_free(struct eddy_avro_schema *s);

/* Decodes one Avro binary datum (no wire-format prefix) written with
 * schema s into JSON text: *out is malloc'd, NUL-terminated, the caller
 * frees it. Records are objects, unions their plain value, bytes and fixed
 * base64 strings; logical types as docs/handlers.md says. Returns 0, or -1
 * with errstr when the bytes do not decode with s (truncated, trailing
 * bytes, bad union or enum index, invalid UTF-8, a date beyond year 9999,
 * nesting deeper than EDDY_JSON_MAX_DEPTH, JSON text over 64 MiB). The
 * bytes are bounds-checked before avro-c reads them. */
int eddy_avro_to_json(struct eddy_avro_schema *s, const void *buf, size_t len, char **out,
                      size_t *out_len, char *errstr, size_t errstr_size);

#endif
