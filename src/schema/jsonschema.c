/* jsonschema.c - the validator's entry points that change a set: adding a
 * document and looking a schema up, each loading what it needs
 * (jsonschema_load.c) and compiling it (jsonschema_compile.c) in one call
 * that either succeeds or leaves nothing half-made behind. The set itself
 * is in jsonschema_set.c, validation in jsonschema_validate.c. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "jsonschema_int.h"
#include "log.h"

/* Compiles what the call registered and ends it: n (the schema asked for),
 * or NULL with errstr. What a call loaded is compiled even when n is NULL
 * (its errors aside), so that every call ends with nothing pending. An
 * allocation that failed anywhere in the call fails it, even where a part
 * took it for "not found". */
static const struct eddy_jsonschema *finish(struct eddy_jsonschema_set *set,
                                            struct eddy_jsonschema *n, const char *uri,
                                            char *errstr, size_t errstr_size)
{
	char err[512];
	bool failed = !set->oom && eddy_jsonschema_compile_pending(
	                               set, n ? errstr : err, n ? errstr_size : sizeof(err)) != 0;

	if (set->oom) {
		eddy_errf(errstr, errstr_size, "%s: out of memory", uri);
		failed = true;
	}
	eddy_jsonschema_compile_end(set, failed);
	if (failed || !n)
		return NULL;
	if (n->state != NODE_DONE) {
		eddy_errf(errstr, errstr_size, "%s: schema failed to compile earlier", uri);
		return NULL;
	}
	return n;
}

const struct eddy_jsonschema *eddy_jsonschema_add(struct eddy_jsonschema_set *set, const char *text,
                                                  size_t len, const char *uri, char *errstr,
                                                  size_t errstr_size)
{
	struct schema_resource *res = NULL;
	char gen[64], *base;

	set->oom = false;
	if (!uri) {
		snprintf(gen, sizeof(gen), "urn:eddy:schema:%u", ++set->n_generated);
		uri = gen;
	}
	if ((base = eddy_jsonschema_uri_resolve(set, uri, "")) &&
	    ((res = eddy_hashmap_get(&set->resources, base)) == NULL ||
	     eddy_jsonschema_lost(res->root)))
		res = eddy_jsonschema_load(set, text, len, base, errstr, errstr_size);
	return finish(set, res ? res->root : NULL, base ? base : uri, errstr, errstr_size);
}

const struct eddy_jsonschema *eddy_jsonschema_lookup(struct eddy_jsonschema_set *set,
                                                     const char *uri, char *errstr,
                                                     size_t errstr_size)
{
	struct eddy_jsonschema *n;

	set->oom = false;
	n = eddy_jsonschema_find(set, uri, errstr, errstr_size);
	return finish(set, n, uri, errstr, errstr_size);
}

const char *eddy_jsonschema_uri(const struct eddy_jsonschema *s)
{
	return s->uri;
}
