/* fuzz_envelope.c - the CloudEvents envelope of a record (fuzz_input.h:
 * a structured value, or binary mode's ce_ headers and data). */
#include <stdint.h>
#include <stdlib.h>

#include "envelope.h"
#include "fuzz_input.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct eddy_json_doc *doc;
	struct fuzz_record r;

	if (!doc && !(doc = eddy_json_doc_new()))
		return 0;
	fuzz_record_read(&r, data, size);

	struct eddy_envelope_conf conf = {.require_key_equals_id = false, .require_tenant = true};
	struct eddy_event ev;
	char reason[512];
	eddy_envelope_decode(&conf, doc, &r.msg, &ev, reason, sizeof reason);
	conf.require_key_equals_id = true;
	conf.tenant_topic_pattern = "{tenant}.*";
	eddy_envelope_decode(&conf, doc, &r.msg, &ev, reason, sizeof reason);
	return 0;
}
