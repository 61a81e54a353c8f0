/* jsonschema.c - schema sets: loading documents, identifiers and URI
 * resolution, lookup, and the output of results. Compilation is in
 * jsonschema_compile.c, validation in jsonschema_validate.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema_int.h"
#include "log.h"
#include "text.h"

/* ---- memory: everything a set compiles lives until the set goes ---- */

struct arena_chunk {
	struct arena_chunk *next;
	size_t size, used;
	max_align_t data[];
};

#define ARENA_CHUNK (32 * 1024)

void *eddy_schema_alloc(struct eddy_schema_set *set, size_t size)
{
	struct arena_chunk *c = set->arena;

	size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (!c || c->size - c->used < size) {
		size_t cap = size > ARENA_CHUNK / 4 ? size : ARENA_CHUNK;

		c = malloc(sizeof(*c) + cap);
		if (!c) {
			/* The schema is set up at start-up: no memory is fatal there. */
			fprintf(stderr, "eddy: out of memory compiling a schema\n");
			abort();
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

char *eddy_schema_strndup(struct eddy_schema_set *set, const char *s, size_t len)
{
	char *d = eddy_schema_alloc(set, len + 1);

	memcpy(d, s, len);
	d[len] = 0;
	return d;
}

static char *xstrdup(struct eddy_schema_set *set, const char *s)
{
	return eddy_schema_strndup(set, s, strlen(s));
}

/* ---- hash maps ---- */

static uint64_t hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ULL;
	return h;
}

static void *smap_get(const struct smap *m, const char *key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = hash_bytes(key, strlen(key)) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->v[i].key)
			return NULL;
		if (strcmp(m->v[i].key, key) == 0)
			return m->v[i].val;
	}
}

/* key must live as long as the map (set memory). */
static void smap_put(struct smap *m, const char *key, void *val)
{
	if ((m->n + 1) * 2 > m->cap) {
		struct smap old = *m;

		m->cap = old.cap ? old.cap * 2 : 64;
		m->v = calloc(m->cap, sizeof(*m->v));
		if (!m->v)
			abort();
		m->n = 0;
		for (size_t i = 0; i < old.cap; i++)
			if (old.v[i].key)
				smap_put(m, old.v[i].key, old.v[i].val);
		free(old.v);
	}
	for (size_t i = hash_bytes(key, strlen(key)) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->v[i].key) {
			m->v[i].key = key;
			m->v[i].val = val;
			m->n++;
			return;
		}
		if (strcmp(m->v[i].key, key) == 0) {
			m->v[i].val = val;
			return;
		}
	}
}

static void *pmap_get(const struct pmap *m, const void *key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = hash_bytes(&key, sizeof(key)) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->v[i].key)
			return NULL;
		if (m->v[i].key == key)
			return m->v[i].val;
	}
}

static void pmap_put(struct pmap *m, const void *key, void *val)
{
	if ((m->n + 1) * 2 > m->cap) {
		struct pmap old = *m;

		m->cap = old.cap ? old.cap * 2 : 256;
		m->v = calloc(m->cap, sizeof(*m->v));
		if (!m->v)
			abort();
		m->n = 0;
		for (size_t i = 0; i < old.cap; i++)
			if (old.v[i].key)
				pmap_put(m, old.v[i].key, old.v[i].val);
		free(old.v);
	}
	for (size_t i = hash_bytes(&key, sizeof(key)) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->v[i].key) {
			m->v[i].key = key;
			m->v[i].val = val;
			m->n++;
			return;
		}
		if (m->v[i].key == key) {
			m->v[i].val = val;
			return;
		}
	}
}

/* ---- dialects ---- */

static const struct {
	const char *name;
	const char *uri;
	enum eddy_schema_dialect d;
} dialects[] = {
    {"draft-04", "http://json-schema.org/draft-04/schema", EDDY_DIALECT_DRAFT4},
    {"draft-06", "http://json-schema.org/draft-06/schema", EDDY_DIALECT_DRAFT6},
    {"draft-07", "http://json-schema.org/draft-07/schema", EDDY_DIALECT_DRAFT7},
    {"2019-09", "https://json-schema.org/draft/2019-09/schema", EDDY_DIALECT_2019_09},
    {"2020-12", "https://json-schema.org/draft/2020-12/schema", EDDY_DIALECT_2020_12},
};

int eddy_schema_dialect_parse(const char *name)
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

const char *eddy_schema_dialect_name(enum eddy_schema_dialect d)
{
	for (size_t i = 0; i < sizeof(dialects) / sizeof(dialects[0]); i++)
		if (dialects[i].d == d)
			return dialects[i].name;
	return "unknown";
}

/* ---- URIs (RFC 3986) ---- */

struct uri_parts {
	const char *scheme, *auth, *path, *query, *frag;
	size_t scheme_len, auth_len, path_len, query_len, frag_len;
	bool has_scheme, has_auth, has_query, has_frag;
};

static void uri_split(const char *s, struct uri_parts *u)
{
	const char *p = s;

	memset(u, 0, sizeof(*u));
	/* scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
	while (*p && !strchr(":/?#", *p))
		p++;
	if (*p == ':' && p > s) {
		u->has_scheme = true;
		u->scheme = s;
		u->scheme_len = (size_t)(p - s);
		s = p + 1;
	}
	if (s[0] == '/' && s[1] == '/') {
		u->has_auth = true;
		u->auth = s + 2;
		u->auth_len = strcspn(u->auth, "/?#");
		s = u->auth + u->auth_len;
	}
	u->path = s;
	u->path_len = strcspn(s, "?#");
	s += u->path_len;
	if (*s == '?') {
		u->has_query = true;
		u->query = s + 1;
		u->query_len = strcspn(u->query, "#");
		s = u->query + u->query_len;
	}
	if (*s == '#') {
		u->has_frag = true;
		u->frag = s + 1;
		u->frag_len = strlen(u->frag);
	}
}

/* RFC 3986 5.2.4, in place on a NUL-terminated path. */
static void remove_dot_segments(char *path)
{
	char *in = path, *out = path;

	while (*in) {
		if (strncmp(in, "../", 3) == 0) {
			in += 3;
		} else if (strncmp(in, "./", 2) == 0) {
			in += 2;
		} else if (strncmp(in, "/./", 3) == 0) {
			in += 2;
		} else if (strcmp(in, "/.") == 0) {
			in[1] = 0;
		} else if (strncmp(in, "/../", 4) == 0 || strcmp(in, "/..") == 0) {
			in += 3;
			if (*in == 0)
				*--in = '/';
			else
				in[0] = '/';
			while (out > path && *--out != '/')
				;
		} else if (strcmp(in, ".") == 0 || strcmp(in, "..") == 0) {
			break;
		} else {
			/* first segment of in, with its leading "/" if any */
			do
				*out++ = *in++;
			while (*in && *in != '/');
		}
	}
	*out = 0;
}

static void cat(char **p, const char *s, size_t n)
{
	memcpy(*p, s, n);
	*p += n;
}

char *eddy_schema_uri_resolve(struct eddy_schema_set *set, const char *base, const char *ref)
{
	struct uri_parts b, r;
	size_t cap = strlen(base) + strlen(ref) + 8;
	char *buf = malloc(cap), *o = buf, *path = malloc(cap), *res;

	if (!buf || !path)
		abort();
	uri_split(base, &b);
	uri_split(ref, &r);
	path[0] = 0;
	if (r.has_scheme) {
		b = r;
	} else if (r.has_auth) {
		b.auth = r.auth, b.auth_len = r.auth_len, b.has_auth = true;
		b.path = r.path, b.path_len = r.path_len;
		b.query = r.query, b.query_len = r.query_len, b.has_query = r.has_query;
	} else if (r.path_len == 0) {
		if (r.has_query)
			b.query = r.query, b.query_len = r.query_len, b.has_query = true;
	} else {
		if (r.path[0] == '/') {
			memcpy(path, r.path, r.path_len);
			path[r.path_len] = 0;
		} else {
			size_t keep = 0;

			if (b.has_auth && b.path_len == 0) {
				path[0] = '/';
				keep = 1;
			} else {
				for (size_t i = 0; i < b.path_len; i++)
					if (b.path[i] == '/')
						keep = i + 1;
				memcpy(path, b.path, keep);
			}
			memcpy(path + keep, r.path, r.path_len);
			path[keep + r.path_len] = 0;
		}
		b.path = path;
		b.path_len = strlen(path);
		b.query = r.query, b.query_len = r.query_len, b.has_query = r.has_query;
	}
	if (b.has_scheme) {
		cat(&o, b.scheme, b.scheme_len);
		cat(&o, ":", 1);
	}
	if (b.has_auth) {
		cat(&o, "//", 2);
		cat(&o, b.auth, b.auth_len);
	}
	{
		char *start = o;

		cat(&o, b.path, b.path_len);
		*o = 0;
		/* only hierarchical paths have dot segments */
		if (start[0] == '/' || b.has_auth)
			remove_dot_segments(start);
		o = start + strlen(start);
	}
	if (b.has_query) {
		cat(&o, "?", 1);
		cat(&o, b.query, b.query_len);
	}
	/* an empty fragment names the same resource as none */
	if (r.has_frag && r.frag_len) {
		cat(&o, "#", 1);
		cat(&o, r.frag, r.frag_len);
	}
	*o = 0;
	res = xstrdup(set, buf);
	free(buf);
	free(path);
	return res;
}

/* Percent-decodes s[0..n) into the set's memory. */
static char *pct_decode(struct eddy_schema_set *set, const char *s, size_t n, size_t *out_len)
{
	char *d = eddy_schema_alloc(set, n + 1);

	*out_len = eddy_pct_decode(s, n, d);
	return d;
}

/* ---- documents: registering resources, anchors and subschemas ---- */

static struct schema_resource *resource_new(struct eddy_schema_set *set, const char *uri,
                                            enum eddy_schema_dialect d)
{
	struct schema_resource *r = eddy_schema_alloc(set, sizeof(*r));

	r->uri = xstrdup(set, uri);
	r->dialect = d;
	r->vocabs = VOCAB_ALL;
	smap_put(&set->resources, r->uri, r);
	return r;
}

/* A pointer token escaped for a URI fragment: "~" "/" as ~0 ~1, and
 * bytes a fragment cannot hold percent-encoded. */
static char *child_ptr(struct eddy_schema_set *set, const char *parent, const char *key, size_t len)
{
	size_t pl = strlen(parent);
	char *d = eddy_schema_alloc(set, pl + 2 + len * 3), *o = d + pl;

	memcpy(d, parent, pl);
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

static struct eddy_schema *node_new(struct eddy_schema_set *set, const struct eddy_json *v,
                                    struct schema_resource *res, const char *ptr,
                                    enum eddy_schema_dialect d, uint8_t vocabs)
{
	struct eddy_schema *n = eddy_schema_alloc(set, sizeof(*n));
	size_t ul = strlen(res->uri), pl = strlen(ptr);
	char *u = eddy_schema_alloc(set, ul + pl + 2);

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
	n->next_pending = set->pending;
	set->pending = n;
	pmap_put(&set->nodes, v, n);
	return n;
}

static void anchor_add(struct eddy_schema_set *set, struct schema_resource *res, const char *name,
                       struct eddy_schema *n, bool dynamic)
{
	struct schema_anchor *a = eddy_schema_alloc(set, sizeof(*a));

	a->name = xstrdup(set, name);
	a->schema = n;
	a->dynamic = dynamic;
	a->next = res->anchors;
	res->anchors = a;
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

static struct eddy_schema *scan(struct eddy_schema_set *set, const struct eddy_json *v,
                                struct schema_resource *res, const char *ptr,
                                enum eddy_schema_dialect d, uint8_t vocabs);

static void scan_children(struct eddy_schema_set *set, struct eddy_schema *n)
{
	const struct eddy_json *v = n->json;

	for (uint32_t i = 0; i < v->len; i++) {
		const struct eddy_json_member *m = &v->u.members[i];
		const struct eddy_json *c = &m->value;
		const char *p = NULL;

		for (size_t k = 0; k < sizeof(sub_one) / sizeof(sub_one[0]); k++)
			if (strcmp(m->key, sub_one[k]) == 0 &&
			    (c->type == EDDY_JSON_OBJECT || c->type == EDDY_JSON_TRUE ||
			     c->type == EDDY_JSON_FALSE)) {
				p = child_ptr(set, n->ptr, m->key, m->key_len);
				scan(set, c, n->res, p, n->dialect, n->vocabs);
			}
		for (size_t k = 0; k < sizeof(sub_list) / sizeof(sub_list[0]); k++)
			if (strcmp(m->key, sub_list[k]) == 0 && c->type == EDDY_JSON_ARRAY) {
				p = child_ptr(set, n->ptr, m->key, m->key_len);
				for (uint32_t j = 0; j < c->len; j++) {
					char idx[16];

					snprintf(idx, sizeof(idx), "%u", j);
					scan(set, &c->u.items[j], n->res,
					     child_ptr(set, p, idx, strlen(idx)), n->dialect,
					     n->vocabs);
				}
			}
		for (size_t k = 0; k < sizeof(sub_map) / sizeof(sub_map[0]); k++)
			if (strcmp(m->key, sub_map[k]) == 0 && c->type == EDDY_JSON_OBJECT) {
				p = child_ptr(set, n->ptr, m->key, m->key_len);
				for (uint32_t j = 0; j < c->len; j++) {
					const struct eddy_json_member *e = &c->u.members[j];

					if (e->value.type == EDDY_JSON_ARRAY)
						continue; /* dependencies: required names */
					scan(set, &e->value, n->res,
					     child_ptr(set, p, e->key, e->key_len), n->dialect,
					     n->vocabs);
				}
			}
	}
}

/* draft-04 spells $id "id" */
static const struct eddy_json *id_member(const struct eddy_json *v, enum eddy_schema_dialect d)
{
	return d == EDDY_DIALECT_DRAFT4 ? eddy_json_getz(v, "id") : eddy_json_getz(v, "$id");
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
static bool meta_vocabs(struct eddy_schema_set *set, const char *meta_uri,
                        enum eddy_schema_dialect *d, uint8_t *vocabs, const char **bad)
{
	char err[256];
	struct eddy_schema *m;
	const struct eddy_json *voc;

	/* a meta-schema described by itself, or a loop of them, stops here */
	if (set->meta_depth >= 8)
		return false;
	set->meta_depth++;
	m = eddy_schema_find(set, meta_uri, err, sizeof(err));
	set->meta_depth--;
	if (!m || m->json->type != EDDY_JSON_OBJECT)
		return false;
	*d = m->dialect;
	*vocabs = VOCAB_ALL;
	voc = eddy_json_getz(m->json, "$vocabulary");
	if (m->dialect < EDDY_DIALECT_2019_09 || !voc || voc->type != EDDY_JSON_OBJECT)
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
 * an $id a resource, for $anchor and friends an anchor. Returns the node. */
static struct eddy_schema *scan(struct eddy_schema_set *set, const struct eddy_json *v,
                                struct schema_resource *res, const char *ptr,
                                enum eddy_schema_dialect d, uint8_t vocabs)
{
	struct eddy_schema *n = pmap_get(&set->nodes, v);
	const struct eddy_json *id, *sch, *a;
	const char *frag_anchor = NULL, *bad_vocab = NULL;
	bool new_meta = false;

	if (n)
		return n;
	if (v->type != EDDY_JSON_OBJECT) {
		n = node_new(set, v, res, ptr, d, vocabs);
		if (!*ptr && !res->root)
			res->root = n;
		return n;
	}

	/* $schema may change the dialect where a resource starts */
	sch = eddy_json_getz(v, "$schema");
	id = id_member(v, d);
	if (eddy_json_str(sch) && (id || !*ptr)) {
		int nd = eddy_schema_dialect_parse(sch->u.s);

		if (nd >= 0) {
			d = (enum eddy_schema_dialect)nd;
			vocabs = VOCAB_ALL;
			new_meta = true;
		} else {
			const char *mu = eddy_schema_uri_resolve(set, res->uri, sch->u.s);

			new_meta = meta_vocabs(set, mu, &d, &vocabs, &bad_vocab);
		}
		id = id_member(v, d);
	}
	/* Before 2019-09 a $ref makes every sibling, $id included, ignored. */
	if (d <= EDDY_DIALECT_DRAFT6 || d == EDDY_DIALECT_DRAFT7)
		if (eddy_json_getz(v, "$ref"))
			id = NULL;
	if (eddy_json_str(id)) {
		char *abs = eddy_schema_uri_resolve(set, res->uri, id->u.s);
		char *hash = strchr(abs, '#');

		if (hash) {
			*hash = 0;
			frag_anchor = hash + 1;
		}
		if (strcmp(abs, res->uri) != 0 || !*ptr) {
			struct schema_resource *r = smap_get(&set->resources, abs);

			if (!r || r->root)
				r = resource_new(set, abs, d);
			res = r;
			ptr = "";
		}
	}
	n = node_new(set, v, res, ptr, d, vocabs);
	if (!*ptr) {
		res->root = n;
		res->dialect = d;
		res->vocabs = vocabs;
		if (new_meta)
			res->bad_vocab = bad_vocab;
	}
	if (frag_anchor && *frag_anchor)
		anchor_add(set, res, frag_anchor, n, false);
	if (d >= EDDY_DIALECT_2019_09) {
		if (eddy_json_str(a = eddy_json_getz(v, "$anchor")))
			anchor_add(set, res, a->u.s, n, false);
		if (d == EDDY_DIALECT_2020_12 &&
		    eddy_json_str(a = eddy_json_getz(v, "$dynamicAnchor")))
			anchor_add(set, res, a->u.s, n, true);
		if (d == EDDY_DIALECT_2019_09 && !*ptr &&
		    (a = eddy_json_getz(v, "$recursiveAnchor")) && a->type == EDDY_JSON_TRUE)
			res->recursive_anchor = true;
	}
	scan_children(set, n);
	return n;
}

struct eddy_schema *eddy_schema_node_at(struct eddy_schema_set *set, struct eddy_schema *parent,
                                        const struct eddy_json *v, const char *key, size_t key_len)
{
	struct eddy_schema *n = pmap_get(&set->nodes, v);

	return n ? n
	         : scan(set, v, parent->res, child_ptr(set, parent->ptr, key, key_len),
	                parent->dialect, parent->vocabs);
}

static void copy_json(struct eddy_schema_set *set, struct eddy_json *d, const struct eddy_json *s)
{
	*d = *s;
	d->raw = NULL;
	d->raw_len = 0;
	switch (s->type) {
	case EDDY_JSON_STRING:
		d->u.s = eddy_schema_strndup(set, s->u.s, s->len);
		break;
	case EDDY_JSON_ARRAY: {
		struct eddy_json *items = eddy_schema_alloc(set, sizeof(*items) * (s->len + 1));

		for (uint32_t i = 0; i < s->len; i++)
			copy_json(set, &items[i], &s->u.items[i]);
		d->u.items = items;
		break;
	}
	case EDDY_JSON_OBJECT: {
		struct eddy_json_member *m = eddy_schema_alloc(set, sizeof(*m) * (s->len + 1));

		for (uint32_t i = 0; i < s->len; i++) {
			m[i].key =
			    eddy_schema_strndup(set, s->u.members[i].key, s->u.members[i].key_len);
			m[i].key_len = s->u.members[i].key_len;
			copy_json(set, &m[i].value, &s->u.members[i].value);
		}
		d->u.members = m;
		break;
	}
	default:
		break;
	}
}

/* Parses a document retrieved from uri (no fragment) and registers it;
 * the set keeps its own copy of the tree. */
static struct schema_resource *load_document(struct eddy_schema_set *set, const char *text,
                                             size_t len, const char *uri, char *errstr,
                                             size_t errstr_size)
{
	char perr[200];
	const struct eddy_json *root = eddy_json_parse(set->parser, text, len, perr, sizeof(perr));
	struct eddy_json *copy;
	struct schema_resource *res;
	struct eddy_schema *n;

	if (!root) {
		eddy_errf(errstr, errstr_size, "%s: %s", uri, perr);
		return NULL;
	}
	copy = eddy_schema_alloc(set, sizeof(*copy));
	copy_json(set, copy, root);
	res = resource_new(set, uri, set->opts.default_dialect);
	n = scan(set, copy, res, "", res->dialect, VOCAB_ALL);
	if (n->res != res)
		smap_put(&set->resources, res->uri, n->res);
	return n->res;
}

/* Retrieves an unknown document: the built-in meta-schemas first, then the
 * resolver. */
static struct schema_resource *fetch(struct eddy_schema_set *set, const char *uri, char *errstr,
                                     size_t errstr_size)
{
	size_t len = 0;
	const char *meta = eddy_schema_meta_text(uri, &len);
	char *text = NULL, err[256] = "";
	struct schema_resource *res;

	if (meta)
		return load_document(set, meta, len, uri, errstr, errstr_size);
	if (!set->opts.resolve) {
		eddy_errf(errstr, errstr_size, "unknown schema \"%s\" (no resolver)", uri);
		return NULL;
	}
	if (set->opts.resolve(set->opts.resolve_ud, uri, &text, &len, err, sizeof(err)) != 0) {
		eddy_errf(errstr, errstr_size, "%s", err[0] ? err : "cannot resolve");
		free(text);
		return NULL;
	}
	res = load_document(set, text, len, uri, errstr, errstr_size);
	free(text);
	return res;
}

struct eddy_schema *eddy_schema_find(struct eddy_schema_set *set, const char *uri, char *errstr,
                                     size_t errstr_size)
{
	const char *hash = strchr(uri, '#');
	char *base = eddy_schema_strndup(set, uri, hash ? (size_t)(hash - uri) : strlen(uri));
	struct schema_resource *res = smap_get(&set->resources, base);
	const char *frag = hash ? hash + 1 : "";

	if (!res && !(res = fetch(set, base, errstr, errstr_size)))
		return NULL;
	if (!res->root) {
		eddy_errf(errstr, errstr_size, "no schema at \"%s\"", base);
		return NULL;
	}
	if (!*frag)
		return res->root;
	if (*frag == '/') {
		size_t flen;
		const char *p = pct_decode(set, frag, strlen(frag), &flen), *end = p + flen;
		const struct eddy_json *v = res->root->json;
		struct eddy_schema *n;

		while (p < end && v) {
			const char *q = ++p;
			char *tok, *t;

			while (q < end && *q != '/')
				q++;
			tok = t = eddy_schema_alloc(set, (size_t)(q - p) + 1);
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
		if (!v) {
			eddy_errf(errstr, errstr_size, "no schema at \"%s\"", uri);
			return NULL;
		}
		n = pmap_get(&set->nodes, v);
		return n ? n : scan(set, v, res, frag, res->dialect, res->vocabs);
	}
	for (struct schema_anchor *a = res->anchors; a; a = a->next)
		if (strcmp(a->name, frag) == 0)
			return a->schema;
	eddy_errf(errstr, errstr_size, "no anchor \"%s\" in \"%s\"", frag, base);
	return NULL;
}

/* ---- the set ---- */

struct eddy_schema_set *eddy_schema_set_new(const struct eddy_schema_opts *opts)
{
	struct eddy_schema_set *set = calloc(1, sizeof(*set));

	if (!set)
		return NULL;
	if (opts)
		set->opts = *opts;
	if (!set->opts.max_errors)
		set->opts.max_errors = 10;
	set->parser = eddy_json_doc_new();
	set->ipath_cap = set->kpath_cap = 256;
	set->ipath = calloc(1, set->ipath_cap);
	set->kpath = calloc(1, set->kpath_cap);
	if (!set->parser || !set->ipath || !set->kpath) {
		eddy_schema_set_destroy(set);
		return NULL;
	}
	return set;
}

void eddy_schema_set_destroy(struct eddy_schema_set *set)
{
	if (!set)
		return;
	/* compiled regexes live in the arena's nodes: free them first */
	for (size_t i = 0; i < set->nodes.cap; i++) {
		struct eddy_schema *n = set->nodes.v[i].val;

		if (!set->nodes.v[i].key || !n->kw)
			continue;
		for (uint32_t k = 0; k < n->n_kw; k++) {
			struct kw *w = &n->kw[k];

			if (w->op == OP_PATTERN)
				eddy_regex_free(w->u.re);
			if (w->op == OP_OBJECT)
				for (uint32_t j = 0; j < w->u.obj->n_pats; j++)
					eddy_regex_free(w->u.obj->pats[j].re);
		}
	}
	while (set->arena) {
		struct arena_chunk *c = set->arena;

		set->arena = c->next;
		free(c);
	}
	eddy_json_doc_destroy(set->parser);
	free(set->resources.v);
	free(set->nodes.v);
	free(set->recs);
	free(set->errors);
	free(set->text);
	free(set->ipath);
	free(set->kpath);
	free(set);
}

const struct eddy_schema *eddy_schema_add(struct eddy_schema_set *set, const char *text, size_t len,
                                          const char *uri, char *errstr, size_t errstr_size)
{
	struct schema_resource *res;
	char gen[64], *base;

	if (!uri) {
		snprintf(gen, sizeof(gen), "urn:eddy:schema:%u", ++set->n_generated);
		uri = gen;
	}
	base = eddy_schema_uri_resolve(set, uri, "");
	res = smap_get(&set->resources, base);
	if (!res && !(res = load_document(set, text, len, base, errstr, errstr_size)))
		return NULL;
	if (eddy_schema_compile_pending(set, errstr, errstr_size) != 0)
		return NULL;
	if (!res->root || res->root->state != NODE_DONE) {
		eddy_errf(errstr, errstr_size, "%s: schema failed to compile earlier", base);
		return NULL;
	}
	return res->root;
}

const struct eddy_schema *eddy_schema_lookup(struct eddy_schema_set *set, const char *uri,
                                             char *errstr, size_t errstr_size)
{
	struct eddy_schema *n = eddy_schema_find(set, uri, errstr, errstr_size);

	if (!n || eddy_schema_compile_pending(set, errstr, errstr_size) != 0)
		return NULL;
	if (n->state != NODE_DONE) {
		eddy_errf(errstr, errstr_size, "%s: schema failed to compile earlier", uri);
		return NULL;
	}
	return n;
}

const char *eddy_schema_uri(const struct eddy_schema *s)
{
	return s->uri;
}

/* ---- output ---- */

/* Writes s as JSON string contents (no quotes) through put. */
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

void eddy_schema_snippet(char *buf, size_t size, const struct eddy_json *v)
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

void eddy_schema_result_write_json(const struct eddy_schema_result *r, FILE *out)
{
	fprintf(out, "{\"valid\":%s", r->valid ? "true" : "false");
	if (!r->valid) {
		fputs(",\"errors\":[", out);
		for (size_t i = 0; i < r->n_errors; i++) {
			const struct eddy_schema_error *e = &r->errors[i];

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
