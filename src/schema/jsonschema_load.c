/* jsonschema_load.c - schema documents: their dialect and vocabularies,
 * the resources, anchors and subschemas they hold, and finding any of them
 * by URI, loading documents through the resolver when needed. Calls only
 * the leaves (set, URIs) and the built-in meta-schemas. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema_int.h"
#include "log.h"
#include "text.h"

/* ---- dialects ---- */

static const struct {
	const char *name;
	const char *uri;
	enum eddy_jsonschema_dialect d;
} dialects[] = {
    {"draft-04", "http://json-schema.org/draft-04/schema", EDDY_JSONSCHEMA_DRAFT4},
    {"draft-06", "http://json-schema.org/draft-06/schema", EDDY_JSONSCHEMA_DRAFT6},
    {"draft-07", "http://json-schema.org/draft-07/schema", EDDY_JSONSCHEMA_DRAFT7},
    {"2019-09", "https://json-schema.org/draft/2019-09/schema", EDDY_JSONSCHEMA_2019_09},
    {"2020-12", "https://json-schema.org/draft/2020-12/schema", EDDY_JSONSCHEMA_2020_12},
};

int eddy_jsonschema_dialect_parse(const char *name)
{
	size_t n;

	if (!name)
		return -1;
	/* "…/schema#" and "…/schema" name the same dialect, over http or https */
	n = strlen(name);
	if (n && name[n - 1] == '#')
		n--;
	for (size_t i = 0; i < sizeof(dialects) / sizeof(dialects[0]); i++) {
		const char *u = dialects[i].uri, *a = strchr(u, ':'), *b = strchr(name, ':');

		if (strlen(dialects[i].name) == n && memcmp(dialects[i].name, name, n) == 0)
			return (int)dialects[i].d;
		if (b && strlen(a) == (size_t)(name + n - b) && memcmp(a, b, strlen(a)) == 0)
			return (int)dialects[i].d;
	}
	return -1;
}

const char *eddy_jsonschema_dialect_name(enum eddy_jsonschema_dialect d)
{
	for (size_t i = 0; i < sizeof(dialects) / sizeof(dialects[0]); i++)
		if (dialects[i].d == d)
			return dialects[i].name;
	return "unknown";
}

/* Percent-decodes s[0..n) into the set's memory; NULL when out of memory. */
static char *pct_decode(struct eddy_jsonschema_set *set, const char *s, size_t n, size_t *out_len)
{
	char *d = eddy_jsonschema_alloc(set, n + 1);

	if (d)
		*out_len = eddy_pct_decode(s, n, d);
	return d;
}

/* ---- registering resources, anchors and subschemas ---- */

static struct schema_resource *resource_new(struct eddy_jsonschema_set *set, const char *uri,
                                            enum eddy_jsonschema_dialect d)
{
	struct schema_resource *r = eddy_jsonschema_alloc(set, sizeof(*r));

	if (!r || !(r->uri = eddy_jsonschema_strdup(set, uri)))
		return NULL;
	r->dialect = d;
	r->vocabs = VOCAB_ALL;
	return eddy_jsonschema_map_put(set, &set->resources, r->uri, r) == 0 ? r : NULL;
}

/* A pointer token escaped for a URI fragment: "~" "/" as ~0 ~1, and
 * bytes a fragment cannot hold percent-encoded. */
static char *child_ptr(struct eddy_jsonschema_set *set, const char *parent, const char *key,
                       size_t len)
{
	size_t pl = strlen(parent);
	char *d = eddy_jsonschema_alloc(set, pl + 2 + len * 3), *o;

	if (!d)
		return NULL;
	memcpy(d, parent, pl);
	o = d + pl;
	*o++ = '/';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c == '~') {
			*o++ = '~', *o++ = '0';
		} else if (c == '/') {
			*o++ = '~', *o++ = '1';
		} else if (c <= ' ' || c >= 0x7f || strchr("\"%<>\\^`{|}#[]", c)) {
			o += sprintf(o, "%%%02X", c);
		} else {
			*o++ = (char)c;
		}
	}
	*o = 0;
	return d;
}

static struct eddy_jsonschema *node_new(struct eddy_jsonschema_set *set, const struct eddy_json *v,
                                        struct schema_resource *res, const char *ptr,
                                        enum eddy_jsonschema_dialect d, uint8_t vocabs)
{
	struct eddy_jsonschema *n = eddy_jsonschema_alloc(set, sizeof(*n));
	size_t ul = strlen(res->uri), pl = strlen(ptr);
	char *u = eddy_jsonschema_alloc(set, ul + pl + 2);

	if (!n || !u)
		return NULL;
	memcpy(u, res->uri, ul);
	if (pl) {
		u[ul] = '#';
		memcpy(u + ul + 1, ptr, pl + 1);
		n->ptr = u + ul + 1;
	} else {
		n->ptr = u + ul;
	}
	n->uri = u;
	n->json = v;
	n->res = res;
	n->dialect = d;
	n->vocabs = vocabs;
	/* registered once whole: found by its value, and to be compiled */
	if (eddy_jsonschema_map_put(set, &set->nodes, v, n) != 0)
		return NULL;
	n->next_pending = set->pending;
	set->pending = n;
	return n;
}

static int anchor_add(struct eddy_jsonschema_set *set, struct schema_resource *res,
                      const char *name, struct eddy_jsonschema *n, bool dynamic)
{
	struct schema_anchor *a = eddy_jsonschema_alloc(set, sizeof(*a));

	if (!a || !(a->name = eddy_jsonschema_strdup(set, name)))
		return -1;
	a->schema = n;
	a->dynamic = dynamic;
	a->next = res->anchors;
	res->anchors = a;
	return 0;
}

static const char *const sub_one[] = {
    "additionalItems",
    "additionalProperties",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
    "items",
};
static const char *const sub_list[] = {"allOf", "anyOf", "oneOf", "items", "prefixItems"};
static const char *const sub_map[] = {
    "properties", "patternProperties", "definitions", "$defs", "dependentSchemas", "dependencies",
};

static struct eddy_jsonschema *scan(struct eddy_jsonschema_set *set, const struct eddy_json *v,
                                    struct schema_resource *res, const char *ptr,
                                    enum eddy_jsonschema_dialect d, uint8_t vocabs);

/* Registers the subschema c found at at/key under n; -1 when out of
 * memory. */
static int scan_at(struct eddy_jsonschema_set *set, const struct eddy_jsonschema *n, const char *at,
                   const char *key, size_t key_len, const struct eddy_json *c)
{
	const char *p = child_ptr(set, at, key, key_len);

	return p && scan(set, c, n->res, p, n->dialect, n->vocabs) ? 0 : -1;
}

static int scan_children(struct eddy_jsonschema_set *set, struct eddy_jsonschema *n)
{
	const struct eddy_json *v = n->json;

	for (uint32_t i = 0; i < v->len; i++) {
		const struct eddy_json_member *m = &v->u.members[i];
		const struct eddy_json *c = &m->value;
		const char *p;

		for (size_t k = 0; k < sizeof(sub_one) / sizeof(sub_one[0]); k++)
			if (strcmp(m->key, sub_one[k]) == 0 &&
			    (c->type == EDDY_JSON_OBJECT || c->type == EDDY_JSON_TRUE ||
			     c->type == EDDY_JSON_FALSE) &&
			    scan_at(set, n, n->ptr, m->key, m->key_len, c))
				return -1;
		for (size_t k = 0; k < sizeof(sub_list) / sizeof(sub_list[0]); k++) {
			if (strcmp(m->key, sub_list[k]) != 0 || c->type != EDDY_JSON_ARRAY)
				continue;
			if (!(p = child_ptr(set, n->ptr, m->key, m->key_len)))
				return -1;
			for (uint32_t j = 0; j < c->len; j++) {
				char idx[16];

				snprintf(idx, sizeof(idx), "%u", j);
				if (scan_at(set, n, p, idx, strlen(idx), &c->u.items[j]))
					return -1;
			}
		}
		for (size_t k = 0; k < sizeof(sub_map) / sizeof(sub_map[0]); k++) {
			if (strcmp(m->key, sub_map[k]) != 0 || c->type != EDDY_JSON_OBJECT)
				continue;
			if (!(p = child_ptr(set, n->ptr, m->key, m->key_len)))
				return -1;
			for (uint32_t j = 0; j < c->len; j++) {
				const struct eddy_json_member *e = &c->u.members[j];

				if (e->value.type == EDDY_JSON_ARRAY)
					continue; /* dependencies: required names */
				if (scan_at(set, n, p, e->key, e->key_len, &e->value))
					return -1;
			}
		}
	}
	return 0;
}

/* draft-04 spells $id "id" */
static const struct eddy_json *id_member(const struct eddy_json *v, enum eddy_jsonschema_dialect d)
{
	return d == EDDY_JSONSCHEMA_DRAFT4 ? eddy_json_getz(v, "id") : eddy_json_getz(v, "$id");
}

/* The vocabulary URIs of 2019-09 and 2020-12 and the keywords they bring. */
static const struct {
	const char *uri;
	uint8_t vocabs;
} vocab_uris[] = {
    {"https://json-schema.org/draft/2019-09/vocab/core", 0},
    {"https://json-schema.org/draft/2019-09/vocab/applicator",
     VOCAB_APPLICATOR | VOCAB_UNEVALUATED},
    {"https://json-schema.org/draft/2019-09/vocab/validation", VOCAB_VALIDATION},
    {"https://json-schema.org/draft/2019-09/vocab/meta-data", 0},
    {"https://json-schema.org/draft/2019-09/vocab/format", VOCAB_FORMAT},
    {"https://json-schema.org/draft/2019-09/vocab/content", 0},
    {"https://json-schema.org/draft/2020-12/vocab/core", 0},
    {"https://json-schema.org/draft/2020-12/vocab/applicator", VOCAB_APPLICATOR},
    {"https://json-schema.org/draft/2020-12/vocab/unevaluated", VOCAB_UNEVALUATED},
    {"https://json-schema.org/draft/2020-12/vocab/validation", VOCAB_VALIDATION},
    {"https://json-schema.org/draft/2020-12/vocab/meta-data", 0},
    {"https://json-schema.org/draft/2020-12/vocab/format-annotation", VOCAB_FORMAT},
    {"https://json-schema.org/draft/2020-12/vocab/format-assertion",
     VOCAB_FORMAT | VOCAB_FORMAT_ASSERT},
    {"https://json-schema.org/draft/2020-12/vocab/content", 0},
};

/* What a $schema naming no dialect of ours means: the meta-schema is
 * loaded (built in or through the resolver), its own dialect is the one
 * the schema is written in, and its "$vocabulary" says which keywords count.
 * False when it cannot be loaded: the schema keeps the dialect it has, as
 * it always did. An unknown vocabulary the meta-schema requires lands in
 * *bad, for the compiler to refuse the schema. */
static bool meta_vocabs(struct eddy_jsonschema_set *set, const char *meta_uri,
                        enum eddy_jsonschema_dialect *d, uint8_t *vocabs, const char **bad)
{
	char err[256];
	struct eddy_jsonschema *m;
	const struct eddy_json *voc;

	/* a meta-schema described by itself, or a loop of them, stops here */
	if (!meta_uri || set->meta_depth >= 8)
		return false;
	set->meta_depth++;
	m = eddy_jsonschema_find(set, meta_uri, err, sizeof(err));
	set->meta_depth--;
	if (!m || m->json->type != EDDY_JSON_OBJECT)
		return false;
	*d = m->dialect;
	*vocabs = VOCAB_ALL;
	voc = eddy_json_getz(m->json, "$vocabulary");
	if (m->dialect < EDDY_JSONSCHEMA_2019_09 || !voc || voc->type != EDDY_JSON_OBJECT)
		return true;
	*vocabs = 0;
	for (uint32_t i = 0; i < voc->len; i++) {
		const struct eddy_json_member *e = &voc->u.members[i];
		size_t k = 0, n = sizeof(vocab_uris) / sizeof(vocab_uris[0]);

		while (k < n && strcmp(e->key, vocab_uris[k].uri) != 0)
			k++;
		if (k < n)
			*vocabs |= vocab_uris[k].vocabs;
		else if (e->value.type == EDDY_JSON_TRUE && !*bad)
			*bad = e->key;
	}
	return true;
}

/* Registers the schema at v (and every subschema under it): a node, and for
 * an $id a resource, for $anchor and friends an anchor. Returns the node, or
 * NULL when out of memory (set->oom). */
static struct eddy_jsonschema *scan(struct eddy_jsonschema_set *set, const struct eddy_json *v,
                                    struct schema_resource *res, const char *ptr,
                                    enum eddy_jsonschema_dialect d, uint8_t vocabs)
{
	struct eddy_jsonschema *n = eddy_hashmap_get(&set->nodes, v);
	const struct eddy_json *id, *sch, *a;
	const char *frag_anchor = NULL, *bad_vocab = NULL;
	bool new_meta = false;

	if (!eddy_jsonschema_lost(n))
		return n;
	if (v->type != EDDY_JSON_OBJECT) {
		n = node_new(set, v, res, ptr, d, vocabs);
		if (n && !*ptr && !res->root)
			res->root = n;
		return n;
	}

	/* $schema may change the dialect where a resource starts */
	sch = eddy_json_getz(v, "$schema");
	id = id_member(v, d);
	if (eddy_json_str(sch) && (id || !*ptr)) {
		int nd = eddy_jsonschema_dialect_parse(sch->u.s);

		if (nd >= 0) {
			d = (enum eddy_jsonschema_dialect)nd;
			vocabs = VOCAB_ALL;
			new_meta = true;
		} else {
			const char *mu = eddy_jsonschema_uri_resolve(set, res->uri, sch->u.s);

			new_meta = meta_vocabs(set, mu, &d, &vocabs, &bad_vocab);
			/* not "cannot be loaded": the dialect would be wrong */
			if (set->oom)
				return NULL;
		}
		id = id_member(v, d);
	}
	/* Before 2019-09 a $ref makes every sibling, $id included, ignored. */
	if (d <= EDDY_JSONSCHEMA_DRAFT6 || d == EDDY_JSONSCHEMA_DRAFT7)
		if (eddy_json_getz(v, "$ref"))
			id = NULL;
	if (eddy_json_str(id)) {
		char *abs = eddy_jsonschema_uri_resolve(set, res->uri, id->u.s);
		char *hash = abs ? strchr(abs, '#') : NULL;

		if (!abs)
			return NULL;
		if (hash) {
			*hash = 0;
			frag_anchor = hash + 1;
		}
		if (strcmp(abs, res->uri) != 0 || !*ptr) {
			struct schema_resource *r = eddy_hashmap_get(&set->resources, abs);

			if ((!r || r->root) && !(r = resource_new(set, abs, d)))
				return NULL;
			res = r;
			ptr = "";
		}
	}
	if (!(n = node_new(set, v, res, ptr, d, vocabs)))
		return NULL;
	if (!*ptr) {
		res->root = n;
		res->dialect = d;
		res->vocabs = vocabs;
		if (new_meta)
			res->bad_vocab = bad_vocab;
	}
	if (frag_anchor && *frag_anchor && anchor_add(set, res, frag_anchor, n, false))
		return NULL;
	if (d >= EDDY_JSONSCHEMA_2019_09) {
		if (eddy_json_str(a = eddy_json_getz(v, "$anchor")) &&
		    anchor_add(set, res, a->u.s, n, false))
			return NULL;
		if (d == EDDY_JSONSCHEMA_2020_12 &&
		    eddy_json_str(a = eddy_json_getz(v, "$dynamicAnchor")) &&
		    anchor_add(set, res, a->u.s, n, true))
			return NULL;
		if (d == EDDY_JSONSCHEMA_2019_09 && !*ptr &&
		    (a = eddy_json_getz(v, "$recursiveAnchor")) && a->type == EDDY_JSON_TRUE)
			res->recursive_anchor = true;
	}
	return scan_children(set, n) == 0 ? n : NULL;
}

struct eddy_jsonschema *eddy_jsonschema_node_at(struct eddy_jsonschema_set *set,
                                                struct eddy_jsonschema *parent,
                                                const struct eddy_json *v, const char *key,
                                                size_t key_len)
{
	struct eddy_jsonschema *n = eddy_hashmap_get(&set->nodes, v);
	const char *p;

	if (!eddy_jsonschema_lost(n))
		return n;
	p = child_ptr(set, parent->ptr, key, key_len);
	return p ? scan(set, v, parent->res, p, parent->dialect, parent->vocabs) : NULL;
}

/* -1 when out of memory. */
static int copy_json(struct eddy_jsonschema_set *set, struct eddy_json *d,
                     const struct eddy_json *s)
{
	*d = *s;
	d->raw = NULL;
	d->raw_len = 0;
	switch (s->type) {
	case EDDY_JSON_STRING:
		return (d->u.s = eddy_jsonschema_strndup(set, s->u.s, s->len)) ? 0 : -1;
	case EDDY_JSON_ARRAY: {
		struct eddy_json *items = eddy_jsonschema_alloc(set, sizeof(*items) * (s->len + 1));

		if (!(d->u.items = items))
			return -1;
		for (uint32_t i = 0; i < s->len; i++)
			if (copy_json(set, &items[i], &s->u.items[i]))
				return -1;
		return 0;
	}
	case EDDY_JSON_OBJECT: {
		struct eddy_json_member *m = eddy_jsonschema_alloc(set, sizeof(*m) * (s->len + 1));

		if (!(d->u.members = m))
			return -1;
		for (uint32_t i = 0; i < s->len; i++) {
			m[i].key = eddy_jsonschema_strndup(set, s->u.members[i].key,
			                                   s->u.members[i].key_len);
			m[i].key_len = s->u.members[i].key_len;
			if (!m[i].key || copy_json(set, &m[i].value, &s->u.members[i].value))
				return -1;
		}
		return 0;
	}
	default:
		return 0;
	}
}

/* The set keeps its own copy of the tree. */
struct schema_resource *eddy_jsonschema_load(struct eddy_jsonschema_set *set, const char *text,
                                             size_t len, const char *uri, char *errstr,
                                             size_t errstr_size)
{
	char perr[200];
	const struct eddy_json *root = eddy_json_parse(set->parser, text, len, perr, sizeof(perr));
	struct eddy_json *copy;
	struct schema_resource *res;
	struct eddy_jsonschema *n;

	if (!root) {
		eddy_errf(errstr, errstr_size, "%s: %s", uri, perr);
		return NULL;
	}
	if (!(copy = eddy_jsonschema_alloc(set, sizeof(*copy))) || copy_json(set, copy, root) ||
	    !(res = resource_new(set, uri, set->opts.default_dialect)) ||
	    !(n = scan(set, copy, res, "", res->dialect, VOCAB_ALL)) ||
	    (n->res != res && eddy_jsonschema_map_put(set, &set->resources, res->uri, n->res))) {
		eddy_errf(errstr, errstr_size, "%s: out of memory", uri);
		return NULL;
	}
	return n->res;
}

/* Retrieves an unknown document: the built-in meta-schemas first, then the
 * resolver. */
static struct schema_resource *fetch(struct eddy_jsonschema_set *set, const char *uri, char *errstr,
                                     size_t errstr_size)
{
	size_t len = 0;
	const char *meta = eddy_jsonschema_meta_text(uri, &len);
	char *text = NULL, err[256] = "";
	struct schema_resource *res;

	if (meta)
		return eddy_jsonschema_load(set, meta, len, uri, errstr, errstr_size);
	if (!set->opts.resolve) {
		eddy_errf(errstr, errstr_size, "unknown schema \"%s\" (no resolver)", uri);
		return NULL;
	}
	if (set->opts.resolve(set->opts.resolve_ud, uri, &text, &len, err, sizeof(err)) != 0) {
		eddy_errf(errstr, errstr_size, "%s", err[0] ? err : "cannot resolve");
		free(text);
		return NULL;
	}
	res = eddy_jsonschema_load(set, text, len, uri, errstr, errstr_size);
	free(text);
	return res;
}

/* The value at the JSON pointer frag (percent-encoded, as in a URI) inside
 * a document; NULL when there is none or no memory for the tokens. */
static const struct eddy_json *walk_pointer(struct eddy_jsonschema_set *set,
                                            const struct eddy_json *v, const char *frag)
{
	size_t flen = 0;
	const char *p = pct_decode(set, frag, strlen(frag), &flen), *end = p + flen;

	if (!p)
		return NULL;
	while (p < end && v) {
		const char *q = ++p;
		char *tok, *t;

		while (q < end && *q != '/')
			q++;
		if (!(tok = t = eddy_jsonschema_alloc(set, (size_t)(q - p) + 1)))
			return NULL;
		for (; p < q; p++) {
			if (*p == '~' && p + 1 < q && (p[1] == '0' || p[1] == '1'))
				*t++ = *++p == '0' ? '~' : '/';
			else
				*t++ = *p;
		}
		if (v->type == EDDY_JSON_OBJECT) {
			v = eddy_json_get(v, tok, (size_t)(t - tok));
		} else if (v->type == EDDY_JSON_ARRAY) {
			char *e;
			unsigned long i = strtoul(tok, &e, 10);

			v = *tok && !*e && i < v->len ? &v->u.items[i] : NULL;
		} else {
			v = NULL;
		}
	}
	return v;
}

struct eddy_jsonschema *eddy_jsonschema_find(struct eddy_jsonschema_set *set, const char *uri,
                                             char *errstr, size_t errstr_size)
{
	const char *hash = strchr(uri, '#'), *frag = hash ? hash + 1 : "";
	char *base = eddy_jsonschema_strndup(set, uri, hash ? (size_t)(hash - uri) : strlen(uri));
	struct schema_resource *res = base ? eddy_hashmap_get(&set->resources, base) : NULL;
	struct eddy_jsonschema *n = NULL;

	if (!base)
		goto oom;
	if (res && eddy_jsonschema_lost(res->root))
		res = NULL; /* loaded again */
	if (!res && !(res = fetch(set, base, errstr, errstr_size)))
		return NULL;
	if (!res->root) {
		eddy_errf(errstr, errstr_size, "no schema at \"%s\"", base);
		return NULL;
	}
	if (!*frag)
		return res->root;
	if (*frag == '/') {
		const struct eddy_json *v = walk_pointer(set, res->root->json, frag);

		if (!v && set->oom)
			goto oom;
		if (!v) {
			eddy_errf(errstr, errstr_size, "no schema at \"%s\"", uri);
			return NULL;
		}
		n = eddy_hashmap_get(&set->nodes, v);
		if (eddy_jsonschema_lost(n) &&
		    !(n = scan(set, v, res, frag, res->dialect, res->vocabs)))
			goto oom;
		return n;
	}
	for (struct schema_anchor *a = res->anchors; a; a = a->next)
		if (strcmp(a->name, frag) == 0)
			return a->schema;
	eddy_errf(errstr, errstr_size, "no anchor \"%s\" in \"%s\"", frag, base);
	return NULL;
oom:
	eddy_errf(errstr, errstr_size, "%s: out of memory", uri);
	return NULL;
}
