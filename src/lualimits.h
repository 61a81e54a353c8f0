/* lualimits.h - the CPU-time and memory limits of one LuaJIT state (not
 * limits.h, which would shadow the C library's header): an
 * allocator with a cap, and a CPU-time deadline per call enforced by a
 * per-thread timer signal that installs a stopping hook. */
#ifndef EDDY_LUALIMITS_H
#define EDDY_LUALIMITS_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

/* How often the CPU time of a running call is looked at: a call is
 * stopped between its limit and this much CPU time later. */
#define EDDY_LUALIMITS_TICK_MS 10

enum eddy_lualimit {
	EDDY_LUALIMIT_NONE,
	EDDY_LUALIMIT_CPU,    /* the call ran past its CPU time */
	EDDY_LUALIMIT_MEMORY, /* an allocation would have passed the cap */
};

struct eddy_lualimits;

/* Limits for one state: cpu_ms of CPU time per call (0: none) and
 * memory_bytes for everything the state allocates, garbage not yet
 * collected included (0: none). NULL when out of memory. */
struct eddy_lualimits *eddy_lualimits_new(int cpu_ms, size_t memory_bytes);
/* Call after eddy_lualimits_close. NULL is a no-op. */
void eddy_lualimits_destroy(struct eddy_lualimits *lim);

/* A new state whose allocations count against lim (LuaJIT's allocator
 * behind the cap). One state per lim; close it with eddy_lualimits_close. */
lua_State *eddy_lualimits_newstate(struct eddy_lualimits *lim);
/* lua_close of lim's state (NULL or no state: nothing), then the C
 * library's free memory given back to the system (malloc_trim): what the
 * state and the libraries it used freed would otherwise stay in the
 * process. */
void eddy_lualimits_close(struct eddy_lualimits *lim);

/* Starts the limits of one protected call on this thread (the first call
 * on a thread creates its CPU timer). Between arm and disarm, passing a
 * limit installs a hook on every call, return and instruction that raises
 * an error again and again, so the handler's own pcall cannot go on: the
 * host's lua_pcall returns. -1 with errstr when the timer cannot be made. */
int eddy_lualimits_arm(struct eddy_lualimits *lim, char *errstr, size_t errstr_size);
/* Ends the call: removes the hook, and says which limit stopped the call
 * (EDDY_LUALIMIT_NONE: none). Call right after the lua_pcall returns. */
enum eddy_lualimit eddy_lualimits_disarm(struct eddy_lualimits *lim);

/* Counts n bytes that something outside the state holds for the running
 * call (a JSON document being converted, the writes the call handed to
 * the pipeline) against the cap, as if the state had allocated them. A
 * charge ends with eddy_lualimits_discharge or, at the latest, with the
 * call (eddy_lualimits_disarm). -1 when n more would pass the cap: inside
 * a call the call is then stopped as by an allocation the cap refused
 * (EDDY_LUALIMIT_MEMORY), and the caller raises at once. */
int eddy_lualimits_charge(struct eddy_lualimits *lim, size_t n);
/* Ends n bytes of the running call's charges (no more than it holds). */
void eddy_lualimits_discharge(struct eddy_lualimits *lim, size_t n);
/* Bytes the state may still allocate or charge before the cap (SIZE_MAX
 * without a cap). */
size_t eddy_lualimits_room(const struct eddy_lualimits *lim);

/* A full collection with the cap lifted, for a state to be used again
 * after a memory error (LuaJIT collects no garbage before refusing). */
void eddy_lualimits_collect(struct eddy_lualimits *lim);

/* For allocation-failure tests: the nth allocation from now (1: the next)
 * that makes a block of any state on this thread bigger is refused, as
 * LuaJIT's own allocator refuses when the system has no memory (not as the
 * cap does: the call is not stopped, the state raises "not enough memory"
 * where it was). 0 refuses none. Returns how many allocations were left
 * before the refusal set last: 0 once it happened. */
unsigned long eddy_lualimits_fail_nth(unsigned long n);

/* "LuaJIT 2.1.0-beta3, JIT on, checkhook": the linked LuaJIT as handlers
 * get it. "checkhook" is measured, not assumed: a hook set while a compiled
 * loop runs stops it (LUAJIT_ENABLE_CHECKHOOK; without it the CPU limit
 * cannot stop compiled loops). */
void eddy_lualimits_describe(char *buf, size_t size);

#endif
