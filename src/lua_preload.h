/* lua_preload.h - eddy's own Lua modules (lua_modules.h) made loadable
 * by require in a state. */
#ifndef EDDY_LUA_PRELOAD_H
#define EDDY_LUA_PRELOAD_H

#include <lua.h>

/* Puts a loader of every module of eddy_lua_modules into package.preload
 * of L (the package library open), so require("eddy.json") compiles and
 * runs it on first use; errors name the source file
 * ("lua/eddy/json.lua:12: ..."). Raises on a memory error: call it in
 * protected mode. */
void eddy_lua_preload(lua_State *L);

#endif
