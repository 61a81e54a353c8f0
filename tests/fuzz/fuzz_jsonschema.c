/* fuzz_jsonschema.c - the JSON Schema validator: the input is a schema, a
 * NUL byte and an instance. The schema is compiled (every dialect, formats
 * asserted) and, when it compiles and the instance parses, the instance is
 * validated against it and its errors written out. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "schema/jsonschema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct eddy_json_doc *doc;
	static FILE *sink;
	const uint8_t *nul = memchr(data, '\0', size);
	if (!nul)
		return 0;
	if (!doc && !(doc = eddy_json_doc_new()))
		return 0;
	if (!sink && !(sink = fopen("/dev/null", "w")))
		return 0;
	char err[512];
	const struct eddy_json *v = eddy_json_parse(
	    doc, (const char *)nul + 1, size - (size_t)(nul - data) - 1, err, sizeof err);
	/* the budget the service runs with keeps a hostile schema's work bounded */
	struct eddy_jsonschema_opts opts = {
	    .default_dialect = (enum eddy_jsonschema_dialect)(size % 5),
	    .format_assert = true,
	    .max_steps = 100000,
	};
	struct eddy_jsonschema_set *set = eddy_jsonschema_set_new(&opts);
	if (!set)
		return 0;
	const struct eddy_jsonschema *s = eddy_jsonschema_add(
	    set, (const char *)data, (size_t)(nul - data), NULL, err, sizeof err);
	if (s && v) {
		struct eddy_jsonschema_result r;
		if (!eddy_jsonschema_validate(set, s, v, &r))
			eddy_jsonschema_result_write_json(&r, sink);
	}
	eddy_jsonschema_set_destroy(set);
	return 0;
}
