/* limits_bench.c - what arming the CPU-time and memory limits around one
 * protected call costs: lua_pcall of an empty Lua function, bare and
 * between eddy_lualimits_arm and eddy_lualimits_disarm (1000 ms, 256 MB).
 *
 * usage: limits_bench [CALLS] */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "lualimits.h"

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Best of ten rounds of n calls, in ns per call. */
static double run(struct eddy_lualimits *lim, lua_State *L, long n, int armed)
{
	char err[256];
	double best = 0;

	for (int round = 0; round < 10; round++) {
		double t0 = now_ns();
		for (long i = 0; i < n; i++) {
			lua_pushvalue(L, 1);
			if (armed && eddy_lualimits_arm(lim, err, sizeof err) != 0) {
				fprintf(stderr, "limits_bench: %s\n", err);
				exit(1);
			}
			int rc = lua_pcall(L, 0, 0, 0);
			if (armed)
				eddy_lualimits_disarm(lim);
			if (rc != 0) {
				fprintf(stderr, "limits_bench: %s\n", lua_tostring(L, -1));
				exit(1);
			}
		}
		double t = (now_ns() - t0) / (double)n;
		if (round == 0 || t < best)
			best = t;
	}
	return best;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000000;
	struct eddy_lualimits *lim = eddy_lualimits_new(1000, (size_t)256 << 20);
	lua_State *L = lim ? eddy_lualimits_newstate(lim) : NULL;

	if (!L || n < 10 || luaL_loadstring(L, "local x = 1") != 0) {
		fprintf(stderr, "limits_bench: cannot start\n");
		return 1;
	}
	n /= 10;
	for (int i = 0; i < 3; i++) { /* interleaved: the machine's drift hits both */
		double off = run(lim, L, n, 0), on = run(lim, L, n, 1);
		printf("limits_bench: lua_pcall of an empty function: %5.1f ns bare, %5.1f ns with "
		       "the limits armed (%+.1f ns)\n",
		       off, on, on - off);
	}
	eddy_lualimits_close(lim);
	eddy_lualimits_destroy(lim);
	return 0;
}
