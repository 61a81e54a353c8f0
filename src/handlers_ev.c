/* handlers_ev.c - the ev table each call of on_event gets: the event's
 * attributes, its data and meta converted from JSON, its extensions, and
 * the Kafka record's key, topic, partition, offset and headers. */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "handlers_int.h"

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

/* The fields are listed in docs/handlers.md. */
void eddy_handlers_push_event(struct eddy_handlers *h, const struct eddy_event *ev)
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
		eddy_lua_json_push(h->conv, L, ev->data_json, mt); /* mt, keys, ev, data */
		set_field(L, keys, t, K_DATA);
	} else {
		set_string(L, keys, t, K_DATA, ev->data_bytes.s, ev->data_bytes.len);
	}
	if (ev->meta) {
		eddy_lua_json_push(h->conv, L, ev->meta, mt); /* mt, keys, ev, meta */
		set_field(L, keys, t, K_META);
	}

	lua_createtable(L, 0, (int)ev->n_extensions); /* mt, keys, ev, extensions */
	for (size_t i = 0; i < ev->n_extensions; i++) {
		const struct eddy_extension *x = &ev->extensions[i];
		if (!x->json && !x->str.s)
			continue;
		lua_pushlstring(L, x->name, x->name_len); /* ..., extensions, name */
		if (x->json)
			eddy_lua_json_push(h->conv, L, x->json,
			                   mt); /* ..., extensions, name, value */
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

void eddy_handlers_inject_ev_keys(struct eddy_handlers *h, lua_State *L)
{
	lua_createtable(L, K_END - 1, 0); /* keys */
	for (int k = 1; k < K_END; k++) {
		lua_pushstring(L, ev_key_names[k]);
		lua_rawseti(L, -2, k);
	}
	h->ev_keys = luaL_ref(L, LUA_REGISTRYINDEX);
}
