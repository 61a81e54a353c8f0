/* jsonschema_compile.c - turns the registered schema nodes into arrays of
 * compiled keywords, resolving every reference once, here. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "jsonschema_int.h"
#include "log.h"

struct cc {
	struct eddy_schema_set *set;
	struct eddy_schema *n;
	char *errstr;
	size_t errstr_size;
	const char *key; /* keyword being compiled */
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

static const char *got(const struct eddy_json *v, char *buf, size_t size)
{
	eddy_schema_snippet(buf, size, v);
	return buf;
}

static bool is_schema_value(const struct eddy_json *v)
{
	return v->type == EDDY_JSON_OBJECT || v->type == EDDY_JSON_TRUE ||
	       v->type == EDDY_JSON_FALSE;
}

static struct eddy_schema *sub(struct cc *c, const struct eddy_json *v)
{
	char g[64];

	if (!is_schema_value(v)) {
		fail(c, "must be a schema (object or boolean), got %s", got(v, g, sizeof(g)));
		return NULL;
	}
	return eddy_schema_node_at(c->set, c->n, v, c->key, strlen(c->key));
}

static int sub_list(struct cc *c, const struct eddy_json *v, struct eddy_schema ***out, uint32_t *n,
                    bool nonempty)
{
	char g[64];

	if (v->type != EDDY_JSON_ARRAY || (nonempty && v->len == 0))
		return fail(c, "must be a non-empty array of schemas, got %s",
		            got(v, g, sizeof(g)));
	*out = eddy_schema_alloc(c->set, sizeof(**out) * (v->len + 1));
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

static int strings(struct cc *c, const struct eddy_json *v, struct strv **out, uint32_t *n)
{
	char g[64];

	if (v->type != EDDY_JSON_ARRAY)
		return fail(c, "must be an array of strings, got %s", got(v, g, sizeof(g)));
	*out = eddy_schema_alloc(c->set, sizeof(**out) * (v->len + 1));
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

static int resolve_ref(struct cc *c, const struct eddy_json *v, struct eddy_schema **target,
                       const char **abs_out)
{
	char g[64], err[512];
	const char *abs;

	if (v->type != EDDY_JSON_STRING)
		return fail(c, "must be a URI reference, got %s", got(v, g, sizeof(g)));
	abs = eddy_schema_uri_resolve(c->set, c->n->res->uri, v->u.s);
	*target = eddy_schema_find(c->set, abs, err, sizeof(err));
	if (!*target)
		return fail(c, "cannot resolve \"%s\": %s", v->u.s, err);
	if ((*target)->state == NODE_BROKEN)
		return fail(c, "\"%s\" refers to a schema that failed to compile", v->u.s);
	if (abs_out)
		*abs_out = abs;
	return 0;
}

static int compile_deps(struct cc *c, const struct eddy_json *v, struct kw *w, bool schemas,
                        bool names)
{
	char g[64];

	if (v->type != EDDY_JSON_OBJECT)
		return fail(c, "must be an object, got %s", got(v, g, sizeof(g)));
	w->op = OP_DEPENDENCIES;
	w->u.deps.n = v->len;
	w->u.deps.v = eddy_schema_alloc(c->set, sizeof(struct dep) * (v->len + 1));
	for (uint32_t i = 0; i < v->len; i++) {
		const struct eddy_json_member *m = &v->u.members[i];
		struct dep *d = &w->u.deps.v[i];

		d->name.s = m->key;
		d->name.len = m->key_len;
		if (names && m->value.type == EDDY_JSON_ARRAY) {
			if (strings(c, &m->value, &d->names, &d->n_names))
				return -1;
		} else if (schemas && is_schema_value(&m->value)) {
			d->schema =
			    eddy_schema_node_at(c->set, c->n, &m->value, m->key, m->key_len);
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

static struct obj_kw *obj_of(struct cc *c, struct obj_kw **o)
{
	if (!*o)
		*o = eddy_schema_alloc(c->set, sizeof(**o));
	return *o;
}

/* The lookup table of properties and the required names' bits. */
static void obj_finish(struct cc *c, struct obj_kw *o)
{
	uint32_t cap = 4;

	while (cap < o->n_props * 2)
		cap *= 2;
	o->mask = cap - 1;
	o->table = eddy_schema_alloc(c->set, sizeof(uint32_t) * cap);
	for (uint32_t i = 0; i < o->n_props; i++) {
		uint32_t h = eddy_schema_prop_hash(o->props[i].name.s, o->props[i].name.len);

		while (o->table[h & o->mask])
			h++;
		o->table[h & o->mask] = i + 1;
	}
	o->required_prop = eddy_schema_alloc(c->set, sizeof(int32_t) * (o->n_required + 1));
	for (uint32_t r = 0; r < o->n_required; r++) {
		o->required_prop[r] = -1;
		for (uint32_t i = 0; i < o->n_props && i < 64; i++)
			if (o->props[i].name.len == o->required[r].len &&
			    memcmp(o->props[i].name.s, o->required[r].s, o->required[r].len) == 0)
				o->required_prop[r] = (int32_t)i;
	}
}

/* The vocabulary of each keyword that one can leave out of a 2019-09 or
 * 2020-12 meta-schema; what is not here is core, or an annotation. */
static const struct {
	const char *name;
	uint8_t vocab;
} kw_vocabs[] = {
    {"type", VOCAB_VALIDATION},
    {"const", VOCAB_VALIDATION},
    {"enum", VOCAB_VALIDATION},
    {"multipleOf", VOCAB_VALIDATION},
    {"maximum", VOCAB_VALIDATION},
    {"exclusiveMaximum", VOCAB_VALIDATION},
    {"minimum", VOCAB_VALIDATION},
    {"exclusiveMinimum", VOCAB_VALIDATION},
    {"maxLength", VOCAB_VALIDATION},
    {"minLength", VOCAB_VALIDATION},
    {"pattern", VOCAB_VALIDATION},
    {"maxItems", VOCAB_VALIDATION},
    {"minItems", VOCAB_VALIDATION},
    {"uniqueItems", VOCAB_VALIDATION},
    {"maxContains", VOCAB_VALIDATION},
    {"minContains", VOCAB_VALIDATION},
    {"maxProperties", VOCAB_VALIDATION},
    {"minProperties", VOCAB_VALIDATION},
    {"required", VOCAB_VALIDATION},
    {"dependentRequired", VOCAB_VALIDATION},
    {"prefixItems", VOCAB_APPLICATOR},
    {"items", VOCAB_APPLICATOR},
    {"additionalItems", VOCAB_APPLICATOR},
    {"contains", VOCAB_APPLICATOR},
    {"properties", VOCAB_APPLICATOR},
    {"patternProperties", VOCAB_APPLICATOR},
    {"additionalProperties", VOCAB_APPLICATOR},
    {"dependentSchemas", VOCAB_APPLICATOR},
    {"propertyNames", VOCAB_APPLICATOR},
    {"if", VOCAB_APPLICATOR},
    {"then", VOCAB_APPLICATOR},
    {"else", VOCAB_APPLICATOR},
    {"allOf", VOCAB_APPLICATOR},
    {"anyOf", VOCAB_APPLICATOR},
    {"oneOf", VOCAB_APPLICATOR},
    {"not", VOCAB_APPLICATOR},
    {"unevaluatedItems", VOCAB_UNEVALUATED},
    {"unevaluatedProperties", VOCAB_UNEVALUATED},
    {"format", VOCAB_FORMAT},
};

/* Whether keyword k counts in a schema whose meta-schema turned on the
 * vocabularies in vocabs. */
static bool kw_known(const char *k, uint8_t vocabs)
{
	if ((vocabs & VOCAB_ALL) == VOCAB_ALL)
		return true;
	for (size_t i = 0; i < sizeof(kw_vocabs) / sizeof(kw_vocabs[0]); i++)
		if (strcmp(k, kw_vocabs[i].name) == 0)
			return (vocabs & kw_vocabs[i].vocab) != 0;
	return true;
}

static int compile_node(struct eddy_schema_set *set, struct eddy_schema *n, char *errstr,
                        size_t errstr_size)
{
	struct cc c = {set, n, errstr, errstr_size, NULL};
	const struct eddy_json *v = n->json;
	enum eddy_schema_dialect d = n->dialect;
	bool legacy =
	    d == EDDY_DIALECT_DRAFT4 || d == EDDY_DIALECT_DRAFT6 || d == EDDY_DIALECT_DRAFT7;
	const struct eddy_json *ref = NULL;
	struct kw *kw, items = {0}, contains = {0}, cond = {0}, uneval_p = {0}, uneval_i = {0};
	struct kw *max_kw = NULL, *min_kw = NULL;
	bool excl_max = false, excl_min = false, has_items = false;
	struct obj_kw *obj = NULL;
	uint32_t nk = 0;
	char g[64];

	n->state = NODE_COMPILING;
	if (v->type == EDDY_JSON_TRUE)
		goto done;
	n->kw = kw =
	    eddy_schema_alloc(set, sizeof(*kw) * (v->type == EDDY_JSON_OBJECT ? v->len + 4 : 1));
	if (v->type == EDDY_JSON_FALSE) {
		kw[nk++].op = OP_FALSE;
		goto done;
	}
	if (v->type != EDDY_JSON_OBJECT)
		return fail(&c, "a schema must be an object or a boolean, got %s",
		            got(v, g, sizeof(g)));
	/* a vocabulary the meta-schema requires and we lack: the schema
	 * would not mean what its author meant (Core 8.1.2) */
	if (!*n->ptr && n->res->bad_vocab) {
		c.key = "$schema";
		return fail(
		    &c, "the meta-schema requires the vocabulary \"%s\", which is not supported",
		    n->res->bad_vocab);
	}
	/* Before 2019-09, $ref stands alone: its siblings are ignored. */
	if (legacy && (ref = eddy_json_getz(v, "$ref"))) {
		c.key = "$ref";
		kw[0].op = OP_REF;
		kw[0].name = "$ref";
		if (resolve_ref(&c, ref, &kw[0].u.ref.target, NULL))
			return -1;
		nk = 1;
		goto done;
	}
	/* "type" is tested first, outside the keyword array: the cheapest
	 * test, and the most telling error */
	if ((c.key = "type", ref = eddy_json_getz(v, "type")) && kw_known("type", n->vocabs) &&
	    type_bits(&c, ref, &n->types))
		return -1;
	for (uint32_t i = 0; i < v->len; i++) {
		const char *k = v->u.members[i].key;
		const struct eddy_json *x = &v->u.members[i].value;
		struct kw *w = &kw[nk];

		if (!kw_known(k, n->vocabs))
			continue;
		c.key = k;
		w->name = k;
		if (strcmp(k, "$ref") == 0) {
			w->op = OP_REF;
			if (resolve_ref(&c, x, &w->u.ref.target, NULL))
				return -1;
			nk++;
		} else if (strcmp(k, "$dynamicRef") == 0 && d == EDDY_DIALECT_2020_12) {
			const char *abs, *h;

			w->op = OP_DYNAMIC_REF;
			if (resolve_ref(&c, x, &w->u.ref.target, &abs))
				return -1;
			/* Dynamic only when the static target bookends it with a
			 * $dynamicAnchor of the same name. */
			h = strchr(abs, '#');
			if (h && h[1] && h[1] != '/')
				for (struct schema_anchor *a = w->u.ref.target->res->anchors; a;
				     a = a->next)
					if (a->dynamic && strcmp(a->name, h + 1) == 0)
						w->u.ref.anchor = a->name;
			nk++;
		} else if (strcmp(k, "$recursiveRef") == 0 && d == EDDY_DIALECT_2019_09) {
			w->op = OP_RECURSIVE_REF;
			if (resolve_ref(&c, x, &w->u.ref.target, NULL))
				return -1;
			nk++;
		} else if (strcmp(k, "enum") == 0) {
			if (x->type != EDDY_JSON_ARRAY)
				return fail(&c, "must be an array, got %s", got(x, g, sizeof(g)));
			w->op = OP_ENUM;
			w->u.en.values = x->u.items;
			w->u.en.n = x->len;
			w->u.en.all_strings = true;
			for (uint32_t j = 0; j < x->len; j++)
				if (x->u.items[j].type != EDDY_JSON_STRING)
					w->u.en.all_strings = false;
			nk++;
		} else if (strcmp(k, "const") == 0 && d != EDDY_DIALECT_DRAFT4) {
			w->op = OP_CONST;
			w->u.value = x;
			nk++;
		} else if (strcmp(k, "multipleOf") == 0) {
			w->op = OP_MULTIPLE_OF;
			if (number(&c, x, w))
				return -1;
			if (w->u.num.d <= 0)
				return fail(&c, "must be greater than 0, got %s",
				            got(x, g, sizeof(g)));
			nk++;
		} else if (strcmp(k, "maximum") == 0 || strcmp(k, "minimum") == 0) {
			w->op = k[1] == 'a' ? OP_MAXIMUM : OP_MINIMUM;
			if (number(&c, x, w))
				return -1;
			*(k[1] == 'a' ? &max_kw : &min_kw) = w;
			nk++;
		} else if (strcmp(k, "exclusiveMaximum") == 0 ||
		           strcmp(k, "exclusiveMinimum") == 0) {
			bool is_max = k[9] == 'M' && k[10] == 'a';

			if (d == EDDY_DIALECT_DRAFT4) {
				/* draft-04: a boolean that makes maximum/minimum exclusive */
				if (x->type != EDDY_JSON_TRUE && x->type != EDDY_JSON_FALSE)
					return fail(&c, "must be a boolean, got %s",
					            got(x, g, sizeof(g)));
				*(is_max ? &excl_max : &excl_min) = x->type == EDDY_JSON_TRUE;
				continue;
			}
			w->op = is_max ? OP_EXCL_MAXIMUM : OP_EXCL_MINIMUM;
			if (number(&c, x, w))
				return -1;
			nk++;
		} else if (strcmp(k, "maxLength") == 0 || strcmp(k, "minLength") == 0 ||
		           strcmp(k, "maxItems") == 0 || strcmp(k, "minItems") == 0 ||
		           strcmp(k, "maxProperties") == 0 || strcmp(k, "minProperties") == 0) {
			bool mx = k[1] == 'a';

			w->op = strstr(k, "Length")  ? (mx ? OP_MAX_LENGTH : OP_MIN_LENGTH)
			        : strstr(k, "Items") ? (mx ? OP_MAX_ITEMS : OP_MIN_ITEMS)
			                             : (mx ? OP_MAX_PROPERTIES : OP_MIN_PROPERTIES);
			if (count(&c, x, &w->u.count))
				return -1;
			nk++;
		} else if (strcmp(k, "pattern") == 0) {
			char err[256];

			if (x->type != EDDY_JSON_STRING)
				return fail(&c, "must be a string, got %s", got(x, g, sizeof(g)));
			w->op = OP_PATTERN;
			if (!(w->u.re = eddy_regex_compile(x->u.s, x->len, err, sizeof(err))))
				return fail(&c, "%s", err);
			nk++;
		} else if (strcmp(k, "format") == 0) {
			if (x->type != EDDY_JSON_STRING)
				return fail(&c, "must be a string, got %s", got(x, g, sizeof(g)));
			if (set->opts.format_assert || (n->vocabs & VOCAB_FORMAT_ASSERT)) {
				w->op = OP_FORMAT;
				w->u.format = x->u.s;
				nk++;
			}
		} else if (strcmp(k, "uniqueItems") == 0) {
			if (x->type != EDDY_JSON_TRUE && x->type != EDDY_JSON_FALSE)
				return fail(&c, "must be a boolean, got %s", got(x, g, sizeof(g)));
			if (x->type == EDDY_JSON_TRUE) {
				w->op = OP_UNIQUE_ITEMS;
				nk++;
			}
		} else if (strcmp(k, "items") == 0) {
			has_items = true;
			if (x->type == EDDY_JSON_ARRAY && d != EDDY_DIALECT_2020_12) {
				items.u.items.prefix_name = "items";
				if (sub_list(&c, x, &items.u.items.prefix, &items.u.items.n_prefix,
				             false))
					return -1;
			} else {
				if (!(items.u.items.rest = sub(&c, x)))
					return -1;
				items.u.items.rest_name = "items";
			}
		} else if (strcmp(k, "prefixItems") == 0 && d == EDDY_DIALECT_2020_12) {
			items.u.items.prefix_name = "prefixItems";
			if (sub_list(&c, x, &items.u.items.prefix, &items.u.items.n_prefix, true))
				return -1;
		} else if (strcmp(k, "additionalItems") == 0 && d != EDDY_DIALECT_2020_12) {
			/* kept aside: it means something only beside an array "items" */
			if (!sub(&c, x))
				return -1;
		} else if (strcmp(k, "contains") == 0 && d != EDDY_DIALECT_DRAFT4) {
			if (!(contains.u.contains.schema = sub(&c, x)))
				return -1;
		} else if ((strcmp(k, "minContains") == 0 || strcmp(k, "maxContains") == 0) &&
		           d >= EDDY_DIALECT_2019_09) {
			if (count(&c, x, &w->u.count))
				return -1;
		} else if (strcmp(k, "properties") == 0) {
			struct obj_kw *o = obj_of(&c, &obj);

			if (x->type != EDDY_JSON_OBJECT)
				return fail(&c, "must be an object, got %s", got(x, g, sizeof(g)));
			o->has_props = true;
			o->n_props = x->len;
			o->props = eddy_schema_alloc(set, sizeof(struct prop) * (x->len + 1));
			for (uint32_t j = 0; j < x->len; j++) {
				const struct eddy_json_member *m = &x->u.members[j];

				o->props[j].name.s = m->key;
				o->props[j].name.len = m->key_len;
				if (!is_schema_value(&m->value))
					return fail(&c, "\"%s\" must be a schema, got %s", m->key,
					            got(&m->value, g, sizeof(g)));
				o->props[j].schema =
				    eddy_schema_node_at(set, n, &m->value, m->key, m->key_len);
			}
		} else if (strcmp(k, "patternProperties") == 0) {
			struct obj_kw *o = obj_of(&c, &obj);

			if (x->type != EDDY_JSON_OBJECT)
				return fail(&c, "must be an object, got %s", got(x, g, sizeof(g)));
			o->has_pats = true;
			o->n_pats = 0;
			o->pats = eddy_schema_alloc(set, sizeof(struct patprop) * (x->len + 1));
			for (uint32_t j = 0; j < x->len; j++) {
				const struct eddy_json_member *m = &x->u.members[j];
				struct patprop *pp = &o->pats[j];
				char err[256];

				if (!is_schema_value(&m->value))
					return fail(&c, "\"%s\" must be a schema, got %s", m->key,
					            got(&m->value, g, sizeof(g)));
				if (!(pp->re =
				          eddy_regex_compile(m->key, m->key_len, err, sizeof(err))))
					return fail(&c, "\"%s\": %s", m->key, err);
				o->n_pats++;
				pp->schema =
				    eddy_schema_node_at(set, n, &m->value, m->key, m->key_len);
			}
		} else if (strcmp(k, "additionalProperties") == 0) {
			if (!(obj_of(&c, &obj)->additional = sub(&c, x)))
				return -1;
		} else if (strcmp(k, "required") == 0 &&
		           (d != EDDY_DIALECT_DRAFT4 || x->type == EDDY_JSON_ARRAY)) {
			struct obj_kw *o = obj_of(&c, &obj);

			o->has_required = true;
			if (strings(&c, x, &o->required, &o->n_required))
				return -1;
		} else if (strcmp(k, "propertyNames") == 0 && d != EDDY_DIALECT_DRAFT4) {
			w->op = OP_PROPERTY_NAMES;
			if (!(w->u.schema = sub(&c, x)))
				return -1;
			nk++;
		} else if (strcmp(k, "dependencies") == 0) {
			/* 2019-09 split it into dependentRequired and
			 * dependentSchemas; schemas written for draft-07 keep
			 * meaning what they meant */
			if (compile_deps(&c, x, w, true, true))
				return -1;
			nk++;
		} else if (strcmp(k, "dependentRequired") == 0 && !legacy) {
			if (compile_deps(&c, x, w, false, true))
				return -1;
			nk++;
		} else if (strcmp(k, "dependentSchemas") == 0 && !legacy) {
			if (compile_deps(&c, x, w, true, false))
				return -1;
			nk++;
		} else if (strcmp(k, "allOf") == 0 || strcmp(k, "anyOf") == 0 ||
		           strcmp(k, "oneOf") == 0) {
			w->op = k[0] == 'a' ? (k[1] == 'l' ? OP_ALL_OF : OP_ANY_OF) : OP_ONE_OF;
			if (sub_list(&c, x, &w->u.list.v, &w->u.list.n, true))
				return -1;
			nk++;
		} else if (strcmp(k, "not") == 0) {
			w->op = OP_NOT;
			if (!(w->u.schema = sub(&c, x)))
				return -1;
			nk++;
		} else if ((strcmp(k, "if") == 0 || strcmp(k, "then") == 0 ||
		            strcmp(k, "else") == 0) &&
		           d != EDDY_DIALECT_DRAFT4 && d != EDDY_DIALECT_DRAFT6) {
			struct eddy_schema *s = sub(&c, x);

			if (!s)
				return -1;
			*(k[0] == 'i'   ? &cond.u.cond.if_s
			  : k[0] == 't' ? &cond.u.cond.then_s
			                : &cond.u.cond.else_s) = s;
		} else if (strcmp(k, "unevaluatedProperties") == 0 && !legacy) {
			if (!(uneval_p.u.schema = sub(&c, x)))
				return -1;
		} else if (strcmp(k, "unevaluatedItems") == 0 && !legacy) {
			if (!(uneval_i.u.schema = sub(&c, x)))
				return -1;
		}
	}
	c.key = NULL;
	if (max_kw && excl_max)
		max_kw->op = OP_EXCL_MAXIMUM;
	if (min_kw && excl_min)
		min_kw->op = OP_EXCL_MINIMUM;
	if (items.u.items.prefix || items.u.items.rest) {
		const struct eddy_json *ai = eddy_json_getz(v, "additionalItems");

		if (items.u.items.prefix && !items.u.items.rest && ai &&
		    kw_known("additionalItems", n->vocabs) && d != EDDY_DIALECT_2020_12) {
			items.u.items.rest = eddy_schema_node_at(set, n, ai, "additionalItems", 15);
			items.u.items.rest_name = "additionalItems";
		}
		items.op = OP_ITEMS;
		items.name = items.u.items.prefix_name ? items.u.items.prefix_name : "items";
		kw[nk++] = items;
	}
	(void)has_items;
	if (contains.u.contains.schema) {
		const struct eddy_json *mn = eddy_json_getz(v, "minContains"),
		                       *mx = eddy_json_getz(v, "maxContains");

		contains.op = OP_CONTAINS;
		contains.name = "contains";
		contains.u.contains.min = 1;
		contains.u.contains.max = UINT64_MAX;
		if (d >= EDDY_DIALECT_2019_09 && kw_known("minContains", n->vocabs)) {
			c.key = "minContains";
			if (mn && count(&c, mn, &contains.u.contains.min))
				return -1;
			c.key = "maxContains";
			if (mx && count(&c, mx, &contains.u.contains.max))
				return -1;
		}
		kw[nk++] = contains;
	}
	if (obj) {
		obj_finish(&c, obj);
		kw[nk].op = OP_OBJECT;
		kw[nk].name = "properties";
		kw[nk++].u.obj = obj;
	}
	/* From 2019-09 on, "if" alone still counts: what it evaluates is
	 * evaluated, for unevaluatedItems and unevaluatedProperties. */
	if (cond.u.cond.if_s && (cond.u.cond.then_s || cond.u.cond.else_s || !legacy)) {
		cond.op = OP_IF;
		cond.name = "if";
		kw[nk++] = cond;
	}
	/* last: they see what every other keyword evaluated */
	if (uneval_p.u.schema) {
		uneval_p.op = OP_UNEVAL_PROPS;
		uneval_p.name = "unevaluatedProperties";
		kw[nk++] = uneval_p;
		n->has_uneval = true;
	}
	if (uneval_i.u.schema) {
		uneval_i.op = OP_UNEVAL_ITEMS;
		uneval_i.name = "unevaluatedItems";
		kw[nk++] = uneval_i;
		n->has_uneval = true;
	}
done:
	n->n_kw = nk;
	n->state = NODE_DONE;
	return 0;
}

int eddy_schema_compile_pending(struct eddy_schema_set *set, char *errstr, size_t errstr_size)
{
	while (set->pending) {
		struct eddy_schema *n = set->pending;

		set->pending = n->next_pending;
		if (n->state != NODE_NEW)
			continue;
		if (compile_node(set, n, errstr, errstr_size) != 0) {
			n->state = NODE_BROKEN;
			n->n_kw = 0;
			return -1;
		}
	}
	return 0;
}
