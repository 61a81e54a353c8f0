/* fuzz_input.h - a fuzz input as a Kafka record: its value, or after a
 * first line "binary", ce_ headers as "name=value" lines, an empty line
 * and the value (binary-mode CloudEvents). */
#ifndef EDDY_FUZZ_INPUT_H
#define EDDY_FUZZ_INPUT_H

#include <stdint.h>
#include <string.h>

#include "msg.h"

#define FUZZ_MAX_HEADERS 16

struct fuzz_record {
	struct eddy_msg msg;
	struct eddy_header headers[FUZZ_MAX_HEADERS];
	char names[FUZZ_MAX_HEADERS][64];
};

/* Fills r from data; r->msg borrows data. */
static inline void fuzz_record_read(struct fuzz_record *r, const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct eddy_msg *m = &r->msg;

	*m = (struct eddy_msg){.topic = "orders",
	                       .timestamp_ms = 1736857800000,
	                       .key = "ORD-1",
	                       .key_len = 5,
	                       .headers = r->headers};
	if (size >= 7 && memcmp(p, "binary\n", 7) == 0) {
		p += 7;
		while (p < end && *p != '\n' && m->n_headers < FUZZ_MAX_HEADERS) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *line_end = nl ? nl : end;
			const char *eq = memchr(p, '=', (size_t)(line_end - p));
			if (!eq || eq - p >= 64)
				break;
			memcpy(r->names[m->n_headers], p, (size_t)(eq - p));
			r->names[m->n_headers][eq - p] = '\0';
			r->headers[m->n_headers] = (struct eddy_header){
			    r->names[m->n_headers], eq + 1, (size_t)(line_end - eq - 1)};
			m->n_headers++;
			p = nl ? nl + 1 : end;
		}
		if (p < end && *p == '\n')
			p++;
	}
	m->value = p;
	m->value_len = (size_t)(end - p);
}

#endif
