/* handlers.h - a set of Lua handlers (handlers/ *.lua files) and rule
 * files, each loaded into a LuaJIT state of its own, the routing of events
 * to them, and the ctx API they call. */
#ifndef EDDY_HANDLERS_H
#define EDDY_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

struct eddy_publish_req;

/* ctx.alert{...} as the host gets it; strings borrowed for the call, NULL
 * when not given. */
struct eddy_alert_req {
	const char *handler;  /* "orders.lua" */
	const char *sink;     /* NULL: alerts.default_sink */
	const char *severity; /* critical | warning | info */
	const char *key;
	const char *summary; /* required */
	const char *description;
	const char *labels;      /* JSON object text of strings, NULL: {} */
	const char *annotations; /* JSON object text of strings, NULL: {} */
	const char *dedupe;      /* NULL: sink/handler/key */
	/* an alert of the same dedupe key raised less than this long ago is
	 * not sent again; 0: alerts.dedupe_window_s (a rule's realert) */
	int64_t window_ms;
	/* a resolved notification: the condition of the alert raised at
	 * starts_ms stopped holding at ends_ms (0: now); alerts.h's body says
	 * "status": "resolved" */
	bool resolved;
	int64_t starts_ms; /* when the condition began to hold; 0: unknown */
	int64_t ends_ms;
};

/* How one handler call ended. */
enum eddy_handler_end {
	EDDY_HANDLER_OK,
	EDDY_HANDLER_ERROR,        /* it raised an error */
	EDDY_HANDLER_CPU_LIMIT,    /* stopped at handler.cpu_limit_ms */
	EDDY_HANDLER_MEMORY_LIMIT, /* stopped at handler.memory_limit_mb */
};

/* What ctx.get/upsert/delete/log do: supplied by the pipeline (apply to the
 * store, print in eddy dev, ...). Each returns 0 (get: 1 found, 0 not
 * found) or -1 with errstr filled; a -1 raises a Lua error in the handler
 * ("ctx.upsert: <errstr>"), which fails the event. */
struct eddy_actions {
	void *ud;
	int (*get)(void *ud, const char *ns, const char *key, size_t key_len, const char **value,
	           size_t *len, char *errstr, size_t errstr_size);
	/* value is JSON text, borrowed for the call; parsed: text of the
	 * event that eddy parsed (its UTF-8 and nesting checked already) */
	int (*upsert)(void *ud, const char *ns, const char *key, size_t key_len, const char *value,
	              size_t len, bool parsed, char *errstr, size_t errstr_size);
	int (*del)(void *ud, const char *ns, const char *key, size_t key_len, char *errstr,
	           size_t errstr_size);
	/* level: "debug" | "info" | "warn" | "error"; fields_json: JSON object
	 * text or NULL */
	void (*log)(void *ud, const char *handler, const char *level, const char *msg,
	            const char *fields_json);
	/* ctx.publish: req borrowed for the call; the record is produced only
	 * when every handler of the event succeeded */
	int (*publish)(void *ud, const struct eddy_publish_req *req, char *errstr,
	               size_t errstr_size);
	/* ctx.alert: written to the outbox only when every handler of the
	 * event succeeded */
	int (*alert)(void *ud, const struct eddy_alert_req *req, char *errstr, size_t errstr_size);
	/* after each on_event call (NULL: not told): how it ended and how long
	 * it took, for metrics */
	void (*called)(void *ud, const char *handler, enum eddy_handler_end end, double seconds);
};

struct eddy_handlers;

/* The limits of every handler call and of running each file at load time:
 * CPU time of the call, and memory of the handler's own state (garbage not
 * yet collected included, and what the call has the host hold outside
 * it). Each handler file and rule file has its own. 0: no limit. */
struct eddy_handlers_limits {
	int cpu_ms;
	int memory_mb;
};
#define EDDY_HANDLERS_CPU_LIMIT_MS 1000
#define EDDY_HANDLERS_MEMORY_LIMIT_MB 256

/* Loads the *.lua files of dir (sorted by name), each into a sandboxed
 * LuaJIT state of its own with eddy's own Lua modules (lua/eddy/ *.lua,
 * compiled into the binary: lua_modules.h). actions is borrowed for the life of the set. Fails as a
 * whole: NULL with errstr naming the file and line ("handlers/orders.lua:3: '=' expected near 'x'")
 * or the shape problem
 * ("handlers/orders.lua: on_event must be a function"). */
struct eddy_handlers *eddy_handlers_load(const char *dir, const struct eddy_actions *actions,
                                         char *errstr, size_t errstr_size);
/* eddy_handlers_load with limits other than the defaults above (NULL: the
 * defaults). A file whose loading passes a limit fails the load
 * ("handlers/x.lua: CPU time limit of 1000 ms exceeded"). */
struct eddy_handlers *eddy_handlers_load_with_limits(const char *dir,
                                                     const struct eddy_actions *actions,
                                                     const struct eddy_handlers_limits *limits,
                                                     char *errstr, size_t errstr_size);

struct eddy_config;

/* What a set is loaded from: handler files, rule files, and what both
 * need of the configuration. */
struct eddy_handlers_conf {
	/* limits (handler.cpu_limit_ms, handler.memory_limit_mb) and the sinks
	 * rules may name (alerts.sinks); borrowed for the life of the set */
	const struct eddy_config *conf;
	const char *dir;         /* the handler files' folder; NULL: none */
	const char *rules_dir;   /* the rule files' folder (see rules.h); NULL: none */
	bool rules_dir_optional; /* a missing rules_dir holds no rules */
	/* rule files named one by one (after the folder's) */
	const char *const *rule_files;
	size_t n_rule_files;
};

/* Loads the handler files of hc->dir (as eddy_handlers_load) and then the
 * rule files (lua/eddy/rules.lua), each rule file a unit like a handler:
 * named by its path ("rules/large.yaml") in messages, metrics and dead
 * letters, subscribed by its rules' when.types, called after the handlers
 * under the same limits. A rule that does not compile fails the load with
 * "rules/large.yaml:7:12: if: unexpected 'and'". */
struct eddy_handlers *eddy_handlers_load_conf(const struct eddy_handlers_conf *hc,
                                              const struct eddy_actions *actions, char *errstr,
                                              size_t errstr_size);
/* eddy_handlers_load_conf of what conf names: handlers and rules. */
struct eddy_handlers *eddy_handlers_load_config(const struct eddy_config *conf,
                                                const struct eddy_actions *actions, char *errstr,
                                                size_t errstr_size);
void eddy_handlers_destroy(struct eddy_handlers *h);

/* Rule files and the rules in them (of eddy_handlers_count's units). */
size_t eddy_handlers_rule_files(const struct eddy_handlers *h);
size_t eddy_handlers_rule_count(const struct eddy_handlers *h);
/* What loading found suspicious but not wrong (a label template reading a
 * field that changes with every event), "file:line:col: key: ..." each. */
size_t eddy_handlers_warning_count(const struct eddy_handlers *h);
const char *eddy_handlers_warning(const struct eddy_handlers *h, size_t i);
/* The time rules take as now (seconds since the epoch) from here on; 0:
 * the system clock (the default); < 0: each event's time (its time
 * attribute, else the system clock). eddy rule test sets it. */
void eddy_handlers_set_clock(struct eddy_handlers *h, double now);

/* Whether some rule file has time-based rules (frequency, flatline,
 * for:), which need ticks; unit i's (of eddy_handlers_count). */
bool eddy_handlers_ticking(const struct eddy_handlers *h);
bool eddy_handlers_unit_ticks(const struct eddy_handlers *h, size_t i);
/* Ticks are driven by a clock from here on (eddy run, eddy dev): events
 * no longer tick the time-based rules at their own time, as they do by
 * default (eddy replay, eddy rule test). */
void eddy_handlers_set_live_ticks(struct eddy_handlers *h, bool live);
/* Calls on_tick(ctx, now) of unit i, a rule file with time-based rules,
 * under the limits of an event's call: what it does with ctx (state,
 * alerts of groups that went silent or whose window passed) goes through
 * the actions like an event's. now: seconds since the epoch. Returns 1,
 * 0 when unit i has no time-based rules, -1 with errstr when it failed
 * (after a limit stop its state is rebuilt, as in dispatch). */
int eddy_handlers_tick(struct eddy_handlers *h, size_t i, double now, char *errstr,
                       size_t errstr_size);

size_t eddy_handlers_count(const struct eddy_handlers *h);
/* Name of handler i as it appears in messages ("orders.lua"). */
const char *eddy_handlers_name(const struct eddy_handlers *h, size_t i);

/* What handler i is, as eddy manifest and eddy check show it. */
struct eddy_handler_info {
	const char *path;           /* "handlers/orders.lua", "rules/large.yaml" */
	bool rules;                 /* a rule file */
	bool all_types, all_topics; /* no types / topics list: it takes every one */
	const char *const *types;   /* CloudEvents type globs, n_types of them */
	const char *const *topics;  /* topic globs */
	size_t n_types, n_topics;
	const char *src; /* the file as loaded */
	size_t src_len;
};
/* Fills *out with what handler i is (borrowed from h); false when there is
 * no handler i. */
bool eddy_handlers_info(const struct eddy_handlers *h, size_t i, struct eddy_handler_info *out);

/* Calls on_event of every handler whose subscription matches ev (types and
 * topics globs; a missing list matches all), in name order. Returns the
 * number called (0: nobody subscribed), or -1 when one raised: *failed is
 * its name and errstr its error with the handler's file:line. A call that
 * passes a limit is stopped (its own pcall cannot catch that) and fails
 * with "handlers/x.lua: CPU time limit of 1000 ms exceeded" or "...: memory
 * limit of 256 MB exceeded"; its state may then hold half-done work, so it
 * is closed and that handler alone is loaded again into a new state from
 * the source read at load time (its module-level variables start afresh,
 * the other handlers' stay). */
int eddy_handlers_dispatch(struct eddy_handlers *h, const struct eddy_event *ev,
                           const char **failed, char *errstr, size_t errstr_size);

/* Handler calls (and loads) stopped by a limit in this process, all
 * handler sets together. */
uint64_t eddy_handlers_limit_stops(void);

/* Height of the Lua stack between calls: 0 when every path of loading and
 * dispatching left it balanced (for tests). */
int eddy_handlers_stack_top(const struct eddy_handlers *h);

#endif
