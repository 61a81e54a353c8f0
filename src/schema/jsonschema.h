/* jsonschema.h - JSON Schema draft-04, -06, -07, 2019-09 and 2020-12.
 * Schema documents compile once into a set; a compiled schema then
 * validates parsed documents (struct eddy_json) without reading the schema
 * text again. A set and everything from it is used by one thread at a time. */
#ifndef EDDY_JSONSCHEMA_H
#define EDDY_JSONSCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "json.h"

/* draft-07 comes first: the zero value is the default dialect. */
enum eddy_jsonschema_dialect {
	EDDY_JSONSCHEMA_DRAFT7,
	EDDY_JSONSCHEMA_DRAFT4,
	EDDY_JSONSCHEMA_DRAFT6,
	EDDY_JSONSCHEMA_2019_09,
	EDDY_JSONSCHEMA_2020_12,
};

/* "draft-04", "draft-06", "draft-07", "2019-09", "2020-12", or a $schema
 * URI of one of them ("http://json-schema.org/draft-07/schema#",
 * "https://json-schema.org/draft/2020-12/schema"); -1 when unknown. */
int eddy_jsonschema_dialect_parse(const char *name);
/* "draft-07", "2020-12", ... */
const char *eddy_jsonschema_dialect_name(enum eddy_jsonschema_dialect d);

/* Gives the text of a schema document the set does not hold yet, by its
 * absolute URI without fragment. Returns 0 with a malloc'd text the set
 * frees, or -1 with a one-line reason in errstr. Nothing is fetched from the
 * network by the validator itself: the resolver decides (eddy maps URI
 * prefixes to folders). */
typedef int (*eddy_jsonschema_resolve_fn)(void *ud, const char *uri, char **text, size_t *len,
                                          char *errstr, size_t errstr_size);

struct eddy_jsonschema_opts {
	enum eddy_jsonschema_dialect default_dialect; /* of documents without $schema */
	bool format_assert;  /* "format" fails validation instead of annotating */
	unsigned max_errors; /* errors kept per validation; 0: 10 */
	/* Steps a validation may take to decide valid or not; 0: no limit.
	 * A step is a schema applied to a value, or an item that uniqueItems
	 * hashes or compares: schemas whose work grows exponentially with
	 * their nesting (oneOf of a $ref and its "not") are stopped, and the
	 * same instance always stops at the same step. Collecting the errors
	 * of an invalid instance may take as many steps again. */
	uint64_t max_steps;
	eddy_jsonschema_resolve_fn resolve; /* NULL: unknown URIs are errors */
	void *resolve_ud;
};

struct eddy_jsonschema_set;
struct eddy_jsonschema;

struct eddy_jsonschema_set *eddy_jsonschema_set_new(const struct eddy_jsonschema_opts *opts);
void eddy_jsonschema_set_destroy(struct eddy_jsonschema_set *set);

/* Adds one schema document (JSON text, any dialect above) retrieved from uri
 * (its base URI unless it has an $id; NULL when it has none: a generated
 * "urn:eddy:schema:N"), and compiles it together with everything it
 * references (loaded through resolve). Every $id, $anchor and
 * $dynamicAnchor inside becomes reachable through eddy_jsonschema_lookup.
 * Returns the compiled root, owned by the set, or NULL with a one-line
 * reason in errstr ("https://x/a.json: /properties/a/$ref: cannot resolve
 * \"b.json\": ..."). Adding a URI the set holds already returns that schema. */
const struct eddy_jsonschema *eddy_jsonschema_add(struct eddy_jsonschema_set *set, const char *text,
                                                  size_t len, const char *uri, char *errstr,
                                                  size_t errstr_size);

/* The schema or subschema at an absolute URI, fragment included
 * ("https://x/a.json", "...#/definitions/b", "...#anchor"), loading its
 * document through resolve when needed. NULL with errstr when unknown. */
const struct eddy_jsonschema *eddy_jsonschema_lookup(struct eddy_jsonschema_set *set,
                                                     const char *uri, char *errstr,
                                                     size_t errstr_size);

/* Its absolute URI (with a fragment for a subschema). */
const char *eddy_jsonschema_uri(const struct eddy_jsonschema *s);

/* One error of the "basic" output shape. */
struct eddy_jsonschema_error {
	const char *instance_location;         /* JSON pointer into the instance, "" for the root */
	const char *keyword_location;          /* JSON pointer through the schema as evaluated,
	                                          $ref included, e.g. "/properties/qty/minimum" */
	const char *absolute_keyword_location; /* URI of the failing keyword */
	const char *message;                   /* e.g. "-1 is less than the minimum of 0" */
};

struct eddy_jsonschema_result {
	bool valid;
	size_t n_errors;
	/* owned by the set, valid until its next validation */
	const struct eddy_jsonschema_error *errors;
};

/* Validates v against s. Returns true when valid. When not and r is
 * non-NULL, r gets up to max_errors errors, the most specific first
 * (leaf keywords before the applicators that contain them), or the one
 * error of a validation that ran out of memory or over max_steps. */
bool eddy_jsonschema_validate(struct eddy_jsonschema_set *set, const struct eddy_jsonschema *s,
                              const struct eddy_json *v, struct eddy_jsonschema_result *r);

/* Whether the set's last validation was stopped by opts.max_steps: it
 * was not valid, its one error says so, and nothing is known about the
 * instance. */
bool eddy_jsonschema_over_budget(const struct eddy_jsonschema_set *set);

/* Writes r as one line of JSON in the "basic" output shape:
 * {"valid":false,"errors":[{"keywordLocation":..,"absoluteKeywordLocation":..,
 * "instanceLocation":..,"error":..}]} */
void eddy_jsonschema_result_write_json(const struct eddy_jsonschema_result *r, FILE *out);

#endif
