/* handlers_int.h - what the parts of the handler host share: the set and
 * its handlers (handlers.c), the ev table (handlers_ev.c) and the API
 * handlers call (handlers_ctx.c). Not for other modules. */
#ifndef EDDY_HANDLERS_INT_H
#define EDDY_HANDLERS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <lua.h>

#include "handlers.h"
#include "json.h"
#include "lua_json.h"
#include "lualimits.h"

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
	int on_tick; /* a rule file with time-based rules: on_tick(ctx, now); else LUA_NOREF */
	struct globs types, topics;
	char *src; /* the file as loaded: a rebuilt state loads this again */
	size_t src_len;
	bool rules;     /* a rule file (name and path: "rules/x.yaml") */
	size_t n_rules; /* its rules */
};

struct eddy_handlers {
	lua_State *L;
	struct eddy_lualimits *limits; /* of L: its allocator, the CPU deadline */
	struct eddy_handlers_limits limit_conf;
	const struct eddy_actions *actions; /* borrowed */
	struct handler *v;
	size_t n;

	/* registry refs to what every call needs */
	int call, tick, errh, encode, json, new_env, array_mt, ev_keys, ctx_mt;
	const void *array_mt_ptr;

	/* ctx.get and json.decode parse into this; nothing outlives a call */
	struct eddy_json_doc *doc;

	/* the call in progress */
	const struct eddy_event *ev;
	const struct handler *cur;

	/* the tables converted from the event's JSON in the current call: a
	 * rebuilt state keeps the same (it is empty between calls) */
	struct eddy_lua_json *conv;

	/* rule files */
	const struct eddy_config *conf; /* borrowed: alerts.sinks; NULL without rules */
	size_t n_rule_files;
	int rules_compile, rules_opts; /* registry refs: rules.compile_file, its opts */
	char **warnings;               /* of the first load (a rebuild finds the same) */
	size_t n_warnings;
	bool loaded;  /* the first state was built: warnings are collected */
	double clock; /* now for rules; 0: the system clock */
	/* ticks come from a clock (eddy run): events do not tick the
	 * time-based rules at their own time */
	bool live_ticks;
	double tick_now; /* of the tick in progress */
};

/* The set a C closure belongs to: its first upvalue. */
static inline struct eddy_handlers *eddy_handlers_self(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

/* handlers_ev.c: compiles ev's constructor into h->ev_keys and binds the
 * JSON objects' shape constructors to the state (at set-up of a state, in
 * protected mode). */
void eddy_handlers_inject_ev_keys(struct eddy_handlers *h, lua_State *L);
/* handlers_ev.c: pushes a fresh ev table for ev. Raises on memory errors. */
void eddy_handlers_push_event(struct eddy_handlers *h, const struct eddy_event *ev);

/* handlers_ctx.c: the ctx functions and the read-only metatable every
 * handler's ctx gets (h->ctx_mt), at set-up of a state, in protected mode. */
void eddy_handlers_inject_ctx_api(struct eddy_handlers *h, lua_State *L);
/* handlers_ctx.c: json.decode, the host's decoder, and json.encode wrapped
 * with the UTF-8 and memory checks, set in the json module table at the
 * top of the stack (in protected mode). */
void eddy_handlers_inject_json_api(struct eddy_handlers *h, lua_State *L);

#endif
