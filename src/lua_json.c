/* lua_json.c - JSON values (json.h's tree) into Lua, objects built on
 * first use, and the comparison that lets a table still equal to the JSON
 * it came from be written as its original text, byte for byte. */
#include "lua_json.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

/* A table converted from a JSON array or object during the current call:
 * the candidate node for the raw-text fast path. */
struct seen {
	const void *table;
	const struct eddy_json *node;
	uint32_t gen; /* valid while equal to eddy_lua_json.gen */
};

/* Objects up to this many members, with names up to this many bytes in
 * all, are built by a constructor of their shape (below). */
#define SHAPE_MAX_MEMBERS 64
#define SHAPE_MAX_KEYS 2048
/* Shapes are kept in a direct-mapped cache of this many slots. */
#define SHAPES 256

/* The member names of an object, in order, and the Lua function that builds
 * a table of them from their values: return function(a1, ..., an) return
 * {["name1"] = a1, ...} end. LuaJIT makes such a constructor a copy of a
 * template table whose keys are already in place (TDUP), so the names are
 * neither interned nor inserted again for every object of the shape. */
struct shape {
	uint64_t hash;
	char *keys; /* each name as a uint32_t length, then its bytes */
	size_t keys_len;
	uint32_t n;
	int ref; /* the constructor in the bound state's registry; LUA_NOREF: seen once */
};

/* An open-addressing set of the tables of the current call. Forgetting
 * them all bumps gen instead of clearing the slots. The shapes and the
 * lazy objects belong to the state bound last (eddy_lua_json_bind);
 * pushing into any other state builds every object member by member. */
struct eddy_lua_json {
	struct seen *seen;
	size_t cap, n;
	uint32_t gen;
	lua_State *bound;
	struct shape shapes[SHAPES];

	/* Lazy objects (eddy_lua_json_push_lazy), refs in bound's registry:
	 * their metatable, the ones made in the current call (an array of
	 * n_pending), and the text of those that outlived their call (a table
	 * with weak keys: object -> text). */
	int lazy_mt, pending, backing;
	const void *lazy_mt_ptr;
	int n_pending;
	struct eddy_json_doc *doc; /* reads such a text again */
};

struct eddy_lua_json *eddy_lua_json_new(void)
{
	struct eddy_lua_json *lj = calloc(1, sizeof *lj);

	if (!lj)
		return NULL;
	lj->gen = 1;
	for (size_t i = 0; i < SHAPES; i++)
		lj->shapes[i].ref = LUA_NOREF;
	lj->lazy_mt = lj->pending = lj->backing = LUA_NOREF;
	return lj;
}

/* Drops every shape. Their constructors stay in the registry of the state
 * they were made in when it is gone or no longer bound. */
static void shapes_clear(struct eddy_lua_json *lj)
{
	for (size_t i = 0; i < SHAPES; i++) {
		free(lj->shapes[i].keys);
		lj->shapes[i] = (struct shape){.ref = LUA_NOREF};
	}
}

void eddy_lua_json_destroy(struct eddy_lua_json *lj)
{
	if (!lj)
		return;
	shapes_clear(lj);
	eddy_json_doc_destroy(lj->doc);
	free(lj->seen);
	free(lj);
}

/* ---- tables converted from JSON, for the fast path ------------------------ */

static size_t seen_slot(const struct eddy_lua_json *lj, const void *t)
{
	uint64_t x = (uint64_t)(uintptr_t)t;
	return (size_t)((x >> 4) * 0x9e3779b97f4a7c15ull >> 20) & (lj->cap - 1);
}

void eddy_lua_json_forget(struct eddy_lua_json *lj)
{
	lj->n = 0;
	if (++lj->gen == 0) {
		if (lj->seen)
			memset(lj->seen, 0, lj->cap * sizeof *lj->seen);
		lj->gen = 1;
	}
}

static void seen_put(struct eddy_lua_json *lj, const void *t, const struct eddy_json *node)
{
	size_t i = seen_slot(lj, t);
	while (lj->seen[i].gen == lj->gen && lj->seen[i].table != t)
		i = (i + 1) & (lj->cap - 1);
	if (lj->seen[i].gen != lj->gen)
		lj->n++;
	lj->seen[i] = (struct seen){t, node, lj->gen};
}

/* Remembers that table t was made from node. false when out of memory,
 * which only loses the fast path for t (a lazy object is not made). */
static bool seen_add(struct eddy_lua_json *lj, const void *t, const struct eddy_json *node)
{
	if ((lj->n + 1) * 2 > lj->cap) {
		size_t old_cap = lj->cap, cap = old_cap ? old_cap * 2 : 64;
		struct seen *old = lj->seen, *v = calloc(cap, sizeof *v);
		if (!v)
			return false;
		lj->seen = v;
		lj->cap = cap;
		lj->n = 0;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].gen == lj->gen)
				seen_put(lj, old[i].table, old[i].node);
		free(old);
	}
	seen_put(lj, t, node);
	return true;
}

static const struct eddy_json *seen_find(const struct eddy_lua_json *lj, const void *t)
{
	if (!lj->n)
		return NULL;
	for (size_t i = seen_slot(lj, t); lj->seen[i].gen == lj->gen; i = (i + 1) & (lj->cap - 1))
		if (lj->seen[i].table == t)
			return lj->seen[i].node;
	return NULL;
}

/* ---- object shapes ------------------------------------------------------------ */

static uint64_t mix(uint64_t h, uint64_t x)
{
	h = (h ^ x) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

static uint64_t shape_hash(const struct eddy_json *v)
{
	uint64_t h = v->len, w;

	for (uint32_t i = 0; i < v->len; i++) {
		const struct eddy_json_member *m = &v->u.members[i];
		uint32_t j = 0;
		h = mix(h, m->key_len);
		for (; j + 8 <= m->key_len; j += 8) {
			memcpy(&w, m->key + j, 8);
			h = mix(h, w);
		}
		w = 0;
		memcpy(&w, m->key + j, m->key_len - j);
		h = mix(h, w);
	}
	return h;
}

static bool shape_is(const struct shape *s, uint64_t hash, const struct eddy_json *v)
{
	const char *p = s->keys;
	uint32_t len;

	if (!s->keys || s->hash != hash || s->n != v->len)
		return false;
	for (uint32_t i = 0; i < v->len; i++) {
		const struct eddy_json_member *m = &v->u.members[i];
		memcpy(&len, p, sizeof len);
		if (len != m->key_len || memcmp(p + sizeof len, m->key, len) != 0)
			return false;
		p += sizeof len + len;
	}
	return true;
}

/* Appends s[0..len) to buf as the text of a Lua string literal. */
static char *put_literal(char *buf, const char *s, size_t len)
{
	*buf++ = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-' || c == '.')
			*buf++ = (char)c;
		else
			buf += sprintf(buf, "\\%03u", c);
	}
	*buf++ = '"';
	return buf;
}

/* Compiles the constructor of v's shape into s (a slot holding v's shape,
 * seen once). Raises on memory errors; any other failure leaves s as it
 * was. */
static void shape_compile(struct shape *s, lua_State *L, const struct eddy_json *v)
{
	/* "return function(a1,...) return {["\ddd..."]=a1,...} end" */
	size_t cap = 64 + (size_t)v->len * 24 + (s->keys_len - (size_t)v->len * 4) * 4;
	char *src = malloc(cap), *p = src;

	if (!src)
		return;
	p += sprintf(p, "return function(");
	for (uint32_t i = 0; i < v->len; i++)
		p += sprintf(p, i ? ",a%u" : "a%u", i + 1);
	p += sprintf(p, ") return {");
	for (uint32_t i = 0; i < v->len; i++) {
		const struct eddy_json_member *m = &v->u.members[i];
		*p++ = '[';
		p = put_literal(p, m->key, m->key_len);
		p += sprintf(p, "]=a%u,", i + 1);
	}
	p += sprintf(p, "} end");
	int rc = luaL_loadbuffer(L, src, (size_t)(p - src), "=eddy.json shape");
	free(src);
	if (rc == LUA_ERRMEM)
		lua_error(L);
	if (rc != 0) {
		lua_pop(L, 1);
		return;
	}
	lua_call(L, 0, 1); /* constructor */
	s->ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* The constructor of v's shape pushed onto L, or false (nothing pushed)
 * when v is to be built member by member: L is not the bound state, v is
 * too large, or its shape was not seen before (a shape is compiled the
 * second time it is seen, so objects whose names change from event to
 * event, such as maps keyed by ids, cost a hash and no compilation). */
static bool push_constructor(struct eddy_lua_json *lj, lua_State *L, const struct eddy_json *v)
{
	size_t keys_len = 0;

	if (!lj || lj->bound != L || v->len == 0 || v->len > SHAPE_MAX_MEMBERS)
		return false;
	for (uint32_t i = 0; i < v->len; i++)
		keys_len += sizeof(uint32_t) + v->u.members[i].key_len;
	if (keys_len > SHAPE_MAX_KEYS + (size_t)v->len * sizeof(uint32_t))
		return false;
	uint64_t hash = shape_hash(v);
	struct shape *s = &lj->shapes[(hash >> 32) & (SHAPES - 1)];
	if (!shape_is(s, hash, v)) {
		char *keys = malloc(keys_len), *p = keys;
		if (!keys)
			return false;
		for (uint32_t i = 0; i < v->len; i++) {
			const struct eddy_json_member *m = &v->u.members[i];
			memcpy(p, &m->key_len, sizeof m->key_len);
			memcpy(p + sizeof m->key_len, m->key, m->key_len);
			p += sizeof m->key_len + m->key_len;
		}
		luaL_unref(L, LUA_REGISTRYINDEX, s->ref);
		free(s->keys);
		*s = (struct shape){hash, keys, keys_len, v->len, LUA_NOREF};
		return false;
	}
	if (s->ref == LUA_NOREF)
		shape_compile(s, L, v);
	if (s->ref == LUA_NOREF)
		return false;
	lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref); /* constructor */
	return true;
}

/* ---- JSON -> Lua ------------------------------------------------------------ */

void eddy_lua_json_push(struct eddy_lua_json *lj, lua_State *L, const struct eddy_json *v, int mt)
{
	switch (v->type) {
	case EDDY_JSON_NULL:
		lua_pushlightuserdata(L, NULL);
		break;
	case EDDY_JSON_FALSE:
	case EDDY_JSON_TRUE:
		lua_pushboolean(L, v->type == EDDY_JSON_TRUE);
		break;
	case EDDY_JSON_INT:
		lua_pushnumber(L, (lua_Number)v->u.i);
		break;
	case EDDY_JSON_DOUBLE:
		lua_pushnumber(L, v->u.d);
		break;
	case EDDY_JSON_STRING:
		lua_pushlstring(L, v->u.s, v->len);
		break;
	case EDDY_JSON_ARRAY:
		luaL_checkstack(L, 3, "JSON nesting too deep");
		lua_createtable(L, v->len > INT32_MAX ? 0 : (int)v->len, 0); /* array */
		for (uint32_t i = 0; i < v->len; i++) {
			eddy_lua_json_push(lj, L, &v->u.items[i], mt); /* array, item */
			lua_rawseti(L, -2, (int)i + 1);                /* array */
		}
		lua_pushvalue(L, mt); /* array, mt */
		lua_setmetatable(L, -2);
		if (lj)
			seen_add(lj, lua_topointer(L, -1), v);
		break;
	case EDDY_JSON_OBJECT:
		luaL_checkstack(L, SHAPE_MAX_MEMBERS + 3, "JSON nesting too deep");
		if (push_constructor(lj, L, v)) { /* constructor */
			for (uint32_t i = 0; i < v->len; i++)
				eddy_lua_json_push(lj, L, &v->u.members[i].value,
				                   mt); /* constructor, values... */
			lua_call(L, (int)v->len, 1);    /* object */
			seen_add(lj, lua_topointer(L, -1), v);
			break;
		}
		lua_createtable(L, 0, v->len > INT32_MAX ? 0 : (int)v->len); /* object */
		for (uint32_t i = 0; i < v->len; i++) {
			const struct eddy_json_member *m = &v->u.members[i];
			lua_pushlstring(L, m->key, m->key_len);   /* object, key */
			eddy_lua_json_push(lj, L, &m->value, mt); /* object, key, value */
			lua_rawset(L, -3);                        /* object */
		}
		if (lj)
			seen_add(lj, lua_topointer(L, -1), v);
		break;
	default:
		lua_pushnil(L);
	}
}

/* ---- objects built on first use ------------------------------------------------ */

static int abs_index(lua_State *L, int idx)
{
	return idx > 0 || idx <= LUA_REGISTRYINDEX ? idx : lua_gettop(L) + idx + 1;
}

/* Fills the lazy object at stack index t with its members and takes its
 * metatable away, so it is an ordinary table from then on. Made in the
 * current call, it is built from its node (its tables remembered for the
 * fast path, as eddy_lua_json_push does); made in an earlier one, from the
 * text the end of that call kept (eddy_lua_json_detach). Raises on memory
 * errors, leaving it lazy: the next use builds it again. Upvalues of the
 * closures: lj, json.array_mt, the lazy metatable, the kept texts. */
static void build_lazy(lua_State *L, int t)
{
	struct eddy_lua_json *lj = lua_touserdata(L, lua_upvalueindex(1));
	const struct eddy_json *node;
	int mt;
	char err[128];

	if (!lua_getmetatable(L, t)) /* mt */
		return;
	bool lazy = lua_rawequal(L, -1, lua_upvalueindex(3));
	lua_pop(L, 1);
	if (!lazy)
		return;
	lua_pushvalue(L, lua_upvalueindex(2)); /* array_mt */
	mt = lua_gettop(L);
	node = seen_find(lj, lua_topointer(L, t));
	struct eddy_lua_json *remember = lj;
	if (!node) {
		size_t len;
		lua_pushvalue(L, t);                /* array_mt, object */
		lua_rawget(L, lua_upvalueindex(4)); /* array_mt, text */
		const char *text = lua_tolstring(L, -1, &len);
		if (!text)
			luaL_error(L, "a table of an earlier event was lost: memory ran out when "
			              "its call ended");
		if (!lj->doc && !(lj->doc = eddy_json_doc_new()))
			luaL_error(L, "not enough memory");
		/* the text was checked as JSON already; only memory can fail */
		if (!(node = eddy_json_parse(lj->doc, text, len, err, sizeof err)))
			luaL_error(L, "a table of an earlier event: %s", err);
		lua_pop(L, 1);   /* array_mt */
		remember = NULL; /* the nodes last until the next parse only */
	}
	luaL_checkstack(L, 4, "JSON nesting too deep");
	for (uint32_t i = 0; i < node->len; i++) {
		const struct eddy_json_member *m = &node->u.members[i];
		lua_pushlstring(L, m->key, m->key_len);         /* array_mt, key */
		eddy_lua_json_push(remember, L, &m->value, mt); /* array_mt, key, value */
		lua_rawset(L, t);                               /* array_mt */
	}
	lua_pop(L, 1);
	lua_pushnil(L);
	lua_setmetatable(L, t);
	if (!remember) {
		lua_pushvalue(L, t);
		lua_pushnil(L);
		lua_rawset(L, lua_upvalueindex(4));
	}
}

/* __index(object, key) and __newindex(object, key, value) of a lazy
 * object, told apart by their arguments; called with the object alone, it
 * builds it (eddy.sandbox's and eddy.json's use). */
static int lazy_access(lua_State *L)
{
	bool write = lua_gettop(L) >= 3;

	luaL_checktype(L, 1, LUA_TTABLE);
	build_lazy(L, 1);
	lua_settop(L, write ? 3 : 2);
	if (write) {
		lua_rawset(L, 1);
		return 0;
	}
	lua_rawget(L, 1);
	return 1;
}

void eddy_lua_json_bind(struct eddy_lua_json *lj, lua_State *L, int array_mt)
{
	array_mt = abs_index(L, array_mt);
	shapes_clear(lj);
	lj->bound = L;
	lj->n_pending = 0;

	lua_createtable(L, 8, 0); /* pending */
	lj->pending = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_newtable(L);          /* backing */
	lua_createtable(L, 0, 1); /* backing, weak */
	lua_pushliteral(L, "k");
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, -2);
	lua_createtable(L, 0, 2); /* backing, lazy_mt */
	lua_pushlightuserdata(L, lj);
	lua_pushvalue(L, array_mt);
	lua_pushvalue(L, -3);                /* ..., lazy_mt */
	lua_pushvalue(L, -5);                /* ..., backing */
	lua_pushcclosure(L, lazy_access, 4); /* backing, lazy_mt, fn */
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, "__index");
	lua_setfield(L, -2, "__newindex");
	lj->lazy_mt_ptr = lua_topointer(L, -1);
	lua_pushvalue(L, -1);
	lj->lazy_mt = luaL_ref(L, LUA_REGISTRYINDEX); /* backing, lazy_mt */
	lua_insert(L, -2);                            /* lazy_mt, backing */
	lj->backing = luaL_ref(L, LUA_REGISTRYINDEX); /* lazy_mt */
}

void eddy_lua_json_push_lazy(struct eddy_lua_json *lj, lua_State *L, const struct eddy_json *v,
                             int mt)
{
	if (!lj || lj->bound != L || v->type != EDDY_JSON_OBJECT || !v->raw || v->len == 0 ||
	    v->len > INT32_MAX) {
		eddy_lua_json_push(lj, L, v, mt);
		return;
	}
	lua_createtable(L, 0, (int)v->len);             /* object */
	lua_rawgeti(L, LUA_REGISTRYINDEX, lj->pending); /* object, pending */
	lua_pushvalue(L, -2);                           /* object, pending, object */
	lua_rawseti(L, -2, lj->n_pending + 1);          /* object, pending */
	lua_pop(L, 1);
	if (!seen_add(lj, lua_topointer(L, -1), v)) {
		lua_pop(L, 1);
		eddy_lua_json_push(lj, L, v, mt);
		return;
	}
	lj->n_pending++;
	lua_rawgeti(L, LUA_REGISTRYINDEX, lj->lazy_mt); /* object, lazy_mt */
	lua_setmetatable(L, -2);                        /* object */
}

void eddy_lua_json_detach(struct eddy_lua_json *lj, lua_State *L)
{
	int n = lj ? lj->n_pending : 0;

	if (!n || lj->bound != L)
		return;
	lj->n_pending = 0;
	luaL_checkstack(L, 6, "detach");
	lua_rawgeti(L, LUA_REGISTRYINDEX, lj->pending); /* pending */
	lua_rawgeti(L, LUA_REGISTRYINDEX, lj->backing); /* pending, backing */
	for (int i = 1; i <= n; i++) {
		lua_rawgeti(L, -2, i); /* pending, backing, object */
		const struct eddy_json *node = NULL;
		if (lua_getmetatable(L, -1)) { /* ..., object, mt */
			if (lua_topointer(L, -1) == lj->lazy_mt_ptr)
				node = seen_find(lj, lua_topointer(L, -2));
			lua_pop(L, 1);
		}
		if (node) {
			lua_pushlstring(L, node->raw, node->raw_len); /* ..., object, text */
			lua_rawset(L, -3);                            /* pending, backing */
		} else {
			lua_pop(L, 1);
		}
		lua_pushnil(L);
		lua_rawseti(L, -3, i);
	}
	lua_pop(L, 2);
}

void eddy_lua_json_materialize(lua_State *L, int idx)
{
	if (!lua_getmetatable(L, idx)) /* mt */
		return;
	idx = abs_index(L, idx);
	lua_pushliteral(L, "__index");
	lua_rawget(L, -2); /* mt, __index */
	if (lua_tocfunction(L, -1) == lazy_access) {
		lua_pushvalue(L, idx); /* mt, __index, object */
		lua_call(L, 1, 0);     /* mt */
		lua_pop(L, 1);
		return;
	}
	lua_pop(L, 2);
}

/* ---- Lua compared with JSON ------------------------------------------------- */

/* Objects up to this many members are compared by scanning their members. */
#define SCAN_MAX 32

/* The item of array v whose index is the key below the top of the stack,
 * or NULL. */
static const struct eddy_json *array_item(lua_State *L, const struct eddy_json *v)
{
	lua_Number k;

	if (lua_type(L, -2) != LUA_TNUMBER)
		return NULL;
	k = lua_tonumber(L, -2);
	if (!(k >= 1 && k <= v->len) || k != (lua_Number)(uint32_t)k)
		return NULL;
	return &v->u.items[(uint32_t)k - 1];
}

/* The member of object v named by the key below the top of the stack, or
 * NULL. The search starts after the last match (*hint): objects are small,
 * and a scan compares bytes where a lookup from the other side would have
 * to intern every member name as a Lua string first. */
static const struct eddy_json *object_member(lua_State *L, const struct eddy_json *v,
                                             uint32_t *hint)
{
	size_t len;
	const char *k;

	if (lua_type(L, -2) != LUA_TSTRING)
		return NULL;
	k = lua_tolstring(L, -2, &len);
	for (uint32_t j = 0, i = *hint; j < v->len; j++, i = i + 1 == v->len ? 0 : i + 1) {
		const struct eddy_json_member *m = &v->u.members[i];
		if (m->key_len == len && (!len || m->key[0] == k[0]) &&
		    memcmp(m->key, k, len) == 0) {
			*hint = i + 1 == v->len ? 0 : i + 1;
			return &m->value;
		}
	}
	return NULL;
}

/* The metatables same_json tells apart: json.array_mt, and that of lazy
 * objects (which look empty until built, so are never taken as the same). */
struct marks {
	const void *array_mt, *lazy_mt;
};

static bool same_json(lua_State *L, int idx, const struct eddy_json *v, const struct marks *mk);

/* same_json for large objects: count the keys, then look every member up
 * (interning its name), instead of scanning the members for every key. */
static bool same_object_by_lookup(lua_State *L, int idx, const struct eddy_json *v,
                                  const struct marks *mk)
{
	size_t n = 0;

	lua_pushnil(L);            /* nil */
	while (lua_next(L, idx)) { /* key, value */
		lua_pop(L, 1);     /* key */
		if (++n > v->len) {
			lua_pop(L, 1);
			return false;
		}
	}
	if (n != v->len)
		return false;
	for (uint32_t i = 0; i < v->len; i++) {
		const struct eddy_json_member *m = &v->u.members[i];
		lua_pushlstring(L, m->key, m->key_len); /* key */
		lua_rawget(L, idx);                     /* value */
		bool same = same_json(L, lua_gettop(L), &m->value, mk);
		lua_pop(L, 1);
		if (!same)
			return false;
	}
	return true;
}

/* true when the Lua value at stack index idx would be written as the same
 * JSON as v, so v's original text can be stored instead of encoding it:
 * same types, same scalars, tables with exactly the same keys (counted),
 * and empty tables marked as arrays exactly where v has []. */
static bool same_json(lua_State *L, int idx, const struct eddy_json *v, const struct marks *mk)
{
	size_t len, n;
	uint32_t hint = 0;
	int value;
	const char *s;

	switch (v->type) {
	case EDDY_JSON_NULL:
		return lua_type(L, idx) == LUA_TLIGHTUSERDATA && !lua_touserdata(L, idx);
	case EDDY_JSON_FALSE:
	case EDDY_JSON_TRUE:
		return lua_type(L, idx) == LUA_TBOOLEAN &&
		       lua_toboolean(L, idx) == (v->type == EDDY_JSON_TRUE);
	case EDDY_JSON_INT:
		return lua_type(L, idx) == LUA_TNUMBER &&
		       lua_tonumber(L, idx) == (lua_Number)v->u.i;
	case EDDY_JSON_DOUBLE:
		return lua_type(L, idx) == LUA_TNUMBER && lua_tonumber(L, idx) == v->u.d;
	case EDDY_JSON_STRING:
		if (lua_type(L, idx) != LUA_TSTRING)
			return false;
		s = lua_tolstring(L, idx, &len);
		return len == v->len && memcmp(s, v->u.s, len) == 0;
	case EDDY_JSON_ARRAY:
	case EDDY_JSON_OBJECT:
		break;
	default:
		return false;
	}

	if (lua_type(L, idx) != LUA_TTABLE || !lua_checkstack(L, 4))
		return false;
	if (v->type == EDDY_JSON_OBJECT && v->len > SCAN_MAX)
		return same_object_by_lookup(L, idx, v, mk);
	/* One pass over the table: each key must name an item of v holding the
	 * same value. Keys are unique on both sides, so with as many keys as v
	 * has items the table holds exactly v's keys. */
	n = 0;
	value = lua_gettop(L) + 2;
	lua_pushnil(L);            /* nil */
	while (lua_next(L, idx)) { /* key, value */
		const struct eddy_json *item = NULL;
		if (++n <= v->len) {
			if (v->type == EDDY_JSON_ARRAY)
				item = array_item(L, v);
			else
				item = object_member(L, v, &hint);
		}
		if (!item || !same_json(L, value, item, mk)) {
			lua_pop(L, 2);
			return false;
		}
		lua_pop(L, 1); /* key */
	}
	if (n != v->len)
		return false;
	if (n == 0) {
		/* empty: [] when marked as an array, {} when not */
		const void *mt = NULL;
		if (lua_getmetatable(L, idx)) { /* mt */
			mt = lua_topointer(L, -1);
			lua_pop(L, 1);
		}
		if (mt && mt == mk->lazy_mt)
			return false;
		return (mt && mt == mk->array_mt) == (v->type == EDDY_JSON_ARRAY);
	}
	return true;
}

const struct eddy_json *eddy_lua_json_original(const struct eddy_lua_json *lj, lua_State *L,
                                               int idx, const void *array_mt)
{
	const struct eddy_json *node;

	if (!lua_istable(L, idx))
		return NULL;
	node = seen_find(lj, lua_topointer(L, idx));
	if (!node || !node->raw)
		return NULL;
	if (lua_getmetatable(L, idx)) { /* mt */
		bool lazy = lua_topointer(L, -1) == lj->lazy_mt_ptr;
		lua_pop(L, 1);
		/* not built yet, so unchanged; unless given items raw (table.insert) */
		if (lazy && lua_checkstack(L, 2)) {
			lua_pushnil(L);
			if (!lua_next(L, idx))
				return node;
			lua_pop(L, 2);
		}
	}
	struct marks mk = {array_mt, lj->lazy_mt_ptr};
	return same_json(L, idx, node, &mk) ? node : NULL;
}
