/* jsonschema_output.c - schema values and results as text: the short
 * JSON snippets of error messages, and the "basic" output shape. A leaf. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema_int.h"

/* Writes s as JSON string contents (no quotes) into o, at most room bytes;
 * room when it does not fit. */
static size_t escape_json(char *o, size_t room, const char *s, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char tmp[8];
		const char *e = tmp;
		size_t el;

		if (c == '"' || c == '\\') {
			tmp[0] = '\\', tmp[1] = (char)c, tmp[2] = 0;
		} else if (c == '\n') {
			e = "\\n";
		} else if (c == '\t') {
			e = "\\t";
		} else if (c == '\r') {
			e = "\\r";
		} else if (c < 0x20) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", c);
		} else {
			tmp[0] = (char)c, tmp[1] = 0;
		}
		el = strlen(e);
		if (w + el >= room)
			return room; /* no room: caller marks the cut */
		memcpy(o + w, e, el);
		w += el;
	}
	return w;
}

struct sbuf {
	char *s;
	size_t size, len;
	bool cut;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->cut)
		return;
	if (b->len + n >= b->size) {
		b->cut = true;
		return;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

static void sb_str(struct sbuf *b, const char *s, size_t n)
{
	size_t w;

	sb_put(b, "\"", 1);
	if (b->cut)
		return;
	w = escape_json(b->s + b->len, b->size - b->len, s, n);
	if (w >= b->size - b->len) {
		b->cut = true;
		return;
	}
	b->len += w;
	b->s[b->len] = 0;
	sb_put(b, "\"", 1);
}

static void sb_json(struct sbuf *b, const struct eddy_json *v)
{
	char num[40];

	switch (v->type) {
	case EDDY_JSON_NULL:
		sb_put(b, "null", 4);
		break;
	case EDDY_JSON_TRUE:
		sb_put(b, "true", 4);
		break;
	case EDDY_JSON_FALSE:
		sb_put(b, "false", 5);
		break;
	case EDDY_JSON_INT:
		sb_put(b, num, (size_t)snprintf(num, sizeof(num), "%lld", (long long)v->u.i));
		break;
	case EDDY_JSON_DOUBLE:
		sb_put(b, num, (size_t)snprintf(num, sizeof(num), "%.17g", v->u.d));
		break;
	case EDDY_JSON_STRING:
		sb_str(b, v->u.s, v->len);
		break;
	case EDDY_JSON_ARRAY:
		sb_put(b, "[", 1);
		for (uint32_t i = 0; i < v->len && !b->cut; i++) {
			if (i)
				sb_put(b, ",", 1);
			sb_json(b, &v->u.items[i]);
		}
		sb_put(b, "]", 1);
		break;
	case EDDY_JSON_OBJECT:
		sb_put(b, "{", 1);
		for (uint32_t i = 0; i < v->len && !b->cut; i++) {
			if (i)
				sb_put(b, ",", 1);
			sb_str(b, v->u.members[i].key, v->u.members[i].key_len);
			sb_put(b, ":", 1);
			sb_json(b, &v->u.members[i].value);
		}
		sb_put(b, "}", 1);
		break;
	}
}

void eddy_jsonschema_snippet(char *buf, size_t size, const struct eddy_json *v)
{
	struct sbuf b = {buf, size > 4 ? size - 4 : 0, 0, false};

	if (size < 8) {
		if (size)
			buf[0] = 0;
		return;
	}
	buf[0] = 0;
	sb_json(&b, v);
	if (v->type == EDDY_JSON_DOUBLE) {
		/* the shortest text that reads back the same */
		for (int prec = 1; prec <= 17; prec++) {
			char t[40];

			snprintf(t, sizeof(t), "%.*g", prec, v->u.d);
			if (strtod(t, NULL) == v->u.d) {
				snprintf(buf, size, "%s", t);
				break;
			}
		}
	}
	if (b.cut)
		strcpy(buf + b.len, "...");
}

static void write_str(FILE *out, const char *s)
{
	char buf[512];
	size_t n = strlen(s);

	fputc('"', out);
	while (n) {
		size_t take = n > 64 ? 64 : n, w = escape_json(buf, sizeof(buf), s, take);

		fwrite(buf, 1, w, out);
		s += take;
		n -= take;
	}
	fputc('"', out);
}

void eddy_jsonschema_result_write_json(const struct eddy_jsonschema_result *r, FILE *out)
{
	fprintf(out, "{\"valid\":%s", r->valid ? "true" : "false");
	if (!r->valid) {
		fputs(",\"errors\":[", out);
		for (size_t i = 0; i < r->n_errors; i++) {
			const struct eddy_jsonschema_error *e = &r->errors[i];

			fputs(i ? ",{\"keywordLocation\":" : "{\"keywordLocation\":", out);
			write_str(out, e->keyword_location);
			fputs(",\"absoluteKeywordLocation\":", out);
			write_str(out, e->absolute_keyword_location);
			fputs(",\"instanceLocation\":", out);
			write_str(out, e->instance_location);
			fputs(",\"error\":", out);
			write_str(out, e->message);
			fputc('}', out);
		}
		fputc(']', out);
	}
	fputs("}\n", out);
}
