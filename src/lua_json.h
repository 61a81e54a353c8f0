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
 * shape (the member names in order), kept in L's registry, and
 * eddy_lua_json_push_lazy make lazy objects in L; call it once for each
 * new state, before anything is pushed into it, with json.array_mt at
 * stack index array_mt. Pushes the metatable of L's lazy objects: its
 * __index, called with an object alone, builds that object (eddy.sandbox
 * and eddy.json do so before next, rawget, cjson, ... see it). Objects
 * pushed into any other state are built member by member, never lazily.
 * Raises on memory errors. */
void eddy_lua_json_bind(struct eddy_lua_json *lj, lua_State *L, int array_mt);

/* Pushes v onto L: objects become tables, arrays tables with the
 * metatable at stack index mt (json.array_mt), null json.null (the
 * lightuserdata NULL, as cjson.null), numbers doubles (integers beyond
 * 2^53 lose precision). With lj, every table is remembered in it (NULL:
 * none). Raises on memory errors: call it in protected mode. */
void eddy_lua_json_push(struct eddy_lua_json *lj, lua_State *L, const struct eddy_json *v, int mt);

/* As eddy_lua_json_push, except that a non-empty object that kept its text
 * becomes a lazy object: an empty table whose metatable fills it with its
 * members (as eddy_lua_json_push would) on the first read or write of a
 * key, so an object nobody looks into costs one table. Only in the bound
 * state, with lj. Before the nodes go, eddy_lua_json_detach must keep the
 * text of those not built yet. */
void eddy_lua_json_push_lazy(struct eddy_lua_json *lj, lua_State *L, const struct eddy_json *v,
                             int mt);
/* At the end of a call, before eddy_lua_json_forget: keeps the text of
 * each lazy object of the call still not built (the handler may have kept
 * it), so it can be built later without its node. Raises on memory errors
 * (an object whose text was not kept raises when used). */
void eddy_lua_json_detach(struct eddy_lua_json *lj, lua_State *L);
/* Builds the table at stack index idx when it is a lazy object, before C
 * code reads it raw (lua_next); anything else is left as it is. Raises on
 * memory errors. */
void eddy_lua_json_materialize(lua_State *L, int idx);

/* The node the table at stack index idx was converted from in this call,
 * when the node kept its text and the table would still be written as the
 * same JSON (a lazy object not built yet always does); NULL otherwise.
 * array_mt is json.array_mt (lua_topointer):
 * an empty table is [] only with it. Raises on memory errors only. */
const struct eddy_json *eddy_lua_json_original(const struct eddy_lua_json *lj, lua_State *L,
                                               int idx, const void *array_mt);

#endif
