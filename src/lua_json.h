/* lua_json.h - values between json.h's tree and a Lua state: a JSON value
 * pushed as Lua values, and the check that a table made from JSON still
 * reads as that JSON, so its original text can be written instead of
 * encoding the table again. */
#ifndef EDDY_LUA_JSON_H
#define EDDY_LUA_JSON_H

#include <lua.h>

#include "json.h"

/* The tables converted from JSON arrays and objects during one call, each
 * with the node it was made from. The nodes are borrowed from the caller
 * of the call: forget them (eddy_lua_json_forget) before it returns. */
struct eddy_lua_json;

/* NULL when out of memory. */
struct eddy_lua_json *eddy_lua_json_new(void);
/* NULL is a no-op. */
void eddy_lua_json_destroy(struct eddy_lua_json *lj);
/* Forgets every table remembered so far (at the start and end of a call). */
void eddy_lua_json_forget(struct eddy_lua_json *lj);
/* Lets eddy_lua_json_push build objects in L by constructors compiled per
 * shape (the member names in order), kept in L's registry; call it once
 * for each new state, before anything is pushed into it. Objects pushed
 * into any other state are built member by member. */
void eddy_lua_json_bind(struct eddy_lua_json *lj, lua_State *L);

/* Pushes v onto L: objects become tables, arrays tables with the
 * metatable at stack index mt (json.array_mt), null json.null (the
 * lightuserdata NULL, as cjson.null), numbers doubles (integers beyond
 * 2^53 lose precision). With lj, every table is remembered in it (NULL:
 * none). Raises on memory errors: call it in protected mode. */
void eddy_lua_json_push(struct eddy_lua_json *lj, lua_State *L, const struct eddy_json *v, int mt);

/* The node the table at stack index idx was converted from in this call,
 * when the node kept its text and the table would still be written as the
 * same JSON; NULL otherwise. array_mt is json.array_mt (lua_topointer):
 * an empty table is [] only with it. Raises on memory errors only. */
const struct eddy_json *eddy_lua_json_original(const struct eddy_lua_json *lj, lua_State *L,
                                               int idx, const void *array_mt);

#endif
