/* text.h - small text helpers shared across modules (escapes, URIs, copies). */
#ifndef EDDY_TEXT_H
#define EDDY_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* A NUL-terminated copy of s[0..len) (which may hold NULs), or NULL when
 * out of memory. */
static inline char *eddy_memdup0(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

/* Strings kept one after another in one buffer, each NUL-terminated and
 * addressed by its offset (the buffer moves as it grows). Zeroed is empty. */
struct eddy_strings {
	char *s;
	size_t len, cap;
};

/* Appends s[0..n) (which may hold NULs) and a NUL; returns its offset, or
 * SIZE_MAX when out of memory. */
static inline size_t eddy_strings_put(struct eddy_strings *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		while (cap < t->len + n + 1)
			cap *= 2;
		char *b = eddy_alloc_realloc(t->s, cap);
		if (!b)
			return SIZE_MAX;
		t->s = b;
		t->cap = cap;
	}
	size_t at = t->len;
	if (n)
		memcpy(t->s + at, s, n);
	t->s[at + n] = '\0';
	t->len += n + 1;
	return at;
}

/* Empties t; a buffer one big batch grew past keep bytes is given back. */
static inline void eddy_strings_clear(struct eddy_strings *t, size_t keep)
{
	t->len = 0;
	if (t->cap > keep) {
		free(t->s);
		t->s = NULL;
		t->cap = 0;
	}
}

/* The value of hex digit c, or -1. */
static inline int eddy_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..n) into out (room for n + 1 bytes), NUL-terminated;
 * a '%' not followed by two hex digits stays as it is. Returns the decoded
 * length, which is below strlen(out) only when the text held %00. */
static inline size_t eddy_pct_decode(const char *s, size_t n, char *out)
{
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		int hi = i + 2 < n ? eddy_hexval((unsigned char)s[i + 1]) : -1;
		int lo = hi >= 0 ? eddy_hexval((unsigned char)s[i + 2]) : -1;

		if (s[i] == '%' && lo >= 0) {
			out[j++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[j++] = s[i];
		}
	}
	out[j] = '\0';
	return j;
}

/* A list of string pairs (URI and file, name and text), grown one at a
 * time; both strings owned. */
struct eddy_text_pair {
	char *a, *b;
};

/* Appends copies of a and b to *v (*n of them); -1 when out of memory. */
static inline int eddy_text_pair_push(struct eddy_text_pair **v, size_t *n, const char *a,
                                      const char *b)
{
	struct eddy_text_pair *p = (struct eddy_text_pair *)realloc(*v, (*n + 1) * sizeof **v);
	if (!p)
		return -1;
	*v = p;
	p[*n].a = strdup(a);
	p[*n].b = strdup(b);
	if (!p[*n].a || !p[*n].b) {
		free(p[*n].a);
		free(p[*n].b);
		return -1;
	}
	(*n)++;
	return 0;
}

static inline void eddy_text_pairs_free(struct eddy_text_pair *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].a);
		free(v[i].b);
	}
	free(v);
}

#endif
