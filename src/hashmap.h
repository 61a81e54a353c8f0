/* hashmap.h - a hash map to void * values from NUL-terminated strings, or
 * from pointers compared by address (open addressing, linear probing,
 * FNV-1a). It borrows its keys and values; it owns only its table, which
 * it allocates through alloc.h so that a test can make a put run out of
 * memory. */
#ifndef EDDY_HASHMAP_H
#define EDDY_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* FNV-1a, 64 bits, over n bytes of p, continuing from h: start from
 * EDDY_FNV1A_INIT, feed parts one after another. */
#define EDDY_FNV1A_INIT 1469598103934665603ULL
static inline uint64_t eddy_fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ULL;
	return h;
}

enum eddy_hashmap_keys {
	EDDY_HASHMAP_STRINGS,  /* keys are strings, equal when strcmp says so */
	EDDY_HASHMAP_POINTERS, /* keys are any pointers, equal when the same */
};

struct eddy_hashmap_ent {
	const void *key; /* NULL: a free slot */
	void *val;
};

/* An empty map from eddy_hashmap_init, or zeroed memory for a string map
 * (a map lives inside its owner's struct). */
struct eddy_hashmap {
	struct eddy_hashmap_ent *v;
	size_t cap, n;
	enum eddy_hashmap_keys keys;
};

void eddy_hashmap_init(struct eddy_hashmap *m, enum eddy_hashmap_keys keys);

/* key's value, or NULL when key is not in m. */
void *eddy_hashmap_get(const struct eddy_hashmap *m, const void *key);

/* Sets key (not NULL; borrowed while m holds it) to val (not NULL),
 * replacing the value it had. Returns 0, or -1 when the table could not
 * grow, with m as it was. */
int eddy_hashmap_put(struct eddy_hashmap *m, const void *key, void *val);

/* Steps through the entries in no particular order, from *i = 0: true with
 * the next key and value (either pointer may be NULL when not wanted),
 * false past the last. m must not change meanwhile. */
bool eddy_hashmap_next(const struct eddy_hashmap *m, size_t *i, const void **key, void **val);

/* Frees the table (keys and values stay their owners'); m is empty and
 * can be used again. */
void eddy_hashmap_clear(struct eddy_hashmap *m);

#endif
