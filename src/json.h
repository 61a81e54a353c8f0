/* json.h - a parsed JSON document as plain C structs (simdjson underneath). */
#ifndef EDDY_JSON_H
#define EDDY_JSON_H

#include <stddef.h>
#include <stdint.h>

enum eddy_json_type {
	EDDY_JSON_NULL,
	EDDY_JSON_FALSE,
	EDDY_JSON_TRUE,
	EDDY_JSON_INT,    /* fits int64_t: u.i */
	EDDY_JSON_DOUBLE, /* any other number (fraction, exponent, beyond int64): u.d */
	EDDY_JSON_STRING, /* u.s, len bytes, unescaped, NUL-terminated (may hold NULs) */
	EDDY_JSON_ARRAY,  /* u.items[0..len) */
	EDDY_JSON_OBJECT, /* u.members[0..len), in document order */
};

struct eddy_json_member;

/* One value of a document. Every pointer in it (strings, items, members,
 * raw) is owned by the struct eddy_json_doc that parsed it and valid until
 * that doc parses again or is destroyed. */
struct eddy_json {
	uint8_t type; /* enum eddy_json_type */
	uint32_t len; /* string bytes, array items or object members */
	uint32_t raw_len;
	const char *raw; /* arrays and objects: their exact original text */
	union {
		int64_t i;
		double d;
		const char *s;
		struct eddy_json *items;
		struct eddy_json_member *members;
	} u;
};

struct eddy_json_member {
	const char *key; /* unescaped, NUL-terminated */
	uint32_t key_len;
	struct eddy_json value;
};

/* A reusable parser plus the memory of the last document it parsed.
 * Not thread-safe: one per thread. */
struct eddy_json_doc;

struct eddy_json_doc *eddy_json_doc_new(void);
void eddy_json_doc_destroy(struct eddy_json_doc *doc);

/* Parses buf[0..len) (need not be NUL-terminated or padded; it is copied)
 * into doc, dropping whatever doc held before. Rejects invalid JSON, invalid
 * UTF-8, trailing content, duplicate object keys and nesting deeper than
 * EDDY_JSON_MAX_DEPTH. Returns the root, or NULL with a one-line reason in
 * errstr (e.g. "duplicate key \"id\" at byte 57"). */
#define EDDY_JSON_MAX_DEPTH 128
const struct eddy_json *eddy_json_parse(struct eddy_json_doc *doc, const char *buf, size_t len,
                                        char *errstr, size_t errstr_size);

/* The member value named key (len bytes) of an object, or NULL when v is
 * not an object or has no such member. */
const struct eddy_json *eddy_json_get(const struct eddy_json *v, const char *key, size_t len);
#define eddy_json_getz(v, key) eddy_json_get((v), (key), sizeof(key) - 1)

/* v's string, or NULL when v is NULL or not a string. */
static inline const char *eddy_json_str(const struct eddy_json *v)
{
	return v && v->type == EDDY_JSON_STRING ? v->u.s : NULL;
}

/* Name of a type for messages: "null", "boolean", "integer", "number",
 * "string", "array", "object". */
const char *eddy_json_type_name(enum eddy_json_type t);

#endif
