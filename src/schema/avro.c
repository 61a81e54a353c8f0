/* avro.c - Avro binary datums (avro-c generic values) to the JSON text
 * handlers get; logical types come from the schema text, which avro-c 1.11
 * parses but does not keep. The way back, JSON to Avro, is for tests and
 * tools only: tests/support/avro_encode.c. */
#include "avro.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro/errors.h>
#include <avro/generic.h>

#include "avro_int.h"
#include "json.h"
#include "log.h"
#include "utf8.h"

/* The JSON text of one datum; beyond it the event is refused rather than
 * letting one record take the process's memory. */
#define MAX_OUT ((size_t)64 << 20)
/* Items of an array whose items take no bytes (null, empty records): the
 * bytes do not bound their count, this does. */
#define MAX_EMPTY_ITEMS ((int64_t)1 << 20)

const char *const eddy_avro_logical_names[] = {
    "",
    "date",
    "time-millis",
    "time-micros",
    "timestamp-millis",
    "timestamp-micros",
    "local-timestamp-millis",
    "local-timestamp-micros",
    "uuid",
    "decimal",
};

void eddy_avro_err_reset(struct err *e)
{
	e->msg[0] = '\0';
	e->at = sizeof(e->path) - 1;
	e->path[e->at] = '\0';
	e->cut = false;
}

int eddy_avro_err_set(struct err *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static void err_prepend(struct err *e, const char *s, size_t n)
{
	if (e->cut)
		return;
	if (n + 4 > e->at) {
		/* Too deep to name: keep the innermost part, which locates it. */
		memcpy(e->path + e->at - 3, "...", 3);
		e->at -= 3;
		e->cut = true;
		return;
	}
	e->at -= n;
	memcpy(e->path + e->at, s, n);
}

void eddy_avro_err_key(struct err *e, const char *key, size_t n)
{
	char seg[128];
	size_t len = 0;

	seg[len++] = '/';
	for (size_t i = 0; i < n && len < sizeof(seg) - 5; i++) {
		if (key[i] == '~' || key[i] == '/') {
			seg[len++] = '~';
			seg[len++] = key[i] == '~' ? '0' : '1';
		} else {
			seg[len++] = key[i];
		}
	}
	err_prepend(e, seg, len);
}

/* Prepends "/name" of field i of record n. */
static void err_field(struct err *e, const struct node *n, size_t i)
{
	eddy_avro_err_key(e, n->keys[i] + 1, n->key_lens[i] - 3);
}

void eddy_avro_err_index(struct err *e, size_t i)
{
	char seg[32];
	int n = snprintf(seg, sizeof(seg), "/%zu", i);

	err_prepend(e, seg, (size_t)n);
}

void eddy_avro_err_out(const struct err *e, char *errstr, size_t errstr_size)
{
	if (e->path[e->at])
		eddy_errf(errstr, errstr_size, "%s: %s", e->path + e->at, e->msg);
	else
		eddy_errf(errstr, errstr_size, "%s", e->msg);
}

const char *eddy_avro_error_line(char *buf, size_t size)
{
	snprintf(buf, size, "%s", avro_strerror());
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	for (size_t n = strlen(buf); n > 0 && buf[n - 1] == ' '; n--)
		buf[n - 1] = '\0';
	return buf;
}

/* ---- schema ---- */

static void node_free(struct node *n)
{
	if (n->keys)
		for (size_t i = 0; i < n->n; i++)
			free(n->keys[i]);
	free(n->keys);
	free(n->key_lens);
	free(n->kids);
	free(n->defaults);
	free(n);
}

void eddy_avro_schema_free(struct eddy_avro_schema *s)
{
	if (!s)
		return;
	if (s->value.iface)
		avro_value_decref(&s->value);
	if (s->iface)
		avro_value_iface_decref(s->iface);
	if (s->reader)
		avro_reader_free(s->reader);
	if (s->schema)
		avro_schema_decref(s->schema);
	for (size_t i = 0; i < s->n_nodes; i++)
		node_free(s->nodes[i]);
	free(s->nodes);
	eddy_json_doc_destroy(s->doc);
	free(s);
}

/* The object that defines a type, following {"type": {...}} nesting; NULL
 * for a bare name ("long", "Line") which carries no attributes. */
static const struct eddy_json *type_object(const struct eddy_json *j)
{
	while (j && j->type == EDDY_JSON_OBJECT) {
		const struct eddy_json *t = eddy_json_getz(j, "type");

		if (!t || t->type == EDDY_JSON_STRING)
			return j;
		if (t->type == EDDY_JSON_ARRAY)
			return NULL;
		j = t;
	}
	return NULL;
}

/* The JSON of a union: the array itself or one nested in "type". */
static const struct eddy_json *union_array(const struct eddy_json *j)
{
	while (j && j->type == EDDY_JSON_OBJECT)
		j = eddy_json_getz(j, "type");
	return j && j->type == EDDY_JSON_ARRAY ? j : NULL;
}

static int json_int(const struct eddy_json *j, int dflt)
{
	if (!j)
		return dflt;
	if (j->type != EDDY_JSON_INT || j->u.i < 0 || j->u.i > 100000)
		return -1;
	return (int)j->u.i;
}

/* Logical types the spec defines for the underlying type; any other (or a
 * malformed decimal) is ignored, as the spec asks, and the underlying type
 * is used. */
static void set_logical(struct node *n, const struct eddy_json *obj)
{
	const char *lt = obj ? eddy_json_str(eddy_json_getz(obj, "logicalType")) : NULL;
	enum logical l = LT_NONE;

	if (!lt)
		return;
	for (int i = 1; i <= LT_DECIMAL; i++)
		if (strcmp(lt, eddy_avro_logical_names[i]) == 0)
			l = (enum logical)i;
	switch (l) {
	case LT_DATE:
	case LT_TIME_MILLIS:
		if (n->type == AVRO_INT32)
			n->logical = l;
		break;
	case LT_TIME_MICROS:
	case LT_TS_MILLIS:
	case LT_TS_MICROS:
	case LT_LOCAL_TS_MILLIS:
	case LT_LOCAL_TS_MICROS:
		if (n->type == AVRO_INT64)
			n->logical = l;
		break;
	case LT_UUID:
		if (n->type == AVRO_STRING || (n->type == AVRO_FIXED && n->size == 16))
			n->logical = l;
		break;
	case LT_DECIMAL: {
		int precision = json_int(eddy_json_getz(obj, "precision"), -1);
		int scale = json_int(eddy_json_getz(obj, "scale"), 0);

		if (n->type != AVRO_BYTES && n->type != AVRO_FIXED)
			break;
		if (precision < 1 || scale < 0 || scale > precision)
			break;
		/* A fixed of size bytes holds floor(log10(2^(8*size-1)-1)) digits. */
		if (n->type == AVRO_FIXED &&
		    (n->size == 0 ||
		     precision > (int)floor((8.0 * (double)n->size - 1) * log10(2.0))))
			break;
		/* What fits the fixed-size work buffers (616 digits in 256 bytes). */
		if (precision > EDDY_AVRO_MAX_DECIMAL_BYTES * 2 ||
		    (n->type == AVRO_FIXED && n->size > EDDY_AVRO_MAX_DECIMAL_BYTES))
			break;
		n->logical = l;
		n->precision = precision;
		n->scale = scale;
		break;
	}
	default:
		break;
	}
}

static struct node *build(struct eddy_avro_schema *S, avro_schema_t s, const struct eddy_json *j,
                          char *errstr, size_t errstr_size);

static int build_record(struct eddy_avro_schema *S, struct node *n, const struct eddy_json *obj,
                        char *errstr, size_t errstr_size)
{
	const struct eddy_json *fields = obj ? eddy_json_getz(obj, "fields") : NULL;

	n->n = avro_schema_record_size(n->schema);
	n->kids = calloc(n->n ? n->n : 1, sizeof(*n->kids));
	n->keys = calloc(n->n ? n->n : 1, sizeof(*n->keys));
	n->key_lens = calloc(n->n ? n->n : 1, sizeof(*n->key_lens));
	n->defaults = calloc(n->n ? n->n : 1, sizeof(*n->defaults));
	if (!n->kids || !n->keys || !n->key_lens || !n->defaults)
		goto oom;
	for (size_t i = 0; i < n->n; i++) {
		const char *name = avro_schema_record_field_name(n->schema, (int)i);
		const struct eddy_json *f =
		    fields && fields->type == EDDY_JSON_ARRAY && i < fields->len
		        ? &fields->u.items[i]
		        : NULL;
		size_t len = strlen(name);

		n->key_lens[i] = len + 3;
		n->keys[i] = malloc(len + 4);
		if (!n->keys[i])
			goto oom;
		/* Avro names are [A-Za-z_][A-Za-z0-9_]*: nothing to escape. */
		n->keys[i][0] = '"';
		memcpy(n->keys[i] + 1, name, len);
		memcpy(n->keys[i] + 1 + len, "\":", 3);
		n->defaults[i] = f ? eddy_json_getz(f, "default") : NULL;
		n->kids[i] = build(S, avro_schema_record_field_get_by_index(n->schema, (int)i),
		                   f ? eddy_json_getz(f, "type") : NULL, errstr, errstr_size);
		if (!n->kids[i])
			return -1;
	}
	return 0;
oom:
	eddy_errf(errstr, errstr_size, "out of memory");
	return -1;
}

/* The node for s, whose text is j (NULL when unknown). */
static struct node *build(struct eddy_avro_schema *S, avro_schema_t s, const struct eddy_json *j,
                          char *errstr, size_t errstr_size)
{
	const struct eddy_json *obj = type_object(j);
	struct node *n;

	if (is_avro_link(s))
		s = avro_schema_link_target(s);
	if (is_avro_named_type(s))
		for (size_t i = 0; i < S->n_nodes; i++)
			if (S->nodes[i]->schema == s)
				return S->nodes[i];
	if (S->n_nodes == S->cap_nodes) {
		size_t cap = S->cap_nodes ? S->cap_nodes * 2 : 16;
		struct node **nodes = realloc(S->nodes, cap * sizeof(*nodes));

		if (!nodes)
			goto oom;
		S->nodes = nodes;
		S->cap_nodes = cap;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		goto oom;
	S->nodes[S->n_nodes++] = n;
	n->type = avro_typeof(s);
	n->schema = s;
	switch (n->type) {
	case AVRO_RECORD:
		if (build_record(S, n, obj, errstr, errstr_size))
			return NULL;
		break;
	case AVRO_FIXED:
		n->size = (size_t)avro_schema_fixed_size(s);
		break;
	case AVRO_ARRAY:
	case AVRO_MAP:
		n->n = 1;
		n->kids = calloc(1, sizeof(*n->kids));
		if (!n->kids)
			goto oom;
		n->kids[0] = build(S,
		                   n->type == AVRO_ARRAY ? avro_schema_array_items(s)
		                                         : avro_schema_map_values(s),
		                   !obj                    ? NULL
		                   : n->type == AVRO_ARRAY ? eddy_json_getz(obj, "items")
		                                           : eddy_json_getz(obj, "values"),
		                   errstr, errstr_size);
		if (!n->kids[0])
			return NULL;
		break;
	case AVRO_UNION: {
		const struct eddy_json *a = union_array(j);

		n->n = avro_schema_union_size(s);
		n->kids = calloc(n->n ? n->n : 1, sizeof(*n->kids));
		if (!n->kids)
			goto oom;
		for (size_t i = 0; i < n->n; i++) {
			n->kids[i] =
			    build(S, avro_schema_union_branch(s, (int)i),
			          a && i < a->len ? &a->u.items[i] : NULL, errstr, errstr_size);
			if (!n->kids[i])
				return NULL;
		}
		break;
	}
	default:
		break;
	}
	set_logical(n, obj);
	return n;
oom:
	eddy_errf(errstr, errstr_size, "out of memory");
	return NULL;
}

/* Whether a datum of n may take no bytes at all. */
static bool may_be_empty(struct node *n)
{
	bool e = false;

	if (n->empty >= 2)
		return n->empty == 3;
	if (n->empty == 1)
		return false; /* a record inside itself: a union or array is between */
	n->empty = 1;
	switch (n->type) {
	case AVRO_NULL:
		e = true;
		break;
	case AVRO_FIXED:
		e = n->size == 0;
		break;
	case AVRO_RECORD:
		e = true;
		for (size_t i = 0; i < n->n; i++)
			if (!may_be_empty(n->kids[i]))
				e = false;
		break;
	default:
		break;
	}
	n->empty = e ? 3 : 2;
	return e;
}

struct eddy_avro_schema *eddy_avro_schema_parse(const char *json, size_t len, char *errstr,
                                                size_t errstr_size)
{
	struct eddy_avro_schema *S = calloc(1, sizeof(*S));
	const struct eddy_json *root;
	char msg[256];

	if (!S) {
		eddy_errf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	if (avro_schema_from_json_length(json, len, &S->schema)) {
		S->schema = NULL;
		eddy_errf(errstr, errstr_size, "invalid Avro schema: %s",
		          eddy_avro_error_line(msg, sizeof(msg)));
		goto err;
	}
	S->doc = eddy_json_doc_new();
	if (!S->doc) {
		eddy_errf(errstr, errstr_size, "out of memory");
		goto err;
	}
	root = eddy_json_parse(S->doc, json, len, msg, sizeof(msg));
	if (!root) {
		eddy_errf(errstr, errstr_size, "invalid Avro schema: %s", msg);
		goto err;
	}
	S->root = build(S, S->schema, root, errstr, errstr_size);
	if (!S->root)
		goto err;
	for (size_t i = 0; i < S->n_nodes; i++)
		may_be_empty(S->nodes[i]);
	S->iface = avro_generic_class_from_schema(S->schema);
	if (!S->iface || avro_generic_value_new(S->iface, &S->value)) {
		S->value.iface = NULL;
		eddy_errf(errstr, errstr_size, "Avro schema: %s",
		          eddy_avro_error_line(msg, sizeof(msg)));
		goto err;
	}
	S->reader = avro_reader_memory("", 0);
	if (!S->reader) {
		eddy_errf(errstr, errstr_size, "out of memory");
		goto err;
	}
	return S;
err:
	eddy_avro_schema_free(S);
	return NULL;
}

/* ---- checking the bytes before avro-c reads them ---- */

/* avro-c 1.11 allocates a string's declared length before it reads it,
 * accepts any byte as a boolean and any enum index, and recurses without
 * limit; so the datum is first walked here, bounds checked, and avro-c
 * only ever reads bytes known to be well formed. */
struct scan {
	const uint8_t *p, *end, *start;
	int64_t empty_items;
	struct err *e;
};

static int scan_truncated(struct scan *c, const char *what)
{
	return eddy_avro_err_set(c->e, "truncated: %s at byte %zu does not fit in the %zu bytes",
	                         what, (size_t)(c->p - c->start), (size_t)(c->end - c->start));
}

static int scan_long(struct scan *c, int64_t *v, const char *what)
{
	uint64_t u = 0;
	const uint8_t *at = c->p;

	for (int shift = 0;; shift += 7) {
		uint8_t b;

		if (shift > 63) {
			c->p = at;
			return eddy_avro_err_set(c->e,
			                         "%s at byte %zu: varint longer than 10 bytes",
			                         what, (size_t)(at - c->start));
		}
		if (c->p == c->end) {
			c->p = at;
			return scan_truncated(c, what);
		}
		b = *c->p++;
		u |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
	}
	*v = (int64_t)((u >> 1) ^ (0 - (u & 1)));
	return 0;
}

static int scan_skip(struct scan *c, int64_t n, const char *what)
{
	if (n < 0)
		return eddy_avro_err_set(c->e, "%s at byte %zu: negative length %lld", what,
		                         (size_t)(c->p - c->start), (long long)n);
	if ((uint64_t)n > (uint64_t)(c->end - c->p))
		return scan_truncated(c, what);
	c->p += n;
	return 0;
}

static int scan(struct scan *c, const struct node *n, int depth);

static int scan_blocks(struct scan *c, const struct node *n, int depth)
{
	const struct node *kid = n->kids[0];
	size_t index = 0;

	for (;;) {
		int64_t count, size;

		if (scan_long(c, &count, "block count"))
			return -1;
		if (count == 0)
			return 0;
		if (count < 0) {
			if (count == INT64_MIN)
				return eddy_avro_err_set(c->e,
				                         "block count out of range at byte %zu",
				                         (size_t)(c->p - c->start));
			count = -count;
			if (scan_long(c, &size, "block size"))
				return -1;
			if (size < 0 || (uint64_t)size > (uint64_t)(c->end - c->p))
				return scan_truncated(c, "block");
		}
		if (n->type == AVRO_ARRAY && kid->empty == 3) {
			c->empty_items += count;
			if (count > MAX_EMPTY_ITEMS || c->empty_items > MAX_EMPTY_ITEMS)
				return eddy_avro_err_set(c->e,
				                         "more than %lld items that take no bytes",
				                         (long long)MAX_EMPTY_ITEMS);
		} else if ((uint64_t)count > (uint64_t)(c->end - c->p)) {
			return scan_truncated(c, "block of items");
		}
		for (int64_t i = 0; i < count; i++, index++) {
			int64_t klen = 0;
			const uint8_t *key = NULL;

			if (n->type == AVRO_MAP) {
				if (scan_long(c, &klen, "map key"))
					return -1;
				key = c->p;
				if (scan_skip(c, klen, "map key"))
					return -1;
			}
			if (scan(c, kid, depth + 1)) {
				if (key)
					eddy_avro_err_key(c->e, (const char *)key, (size_t)klen);
				else
					eddy_avro_err_index(c->e, index);
				return -1;
			}
		}
	}
}

static int scan(struct scan *c, const struct node *n, int depth)
{
	int64_t v;

	if (depth > EDDY_AVRO_MAX_DEPTH)
		return eddy_avro_err_set(c->e, "nested deeper than %d", EDDY_AVRO_MAX_DEPTH);
	switch (n->type) {
	case AVRO_NULL:
		return 0;
	case AVRO_BOOLEAN:
		if (c->p == c->end)
			return scan_truncated(c, "boolean");
		if (*c->p > 1)
			return eddy_avro_err_set(
			    c->e, "boolean byte 0x%02x at byte %zu is neither 0 nor 1", *c->p,
			    (size_t)(c->p - c->start));
		c->p++;
		return 0;
	case AVRO_INT32:
		if (scan_long(c, &v, "int"))
			return -1;
		if (v < INT32_MIN || v > INT32_MAX)
			return eddy_avro_err_set(c->e, "int %lld out of range", (long long)v);
		return 0;
	case AVRO_INT64:
		return scan_long(c, &v, "long");
	case AVRO_FLOAT:
		return scan_skip(c, 4, "float");
	case AVRO_DOUBLE:
		return scan_skip(c, 8, "double");
	case AVRO_STRING:
	case AVRO_BYTES: {
		const char *what = n->type == AVRO_STRING ? "string" : "bytes";

		return scan_long(c, &v, what) || scan_skip(c, v, what) ? -1 : 0;
	}
	case AVRO_FIXED:
		return scan_skip(c, (int64_t)n->size, "fixed");
	case AVRO_ENUM:
		if (scan_long(c, &v, "enum"))
			return -1;
		if (v < 0 || v >= avro_schema_enum_number_of_symbols(n->schema))
			return eddy_avro_err_set(c->e, "enum index %lld out of range (%d symbols)",
			                         (long long)v,
			                         avro_schema_enum_number_of_symbols(n->schema));
		return 0;
	case AVRO_UNION:
		if (scan_long(c, &v, "union index"))
			return -1;
		if (v < 0 || (uint64_t)v >= n->n)
			return eddy_avro_err_set(c->e,
			                         "union index %lld out of range (%zu branches)",
			                         (long long)v, n->n);
		return scan(c, n->kids[v], depth + 1);
	case AVRO_RECORD:
		for (size_t i = 0; i < n->n; i++)
			if (scan(c, n->kids[i], depth + 1)) {
				err_field(c->e, n, i);
				return -1;
			}
		return 0;
	case AVRO_ARRAY:
	case AVRO_MAP:
		return scan_blocks(c, n, depth);
	default:
		return eddy_avro_err_set(c->e, "unsupported Avro type %d", (int)n->type);
	}
}

/* ---- JSON text ---- */

/* A growable buffer with a hard cap. */
struct out {
	char *p;
	size_t len, cap;
	bool full;
};

static bool out_grow(struct out *o, size_t n)
{
	size_t cap;
	char *p;

	if (o->full || n >= MAX_OUT - o->len) {
		o->full = true;
		return false;
	}
	cap = o->cap ? o->cap : 256;
	while (cap - o->len <= n)
		cap *= 2;
	if (cap > MAX_OUT)
		cap = MAX_OUT;
	p = realloc(o->p, cap);
	if (!p) {
		o->full = true;
		return false;
	}
	o->p = p;
	o->cap = cap;
	return true;
}

/* Room for n more bytes and a NUL. */
static inline bool out_room(struct out *o, size_t n)
{
	return o->cap - o->len > n || out_grow(o, n);
}

static inline void put(struct out *o, const void *s, size_t n)
{
	if (out_room(o, n)) {
		memcpy(o->p + o->len, s, n);
		o->len += n;
	}
}

#define PUTS(o, lit) put((o), (lit), sizeof(lit) - 1)

static inline void put_ch(struct out *o, char ch)
{
	if (out_room(o, 1))
		o->p[o->len++] = ch;
}

static void put_i64(struct out *o, int64_t v)
{
	char buf[24];
	size_t i = sizeof(buf);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		buf[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		buf[--i] = '-';
	put(o, buf + i, sizeof(buf) - i);
}

/* The shortest text that reads back as the same float or double. NaN and
 * the infinities are not JSON: null. */
static void put_real(struct out *o, double d, bool is_float)
{
	char buf[40];

	if (!isfinite(d)) {
		PUTS(o, "null");
		return;
	}
	for (int prec = is_float ? 6 : 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (is_float ? strtof(buf, NULL) == (float)d : strtod(buf, NULL) == d)
			break;
	}
	put(o, buf, strlen(buf));
}

/* A JSON string; -1 when s is not valid UTF-8. */
static int put_string(struct out *o, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *s = (const uint8_t *)str;
	size_t run = 0, i = 0;

	put_ch(o, '"');
	while (i < n) {
		uint8_t c;
		size_t len;

		/* Printable ASCII but '"' and '\\' goes as it is. */
		while (i < n && (uint8_t)(s[i] - 0x20) < 0x60 && s[i] != '"' && s[i] != '\\')
			i++;
		if (i == n)
			break;
		c = s[i];
		put(o, s + run, i - run);
		if (c < 0x80) {
			char esc[6] = {'\\', (char)c, 0, 0, 0, 0};

			if (c < 0x20) {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				put(o, esc, 6);
			} else {
				put(o, esc, 2);
			}
			run = ++i;
			continue;
		}
		uint32_t cp;
		len = eddy_utf8_decode(str + i, n - i, &cp);
		if (!len)
			return -1;
		run = i;
		i += len;
	}
	put(o, s + run, i - run);
	put_ch(o, '"');
	return 0;
}

static void put_base64(struct out *o, const uint8_t *s, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	if (!out_room(o, (n + 2) / 3 * 4 + 2))
		return;
	o->p[o->len++] = '"';
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];

		o->p[o->len++] = tab[v >> 18];
		o->p[o->len++] = tab[(v >> 12) & 63];
		o->p[o->len++] = tab[(v >> 6) & 63];
		o->p[o->len++] = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);

		o->p[o->len++] = tab[v >> 18];
		o->p[o->len++] = tab[(v >> 12) & 63];
		o->p[o->len++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		o->p[o->len++] = '=';
	}
	o->p[o->len++] = '"';
}

/* ---- dates ---- */

/* The date of a day number since 1970-01-01, proleptic Gregorian (Howard
 * Hinnant's algorithm). */
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

/* RFC 3339 has four-digit years. */
#define MIN_DAY (-719528) /* 0000-01-01 */
#define MAX_DAY 2932896   /* 9999-12-31 */

/* n decimal digits of v at p, zero-padded; returns the end. */
static char *fmt_digits(char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

/* "YYYY-MM-DD" of a day number in MIN_DAY..MAX_DAY; returns the end. */
static char *fmt_date(char *p, int64_t day)
{
	int y;
	unsigned m, d;

	civil_from_days(day, &y, &m, &d);
	p = fmt_digits(p, (uint64_t)y, 4);
	*p++ = '-';
	p = fmt_digits(p, m, 2);
	*p++ = '-';
	return fmt_digits(p, d, 2);
}

/* "HH:MM:SS.fff" (digits 3) or "HH:MM:SS.ffffff" (6) of units since
 * midnight; returns the end. */
static char *fmt_time(char *p, int64_t v, int64_t per_sec, int digits)
{
	uint64_t secs = (uint64_t)(v / per_sec);

	p = fmt_digits(p, secs / 3600, 2);
	*p++ = ':';
	p = fmt_digits(p, secs / 60 % 60, 2);
	*p++ = ':';
	p = fmt_digits(p, secs % 60, 2);
	*p++ = '.';
	return fmt_digits(p, (uint64_t)(v % per_sec), digits);
}

static int put_logical_int(struct out *o, struct err *e, const struct node *n, int64_t v)
{
	char buf[48], *p = buf;
	int64_t per_sec = 1000, per_day, day, rem;
	int digits = 3;

	switch (n->logical) {
	case LT_DATE:
		if (v < MIN_DAY || v > MAX_DAY)
			return eddy_avro_err_set(e, "date %lld is outside years 0000-9999",
			                         (long long)v);
		*p++ = '"';
		p = fmt_date(p, v);
		*p++ = '"';
		break;
	case LT_TIME_MICROS:
		per_sec = 1000000;
		digits = 6;
		/* fall through */
	case LT_TIME_MILLIS:
		if (v < 0 || v >= 86400 * per_sec)
			return eddy_avro_err_set(e, "%s %lld is not a time of day",
			                         eddy_avro_logical_names[n->logical], (long long)v);
		*p++ = '"';
		p = fmt_time(p, v, per_sec, digits);
		*p++ = '"';
		break;
	case LT_TS_MICROS:
	case LT_LOCAL_TS_MICROS:
		per_sec = 1000000;
		digits = 6;
		/* fall through */
	default:
		per_day = 86400 * per_sec;
		day = v / per_day;
		rem = v % per_day;
		if (rem < 0) {
			rem += per_day;
			day--;
		}
		if (day < MIN_DAY || day > MAX_DAY)
			return eddy_avro_err_set(e, "%s %lld is outside years 0000-9999",
			                         eddy_avro_logical_names[n->logical], (long long)v);
		*p++ = '"';
		p = fmt_date(p, day);
		*p++ = 'T';
		p = fmt_time(p, rem, per_sec, digits);
		if (n->logical == LT_TS_MILLIS || n->logical == LT_TS_MICROS)
			*p++ = 'Z';
		*p++ = '"';
		break;
	}
	put(o, buf, (size_t)(p - buf));
	return 0;
}

/* ---- decimals ---- */

/* The exact decimal text of a two's complement big-endian unscaled value
 * with scale digits after the point, as a JSON string. */
static int put_decimal(struct out *o, struct err *e, const uint8_t *b, size_t n, int scale)
{
	uint8_t mag[EDDY_AVRO_MAX_DECIMAL_BYTES];
	char digits[EDDY_AVRO_MAX_DECIMAL_BYTES * 3 + 16]; /* least significant first */
	size_t nd = 0, start = 0;
	bool neg = n > 0 && (b[0] & 0x80);

	if (n > EDDY_AVRO_MAX_DECIMAL_BYTES)
		return eddy_avro_err_set(e, "decimal of %zu bytes is longer than %d", n,
		                         EDDY_AVRO_MAX_DECIMAL_BYTES);
	memcpy(mag, b, n);
	if (neg) {
		unsigned carry = 1;

		for (size_t i = n; i-- > 0;) {
			unsigned v = (uint8_t)~mag[i] + carry;

			mag[i] = (uint8_t)v;
			carry = v >> 8;
		}
	}
	/* Divide by 10^9 until nothing is left: nine digits a round. */
	while (start < n && !mag[start])
		start++;
	while (start < n) {
		uint32_t rem = 0;

		for (size_t i = start; i < n; i++) {
			uint64_t cur = (uint64_t)rem << 8 | mag[i];

			mag[i] = (uint8_t)(cur / 1000000000);
			rem = (uint32_t)(cur % 1000000000);
		}
		while (start < n && !mag[start])
			start++;
		for (int k = 0; k < 9; k++) {
			digits[nd++] = (char)('0' + rem % 10);
			rem /= 10;
			if (start == n && !rem)
				break;
		}
	}
	if (!nd)
		digits[nd++] = '0';
	put_ch(o, '"');
	if (neg)
		put_ch(o, '-');
	if (nd > (size_t)scale) {
		for (size_t i = nd; i-- > (size_t)scale;)
			put_ch(o, digits[i]);
	} else {
		put_ch(o, '0');
	}
	if (scale > 0) {
		put_ch(o, '.');
		for (size_t i = (size_t)scale; i-- > 0;)
			put_ch(o, i < nd ? digits[i] : '0');
	}
	put_ch(o, '"');
	return 0;
}

static void put_uuid(struct out *o, const uint8_t *b)
{
	static const char hex[] = "0123456789abcdef";
	char buf[38];
	size_t k = 0;

	buf[k++] = '"';
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[k++] = '-';
		buf[k++] = hex[b[i] >> 4];
		buf[k++] = hex[b[i] & 15];
	}
	buf[k++] = '"';
	put(o, buf, k);
}

/* ---- Avro value to JSON ---- */

static int write_value(struct out *o, struct err *e, const struct node *n, avro_value_t *v);

static int write_container(struct out *o, struct err *e, const struct node *n, avro_value_t *v)
{
	size_t count = 0;
	avro_value_t child;
	const char *key;

	if (avro_value_get_size(v, &count))
		return eddy_avro_err_set(e, "avro-c: %s", avro_strerror());
	put_ch(o, n->type == AVRO_ARRAY ? '[' : '{');
	for (size_t i = 0; i < count && !o->full; i++) {
		if (i)
			put_ch(o, ',');
		key = NULL;
		if (avro_value_get_by_index(v, i, &child, &key))
			return eddy_avro_err_set(e, "avro-c: %s", avro_strerror());
		if (n->type == AVRO_MAP) {
			if (put_string(o, key, strlen(key))) {
				eddy_avro_err_key(e, key, strlen(key));
				return eddy_avro_err_set(e, "map key is not valid UTF-8");
			}
			put_ch(o, ':');
		}
		if (write_value(o, e, n->kids[0], &child)) {
			if (n->type == AVRO_MAP)
				eddy_avro_err_key(e, key, strlen(key));
			else
				eddy_avro_err_index(e, i);
			return -1;
		}
	}
	put_ch(o, n->type == AVRO_ARRAY ? ']' : '}');
	return 0;
}

/* bytes and fixed: base64, or their logical type (decimal, uuid). */
static int write_bytes(struct out *o, struct err *e, const struct node *n, avro_value_t *v)
{
	const void *b = NULL;
	size_t size = 0;

	if (n->type == AVRO_BYTES)
		avro_value_get_bytes(v, &b, &size);
	else
		avro_value_get_fixed(v, &b, &size);
	if (n->logical == LT_DECIMAL)
		return put_decimal(o, e, b, size, n->scale);
	if (n->logical == LT_UUID)
		put_uuid(o, b);
	else
		put_base64(o, b, size);
	return 0;
}

/* A record as an object of its fields, in schema order. */
static int write_record(struct out *o, struct err *e, const struct node *n, avro_value_t *v)
{
	avro_value_t field;

	put_ch(o, '{');
	for (size_t i = 0; i < n->n; i++) {
		if (i)
			put_ch(o, ',');
		put(o, n->keys[i], n->key_lens[i]);
		if (avro_value_get_by_index(v, i, &field, NULL))
			return eddy_avro_err_set(e, "avro-c: %s", avro_strerror());
		if (write_value(o, e, n->kids[i], &field)) {
			err_field(e, n, i);
			return -1;
		}
	}
	put_ch(o, '}');
	return 0;
}

static int write_value(struct out *o, struct err *e, const struct node *n, avro_value_t *v)
{
	switch (n->type) {
	case AVRO_NULL:
		PUTS(o, "null");
		return 0;
	case AVRO_BOOLEAN: {
		int b = 0;

		avro_value_get_boolean(v, &b);
		if (b)
			PUTS(o, "true");
		else
			PUTS(o, "false");
		return 0;
	}
	case AVRO_INT32: {
		int32_t i = 0;

		avro_value_get_int(v, &i);
		if (n->logical)
			return put_logical_int(o, e, n, i);
		put_i64(o, i);
		return 0;
	}
	case AVRO_INT64: {
		int64_t l = 0;

		avro_value_get_long(v, &l);
		if (n->logical)
			return put_logical_int(o, e, n, l);
		put_i64(o, l);
		return 0;
	}
	case AVRO_FLOAT: {
		float f = 0;

		avro_value_get_float(v, &f);
		put_real(o, f, true);
		return 0;
	}
	case AVRO_DOUBLE: {
		double d = 0;

		avro_value_get_double(v, &d);
		put_real(o, d, false);
		return 0;
	}
	case AVRO_STRING: {
		const char *s = NULL;
		size_t size = 0;

		avro_value_get_string(v, &s, &size);
		/* avro-c counts the NUL it adds. */
		if (put_string(o, s ? s : "", size ? size - 1 : 0))
			return eddy_avro_err_set(e, "string is not valid UTF-8");
		return 0;
	}
	case AVRO_BYTES:
	case AVRO_FIXED:
		return write_bytes(o, e, n, v);
	case AVRO_ENUM: {
		int i = 0;
		const char *sym;

		avro_value_get_enum(v, &i);
		sym = avro_schema_enum_get(n->schema, i);
		put_string(o, sym, strlen(sym));
		return 0;
	}
	case AVRO_UNION: {
		int d = 0;
		avro_value_t branch;

		if (avro_value_get_discriminant(v, &d) || avro_value_get_current_branch(v, &branch))
			return eddy_avro_err_set(e, "avro-c: %s", avro_strerror());
		return write_value(o, e, n->kids[d], &branch);
	}
	case AVRO_RECORD:
		return write_record(o, e, n, v);
	case AVRO_ARRAY:
	case AVRO_MAP:
		return write_container(o, e, n, v);
	default:
		return eddy_avro_err_set(e, "unsupported Avro type %d", (int)n->type);
	}
}

int eddy_avro_to_json(struct eddy_avro_schema *s, const void *buf, size_t len, char **out,
                      size_t *out_len, char *errstr, size_t errstr_size)
{
	struct err e;
	struct scan c = {.p = buf, .end = (const uint8_t *)buf + len, .start = buf, .e = &e};
	struct out o = {0};
	char msg[256];

	*out = NULL;
	*out_len = 0;
	eddy_avro_err_reset(&e);
	if (!buf)
		c.p = c.end = c.start = (const uint8_t *)"";
	if (scan(&c, s->root, 0))
		goto err;
	if (c.p != c.end) {
		eddy_avro_err_set(&e, "%zu trailing bytes after the datum (it ends at byte %zu)",
		                  (size_t)(c.end - c.p), (size_t)(c.p - c.start));
		goto err;
	}
	avro_reader_memory_set_source(s->reader, (const char *)c.start, (int64_t)len);
	if (avro_value_read(s->reader, &s->value)) {
		eddy_avro_err_set(&e, "cannot decode: %s", eddy_avro_error_line(msg, sizeof(msg)));
		goto err;
	}
	if (!out_room(&o, len < MAX_OUT / 4 ? len * 3 + 256 : MAX_OUT - 1))
		o.full = false; /* too big a guess is no error: grow as needed */
	if (write_value(&o, &e, s->root, &s->value))
		goto err;
	if (o.full || !out_room(&o, 0)) {
		eddy_avro_err_reset(&e);
		eddy_avro_err_set(&e, "JSON text of the datum exceeds %zu MiB (or memory ran out)",
		                  MAX_OUT >> 20);
		goto err;
	}
	o.p[o.len] = '\0';
	*out = o.p;
	*out_len = o.len;
	return 0;
err:
	free(o.p);
	eddy_avro_err_out(&e, errstr, errstr_size);
	return -1;
}
