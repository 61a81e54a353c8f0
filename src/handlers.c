/* handlers.c - the handler files (handlers/NAME.lua) in one sandboxed
 * LuaJIT state: loading, the ev table each call gets, routing by type and
 * topic, and the ctx API. */
#include "handlers.h"
#include "publish.h"
#include "readfile.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>

#include "json.h"
#include "lualimits.h"
#include "log.h"
#include "lua_modules.h"

#ifndef EDDY_CJSON_SO
#error "EDDY_CJSON_SO must name lua-cjson's cjson.so (the build finds it)"
#endif

/* Subscription patterns; all == true when the handler left the list out. */
struct globs {
	bool all;
	char **v;
	size_t n;
};

struct handler {
	char *name;   /* "orders.lua" */
	char *path;   /* "handlers/orders.lua" */
	int on_event; /* registry refs */
	int ctx;
	struct globs types, topics;
	char *src; /* the file as loaded: a rebuilt state loads this again */
	size_t src_len;
};

/* A table converted from a JSON array or object during the current call:
 * the candidate node for ctx.upsert's raw-text fast path. */
struct seen {
	const void *table;
	const struct eddy_json *node;
	uint32_t gen; /* valid while equal to eddy_handlers.gen */
};

#define N_CTX 6 /* functions of ctx */

struct eddy_handlers {
	lua_State *L;
	struct eddy_limits *limits; /* of L: its allocator, the CPU deadline */
	struct eddy_handlers_limits limit_conf;
	const struct eddy_actions *actions; /* borrowed */
	struct handler *v;
	size_t n;

	/* registry refs to what every call needs */
	int call, errh, encode, json, new_env, array_mt, ev_keys;
	int ctx_fn[N_CTX]; /* get, upsert, delete, log, publish, alert */
	const void *array_mt_ptr;

	/* ctx.get and json.decode parse into this; nothing outlives a call */
	struct eddy_json_doc *doc;

	/* the call in progress */
	const struct eddy_event *ev;
	const struct handler *cur;

	/* open-addressing set of the tables of the current call */
	struct seen *seen;
	size_t seen_cap, seen_n;
	uint32_t gen;
};

static const char *const ctx_names[N_CTX] = {"get", "upsert", "delete", "log", "publish", "alert"};

/* The set a C closure belongs to: its first upvalue. */
static struct eddy_handlers *self(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

__attribute__((format(printf, 2, 3))) static int raise_error(lua_State *L, const char *fmt, ...);

/* ---- tables converted from JSON, for the fast path ------------------------ */

static size_t seen_slot(const struct eddy_handlers *h, const void *t)
{
	uint64_t x = (uint64_t)(uintptr_t)t;
	return (size_t)((x >> 4) * 0x9e3779b97f4a7c15ull >> 20) & (h->seen_cap - 1);
}

static void seen_reset(struct eddy_handlers *h)
{
	h->seen_n = 0;
	if (++h->gen == 0) {
		if (h->seen)
			memset(h->seen, 0, h->seen_cap * sizeof *h->seen);
		h->gen = 1;
	}
}

static void seen_put(struct eddy_handlers *h, const void *t, const struct eddy_json *node)
{
	size_t i = seen_slot(h, t);
	while (h->seen[i].gen == h->gen && h->seen[i].table != t)
		i = (i + 1) & (h->seen_cap - 1);
	if (h->seen[i].gen != h->gen)
		h->seen_n++;
	h->seen[i] = (struct seen){t, node, h->gen};
}

/* Remembers that table t was made from node. Out of memory only loses the
 * fast path for t, so it is not an error. */
static void seen_add(struct eddy_handlers *h, const void *t, const struct eddy_json *node)
{
	if ((h->seen_n + 1) * 2 > h->seen_cap) {
		size_t old_cap = h->seen_cap, cap = old_cap ? old_cap * 2 : 64;
		struct seen *old = h->seen, *v = calloc(cap, sizeof *v);
		if (!v)
			return;
		h->seen = v;
		h->seen_cap = cap;
		h->seen_n = 0;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].gen == h->gen)
				seen_put(h, old[i].table, old[i].node);
		free(old);
	}
	seen_put(h, t, node);
}

static const struct eddy_json *seen_find(const struct eddy_handlers *h, const void *t)
{
	if (!h->seen_n)
		return NULL;
	for (size_t i = seen_slot(h, t); h->seen[i].gen == h->gen; i = (i + 1) & (h->seen_cap - 1))
		if (h->seen[i].table == t)
			return h->seen[i].node;
	return NULL;
}

/* ---- JSON -> Lua ------------------------------------------------------------ */

/* Pushes v as a Lua value: objects become tables, arrays tables with the
 * metatable at stack index mt (json.array_mt), null json.null (the
 * lightuserdata NULL, as cjson.null), numbers doubles (integers beyond
 * 2^53 lose precision). With track, every table is remembered for the
 * fast path. Raises on memory errors: call it in protected mode. */
static void push_json(struct eddy_handlers *h, const struct eddy_json *v, int mt, bool track)
{
	lua_State *L = h->L;

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
			push_json(h, &v->u.items[i], mt, track); /* array, item */
			lua_rawseti(L, -2, (int)i + 1);          /* array */
		}
		lua_pushvalue(L, mt); /* array, mt */
		lua_setmetatable(L, -2);
		if (track)
			seen_add(h, lua_topointer(L, -1), v);
		break;
	case EDDY_JSON_OBJECT:
		luaL_checkstack(L, 3, "JSON nesting too deep");
		lua_createtable(L, 0, v->len > INT32_MAX ? 0 : (int)v->len); /* object */
		for (uint32_t i = 0; i < v->len; i++) {
			const struct eddy_json_member *m = &v->u.members[i];
			lua_pushlstring(L, m->key, m->key_len); /* object, key */
			push_json(h, &m->value, mt, track);     /* object, key, value */
			lua_rawset(L, -3);                      /* object */
		}
		if (track)
			seen_add(h, lua_topointer(L, -1), v);
		break;
	default:
		lua_pushnil(L);
	}
}

/* Parses text and pushes it converted like ev.data; raises "<what>: ..."
 * at the calling handler's line when it is not JSON. */
static void push_decoded(struct eddy_handlers *h, const char *text, size_t len, const char *what)
{
	lua_State *L = h->L;
	char err[256];
	const struct eddy_json *v = eddy_json_parse(h->doc, text, len, err, sizeof err);

	if (!v)
		raise_error(L, "%s: %s", what, err);
	lua_rawgeti(L, LUA_REGISTRYINDEX, h->array_mt); /* mt */
	push_json(h, v, lua_gettop(L), false);          /* mt, value */
	lua_remove(L, -2);                              /* value */
}

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

static bool same_json(struct eddy_handlers *h, int idx, const struct eddy_json *v);

/* same_json for large objects: count the keys, then look every member up
 * (interning its name), instead of scanning the members for every key. */
static bool same_object_by_lookup(struct eddy_handlers *h, int idx, const struct eddy_json *v)
{
	lua_State *L = h->L;
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
		bool same = same_json(h, lua_gettop(L), &m->value);
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
static bool same_json(struct eddy_handlers *h, int idx, const struct eddy_json *v)
{
	lua_State *L = h->L;
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
		return same_object_by_lookup(h, idx, v);
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
		if (!item || !same_json(h, value, item)) {
			lua_pop(L, 2);
			return false;
		}
		lua_pop(L, 1); /* key */
	}
	if (n != v->len)
		return false;
	if (n == 0) {
		/* empty: [] when marked as an array, {} when not */
		bool marked = false;
		if (lua_getmetatable(L, idx)) { /* mt */
			marked = lua_topointer(L, -1) == h->array_mt_ptr;
			lua_pop(L, 1);
		}
		return marked == (v->type == EDDY_JSON_ARRAY);
	}
	return true;
}

/* ---- ev ---------------------------------------------------------------------- */

/* The fields of ev. Their names are interned once per state (h->ev_keys)
 * so building ev hashes none of them again. */
enum ev_key {
	K_ID = 1,
	K_TYPE,
	K_SOURCE,
	K_SUBJECT,
	K_TIME,
	K_SPECVERSION,
	K_DATACONTENTTYPE,
	K_DATASCHEMA,
	K_TENANT,
	K_CORRELATION_ID,
	K_DELETED,
	K_DATA,
	K_META,
	K_EXTENSIONS,
	K_KEY,
	K_TOPIC,
	K_PARTITION,
	K_OFFSET,
	K_HEADERS,
	K_END
};
static const char *const ev_key_names[K_END] = {
    [K_ID] = "id",
    [K_TYPE] = "type",
    [K_SOURCE] = "source",
    [K_SUBJECT] = "subject",
    [K_TIME] = "time",
    [K_SPECVERSION] = "specversion",
    [K_DATACONTENTTYPE] = "datacontenttype",
    [K_DATASCHEMA] = "dataschema",
    [K_TENANT] = "tenant",
    [K_CORRELATION_ID] = "correlation_id",
    [K_DELETED] = "deleted",
    [K_DATA] = "data",
    [K_META] = "meta",
    [K_EXTENSIONS] = "extensions",
    [K_KEY] = "key",
    [K_TOPIC] = "topic",
    [K_PARTITION] = "partition",
    [K_OFFSET] = "offset",
    [K_HEADERS] = "headers",
};

/* ev[key] = the value on top of the stack (keys, ev at the given indexes). */
static void set_field(lua_State *L, int keys, int ev, enum ev_key k)
{
	lua_rawgeti(L, keys, k); /* ..., value, key */
	lua_insert(L, -2);       /* ..., key, value */
	lua_rawset(L, ev);       /* ... */
}

static void set_string(lua_State *L, int keys, int ev, enum ev_key k, const char *s, size_t len)
{
	if (s) {
		lua_pushlstring(L, s, len);
		set_field(L, keys, ev, k);
	}
}

/* Pushes a fresh ev table for ev (the fields are listed in DESIGN.md's
 * handler API). Raises on memory errors. */
static void push_event(struct eddy_handlers *h, const struct eddy_event *ev)
{
	lua_State *L = h->L;
	const struct eddy_msg *msg = ev->msg;
	int mt, keys, t;

	lua_rawgeti(L, LUA_REGISTRYINDEX, h->array_mt); /* mt */
	lua_rawgeti(L, LUA_REGISTRYINDEX, h->ev_keys);  /* mt, keys */
	lua_createtable(L, 0, K_END);                   /* mt, keys, ev */
	t = lua_gettop(L);
	keys = t - 1;
	mt = t - 2;
	set_string(L, keys, t, K_ID, ev->id.s, ev->id.len);
	set_string(L, keys, t, K_TYPE, ev->type.s, ev->type.len);
	set_string(L, keys, t, K_SOURCE, ev->source.s, ev->source.len);
	set_string(L, keys, t, K_SUBJECT, ev->subject.s, ev->subject.len);
	set_string(L, keys, t, K_TIME, ev->time.s, ev->time.len);
	set_string(L, keys, t, K_SPECVERSION, ev->specversion.s, ev->specversion.len);
	set_string(L, keys, t, K_DATACONTENTTYPE, ev->datacontenttype.s, ev->datacontenttype.len);
	set_string(L, keys, t, K_DATASCHEMA, ev->dataschema.s, ev->dataschema.len);
	set_string(L, keys, t, K_TENANT, ev->tenant.s, ev->tenant.len);
	set_string(L, keys, t, K_CORRELATION_ID, ev->correlation_id.s, ev->correlation_id.len);
	lua_pushboolean(L, ev->deleted);
	set_field(L, keys, t, K_DELETED);

	if (ev->data_json) {
		push_json(h, ev->data_json, mt, true); /* mt, keys, ev, data */
		set_field(L, keys, t, K_DATA);
	} else {
		set_string(L, keys, t, K_DATA, ev->data_bytes.s, ev->data_bytes.len);
	}
	if (ev->meta) {
		push_json(h, ev->meta, mt, true); /* mt, keys, ev, meta */
		set_field(L, keys, t, K_META);
	}

	lua_createtable(L, 0, (int)ev->n_extensions); /* mt, keys, ev, extensions */
	for (size_t i = 0; i < ev->n_extensions; i++) {
		const struct eddy_extension *x = &ev->extensions[i];
		if (!x->json && !x->str.s)
			continue;
		lua_pushlstring(L, x->name, x->name_len); /* ..., extensions, name */
		if (x->json)
			push_json(h, x->json, mt, true); /* ..., extensions, name, value */
		else
			lua_pushlstring(L, x->str.s, x->str.len);
		lua_rawset(L, -3); /* ..., extensions */
	}
	set_field(L, keys, t, K_EXTENSIONS); /* mt, keys, ev */

	/* a header repeated by name: the last one wins; null values are left out */
	lua_createtable(L, 0, msg ? (int)msg->n_headers : 0); /* mt, keys, ev, headers */
	for (size_t i = 0; msg && i < msg->n_headers; i++) {
		const struct eddy_header *hdr = &msg->headers[i];
		if (!hdr->value)
			continue;
		lua_pushstring(L, hdr->name);             /* ..., headers, name */
		lua_pushlstring(L, hdr->value, hdr->len); /* ..., headers, name, value */
		lua_rawset(L, -3);                        /* ..., headers */
	}
	set_field(L, keys, t, K_HEADERS); /* mt, keys, ev */

	if (msg) {
		set_string(L, keys, t, K_KEY, msg->key, msg->key_len);
		if (msg->topic)
			set_string(L, keys, t, K_TOPIC, msg->topic, strlen(msg->topic));
		lua_pushnumber(L, msg->partition);
		set_field(L, keys, t, K_PARTITION);
		lua_pushnumber(L, (lua_Number)msg->offset);
		set_field(L, keys, t, K_OFFSET);
	}
	lua_replace(L, mt); /* ev, keys */
	lua_pop(L, 1);      /* ev */
}

/* ---- ctx --------------------------------------------------------------------- */

/* Raises a message at the calling handler's line, as error(msg, 2) would
 * (level 1 is the caller of the C function). A tail call (return
 * ctx.delete(...)) leaves no frame to take the line from: the handler's
 * file is named instead. */
__attribute__((format(printf, 2, 3))) static int raise_error(lua_State *L, const char *fmt, ...)
{
	struct eddy_handlers *h = self(L);
	va_list ap;

	luaL_where(L, 1); /* where */
	if (lua_objlen(L, -1) == 0 && h->cur) {
		lua_pop(L, 1);
		lua_pushfstring(L, "%s: ", h->cur->path);
	}
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap); /* where, msg */
	va_end(ap);
	lua_concat(L, 2);
	return lua_error(L);
}

static const char *arg_string(lua_State *L, int i, const char *fn, const char *what, size_t *len)
{
	if (lua_type(L, i) != LUA_TSTRING)
		raise_error(L, "%s: %s must be a string, got %s", fn, what, luaL_typename(L, i));
	return lua_tolstring(L, i, len);
}

static const struct eddy_actions *actions_for(lua_State *L, struct eddy_handlers *h, const char *fn)
{
	if (!h->ev)
		raise_error(L, "%s: can only be called while on_event runs", fn);
	return h->actions;
}

/* Pushes the JSON text of the value at idx, written by json.encode;
 * raises "<fn>: <why>" when it cannot be written. */
static void push_encoded(lua_State *L, struct eddy_handlers *h, int idx, const char *fn)
{
	lua_rawgeti(L, LUA_REGISTRYINDEX, h->encode); /* encode */
	lua_pushvalue(L, idx);                        /* encode, value */
	if (lua_pcall(L, 1, 1, 0) != 0)               /* text | err */
		raise_error(L, "%s: %s", fn,
		            lua_isstring(L, -1) ? lua_tostring(L, -1) : "cannot encode");
}

/* ctx.get(ns, key) -> the stored value decoded (arrays marked, null as
 * json.null), or nil when there is none. */
static int l_ctx_get(lua_State *L)
{
	struct eddy_handlers *h = self(L);
	size_t key_len, len = 0;
	const char *ns = arg_string(L, 1, "ctx.get", "namespace", NULL);
	const char *key = arg_string(L, 2, "ctx.get", "key", &key_len);
	const struct eddy_actions *a = actions_for(L, h, "ctx.get");
	const char *value = NULL;
	char err[256] = "";
	int rc;

	if (!a || !a->get)
		return raise_error(L, "ctx.get: not available here");
	rc = a->get(a->ud, ns, key, key_len, &value, &len, err, sizeof err);
	if (rc < 0)
		return raise_error(L, "ctx.get: %s", err);
	if (rc == 0 || !value) {
		lua_pushnil(L);
		return 1;
	}
	push_decoded(h, value, len, "ctx.get: stored value is not JSON");
	return 1;
}

/* ctx.upsert(ns, key, value): value (table, string, number, boolean or
 * json.null) is stored as JSON. A table converted from the event's JSON
 * and still equal to it is stored as its original text, byte for byte. */
static int l_ctx_upsert(lua_State *L)
{
	struct eddy_handlers *h = self(L);
	size_t key_len, len = 0;
	const char *ns = arg_string(L, 1, "ctx.upsert", "namespace", NULL);
	const char *key = arg_string(L, 2, "ctx.upsert", "key", &key_len);
	const struct eddy_actions *a = actions_for(L, h, "ctx.upsert");
	const char *text = NULL;
	char err[256] = "";

	switch (lua_type(L, 3)) {
	case LUA_TTABLE: {
		const struct eddy_json *node = seen_find(h, lua_topointer(L, 3));
		if (node && node->raw && same_json(h, 3, node)) {
			text = node->raw;
			len = node->raw_len;
		}
		break;
	}
	case LUA_TBOOLEAN:
		text = lua_toboolean(L, 3) ? "true" : "false";
		len = strlen(text);
		break;
	case LUA_TSTRING:
	case LUA_TNUMBER:
		break;
	case LUA_TLIGHTUSERDATA:
		if (!lua_touserdata(L, 3)) {
			text = "null";
			len = 4;
			break;
		}
		/* fall through */
	default:
		return raise_error(
		    L, "ctx.upsert: value must be a table, string, number, boolean or json.null, got %s%s",
		    luaL_typename(L, 3), lua_isnil(L, 3) ? " (ctx.delete removes a key)" : "");
	}
	if (!text) {
		push_encoded(L, h, 3, "ctx.upsert"); /* text */
		text = lua_tolstring(L, -1, &len);
	}
	if (!a || !a->upsert)
		return raise_error(L, "ctx.upsert: not available here");
	if (a->upsert(a->ud, ns, key, key_len, text, len, err, sizeof err) < 0)
		return raise_error(L, "ctx.upsert: %s", err);
	return 0;
}

/* ctx.delete(ns, key): deleting what is not there is not an error. */
static int l_ctx_delete(lua_State *L)
{
	struct eddy_handlers *h = self(L);
	size_t key_len;
	const char *ns = arg_string(L, 1, "ctx.delete", "namespace", NULL);
	const char *key = arg_string(L, 2, "ctx.delete", "key", &key_len);
	const struct eddy_actions *a = actions_for(L, h, "ctx.delete");
	char err[256] = "";

	if (!a || !a->del)
		return raise_error(L, "ctx.delete: not available here");
	if (a->del(a->ud, ns, key, key_len, err, sizeof err) < 0)
		return raise_error(L, "ctx.delete: %s", err);
	return 0;
}

/* ctx.log(level, msg [, fields]): level is debug, info, warn or error;
 * fields a table, logged as a JSON object. */
static int l_ctx_log(lua_State *L)
{
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	struct eddy_handlers *h = self(L);
	const char *level = arg_string(L, 1, "ctx.log", "level", NULL), *fields = NULL;
	const char *msg = arg_string(L, 2, "ctx.log", "msg", NULL);
	const struct eddy_actions *a;
	int i;

	for (i = 0; i < 4 && strcmp(level, levels[i]) != 0; i++)
		;
	if (i == 4)
		return raise_error(
		    L, "ctx.log: level must be debug, info, warn or error, got \"%s\"", level);
	if (!lua_isnoneornil(L, 3)) {
		if (!lua_istable(L, 3))
			return raise_error(L, "ctx.log: fields must be a table, got %s",
			                   luaL_typename(L, 3));
		push_encoded(L, h, 3, "ctx.log");
		fields = lua_tostring(L, -1);
	}
	a = actions_for(L, h, "ctx.log");
	if (a && a->log)
		a->log(a->ud, h->cur->name, levels[i], msg, fields);
	return 0;
}

/* Field name of the table at idx as an optional string (numbers are
 * turned into strings); NULL when absent. Raises on another type. */
static const char *opt_field(lua_State *L, int idx, const char *name, const char *fn, size_t *len)
{
	lua_getfield(L, idx, name);
	int t = lua_type(L, -1);
	if (t == LUA_TNIL) {
		lua_pop(L, 1);
		return NULL;
	}
	if (t != LUA_TSTRING && t != LUA_TNUMBER)
		raise_error(L, "%s: %s must be a string, got %s", fn, name, luaL_typename(L, -1));
	/* left on the stack, so the string lives until the call returns */
	return lua_tolstring(L, -1, len);
}

/* The table field name encoded as a JSON object, or NULL when absent. */
static const char *opt_object(lua_State *L, struct eddy_handlers *h, int idx, const char *name,
                              const char *fn)
{
	lua_getfield(L, idx, name);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return NULL;
	}
	if (!lua_istable(L, -1))
		raise_error(L, "%s: %s must be a table, got %s", fn, name, luaL_typename(L, -1));
	push_encoded(L, h, lua_gettop(L), fn); /* table, text */
	const char *text = lua_tostring(L, -1);
	if (text[0] != '{')
		raise_error(L, "%s: %s must be a table of names to values, not a list", fn, name);
	return text;
}

/* ctx.publish{ topic, type, key, data, id, subject, dataschema, headers,
 * mode }: a CloudEvent produced once every handler of the event succeeded;
 * data is checked against the schema of type first. data = nil publishes
 * a tombstone for key. */
static int l_ctx_publish(lua_State *L)
{
	struct eddy_handlers *h = self(L);
	const char *fn = "ctx.publish";
	struct eddy_publish_req req = {0};
	const char *hdrs[64];
	char err[1024] = "";

	if (!lua_istable(L, 1))
		return raise_error(L, "ctx.publish: expects a table, got %s", luaL_typename(L, 1));
	const struct eddy_actions *a = actions_for(L, h, fn);
	req.topic = opt_field(L, 1, "topic", fn, NULL);
	req.type = opt_field(L, 1, "type", fn, NULL);
	req.key = opt_field(L, 1, "key", fn, &req.key_len);
	req.id = opt_field(L, 1, "id", fn, NULL);
	req.subject = opt_field(L, 1, "subject", fn, NULL);
	req.dataschema = opt_field(L, 1, "dataschema", fn, NULL);
	const char *mode = opt_field(L, 1, "mode", fn, NULL);
	if (mode && strcmp(mode, "binary") != 0 && strcmp(mode, "structured") != 0)
		return raise_error(L, "ctx.publish: mode must be \"structured\" or \"binary\", got \"%s\"",
		                   mode);
	req.binary = mode && strcmp(mode, "binary") == 0;
	if (!req.topic)
		return raise_error(L, "ctx.publish: topic is required");
	lua_getfield(L, 1, "data"); /* ..., data */
	int data = lua_gettop(L);
	if (!lua_isnil(L, data)) {
		const struct eddy_json *node =
		    lua_istable(L, data) ? seen_find(h, lua_topointer(L, data)) : NULL;
		if (node && node->raw && same_json(h, data, node)) {
			req.data = node->raw;
			req.data_len = node->raw_len;
		} else {
			push_encoded(L, h, data, fn);
			req.data = lua_tolstring(L, -1, &req.data_len);
		}
	}
	lua_getfield(L, 1, "headers"); /* ..., headers */
	int headers = lua_gettop(L);
	if (!lua_isnil(L, headers)) {
		if (!lua_istable(L, headers))
			return raise_error(L, "ctx.publish: headers must be a table, got %s",
			                   luaL_typename(L, headers));
		lua_pushnil(L);
		while (lua_next(L, headers)) { /* ..., key, value */
			if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
				return raise_error(L, "ctx.publish: headers must map names to strings");
			if (req.n_headers == sizeof hdrs / sizeof hdrs[0] / 2)
				return raise_error(L, "ctx.publish: at most 32 headers");
			hdrs[2 * req.n_headers] = lua_tostring(L, -2);
			hdrs[2 * req.n_headers + 1] = lua_tostring(L, -1);
			req.n_headers++;
			lua_pop(L, 1);
		}
		req.headers = hdrs;
	}
	if (!a || !a->publish)
		return raise_error(L, "ctx.publish: not available here");
	if (a->publish(a->ud, &req, err, sizeof err) < 0)
		return raise_error(L, "%s", err);
	return 0;
}

/* ctx.alert{ sink, severity, key, summary, description, labels,
 * annotations, dedupe }: written to the alert outbox once every handler of
 * the event succeeded, then sent to the sink. */
static int l_ctx_alert(lua_State *L)
{
	struct eddy_handlers *h = self(L);
	const char *fn = "ctx.alert";
	struct eddy_alert_req req = {0};
	char err[512] = "";

	if (!lua_istable(L, 1))
		return raise_error(L, "ctx.alert: expects a table, got %s", luaL_typename(L, 1));
	const struct eddy_actions *a = actions_for(L, h, fn);
	req.handler = h->cur->name;
	req.sink = opt_field(L, 1, "sink", fn, NULL);
	req.severity = opt_field(L, 1, "severity", fn, NULL);
	req.key = opt_field(L, 1, "key", fn, NULL);
	req.summary = opt_field(L, 1, "summary", fn, NULL);
	req.description = opt_field(L, 1, "description", fn, NULL);
	req.dedupe = opt_field(L, 1, "dedupe", fn, NULL);
	req.labels = opt_object(L, h, 1, "labels", fn);
	req.annotations = opt_object(L, h, 1, "annotations", fn);
	if (!a || !a->alert)
		return raise_error(L, "ctx.alert: not available here");
	if (a->alert(a->ud, &req, err, sizeof err) < 0)
		return raise_error(L, "%s", err);
	return 0;
}

/* json.decode(text): the host's decoder, the same conversion as ev.data. */
static int l_json_decode(lua_State *L)
{
	size_t len;
	const char *text = arg_string(L, 1, "json.decode", "text", &len);

	push_decoded(self(L), text, len, "json.decode");
	return 1;
}

/* ---- calls --------------------------------------------------------------- */

/* Message handler of every call into a handler: no traceback, the error
 * text as it is ("handlers/x.lua:12: msg"). Other error objects are named
 * by type at the line that raised them. It calls no Lua code (no
 * __tostring), so a stop hook armed at a deadline cannot fire inside it. */
static int l_errh(lua_State *L)
{
	lua_Debug ar;

	if (lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER)
		return 1;
	for (int level = 1; lua_getstack(L, level, &ar); level++) {
		if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
			lua_pushfstring(L, "%s:%d: error object is a %s", ar.short_src,
			                ar.currentline, luaL_typename(L, 1));
			return 1;
		}
	}
	lua_pushfstring(L, "error object is a %s", luaL_typename(L, 1));
	return 1;
}

/* Protected: builds ev and calls the current handler's on_event(ev, ctx),
 * so an allocation failure while converting fails the event, not the
 * process. */
static int l_call(lua_State *L)
{
	struct eddy_handlers *h = self(L);

	lua_rawgeti(L, LUA_REGISTRYINDEX, h->cur->on_event); /* on_event */
	push_event(h, h->ev);                                /* on_event, ev */
	lua_rawgeti(L, LUA_REGISTRYINDEX, h->cur->ctx);      /* on_event, ev, ctx */
	lua_call(L, 2, 0);
	return 0;
}

static bool globs_match(const struct globs *g, const char *s, size_t len)
{
	if (g->all)
		return true;
	for (size_t i = 0; i < g->n; i++)
		if (eddy_glob_match(g->v[i], s, len))
			return true;
	return false;
}

static void limit_error(struct eddy_handlers *h, const struct handler *hd, enum eddy_limit hit,
                        char *errstr, size_t errstr_size);
static void rebuild(struct eddy_handlers *h);

int eddy_handlers_dispatch(struct eddy_handlers *h, const struct eddy_event *ev,
                           const char **failed, char *errstr, size_t errstr_size)
{
	lua_State *L = h->L;
	int top = lua_gettop(L), called = 0;
	/* an event without a type or topic matches only patterns matching "" */
	const char *type = ev->type.s ? ev->type.s : "";
	size_t type_len = ev->type.s ? ev->type.len : 0;
	const char *topic = ev->msg && ev->msg->topic ? ev->msg->topic : "";
	size_t topic_len = strlen(topic);

	if (failed)
		*failed = NULL;
	for (size_t i = 0; i < h->n; i++) {
		const struct handler *hd = &h->v[i];
		/* a tombstone carries no type: it goes by topic alone */
		bool typeless_tombstone = ev->deleted && !ev->type.s;
		if ((!typeless_tombstone && !globs_match(&hd->types, type, type_len)) ||
		    !globs_match(&hd->topics, topic, topic_len))
			continue;
		h->ev = ev;
		h->cur = hd;
		seen_reset(h);
		lua_rawgeti(L, LUA_REGISTRYINDEX, h->errh); /* errh */
		lua_rawgeti(L, LUA_REGISTRYINDEX, h->call); /* errh, call */
		if (eddy_limits_arm(h->limits, errstr, errstr_size) != 0) {
			h->ev = NULL;
			h->cur = NULL;
			if (failed)
				*failed = hd->name;
			lua_settop(L, top);
			return -1;
		}
		int rc = lua_pcall(L, 0, 0, top + 1); /* errh [, err] */
		enum eddy_limit hit = eddy_limits_disarm(h->limits);
		h->ev = NULL;
		h->cur = NULL;
		seen_reset(h); /* the nodes are the caller's: forget them */
		if (rc != 0) {
			const char *msg = lua_tostring(L, -1);
			if (hit != EDDY_LIMIT_NONE)
				limit_error(h, hd, hit, errstr, errstr_size);
			else
				snprintf(errstr, errstr_size, "%s", msg ? msg : "error without a message");
			if (failed)
				*failed = hd->name; /* names outlive a rebuild */
			lua_settop(L, top);
			if (hit != EDDY_LIMIT_NONE)
				rebuild(h);
			return -1;
		}
		lua_settop(L, top);
		called++;
	}
	return called;
}

/* ---- loading ----------------------------------------------------------------- */

static void globs_free(struct globs *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->v[i]);
	free(g->v);
	g->v = NULL;
	g->n = 0;
}

/* What one protected load of a handler file needs. */
struct load {
	struct eddy_handlers *h;
	struct handler *hd;
	const char *path; /* "handlers/orders.lua" */
	const char *buf;
	size_t len;
};

/* Reads subscribe.<field> (at stack index idx: a string or a list of
 * strings) into g. Raises "<path>: subscribe.<field> ..." when malformed. */
static void read_globs(lua_State *L, int idx, const char *path, const char *field, struct globs *g)
{
	size_t n = 0, count = 0;

	if (lua_type(L, idx) == LUA_TSTRING) {
		n = 1;
	} else if (lua_istable(L, idx)) {
		n = lua_objlen(L, idx);
		lua_pushnil(L);
		while (lua_next(L, idx)) {
			count++;
			lua_pop(L, 1);
		}
		if (count != n)
			luaL_error(L, "%s: subscribe.%s must be a list of strings", path, field);
		if (n == 0)
			luaL_error(L, "%s: subscribe.%s is empty (leave it out to receive all)",
			           path, field);
	} else {
		luaL_error(L, "%s: subscribe.%s must be a list of strings", path, field);
	}
	g->all = false;
	g->v = calloc(n, sizeof *g->v);
	if (!g->v)
		luaL_error(L, "%s: out of memory", path);
	g->n = n;
	for (size_t i = 0; i < n; i++) {
		if (lua_istable(L, idx))
			lua_rawgeti(L, idx, (int)i + 1); /* pattern */
		else
			lua_pushvalue(L, idx);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "%s: subscribe.%s must be a list of strings", path, field);
		g->v[i] = strdup(lua_tostring(L, -1));
		if (!g->v[i])
			luaL_error(L, "%s: out of memory", path);
		lua_pop(L, 1);
	}
}

/* __newindex of ctx: handlers may not change it. */
static int l_ctx_read_only(lua_State *L)
{
	return luaL_error(L, "ctx is read-only");
}

/* Protected: compiles one handler file in a fresh sandbox environment (its
 * require reads the folder's lib/ until the file has run), runs it and
 * checks what it returns. Errors are raised as their message. */
static int l_load(lua_State *L)
{
	struct load *ld = lua_touserdata(L, 1);
	struct eddy_handlers *h = ld->h;
	struct handler *hd = ld->hd;
	const char *path = ld->path;
	int mod, sub;

	lua_settop(L, 0);
	lua_pushfstring(L, "@%s", path); /* chunkname */
	if (luaL_loadbufferx(L, ld->buf, ld->len, lua_tostring(L, 1), "t") != 0)
		return lua_error(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, h->new_env); /* chunkname, chunk, new_env */
	lua_createtable(L, 0, 1);                      /* ..., new_env, extra */
	lua_rawgeti(L, LUA_REGISTRYINDEX, h->json);    /* ..., new_env, extra, json */
	lua_setfield(L, -2, "json");                   /* ..., new_env, extra */
	lua_pushstring(L, path);                       /* ..., new_env, extra, path */
	lua_call(L, 2, 2);                             /* chunkname, chunk, env, done */
	lua_insert(L, 2);                              /* chunkname, done, chunk, env */
	lua_setfenv(L, 3);                             /* chunkname, done, chunk */
	lua_rawgeti(L, LUA_REGISTRYINDEX, h->errh);    /* chunkname, done, chunk, errh */
	lua_insert(L, 3);                              /* chunkname, done, errh, chunk */
	if (lua_pcall(L, 0, 1, 3) != 0)                /* chunkname, done, errh, module | err */
		return lua_error(L);
	lua_pushvalue(L, 2); /* ..., module, done */
	lua_call(L, 0, 0);   /* ..., module: require loads no more modules */
	mod = lua_gettop(L);
	if (!lua_istable(L, mod))
		return luaL_error(L, "%s: must return a table with on_event, got %s", path,
		                  luaL_typename(L, mod));

	lua_getfield(L, mod, "on_event"); /* ..., module, on_event */
	if (!lua_isfunction(L, -1))
		return luaL_error(L, "%s: on_event must be a function", path);
	hd->on_event = luaL_ref(L, LUA_REGISTRYINDEX); /* ..., module */

	lua_getfield(L, mod, "subscribe"); /* ..., module, subscribe */
	sub = lua_gettop(L);
	if (!lua_isnil(L, sub)) {
		if (!lua_istable(L, sub))
			return luaL_error(L, "%s: subscribe must be a table", path);
		lua_pushnil(L);
		while (lua_next(L, sub)) { /* ..., subscribe, key, value */
			if (lua_type(L, -2) != LUA_TSTRING)
				return luaL_error(
				    L, "%s: subscribe must be a table of types and topics", path);
			const char *k = lua_tostring(L, -2);
			if (strcmp(k, "types") == 0)
				read_globs(L, lua_gettop(L), path, "types", &hd->types);
			else if (strcmp(k, "topics") == 0)
				read_globs(L, lua_gettop(L), path, "topics", &hd->topics);
			else
				return luaL_error(
				    L, "%s: subscribe.%s is not known (types, topics)", path, k);
			lua_pop(L, 1); /* ..., subscribe, key */
		}
	}

	/* ctx is read-only: an empty table, the functions behind its
	 * protected metatable (rawset refuses such tables too) */
	lua_newtable(L);              /* ..., ctx */
	lua_createtable(L, 0, 3);     /* ..., ctx, mt */
	lua_createtable(L, 0, N_CTX); /* ..., ctx, mt, functions */
	for (int i = 0; i < N_CTX; i++) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, h->ctx_fn[i]);
		lua_setfield(L, -2, ctx_names[i]);
	}
	lua_setfield(L, -2, "__index"); /* ..., ctx, mt */
	lua_pushcfunction(L, l_ctx_read_only);
	lua_setfield(L, -2, "__newindex");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2); /* ..., ctx */
	hd->ctx = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

/* Protected: the host side of a new state. Standard libraries (for eddy's
 * own Lua code only: handlers see the sandbox), lua-cjson, eddy's modules
 * in package.preload, and the refs every call uses. */
static int l_setup(lua_State *L)
{
	struct eddy_handlers *h = lua_touserdata(L, 1);
	static const lua_CFunction ctx_fn[N_CTX] = {l_ctx_get, l_ctx_upsert, l_ctx_delete,
	                                            l_ctx_log, l_ctx_publish, l_ctx_alert};

	luaL_openlibs(L);
	/* after openlibs: luaopen_jit turns the JIT on with its defaults */
	luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_ON);

	/* cjson from Debian's module, into package.loaded as require would */
	lua_getglobal(L, "package");       /* package */
	lua_getfield(L, -1, "loadlib");    /* package, loadlib */
	lua_pushliteral(L, EDDY_CJSON_SO); /* package, loadlib, path */
	lua_pushliteral(L, "luaopen_cjson");
	lua_call(L, 2, 2); /* package, open | nil, err */
	if (lua_isnil(L, -2))
		return luaL_error(L, "lua-cjson: %s", lua_tostring(L, -1));
	lua_pop(L, 1);                 /* package, open */
	lua_pushliteral(L, "cjson");   /* package, open, "cjson" */
	lua_call(L, 1, 1);             /* package, cjson */
	lua_getfield(L, -2, "loaded"); /* package, cjson, loaded */
	lua_insert(L, -2);             /* package, loaded, cjson */
	lua_setfield(L, -2, "cjson");  /* package, loaded */
	lua_pop(L, 1);                 /* package */

	lua_getfield(L, -1, "preload"); /* package, preload */
	for (const struct eddy_lua_module *m = eddy_lua_modules; m->name; m++) {
		/* "eddy.json" was lua/eddy/json.lua: errors name that file */
		char chunk[256];
		snprintf(chunk, sizeof chunk - 4, "@lua/%s", m->name);
		for (char *p = chunk + 5; *p; p++)
			if (*p == '.')
				*p = '/';
		strcat(chunk, ".lua");
		if (luaL_loadbuffer(L, m->source, m->len, chunk) != 0)
			return lua_error(L);  /* package, preload, loader */
		lua_setfield(L, -2, m->name); /* package, preload */
	}
	lua_pop(L, 2);

	/* eddy.json, with the host's decoder in place of cjson's */
	lua_getglobal(L, "require");     /* require */
	lua_pushliteral(L, "eddy.json"); /* require, name */
	lua_call(L, 1, 1);               /* json */
	lua_pushlightuserdata(L, h);     /* json, h */
	lua_pushcclosure(L, l_json_decode, 1);
	lua_setfield(L, -2, "decode"); /* json */
	lua_getfield(L, -1, "encode"); /* json, encode */
	h->encode = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_getfield(L, -1, "array_mt"); /* json, array_mt */
	h->array_mt_ptr = lua_topointer(L, -1);
	h->array_mt = luaL_ref(L, LUA_REGISTRYINDEX);
	h->json = luaL_ref(L, LUA_REGISTRYINDEX);

	lua_getglobal(L, "require");        /* require */
	lua_pushliteral(L, "eddy.sandbox"); /* require, name */
	lua_call(L, 1, 1);                  /* sandbox */
	lua_getfield(L, -1, "protect_strings");
	lua_call(L, 0, 0);              /* sandbox */
	lua_getfield(L, -1, "new_env"); /* sandbox, new_env */
	h->new_env = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);

	for (int i = 0; i < N_CTX; i++) {
		lua_pushlightuserdata(L, h);
		lua_pushcclosure(L, ctx_fn[i], 1);
		h->ctx_fn[i] = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	lua_createtable(L, K_END - 1, 0); /* keys */
	for (int k = 1; k < K_END; k++) {
		lua_pushstring(L, ev_key_names[k]);
		lua_rawseti(L, -2, k);
	}
	h->ev_keys = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushcfunction(L, l_errh);
	h->errh = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushlightuserdata(L, h);
	lua_pushcclosure(L, l_call, 1);
	h->call = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.lua regular files of dir (hidden files left out), sorted by name.
 * Returns 0 with *names (caller frees each and the array) or -1. */
static int list_handlers(const char *dir, char ***names, size_t *n, char *errstr,
                         size_t errstr_size)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t len = 0, cap = 0;

	*names = NULL;
	*n = 0;
	if (!d) {
		snprintf(errstr, errstr_size, "%s/: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		size_t nl = strlen(e->d_name);
		struct stat st;
		char *path;
		if (e->d_name[0] == '.' || nl <= 4 || strcmp(e->d_name + nl - 4, ".lua") != 0)
			continue;
		if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
			goto oom;
		int is_file = stat(path, &st) == 0 && S_ISREG(st.st_mode);
		free(path);
		if (!is_file)
			continue;
		if (len == cap) {
			char **nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof *v);
			if (!nv)
				goto oom;
			v = nv;
		}
		if (!(v[len] = strdup(e->d_name)))
			goto oom;
		len++;
	}
	closedir(d);
	if (len)
		qsort(v, len, sizeof *v, cmp_names);
	*names = v;
	*n = len;
	return 0;
oom:
	closedir(d);
	for (size_t i = 0; i < len; i++)
		free(v[i]);
	free(v);
	snprintf(errstr, errstr_size, "%s/: out of memory", dir);
	return -1;
}

/* ---- limits ------------------------------------------------------------------- */

static atomic_uint_least64_t limit_stops;

static struct eddy_limits *new_limits(const struct eddy_handlers_limits *conf)
{
	return eddy_limits_new(conf->cpu_ms, (size_t)conf->memory_mb << 20);
}

/* "handlers/x.lua: CPU time limit of 1000 ms exceeded" (hd NULL: eddy's
 * own set-up of the state), and counts the stop. */
static void limit_error(struct eddy_handlers *h, const struct handler *hd, enum eddy_limit hit,
                        char *errstr, size_t errstr_size)
{
	const char *who = hd ? hd->path : "lua runtime";

	if (hit == EDDY_LIMIT_CPU)
		snprintf(errstr, errstr_size, "%s: CPU time limit of %d ms exceeded", who,
		         h->limit_conf.cpu_ms);
	else
		snprintf(errstr, errstr_size, "%s: memory limit of %d MB exceeded", who,
		         h->limit_conf.memory_mb);
	atomic_fetch_add(&limit_stops, 1);
}

uint64_t eddy_handlers_limit_stops(void)
{
	return atomic_load(&limit_stops);
}

/* Makes h->L under h->limits: the host side (l_setup), then every handler
 * of h->v from its source in memory, each run under the limits. On
 * failure h->L is left for the caller to close. */
static int build_state(struct eddy_handlers *h, char *errstr, size_t errstr_size)
{
	enum eddy_limit hit;
	int rc;

	if (!(h->L = eddy_limits_newstate(h->limits))) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	if (eddy_limits_arm(h->limits, errstr, errstr_size) != 0)
		return -1;
	rc = lua_cpcall(h->L, l_setup, h);
	hit = eddy_limits_disarm(h->limits);
	if (rc != 0) {
		if (hit != EDDY_LIMIT_NONE)
			limit_error(h, NULL, hit, errstr, errstr_size);
		else
			snprintf(errstr, errstr_size, "lua runtime: %s", lua_tostring(h->L, -1));
		return -1;
	}
	for (size_t i = 0; i < h->n; i++) {
		struct handler *hd = &h->v[i];
		struct load ld = {h, hd, hd->path, hd->src, hd->src_len};
		if (eddy_limits_arm(h->limits, errstr, errstr_size) != 0)
			return -1;
		rc = lua_cpcall(h->L, l_load, &ld);
		hit = eddy_limits_disarm(h->limits);
		if (rc != 0) {
			const char *msg = lua_tostring(h->L, -1);
			if (hit != EDDY_LIMIT_NONE)
				limit_error(h, hd, hit, errstr, errstr_size);
			else
				snprintf(errstr, errstr_size, "%s", msg ? msg : "error loading handler");
			return -1;
		}
		lua_settop(h->L, 0);
	}
	return 0;
}

/* After a limit stop the state may hold half-done work of the stopped
 * handler (after a memory error, of eddy's own code too): every handler
 * is loaded again into a new state from the sources read at load time, so
 * no event meets a half-changed set. Should that fail (a top level that
 * behaves differently now), the old state goes on, collected. */
static void rebuild(struct eddy_handlers *h)
{
	struct eddy_handlers old = *h;
	struct handler *v = calloc(h->n ? h->n : 1, sizeof *v);
	char err[512] = "out of memory";

	if (!v)
		goto keep;
	for (size_t i = 0; i < h->n; i++) {
		v[i] = old.v[i]; /* name, path and source are shared */
		v[i].on_event = v[i].ctx = LUA_NOREF;
		v[i].types = v[i].topics = (struct globs){.all = true};
	}
	h->v = v;
	h->L = NULL;
	if (!(h->limits = new_limits(&h->limit_conf)) || build_state(h, err, sizeof err) != 0) {
		eddy_limits_close(h->limits);
		eddy_limits_destroy(h->limits);
		for (size_t i = 0; i < h->n; i++) {
			globs_free(&v[i].types);
			globs_free(&v[i].topics);
		}
		free(v);
		*h = old;
		goto keep;
	}
	eddy_limits_close(old.limits);
	eddy_limits_destroy(old.limits);
	for (size_t i = 0; i < old.n; i++) {
		globs_free(&old.v[i].types);
		globs_free(&old.v[i].topics);
	}
	free(old.v);
	return;
keep:
	eddy_log(EDDY_LOG_ERROR, "handlers: no new state after a limit stop, going on with the old: %s",
	         err);
	eddy_limits_collect(h->limits);
}

/* ---- the set ------------------------------------------------------------------- */

struct eddy_handlers *eddy_handlers_load(const char *dir, const struct eddy_actions *actions,
                                         char *errstr, size_t errstr_size)
{
	return eddy_handlers_load_with_limits(dir, actions, NULL, errstr, errstr_size);
}

struct eddy_handlers *eddy_handlers_load_with_limits(const char *dir,
                                                     const struct eddy_actions *actions,
                                                     const struct eddy_handlers_limits *limits,
                                                     char *errstr, size_t errstr_size)
{
	static const struct eddy_handlers_limits defaults = {EDDY_HANDLERS_CPU_LIMIT_MS,
	                                                     EDDY_HANDLERS_MEMORY_LIMIT_MB};
	struct eddy_handlers *h = calloc(1, sizeof *h);
	char **names = NULL, *base = NULL;
	size_t n_names = 0, len;

	if (!h || !(base = strdup(dir))) {
		snprintf(errstr, errstr_size, "out of memory");
		goto err;
	}
	h->actions = actions;
	h->gen = 1;
	h->limit_conf = limits ? *limits : defaults;
	/* "handlers/" and "handlers" name files the same way */
	for (len = strlen(base); len > 1 && base[len - 1] == '/'; len--)
		base[len - 1] = '\0';
	if (list_handlers(base, &names, &n_names, errstr, errstr_size) < 0)
		goto err;
	if (n_names && !(h->v = calloc(n_names, sizeof *h->v))) {
		snprintf(errstr, errstr_size, "out of memory");
		goto err;
	}
	/* every file read first and kept: a rebuilt state loads the same */
	for (size_t i = 0; i < n_names; i++) {
		struct handler *hd = &h->v[h->n++];
		hd->on_event = hd->ctx = LUA_NOREF;
		hd->types.all = hd->topics.all = true;
		hd->name = names[i];
		names[i] = NULL;
		if (asprintf(&hd->path, "%s/%s", base, hd->name) < 0) {
			hd->path = NULL;
			snprintf(errstr, errstr_size, "out of memory");
			goto err;
		}
		if (!(hd->src = eddy_read_file(hd->path, &hd->src_len, errstr, errstr_size)))
			goto err;
		if (hd->src_len && hd->src[0] == '\033') {
			snprintf(errstr, errstr_size,
			         "%s: precompiled bytecode is not accepted, only Lua source", hd->path);
			goto err;
		}
	}
	if (!(h->doc = eddy_json_doc_new()) || !(h->limits = new_limits(&h->limit_conf))) {
		snprintf(errstr, errstr_size, "out of memory");
		goto err;
	}
	if (build_state(h, errstr, errstr_size) != 0)
		goto err;
	free(names);
	free(base);
	return h;

err:
	for (size_t i = 0; i < n_names; i++)
		if (names)
			free(names[i]);
	free(names);
	free(base);
	eddy_handlers_destroy(h);
	return NULL;
}

void eddy_handlers_destroy(struct eddy_handlers *h)
{
	if (!h)
		return;
	eddy_limits_close(h->limits); /* h->L */
	eddy_limits_destroy(h->limits);
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].name);
		free(h->v[i].path);
		free(h->v[i].src);
		globs_free(&h->v[i].types);
		globs_free(&h->v[i].topics);
	}
	free(h->v);
	free(h->seen);
	eddy_json_doc_destroy(h->doc);
	free(h);
}

size_t eddy_handlers_count(const struct eddy_handlers *h)
{
	return h ? h->n : 0;
}

const char *eddy_handlers_name(const struct eddy_handlers *h, size_t i)
{
	return h && i < h->n ? h->v[i].name : NULL;
}

int eddy_handlers_stack_top(const struct eddy_handlers *h)
{
	return h && h->L ? lua_gettop(h->L) : 0;
}
