/* lualimits.c - CPU-time and memory limits of a LuaJIT state: a capped
 * allocator, and a per-thread CPU-time timer whose signal installs a hook
 * that stops the running call. */
#include "lualimits.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <luajit.h>
#include <lualib.h>

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

struct eddy_lualimits {
	lua_State *L;
	size_t used, cap; /* bytes, charges included; cap 0: none */
	size_t charged;   /* of used: eddy_lualimits_charge in the running call */
	int cpu_ms;       /* 0: none */
	lua_Alloc base;   /* LuaJIT's own allocator, which does the work */
	void *base_ud;
	bool in_call; /* between arm and disarm */
	/* written by the tick signal on the call's thread */
	volatile sig_atomic_t ticks;
	volatile sig_atomic_t hit; /* enum eddy_lualimit */
};

/* The call whose CPU time this thread's timer counts (NULL: none runs),
 * and the timer. The signal handler runs on the same thread, so plain
 * thread-local variables ordered by signal fences are enough. The timer
 * is made by the first call on a thread and kept for the process's life:
 * eddy runs its handlers on one long-lived thread. */
static _Thread_local struct eddy_lualimits *volatile armed;
static _Thread_local struct {
	bool made;
	volatile sig_atomic_t running;
	timer_t id;
} tick;

/* eddy_lualimits_fail_nth: growing allocations left until the one refused
 * (0: none is), counted over every state of the thread. */
static _Thread_local unsigned long fail_countdown;

static pthread_once_t sig_once = PTHREAD_ONCE_INIT;
static int sig_no, sig_err;

/* Raises as long as the limit is passed: a handler's pcall catches the
 * error, and the next call, return or instruction raises it again. */
static void stop_hook(lua_State *L, lua_Debug *ar)
{
	void *ud;
	struct eddy_lualimits *lim;

	(void)ar;
	lua_getallocf(L, &ud);
	lim = ud;
	if (lim->hit == EDDY_LUALIMIT_MEMORY)
		lua_pushliteral(L, "memory limit exceeded");
	else
		lua_pushliteral(L, "CPU time limit exceeded");
	lua_error(L);
}

/* Passing a limit in the call: from now on every call, return and
 * instruction of the state raises (LUAJIT_ENABLE_CHECKHOOK makes compiled
 * code look at the hook mask too). */
static void stop(struct eddy_lualimits *lim, enum eddy_lualimit why)
{
	if (lim->hit == EDDY_LUALIMIT_NONE)
		lim->hit = why;
	lua_sethook(lim->L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static void timer_run(bool on)
{
	long ns = on ? EDDY_LUALIMITS_TICK_MS * 1000000L : 0;
	struct itimerspec its = {{ns / 1000000000L, ns % 1000000000L},
	                         {ns / 1000000000L, ns % 1000000000L}};
	timer_settime(tick.id, 0, &its, NULL);
	tick.running = on;
}

/* One tick of the thread's CPU time. A tick with no call running stops
 * the timer until the next call, so the thread is not interrupted while
 * it does other work. The hook is set again at every tick past the limit:
 * lua_sethook's update of the hook mask is not atomic, and an update the
 * interrupted code was making could undo one. Only lua_sethook is called
 * into LuaJIT here. */
static void on_tick(int sig, siginfo_t *si, void *uctx)
{
	struct eddy_lualimits *lim = armed;
	int saved = errno;

	(void)sig;
	(void)uctx;
	if (!lim) {
		if (tick.made)
			timer_run(false);
	} else if (lim->cpu_ms > 0) {
		lim->ticks += 1 + (si->si_overrun > 0 ? si->si_overrun : 0);
		if ((long)lim->ticks * EDDY_LUALIMITS_TICK_MS > lim->cpu_ms)
			stop(lim, EDDY_LUALIMIT_CPU);
	}
	errno = saved;
}

static void install_handler(void)
{
	struct sigaction sa;

	sig_no = SIGRTMIN + 2;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_tick;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig_no, &sa, NULL) != 0)
		sig_err = errno;
}

/* This thread's CPU-time timer, made on the first call on the thread. */
static int make_timer(char *errstr, size_t errstr_size)
{
	struct sigevent sev;

	pthread_once(&sig_once, install_handler);
	if (sig_err) {
		snprintf(errstr, errstr_size, "CPU time limit: signal handler: %s",
		         strerror(sig_err));
		return -1;
	}
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = sig_no;
	sev.sigev_notify_thread_id = gettid();
	if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &tick.id) != 0) {
		snprintf(errstr, errstr_size, "CPU time limit: timer: %s", strerror(errno));
		return -1;
	}
	tick.made = true;
	return 0;
}

/* The allocator of a state: LuaJIT's own, refusing what would pass the cap.
 * Inside a call a refusal also stops the call, as the CPU limit does, so
 * a handler cannot catch the memory error and go on at the cap. */
static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct eddy_lualimits *lim = ud;
	void *p;

	if (!ptr)
		osize = 0;
	if (nsize == 0) {
		lim->base(lim->base_ud, ptr, osize, 0);
		lim->used -= osize;
		return NULL;
	}
	if (nsize > osize && lim->cap && lim->used + (nsize - osize) > lim->cap) {
		if (lim->in_call && lim->L)
			stop(lim, EDDY_LUALIMIT_MEMORY);
		else
			lim->hit = EDDY_LUALIMIT_MEMORY;
		return NULL;
	}
	/* a test's refusal stands for LuaJIT's own allocator failing, which
	 * in practice only a block that grows can do */
	if (fail_countdown && nsize > osize && --fail_countdown == 0)
		return NULL;
	if (!(p = lim->base(lim->base_ud, ptr, osize, nsize)))
		return NULL;
	lim->used = lim->used - osize + nsize;
	return p;
}

struct eddy_lualimits *eddy_lualimits_new(int cpu_ms, size_t memory_bytes)
{
	struct eddy_lualimits *lim = calloc(1, sizeof *lim);

	if (lim) {
		lim->cpu_ms = cpu_ms > 0 ? cpu_ms : 0;
		lim->cap = memory_bytes;
	}
	return lim;
}

void eddy_lualimits_destroy(struct eddy_lualimits *lim)
{
	free(lim);
}

/* LuaJIT's own allocator stays underneath (faster than malloc here, see
 * bench/results.md): the state is made with it and the cap put in front. */
lua_State *eddy_lualimits_newstate(struct eddy_lualimits *lim)
{
	lua_State *L = luaL_newstate();

	if (!L)
		return NULL;
	lim->base = lua_getallocf(L, &lim->base_ud);
	lim->used = (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
	lua_setallocf(L, limited_alloc, lim);
	lim->L = L;
	return L;
}

void eddy_lualimits_close(struct eddy_lualimits *lim)
{
	if (!lim || !lim->L)
		return;
	/* lua_close releases LuaJIT's allocator as a whole only when it is
	 * the state's allocator again */
	lua_setallocf(lim->L, lim->base, lim->base_ud);
	lua_close(lim->L);
	lim->L = NULL;
	/* glibc keeps what is freed for later allocations, and after a large
	 * block (a decoded document, a JSON text, writes of megabytes) its
	 * threshold for giving blocks their own mapping rises: without this
	 * the process stays at its peak after the state that caused it is
	 * gone. Closing a state is rare (a limit stop, a reload). */
	malloc_trim(0);
}

int eddy_lualimits_arm(struct eddy_lualimits *lim, char *errstr, size_t errstr_size)
{
	lim->hit = EDDY_LUALIMIT_NONE;
	lim->ticks = 0;
	lim->in_call = true;
	if (lim->cpu_ms <= 0)
		return 0;
	if (!tick.made && make_timer(errstr, errstr_size) != 0) {
		lim->in_call = false;
		return -1;
	}
	/* armed first: a tick that stops the timer before this line is seen
	 * below and the timer started again */
	armed = lim;
	atomic_signal_fence(memory_order_seq_cst);
	if (!tick.running)
		timer_run(true);
	return 0;
}

enum eddy_lualimit eddy_lualimits_disarm(struct eddy_lualimits *lim)
{
	enum eddy_lualimit hit;

	/* no tick sets the hook after this */
	armed = NULL;
	atomic_signal_fence(memory_order_seq_cst);
	lim->in_call = false;
	eddy_lualimits_discharge(lim, lim->charged);
	hit = (enum eddy_lualimit)lim->hit;
	if (hit != EDDY_LUALIMIT_NONE) {
		/* lua_sethook on every call would cost a dispatch-table update */
		lua_sethook(lim->L, NULL, 0, 0);
		lim->hit = EDDY_LUALIMIT_NONE;
	}
	return hit;
}

int eddy_lualimits_charge(struct eddy_lualimits *lim, size_t n)
{
	if (lim->cap && (lim->used > lim->cap || n > lim->cap - lim->used)) {
		if (lim->in_call && lim->L)
			stop(lim, EDDY_LUALIMIT_MEMORY);
		else
			lim->hit = EDDY_LUALIMIT_MEMORY;
		return -1;
	}
	lim->used += n;
	lim->charged += n;
	return 0;
}

void eddy_lualimits_discharge(struct eddy_lualimits *lim, size_t n)
{
	if (n > lim->charged)
		n = lim->charged;
	lim->used -= n;
	lim->charged -= n;
}

size_t eddy_lualimits_room(const struct eddy_lualimits *lim)
{
	if (!lim->cap)
		return SIZE_MAX;
	return lim->used < lim->cap ? lim->cap - lim->used : 0;
}

void eddy_lualimits_collect(struct eddy_lualimits *lim)
{
	size_t cap = lim->cap;

	lim->cap = 0;
	lua_gc(lim->L, LUA_GCCOLLECT, 0);
	lim->cap = cap;
	lim->hit = EDDY_LUALIMIT_NONE;
}

unsigned long eddy_lualimits_fail_nth(unsigned long n)
{
	unsigned long left = fail_countdown;

	fail_countdown = n;
	return left;
}

/* ---- what LuaJIT this is ------------------------------------------------------ */

static void probe_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	lua_sethook(L, NULL, 0, 0);
	lua_pushliteral(L, "probe");
	lua_error(L);
}

static int l_probe_arm(lua_State *L)
{
	lua_sethook(L, probe_hook, LUA_MASKCOUNT, 1000);
	return 0;
}

/* A loop compiled first, then run with a hook set: with the check hook it
 * stops within a few iterations, without it the compiled loop runs all of
 * them. Returns the iterations done. */
static const char probe_src[] = "local arm = ...\n"
                                "local t = { i = 0 }\n"
                                "local function spin(n) for i = 1, n do t.i = i end end\n"
                                "spin(1000) spin(1000)\n"
                                "arm()\n"
                                "pcall(spin, 1e7)\n"
                                "return t.i\n";

void eddy_lualimits_describe(char *buf, size_t size)
{
	lua_State *L = luaL_newstate();
	const char *version = "LuaJIT";
	bool on = false, checkhook = false;

	if (!L) {
		snprintf(buf, size, "%s", LUAJIT_VERSION);
		return;
	}
	luaL_openlibs(L);
	luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_ON); /* as handlers get it */
	lua_getglobal(L, "jit");                                   /* jit */
	lua_getfield(L, -1, "version");                            /* jit, version */
	if (lua_isstring(L, -1))
		version = lua_tostring(L, -1);
	lua_getfield(L, -2, "status"); /* jit, version, status */
	if (lua_pcall(L, 0, 1, 0) == 0)
		on = lua_toboolean(L, -1); /* jit, version, on */
	lua_pop(L, 1);
	if (on && luaL_loadbuffer(L, probe_src, sizeof probe_src - 1, "=probe") == 0) {
		lua_pushcfunction(L, l_probe_arm); /* ..., chunk, arm */
		if (lua_pcall(L, 1, 1, 0) == 0)
			checkhook = lua_tonumber(L, -1) < 1e7;
	}
	snprintf(buf, size, "%s, JIT %s%s", version, on ? "on" : "off",
	         checkhook ? ", checkhook" : "");
	lua_close(L);
}
