/* jsonschema_validate.c - runs compiled schemas over instances. A first
 * pass only answers valid or not, building no strings and allocating
 * nothing; only an invalid instance is evaluated again, collecting errors
 * with their locations. */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "jsonschema_format.h"
#include "jsonschema_int.h"
#include "utf8.h"

/* One entry of the dynamic scope: the schema resources evaluation went
 * through, innermost first ($dynamicRef, $recursiveRef look outward). */
struct scope {
	const struct schema_resource *res;
	const struct scope *up;
};

struct vctx {
	struct eddy_jsonschema_set *set;
	bool collect; /* record errors and locations */
	bool full;    /* max_errors recorded */
	bool oom;     /* memory ran out: the answer means nothing */
	bool over;    /* steps ran out (opts.max_steps): nor does this one */
	unsigned depth;
	uint64_t steps, max_steps; /* max_steps 0: no limit */
	const struct scope *scope;
	const struct schema_resource *res; /* scope->res, or NULL */
};

/* Notes a failed subschema in *ok; true when evaluation stops there: the
 * quiet pass needs no more, or the error list is full. */
static inline bool give_up(const struct vctx *c, bool r, bool *ok)
{
	if (r)
		return false;
	*ok = false;
	return !c->collect || c->full;
}

/* Counts n steps of work; false, and every validate() from then on
 * fails at once, when that passes the budget. Stopping sets full, so the
 * collecting pass gives up as the quiet one does. */
static inline bool spend(struct vctx *c, uint64_t n)
{
	if (c->over)
		return false;
	if (!c->max_steps || (c->steps += n) <= c->max_steps)
		return true;
	c->over = c->full = true;
	return false;
}

/* Which members or items of the instance some keyword evaluated, for
 * unevaluatedProperties / unevaluatedItems. */
struct eval {
	uint64_t *bits;
	uint32_t n;
	uint64_t small[4];
};

/* false when out of memory */
static bool ev_init(struct eval *e, uint32_t n)
{
	size_t words = (n + 63) / 64;

	e->n = n;
	if (words <= 4) {
		e->bits = e->small;
		memset(e->small, 0, sizeof(e->small));
		return true;
	}
	return (e->bits = eddy_alloc_calloc(words, sizeof(uint64_t))) != NULL;
}

static void ev_free(struct eval *e)
{
	if (e->bits != e->small)
		free(e->bits);
}

static inline void ev_mark(struct eval *e, uint32_t i)
{
	if (e && i < e->n)
		e->bits[i / 64] |= 1ULL << (i % 64);
}

static inline bool ev_has(const struct eval *e, uint32_t i)
{
	return (e->bits[i / 64] >> (i % 64)) & 1;
}

static void ev_merge(struct eval *d, const struct eval *s)
{
	for (uint32_t w = 0; w < (d->n + 63) / 64; w++)
		d->bits[w] |= s->bits[w];
}

/* ---- locations and errors (collecting pass only) ---- */

/* Appends s to a buffer of the set; out of memory, it appends nothing and
 * stops the collecting (c->oom). Returns where s went. */
static size_t grow_put(struct vctx *c, char **buf, size_t *len, size_t *cap, const char *s,
                       size_t n)
{
	size_t at = *len;

	if (*len + n + 1 > *cap) {
		size_t nc = *cap ? *cap : 256;
		char *nb;

		while (*len + n + 1 > nc)
			nc *= 2;
		if (!(nb = eddy_alloc_realloc(*buf, nc))) {
			c->oom = c->full = true;
			return at;
		}
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = 0;
	return at;
}

/* Appends "/" and a pointer token (~ and / escaped) to a location. */
static void put_token(struct vctx *c, char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	grow_put(c, buf, len, cap, "/", 1);
	for (size_t i = 0; i < n; i++) {
		size_t run = i;

		while (run < n && s[run] != '~' && s[run] != '/')
			run++;
		grow_put(c, buf, len, cap, s + i, run - i);
		if (run < n)
			grow_put(c, buf, len, cap, s[run] == '~' ? "~0" : "~1", 2);
		i = run;
	}
}

static size_t __attribute__((noinline)) ipush_slow(struct vctx *c, const char *key, size_t n)
{
	struct eddy_jsonschema_set *s = c->set;
	size_t at = s->ipath_len;

	put_token(c, &s->ipath, &s->ipath_len, &s->ipath_cap, key, n);
	return at;
}

/* The location helpers cost one test in the quiet pass. */
static inline size_t ipush(struct vctx *c, const char *key, size_t n)
{
	return c->collect ? ipush_slow(c, key, n) : 0;
}

static size_t ipush_idx(struct vctx *c, uint32_t i)
{
	char t[16];

	if (!c->collect)
		return 0;
	return ipush(c, t, (size_t)snprintf(t, sizeof(t), "%" PRIu32, i));
}

static inline void ipop(struct vctx *c, size_t at)
{
	if (c->collect) {
		c->set->ipath_len = at;
		c->set->ipath[at] = 0;
	}
}

static size_t __attribute__((noinline))
kpush_slow(struct vctx *c, const char *kw, const char *sub, size_t sub_len)
{
	struct eddy_jsonschema_set *s = c->set;
	size_t at = s->kpath_len;

	put_token(c, &s->kpath, &s->kpath_len, &s->kpath_cap, kw, strlen(kw));
	if (sub)
		put_token(c, &s->kpath, &s->kpath_len, &s->kpath_cap, sub, sub_len);
	return at;
}

static inline size_t kpush(struct vctx *c, const char *kw, const char *sub, size_t sub_len)
{
	return c->collect ? kpush_slow(c, kw, sub, sub_len) : 0;
}

static size_t kpush_idx(struct vctx *c, const char *kw, uint32_t i)
{
	char t[16];

	if (!c->collect)
		return 0;
	return kpush(c, kw, t, (size_t)snprintf(t, sizeof(t), "%" PRIu32, i));
}

static inline void kpop(struct vctx *c, size_t at)
{
	if (c->collect) {
		c->set->kpath_len = at;
		c->set->kpath[at] = 0;
	}
}

static size_t text_put(struct vctx *c, const char *t, size_t n)
{
	struct eddy_jsonschema_set *s = c->set;
	size_t at = s->text_len;

	grow_put(c, &s->text, &s->text_len, &s->text_cap, t, n);
	/* each string keeps its NUL */
	if (!c->oom)
		s->text_len++;
	return at;
}

static void err(struct vctx *c, const struct eddy_jsonschema *n, const char *kw, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

/* Records an error of keyword kw (NULL: the schema itself) of schema n at
 * the current locations. */
static void err(struct vctx *c, const struct eddy_jsonschema *n, const char *kw, const char *fmt,
                ...)
{
	struct eddy_jsonschema_set *s = c->set;
	struct err_rec *r;
	char msg[512], loc[1024];
	va_list ap;
	size_t at;

	if (!c->collect || c->full)
		return;
	if (s->n_errors >= s->opts.max_errors) {
		c->full = true;
		return;
	}
	if (s->n_errors == s->cap_errors) {
		size_t nc = s->cap_errors ? s->cap_errors * 2 : 16;
		struct err_rec *recs = eddy_alloc_realloc(s->recs, nc * sizeof(*s->recs));
		struct eddy_jsonschema_error *errors;

		if (recs)
			s->recs = recs;
		errors = recs ? eddy_alloc_realloc(s->errors, nc * sizeof(*s->errors)) : NULL;
		if (!errors) {
			c->oom = c->full = true;
			return;
		}
		s->errors = errors;
		s->cap_errors = nc;
	}
	r = &s->recs[s->n_errors++];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->inst = text_put(c, s->ipath, s->ipath_len);
	at = s->kpath_len;
	if (kw)
		kpush(c, kw, NULL, 0);
	r->kw = text_put(c, s->kpath, s->kpath_len);
	kpop(c, at);
	if (kw)
		snprintf(loc, sizeof(loc), "%s%s/%s", n->uri, strchr(n->uri, '#') ? "" : "#", kw);
	else
		snprintf(loc, sizeof(loc), "%s", n->uri);
	r->abs = text_put(c, loc, strlen(loc));
	r->msg = text_put(c, msg, strlen(msg));
	if (s->n_errors >= s->opts.max_errors)
		c->full = true;
}

static const char *snip(const struct eddy_json *v, char *buf, size_t size)
{
	eddy_jsonschema_snippet(buf, size, v);
	return buf;
}

/* ---- values ---- */

/* Short strings (property names, enum values) compare faster inline than
 * through a call to memcmp. */
static inline bool same_bytes(const char *a, const char *b, uint32_t n)
{
	uint64_t x, y, x2, y2;
	uint32_t u, v, u2, v2;

	if (n >= 8) {
		/* whole words, the last one overlapping its predecessor */
		for (uint32_t i = 0; i + 8 < n; i += 8) {
			memcpy(&x, a + i, 8);
			memcpy(&y, b + i, 8);
			if (x != y)
				return false;
		}
		memcpy(&x2, a + n - 8, 8);
		memcpy(&y2, b + n - 8, 8);
		return x2 == y2;
	}
	if (n >= 4) {
		memcpy(&u, a, 4);
		memcpy(&v, b, 4);
		memcpy(&u2, a + n - 4, 4);
		memcpy(&v2, b + n - 4, 4);
		return u == v && u2 == v2;
	}
	for (uint32_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

static const struct eddy_json *member(const struct eddy_json *o, const char *k, uint32_t len)
{
	for (uint32_t i = 0; i < o->len; i++)
		if (o->u.members[i].key_len == len && memcmp(o->u.members[i].key, k, len) == 0)
			return &o->u.members[i].value;
	return NULL;
}

static bool is_num(const struct eddy_json *v)
{
	return v->type == EDDY_JSON_INT || v->type == EDDY_JSON_DOUBLE;
}

/* -1, 0, 1: a against b, exact for every int64 and double (long double
 * holds both on the platforms eddy builds for; where it does not, only
 * integers beyond 2^53 compare approximately). */
static int num_cmp(const struct eddy_json *a, int64_t bi, double bd, bool b_int)
{
	if (a->type == EDDY_JSON_INT && b_int)
		return a->u.i < bi ? -1 : a->u.i > bi;
	long double x = a->type == EDDY_JSON_INT ? (long double)a->u.i : (long double)a->u.d;
	long double y = b_int ? (long double)bi : (long double)bd;

	return x < y ? -1 : x > y;
}

static bool json_equal(const struct eddy_json *a, const struct eddy_json *b)
{
	if (is_num(a) && is_num(b))
		return num_cmp(a, b->u.i, b->u.d, b->type == EDDY_JSON_INT) == 0 &&
		       (b->type == EDDY_JSON_INT || a->type == EDDY_JSON_INT || a->u.d == b->u.d);
	if (a->type != b->type || a->len != b->len)
		return false;
	switch (a->type) {
	case EDDY_JSON_STRING:
		return memcmp(a->u.s, b->u.s, a->len) == 0;
	case EDDY_JSON_ARRAY:
		for (uint32_t i = 0; i < a->len; i++)
			if (!json_equal(&a->u.items[i], &b->u.items[i]))
				return false;
		return true;
	case EDDY_JSON_OBJECT:
		for (uint32_t i = 0; i < a->len; i++) {
			const struct eddy_json_member *m = &a->u.members[i], *bm = &b->u.members[i];
			/* members in the same order (the common case) are found
			 * without searching */
			const struct eddy_json *o =
			    bm->key_len == m->key_len && memcmp(bm->key, m->key, m->key_len) == 0
			        ? &bm->value
			        : member(b, m->key, m->key_len);

			if (!o || !json_equal(&a->u.members[i].value, o))
				return false;
		}
		return true;
	default:
		return true;
	}
}

static inline uint32_t inst_type(const struct eddy_json *v)
{
	static const uint8_t bits[8] = {
	    [EDDY_JSON_NULL] = T_NULL,       [EDDY_JSON_FALSE] = T_BOOL, [EDDY_JSON_TRUE] = T_BOOL,
	    [EDDY_JSON_INT] = T_INT | T_NUM, [EDDY_JSON_DOUBLE] = T_NUM, [EDDY_JSON_STRING] = T_STR,
	    [EDDY_JSON_ARRAY] = T_ARR,       [EDDY_JSON_OBJECT] = T_OBJ,
	};

	/* 1.0 is an integer; so is 1e300 */
	if (v->type == EDDY_JSON_DOUBLE && floor(v->u.d) == v->u.d)
		return T_INT | T_NUM;
	return bits[v->type & 7];
}

static void type_names(uint32_t bits, char *buf, size_t size)
{
	static const char *const names[] = {"null",   "boolean", "integer", "number",
	                                    "string", "array",   "object"};
	size_t o = 0;

	buf[0] = 0;
	if ((bits & (T_INT | T_NUM)) == (T_INT | T_NUM))
		bits &= ~(uint32_t)T_INT;
	for (int i = 0; i < 7; i++)
		if (bits & (1u << i))
			o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? " or " : "", names[i]);
}

static bool multiple_of(const struct eddy_json *x, const struct kw *w)
{
	double v, m = w->u.num.d, q;

	if (x->type == EDDY_JSON_INT && w->u.num.is_int)
		return x->u.i % w->u.num.i == 0;
	v = x->type == EDDY_JSON_INT ? (double)x->u.i : x->u.d;
	/* integers (as doubles) divide exactly */
	if (floor(v) == v && floor(m) == m)
		return fmod(v, m) == 0;
	q = v / m;
	/* Past the range of a quotient the remainder still is exact: 1e308 is a
	 * multiple of 0.5, and (almost surely) not of 0.123456789. */
	if (!isfinite(q))
		return fmod(fabs(v), m) == 0;
	/* 0.0075 / 0.0001 is 74.99999999999999: a few ulps from an integer */
	return fabs(q - nearbyint(q)) <= 8 * DBL_EPSILON * fmax(1.0, fabs(q));
}

static bool is_false(const struct eddy_jsonschema *s)
{
	return s->n_kw == 1 && s->kw[0].op == OP_FALSE;
}

static bool validate(struct vctx *c, const struct eddy_jsonschema *n, const struct eddy_json *v,
                     struct eval *ev);

/* Evaluates s on v without recording errors (a branch being tried). */
static bool quiet(struct vctx *c, const struct eddy_jsonschema *s, const struct eddy_json *v,
                  struct eval *ev)
{
	bool saved = c->collect, ok;

	c->collect = false;
	ok = validate(c, s, v, ev);
	c->collect = saved;
	return ok;
}

static bool check_items(struct vctx *c, const struct eddy_jsonschema *n, const struct kw *w,
                        const struct eddy_json *v, struct eval *ev)
{
	uint32_t np = w->u.items.n_prefix < v->len ? w->u.items.n_prefix : v->len;
	bool ok = true;

	for (uint32_t i = 0; i < np; i++) {
		size_t ia = ipush_idx(c, i), ka = kpush_idx(c, w->u.items.prefix_name, i);
		bool r = validate(c, w->u.items.prefix[i], &v->u.items[i], NULL);

		kpop(c, ka);
		ipop(c, ia);
		if (give_up(c, r, &ok))
			return false;
		ev_mark(ev, i);
	}
	if (!w->u.items.rest || v->len <= np)
		return ok;
	if (is_false(w->u.items.rest)) {
		err(c, n, w->u.items.rest_name, "must have at most %" PRIu32 " items, got %" PRIu32,
		    np, v->len);
		return false;
	}
	for (uint32_t i = np; i < v->len; i++) {
		size_t ia = ipush_idx(c, i), ka = kpush(c, w->u.items.rest_name, NULL, 0);
		bool r = validate(c, w->u.items.rest, &v->u.items[i], NULL);

		kpop(c, ka);
		ipop(c, ia);
		if (give_up(c, r, &ok))
			return false;
		ev_mark(ev, i);
	}
	return ok;
}

static bool check_contains(struct vctx *c, const struct eddy_jsonschema *n, const struct kw *w,
                           const struct eddy_json *v, struct eval *ev)
{
	uint64_t hits = 0, min = w->u.contains.min, max = w->u.contains.max;
	bool mark = ev && n->dialect == EDDY_JSONSCHEMA_2020_12;

	for (uint32_t i = 0; i < v->len; i++) {
		if (!quiet(c, w->u.contains.schema, &v->u.items[i], NULL))
			continue;
		hits++;
		if (mark)
			ev_mark(ev, i);
		else if (max == UINT64_MAX && hits >= min)
			break;
	}
	if (hits >= min && hits <= max)
		return true;
	if (hits == 0)
		err(c, n, "contains", "no item matches the \"contains\" schema (%" PRIu32 " items)",
		    v->len);
	else if (hits < min)
		err(c, n, "minContains",
		    "%" PRIu64 " items match the \"contains\" schema, must be at least %" PRIu64,
		    hits, min);
	else
		err(c, n, "maxContains",
		    "%" PRIu64 " items match the \"contains\" schema, must be at most %" PRIu64,
		    hits, max);
	return false;
}

static bool check_object(struct vctx *c, const struct eddy_jsonschema *n, const struct obj_kw *o,
                         const struct eddy_json *v, struct eval *ev)
{
	uint64_t seen = 0;
	bool ok = true;

	for (uint32_t i = 0; i < v->len; i++) {
		const struct eddy_json_member *m = &v->u.members[i];
		bool matched = false;

		if (o->n_props) {
			uint32_t h = eddy_jsonschema_prop_hash(m->key, m->key_len), idx;

			while ((idx = o->table[h & o->mask])) {
				const struct prop *p = &o->props[idx - 1];

				if (p->name.len == m->key_len &&
				    same_bytes(p->name.s, m->key, m->key_len)) {
					size_t ia = ipush(c, m->key, m->key_len),
					       ka = kpush(c, "properties", m->key, m->key_len);
					bool r = validate(c, p->schema, &m->value, NULL);

					kpop(c, ka);
					ipop(c, ia);
					matched = true;
					if (idx <= 64)
						seen |= 1ULL << (idx - 1);
					if (give_up(c, r, &ok))
						return false;
					break;
				}
				h++;
			}
		}
		for (uint32_t j = 0; j < o->n_pats; j++) {
			if (eddy_regex_search(o->pats[j].re, m->key, m->key_len) != 1)
				continue;
			size_t ia = ipush(c, m->key, m->key_len),
			       ka = kpush(c, "patternProperties", eddy_regex_pattern(o->pats[j].re),
			                  strlen(eddy_regex_pattern(o->pats[j].re)));
			bool r = validate(c, o->pats[j].schema, &m->value, NULL);

			kpop(c, ka);
			ipop(c, ia);
			matched = true;
			if (give_up(c, r, &ok))
				return false;
		}
		if (!matched && o->additional) {
			size_t ia = ipush(c, m->key, m->key_len);
			bool r;

			if (is_false(o->additional)) {
				err(c, n, "additionalProperties", "property \"%s\" is not allowed",
				    m->key);
				r = false;
			} else {
				size_t ka = kpush(c, "additionalProperties", NULL, 0);

				r = validate(c, o->additional, &m->value, NULL);
				kpop(c, ka);
			}
			ipop(c, ia);
			matched = true;
			if (give_up(c, r, &ok))
				return false;
		}
		if (matched)
			ev_mark(ev, i);
	}
	for (uint32_t r = 0; r < o->n_required; r++) {
		int32_t p = o->required_prop[r];

		if (p >= 0 ? (seen >> p) & 1
		           : member(v, o->required[r].s, o->required[r].len) != NULL)
			continue;
		err(c, n, "required", "required property \"%s\" is missing", o->required[r].s);
		if (give_up(c, false, &ok))
			return false;
	}
	return ok;
}

static bool check_deps(struct vctx *c, const struct eddy_jsonschema *n, const struct kw *w,
                       const struct eddy_json *v, struct eval *ev)
{
	bool ok = true;

	for (uint32_t i = 0; i < w->u.deps.n; i++) {
		const struct dep *d = &w->u.deps.v[i];

		if (!member(v, d->name.s, d->name.len))
			continue;
		if (d->schema) {
			size_t ka = kpush(c, w->name, d->name.s, d->name.len);
			bool r = validate(c, d->schema, v, ev);

			kpop(c, ka);
			if (give_up(c, r, &ok))
				return false;
			continue;
		}
		for (uint32_t j = 0; j < d->n_names; j++) {
			if (member(v, d->names[j].s, d->names[j].len))
				continue;
			err(c, n, w->name, "property \"%s\" is required when \"%s\" is present",
			    d->names[j].s, d->name.s);
			if (give_up(c, false, &ok))
				return false;
		}
	}
	return ok;
}

/* anyOf and oneOf: branches are tried quietly; annotations are taken from
 * the valid ones by evaluating them again, which only a schema with
 * unevaluated* pays for. */
static bool check_some(struct vctx *c, const struct eddy_jsonschema *n, const struct kw *w,
                       const struct eddy_json *v, struct eval *ev)
{
	uint32_t hits = 0, first = 0, second = 0;
	bool one = w->op == OP_ONE_OF;

	for (uint32_t i = 0; i < w->u.list.n; i++) {
		if (!quiet(c, w->u.list.v[i], v, NULL))
			continue;
		if (hits == 0)
			first = i;
		else if (hits == 1)
			second = i;
		hits++;
		if (ev)
			quiet(c, w->u.list.v[i], v, ev);
		else if (!one || hits > 1)
			break;
	}
	if (one ? hits == 1 : hits > 0)
		return true;
	if (hits > 1) {
		err(c, n, w->name,
		    "matches more than one schema of oneOf (%" PRIu32 " and %" PRIu32
		    "), must match exactly one",
		    first, second);
		return false;
	}
	if (c->collect) {
		char g[80];

		for (uint32_t i = 0; i < w->u.list.n && !c->full; i++) {
			size_t ka = kpush_idx(c, w->name, i);

			validate(c, w->u.list.v[i], v, NULL);
			kpop(c, ka);
		}
		err(c, n, w->name, "%s matches none of the %" PRIu32 " schemas of %s",
		    snip(v, g, sizeof(g)), w->u.list.n, w->name);
	}
	return false;
}

static bool check_uneval(struct vctx *c, const struct eddy_jsonschema *n, const struct kw *w,
                         const struct eddy_json *v, struct eval *ev)
{
	bool props = w->op == OP_UNEVAL_PROPS, ok = true, none = is_false(w->u.schema);

	for (uint32_t i = 0; i < v->len; i++) {
		const struct eddy_json *x = props ? &v->u.members[i].value : &v->u.items[i];
		size_t ia, ka;
		bool r;

		if (ev_has(ev, i))
			continue;
		ia = props ? ipush(c, v->u.members[i].key, v->u.members[i].key_len)
		           : ipush_idx(c, i);
		if (none) {
			if (props)
				err(c, n, w->name, "property \"%s\" is not allowed (unevaluated)",
				    v->u.members[i].key);
			else
				err(c, n, w->name, "item %" PRIu32 " is not allowed (unevaluated)",
				    i);
			r = false;
		} else {
			ka = kpush(c, w->name, NULL, 0);
			r = validate(c, w->u.schema, x, NULL);
			kpop(c, ka);
		}
		ipop(c, ia);
		if (give_up(c, r, &ok))
			return false;
		ev_mark(ev, i);
	}
	return ok;
}

static const struct eddy_jsonschema *dynamic_target(struct vctx *c, const struct kw *w)
{
	const struct eddy_jsonschema *t = w->u.ref.target;

	if (w->op == OP_DYNAMIC_REF) {
		if (!w->u.ref.anchor)
			return t;
		/* the outermost resource of the dynamic scope with that anchor */
		for (const struct scope *s = c->scope; s; s = s->up)
			for (const struct schema_anchor *a = s->res->anchors; a; a = a->next)
				if (a->dynamic && strcmp(a->name, w->u.ref.anchor) == 0) {
					t = a->schema;
					break;
				}
		return t;
	}
	/* $recursiveRef: outward while the resources say $recursiveAnchor */
	if (!t->res->recursive_anchor || t != t->res->root)
		return t;
	for (const struct scope *s = c->scope; s && s->res->recursive_anchor; s = s->up)
		t = s->res->root;
	return t;
}

/* The message of a failed keyword. Kept out of check() so that the quiet
 * pass carries none of its buffers; aux is what check() measured. */
static bool __attribute__((cold, noinline))
fail_kw(struct vctx *c, const struct eddy_jsonschema *n, const struct kw *w,
        const struct eddy_json *v, uint64_t aux)
{
	char g[80], h[80], list[200];
	size_t o = 0;

	if (!c->collect)
		return false;
	snip(v, g, sizeof(g));
	switch ((enum kw_op)w->op) {
	case OP_FALSE:
		err(c, n, NULL, "%s is not allowed here (the schema is false)", g);
		break;
	case OP_TYPE:
		type_names(w->u.types, h, sizeof(h));
		err(c, n, w->name, "must be of type %s, got %s %s", h,
		    eddy_json_type_name((enum eddy_json_type)v->type), g);
		break;
	case OP_CONST:
		err(c, n, w->name, "must be %s, got %s", snip(w->u.value, h, sizeof(h)), g);
		break;
	case OP_ENUM:
		list[0] = 0;
		for (uint32_t i = 0; i < w->u.en.n && o < 120; i++) {
			snip(&w->u.en.values[i], h, 60);
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", h);
		}
		if (o >= 120 && o < sizeof(list))
			snprintf(list + o, sizeof(list) - o, ", ...");
		err(c, n, w->name, "%s is not one of %s", g, list);
		break;
	case OP_MULTIPLE_OF:
		err(c, n, w->name, "must be a multiple of %.17g, got %s", w->u.num.d, g);
		break;
	case OP_MAXIMUM:
	case OP_MINIMUM:
	case OP_EXCL_MAXIMUM:
	case OP_EXCL_MINIMUM:
		if (w->u.num.is_int)
			snprintf(h, sizeof(h), "%" PRId64, w->u.num.i);
		else
			snprintf(h, sizeof(h), "%.17g", w->u.num.d);
		err(c, n, w->name, "must be %s %s, got %s",
		    w->op == OP_MAXIMUM        ? "<="
		    : w->op == OP_MINIMUM      ? ">="
		    : w->op == OP_EXCL_MAXIMUM ? "<"
		                               : ">",
		    h, g);
		break;
	case OP_MAX_LENGTH:
	case OP_MIN_LENGTH:
		err(c, n, w->name, "must be %s %" PRIu64 " characters long, got %" PRIu64 ": %s",
		    w->op == OP_MAX_LENGTH ? "at most" : "at least", w->u.count, aux, g);
		break;
	case OP_PATTERN:
		err(c, n, w->name, "%s %s pattern \"%s\"", g,
		    aux == 0 ? "does not match" : "could not be matched (resource limit) against",
		    eddy_regex_pattern(w->u.re));
		break;
	case OP_FORMAT:
		err(c, n, w->name, "%s is not a valid \"%s\"", g, w->u.format);
		break;
	case OP_MAX_ITEMS:
	case OP_MIN_ITEMS:
		err(c, n, w->name, "must have %s %" PRIu64 " items, got %" PRIu32,
		    w->op == OP_MAX_ITEMS ? "at most" : "at least", w->u.count, v->len);
		break;
	case OP_MAX_PROPERTIES:
	case OP_MIN_PROPERTIES:
		err(c, n, w->name, "must have %s %" PRIu64 " properties, got %" PRIu32,
		    w->op == OP_MAX_PROPERTIES ? "at most" : "at least", w->u.count, v->len);
		break;
	case OP_UNIQUE_ITEMS:
		err(c, n, w->name,
		    "items %" PRIu64 " and %" PRIu64 " are equal (%s), must be unique", aux >> 32,
		    aux & 0xffffffffu, snip(&v->u.items[aux & 0xffffffffu], h, sizeof(h)));
		break;
	case OP_NOT:
		err(c, n, w->name, "%s must not match the \"not\" schema", g);
		break;
	default:
		err(c, n, w->name, "%s is not valid", g);
		break;
	}
	return false;
}

static bool check_enum(struct vctx *c, const struct eddy_jsonschema *n, const struct kw *w,
                       const struct eddy_json *v)
{
	if (v->type == EDDY_JSON_STRING) {
		for (uint32_t i = 0; i < w->u.en.n; i++) {
			const struct eddy_json *e = &w->u.en.values[i];

			if (e->type == EDDY_JSON_STRING && e->len == v->len &&
			    same_bytes(e->u.s, v->u.s, v->len))
				return true;
		}
	} else if (!w->u.en.all_strings) {
		for (uint32_t i = 0; i < w->u.en.n; i++)
			if (json_equal(v, &w->u.en.values[i]))
				return true;
	}
	return fail_kw(c, n, w, v, 0);
}

/* maximum, minimum, exclusiveMaximum, exclusiveMinimum */
static bool check_bound(struct vctx *c, const struct eddy_jsonschema *n, const struct kw *w,
                        const struct eddy_json *v)
{
	int r;
	bool ok;

	if (!is_num(v))
		return true;
	r = num_cmp(v, w->u.num.i, w->u.num.d, w->u.num.is_int);
	ok = w->op == OP_MAXIMUM        ? r <= 0
	     : w->op == OP_MINIMUM      ? r >= 0
	     : w->op == OP_EXCL_MAXIMUM ? r < 0
	                                : r > 0;
	return ok || fail_kw(c, n, w, v, 0);
}

static bool check_length(struct vctx *c, const struct eddy_jsonschema *n, const struct kw *w,
                         const struct eddy_json *v)
{
	uint64_t len;

	if (v->type != EDDY_JSON_STRING)
		return true;
	/* A code point takes one to four bytes: most strings pass or fail on
	 * their byte length alone. */
	if (w->op == OP_MAX_LENGTH ? v->len <= w->u.count : v->len / 4 >= w->u.count)
		return true;
	len = eddy_utf8_count(v->u.s, v->len);
	return (w->op == OP_MAX_LENGTH ? len <= w->u.count : len >= w->u.count) ||
	       fail_kw(c, n, w, v, len);
}

static inline uint64_t mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 33);
}

static uint64_t bytes_hash(const char *s, uint32_t len)
{
	return mix64(eddy_fnv1a(EDDY_FNV1A_INIT, s, len) ^ len);
}

/* A hash that values equal under json_equal share: a number by its value
 * (1 and 1.0 alike), an object's members in any order. Linear in the size
 * of v. */
static uint64_t json_hash(const struct eddy_json *v)
{
	uint64_t h;

	switch (v->type) {
	case EDDY_JSON_INT:
		return mix64((uint64_t)v->u.i ^ 0x6e756dULL);
	case EDDY_JSON_DOUBLE:
		/* an integral double in int64's range equals that integer */
		if (floor(v->u.d) == v->u.d && v->u.d >= -9223372036854775808.0 &&
		    v->u.d < 9223372036854775808.0)
			return mix64((uint64_t)(int64_t)v->u.d ^ 0x6e756dULL);
		memcpy(&h, &v->u.d, sizeof h);
		return mix64(h ^ 0x64626cULL);
	case EDDY_JSON_STRING:
		return bytes_hash(v->u.s, v->len);
	case EDDY_JSON_ARRAY:
		h = 0x617272ULL ^ v->len;
		for (uint32_t i = 0; i < v->len; i++)
			h = mix64(h + json_hash(&v->u.items[i]));
		return h;
	case EDDY_JSON_OBJECT:
		/* a sum: the order of the members does not count */
		h = 0;
		for (uint32_t i = 0; i < v->len; i++)
			h += mix64(bytes_hash(v->u.members[i].key, v->u.members[i].key_len) ^
			           json_hash(&v->u.members[i].value));
		return mix64(h ^ 0x6f626aULL ^ v->len);
	default:
		return mix64(v->type);
	}
}

/* uniqueItems: each item is hashed and looked up among the items before
 * it, so the work grows with the array's size, not its square (100k items
 * took 12 s compared pairwise). The first equal pair reported is the one
 * the pairwise loop would find: the least i with an equal item before it. */
static bool check_unique(struct vctx *c, const struct eddy_jsonschema *n, const struct kw *w,
                         const struct eddy_json *v)
{
	uint64_t *hashes;
	uint32_t *table;
	size_t mask = 15;
	bool ok = true;

	if (v->type != EDDY_JSON_ARRAY || v->len < 2)
		return true;
	if (!spend(c, v->len))
		return false;
	if (v->len <= 8) {
		for (uint32_t i = 1; i < v->len; i++)
			for (uint32_t j = 0; j < i; j++)
				if (json_equal(&v->u.items[i], &v->u.items[j]))
					return fail_kw(c, n, w, v, (uint64_t)j << 32 | i);
		return true;
	}
	while (mask < (size_t)v->len * 2 - 1)
		mask = mask * 2 + 1;
	hashes = eddy_alloc_malloc(v->len * sizeof *hashes);
	table = hashes ? eddy_alloc_calloc(mask + 1, sizeof *table) : NULL;
	if (!table) {
		free(hashes);
		c->oom = c->full = true;
		return false;
	}
	/* table: index + 1 of an item, 0 for a free slot. Every probe is a
	 * step: items made to collide cost steps, not unbounded time. */
	for (uint32_t i = 0; i < v->len && ok; i++) {
		size_t slot;
		uint32_t j;

		hashes[i] = json_hash(&v->u.items[i]);
		for (slot = (size_t)hashes[i] & mask; (j = table[slot]); slot = (slot + 1) & mask) {
			if (!spend(c, 1)) {
				ok = false;
				break;
			}
			if (hashes[j - 1] != hashes[i])
				continue;
			if (json_equal(&v->u.items[i], &v->u.items[j - 1])) {
				ok = fail_kw(c, n, w, v, (uint64_t)(j - 1) << 32 | i);
				break;
			}
		}
		table[slot] = i + 1;
	}
	free(hashes);
	free(table);
	return ok;
}

static bool check_property_names(struct vctx *c, const struct kw *w, const struct eddy_json *v)
{
	bool ok = true;

	if (v->type != EDDY_JSON_OBJECT)
		return true;
	for (uint32_t i = 0; i < v->len && (ok || (c->collect && !c->full)); i++) {
		struct eddy_json k = {.type = EDDY_JSON_STRING,
		                      .len = v->u.members[i].key_len,
		                      .u.s = v->u.members[i].key};
		size_t ka = kpush(c, w->name, NULL, 0);

		ok &= validate(c, w->u.schema, &k, NULL);
		kpop(c, ka);
	}
	return ok;
}

static bool check_all_of(struct vctx *c, const struct kw *w, const struct eddy_json *v,
                         struct eval *ev)
{
	bool ok = true;

	for (uint32_t i = 0; i < w->u.list.n; i++) {
		size_t ka = kpush_idx(c, w->name, i);
		bool r = validate(c, w->u.list.v[i], v, ev);

		kpop(c, ka);
		if (give_up(c, r, &ok))
			return false;
	}
	return ok;
}

static bool check_if(struct vctx *c, const struct kw *w, const struct eddy_json *v, struct eval *ev)
{
	const struct eddy_jsonschema *next;
	size_t ka;
	bool r;

	/* "if" alone: its annotations are all it gives, and only a schema
	 * with unevaluated* asks for them */
	if (!w->u.cond.then_s && !w->u.cond.else_s && !ev)
		return true;
	r = quiet(c, w->u.cond.if_s, v, NULL);
	next = r ? w->u.cond.then_s : w->u.cond.else_s;
	if (r && ev)
		quiet(c, w->u.cond.if_s, v, ev);
	if (!next)
		return true;
	ka = kpush(c, r ? "then" : "else", NULL, 0);
	r = validate(c, next, v, ev);
	kpop(c, ka);
	return r;
}

/* $ref, $dynamicRef, $recursiveRef */
static bool check_ref(struct vctx *c, const struct kw *w, const struct eddy_json *v,
                      struct eval *ev)
{
	size_t ka = kpush(c, w->name, NULL, 0);
	bool r = validate(c, w->op == OP_REF ? w->u.ref.target : dynamic_target(c, w), v, ev);

	kpop(c, ka);
	return r;
}

/* One keyword on v. A switch rather than a table of functions: the quiet
 * pass runs through here for every keyword of every instance, and the
 * cheap checks inline. */
static bool check(struct vctx *c, const struct eddy_jsonschema *n, const struct kw *w,
                  const struct eddy_json *v, struct eval *ev)
{
	switch ((enum kw_op)w->op) {
	case OP_FALSE:
		return fail_kw(c, n, w, v, 0);
	case OP_TYPE:
		return (w->u.types & inst_type(v)) || fail_kw(c, n, w, v, 0);
	case OP_CONST:
		return json_equal(v, w->u.value) || fail_kw(c, n, w, v, 0);
	case OP_ENUM:
		return check_enum(c, n, w, v);
	case OP_MULTIPLE_OF:
		return !is_num(v) || multiple_of(v, w) || fail_kw(c, n, w, v, 0);
	case OP_MAXIMUM:
	case OP_MINIMUM:
	case OP_EXCL_MAXIMUM:
	case OP_EXCL_MINIMUM:
		return check_bound(c, n, w, v);
	case OP_MAX_LENGTH:
	case OP_MIN_LENGTH:
		return check_length(c, n, w, v);
	case OP_PATTERN: {
		int r;

		if (v->type != EDDY_JSON_STRING)
			return true;
		r = eddy_regex_search(w->u.re, v->u.s, v->len);
		return r == 1 || fail_kw(c, n, w, v, (uint64_t)(r != 0));
	}
	case OP_FORMAT:
		return v->type != EDDY_JSON_STRING ||
		       eddy_format_check(w->u.format, v->u.s, v->len) != 0 ||
		       fail_kw(c, n, w, v, 0);
	case OP_MAX_ITEMS:
	case OP_MIN_ITEMS:
		return v->type != EDDY_JSON_ARRAY ||
		       (w->op == OP_MAX_ITEMS ? v->len <= w->u.count : v->len >= w->u.count) ||
		       fail_kw(c, n, w, v, 0);
	case OP_MAX_PROPERTIES:
	case OP_MIN_PROPERTIES:
		return v->type != EDDY_JSON_OBJECT ||
		       (w->op == OP_MAX_PROPERTIES ? v->len <= w->u.count : v->len >= w->u.count) ||
		       fail_kw(c, n, w, v, 0);
	case OP_UNIQUE_ITEMS:
		return check_unique(c, n, w, v);
	case OP_ITEMS:
		return v->type != EDDY_JSON_ARRAY || check_items(c, n, w, v, ev);
	case OP_CONTAINS:
		return v->type != EDDY_JSON_ARRAY || check_contains(c, n, w, v, ev);
	case OP_OBJECT:
		return v->type != EDDY_JSON_OBJECT || check_object(c, n, w->u.obj, v, ev);
	case OP_PROPERTY_NAMES:
		return check_property_names(c, w, v);
	case OP_DEPENDENCIES:
		return v->type != EDDY_JSON_OBJECT || check_deps(c, n, w, v, ev);
	case OP_ALL_OF:
		return check_all_of(c, w, v, ev);
	case OP_ANY_OF:
	case OP_ONE_OF:
		return check_some(c, n, w, v, ev);
	case OP_NOT:
		return !quiet(c, w->u.schema, v, NULL) || fail_kw(c, n, w, v, 0);
	case OP_IF:
		return check_if(c, w, v, ev);
	case OP_REF:
	case OP_DYNAMIC_REF:
	case OP_RECURSIVE_REF:
		return check_ref(c, w, v, ev);
	case OP_UNEVAL_PROPS:
		return v->type != EDDY_JSON_OBJECT || check_uneval(c, n, w, v, ev);
	case OP_UNEVAL_ITEMS:
		return v->type != EDDY_JSON_ARRAY || check_uneval(c, n, w, v, ev);
	}
	return true;
}

static bool validate(struct vctx *c, const struct eddy_jsonschema *n, const struct eddy_json *v,
                     struct eval *ev)
{
	struct scope sc;
	struct eval local, *e = ev;
	bool ok = true;

	if (!spend(c, 1))
		return false;
	if (c->depth >= EDDY_JSONSCHEMA_MAX_DEPTH) {
		err(c, n, NULL,
		    "evaluation nested deeper than %d schemas: a $ref cycle that never "
		    "moves into the instance?",
		    EDDY_JSONSCHEMA_MAX_DEPTH);
		return false;
	}
	if (n->types && !(n->types & inst_type(v))) {
		struct kw t = {.op = OP_TYPE, .name = "type", .u.types = n->types};

		if (give_up(c, fail_kw(c, n, &t, v, 0), &ok))
			return false;
	}
	if (n->n_kw == 0)
		return ok;
	c->depth++;
	if (c->res != n->res) {
		sc.res = c->res = n->res;
		sc.up = c->scope;
		c->scope = &sc;
	}
	if (n->has_uneval && (v->type == EDDY_JSON_OBJECT || v->type == EDDY_JSON_ARRAY)) {
		if (!ev_init(&local, v->len)) {
			c->oom = c->full = true;
			ok = false;
			goto out;
		}
		e = &local;
	}
	for (uint32_t i = 0; i < n->n_kw; i++)
		if (give_up(c, check(c, n, &n->kw[i], v, e), &ok))
			break;
	if (e == &local) {
		if (ok && ev)
			ev_merge(ev, &local);
		ev_free(&local);
	}
out:
	if (c->scope == &sc) {
		c->scope = sc.up;
		c->res = sc.up ? sc.up->res : NULL;
	}
	c->depth--;
	return ok;
}

/* A validation that ran out of memory, or out of steps (opts.max_steps),
 * has no answer: it is reported as an error of its own, never as valid. */
static bool no_answer(struct eddy_jsonschema_set *set, const struct eddy_jsonschema *s,
                      struct eddy_jsonschema_result *r, bool over_budget)
{
	set->over_budget = over_budget;
	if (r) {
		if (over_budget)
			snprintf(set->no_answer_msg, sizeof set->no_answer_msg,
			         "validation stopped after %" PRIu64 " steps, its budget",
			         set->opts.max_steps);
		set->no_answer.instance_location = "";
		set->no_answer.keyword_location = "";
		set->no_answer.absolute_keyword_location = s->uri;
		set->no_answer.message = over_budget
		                             ? set->no_answer_msg
		                             : "out of memory: the instance could not be validated";
		r->valid = false;
		r->n_errors = 1;
		r->errors = &set->no_answer;
	}
	return false;
}

bool eddy_jsonschema_validate(struct eddy_jsonschema_set *set, const struct eddy_jsonschema *s,
                              const struct eddy_json *v, struct eddy_jsonschema_result *r)
{
	struct vctx c = {.set = set, .max_steps = set->opts.max_steps};
	bool ok;

	set->over_budget = false;
	ok = validate(&c, s, v, NULL);

	if (c.oom)
		return no_answer(set, s, r, false);
	if (c.over)
		return no_answer(set, s, r, true);
	if (ok) {
		if (r) {
			r->valid = true;
			r->n_errors = 0;
			r->errors = NULL;
		}
		return true;
	}
	if (!r)
		return false;
	set->n_errors = 0;
	set->text_len = 0;
	set->ipath_len = set->kpath_len = 0;
	set->ipath[0] = set->kpath[0] = 0;
	/* The instance is invalid: finding its errors gets a budget of its
	 * own, and running out of it keeps the errors found by then. */
	c.collect = true;
	c.steps = 0;
	validate(&c, s, v, NULL);
	if (set->n_errors == 0 && !c.oom) {
		/* cannot happen when both passes agree; say so rather than nothing */
		c.full = false;
		if (c.over)
			err(&c, s, NULL, "invalid (no error found within %" PRIu64 " steps)",
			    c.max_steps);
		else
			err(&c, s, NULL, "invalid");
	}
	if (c.oom)
		return no_answer(set, s, r, false);
	for (size_t i = 0; i < set->n_errors; i++) {
		set->errors[i].instance_location = set->text + set->recs[i].inst;
		set->errors[i].keyword_location = set->text + set->recs[i].kw;
		set->errors[i].absolute_keyword_location = set->text + set->recs[i].abs;
		set->errors[i].message = set->text + set->recs[i].msg;
	}
	r->valid = false;
	r->n_errors = set->n_errors;
	r->errors = set->errors;
	return false;
}

bool eddy_jsonschema_over_budget(const struct eddy_jsonschema_set *set)
{
	return set->over_budget;
}
