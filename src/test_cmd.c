/* test_cmd.c - eddy test: busted specs of handlers, run in this process
 * with the test kit (eddy.testing) on the path, so the handlers under test
 * run on eddy's own pipeline and sandbox. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lualib.h>

#include "cli.h"
#include "testing.h"

/* Where Debian's lua-busted and its C modules (lfs, term, system) are;
 * the eddy executable exports the Lua API they link against. */
#define LUA_DIRS                                                                                   \
	";/usr/local/share/lua/5.1/?.lua;/usr/local/share/lua/5.1/?/init.lua"                      \
	";/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua"
#define LUA_CDIRS ";/usr/local/lib/lua/5.1/?.so;/usr/lib/x86_64-linux-gnu/lua/5.1/?.so"

#define DEFAULT_SPECS "handlers/spec"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: eddy test [BUSTED OPTIONS] [PATH...]\n"
	        "  PATH   spec files (*_spec.lua) or folders of them (default: " DEFAULT_SPECS ")\n"
	        "Runs busted with the handler test kit: require \"eddy.testing\" in a spec\n"
	        "(docs/handlers.md, \"Testing handlers\"). Other arguments are busted's own\n"
	        "options (-o TAP, --filter PATTERN, ...).\n"
	        "exit status: 0 every spec passed, 1 some failed, 2 errors of use\n");
}

/* Whether any argument names an existing file or folder: the specs to run.
 * Without one, the default folder is added. */
static int names_a_path(int argc, char **argv)
{
	struct stat st;
	for (int i = 1; i < argc; i++)
		if (argv[i][0] != '-' && stat(argv[i], &st) == 0)
			return 1;
	return 0;
}

/* Protected: the state's libraries, paths, kit and arg, then busted's
 * runner as /usr/bin/busted calls it. */
static int run_busted(lua_State *L)
{
	int argc = (int)lua_tointeger(L, 1);
	char **argv = lua_touserdata(L, 2);
	int n = 0;

	luaL_openlibs(L);
	lua_getglobal(L, "package"); /* package */
	lua_getfield(L, -1, "path"); /* package, path */
	lua_pushliteral(L, LUA_DIRS);
	lua_concat(L, 2);             /* package, path..dirs */
	lua_setfield(L, -2, "path");  /* package */
	lua_getfield(L, -1, "cpath"); /* package, cpath */
	lua_pushliteral(L, LUA_CDIRS);
	lua_concat(L, 2);             /* package, cpath..dirs */
	lua_setfield(L, -2, "cpath"); /* package */
	lua_pop(L, 1);
	eddy_testing_preload(L);

	lua_createtable(L, argc, 1); /* arg */
	lua_pushliteral(L, "eddy test");
	lua_rawseti(L, -2, 0);
	for (int i = 1; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, ++n);
	}
	if (!names_a_path(argc, argv)) {
		lua_pushliteral(L, DEFAULT_SPECS);
		lua_rawseti(L, -2, ++n);
	}
	lua_setglobal(L, "arg");

	/* the chunk's name is what busted calls itself in messages; as a file
	 * name, busted reports failures by raising instead of exiting */
	static const char runner[] = "require 'busted.runner'({ standalone = false })";
	if (luaL_loadbuffer(L, runner, sizeof runner - 1, "@eddy") != 0)
		return lua_error(L);
	lua_call(L, 0, 0);
	return 0;
}

int eddy_cmd_test(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
	}
	lua_State *L = luaL_newstate();
	if (!L) {
		fprintf(stderr, "eddy: out of memory\n");
		return 2;
	}
	int rc = 0;
	lua_pushcfunction(L, run_busted);
	lua_pushinteger(L, argc);
	lua_pushlightuserdata(L, argv);
	if (lua_pcall(L, 2, 0, 0) != 0) {
		/* busted raises nothing when specs failed: it has said so */
		if (lua_isstring(L, -1)) {
			const char *msg = lua_tostring(L, -1);
			fprintf(stderr, "eddy: %s\n", msg);
			if (strstr(msg, "module 'busted.runner' not found"))
				fprintf(stderr,
				        "eddy: eddy test needs busted for Lua 5.1 (Debian: apt-get "
				        "install lua-busted)\n");
		}
		rc = 1;
	}
	fflush(stdout);
	lua_close(L);
	return rc;
}
