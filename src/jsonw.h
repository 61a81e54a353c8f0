/* jsonw.h - writes JSON text into a growable buffer with a hard cap: the
 * envelopes eddy publishes, the bodies of alerts. Commas and escaping are
 * its business; a failure (out of memory, past the cap) sticks until the
 * end, so callers check once. */
#ifndef EDDY_JSONW_H
#define EDDY_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EDDY_JSONW_MAX_DEPTH 32

struct eddy_jsonw {
	char *p; /* NUL-terminated text so far, owned */
	size_t len, cap, max;
	bool failed;
	int depth;
	bool first[EDDY_JSONW_MAX_DEPTH];  /* nothing written yet at this level */
	char closer[EDDY_JSONW_MAX_DEPTH]; /* '}' or ']' of each open level */
	bool after_key;
};

/* max: the most bytes the text may have (0: 64 MiB). */
void eddy_jsonw_init(struct eddy_jsonw *w, size_t max);
void eddy_jsonw_free(struct eddy_jsonw *w);
/* The text, handed to the caller (free it), or NULL when writing failed. */
char *eddy_jsonw_take(struct eddy_jsonw *w, size_t *len);

void eddy_jsonw_object(struct eddy_jsonw *w);
void eddy_jsonw_array(struct eddy_jsonw *w);
void eddy_jsonw_end(struct eddy_jsonw *w); /* of the innermost object or array */
void eddy_jsonw_key(struct eddy_jsonw *w, const char *key);
/* A string value (s: len bytes of UTF-8, escaped as JSON needs). */
void eddy_jsonw_string(struct eddy_jsonw *w, const char *s, size_t len);
void eddy_jsonw_int(struct eddy_jsonw *w, int64_t v);
/* Text that is already JSON (a value kept from a parsed document). */
void eddy_jsonw_raw(struct eddy_jsonw *w, const char *json, size_t len);
/* key and string value in one, skipped when s is NULL. */
void eddy_jsonw_member(struct eddy_jsonw *w, const char *key, const char *s, size_t len);

#endif
