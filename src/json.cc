/* json.cc - JSON into struct eddy_json trees: one simdjson On-Demand pass, a reused arena. */

/* Only the error-code API of simdjson is used; with this the throwing
 * overloads do not even exist, so none can slip in. */
#define SIMDJSON_EXCEPTIONS 0
#include <simdjson.h>

#include <algorithm>
#include <new>
#include <utility>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "json.h"
}

using namespace simdjson;

/* Up to this many members, duplicate keys are caught as each key arrives
 * (a 64-bit filter makes most arrivals free); larger objects are sorted
 * once when they close, so no object costs quadratic time. */
#define DUP_LINEAR_MAX 16

/* First arena chunk: comfortably holds the tree of a typical event. */
#define ARENA_MIN (16 * 1024)

/* First parser capacity, so small events of different sizes do not each
 * make simdjson reallocate its indexes. */
#define PARSER_MIN (64 * 1024)

/* One block of the arena; its bytes follow the header. */
struct chunk {
	struct chunk *next;
	size_t size;
	size_t used;
};

/* So the first bytes of a chunk suit any node. */
static_assert(sizeof(struct chunk) % alignof(struct eddy_json_member) == 0, "chunk header");
static_assert(alignof(struct eddy_json_member) <= alignof(max_align_t), "node alignment");

struct eddy_json_doc {
	ondemand::parser parser;

	/* The caller's text, copied and padded as simdjson requires; raw
	 * slices point into it. */
	char *buf;
	size_t buf_cap;

	/* The tree. Chunks are only added while a parse runs (nodes already
	 * handed out must not move); at the start of the next parse they are
	 * merged into one, so a steady stream of similar documents never
	 * reaches malloc. */
	struct chunk *head, *cur;

	/* Children of the containers being walked, innermost last; each
	 * container moves its own run into the arena when it closes. A
	 * child is built in its slot here, which is why nodes are addressed
	 * by index: the stacks may move while a child's children grow them. */
	struct eddy_json *items;
	size_t items_len, items_cap;
	struct eddy_json_member *members;
	const char **key_at; /* parallel to members: the key in the input */
	size_t members_len, members_cap;

	/* Index scratch for the duplicate check of large objects. */
	uint32_t *order;
	size_t order_cap;

	struct eddy_json root;
};

/* Where a value's node goes: the root, or a slot of one of the stacks. */
enum slot_kind {
	SLOT_ROOT,
	SLOT_ITEM,
	SLOT_MEMBER,
};

/* State of one parse; errors are written once into errstr. */
struct walker {
	struct eddy_json_doc *doc;
	ondemand::document *d;
	const char *base;
	size_t len;
	char *errstr;
	size_t errstr_size;
};

static void *chunk_data(struct chunk *c) noexcept
{
	return reinterpret_cast<char *>(c) + sizeof(*c);
}

static struct chunk *chunk_new(size_t size) noexcept
{
	struct chunk *c = static_cast<struct chunk *>(malloc(sizeof(*c) + size));

	if (!c)
		return NULL;
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

static void arena_free(struct eddy_json_doc *doc) noexcept
{
	struct chunk *c = doc->head;

	while (c) {
		struct chunk *next = c->next;
		free(c);
		c = next;
	}
	doc->head = doc->cur = NULL;
}

/* Forgets the previous tree. When it needed several chunks they become one
 * chunk of their total size, so the same document fits in one next time. */
static void arena_reset(struct eddy_json_doc *doc) noexcept
{
	if (doc->head && doc->head->next) {
		size_t total = 0;

		for (struct chunk *c = doc->head; c; c = c->next)
			total += c->size;
		arena_free(doc);
		/* On failure the arena starts empty and grows on demand. */
		doc->head = chunk_new(total);
	}
	if (doc->head)
		doc->head->used = 0;
	doc->cur = doc->head;
}

/* Slow path of the arena: a new, empty chunk of at least size bytes and at
 * least as big as all before it. */
static struct chunk *arena_grow(struct eddy_json_doc *doc, size_t size) noexcept
{
	size_t total = 0;
	struct chunk *c;

	for (c = doc->head; c; c = c->next)
		total += c->size;
	c = chunk_new(std::max(std::max(total, (size_t)ARENA_MIN), size));
	if (!c)
		return NULL;
	if (doc->cur)
		doc->cur->next = c;
	else
		doc->head = c;
	doc->cur = c;
	return c;
}

/* size bytes aligned to align (a power of two), or NULL when out of memory. */
static inline void *arena_alloc(struct eddy_json_doc *doc, size_t size, size_t align) noexcept
{
	struct chunk *c = doc->cur;
	size_t at = c ? (c->used + align - 1) & ~(align - 1) : 0;

	/* A fresh chunk's data is aligned for any node: no padding. */
	if (!c || at > c->size || size > c->size - at) {
		c = arena_grow(doc, size);
		if (!c)
			return NULL;
		at = 0;
	}
	c->used = at + size;
	return static_cast<char *>(chunk_data(c)) + at;
}

/* The free space of the arena, at least size bytes of it, without taking
 * it: simdjson unescapes in whole vectors and needs room past the string,
 * then arena_take keeps what the string used. */
static inline char *arena_room(struct eddy_json_doc *doc, size_t size) noexcept
{
	struct chunk *c = doc->cur;

	if (!c || size > c->size - c->used) {
		c = arena_grow(doc, size);
		if (!c)
			return NULL;
	}
	return static_cast<char *>(chunk_data(c)) + c->used;
}

static inline void arena_take(struct eddy_json_doc *doc, size_t size) noexcept
{
	doc->cur->used += size;
}

/* Grows a scratch array to hold at least need elements of size each. */
static int grow(void **p, size_t *cap, size_t need, size_t size) noexcept
{
	size_t n = *cap ? *cap : 64;
	void *q;

	while (n < need)
		n *= 2;
	q = realloc(*p, n * size);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

static void fail(struct walker *w, const char *fmt, ...) noexcept
    __attribute__((format(printf, 2, 3)));

static void fail(struct walker *w, const char *fmt, ...) noexcept
{
	va_list ap;

	if (!w->errstr || !w->errstr_size)
		return;
	va_start(ap, fmt);
	vsnprintf(w->errstr, w->errstr_size, fmt, ap);
	va_end(ap);
}

/* Byte offset of p in the input, or of the end when p is outside it (some
 * simdjson errors leave no usable position). */
static size_t offset(const struct walker *w, const char *p) noexcept
{
	if (!p || p < w->base || p > w->base + w->len)
		return w->len;
	return (size_t)(p - w->base);
}

/* Where simdjson's iterator stands: after an error, near the culprit. */
static size_t iter_offset(struct walker *w) noexcept
{
	const char *p = NULL;

	if (w->d->current_location().get(p) != SUCCESS)
		return w->len;
	return offset(w, p);
}

static void fail_simdjson(struct walker *w, const char *what, size_t at, error_code err) noexcept
{
	fail(w, "invalid %s at byte %zu: %s", what, at, error_message(err));
}

static inline struct eddy_json *slot(struct eddy_json_doc *doc, enum slot_kind kind,
                                     size_t i) noexcept
{
	switch (kind) {
	case SLOT_ITEM:
		return &doc->items[i];
	case SLOT_MEMBER:
		return &doc->members[i].value;
	default:
		return &doc->root;
	}
}

/* Unescapes the string whose text starts at r straight into the arena, with
 * a NUL after it. bound is an upper limit on its raw length: the distance
 * to the next token. */
static inline int take_string(struct walker *w, ondemand::raw_json_string r, size_t bound,
                              const char **s, uint32_t *len) noexcept
{
	uint8_t *start = reinterpret_cast<uint8_t *>(arena_room(w->doc, bound + SIMDJSON_PADDING));
	uint8_t *end = start;
	std::string_view u;
	error_code err;

	if (!start) {
		fail(w, "out of memory");
		return -1;
	}
	err = w->doc->parser.unescape(r, end).get(u);
	if (err) {
		fail_simdjson(w, "string", offset(w, r.raw() - 1), err);
		return -1;
	}
	*end = '\0';
	arena_take(w->doc, u.size() + 1);
	*s = reinterpret_cast<const char *>(start);
	/* Shorter than the input, which is below 4 GiB. */
	*len = (uint32_t)u.size();
	return 0;
}

/* Where the current token starts; the two kinds report it differently. */
static const char *token_start(ondemand::value &v) noexcept
{
	return v.raw_json_token().data();
}

static const char *token_start(ondemand::document &d) noexcept
{
	std::string_view t;

	return d.raw_json_token().get(t) == SUCCESS ? t.data() : NULL;
}

/* Where the token after the current one starts (or the end of the input). */
static const char *token_next(ondemand::value &v) noexcept
{
	std::string_view t = v.raw_json_token();

	return t.data() + t.size();
}

static const char *token_next(ondemand::document &d) noexcept
{
	std::string_view t;

	return d.raw_json_token().get(t) == SUCCESS ? t.data() + t.size() : NULL;
}

/* A scalar that simdjson refused; a root scalar with more after it is
 * refused for that, so say so in the same words as for containers. */
template <typename V>
static int fail_scalar(struct walker *w, V &v, const char *what, error_code err) noexcept
{
	if (err == TRAILING_CONTENT)
		fail(w, "trailing content at byte %zu", offset(w, token_next(v)));
	else
		fail_simdjson(w, what, offset(w, token_start(v)), err);
	return -1;
}

/* Fills a scalar node from a value or from a scalar root document (simdjson
 * handles the two differently, with the same method names). A failed get
 * leaves the token in place, so error paths can still point at it. */
template <typename V>
static int walk_scalar(struct walker *w, V &v, ondemand::json_type t,
                       struct eddy_json *out) noexcept
{
	error_code err;

	out->raw = NULL;
	out->raw_len = 0;
	out->len = 0;
	switch (t) {
	case ondemand::json_type::number: {
		ondemand::number n;

		err = v.get_number().get(n);
		if (err == SUCCESS) {
			switch (n.get_number_type()) {
			case ondemand::number_type::signed_integer:
				out->type = EDDY_JSON_INT;
				out->u.i = n.get_int64();
				return 0;
			case ondemand::number_type::unsigned_integer:
				/* Exact integer, so the conversion rounds the
				 * same way parsing the text as double would. */
				out->type = EDDY_JSON_DOUBLE;
				out->u.d = (double)n.get_uint64();
				return 0;
			case ondemand::number_type::floating_point_number:
				out->type = EDDY_JSON_DOUBLE;
				out->u.d = n.get_double();
				return 0;
			}
		}
		/* get_number refuses integers beyond 64 bits; get_double
		 * reads them from their text. */
		if (v.get_double().get(out->u.d) == SUCCESS) {
			out->type = EDDY_JSON_DOUBLE;
			return 0;
		}
		return fail_scalar(w, v, "number", err ? err : NUMBER_ERROR);
	}
	case ondemand::json_type::string: {
		ondemand::raw_json_string r;
		const char *next;

		err = v.get_raw_json_string().get(r);
		if (err)
			return fail_scalar(w, v, "string", err);
		/* Consumed, so simdjson stands on the next token, or past
		 * the end of a document that is just this string. */
		if (w->d->current_location().get(next) != SUCCESS)
			next = w->base + w->len;
		out->type = EDDY_JSON_STRING;
		return take_string(w, r, (size_t)(next - r.raw()), &out->u.s, &out->len);
	}
	case ondemand::json_type::boolean: {
		bool b;

		err = v.get_bool().get(b);
		if (err)
			return fail_scalar(w, v, "literal", err);
		out->type = b ? EDDY_JSON_TRUE : EDDY_JSON_FALSE;
		out->u.i = 0;
		return 0;
	}
	case ondemand::json_type::null: {
		bool is_null = false;

		err = v.is_null().get(is_null);
		if (err || !is_null)
			return fail_scalar(w, v, "literal", err ? err : INCORRECT_TYPE);
		out->type = EDDY_JSON_NULL;
		out->u.i = 0;
		return 0;
	}
	default:
		return fail_scalar(w, v, "JSON", TAPE_ERROR);
	}
}

/* Writes key into dst as a quoted, printable, bounded form for messages. */
static void quote_key(char *dst, size_t size, const char *key, size_t len) noexcept
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	dst[o++] = '"';
	for (i = 0; i < len && o + 8 < size; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		} else {
			dst[o++] = (char)c;
		}
	}
	if (i < len) {
		/* Cut on a character boundary so the message stays UTF-8. */
		while (o > 1 && ((unsigned char)dst[o - 1] & 0xc0) == 0x80)
			o--;
		if (o > 1 && (unsigned char)dst[o - 1] >= 0xc0)
			o--;
		dst[o++] = '.';
		dst[o++] = '.';
		dst[o++] = '.';
	}
	dst[o++] = '"';
	dst[o] = '\0';
}

static int fail_duplicate(struct walker *w, size_t i) noexcept
{
	const struct eddy_json_member *m = &w->doc->members[i];
	char q[80];

	quote_key(q, sizeof(q), m->key, m->key_len);
	fail(w, "duplicate key %s at byte %zu", q, offset(w, w->doc->key_at[i]));
	return -1;
}

static inline bool same_key(const struct eddy_json_member *a,
                            const struct eddy_json_member *b) noexcept
{
	return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* One bit of a 64-bit filter for a key, from its length and a few bytes:
 * a clear bit proves a key new without comparing it to the others. */
static inline uint64_t key_bit(const char *k, uint32_t len) noexcept
{
	uint64_t h = len;

	if (len)
		h = h * 0x100000001b3 ^ ((uint64_t)(unsigned char)k[0] << 8) ^
		    ((uint64_t)(unsigned char)k[len / 2] << 16) ^
		    ((uint64_t)(unsigned char)k[len - 1] << 24);
	return 1ull << ((h * 0x9e3779b97f4a7c15) >> 58);
}

/* Duplicate check of a large object (members base..base+n): sorts indexes
 * by key, ties by position, so the second of each equal run is the first
 * repeat of that key; reports the earliest such repeat. */
static int check_sorted(struct walker *w, size_t base, size_t n) noexcept
{
	struct eddy_json_doc *doc = w->doc;
	const struct eddy_json_member *m = doc->members + base;
	size_t dup = n;

	if (n > doc->order_cap &&
	    grow(reinterpret_cast<void **>(&doc->order), &doc->order_cap, n, sizeof(*doc->order))) {
		fail(w, "out of memory");
		return -1;
	}
	uint32_t *o = doc->order;
	for (size_t i = 0; i < n; i++)
		o[i] = (uint32_t)i;
	std::sort(o, o + n, [m](uint32_t a, uint32_t b) {
		if (m[a].key_len != m[b].key_len)
			return m[a].key_len < m[b].key_len;
		int c = memcmp(m[a].key, m[b].key, m[a].key_len);
		return c ? c < 0 : a < b;
	});
	for (size_t i = 1; i < n; i++)
		if (same_key(&m[o[i - 1]], &m[o[i]]) &&
		    (i < 2 || !same_key(&m[o[i - 2]], &m[o[i]])))
			dup = std::min(dup, (size_t)o[i]);
	return dup < n ? fail_duplicate(w, base + dup) : 0;
}

static int walk_value(struct walker *w, ondemand::value &v, enum slot_kind kind, size_t i,
                      unsigned depth) noexcept;

/* Sets raw/raw_len of a container that began at start and has just been
 * walked to its end. simdjson now stands on the next token (or past the
 * document), with only whitespace between it and our closing bracket. */
static int close_raw(struct walker *w, const char *start, struct eddy_json *out) noexcept
{
	const char *end = NULL;
	error_code err = w->d->current_location().get(end);

	if (err == OUT_OF_BOUNDS)
		end = w->base + w->len;
	else if (err) {
		fail_simdjson(w, "JSON", iter_offset(w), err);
		return -1;
	}
	while (end > start &&
	       (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		end--;
	if (end - start < 2 || (end[-1] != ']' && end[-1] != '}')) {
		fail(w, "invalid JSON at byte %zu: container end not found", offset(w, start));
		return -1;
	}
	out->raw = start;
	out->raw_len = (uint32_t)(end - start);
	return 0;
}

static int walk_array(struct walker *w, ondemand::array a, const char *start, enum slot_kind kind,
                      size_t at, unsigned depth) noexcept
{
	struct eddy_json_doc *doc = w->doc;
	struct eddy_json *out;
	size_t base = doc->items_len, n;

	/* Children are used in place in simdjson's result, not copied out:
	 * copying a just-built result stalls on store forwarding. */
	for (auto r : a) {
		if (r.error()) {
			fail_simdjson(w, "JSON", iter_offset(w), r.error());
			return -1;
		}
		ondemand::value &v = r.value_unsafe();

		if (doc->items_len == doc->items_cap &&
		    grow(reinterpret_cast<void **>(&doc->items), &doc->items_cap,
		         doc->items_len + 1, sizeof(*doc->items))) {
			fail(w, "out of memory");
			return -1;
		}
		if (walk_value(w, v, SLOT_ITEM, doc->items_len++, depth + 1))
			return -1;
	}
	n = doc->items_len - base;
	out = slot(doc, kind, at);
	out->type = EDDY_JSON_ARRAY;
	out->len = (uint32_t)n;
	out->u.items = NULL;
	if (n) {
		out->u.items = static_cast<struct eddy_json *>(
		    arena_alloc(doc, n * sizeof(*out->u.items), alignof(struct eddy_json)));
		if (!out->u.items) {
			fail(w, "out of memory");
			return -1;
		}
		memcpy(out->u.items, doc->items + base, n * sizeof(*out->u.items));
	}
	doc->items_len = base;
	return close_raw(w, start, out);
}

static int walk_object(struct walker *w, ondemand::object o, const char *start, enum slot_kind kind,
                       size_t at, unsigned depth) noexcept
{
	struct eddy_json_doc *doc = w->doc;
	struct eddy_json *out;
	size_t base = doc->members_len, n;
	uint64_t seen = 0;

	for (auto r : o) {
		ondemand::raw_json_string key;
		const char *key_at;
		size_t i, bound;

		if (r.error()) {
			fail_simdjson(w, "JSON", iter_offset(w), r.error());
			return -1;
		}
		ondemand::field &f = r.value_unsafe();
		/* The key ends before the value starts. */
		key = f.key();
		key_at = key.raw() - 1;
		bound = (size_t)(token_start(f.value()) - key.raw());
		if (doc->members_len == doc->members_cap) {
			size_t cap = doc->members_cap;

			if (grow(reinterpret_cast<void **>(&doc->members), &cap,
			         doc->members_len + 1, sizeof(*doc->members)) ||
			    grow(reinterpret_cast<void **>(&doc->key_at), &doc->members_cap,
			         doc->members_len + 1, sizeof(*doc->key_at))) {
				fail(w, "out of memory");
				return -1;
			}
		}
		i = doc->members_len++;
		doc->key_at[i] = key_at;
		if (take_string(w, key, bound, &doc->members[i].key, &doc->members[i].key_len))
			return -1;
		if (i - base < DUP_LINEAR_MAX) {
			uint64_t bit = key_bit(doc->members[i].key, doc->members[i].key_len);

			if (seen & bit)
				for (size_t j = base; j < i; j++)
					if (same_key(&doc->members[j], &doc->members[i]))
						return fail_duplicate(w, i);
			seen |= bit;
		}
		if (walk_value(w, f.value(), SLOT_MEMBER, i, depth + 1))
			return -1;
	}
	n = doc->members_len - base;
	if (n > DUP_LINEAR_MAX && check_sorted(w, base, n))
		return -1;
	out = slot(doc, kind, at);
	out->type = EDDY_JSON_OBJECT;
	out->len = (uint32_t)n;
	out->u.members = NULL;
	if (n) {
		out->u.members = static_cast<struct eddy_json_member *>(arena_alloc(
		    doc, n * sizeof(*out->u.members), alignof(struct eddy_json_member)));
		if (!out->u.members) {
			fail(w, "out of memory");
			return -1;
		}
		memcpy(out->u.members, doc->members + base, n * sizeof(*out->u.members));
	}
	doc->members_len = base;
	return close_raw(w, start, out);
}

static int too_deep(struct walker *w, const char *start, unsigned depth) noexcept
{
	if (depth <= EDDY_JSON_MAX_DEPTH)
		return 0;
	fail(w, "nesting deeper than %d at byte %zu", EDDY_JSON_MAX_DEPTH, offset(w, start));
	return -1;
}

/* Builds v's node in slot i of kind; depth counts the containers around v,
 * v included if it is one. */
static int walk_value(struct walker *w, ondemand::value &v, enum slot_kind kind, size_t i,
                      unsigned depth) noexcept
{
	ondemand::json_type t;
	error_code err = v.type().get(t);

	if (err) {
		fail_simdjson(w, "JSON", iter_offset(w), err);
		return -1;
	}
	if (t == ondemand::json_type::array) {
		const char *start = token_start(v);
		ondemand::array a;

		if (too_deep(w, start, depth))
			return -1;
		err = v.get_array().get(a);
		if (err) {
			fail_simdjson(w, "JSON", offset(w, start), err);
			return -1;
		}
		return walk_array(w, a, start, kind, i, depth);
	}
	if (t == ondemand::json_type::object) {
		const char *start = token_start(v);
		ondemand::object o;

		if (too_deep(w, start, depth))
			return -1;
		err = v.get_object().get(o);
		if (err) {
			fail_simdjson(w, "JSON", offset(w, start), err);
			return -1;
		}
		return walk_object(w, o, start, kind, i, depth);
	}
	return walk_scalar(w, v, t, slot(w->doc, kind, i));
}

/* The root goes through the document's own accessors: only they check that
 * a root container is closed and that a root scalar stands alone. */
static int walk_root(struct walker *w, ondemand::document &d) noexcept
{
	ondemand::json_type t;
	error_code err = d.type().get(t);
	const char *start, *extra = NULL;
	int rc;

	if (err) {
		fail_simdjson(w, "JSON", iter_offset(w), err);
		return -1;
	}
	start = token_start(d);
	if (t == ondemand::json_type::array) {
		ondemand::array a;

		err = d.get_array().get(a);
		if (err) {
			fail_simdjson(w, "JSON", offset(w, start), err);
			return -1;
		}
		rc = walk_array(w, a, start, SLOT_ROOT, 0, 1);
	} else if (t == ondemand::json_type::object) {
		ondemand::object o;

		err = d.get_object().get(o);
		if (err) {
			fail_simdjson(w, "JSON", offset(w, start), err);
			return -1;
		}
		rc = walk_object(w, o, start, SLOT_ROOT, 0, 1);
	} else {
		rc = walk_scalar(w, d, t, &w->doc->root);
	}
	if (rc)
		return -1;
	err = d.current_location().get(extra);
	if (err == OUT_OF_BOUNDS)
		return 0;
	if (err) {
		fail_simdjson(w, "JSON", iter_offset(w), err);
		return -1;
	}
	fail(w, "trailing content at byte %zu", offset(w, extra));
	return -1;
}

/* Makes the padded copy of buf and enough parser capacity for it. */
static int load(struct walker *w, const char *buf, size_t len) noexcept
{
	struct eddy_json_doc *doc = w->doc;
	size_t need = len + SIMDJSON_PADDING;

	if (need > doc->buf_cap) {
		size_t cap = std::max(need, doc->buf_cap * 2);
		char *p = static_cast<char *>(realloc(doc->buf, cap));

		if (!p) {
			fail(w, "out of memory");
			return -1;
		}
		doc->buf = p;
		doc->buf_cap = cap;
	}
	memcpy(doc->buf, buf, len);
	/* simdjson may read the padding; keep it from holding an older
	 * document's bytes. */
	memset(doc->buf + len, 0, SIMDJSON_PADDING);
	w->base = doc->buf;
	w->len = len;
	if (len > doc->parser.capacity()) {
		size_t cap =
		    std::max(std::max(len, doc->parser.capacity() * 2), (size_t)PARSER_MIN);
		error_code err;

		if (cap > SIMDJSON_MAXSIZE_BYTES)
			cap = len;
		err = doc->parser.allocate(cap);
		if (err) {
			fail(w, "cannot parse %zu bytes: %s", len, error_message(err));
			return -1;
		}
	}
	return 0;
}

static const struct eddy_json *parse(struct eddy_json_doc *doc, const char *buf, size_t len,
                                     char *errstr, size_t errstr_size) noexcept
{
	struct walker w = {doc, NULL, NULL, 0, errstr, errstr_size};
	ondemand::document d;
	error_code err;

	if (errstr && errstr_size)
		errstr[0] = '\0';
	arena_reset(doc);
	doc->items_len = doc->members_len = 0;
	/* Trailing whitespace means nothing, and simdjson 3.0's root null
	 * check reads one byte too far: "null\n" (every line of NDJSON) would
	 * be refused as an invalid literal. */
	while (buf && len &&
	       (buf[len - 1] == ' ' || buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
	        buf[len - 1] == '\t'))
		len--;
	if (!buf || !len) {
		fail(&w, "empty input");
		return NULL;
	}
	/* raw_len and simdjson's indexes are 32-bit. */
	if (len > SIMDJSON_MAXSIZE_BYTES - SIMDJSON_PADDING) {
		fail(&w, "document too large (%zu bytes)", len);
		return NULL;
	}
	if (load(&w, buf, len))
		return NULL;
	err = doc->parser.iterate(doc->buf, len, doc->buf_cap).get(d);
	if (err == EMPTY) {
		fail(&w, "empty input");
		return NULL;
	}
	if (err == UTF8_ERROR) {
		fail(&w, "invalid UTF-8");
		return NULL;
	}
	if (err) {
		fail(&w, "invalid JSON: %s", error_message(err));
		return NULL;
	}
	w.d = &d;
	if (walk_root(&w, d))
		return NULL;
	return &doc->root;
}

static struct eddy_json_doc *doc_new() noexcept
{
	/* Value-initialised: every pointer and count starts at zero. */
	return new (std::nothrow) eddy_json_doc();
}

static void doc_destroy(struct eddy_json_doc *doc) noexcept
{
	if (!doc)
		return;
	arena_free(doc);
	free(doc->buf);
	free(doc->items);
	free(doc->members);
	free(doc->key_at);
	free(doc->order);
	delete doc;
}

static const struct eddy_json *get(const struct eddy_json *v, const char *key, size_t len) noexcept
{
	if (!v || v->type != EDDY_JSON_OBJECT)
		return NULL;
	for (uint32_t i = 0; i < v->len; i++) {
		const struct eddy_json_member *m = &v->u.members[i];

		if (m->key_len == len && memcmp(m->key, key, len) == 0)
			return &m->value;
	}
	return NULL;
}

/* The C entry points only forward: json.h cannot declare them noexcept,
 * and the noexcept implementations turn any stray exception into
 * std::terminate before it could unwind into C. */
extern "C" {

struct eddy_json_doc *eddy_json_doc_new(void)
{
	return doc_new();
}

void eddy_json_doc_destroy(struct eddy_json_doc *doc)
{
	doc_destroy(doc);
}

const struct eddy_json *eddy_json_parse(struct eddy_json_doc *doc, const char *buf, size_t len,
                                        char *errstr, size_t errstr_size)
{
	return parse(doc, buf, len, errstr, errstr_size);
}

const struct eddy_json *eddy_json_get(const struct eddy_json *v, const char *key, size_t len)
{
	return get(v, key, len);
}

const char *eddy_json_type_name(enum eddy_json_type t)
{
	switch (t) {
	case EDDY_JSON_NULL:
		return "null";
	case EDDY_JSON_FALSE:
	case EDDY_JSON_TRUE:
		return "boolean";
	case EDDY_JSON_INT:
		return "integer";
	case EDDY_JSON_DOUBLE:
		return "number";
	case EDDY_JSON_STRING:
		return "string";
	case EDDY_JSON_ARRAY:
		return "array";
	case EDDY_JSON_OBJECT:
		return "object";
	}
	return "unknown";
}
}
