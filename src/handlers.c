/* handlers.c - the handler files (handlers/NAME.lua) and rule files, each
 * in a sandboxed LuaJIT state of its own: loading, routing by type and
 * topic, calls under the CPU and memory limits, and the new state of a
 * unit after a limit stop. The ev table is built in handlers_ev.c, the API
 * handlers call is handlers_ctx.c's. */
#include "handlers.h"
#include "handlers_int.h"
#include "readfile.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>

#include "config.h"
#include "glob_match.h"
#include "json.h"
#include "lualimits.h"
#include "log.h"
#include "lua_preload.h"
#include "rules.h"

#ifndef EDDY_CJSON_SO
#error "EDDY_CJSON_SO must name lua-cjson's cjson.so (the build finds it)"
#endif

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

/* What rules take as now: the set's clock, else the system's. */
static double rules_now(const struct eddy_handlers *h)
{
	struct timespec ts;

	if (h->clock > 0)
		return h->clock;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1e3;
}

/* Protected: builds ev and calls the current handler's on_event(ev, ctx),
 * a rule file's on_event(ev, ctx, now, record_ms, event_ticks) (now nil:
 * the event's time; record_ms: the Kafka record's timestamp, nil when
 * unknown; event_ticks: no clock ticks, the event's time ticks the rules),
 * so an allocation failure while converting fails the event, not the
 * process. */
static int l_call(lua_State *L)
{
	struct handler *u = eddy_handlers_unit(L);
	const struct eddy_handlers *h = u->set;
	const struct eddy_msg *m = h->ev->msg;

	lua_rawgeti(L, LUA_REGISTRYINDEX, u->st.on_event); /* on_event */
	eddy_handlers_push_event(u, h->ev);                /* on_event, ev */
	lua_rawgeti(L, LUA_REGISTRYINDEX, u->st.ctx);      /* on_event, ev, ctx */
	if (!u->rules) {
		lua_call(L, 2, 0);
		return 0;
	}
	if (h->clock < 0)
		lua_pushnil(L); /* on_event, ev, ctx, nil: the event's time */
	else
		lua_pushnumber(L, rules_now(h)); /* on_event, ev, ctx, now */
	if (m && m->timestamp_ms >= 0)
		lua_pushnumber(L, (lua_Number)m->timestamp_ms); /* ..., now, record_ms */
	else
		lua_pushnil(L);
	lua_pushboolean(L, !h->live_ticks); /* ..., now, record_ms, event_ticks */
	lua_call(L, 5, 0);
	return 0;
}

/* Protected: keeps the text of the lazy objects of the call that ended
 * (ev.data and ev.meta not built yet), as the handler may have kept them. */
static int l_detach(lua_State *L)
{
	eddy_lua_json_detach(eddy_handlers_unit(L)->conv, L);
	return 0;
}

/* Protected: a rule file's on_tick(ctx, now). */
static int l_tick(lua_State *L)
{
	struct handler *u = eddy_handlers_unit(L);

	lua_rawgeti(L, LUA_REGISTRYINDEX, u->st.on_tick); /* on_tick */
	lua_rawgeti(L, LUA_REGISTRYINDEX, u->st.ctx);     /* on_tick, ctx */
	lua_pushnumber(L, u->set->tick_now);              /* on_tick, ctx, now */
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

static void limit_error(const struct handler *hd, enum eddy_lualimit hit, char *errstr,
                        size_t errstr_size);
static int build_unit(struct handler *hd, char *errstr, size_t errstr_size);
static void rebuild(struct handler *hd);

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Calls unit hd for ev, on_event (l_call) or on_tick (l_tick), under the
 * limits of its state. Returns 0, or -1 with errstr (the unit's state
 * rebuilt after a limit stop). A unit left without a state by a rebuild
 * that failed is built first. */
static int call_unit(struct handler *hd, bool tick, const struct eddy_event *ev, char *errstr,
                     size_t errstr_size)
{
	struct eddy_handlers *h = hd->set;

	if (!hd->st.L && build_unit(hd, errstr, errstr_size) != 0)
		return -1;
	lua_State *L = hd->st.L;
	int top = lua_gettop(L);

	h->ev = ev;
	eddy_lua_json_forget(hd->conv);
	lua_rawgeti(L, LUA_REGISTRYINDEX, hd->st.errh);                      /* errh */
	lua_rawgeti(L, LUA_REGISTRYINDEX, tick ? hd->st.tick : hd->st.call); /* errh, fn */
	if (eddy_lualimits_arm(hd->st.limits, errstr, errstr_size) != 0) {
		h->ev = NULL;
		lua_settop(L, top);
		return -1;
	}
	bool timed = h->actions && h->actions->called;
	double t0 = timed ? mono_s() : 0;
	int rc = lua_pcall(L, 0, 0, top + 1); /* errh [, err] */
	enum eddy_lualimit hit = eddy_lualimits_disarm(hd->st.limits);
	if (timed)
		h->actions->called(h->actions->ud, hd->name,
		                   rc == 0                       ? EDDY_HANDLER_OK
		                   : hit == EDDY_LUALIMIT_CPU    ? EDDY_HANDLER_CPU_LIMIT
		                   : hit == EDDY_LUALIMIT_MEMORY ? EDDY_HANDLER_MEMORY_LIMIT
		                                                 : EDDY_HANDLER_ERROR,
		                   mono_s() - t0);
	h->ev = NULL;
	if (hit == EDDY_LUALIMIT_NONE) {
		/* out of memory here loses only what a handler kept and uses later
		 * (it raises then), not this event */
		int base = lua_gettop(L);
		lua_rawgeti(L, LUA_REGISTRYINDEX, hd->st.detach);
		lua_pcall(L, 0, 0, 0);
		lua_settop(L, base);
	}
	eddy_lua_json_forget(hd->conv); /* the nodes are the caller's */
	if (rc != 0) {
		const char *msg = lua_tostring(L, -1);
		if (hit != EDDY_LUALIMIT_NONE)
			limit_error(hd, hit, errstr, errstr_size);
		else
			snprintf(errstr, errstr_size, "%s", msg ? msg : "error without a message");
		lua_settop(L, top);
		if (hit != EDDY_LUALIMIT_NONE)
			rebuild(hd);
		return -1;
	}
	lua_settop(L, top);
	return 0;
}

int eddy_handlers_dispatch(struct eddy_handlers *h, const struct eddy_event *ev,
                           const char **failed, char *errstr, size_t errstr_size)
{
	int called = 0;
	/* an event without a type or topic matches only patterns matching "" */
	const char *type = ev->type.s ? ev->type.s : "";
	size_t type_len = ev->type.s ? ev->type.len : 0;
	const char *topic = ev->msg && ev->msg->topic ? ev->msg->topic : "";
	size_t topic_len = strlen(topic);

	if (failed)
		*failed = NULL;
	for (size_t i = 0; i < h->n; i++) {
		struct handler *hd = &h->v[i];
		/* a tombstone carries no type: it goes by topic alone */
		bool typeless_tombstone = ev->deleted && !ev->type.s;
		if ((!typeless_tombstone && !globs_match(&hd->types, type, type_len)) ||
		    !globs_match(&hd->topics, topic, topic_len))
			continue;
		if (call_unit(hd, false, ev, errstr, errstr_size) != 0) {
			if (failed)
				*failed = hd->name;
			return -1;
		}
		called++;
	}
	return called;
}

bool eddy_handlers_ticking(const struct eddy_handlers *h)
{
	for (size_t i = 0; h && i < h->n; i++)
		if (h->v[i].ticks)
			return true;
	return false;
}

bool eddy_handlers_unit_ticks(const struct eddy_handlers *h, size_t i)
{
	return h && i < h->n && h->v[i].ticks;
}

void eddy_handlers_set_live_ticks(struct eddy_handlers *h, bool live)
{
	h->live_ticks = live;
}

int eddy_handlers_tick(struct eddy_handlers *h, size_t i, double now, char *errstr,
                       size_t errstr_size)
{
	/* ctx works while an event is handled: a tick has an empty one */
	static const struct eddy_event none;

	if (!eddy_handlers_unit_ticks(h, i))
		return 0;
	h->tick_now = now;
	return call_unit(&h->v[i], true, &none, errstr, errstr_size) == 0 ? 1 : -1;
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

/* Protected: compiles one handler file in a fresh sandbox environment (its
 * require reads the folder's lib/ until the file has run), runs it and
 * checks what it returns; its subscription is read the first time.
 * Errors are raised as their message. */
static int l_load(lua_State *L)
{
	struct load *ld = lua_touserdata(L, 1);
	struct handler *hd = ld->hd;
	struct unit_state *st = &hd->st;
	const char *path = ld->path;
	int mod, sub;

	lua_settop(L, 0);
	lua_pushfstring(L, "@%s", path); /* chunkname */
	if (luaL_loadbufferx(L, ld->buf, ld->len, lua_tostring(L, 1), "t") != 0)
		return lua_error(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, st->new_env); /* chunkname, chunk, new_env */
	lua_createtable(L, 0, 1);                       /* ..., new_env, extra */
	lua_rawgeti(L, LUA_REGISTRYINDEX, st->json);    /* ..., new_env, extra, json */
	lua_setfield(L, -2, "json");                    /* ..., new_env, extra */
	lua_pushstring(L, path);                        /* ..., new_env, extra, path */
	lua_call(L, 2, 2);                              /* chunkname, chunk, env, done */
	lua_insert(L, 2);                               /* chunkname, done, chunk, env */
	lua_setfenv(L, 3);                              /* chunkname, done, chunk */
	lua_rawgeti(L, LUA_REGISTRYINDEX, st->errh);    /* chunkname, done, chunk, errh */
	lua_insert(L, 3);                               /* chunkname, done, errh, chunk */
	if (lua_pcall(L, 0, 1, 3) != 0)                 /* chunkname, done, errh, module | err */
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
	st->on_event = luaL_ref(L, LUA_REGISTRYINDEX); /* ..., module */

	lua_getfield(L, mod, "subscribe"); /* ..., module, subscribe */
	sub = lua_gettop(L);
	if (!hd->loaded && !lua_isnil(L, sub)) {
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

	/* a ctx of its own, read-only through its metatable */
	lua_newtable(L);                               /* ..., ctx */
	lua_rawgeti(L, LUA_REGISTRYINDEX, st->ctx_mt); /* ..., ctx, mt */
	lua_setmetatable(L, -2);                       /* ..., ctx */
	st->ctx = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

/* The alert of a rule (lua/eddy/rules.lua's raise): alert(sink, severity,
 * key, summary, description, labels, annotations, dedupe, window_ms, rule,
 * resolved, starts, ends) with labels and annotations as JSON object text,
 * starts and ends in seconds since the epoch (nil: unknown, now). Goes the way of
 * ctx.alert; a refusal raises "rules/x.yaml: rule: message". */
static int l_rule_alert(lua_State *L)
{
	struct handler *u = eddy_handlers_unit(L);
	const struct eddy_handlers *h = u->set;
	struct eddy_alert_req req = {0};
	char err[512] = "";

	if (!h->ev)
		return luaL_error(L, "alert: only while an event is handled");
	req.handler = u->name;
	req.sink = lua_tostring(L, 1);
	req.severity = lua_tostring(L, 2);
	req.key = lua_tostring(L, 3);
	req.summary = lua_tostring(L, 4);
	req.description = lua_tostring(L, 5);
	req.labels = lua_tostring(L, 6);
	req.annotations = lua_tostring(L, 7);
	req.dedupe = lua_tostring(L, 8);
	req.window_ms = (int64_t)lua_tonumber(L, 9);
	req.resolved = lua_toboolean(L, 11);
	req.starts_ms = (int64_t)(lua_tonumber(L, 12) * 1000);
	req.ends_ms = (int64_t)(lua_tonumber(L, 13) * 1000);
	if (!h->actions || !h->actions->alert)
		return 0; /* eddy check: nothing is raised */
	if (h->actions->alert(h->actions->ud, &req, err, sizeof err) < 0) {
		lua_pushfstring(L, "%s: %s: %s", u->path, luaL_optstring(L, 10, "?"), err);
		return lua_error(L);
	}
	return 0;
}

/* Keeps a copy of a warning of the first load. */
static void add_warning(struct eddy_handlers *h, const char *w)
{
	char **v = realloc(h->warnings, (h->n_warnings + 1) * sizeof *v);
	if (!v)
		return;
	h->warnings = v;
	if ((v[h->n_warnings] = strdup(w)))
		h->n_warnings++;
}

/* Protected: one rule file, its YAML read here and its rules compiled by
 * rules.compile_file into a unit: subscribed by the rules' types, an
 * on_event, a ctx of its own. The rules, their types and the warnings are
 * read the first time. Errors are raised as their message
 * ("rules/x.yaml:7:12: if: unexpected 'and'"). */
static int l_load_rules(lua_State *L)
{
	struct load *ld = lua_touserdata(L, 1);
	struct handler *hd = ld->hd;
	struct unit_state *st = &hd->st;

	lua_settop(L, 0);
	lua_rawgeti(L, LUA_REGISTRYINDEX, st->rules_compile); /* compile */
	lua_pushstring(L, ld->path);                          /* compile, path */
	eddy_rules_push_yaml(L, ld->path, ld->buf, ld->len);  /* compile, path, tree */
	lua_rawgeti(L, LUA_REGISTRYINDEX, st->rules_opts);    /* compile, path, tree, opts */
	lua_call(L, 3, 2);                                    /* unit, warnings */
	lua_getfield(L, 1, "on_event");                       /* unit, warnings, on_event */
	st->on_event = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_getfield(L, 1, "on_tick"); /* unit, warnings, on_tick | nil */
	if (lua_isfunction(L, -1))
		st->on_tick = luaL_ref(L, LUA_REGISTRYINDEX);
	else
		lua_pop(L, 1);
	if (!hd->loaded) {
		for (int i = 1; i <= (int)lua_objlen(L, 2); i++) {
			lua_rawgeti(L, 2, i);
			add_warning(hd->set, lua_tostring(L, -1));
			lua_pop(L, 1);
		}
		hd->ticks = st->on_tick != LUA_NOREF;
		lua_getfield(L, 1, "n"); /* unit, warnings, n */
		hd->n_rules = (size_t)lua_tointeger(L, -1);
		lua_pop(L, 1);
		lua_getfield(L, 1, "types"); /* unit, warnings, types */
		if (!lua_isnil(L, -1))
			read_globs(L, lua_gettop(L), ld->path, "types", &hd->types);
		lua_pop(L, 1);
	}
	lua_newtable(L);                               /* ..., ctx */
	lua_rawgeti(L, LUA_REGISTRYINDEX, st->ctx_mt); /* ..., ctx, mt */
	lua_setmetatable(L, -2);                       /* ..., ctx */
	st->ctx = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

/* Protected, in l_setup of a rule file's state: rules.compile_file and
 * the opts it gets (the sinks rules may name, regexes, the alert
 * function). */
static void setup_rules(struct handler *u, lua_State *L)
{
	const struct eddy_handlers *h = u->set;

	lua_getglobal(L, "require");      /* require */
	lua_pushliteral(L, "eddy.rules"); /* require, name */
	lua_call(L, 1, 1);                /* rules */
	lua_getfield(L, -1, "compile_file");
	u->st.rules_compile = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);
	eddy_rules_push_regex_api(L); /* opts */
	lua_newtable(L);              /* opts, sinks */
	for (size_t i = 0; h->conf && i < h->conf->n_alert_sinks; i++) {
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, h->conf->alert_sinks[i].name);
	}
	lua_setfield(L, -2, "sinks"); /* opts */
	lua_pushnumber(L, h->conf ? h->conf->alerts_dedupe_window_s : 0);
	lua_setfield(L, -2, "realert_default");
	lua_pushlightuserdata(L, u);
	lua_pushcclosure(L, l_rule_alert, 1);
	lua_setfield(L, -2, "alert");
	u->st.rules_opts = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Protected: the host side of a unit's new state. Standard libraries (for
 * eddy's own Lua code only: handlers see the sandbox), lua-cjson, eddy's
 * modules in package.preload, and the refs every call uses. */
static int l_setup(lua_State *L)
{
	struct handler *u = lua_touserdata(L, 1);
	struct unit_state *st = &u->st;

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
	lua_pop(L, 2);                 /* */

	eddy_lua_preload(L);

	/* eddy.json, with the host's decoder in place of cjson's */
	lua_getglobal(L, "require");         /* require */
	lua_pushliteral(L, "eddy.json");     /* require, name */
	lua_call(L, 1, 1);                   /* json */
	eddy_handlers_inject_json_api(u, L); /* json */
	lua_getfield(L, -1, "encode");       /* json, encode */
	st->encode = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_getfield(L, -1, "array_mt"); /* json, array_mt */
	st->array_mt_ptr = lua_topointer(L, -1);
	st->array_mt = luaL_ref(L, LUA_REGISTRYINDEX);
	st->json = luaL_ref(L, LUA_REGISTRYINDEX);

	lua_getglobal(L, "require");        /* require */
	lua_pushliteral(L, "eddy.sandbox"); /* require, name */
	lua_call(L, 1, 1);                  /* sandbox */
	lua_getfield(L, -1, "protect_strings");
	lua_call(L, 0, 0);              /* sandbox */
	lua_getfield(L, -1, "new_env"); /* sandbox, new_env */
	st->new_env = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);

	/* ev.data and ev.meta are built on first use; next, rawget, cjson, ...
	 * would see them empty, so eddy.sandbox and eddy.json build them first */
	lua_rawgeti(L, LUA_REGISTRYINDEX, st->array_mt); /* array_mt */
	eddy_lua_json_bind(u->conv, L, -1);              /* array_mt, lazy_mt */
	lua_getglobal(L, "require");                     /* ..., lazy_mt, require */
	lua_pushliteral(L, "eddy.sandbox");
	lua_call(L, 1, 1);                           /* ..., lazy_mt, sandbox */
	lua_getfield(L, -1, "bind_lazy");            /* ..., lazy_mt, sandbox, bind_lazy */
	lua_pushvalue(L, -3);                        /* ..., lazy_mt, sandbox, bind_lazy, lazy_mt */
	lua_call(L, 1, 0);                           /* ..., lazy_mt, sandbox */
	lua_rawgeti(L, LUA_REGISTRYINDEX, st->json); /* ..., lazy_mt, sandbox, json */
	lua_getfield(L, -1, "bind_lazy");
	lua_pushvalue(L, -4);
	lua_call(L, 1, 0); /* ..., lazy_mt, sandbox, json */
	lua_pushnil(L);
	lua_setfield(L, -2, "bind_lazy"); /* not for handlers */
	lua_pop(L, 4);

	eddy_handlers_inject_ctx_api(u, L);
	eddy_handlers_inject_ev_keys(u, L);
	lua_pushcfunction(L, l_errh);
	st->errh = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushlightuserdata(L, u);
	lua_pushcclosure(L, l_call, 1);
	st->call = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushlightuserdata(L, u);
	lua_pushcclosure(L, l_tick, 1);
	st->tick = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushlightuserdata(L, u);
	lua_pushcclosure(L, l_detach, 1);
	st->detach = luaL_ref(L, LUA_REGISTRYINDEX);
	if (u->rules)
		setup_rules(u, L);
	return 0;
}

/* ---- limits ------------------------------------------------------------------- */

static atomic_uint_least64_t limit_stops;

/* "handlers/x.lua: CPU time limit of 1000 ms exceeded", and counts the stop. */
static void limit_error(const struct handler *hd, enum eddy_lualimit hit, char *errstr,
                        size_t errstr_size)
{
	if (hit == EDDY_LUALIMIT_CPU)
		snprintf(errstr, errstr_size, "%s: CPU time limit of %d ms exceeded", hd->path,
		         hd->set->limit_conf.cpu_ms);
	else
		snprintf(errstr, errstr_size, "%s: memory limit of %d MB exceeded", hd->path,
		         hd->set->limit_conf.memory_mb);
	atomic_fetch_add(&limit_stops, 1);
}

uint64_t eddy_handlers_limit_stops(void)
{
	return atomic_load(&limit_stops);
}

/* lua_cpcall of fn with ud in hd's state under its limits; -1 with errstr
 * (the limit, or the error as raised, prefixed by what when given). */
static int limited_cpcall(struct handler *hd, lua_CFunction fn, void *ud, const char *what,
                          char *errstr, size_t errstr_size)
{
	lua_State *L = hd->st.L;

	if (eddy_lualimits_arm(hd->st.limits, errstr, errstr_size) != 0)
		return -1;
	int rc = lua_cpcall(L, fn, ud);
	enum eddy_lualimit hit = eddy_lualimits_disarm(hd->st.limits);
	if (rc == 0) {
		lua_settop(L, 0);
		return 0;
	}
	const char *msg = lua_tostring(L, -1);
	if (hit != EDDY_LUALIMIT_NONE)
		limit_error(hd, hit, errstr, errstr_size);
	else
		snprintf(errstr, errstr_size, "%s%s%s", what ? what : "", what ? ": " : "",
		         msg ? msg : "error loading handler");
	lua_settop(L, 0);
	return -1;
}

/* A unit without a state. */
static const struct unit_state no_state = {
    .on_event = LUA_NOREF,
    .ctx = LUA_NOREF,
    .on_tick = LUA_NOREF,
    .rules_compile = LUA_NOREF,
    .rules_opts = LUA_NOREF,
};

/* Closes hd's state (its memory back to the system) and forgets its
 * refs. A unit without a state is a no-op. */
static void close_unit(struct handler *hd)
{
	eddy_lualimits_close(hd->st.limits); /* hd->st.L */
	eddy_lualimits_destroy(hd->st.limits);
	hd->st = no_state;
}

/* Makes hd's state under limits of its own: the host side (l_setup), then
 * the file from its source in memory, each run under the limits. -1 with
 * errstr on failure, the unit then without a state. */
static int build_unit(struct handler *hd, char *errstr, size_t errstr_size)
{
	struct load ld = {hd, hd->path, hd->src, hd->src_len};
	const struct eddy_handlers_limits *conf = &hd->set->limit_conf;

	close_unit(hd);
	hd->st.limits = eddy_lualimits_new(conf->cpu_ms, (size_t)conf->memory_mb << 20);
	if (!hd->st.limits || !(hd->st.L = eddy_lualimits_newstate(hd->st.limits))) {
		snprintf(errstr, errstr_size, "%s: out of memory", hd->path);
		goto err;
	}
	if (limited_cpcall(hd, l_setup, hd, "lua runtime", errstr, errstr_size) != 0 ||
	    limited_cpcall(hd, hd->rules ? l_load_rules : l_load, &ld, NULL, errstr, errstr_size) !=
	        0)
		goto err;
	hd->loaded = true;
	return 0;
err:
	close_unit(hd);
	return -1;
}

/* After a limit stop the unit's state may hold half-done work of the
 * stopped call (after a memory error, of eddy's own code in it too): the
 * state is closed and the unit loaded again into a new one from the
 * source read at load time. The other units keep their states. The old
 * state is closed first, so the process holds one state at the limit, not
 * two. Should the new one fail (a top level that behaves differently
 * now), the unit has no state until a call needs it and it is built then. */
static void rebuild(struct handler *hd)
{
	char err[512];

	if (build_unit(hd, err, sizeof err) != 0)
		eddy_log(EDDY_LOG_ERROR, "handlers: no new state for %s after a limit stop: %s",
		         hd->path, err);
}

/* ---- the set ------------------------------------------------------------------- */

struct eddy_handlers *eddy_handlers_load(const char *dir, const struct eddy_actions *actions,
                                         char *errstr, size_t errstr_size)
{
	return eddy_handlers_load_with_limits(dir, actions, NULL, errstr, errstr_size);
}

/* Takes a unit for path (NULL name: the path is the name too) and reads
 * its file; -1 with errstr on failure (the unit is then h's to free). */
static int add_unit(struct eddy_handlers *h, char *name, char *path, bool rules, char *errstr,
                    size_t errstr_size)
{
	struct handler *hd = &h->v[h->n++];

	*hd = (struct handler){0};
	hd->set = h;
	hd->st = no_state;
	hd->types.all = hd->topics.all = true;
	hd->rules = rules;
	hd->path = path;
	hd->name = name ? name : (path ? strdup(path) : NULL);
	if (!hd->path || !hd->name || !(hd->conv = eddy_lua_json_new())) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	if (!(hd->src = eddy_read_file(hd->path, &hd->src_len, errstr, errstr_size)))
		return -1;
	if (!rules && hd->src_len && hd->src[0] == '\033') {
		snprintf(errstr, errstr_size,
		         "%s: precompiled bytecode is not accepted, only Lua source", hd->path);
		return -1;
	}
	return 0;
}

/* "handlers/" and "handlers" name files the same way: a copy without the
 * trailing slashes. */
static char *folder(const char *dir)
{
	char *base = strdup(dir);
	for (size_t len = base ? strlen(base) : 0; len > 1 && base[len - 1] == '/'; len--)
		base[len - 1] = '\0';
	return base;
}

/* Appends the files of a folder as units: handler files (names) or rule
 * files (paths). A missing folder is no error when optional. */
static int add_folder(struct eddy_handlers *h, const char *dir, bool rules, bool optional,
                      size_t *cap, char *errstr, size_t errstr_size)
{
	char **names = NULL, *base = folder(dir);
	size_t n = 0;
	int rc = -1;

	if (!base) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	if (optional) {
		struct stat st;
		if (stat(base, &st) != 0 && errno == ENOENT) {
			free(base);
			return 0;
		}
	}
	if ((rules ? eddy_rules_list(base, &names, &n, errstr, errstr_size)
	           : eddy_list_files(base, ".lua", NULL, &names, &n, errstr, errstr_size)) < 0)
		goto out;
	if (n && h->n + n > *cap) {
		struct handler *v = realloc(h->v, (h->n + n) * sizeof *v);
		if (!v) {
			snprintf(errstr, errstr_size, "out of memory");
			goto out;
		}
		h->v = v;
		*cap = h->n + n;
	}
	/* every file read first and kept: a rebuilt state loads the same */
	for (size_t i = 0; i < n; i++) {
		char *path;
		if (asprintf(&path, "%s/%s", base, names[i]) < 0)
			path = NULL;
		if (rules) {
			free(names[i]);
			names[i] = NULL;
			h->n_rule_files++;
		}
		char *name = names[i];
		names[i] = NULL;
		if (add_unit(h, rules ? NULL : name, path, rules, errstr, errstr_size) != 0)
			goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(base);
	return rc;
}

/* The set of hc's files under limits. */
static struct eddy_handlers *load_set(const struct eddy_handlers_conf *hc,
                                      const struct eddy_handlers_limits *limits,
                                      const struct eddy_actions *actions, char *errstr,
                                      size_t errstr_size)
{
	struct eddy_handlers *h = calloc(1, sizeof *h);
	size_t cap = 0;

	if (!h) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	h->actions = actions;
	h->limit_conf = *limits;
	h->conf = hc->conf;
	if (hc->dir && add_folder(h, hc->dir, false, false, &cap, errstr, errstr_size) != 0)
		goto err;
	if (hc->rules_dir && add_folder(h, hc->rules_dir, true, hc->rules_dir_optional, &cap,
	                                errstr, errstr_size) != 0)
		goto err;
	if (hc->n_rule_files) {
		struct handler *v = realloc(h->v, (h->n + hc->n_rule_files) * sizeof *v);
		if (!v) {
			snprintf(errstr, errstr_size, "out of memory");
			goto err;
		}
		h->v = v;
		for (size_t i = 0; i < hc->n_rule_files; i++) {
			h->n_rule_files++;
			if (add_unit(h, NULL, strdup(hc->rule_files[i]), true, errstr,
			             errstr_size) != 0)
				goto err;
		}
	}
	if (!(h->doc = eddy_json_doc_new())) {
		snprintf(errstr, errstr_size, "out of memory");
		goto err;
	}
	/* each unit in a state of its own, in name order; the units stay
	 * where they are from here on (their states point at them) */
	for (size_t i = 0; i < h->n; i++)
		if (build_unit(&h->v[i], errstr, errstr_size) != 0)
			goto err;
	return h;
err:
	eddy_handlers_destroy(h);
	return NULL;
}

struct eddy_handlers *eddy_handlers_load_with_limits(const char *dir,
                                                     const struct eddy_actions *actions,
                                                     const struct eddy_handlers_limits *limits,
                                                     char *errstr, size_t errstr_size)
{
	static const struct eddy_handlers_limits defaults = {EDDY_HANDLERS_CPU_LIMIT_MS,
	                                                     EDDY_HANDLERS_MEMORY_LIMIT_MB};
	struct eddy_handlers_conf hc = {.dir = dir};

	return load_set(&hc, limits ? limits : &defaults, actions, errstr, errstr_size);
}

struct eddy_handlers *eddy_handlers_load_conf(const struct eddy_handlers_conf *hc,
                                              const struct eddy_actions *actions, char *errstr,
                                              size_t errstr_size)
{
	struct eddy_handlers_limits lim = {EDDY_HANDLERS_CPU_LIMIT_MS,
	                                   EDDY_HANDLERS_MEMORY_LIMIT_MB};

	if (hc->conf)
		lim = (struct eddy_handlers_limits){hc->conf->handler_cpu_limit_ms,
		                                    hc->conf->handler_memory_limit_mb};
	return load_set(hc, &lim, actions, errstr, errstr_size);
}

struct eddy_handlers *eddy_handlers_load_config(const struct eddy_config *conf,
                                                const struct eddy_actions *actions, char *errstr,
                                                size_t errstr_size)
{
	struct eddy_handlers_conf hc = {.conf = conf, .dir = conf->handlers};

	hc.rules_dir = eddy_rules_dir(conf, &hc.rules_dir_optional);
	return eddy_handlers_load_conf(&hc, actions, errstr, errstr_size);
}

void eddy_handlers_destroy(struct eddy_handlers *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++) {
		close_unit(&h->v[i]);
		eddy_lua_json_destroy(h->v[i].conv);
		free(h->v[i].name);
		free(h->v[i].path);
		free(h->v[i].src);
		globs_free(&h->v[i].types);
		globs_free(&h->v[i].topics);
	}
	free(h->v);
	for (size_t i = 0; i < h->n_warnings; i++)
		free(h->warnings[i]);
	free(h->warnings);
	eddy_json_doc_destroy(h->doc);
	free(h);
}

size_t eddy_handlers_rule_files(const struct eddy_handlers *h)
{
	return h ? h->n_rule_files : 0;
}

size_t eddy_handlers_rule_count(const struct eddy_handlers *h)
{
	size_t n = 0;
	for (size_t i = 0; h && i < h->n; i++)
		n += h->v[i].n_rules;
	return n;
}

size_t eddy_handlers_warning_count(const struct eddy_handlers *h)
{
	return h ? h->n_warnings : 0;
}

const char *eddy_handlers_warning(const struct eddy_handlers *h, size_t i)
{
	return h && i < h->n_warnings ? h->warnings[i] : NULL;
}

void eddy_handlers_set_clock(struct eddy_handlers *h, double now)
{
	h->clock = now;
}

size_t eddy_handlers_count(const struct eddy_handlers *h)
{
	return h ? h->n : 0;
}

const char *eddy_handlers_name(const struct eddy_handlers *h, size_t i)
{
	return h && i < h->n ? h->v[i].name : NULL;
}

bool eddy_handlers_info(const struct eddy_handlers *h, size_t i, struct eddy_handler_info *out)
{
	if (!h || i >= h->n)
		return false;
	const struct handler *hd = &h->v[i];
	*out = (struct eddy_handler_info){
	    .path = hd->path,
	    .rules = hd->rules,
	    .all_types = hd->types.all,
	    .all_topics = hd->topics.all,
	    .types = (const char *const *)hd->types.v,
	    .topics = (const char *const *)hd->topics.v,
	    .n_types = hd->types.all ? 0 : hd->types.n,
	    .n_topics = hd->topics.all ? 0 : hd->topics.n,
	    .src = hd->src,
	    .src_len = hd->src_len,
	};
	return true;
}

int eddy_handlers_stack_top(const struct eddy_handlers *h)
{
	int top = 0;

	for (size_t i = 0; h && i < h->n; i++)
		if (h->v[i].st.L)
			top += lua_gettop(h->v[i].st.L);
	return top;
}
