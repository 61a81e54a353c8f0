/* fuzz_json_lua.c - JSON to Lua, as handlers get ev.data and ctx.get's
 * values: the input is parsed, pushed twice into a Lua state bound to the
 * shape constructors (the second push builds objects by them), every table
 * is checked against the JSON it came from (whether its original text can
 * be written back); then pushed lazily, built at once, and again built
 * after its call ended (from its text); and the state is collected. */
#include <stdint.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "json.h"
#include "lua_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct call {
	struct eddy_lua_json *lj;
	const struct eddy_json *v;
};

/* Visits every table under the value at the top of the stack. */
static void walk(lua_State *L, struct eddy_lua_json *lj, const void *array_mt, int depth)
{
	if (!lua_istable(L, -1) || depth > EDDY_JSON_MAX_DEPTH + 1)
		return;
	eddy_lua_json_original(lj, L, lua_gettop(L), array_mt);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		walk(L, lj, array_mt, depth + 1);
		lua_pop(L, 1);
	}
}

static int push(lua_State *L)
{
	struct call *c = lua_touserdata(L, 1);
	lua_newtable(L); /* json.array_mt */
	int mt = lua_gettop(L);
	eddy_lua_json_bind(c->lj, L, mt); /* lazy_mt */
	lua_pop(L, 1);
	/* twice: a shape seen again is built by its compiled constructor */
	for (int i = 0; i < 2; i++) {
		eddy_lua_json_push(c->lj, L, c->v, mt);
		walk(L, c->lj, lua_topointer(L, mt), 0);
		lua_pop(L, 1);
	}
	eddy_lua_json_push_lazy(c->lj, L, c->v, mt);
	eddy_lua_json_original(c->lj, L, lua_gettop(L), lua_topointer(L, mt));
	eddy_lua_json_materialize(L, -1);
	walk(L, c->lj, lua_topointer(L, mt), 0);
	lua_pop(L, 1);
	eddy_lua_json_push_lazy(c->lj, L, c->v, mt); /* kept past its call */
	eddy_lua_json_detach(c->lj, L);
	eddy_lua_json_forget(c->lj);
	eddy_lua_json_materialize(L, -1);
	walk(L, c->lj, lua_topointer(L, mt), 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct eddy_json_doc *doc;
	static struct eddy_lua_json *lj;
	if ((!doc && !(doc = eddy_json_doc_new())) || (!lj && !(lj = eddy_lua_json_new())))
		return 0;
	char err[512];
	const struct eddy_json *v = eddy_json_parse(doc, (const char *)data, size, err, sizeof err);
	if (!v)
		return 0;
	lua_State *L = luaL_newstate();
	if (!L)
		return 0;
	struct call c = {lj, v};
	eddy_lua_json_forget(lj);
	lua_cpcall(L, push, &c);
	eddy_lua_json_forget(lj);
	lua_close(L);
	return 0;
}
