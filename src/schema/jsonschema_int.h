/* jsonschema_int.h - what the parts of the JSON Schema validator share: the
 * compiled form of a schema and the set that owns it. Not for other modules. */
#ifndef EDDY_JSONSCHEMA_INT_H
#define EDDY_JSONSCHEMA_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hashmap.h"
#include "jsonschema.h"
#include "regex.h"

/* Nested schema evaluations (in-place applicators and $ref included) before
 * validation gives up: a schema that refers to itself without consuming any
 * of the instance would otherwise recurse until the stack ends. */
#define EDDY_JSONSCHEMA_MAX_DEPTH 1000

/* Bits of the "type" keyword; "number" holds the integer bit too. */
enum {
	T_NULL = 1,
	T_BOOL = 2,
	T_INT = 4,
	T_NUM = 8,
	T_STR = 16,
	T_ARR = 32,
	T_OBJ = 64,
};

/* The vocabularies of 2019-09 and 2020-12 that a schema's meta-schema
 * turns on through "$vocabulary" (core is always on). The keywords of the
 * others are unknown there: annotations that validate nothing. */
enum {
	VOCAB_APPLICATOR = 1,
	VOCAB_UNEVALUATED = 2, /* 2019-09: part of the applicator vocabulary */
	VOCAB_VALIDATION = 4,
	VOCAB_FORMAT = 8,         /* format-annotation (2019-09: format) */
	VOCAB_FORMAT_ASSERT = 16, /* format-assertion: formats fail validation */
	VOCAB_ALL = VOCAB_APPLICATOR | VOCAB_UNEVALUATED | VOCAB_VALIDATION | VOCAB_FORMAT,
};

/* One compiled keyword. The validator switches on op; name is the keyword
 * as written in the schema, for keyword locations. */
enum kw_op {
	OP_FALSE,
	OP_TYPE,
	OP_CONST,
	OP_ENUM,
	OP_MULTIPLE_OF,
	OP_MAXIMUM,
	OP_MINIMUM,
	OP_EXCL_MAXIMUM,
	OP_EXCL_MINIMUM,
	OP_MAX_LENGTH,
	OP_MIN_LENGTH,
	OP_PATTERN,
	OP_FORMAT,
	OP_MAX_ITEMS,
	OP_MIN_ITEMS,
	OP_UNIQUE_ITEMS,
	OP_ITEMS, /* prefixItems / items / additionalItems together */
	OP_CONTAINS,
	OP_MAX_PROPERTIES,
	OP_MIN_PROPERTIES,
	OP_OBJECT, /* properties, patternProperties, additionalProperties, required */
	OP_PROPERTY_NAMES,
	OP_DEPENDENCIES, /* dependencies, dependentRequired, dependentSchemas */
	OP_ALL_OF,
	OP_ANY_OF,
	OP_ONE_OF,
	OP_NOT,
	OP_IF,
	OP_REF,
	OP_DYNAMIC_REF,
	OP_RECURSIVE_REF,
	OP_UNEVAL_PROPS,
	OP_UNEVAL_ITEMS,
};

struct eddy_jsonschema;
struct schema_resource;

/* A string of the schema, length known, for memcmp comparisons. */
struct strv {
	const char *s;
	uint32_t len;
};

struct prop {
	struct strv name;
	struct eddy_jsonschema *schema;
};

struct patprop {
	struct eddy_regex *re;
	struct eddy_jsonschema *schema;
};

/* The object keywords of one schema, evaluated in one pass over the
 * instance's members. Property lookup goes through a small open-addressing
 * table of prop indexes + 1 keyed by a cheap hash of the name. */
struct obj_kw {
	struct prop *props;
	uint32_t n_props;
	uint32_t *table;
	uint32_t mask;
	struct patprop *pats;
	uint32_t n_pats;
	struct eddy_jsonschema *additional;
	struct strv *required;
	int32_t *required_prop; /* index into props when < 64, else -1 */
	uint32_t n_required;
};

/* The hash of a property name for struct obj_kw's table: a few bytes and
 * the length tell the names of one schema apart; probing compares fully. */
static inline uint32_t eddy_jsonschema_prop_hash(const char *s, uint32_t len)
{
	uint32_t h = len * 0x9E3779B1u;

	if (len) {
		h ^= (uint32_t)(unsigned char)s[0] * 0x85EBCA6Bu;
		h ^= (uint32_t)(unsigned char)s[len - 1] * 0xC2B2AE35u;
		h ^= (uint32_t)(unsigned char)s[len / 2] * 0x27D4EB2Fu;
	}
	return h ^ (h >> 15);
}

struct dep {
	struct strv name;
	struct eddy_jsonschema *schema; /* NULL: the names below are required */
	struct strv *names;
	uint32_t n_names;
};

struct kw {
	uint8_t op;
	const char *name;
	union {
		uint32_t types;
		const struct eddy_json *value;
		struct {
			const struct eddy_json *values;
			uint32_t n;
			/* all values strings: compared by length and memcmp */
			bool all_strings;
		} en;
		struct {
			double d;
			int64_t i;
			bool is_int;
		} num;
		uint64_t count;
		struct eddy_regex *re;
		const char *format;
		struct {
			struct eddy_jsonschema **prefix;
			uint32_t n_prefix;
			struct eddy_jsonschema *rest;
			const char *prefix_name, *rest_name;
		} items;
		struct {
			struct eddy_jsonschema *schema;
			uint64_t min, max; /* max UINT64_MAX: none */
		} contains;
		struct obj_kw *obj;
		struct eddy_jsonschema *schema;
		struct {
			struct eddy_jsonschema **v;
			uint32_t n;
		} list;
		struct {
			struct eddy_jsonschema *if_s, *then_s, *else_s;
		} cond;
		struct {
			struct eddy_jsonschema *target;
			const char *anchor; /* $dynamicRef: the bookend anchor, or NULL */
		} ref;
		struct {
			struct dep *v;
			uint32_t n;
		} deps;
	} u;
};

struct schema_anchor {
	const char *name;
	struct eddy_jsonschema *schema;
	bool dynamic;
	struct schema_anchor *next;
};

/* A schema resource: a document, or a subschema with its own $id. */
struct schema_resource {
	const char *uri; /* absolute, without fragment */
	struct eddy_jsonschema *root;
	enum eddy_jsonschema_dialect dialect;
	bool recursive_anchor; /* the root has "$recursiveAnchor": true */
	uint8_t vocabs;        /* VOCAB_* of its meta-schema */
	const char *bad_vocab; /* a required vocabulary we do not know, or NULL */
	struct schema_anchor *anchors;
};

/* A node is registered NEW, compiled once, and ends DONE or BROKEN. A DONE
 * node never leads to a broken one: a schema that refers to a broken one
 * fails to compile too, and when a call fails, what it compiled is broken
 * with it (eddy_jsonschema_compile_end). A node LOST for want of memory is
 * registered (and its document loaded) again when it is asked for again. */
enum { NODE_NEW, NODE_COMPILING, NODE_DONE, NODE_BROKEN, NODE_LOST };

struct eddy_jsonschema {
	const char *uri; /* absolute; "res#/pointer" unless a resource root */
	const char *ptr; /* the pointer part of uri inside its resource, "" for a root */
	const struct eddy_json *json;
	struct schema_resource *res;
	enum eddy_jsonschema_dialect dialect;
	uint8_t vocabs; /* VOCAB_*: which keywords this schema knows */
	uint8_t state;
	bool has_uneval; /* evaluates unevaluated*: collects annotations */
	uint32_t types;  /* "type", tested before the keywords; 0: absent */
	struct kw *kw;
	uint32_t n_kw;
	/* the list of nodes to compile, then of those compiled in this call */
	struct eddy_jsonschema *next_pending;
};

/* Whether the node, or the resource's root, is to be registered again. */
static inline bool eddy_jsonschema_lost(const struct eddy_jsonschema *n)
{
	return !n || n->state == NODE_LOST;
}

struct arena_chunk;
struct regex_link;

/* Error text is built at offsets into one buffer that may move while it
 * grows; the pointers of struct eddy_jsonschema_error are set at the end. */
struct err_rec {
	size_t inst, kw, abs, msg;
};

struct eddy_jsonschema_set {
	struct eddy_jsonschema_opts opts;
	struct arena_chunk *arena;
	struct eddy_json_doc *parser;
	struct regex_link *regexes;      /* every compiled regex, freed with the set */
	struct eddy_hashmap resources;   /* absolute URI without fragment -> resource */
	struct eddy_hashmap nodes;       /* JSON value of the schema (pointer) -> node */
	struct eddy_jsonschema *pending; /* nodes to compile */
	struct eddy_jsonschema *batch;   /* nodes compiled by this add or lookup */
	unsigned n_generated;
	unsigned meta_depth; /* custom meta-schemas being looked up */
	bool oom;            /* an allocation of this add or lookup failed */

	/* the last validation's errors */
	struct err_rec *recs;
	struct eddy_jsonschema_error *errors;
	size_t n_errors, cap_errors;
	char *text;
	size_t text_len, text_cap;
	/* locations while collecting errors */
	char *ipath, *kpath;
	size_t ipath_len, ipath_cap, kpath_len, kpath_cap;
	/* the one error of a validation that ran out of memory or steps */
	struct eddy_jsonschema_error no_answer;
	char no_answer_msg[96];
	bool over_budget; /* of the last validation */
};

/* The files of the validator call each other downwards only, never back:
 * jsonschema.c (adding and looking up) uses jsonschema_load.c and
 * jsonschema_compile.c; compiling uses loading; jsonschema_validate.c
 * stands apart. Below them all: jsonschema_uri.c, which uses only
 * jsonschema_set.c, and jsonschema_set.c and jsonschema_output.c, which use
 * no other part. */

/* jsonschema_set.c: the set's memory. Everything a set allocates for its
 * schemas lives in its arena until the set goes. An allocation that fails
 * returns NULL (-1) and marks the call in set->oom. */
void *eddy_jsonschema_alloc(struct eddy_jsonschema_set *set, size_t size);
char *eddy_jsonschema_strndup(struct eddy_jsonschema_set *set, const char *s, size_t len);
char *eddy_jsonschema_strdup(struct eddy_jsonschema_set *set, const char *s);
/* The set frees re with itself; -1 (re freed now) when out of memory. */
int eddy_jsonschema_keep_regex(struct eddy_jsonschema_set *set, struct eddy_regex *re);
/* eddy_hashmap_put into one of the set's maps (set->resources, set->nodes),
 * marking set->oom when it fails; keys are set memory, so they live as long
 * as the map. Look-ups are plain eddy_hashmap_get. */
int eddy_jsonschema_map_put(struct eddy_jsonschema_set *set, struct eddy_hashmap *m,
                            const void *key, void *val);

/* jsonschema_uri.c: ref resolved against base (RFC 3986 section 5.2) into
 * the set's memory; NULL when out of memory. */
char *eddy_jsonschema_uri_resolve(struct eddy_jsonschema_set *set, const char *base,
                                  const char *ref);

/* jsonschema_output.c: v as JSON text in buf, "..." where it is cut. */
void eddy_jsonschema_snippet(char *buf, size_t size, const struct eddy_json *v);

/* jsonschema_load.c: documents, their resources, anchors and nodes. */
/* Parses a document retrieved from uri (no fragment) and registers it;
 * NULL with errstr. */
struct schema_resource *eddy_jsonschema_load(struct eddy_jsonschema_set *set, const char *text,
                                             size_t len, const char *uri, char *errstr,
                                             size_t errstr_size);
/* The node a reference (absolute URI, fragment allowed) points to, loading
 * documents through the resolver; NULL with errstr. */
struct eddy_jsonschema *eddy_jsonschema_find(struct eddy_jsonschema_set *set, const char *uri,
                                             char *errstr, size_t errstr_size);
/* The node of the schema value v found under parent (registering it when
 * it is new); NULL when out of memory. */
struct eddy_jsonschema *eddy_jsonschema_node_at(struct eddy_jsonschema_set *set,
                                                struct eddy_jsonschema *parent,
                                                const struct eddy_json *v, const char *key,
                                                size_t key_len);

/* jsonschema_compile.c: compiles every pending node; -1 with errstr. */
int eddy_jsonschema_compile_pending(struct eddy_jsonschema_set *set, char *errstr,
                                    size_t errstr_size);
/* Ends an add or lookup: when it failed, every node it compiled and every
 * node still pending is broken for good (see NODE_*). */
void eddy_jsonschema_compile_end(struct eddy_jsonschema_set *set, bool failed);

/* jsonschema_meta.c: the text of a built-in meta-schema by its URI
 * (fragment-less), or NULL. */
const char *eddy_jsonschema_meta_text(const char *uri, size_t *len);

#endif
