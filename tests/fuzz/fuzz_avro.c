/* fuzz_avro.c - Avro payloads: the input is a schema's JSON text, a NUL
 * byte, and a binary datum decoded with it into the JSON handlers get. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema/avro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	if (!nul)
		return 0;
	char err[512];
	struct eddy_avro_schema *s =
	    eddy_avro_schema_parse((const char *)data, (size_t)(nul - data), err, sizeof err);
	if (!s)
		return 0;
	char *out = NULL;
	size_t out_len = 0;
	if (eddy_avro_to_json(s, nul + 1, size - (size_t)(nul - data) - 1, &out, &out_len, err,
	                      sizeof err) == 0)
		free(out);
	eddy_avro_schema_free(s);
	return 0;
}
