/* avro_encode.h - JSON text to Avro binary datums, for tests, benchmarks
 * and tests/tools/avro-encode (library eddytest); the service only decodes
 * (avro.h) and does not link this. */
#ifndef EDDY_AVRO_ENCODE_H
#define EDDY_AVRO_ENCODE_H

#include <stddef.h>

#include "schema/avro.h"

/* Encodes JSON text (the shape eddy_avro_to_json writes) as one Avro
 * binary datum of schema s, the way a producer would. A union takes the
 * first branch the value fits; a field left out takes its default, or null
 * when its type allows null; logical types also take their raw number.
 * Uses s's reused value, so not at the same time as eddy_avro_to_json on s.
 * Returns 0 with a malloc'd *out the caller frees, or -1 with errstr naming
 * the JSON path that does not fit the schema
 * ("/lines/0/qty: expected long, got string"). */
int eddy_avro_from_json(struct eddy_avro_schema *s, const char *json, size_t len, void **out,
                        size_t *out_len, char *errstr, size_t errstr_size);

#endif
