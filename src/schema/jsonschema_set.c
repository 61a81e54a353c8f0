/* jsonschema_set.c - a schema set and its memory: the arena that holds
 * every compiled schema until the set goes, putting into the maps that find
 * resources and nodes, and the compiled regexes the set frees. A leaf: it
 * calls no other part of the validator. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "jsonschema_int.h"

/* ---- the arena ---- */

struct arena_chunk {
	struct arena_chunk *next;
	size_t size, used;
	max_align_t data[];
};

#define ARENA_CHUNK (32 * 1024)

void *eddy_jsonschema_alloc(struct eddy_jsonschema_set *set, size_t size)
{
	struct arena_chunk *c = set->arena;

	size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (c && c->size - c->used >= size) {
		/* a test may fail this one too (alloc.h) */
		if (eddy_alloc_fails()) {
			set->oom = true;
			return NULL;
		}
	} else {
		size_t cap = size > ARENA_CHUNK / 4 ? size : ARENA_CHUNK;

		/* Schemas are compiled mid-stream too (registry schemas, new
		 * dataschema URIs): no memory fails the call, not the process. */
		if (!(c = eddy_alloc_malloc(sizeof(*c) + cap))) {
			set->oom = true;
			return NULL;
		}
		c->size = cap;
		c->used = 0;
		/* A big block goes behind the current one, which keeps its room. */
		if (set->arena && cap != ARENA_CHUNK) {
			c->next = set->arena->next;
			set->arena->next = c;
		} else {
			c->next = set->arena;
			set->arena = c;
		}
	}
	void *p = (char *)c->data + c->used;
	c->used += size;
	memset(p, 0, size);
	return p;
}

char *eddy_jsonschema_strndup(struct eddy_jsonschema_set *set, const char *s, size_t len)
{
	char *d = eddy_jsonschema_alloc(set, len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = 0;
	}
	return d;
}

char *eddy_jsonschema_strdup(struct eddy_jsonschema_set *set, const char *s)
{
	return eddy_jsonschema_strndup(set, s, strlen(s));
}

/* Compiled regexes own memory outside the arena; the set keeps a list of
 * them, whatever becomes of the nodes that use them. */
struct regex_link {
	struct eddy_regex *re;
	struct regex_link *next;
};

int eddy_jsonschema_keep_regex(struct eddy_jsonschema_set *set, struct eddy_regex *re)
{
	struct regex_link *l = eddy_jsonschema_alloc(set, sizeof(*l));

	if (!l) {
		eddy_regex_free(re);
		return -1;
	}
	l->re = re;
	l->next = set->regexes;
	set->regexes = l;
	return 0;
}

/* ---- maps ---- */

int eddy_jsonschema_map_put(struct eddy_jsonschema_set *set, struct eddy_hashmap *m,
                            const void *key, void *val)
{
	if (eddy_hashmap_put(m, key, val) == 0)
		return 0;
	set->oom = true;
	return -1;
}

/* ---- the set ---- */

struct eddy_jsonschema_set *eddy_jsonschema_set_new(const struct eddy_jsonschema_opts *opts)
{
	struct eddy_jsonschema_set *set = eddy_alloc_calloc(1, sizeof(*set));

	if (!set)
		return NULL;
	eddy_hashmap_init(&set->resources, EDDY_HASHMAP_STRINGS);
	eddy_hashmap_init(&set->nodes, EDDY_HASHMAP_POINTERS);
	if (opts)
		set->opts = *opts;
	if (!set->opts.max_errors)
		set->opts.max_errors = 10;
	set->parser = eddy_json_doc_new();
	set->ipath_cap = set->kpath_cap = 256;
	set->ipath = eddy_alloc_calloc(1, set->ipath_cap);
	set->kpath = eddy_alloc_calloc(1, set->kpath_cap);
	if (!set->parser || !set->ipath || !set->kpath) {
		eddy_jsonschema_set_destroy(set);
		return NULL;
	}
	return set;
}

void eddy_jsonschema_set_destroy(struct eddy_jsonschema_set *set)
{
	if (!set)
		return;
	for (struct regex_link *l = set->regexes; l; l = l->next)
		eddy_regex_free(l->re);
	while (set->arena) {
		struct arena_chunk *c = set->arena;

		set->arena = c->next;
		free(c);
	}
	eddy_json_doc_destroy(set->parser);
	eddy_hashmap_clear(&set->resources);
	eddy_hashmap_clear(&set->nodes);
	free(set->recs);
	free(set->errors);
	free(set->text);
	free(set->ipath);
	free(set->kpath);
	free(set);
}
