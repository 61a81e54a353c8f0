/* hashmap.c - string- and pointer-keyed hash map (hashmap.h). */
#include "hashmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* The first table; it doubles whenever it would become more than half
 * full, which keeps probe runs short. */
#define FIRST_CAP 64

static size_t slot(const struct eddy_hashmap *m, const void *key)
{
	uint64_t h = m->keys == EDDY_HASHMAP_STRINGS
	                 ? eddy_fnv1a(EDDY_FNV1A_INIT, key, strlen(key))
	                 : eddy_fnv1a(EDDY_FNV1A_INIT, &key, sizeof(key));

	return (size_t)h & (m->cap - 1);
}

static bool same(const struct eddy_hashmap *m, const void *a, const void *b)
{
	return m->keys == EDDY_HASHMAP_STRINGS ? strcmp(a, b) == 0 : a == b;
}

void eddy_hashmap_init(struct eddy_hashmap *m, enum eddy_hashmap_keys keys)
{
	memset(m, 0, sizeof(*m));
	m->keys = keys;
}

void *eddy_hashmap_get(const struct eddy_hashmap *m, const void *key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = slot(m, key);; i = (i + 1) & (m->cap - 1)) {
		if (!m->v[i].key)
			return NULL;
		if (same(m, m->v[i].key, key))
			return m->v[i].val;
	}
}

/* Puts into a table with room. */
static void set(struct eddy_hashmap *m, const void *key, void *val)
{
	for (size_t i = slot(m, key);; i = (i + 1) & (m->cap - 1)) {
		if (!m->v[i].key) {
			m->v[i].key = key;
			m->v[i].val = val;
			m->n++;
			return;
		}
		if (same(m, m->v[i].key, key)) {
			m->v[i].val = val;
			return;
		}
	}
}

int eddy_hashmap_put(struct eddy_hashmap *m, const void *key, void *val)
{
	if ((m->n + 1) * 2 > m->cap) {
		struct eddy_hashmap old = *m;
		size_t cap = old.cap ? old.cap * 2 : FIRST_CAP;
		struct eddy_hashmap_ent *v = eddy_alloc_calloc(cap, sizeof(*v));

		if (!v)
			return -1;
		m->v = v;
		m->cap = cap;
		m->n = 0;
		for (size_t i = 0; i < old.cap; i++)
			if (old.v[i].key)
				set(m, old.v[i].key, old.v[i].val);
		free(old.v);
	}
	set(m, key, val);
	return 0;
}

bool eddy_hashmap_next(const struct eddy_hashmap *m, size_t *i, const void **key, void **val)
{
	for (; *i < m->cap; ++*i) {
		if (!m->v[*i].key)
			continue;
		if (key)
			*key = m->v[*i].key;
		if (val)
			*val = m->v[*i].val;
		++*i;
		return true;
	}
	return false;
}

void eddy_hashmap_clear(struct eddy_hashmap *m)
{
	free(m->v);
	m->v = NULL;
	m->cap = m->n = 0;
}
