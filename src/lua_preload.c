/* lua_preload.c - eddy's Lua modules into package.preload. */
#include "lua_preload.h"

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "lua_modules.h"

void eddy_lua_preload(lua_State *L)
{
	lua_getglobal(L, "package");    /* package */
	lua_getfield(L, -1, "preload"); /* package, preload */
	for (const struct eddy_lua_module *m = eddy_lua_modules; m->name; m++) {
		/* "eddy.json" was lua/eddy/json.lua: errors name that file */
		char chunk[256];
		snprintf(chunk, sizeof chunk - 4, "@lua/%s", m->name);
		for (char *p = chunk + 5; *p; p++)
			if (*p == '.')
				*p = '/';
		strcat(chunk, ".lua");
		if (luaL_loadbuffer(L, m->source, m->len, chunk) != 0)
			lua_error(L);         /* package, preload, loader */
		lua_setfield(L, -2, m->name); /* package, preload */
	}
	lua_pop(L, 2);
}
