/* lua_preload.c - eddy's Lua modules into package.preload. */
#include "lua_preload.h"

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "lua_modules.h"

/* package.preload's loader of one module (upvalue 1: its entry of
 * eddy_lua_modules): compiles the source when require first asks for it,
 * then runs it as require would have run a preloaded chunk, with the
 * module's name. Errors name the source file: "eddy.json" was
 * lua/eddy/json.lua. */
static int l_load_module(lua_State *L)
{
	const struct eddy_lua_module *m = lua_touserdata(L, lua_upvalueindex(1));
	char chunk[256];

	snprintf(chunk, sizeof chunk - 4, "@lua/%s", m->name);
	for (char *p = chunk + 5; *p; p++)
		if (*p == '.')
			*p = '/';
	strcat(chunk, ".lua");
	if (luaL_loadbuffer(L, m->source, m->len, chunk) != 0)
		return lua_error(L);
	lua_insert(L, 1);                  /* chunk, name */
	lua_call(L, lua_gettop(L) - 1, 1); /* module */
	return 1;
}

/* Each module is compiled on its first require only: a state made for one
 * handler file compiles what it uses (the sandbox and eddy.json), not the
 * rule compiler. */
void eddy_lua_preload(lua_State *L)
{
	lua_getglobal(L, "package");    /* package */
	lua_getfield(L, -1, "preload"); /* package, preload */
	for (const struct eddy_lua_module *m = eddy_lua_modules; m->name; m++) {
		lua_pushlightuserdata(L, (void *)m);   /* package, preload, m */
		lua_pushcclosure(L, l_load_module, 1); /* package, preload, loader */
		lua_setfield(L, -2, m->name);          /* package, preload */
	}
	lua_pop(L, 2);
}
