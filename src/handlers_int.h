/* handlers_int.h - what the parts of the handler host share: the set and
 * its units, each with a LuaJIT state of its own (handlers.c), the ev
 * table (handlers_ev.c) and the API handlers call (handlers_ctx.c). Not
 * for other modules. */
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

/* A unit's LuaJIT state and the registry refs every call into it needs.
 * Made by build_unit (handlers.c), closed and made again after a limit
 * stop; L NULL when a rebuild failed (the next call tries again). */
struct unit_state {
	lua_State *L;
	struct eddy_lualimits *limits; /* of L: its allocator, the CPU deadline */
	int on_event, ctx;             /* the unit's */
	int on_tick; /* a rule file with time-based rules: on_tick(ctx, now); else LUA_NOREF */
	int call, tick, detach, errh, encode, json, new_env, array_mt, ev_keys, ctx_mt;
	int rules_compile, rules_opts; /* a rule file's: rules.compile_file, its opts */
	const void *array_mt_ptr;
};

/* A handler file or a rule file, in a state of its own: what it holds is
 * counted against handler.memory_limit_mb alone, and a state rebuilt
 * after a stop is its alone. The C functions of its state (ctx, json, the
 * calls) have the unit as their first upvalue. */
struct handler {
	struct eddy_handlers *set; /* the set it belongs to */
	char *name;                /* "orders.lua" */
	char *path;                /* "handlers/orders.lua" */
	struct unit_state st;
	/* the tables converted from the event's JSON in the current call,
	 * bound to st.L (a rebuilt state is bound again) */
	struct eddy_lua_json *conv;
	struct globs types, topics; /* of the first load: a rebuild keeps them */
	char *src;                  /* the file as loaded: a rebuilt state loads this again */
	size_t src_len;
	bool rules;     /* a rule file (name and path: "rules/x.yaml") */
	size_t n_rules; /* its rules */
	bool ticks;     /* it has time-based rules: on_tick */
	bool loaded;    /* its first state was built: subscription, rules and warnings read */
};

struct eddy_handlers {
	struct eddy_handlers_limits limit_conf; /* of each unit's state */
	const struct eddy_actions *actions;     /* borrowed */
	struct handler *v;
	size_t n;

	/* ctx.get and json.decode parse into this; nothing outlives a call */
	struct eddy_json_doc *doc;

	/* the event of the call in progress (an empty one for a tick); NULL
	 * between calls and while a file is loaded */
	const struct eddy_event *ev;

	/* rule files */
	const struct eddy_config *conf; /* borrowed: alerts.sinks; NULL without rules */
	size_t n_rule_files;
	char **warnings; /* of the first load (a rebuild finds the same) */
	size_t n_warnings;
	double clock; /* now for rules; 0: the system clock */
	/* ticks come from a clock (eddy run): events do not tick the
	 * time-based rules at their own time */
	bool live_ticks;
	double tick_now; /* of the tick in progress */
};

/* The unit a C closure belongs to: its first upvalue. */
static inline struct handler *eddy_handlers_unit(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

/* handlers_ev.c: compiles ev's constructor into u->st.ev_keys (at set-up
 * of a state, in protected mode). */
void eddy_handlers_inject_ev_keys(struct handler *u, lua_State *L);
/* handlers_ev.c: pushes a fresh ev table for ev onto u's state. Raises on
 * memory errors. */
void eddy_handlers_push_event(struct handler *u, const struct eddy_event *ev);

/* handlers_ctx.c: the ctx functions and the read-only metatable the unit's
 * ctx gets (u->st.ctx_mt), at set-up of a state, in protected mode. */
void eddy_handlers_inject_ctx_api(struct handler *u, lua_State *L);
/* handlers_ctx.c: json.decode, the host's decoder, and json.encode wrapped
 * with the UTF-8 and memory checks, set in the json module table at the
 * top of the stack (in protected mode). */
void eddy_handlers_inject_json_api(struct handler *u, lua_State *L);

#endif
