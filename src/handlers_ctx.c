/* handlers_ctx.c - the API handlers call: ctx (get, upsert, delete, log,
 * publish, alert) through the pipeline's actions, and json.decode, which
 * converts as ev.data and ctx.get do. Misuse raises at the handler's line;
 * so does an action that fails, which fails the event. What these hold
 * outside the Lua state for the call (a parsed document, the JSON text
 * encoding makes, the writes handed to the pipeline) counts against the
 * memory limit of the calling handler's state. */
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "handlers_int.h"
#include "publish.h"
#include "utf8.h"

/* Raises a message at the calling handler's line, as error(msg, 2) would
 * (level 1 is the caller of the C function). A tail call (return
 * ctx.delete(...)) leaves no frame to take the line from: the handler's
 * file is named instead. */
__attribute__((format(printf, 2, 3))) static int raise_error(lua_State *L, const char *fmt, ...)
{
	struct handler *u = eddy_handlers_unit(L);
	va_list ap;

	luaL_where(L, 1); /* where */
	if (lua_objlen(L, -1) == 0) {
		lua_pop(L, 1);
		lua_pushfstring(L, "%s: ", u->path);
	}
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap); /* where, msg */
	va_end(ap);
	lua_concat(L, 2);
	return lua_error(L);
}

/* Counts n bytes held for the call against the memory limit; past it,
 * the call is stopped (the stop hook raises again wherever the handler
 * catches this). */
static void charge(lua_State *L, struct handler *u, size_t n)
{
	if (eddy_lualimits_charge(u->st.limits, n) != 0) {
		lua_pushliteral(L, "memory limit exceeded");
		lua_error(L);
	}
}

/* Text longer than this is parsed into a document of its own, given back
 * once converted: the reused one would keep its size for the set's life. */
#define DOC_KEEP_BYTES (1u << 20)

/* What eddy_json_parse may hold for text, an upper bound measured on
 * src/json.cc's trees (1.1 to 3 times what arrays of numbers, strings,
 * empty and nested arrays, objects and escaped strings used): 3 bytes a
 * byte of text (its padded copy, strings unescaped, simdjson's index) and
 * 80 a value (its node, built on a stack and then moved to the arena, and
 * its index entries), 40 more an object member. Counted outside strings:
 * a value for the root, each comma and each [ or { that is not empty; a
 * member for each colon. */
static size_t parse_need(const char *s, size_t len)
{
	size_t values = 1, members = 0;
	bool in_string = false;
	char last = 0; /* the last byte outside strings that is not whitespace */

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
			continue;
		}
		switch (c) {
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			continue;
		case '"':
			in_string = true;
			break;
		case ',':
		case '[':
		case '{':
			values++;
			break;
		case ':':
			members++;
			break;
		case ']':
		case '}':
			if (last == '[' || last == '{')
				values--;
			break;
		}
		last = c;
	}
	return 3 * len + 80 * values + 40 * members;
}

/* Protected, for a large document: its conversion, so that the document
 * is given back whether it succeeds or not. */
static int l_convert(lua_State *L)
{
	struct handler *u = lua_touserdata(L, 1);
	const struct eddy_json *v = lua_touserdata(L, 2);

	lua_rawgeti(L, LUA_REGISTRYINDEX, u->st.array_mt); /* u, v, mt */
	eddy_lua_json_push(NULL, L, v, lua_gettop(L));     /* u, v, mt, value */
	return 1;
}

/* A fresh document in place of one a large text made large, and the
 * memory of the old one back to the system (glibc would keep it). */
static void renew_doc(struct eddy_handlers *h)
{
	struct eddy_json_doc *doc = eddy_json_doc_new();

	if (!doc)
		return; /* the old one still works */
	eddy_json_doc_destroy(h->doc);
	h->doc = doc;
	malloc_trim(0);
}

/* Parses text and pushes it converted like ev.data; raises "<what>: ..."
 * at the calling handler's line when it is not JSON. What the parse may
 * hold is charged first: a text whose document would pass the memory
 * limit stops the call before it is parsed. */
static void push_decoded(struct handler *u, const char *text, size_t len, const char *what)
{
	lua_State *L = u->st.L;
	char err[256];
	bool large = len > DOC_KEEP_BYTES;
	size_t need = parse_need(text, len);
	const struct eddy_json *v;
	int rc;

	if (large)
		lua_pushcfunction(L, l_convert); /* convert: made before the document */
	charge(L, u, need);
	v = eddy_json_parse(u->set->doc, text, len, err, sizeof err);
	if (!v) {
		eddy_lualimits_discharge(u->st.limits, need);
		if (large)
			renew_doc(u->set);
		raise_error(L, "%s: %s", what, err);
	}
	if (!large) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, u->st.array_mt); /* mt */
		eddy_lua_json_push(NULL, L, v, lua_gettop(L));     /* mt, value */
		lua_remove(L, -2);                                 /* value */
		eddy_lualimits_discharge(u->st.limits, need);
		return;
	}
	lua_pushlightuserdata(L, u);         /* convert, u */
	lua_pushlightuserdata(L, (void *)v); /* convert, u, v */
	rc = lua_pcall(L, 2, 1, 0);          /* value | err */
	eddy_lualimits_discharge(u->st.limits, need);
	renew_doc(u->set);
	if (rc != 0)
		lua_error(L);
}

/* The reason s[0..len) cannot be handed on as text, or NULL when it can:
 * UTF-8 (it goes into JSON, logs and Kafka's text fields) without NUL
 * bytes (C strings end at the first: the rest would be lost silently). */
static const char *not_text(const char *s, size_t len)
{
	if (memchr(s, '\0', len))
		return "holds a NUL byte";
	if (!eddy_utf8_valid(s, len))
		return "is not UTF-8 text";
	return NULL;
}

/* Argument i, a string. Without len the caller takes it as a C string, so
 * a NUL byte in it is refused. */
static const char *arg_string(lua_State *L, int i, const char *fn, const char *what, size_t *len)
{
	size_t n;
	const char *s;

	if (lua_type(L, i) != LUA_TSTRING)
		raise_error(L, "%s: %s must be a string, got %s", fn, what, luaL_typename(L, i));
	s = lua_tolstring(L, i, &n);
	if (len)
		*len = n;
	else if (memchr(s, '\0', n))
		raise_error(L, "%s: %s holds a NUL byte", fn, what);
	return s;
}

static const struct eddy_actions *actions_for(lua_State *L, struct handler *u, const char *fn)
{
	if (!u->set->ev)
		raise_error(L, "%s: can only be called while on_event runs", fn);
	return u->set->actions;
}

/* Pushes the JSON text of the value at idx, written by json.encode;
 * raises "<fn>: <why>" when it cannot be written. */
static void push_encoded(lua_State *L, struct handler *u, int idx, const char *fn)
{
	lua_rawgeti(L, LUA_REGISTRYINDEX, u->st.encode); /* encode */
	lua_pushvalue(L, idx);                           /* encode, value */
	if (lua_pcall(L, 1, 1, 0) != 0)                  /* text | err */
		raise_error(L, "%s: %s", fn,
		            lua_isstring(L, -1) ? lua_tostring(L, -1) : "cannot encode");
}

/* What the pipeline keeps of one write of the call beside its namespace,
 * key and value (the three NUL-terminated, its entry in the list), and of
 * one record or alert beside the texts it was made of (the CloudEvent's
 * attributes, the alert's body around them). */
#define WRITE_BYTES 64
#define RECORD_BYTES 1024

/* The bytes of n C strings, NULL ones none. */
static size_t text_bytes(const char **v, size_t n)
{
	size_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += v[i] ? strlen(v[i]) : 0;
	return sum;
}

/* ctx.get(ns, key) -> the stored value decoded (arrays marked, null as
 * json.null), or nil when there is none. */
static int l_ctx_get(lua_State *L)
{
	struct handler *u = eddy_handlers_unit(L);
	size_t key_len, len = 0;
	const char *ns = arg_string(L, 1, "ctx.get", "namespace", NULL);
	const char *key = arg_string(L, 2, "ctx.get", "key", &key_len);
	const struct eddy_actions *a = actions_for(L, u, "ctx.get");
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
	push_decoded(u, value, len, "ctx.get: stored value is not JSON");
	return 1;
}

/* ctx.upsert(ns, key, value): value (table, string, number, boolean or
 * json.null) is stored as JSON. A table converted from the event's JSON
 * and still equal to it is stored as its original text, byte for byte. */
static int l_ctx_upsert(lua_State *L)
{
	struct handler *u = eddy_handlers_unit(L);
	size_t key_len, len = 0;
	const char *ns = arg_string(L, 1, "ctx.upsert", "namespace", NULL);
	const char *key = arg_string(L, 2, "ctx.upsert", "key", &key_len);
	const struct eddy_actions *a = actions_for(L, u, "ctx.upsert");
	const char *text = NULL;
	bool parsed = false;
	char err[256] = "";

	switch (lua_type(L, 3)) {
	case LUA_TTABLE: {
		const struct eddy_json *node =
		    eddy_lua_json_original(u->conv, L, 3, u->st.array_mt_ptr);
		if (node) {
			text = node->raw;
			len = node->raw_len;
			parsed = true;
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
		return raise_error(L,
		                   "ctx.upsert: value must be a table, string, number, boolean or "
		                   "json.null, got %s%s",
		                   luaL_typename(L, 3),
		                   lua_isnil(L, 3) ? " (ctx.delete removes a key)" : "");
	}
	if (!text) {
		push_encoded(L, u, 3, "ctx.upsert"); /* text */
		text = lua_tolstring(L, -1, &len);
	}
	if (!a || !a->upsert)
		return raise_error(L, "ctx.upsert: not available here");
	size_t held = WRITE_BYTES + strlen(ns) + key_len + len;
	charge(L, u, held);
	if (a->upsert(a->ud, ns, key, key_len, text, len, parsed, err, sizeof err) < 0) {
		eddy_lualimits_discharge(u->st.limits, held);
		return raise_error(L, "ctx.upsert: %s", err);
	}
	return 0;
}

/* ctx.delete(ns, key): deleting what is not there is not an error. */
static int l_ctx_delete(lua_State *L)
{
	struct handler *u = eddy_handlers_unit(L);
	size_t key_len;
	const char *ns = arg_string(L, 1, "ctx.delete", "namespace", NULL);
	const char *key = arg_string(L, 2, "ctx.delete", "key", &key_len);
	const struct eddy_actions *a = actions_for(L, u, "ctx.delete");
	char err[256] = "";

	if (!a || !a->del)
		return raise_error(L, "ctx.delete: not available here");
	size_t held = WRITE_BYTES + strlen(ns) + key_len;
	charge(L, u, held);
	if (a->del(a->ud, ns, key, key_len, err, sizeof err) < 0) {
		eddy_lualimits_discharge(u->st.limits, held);
		return raise_error(L, "ctx.delete: %s", err);
	}
	return 0;
}

/* ctx.log(level, msg [, fields]): level is debug, info, warn or error;
 * fields a table, logged as a JSON object. */
static int l_ctx_log(lua_State *L)
{
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	struct handler *u = eddy_handlers_unit(L);
	const char *level = arg_string(L, 1, "ctx.log", "level", NULL), *fields = NULL;
	size_t msg_len;
	const char *msg = arg_string(L, 2, "ctx.log", "msg", &msg_len);
	const struct eddy_actions *a;
	int i;

	if (memchr(msg, '\0', msg_len)) {
		/* the line takes a C string, which would end at the NUL: it is
		 * shown as text lines show control characters */
		luaL_Buffer b;
		luaL_buffinit(L, &b);
		for (size_t k = 0; k < msg_len; k++) {
			if (msg[k])
				luaL_addchar(&b, msg[k]);
			else
				luaL_addstring(&b, "\\x00");
		}
		luaL_pushresult(&b); /* ..., msg */
		msg = lua_tostring(L, -1);
	}

	for (i = 0; i < 4 && strcmp(level, levels[i]) != 0; i++)
		;
	if (i == 4)
		return raise_error(
		    L, "ctx.log: level must be debug, info, warn or error, got \"%s\"", level);
	if (!lua_isnoneornil(L, 3)) {
		if (!lua_istable(L, 3))
			return raise_error(L, "ctx.log: fields must be a table, got %s",
			                   luaL_typename(L, 3));
		push_encoded(L, u, 3, "ctx.log");
		fields = lua_tostring(L, -1);
	}
	a = actions_for(L, u, "ctx.log");
	if (a && a->log)
		a->log(a->ud, u->name, levels[i], msg, fields);
	return 0;
}

/* Field name of the table at idx as an optional string (numbers are
 * turned into strings); NULL when absent. Raises on another type and on
 * what is not text (not_text). */
static const char *opt_field(lua_State *L, int idx, const char *name, const char *fn, size_t *len)
{
	size_t n;
	const char *s, *why;

	lua_getfield(L, idx, name);
	int t = lua_type(L, -1);
	if (t == LUA_TNIL) {
		lua_pop(L, 1);
		return NULL;
	}
	if (t != LUA_TSTRING && t != LUA_TNUMBER)
		raise_error(L, "%s: %s must be a string, got %s", fn, name, luaL_typename(L, -1));
	/* left on the stack, so the string lives until the call returns */
	s = lua_tolstring(L, -1, &n);
	if ((why = not_text(s, n)))
		raise_error(L, "%s: %s %s", fn, name, why);
	if (len)
		*len = n;
	return s;
}

/* The table field name encoded as a JSON object, or NULL when absent. */
static const char *opt_object(lua_State *L, struct handler *u, int idx, const char *name,
                              const char *fn)
{
	lua_getfield(L, idx, name);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return NULL;
	}
	if (!lua_istable(L, -1))
		raise_error(L, "%s: %s must be a table, got %s", fn, name, luaL_typename(L, -1));
	push_encoded(L, u, lua_gettop(L), fn); /* table, text */
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
	struct handler *u = eddy_handlers_unit(L);
	const char *fn = "ctx.publish";
	struct eddy_publish_req req = {0};
	const char *hdrs[64];
	char err[1024] = "";

	if (!lua_istable(L, 1))
		return raise_error(L, "ctx.publish: expects a table, got %s", luaL_typename(L, 1));
	const struct eddy_actions *a = actions_for(L, u, fn);
	req.topic = opt_field(L, 1, "topic", fn, NULL);
	req.type = opt_field(L, 1, "type", fn, NULL);
	req.key = opt_field(L, 1, "key", fn, &req.key_len);
	req.id = opt_field(L, 1, "id", fn, NULL);
	req.subject = opt_field(L, 1, "subject", fn, NULL);
	req.dataschema = opt_field(L, 1, "dataschema", fn, NULL);
	const char *mode = opt_field(L, 1, "mode", fn, NULL);
	if (mode && strcmp(mode, "binary") != 0 && strcmp(mode, "structured") != 0)
		return raise_error(
		    L, "ctx.publish: mode must be \"structured\" or \"binary\", got \"%s\"", mode);
	req.binary = mode && strcmp(mode, "binary") == 0;
	if (!req.topic)
		return raise_error(L, "ctx.publish: topic is required");
	lua_getfield(L, 1, "data"); /* ..., data */
	int data = lua_gettop(L);
	if (!lua_isnil(L, data)) {
		const struct eddy_json *node =
		    eddy_lua_json_original(u->conv, L, data, u->st.array_mt_ptr);
		if (node) {
			req.data = node->raw;
			req.data_len = node->raw_len;
		} else {
			push_encoded(L, u, data, fn);
			req.data = lua_tolstring(L, -1, &req.data_len);
		}
	}
	lua_getfield(L, 1, "headers"); /* ..., headers */
	int headers = lua_gettop(L);
	if (!lua_isnil(L, headers)) {
		if (!lua_istable(L, headers))
			return raise_error(L, "ctx.publish: headers must be a table, got %s",
			                   luaL_typename(L, headers));
		eddy_lua_json_materialize(L, headers);
		lua_pushnil(L);
		while (lua_next(L, headers)) { /* ..., key, value */
			size_t name_len, value_len;
			const char *why;
			if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
				return raise_error(
				    L, "ctx.publish: headers must map names to strings");
			if (req.n_headers == sizeof hdrs / sizeof hdrs[0] / 2)
				return raise_error(L, "ctx.publish: at most 32 headers");
			const char *name = lua_tolstring(L, -2, &name_len);
			const char *value = lua_tolstring(L, -1, &value_len);
			if ((why = not_text(name, name_len)))
				return raise_error(L, "ctx.publish: a header name %s", why);
			if ((why = not_text(value, value_len)))
				return raise_error(L, "ctx.publish: header %s %s", name, why);
			hdrs[2 * req.n_headers] = name;
			hdrs[2 * req.n_headers + 1] = value;
			req.n_headers++;
			lua_pop(L, 1);
		}
		req.headers = hdrs;
	}
	if (!a || !a->publish)
		return raise_error(L, "ctx.publish: not available here");
	const char *texts[] = {req.topic, req.type, req.id, req.subject, req.dataschema};
	size_t held = RECORD_BYTES + req.key_len + req.data_len + text_bytes(texts, 5) +
	              text_bytes(hdrs, 2 * req.n_headers);
	charge(L, u, held);
	if (a->publish(a->ud, &req, err, sizeof err) < 0) {
		eddy_lualimits_discharge(u->st.limits, held);
		return raise_error(L, "%s", err);
	}
	return 0;
}

/* ctx.alert{ sink, severity, key, summary, description, labels,
 * annotations, dedupe }: written to the alert outbox once every handler of
 * the event succeeded, then sent to the sink. */
static int l_ctx_alert(lua_State *L)
{
	struct handler *u = eddy_handlers_unit(L);
	const char *fn = "ctx.alert";
	struct eddy_alert_req req = {0};
	char err[512] = "";

	if (!lua_istable(L, 1))
		return raise_error(L, "ctx.alert: expects a table, got %s", luaL_typename(L, 1));
	const struct eddy_actions *a = actions_for(L, u, fn);
	req.handler = u->name;
	req.sink = opt_field(L, 1, "sink", fn, NULL);
	req.severity = opt_field(L, 1, "severity", fn, NULL);
	req.key = opt_field(L, 1, "key", fn, NULL);
	req.summary = opt_field(L, 1, "summary", fn, NULL);
	req.description = opt_field(L, 1, "description", fn, NULL);
	req.dedupe = opt_field(L, 1, "dedupe", fn, NULL);
	req.labels = opt_object(L, u, 1, "labels", fn);
	req.annotations = opt_object(L, u, 1, "annotations", fn);
	if (!a || !a->alert)
		return raise_error(L, "ctx.alert: not available here");
	/* the summary, severity and labels are kept beside the body too */
	const char *texts[] = {req.sink,   req.severity, req.key,         req.summary,
	                       req.dedupe, req.labels,   req.description, req.annotations};
	size_t held = RECORD_BYTES + text_bytes(texts, 8) + text_bytes(texts, 6);
	charge(L, u, held);
	if (a->alert(a->ud, &req, err, sizeof err) < 0) {
		eddy_lualimits_discharge(u->st.limits, held);
		return raise_error(L, "%s", err);
	}
	return 0;
}

/* reserve(n) of eddy.json's encode: n > 0 charges the n bytes cjson's
 * buffer, outside the state, may take for the text (a stop past the
 * limit), n < 0 ends that charge. */
static int l_json_reserve(lua_State *L)
{
	struct handler *u = eddy_handlers_unit(L);
	lua_Number n = lua_tonumber(L, 1);

	if (n > 0)
		charge(L, u, (size_t)n);
	else
		eddy_lualimits_discharge(u->st.limits, (size_t)-n);
	return 0;
}

/* json.encode(value): eddy.json's encode (upvalue 2) with the host's
 * reserve (upvalue 3), then the check that its text is UTF-8: cjson copies
 * the bytes of strings and keys as they are, and text that is not UTF-8 is
 * not JSON (no reader, json.decode and ctx.get included, takes it back).
 * Errors are raised at the caller's line, which the Lua encode cannot see
 * past this function. */
static int l_json_encode(lua_State *L)
{
	size_t len, at;
	const char *text;

	lua_settop(L, 1);
	lua_pushvalue(L, lua_upvalueindex(2)); /* value, encode */
	lua_insert(L, 1);                      /* encode, value */
	lua_pushvalue(L, lua_upvalueindex(3)); /* encode, value, reserve */
	if (lua_pcall(L, 2, 1, 0) != 0) {      /* text | err */
		if (lua_type(L, -1) != LUA_TSTRING)
			return lua_error(L);
		luaL_where(L, 1);  /* err, where */
		lua_insert(L, -2); /* where, err */
		lua_concat(L, 2);
		return lua_error(L);
	}
	text = lua_tolstring(L, -1, &len);
	at = eddy_utf8_valid_len(text, len);
	if (at < len) {
		/* what comes before the bad byte says where it is: up to 40
		 * bytes of the text (cjson escaped its control characters),
		 * from the start of a character */
		char msg[128];
		size_t from = at > 40 ? at - 40 : 0;
		while (from < at && (text[from] & 0xc0) == 0x80)
			from++;
		snprintf(
		    msg, sizeof msg,
		    "Cannot serialise a string that is not UTF-8 text: byte 0x%02x after '%.*s'",
		    (unsigned char)text[at], (int)(at - from), text + from);
		luaL_where(L, 1);       /* text, where */
		lua_pushstring(L, msg); /* text, where, msg */
		lua_concat(L, 2);
		return lua_error(L);
	}
	return 1;
}

/* json.decode(text): the host's decoder, the same conversion as ev.data. */
static int l_json_decode(lua_State *L)
{
	size_t len;
	const char *text = arg_string(L, 1, "json.decode", "text", &len);

	push_decoded(eddy_handlers_unit(L), text, len, "json.decode");
	return 1;
}

/* __newindex of ctx: handlers may not change it. */
static int l_ctx_read_only(lua_State *L)
{
	return luaL_error(L, "ctx is read-only");
}

/* The functions of ctx by name. */
#define N_CTX 6
static const char *const ctx_names[N_CTX] = {"get", "upsert", "delete", "log", "publish", "alert"};
static const lua_CFunction ctx_fns[N_CTX] = {l_ctx_get, l_ctx_upsert,  l_ctx_delete,
                                             l_ctx_log, l_ctx_publish, l_ctx_alert};

/* ctx is read-only: the unit gets an empty table whose protected
 * metatable (rawset refuses such tables too) holds the functions, out of
 * the handler's reach. */
void eddy_handlers_inject_ctx_api(struct handler *u, lua_State *L)
{
	lua_createtable(L, 0, 3);     /* mt */
	lua_createtable(L, 0, N_CTX); /* mt, functions */
	for (int i = 0; i < N_CTX; i++) {
		lua_pushlightuserdata(L, u);        /* mt, functions, u */
		lua_pushcclosure(L, ctx_fns[i], 1); /* mt, functions, fn */
		lua_setfield(L, -2, ctx_names[i]);  /* mt, functions */
	}
	lua_setfield(L, -2, "__index"); /* mt */
	lua_pushcfunction(L, l_ctx_read_only);
	lua_setfield(L, -2, "__newindex");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	u->st.ctx_mt = luaL_ref(L, LUA_REGISTRYINDEX);
}

void eddy_handlers_inject_json_api(struct handler *u, lua_State *L)
{
	lua_pushlightuserdata(L, u); /* json, u */
	lua_pushcclosure(L, l_json_decode, 1);
	lua_setfield(L, -2, "decode"); /* json */
	lua_pushlightuserdata(L, u);   /* json, u */
	lua_getfield(L, -2, "encode"); /* json, u, encode */
	lua_pushlightuserdata(L, u);   /* json, u, encode, u */
	lua_pushcclosure(L, l_json_reserve, 1);
	lua_pushcclosure(L, l_json_encode, 3); /* json, json.encode */
	lua_setfield(L, -2, "encode");         /* json */
}
