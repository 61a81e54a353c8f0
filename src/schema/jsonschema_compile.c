/* jsonschema_compile.c - turns the registered schema nodes into arrays of
 * compiled keywords, resolving every reference once, here. One table says
 * which keywords each dialect and vocabulary knows and which function
 * compiles each; the keywords that work together (items, contains, the
 * object keywords, if/then/else, unevaluated*) are gathered while the
 * members are read and added after them. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "jsonschema_int.h"
#include "log.h"

/* The compilation of one node. */
struct cc {
	struct eddy_jsonschema_set *set;
	struct eddy_jsonschema *n;
	char *errstr;
	size_t errstr_size;
	const char *key; /* keyword being compiled */
	/* gathered from several members, added after the others */
	struct kw items, contains, cond, uneval_p, uneval_i;
	struct obj_kw *obj;
	/* draft-04: maximum and minimum made exclusive by a boolean */
	struct kw *max_kw, *min_kw;
	bool excl_max, excl_min;
};

static int fail(struct cc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "uri: /pointer/keyword: message" */
static int fail(struct cc *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	eddy_errf(c->errstr, c->errstr_size, "%s: %s/%s: %s", c->n->res->uri, c->n->ptr,
	          c->key ? c->key : "", msg);
	return -1;
}

static int oom(struct cc *c)
{
	return fail(c, "out of memory");
}

static const char *got(const struct eddy_json *v, char *buf, size_t size)
{
	eddy_jsonschema_snippet(buf, size, v);
	return buf;
}

static bool is_schema_value(const struct eddy_json *v)
{
	return v->type == EDDY_JSON_OBJECT || v->type == EDDY_JSON_TRUE ||
	       v->type == EDDY_JSON_FALSE;
}

/* The node of the subschema v at key under the node being compiled; NULL
 * (with the reason) when there is no memory for it or it is broken. */
static struct eddy_jsonschema *child(struct cc *c, const struct eddy_json *v, const char *key,
                                     size_t key_len)
{
	struct eddy_jsonschema *s = eddy_jsonschema_node_at(c->set, c->n, v, key, key_len);

	if (!s)
		oom(c);
	else if (s->state >= NODE_BROKEN)
		fail(c, "the subschema failed to compile earlier");
	else
		return s;
	return NULL;
}

static struct eddy_jsonschema *sub(struct cc *c, const struct eddy_json *v)
{
	char g[64];

	if (!is_schema_value(v)) {
		fail(c, "must be a schema (object or boolean), got %s", got(v, g, sizeof(g)));
		return NULL;
	}
	return child(c, v, c->key, strlen(c->key));
}

static int sub_list(struct cc *c, const struct eddy_json *v, struct eddy_jsonschema ***out,
                    uint32_t *n, bool nonempty)
{
	char g[64];

	if (v->type != EDDY_JSON_ARRAY || (nonempty && v->len == 0))
		return fail(c, "must be a non-empty array of schemas, got %s",
		            got(v, g, sizeof(g)));
	if (!(*out = eddy_jsonschema_alloc(c->set, sizeof(**out) * (v->len + 1))))
		return oom(c);
	*n = v->len;
	for (uint32_t i = 0; i < v->len; i++)
		if (!((*out)[i] = sub(c, &v->u.items[i])))
			return -1;
	return 0;
}

static int count(struct cc *c, const struct eddy_json *v, uint64_t *out)
{
	char g[64];

	if (v->type == EDDY_JSON_INT && v->u.i >= 0) {
		*out = (uint64_t)v->u.i;
		return 0;
	}
	/* 1.0 is an integer; so is 1e30, which no count reaches */
	if (v->type == EDDY_JSON_DOUBLE && v->u.d >= 0 && floor(v->u.d) == v->u.d) {
		*out = v->u.d >= 1.8e19 ? UINT64_MAX : (uint64_t)v->u.d;
		return 0;
	}
	return fail(c, "must be a non-negative integer, got %s", got(v, g, sizeof(g)));
}

static int number(struct cc *c, const struct eddy_json *v, struct kw *w)
{
	char g[64];

	if (v->type == EDDY_JSON_INT) {
		w->u.num.is_int = true;
		w->u.num.i = v->u.i;
		w->u.num.d = (double)v->u.i;
		return 0;
	}
	if (v->type == EDDY_JSON_DOUBLE) {
		w->u.num.d = v->u.d;
		return 0;
	}
	return fail(c, "must be a number, got %s", got(v, g, sizeof(g)));
}

static int boolean(struct cc *c, const struct eddy_json *v)
{
	char g[64];

	if (v->type != EDDY_JSON_TRUE && v->type != EDDY_JSON_FALSE)
		return fail(c, "must be a boolean, got %s", got(v, g, sizeof(g)));
	return 0;
}

static int string(struct cc *c, const struct eddy_json *v)
{
	char g[64];

	if (v->type != EDDY_JSON_STRING)
		return fail(c, "must be a string, got %s", got(v, g, sizeof(g)));
	return 0;
}

static int object(struct cc *c, const struct eddy_json *v)
{
	char g[64];

	if (v->type != EDDY_JSON_OBJECT)
		return fail(c, "must be an object, got %s", got(v, g, sizeof(g)));
	return 0;
}

static int strings(struct cc *c, const struct eddy_json *v, struct strv **out, uint32_t *n)
{
	char g[64];

	if (v->type != EDDY_JSON_ARRAY)
		return fail(c, "must be an array of strings, got %s", got(v, g, sizeof(g)));
	if (!(*out = eddy_jsonschema_alloc(c->set, sizeof(**out) * (v->len + 1))))
		return oom(c);
	*n = v->len;
	for (uint32_t i = 0; i < v->len; i++) {
		if (v->u.items[i].type != EDDY_JSON_STRING)
			return fail(c, "must be an array of strings, got %s",
			            got(&v->u.items[i], g, sizeof(g)));
		(*out)[i].s = v->u.items[i].u.s;
		(*out)[i].len = v->u.items[i].len;
	}
	return 0;
}

/* A compiled regex the set frees; NULL with the reason. */
static struct eddy_regex *regex(struct cc *c, const char *s, size_t len, const char *what)
{
	char err[256];
	struct eddy_regex *re = eddy_regex_compile(s, len, err, sizeof(err));

	if (!re) {
		/* for want of memory the pattern is not wrong: it may compile later */
		if (strcmp(err, "out of memory") == 0)
			c->set->oom = true;
		if (what)
			fail(c, "\"%s\": %s", what, err);
		else
			fail(c, "%s", err);
		return NULL;
	}
	if (eddy_jsonschema_keep_regex(c->set, re) != 0) {
		oom(c);
		return NULL;
	}
	return re;
}

static int type_bits(struct cc *c, const struct eddy_json *v, uint32_t *bits)
{
	static const struct {
		const char *name;
		uint32_t bits;
	} names[] = {
	    {"null", T_NULL},  {"boolean", T_BOOL}, {"integer", T_INT}, {"number", T_NUM | T_INT},
	    {"string", T_STR}, {"array", T_ARR},    {"object", T_OBJ},
	};
	char g[64];

	if (v->type == EDDY_JSON_ARRAY) {
		for (uint32_t i = 0; i < v->len; i++)
			if (v->u.items[i].type != EDDY_JSON_STRING ||
			    type_bits(c, &v->u.items[i], bits))
				return fail(c, "must be a type name or an array of them, got %s",
				            got(v, g, sizeof(g)));
		return 0;
	}
	if (v->type == EDDY_JSON_STRING)
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(v->u.s, names[i].name) == 0) {
				*bits |= names[i].bits;
				return 0;
			}
	return fail(c, "must be a type name or an array of them, got %s", got(v, g, sizeof(g)));
}

static int resolve_ref(struct cc *c, const struct eddy_json *v, struct eddy_jsonschema **target,
                       const char **abs_out)
{
	char g[64], err[512];
	const char *abs;

	if (v->type != EDDY_JSON_STRING)
		return fail(c, "must be a URI reference, got %s", got(v, g, sizeof(g)));
	if (!(abs = eddy_jsonschema_uri_resolve(c->set, c->n->res->uri, v->u.s)))
		return oom(c);
	*target = eddy_jsonschema_find(c->set, abs, err, sizeof(err));
	if (!*target)
		return fail(c, "cannot resolve \"%s\": %s", v->u.s, err);
	if ((*target)->state >= NODE_BROKEN)
		return fail(c, "\"%s\" refers to a schema that failed to compile", v->u.s);
	if (abs_out)
		*abs_out = abs;
	return 0;
}

static int compile_deps(struct cc *c, const struct eddy_json *v, struct kw *w, bool schemas,
                        bool names)
{
	char g[64];

	if (object(c, v))
		return -1;
	w->op = OP_DEPENDENCIES;
	w->u.deps.n = v->len;
	if (!(w->u.deps.v = eddy_jsonschema_alloc(c->set, sizeof(struct dep) * (v->len + 1))))
		return oom(c);
	for (uint32_t i = 0; i < v->len; i++) {
		const struct eddy_json_member *m = &v->u.members[i];
		struct dep *d = &w->u.deps.v[i];

		d->name.s = m->key;
		d->name.len = m->key_len;
		if (names && m->value.type == EDDY_JSON_ARRAY) {
			if (strings(c, &m->value, &d->names, &d->n_names))
				return -1;
		} else if (schemas && is_schema_value(&m->value)) {
			if (!(d->schema = child(c, &m->value, m->key, m->key_len)))
				return -1;
		} else {
			return fail(c, "\"%s\" must be %s, got %s", m->key,
			            schemas && names ? "a schema or an array of names"
			            : schemas        ? "a schema"
			                             : "an array of names",
			            got(&m->value, g, sizeof(g)));
		}
	}
	return 0;
}

static struct obj_kw *obj_of(struct cc *c)
{
	if (!c->obj && !(c->obj = eddy_jsonschema_alloc(c->set, sizeof(*c->obj))))
		oom(c);
	return c->obj;
}

/* The lookup table of properties and the required names' bits. */
static int obj_finish(struct cc *c, struct obj_kw *o)
{
	uint32_t cap = 4;

	while (cap < o->n_props * 2)
		cap *= 2;
	o->mask = cap - 1;
	o->table = eddy_jsonschema_alloc(c->set, sizeof(uint32_t) * cap);
	o->required_prop = eddy_jsonschema_alloc(c->set, sizeof(int32_t) * (o->n_required + 1));
	if (!o->table || !o->required_prop)
		return oom(c);
	for (uint32_t i = 0; i < o->n_props; i++) {
		uint32_t h = eddy_jsonschema_prop_hash(o->props[i].name.s, o->props[i].name.len);

		while (o->table[h & o->mask])
			h++;
		o->table[h & o->mask] = i + 1;
	}
	for (uint32_t r = 0; r < o->n_required; r++) {
		o->required_prop[r] = -1;
		for (uint32_t i = 0; i < o->n_props && i < 64; i++)
			if (o->props[i].name.len == o->required[r].len &&
			    memcmp(o->props[i].name.s, o->required[r].s, o->required[r].len) == 0)
				o->required_prop[r] = (int32_t)i;
	}
	return 0;
}

/* ---- one function per keyword (or family of keywords) ----
 * Each compiles the member value x of keyword k: -1 with the reason, 1 when
 * it filled w (the next slot of the node's array), 0 when it filled none
 * (nothing to check, or gathered into c for later). */

struct keyword;
typedef int kw_fn(struct cc *c, const struct keyword *k, const struct eddy_json *x, struct kw *w);

struct keyword {
	const char *name;
	uint8_t dialects; /* D_*: where it is a keyword; elsewhere an annotation */
	uint8_t vocab;    /* VOCAB_* that brings it (2019-09 on); 0: core */
	uint8_t op;       /* what it compiles to, for functions shared by several */
	kw_fn *compile;   /* NULL: compiled before the others ("type") */
};

static int compile_ref(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                       struct kw *w)
{
	w->op = k->op;
	return resolve_ref(c, x, &w->u.ref.target, NULL) ? -1 : 1;
}

static int compile_dynamic_ref(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                               struct kw *w)
{
	const char *abs = NULL, *h; /* gcc -O3 misses that resolve_ref sets it */

	w->op = k->op;
	if (resolve_ref(c, x, &w->u.ref.target, &abs))
		return -1;
	/* Dynamic only when the static target bookends it with a
	 * $dynamicAnchor of the same name. */
	h = strchr(abs, '#');
	if (h && h[1] && h[1] != '/')
		for (struct schema_anchor *a = w->u.ref.target->res->anchors; a; a = a->next)
			if (a->dynamic && strcmp(a->name, h + 1) == 0)
				w->u.ref.anchor = a->name;
	return 1;
}

static int compile_enum(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                        struct kw *w)
{
	char g[64];

	if (x->type != EDDY_JSON_ARRAY)
		return fail(c, "must be an array, got %s", got(x, g, sizeof(g)));
	w->op = k->op;
	w->u.en.values = x->u.items;
	w->u.en.n = x->len;
	w->u.en.all_strings = true;
	for (uint32_t j = 0; j < x->len; j++)
		if (x->u.items[j].type != EDDY_JSON_STRING)
			w->u.en.all_strings = false;
	return 1;
}

static int compile_const(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                         struct kw *w)
{
	(void)c;
	w->op = k->op;
	w->u.value = x;
	return 1;
}

static int compile_multiple_of(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                               struct kw *w)
{
	char g[64];

	w->op = k->op;
	if (number(c, x, w))
		return -1;
	if (w->u.num.d <= 0)
		return fail(c, "must be greater than 0, got %s", got(x, g, sizeof(g)));
	return 1;
}

/* maximum, minimum */
static int compile_bound(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                         struct kw *w)
{
	w->op = k->op;
	if (number(c, x, w))
		return -1;
	*(k->op == OP_MAXIMUM ? &c->max_kw : &c->min_kw) = w;
	return 1;
}

/* exclusiveMaximum, exclusiveMinimum */
static int compile_exclusive(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                             struct kw *w)
{
	if (c->n->dialect == EDDY_JSONSCHEMA_DRAFT4) {
		/* draft-04: a boolean that makes maximum/minimum exclusive */
		if (boolean(c, x))
			return -1;
		*(k->op == OP_EXCL_MAXIMUM ? &c->excl_max : &c->excl_min) =
		    x->type == EDDY_JSON_TRUE;
		return 0;
	}
	w->op = k->op;
	return number(c, x, w) ? -1 : 1;
}

/* maxLength, minLength, maxItems, minItems, maxProperties, minProperties */
static int compile_count(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                         struct kw *w)
{
	w->op = k->op;
	return count(c, x, &w->u.count) ? -1 : 1;
}

static int compile_pattern(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                           struct kw *w)
{
	if (string(c, x))
		return -1;
	w->op = k->op;
	return (w->u.re = regex(c, x->u.s, x->len, NULL)) ? 1 : -1;
}

static int compile_format(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                          struct kw *w)
{
	if (string(c, x))
		return -1;
	if (!c->set->opts.format_assert && !(c->n->vocabs & VOCAB_FORMAT_ASSERT))
		return 0; /* an annotation */
	w->op = k->op;
	w->u.format = x->u.s;
	return 1;
}

static int compile_unique_items(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                                struct kw *w)
{
	if (boolean(c, x))
		return -1;
	if (x->type != EDDY_JSON_TRUE)
		return 0;
	w->op = k->op;
	return 1;
}

static int compile_items(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                         struct kw *w)
{
	(void)k, (void)w;
	if (x->type == EDDY_JSON_ARRAY && c->n->dialect != EDDY_JSONSCHEMA_2020_12) {
		c->items.u.items.prefix_name = "items";
		return sub_list(c, x, &c->items.u.items.prefix, &c->items.u.items.n_prefix, false);
	}
	c->items.u.items.rest_name = "items";
	return (c->items.u.items.rest = sub(c, x)) ? 0 : -1;
}

static int compile_prefix_items(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                                struct kw *w)
{
	(void)k, (void)w;
	c->items.u.items.prefix_name = "prefixItems";
	return sub_list(c, x, &c->items.u.items.prefix, &c->items.u.items.n_prefix, true);
}

/* Registered here, taken in at the end: it means something only beside an
 * array "items". */
static int compile_additional_items(struct cc *c, const struct keyword *k,
                                    const struct eddy_json *x, struct kw *w)
{
	(void)k, (void)w;
	return sub(c, x) ? 0 : -1;
}

static int compile_contains(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                            struct kw *w)
{
	(void)k, (void)w;
	return (c->contains.u.contains.schema = sub(c, x)) ? 0 : -1;
}

/* minContains, maxContains: checked here, taken in with "contains". */
static int compile_contains_bound(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                                  struct kw *w)
{
	uint64_t n;

	(void)k, (void)w;
	return count(c, x, &n);
}

static int compile_properties(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                              struct kw *w)
{
	struct obj_kw *o = obj_of(c);
	char g[64];

	(void)k, (void)w;
	if (!o || object(c, x))
		return -1;
	o->n_props = x->len;
	if (!(o->props = eddy_jsonschema_alloc(c->set, sizeof(struct prop) * (x->len + 1))))
		return oom(c);
	for (uint32_t j = 0; j < x->len; j++) {
		const struct eddy_json_member *m = &x->u.members[j];

		o->props[j].name.s = m->key;
		o->props[j].name.len = m->key_len;
		if (!is_schema_value(&m->value))
			return fail(c, "\"%s\" must be a schema, got %s", m->key,
			            got(&m->value, g, sizeof(g)));
		if (!(o->props[j].schema = child(c, &m->value, m->key, m->key_len)))
			return -1;
	}
	return 0;
}

static int compile_pattern_properties(struct cc *c, const struct keyword *k,
                                      const struct eddy_json *x, struct kw *w)
{
	struct obj_kw *o = obj_of(c);
	char g[64];

	(void)k, (void)w;
	if (!o || object(c, x))
		return -1;
	o->n_pats = 0;
	if (!(o->pats = eddy_jsonschema_alloc(c->set, sizeof(struct patprop) * (x->len + 1))))
		return oom(c);
	for (uint32_t j = 0; j < x->len; j++) {
		const struct eddy_json_member *m = &x->u.members[j];
		struct patprop *pp = &o->pats[j];

		if (!is_schema_value(&m->value))
			return fail(c, "\"%s\" must be a schema, got %s", m->key,
			            got(&m->value, g, sizeof(g)));
		if (!(pp->re = regex(c, m->key, m->key_len, m->key)))
			return -1;
		o->n_pats++;
		if (!(pp->schema = child(c, &m->value, m->key, m->key_len)))
			return -1;
	}
	return 0;
}

static int compile_additional_properties(struct cc *c, const struct keyword *k,
                                         const struct eddy_json *x, struct kw *w)
{
	struct obj_kw *o = obj_of(c);

	(void)k, (void)w;
	return o && (o->additional = sub(c, x)) ? 0 : -1;
}

static int compile_required(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                            struct kw *w)
{
	struct obj_kw *o;

	(void)k, (void)w;
	/* draft-04's "required" is an array; anything else is no keyword */
	if (c->n->dialect == EDDY_JSONSCHEMA_DRAFT4 && x->type != EDDY_JSON_ARRAY)
		return 0;
	if (!(o = obj_of(c)))
		return -1;
	return strings(c, x, &o->required, &o->n_required);
}

static int compile_property_names(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                                  struct kw *w)
{
	w->op = k->op;
	return (w->u.schema = sub(c, x)) ? 1 : -1;
}

/* 2019-09 split it into dependentRequired and dependentSchemas; schemas
 * written for draft-07 keep meaning what they meant, in every dialect. */
static int compile_dependencies(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                                struct kw *w)
{
	(void)k;
	return compile_deps(c, x, w, true, true) ? -1 : 1;
}

static int compile_dependent_required(struct cc *c, const struct keyword *k,
                                      const struct eddy_json *x, struct kw *w)
{
	(void)k;
	return compile_deps(c, x, w, false, true) ? -1 : 1;
}

static int compile_dependent_schemas(struct cc *c, const struct keyword *k,
                                     const struct eddy_json *x, struct kw *w)
{
	(void)k;
	return compile_deps(c, x, w, true, false) ? -1 : 1;
}

/* allOf, anyOf, oneOf */
static int compile_list(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                        struct kw *w)
{
	w->op = k->op;
	return sub_list(c, x, &w->u.list.v, &w->u.list.n, true) ? -1 : 1;
}

static int compile_not(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                       struct kw *w)
{
	w->op = k->op;
	return (w->u.schema = sub(c, x)) ? 1 : -1;
}

/* if, then, else */
static int compile_cond(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                        struct kw *w)
{
	struct eddy_jsonschema *s = sub(c, x);

	(void)w;
	if (!s)
		return -1;
	*(k->name[0] == 'i'   ? &c->cond.u.cond.if_s
	  : k->name[0] == 't' ? &c->cond.u.cond.then_s
	                      : &c->cond.u.cond.else_s) = s;
	return 0;
}

/* unevaluatedProperties, unevaluatedItems */
static int compile_unevaluated(struct cc *c, const struct keyword *k, const struct eddy_json *x,
                               struct kw *w)
{
	struct kw *u = k->op == OP_UNEVAL_PROPS ? &c->uneval_p : &c->uneval_i;

	(void)w;
	return (u->u.schema = sub(c, x)) ? 0 : -1;
}

/* ---- the keywords ---- */

/* Dialects, as bits of enum eddy_jsonschema_dialect. */
#define D_4 (1u << EDDY_JSONSCHEMA_DRAFT4)
#define D_6 (1u << EDDY_JSONSCHEMA_DRAFT6)
#define D_7 (1u << EDDY_JSONSCHEMA_DRAFT7)
#define D_2019 (1u << EDDY_JSONSCHEMA_2019_09)
#define D_2020 (1u << EDDY_JSONSCHEMA_2020_12)
#define D_ALL (D_4 | D_6 | D_7 | D_2019 | D_2020)
#define D_SINCE_6 (D_6 | D_7 | D_2019 | D_2020)
#define D_SINCE_7 (D_7 | D_2019 | D_2020)
#define D_SINCE_2019 (D_2019 | D_2020)
#define D_UNTIL_2019 (D_4 | D_6 | D_7 | D_2019)

#define VAL VOCAB_VALIDATION
#define APP VOCAB_APPLICATOR

/* Every keyword that checks anything. A member of a schema that is not here,
 * or not for the schema's dialect, or whose vocabulary the schema's
 * meta-schema leaves out, is an annotation. */
static const struct keyword keywords[] = {
    {"$ref", D_ALL, 0, OP_REF, compile_ref},
    {"$dynamicRef", D_2020, 0, OP_DYNAMIC_REF, compile_dynamic_ref},
    {"$recursiveRef", D_2019, 0, OP_RECURSIVE_REF, compile_ref},
    {"type", D_ALL, VAL, OP_TYPE, NULL},
    {"enum", D_ALL, VAL, OP_ENUM, compile_enum},
    {"const", D_SINCE_6, VAL, OP_CONST, compile_const},
    {"multipleOf", D_ALL, VAL, OP_MULTIPLE_OF, compile_multiple_of},
    {"maximum", D_ALL, VAL, OP_MAXIMUM, compile_bound},
    {"minimum", D_ALL, VAL, OP_MINIMUM, compile_bound},
    {"exclusiveMaximum", D_ALL, VAL, OP_EXCL_MAXIMUM, compile_exclusive},
    {"exclusiveMinimum", D_ALL, VAL, OP_EXCL_MINIMUM, compile_exclusive},
    {"maxLength", D_ALL, VAL, OP_MAX_LENGTH, compile_count},
    {"minLength", D_ALL, VAL, OP_MIN_LENGTH, compile_count},
    {"pattern", D_ALL, VAL, OP_PATTERN, compile_pattern},
    {"format", D_ALL, VOCAB_FORMAT, OP_FORMAT, compile_format},
    {"maxItems", D_ALL, VAL, OP_MAX_ITEMS, compile_count},
    {"minItems", D_ALL, VAL, OP_MIN_ITEMS, compile_count},
    {"uniqueItems", D_ALL, VAL, OP_UNIQUE_ITEMS, compile_unique_items},
    {"maxContains", D_SINCE_2019, VAL, OP_CONTAINS, compile_contains_bound},
    {"minContains", D_SINCE_2019, VAL, OP_CONTAINS, compile_contains_bound},
    {"maxProperties", D_ALL, VAL, OP_MAX_PROPERTIES, compile_count},
    {"minProperties", D_ALL, VAL, OP_MIN_PROPERTIES, compile_count},
    {"required", D_ALL, VAL, OP_OBJECT, compile_required},
    {"dependentRequired", D_SINCE_2019, VAL, OP_DEPENDENCIES, compile_dependent_required},
    {"prefixItems", D_2020, APP, OP_ITEMS, compile_prefix_items},
    {"items", D_ALL, APP, OP_ITEMS, compile_items},
    {"additionalItems", D_UNTIL_2019, APP, OP_ITEMS, compile_additional_items},
    {"contains", D_SINCE_6, APP, OP_CONTAINS, compile_contains},
    {"properties", D_ALL, APP, OP_OBJECT, compile_properties},
    {"patternProperties", D_ALL, APP, OP_OBJECT, compile_pattern_properties},
    {"additionalProperties", D_ALL, APP, OP_OBJECT, compile_additional_properties},
    {"dependentSchemas", D_SINCE_2019, APP, OP_DEPENDENCIES, compile_dependent_schemas},
    {"dependencies", D_ALL, 0, OP_DEPENDENCIES, compile_dependencies},
    {"propertyNames", D_SINCE_6, APP, OP_PROPERTY_NAMES, compile_property_names},
    {"if", D_SINCE_7, APP, OP_IF, compile_cond},
    {"then", D_SINCE_7, APP, OP_IF, compile_cond},
    {"else", D_SINCE_7, APP, OP_IF, compile_cond},
    {"allOf", D_ALL, APP, OP_ALL_OF, compile_list},
    {"anyOf", D_ALL, APP, OP_ANY_OF, compile_list},
    {"oneOf", D_ALL, APP, OP_ONE_OF, compile_list},
    {"not", D_ALL, APP, OP_NOT, compile_not},
    {"unevaluatedItems", D_SINCE_2019, VOCAB_UNEVALUATED, OP_UNEVAL_ITEMS, compile_unevaluated},
    {"unevaluatedProperties", D_SINCE_2019, VOCAB_UNEVALUATED, OP_UNEVAL_PROPS,
     compile_unevaluated},
};

/* The keyword named k in the schema n, or NULL when it is none there. */
static const struct keyword *keyword(const struct eddy_jsonschema *n, const char *k)
{
	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		const struct keyword *kw = &keywords[i];

		if (strcmp(k, kw->name) != 0)
			continue;
		if (!(kw->dialects & (1u << n->dialect)))
			return NULL;
		if (kw->vocab && (n->vocabs & VOCAB_ALL) != VOCAB_ALL && !(n->vocabs & kw->vocab))
			return NULL;
		return kw;
	}
	return NULL;
}

/* Adds the keywords gathered in c after those of the members, at kw[*nk]. */
static int add_gathered(struct cc *c, struct kw *kw, uint32_t *nk)
{
	struct eddy_jsonschema *n = c->n;
	bool legacy = !(D_SINCE_2019 & (1u << n->dialect));

	if (c->max_kw && c->excl_max)
		c->max_kw->op = OP_EXCL_MAXIMUM;
	if (c->min_kw && c->excl_min)
		c->min_kw->op = OP_EXCL_MINIMUM;
	if (c->items.u.items.prefix || c->items.u.items.rest) {
		struct kw *it = &c->items;
		const struct eddy_json *ai = eddy_json_getz(n->json, "additionalItems");

		if (it->u.items.prefix && !it->u.items.rest && ai &&
		    keyword(n, "additionalItems")) {
			c->key = "additionalItems";
			if (!(it->u.items.rest = child(c, ai, "additionalItems", 15)))
				return -1;
			it->u.items.rest_name = "additionalItems";
		}
		it->op = OP_ITEMS;
		it->name = it->u.items.prefix_name ? it->u.items.prefix_name : "items";
		kw[(*nk)++] = *it;
	}
	if (c->contains.u.contains.schema) {
		struct kw *ct = &c->contains;
		const struct eddy_json *mn = eddy_json_getz(n->json, "minContains"),
		                       *mx = eddy_json_getz(n->json, "maxContains");

		ct->op = OP_CONTAINS;
		ct->name = "contains";
		ct->u.contains.min = 1;
		ct->u.contains.max = UINT64_MAX;
		if (keyword(n, "minContains")) {
			c->key = "minContains";
			if (mn && count(c, mn, &ct->u.contains.min))
				return -1;
			c->key = "maxContains";
			if (mx && count(c, mx, &ct->u.contains.max))
				return -1;
		}
		kw[(*nk)++] = *ct;
	}
	c->key = NULL;
	if (c->obj) {
		if (obj_finish(c, c->obj))
			return -1;
		kw[*nk].op = OP_OBJECT;
		kw[*nk].name = "properties";
		kw[(*nk)++].u.obj = c->obj;
	}
	/* From 2019-09 on, "if" alone still counts: what it evaluates is
	 * evaluated, for unevaluatedItems and unevaluatedProperties. */
	if (c->cond.u.cond.if_s && (c->cond.u.cond.then_s || c->cond.u.cond.else_s || !legacy)) {
		c->cond.op = OP_IF;
		c->cond.name = "if";
		kw[(*nk)++] = c->cond;
	}
	/* last: they see what every other keyword evaluated */
	if (c->uneval_p.u.schema) {
		c->uneval_p.op = OP_UNEVAL_PROPS;
		c->uneval_p.name = "unevaluatedProperties";
		kw[(*nk)++] = c->uneval_p;
		n->has_uneval = true;
	}
	if (c->uneval_i.u.schema) {
		c->uneval_i.op = OP_UNEVAL_ITEMS;
		c->uneval_i.name = "unevaluatedItems";
		kw[(*nk)++] = c->uneval_i;
		n->has_uneval = true;
	}
	return 0;
}

/* The keywords of an object schema: "type" first, the members in their
 * order through the table, then what was gathered. */
static int compile_object(struct cc *c, struct kw *kw, uint32_t *nk)
{
	struct eddy_jsonschema *n = c->n;
	const struct eddy_json *v = n->json, *x;

	/* a vocabulary the meta-schema requires and we lack: the schema
	 * would not mean what its author meant (Core 8.1.2) */
	if (!*n->ptr && n->res->bad_vocab) {
		c->key = "$schema";
		return fail(
		    c, "the meta-schema requires the vocabulary \"%s\", which is not supported",
		    n->res->bad_vocab);
	}
	/* Before 2019-09, $ref stands alone: its siblings are ignored. */
	if (!(D_SINCE_2019 & (1u << n->dialect)) && (x = eddy_json_getz(v, "$ref"))) {
		c->key = kw[0].name = "$ref";
		kw[0].op = OP_REF;
		if (resolve_ref(c, x, &kw[0].u.ref.target, NULL))
			return -1;
		*nk = 1;
		return 0;
	}
	/* "type" is tested first, outside the keyword array: the cheapest
	 * test, and the most telling error */
	c->key = "type";
	if ((x = eddy_json_getz(v, "type")) && keyword(n, "type") && type_bits(c, x, &n->types))
		return -1;
	for (uint32_t i = 0; i < v->len; i++) {
		const struct keyword *k = keyword(n, v->u.members[i].key);
		struct kw *w = &kw[*nk];
		int r;

		if (!k || !k->compile)
			continue;
		c->key = w->name = k->name;
		if ((r = k->compile(c, k, &v->u.members[i].value, w)) < 0)
			return -1;
		*nk += (uint32_t)r;
	}
	return add_gathered(c, kw, nk);
}

static int compile_node(struct eddy_jsonschema_set *set, struct eddy_jsonschema *n, char *errstr,
                        size_t errstr_size)
{
	struct cc c = {.set = set, .n = n, .errstr = errstr, .errstr_size = errstr_size};
	const struct eddy_json *v = n->json;
	uint32_t nk = 0;
	char g[64];

	n->state = NODE_COMPILING;
	if (v->type != EDDY_JSON_TRUE) {
		/* room for every member, which the gathered keywords stand for */
		n->kw = eddy_jsonschema_alloc(
		    set, sizeof(*n->kw) * (v->type == EDDY_JSON_OBJECT ? v->len + 4 : 1));
		if (!n->kw)
			return oom(&c);
		if (v->type == EDDY_JSON_FALSE)
			n->kw[nk++].op = OP_FALSE;
		else if (v->type != EDDY_JSON_OBJECT)
			return fail(&c, "a schema must be an object or a boolean, got %s",
			            got(v, g, sizeof(g)));
		else if (compile_object(&c, n->kw, &nk))
			return -1;
	}
	n->n_kw = nk;
	n->state = NODE_DONE;
	return 0;
}

int eddy_jsonschema_compile_pending(struct eddy_jsonschema_set *set, char *errstr,
                                    size_t errstr_size)
{
	while (set->pending) {
		struct eddy_jsonschema *n = set->pending;

		set->pending = n->next_pending;
		if (n->state != NODE_NEW)
			continue;
		n->next_pending = set->batch;
		set->batch = n;
		if (compile_node(set, n, errstr, errstr_size) != 0) {
			n->state = NODE_BROKEN;
			n->n_kw = 0;
			return -1;
		}
	}
	return 0;
}

/* A node compiled by a failed call may lead to one that failed (compiled
 * before it, or not at all): nothing of that call is kept. */
static void break_list(struct eddy_jsonschema *n, uint8_t state)
{
	for (; n; n = n->next_pending) {
		n->state = state;
		n->n_kw = 0;
		n->types = 0;
		n->has_uneval = false;
	}
}

void eddy_jsonschema_compile_end(struct eddy_jsonschema_set *set, bool failed)
{
	if (failed) {
		uint8_t state = set->oom ? NODE_LOST : NODE_BROKEN;

		break_list(set->batch, state);
		break_list(set->pending, state);
		set->pending = NULL;
	}
	set->batch = NULL;
}
