/* jsonw.c - a JSON text writer: commas, escaping, a size cap. */
#include "jsonw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eddy_jsonw_init(struct eddy_jsonw *w, size_t max)
{
	memset(w, 0, sizeof *w);
	w->max = max ? max : (size_t)64 << 20;
	w->first[0] = true;
}

void eddy_jsonw_free(struct eddy_jsonw *w)
{
	free(w->p);
	w->p = NULL;
}

char *eddy_jsonw_take(struct eddy_jsonw *w, size_t *len)
{
	char *p = w->failed || w->depth ? NULL : w->p;
	if (!p) {
		eddy_jsonw_free(w);
		return NULL;
	}
	if (len)
		*len = w->len;
	w->p = NULL;
	return p;
}

static void put(struct eddy_jsonw *w, const char *s, size_t n)
{
	if (w->failed)
		return;
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap < w->len + n + 1)
			cap *= 2;
		char *p = w->len + n > w->max ? NULL : realloc(w->p, cap);
		if (!p) {
			w->failed = true;
			return;
		}
		w->p = p;
		w->cap = cap;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
	w->p[w->len] = '\0';
}

/* Before a value: the comma that separates it from the one before. */
static void value_start(struct eddy_jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (!w->first[w->depth])
		put(w, ",", 1);
	w->first[w->depth] = false;
}

static void open(struct eddy_jsonw *w, const char *c)
{
	value_start(w);
	if (w->depth + 1 >= EDDY_JSONW_MAX_DEPTH) {
		w->failed = true;
		return;
	}
	put(w, c, 1);
	w->first[++w->depth] = true;
	w->closer[w->depth] = *c == '{' ? '}' : ']';
}

void eddy_jsonw_object(struct eddy_jsonw *w)
{
	open(w, "{");
}

void eddy_jsonw_array(struct eddy_jsonw *w)
{
	open(w, "[");
}

void eddy_jsonw_end(struct eddy_jsonw *w)
{
	if (w->depth <= 0 || w->failed) {
		w->failed = true;
		return;
	}
	put(w, &w->closer[w->depth], 1);
	w->depth--;
}

static void escaped(struct eddy_jsonw *w, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	put(w, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *rep = NULL;
		char u[7];

		if (c == '"')
			rep = "\\\"";
		else if (c == '\\')
			rep = "\\\\";
		else if (c == '\n')
			rep = "\\n";
		else if (c == '\r')
			rep = "\\r";
		else if (c == '\t')
			rep = "\\t";
		else if (c < 0x20) {
			snprintf(u, sizeof u, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
			rep = u;
		}
		if (!rep)
			continue;
		put(w, s + run, i - run);
		put(w, rep, strlen(rep));
		run = i + 1;
	}
	put(w, s + run, len - run);
	put(w, "\"", 1);
}

void eddy_jsonw_key(struct eddy_jsonw *w, const char *key)
{
	value_start(w);
	escaped(w, key, strlen(key));
	put(w, ":", 1);
	w->after_key = true;
}

void eddy_jsonw_string(struct eddy_jsonw *w, const char *s, size_t len)
{
	value_start(w);
	escaped(w, s, len);
}

void eddy_jsonw_int(struct eddy_jsonw *w, int64_t v)
{
	char num[32];
	value_start(w);
	put(w, num, (size_t)snprintf(num, sizeof num, "%" PRId64, v));
}

void eddy_jsonw_raw(struct eddy_jsonw *w, const char *json, size_t len)
{
	value_start(w);
	put(w, json, len);
}

void eddy_jsonw_member(struct eddy_jsonw *w, const char *key, const char *s, size_t len)
{
	if (!s)
		return;
	eddy_jsonw_key(w, key);
	eddy_jsonw_string(w, s, len);
}
