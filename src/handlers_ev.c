/* handlers_ev.c - the ev table each call of on_event gets: the event's
 * attributes, its data and meta converted from JSON (objects built on
 * first use), its extensions, and the Kafka record's key, topic,
 * partition, offset and headers. */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "handlers_int.h"

/* The fields of ev, in the order of the arguments of its constructor. */
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

/* Pushes s[0..len), or nil without s. */
static void push_string(lua_State *L, const char *s, size_t len)
{
	if (s)
		lua_pushlstring(L, s, len);
	else
		lua_pushnil(L);
}

/* The fields are listed in docs/handlers.md. ev is made by the constructor
 * of eddy_handlers_inject_ev_keys from its fields pushed in enum ev_key's
 * order, absent ones as nil (which leaves them out). */
void eddy_handlers_push_event(struct handler *u, const struct eddy_event *ev)
{
	lua_State *L = u->st.L;
	const struct eddy_msg *msg = ev->msg;
	/* rule files read ev raw (eddy.rule_expr): nothing lazy for them */
	void (*push_object)(struct eddy_lua_json *, lua_State *, const struct eddy_json *, int) =
	    u->rules ? eddy_lua_json_push : eddy_lua_json_push_lazy;
	int mt;

	luaL_checkstack(L, K_END + 4, "ev");
	lua_rawgeti(L, LUA_REGISTRYINDEX, u->st.array_mt); /* mt */
	mt = lua_gettop(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, u->st.ev_keys); /* mt, constructor */
	push_string(L, ev->id.s, ev->id.len);
	push_string(L, ev->type.s, ev->type.len);
	push_string(L, ev->source.s, ev->source.len);
	push_string(L, ev->subject.s, ev->subject.len);
	push_string(L, ev->time.s, ev->time.len);
	push_string(L, ev->specversion.s, ev->specversion.len);
	push_string(L, ev->datacontenttype.s, ev->datacontenttype.len);
	push_string(L, ev->dataschema.s, ev->dataschema.len);
	push_string(L, ev->tenant.s, ev->tenant.len);
	push_string(L, ev->correlation_id.s, ev->correlation_id.len);
	lua_pushboolean(L, ev->deleted);
	if (ev->data_json)
		push_object(u->conv, L, ev->data_json, mt);
	else
		push_string(L, ev->data_bytes.s, ev->data_bytes.len);
	if (ev->meta)
		push_object(u->conv, L, ev->meta, mt);
	else
		lua_pushnil(L);

	lua_createtable(L, 0, (int)ev->n_extensions); /* mt, constructor, ..., extensions */
	for (size_t i = 0; i < ev->n_extensions; i++) {
		const struct eddy_extension *x = &ev->extensions[i];
		if (!x->json && !x->str.s)
			continue;
		lua_pushlstring(L, x->name, x->name_len); /* ..., extensions, name */
		if (x->json)
			eddy_lua_json_push(u->conv, L, x->json,
			                   mt); /* ..., extensions, name, value */
		else
			lua_pushlstring(L, x->str.s, x->str.len);
		lua_rawset(L, -3); /* ..., extensions */
	}

	if (msg) {
		push_string(L, msg->key, msg->key_len);
		push_string(L, msg->topic, msg->topic ? strlen(msg->topic) : 0);
		lua_pushnumber(L, msg->partition);
		lua_pushnumber(L, (lua_Number)msg->offset);
	} else {
		for (int i = 0; i < 4; i++)
			lua_pushnil(L);
	}

	/* a header repeated by name: the last one wins; null values are left out */
	lua_createtable(L, 0, msg ? (int)msg->n_headers : 0); /* ..., headers */
	for (size_t i = 0; msg && i < msg->n_headers; i++) {
		const struct eddy_header *hdr = &msg->headers[i];
		if (!hdr->value)
			continue;
		lua_pushstring(L, hdr->name);             /* ..., headers, name */
		lua_pushlstring(L, hdr->value, hdr->len); /* ..., headers, name, value */
		lua_rawset(L, -3);                        /* ..., headers */
	}
	lua_call(L, K_END - 1, 1); /* mt, ev */
	lua_remove(L, mt);         /* ev */
}

/* Compiles ev's constructor, return function(a1, ..., a19) return {["id"] =
 * a1, ...} end: LuaJIT copies a template table with the field names in
 * place (TDUP) and fills in the values, where setting each field from C
 * would insert it. */
void eddy_handlers_inject_ev_keys(struct handler *u, lua_State *L)
{
	luaL_Buffer b;
	char arg[16];

	luaL_buffinit(L, &b);
	luaL_addstring(&b, "return function(");
	for (int k = 1; k < K_END; k++) {
		snprintf(arg, sizeof arg, k > 1 ? ",a%d" : "a%d", k);
		luaL_addstring(&b, arg);
	}
	luaL_addstring(&b, ") return {");
	for (int k = 1; k < K_END; k++) {
		luaL_addstring(&b, "[\"");
		luaL_addstring(&b, ev_key_names[k]);
		snprintf(arg, sizeof arg, "\"]=a%d,", k);
		luaL_addstring(&b, arg);
	}
	luaL_addstring(&b, "} end");
	luaL_pushresult(&b); /* source */
	size_t len;
	const char *src = lua_tolstring(L, -1, &len);
	if (luaL_loadbuffer(L, src, len, "=eddy ev") != 0) /* source, chunk */
		lua_error(L);
	lua_call(L, 0, 1); /* source, constructor */
	u->st.ev_keys = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);
}
