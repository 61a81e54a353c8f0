/* testing.h - the C side of the handler test kit (lua/eddy/testing.lua):
 * a real pipeline (config, envelope, schemas, sandboxed handlers, SQLite
 * store) driven from a plain Lua state, with every action recorded. */
#ifndef EDDY_TESTING_H
#define EDDY_TESTING_H

#include <lua.h>

/* Puts eddy's Lua modules (lua/eddy/ *.lua, "eddy.testing" among them) and
 * the kit's C functions ("eddy.testing.core") into package.preload of L, a
 * plain state with the standard libraries open. Raises on memory errors. */
void eddy_testing_preload(lua_State *L);

#endif
