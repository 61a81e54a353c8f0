/* test_rules.c - rule files as the host reads them: the YAML tree's
 * places (plain, quoted and block scalars), what it refuses, and the
 * regexes of matches(). */
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "rules.h"
#include "test.h"

/* Protected: the tree of the YAML text at index 1, left as the result. */
static int l_tree(lua_State *L)
{
	size_t len;
	const char *yaml = lua_tolstring(L, 1, &len);
	eddy_rules_push_yaml(L, "r.yaml", yaml, len);
	return 1;
}

/* The tree of yaml in the global "tree", or the error text in err. */
static int load(lua_State *L, const char *yaml, char *err, size_t err_size)
{
	lua_settop(L, 0);
	lua_pushcfunction(L, l_tree);
	lua_pushstring(L, yaml);
	if (lua_pcall(L, 1, 1, 0) != 0) {
		snprintf(err, err_size, "%s", lua_tostring(L, -1));
		return -1;
	}
	lua_setglobal(L, "tree");
	return 0;
}

/* The value of a Lua expression over the global tree, as a string. */
static const char *eval(lua_State *L, const char *expr)
{
	char chunk[512];
	snprintf(chunk, sizeof chunk, "return tostring(%s)", expr);
	if (luaL_dostring(L, chunk) != 0)
		return lua_tostring(L, -1);
	return lua_tostring(L, -1);
}

static void test_places(lua_State *L)
{
	char err[256] = "";
	const char *yaml = "- name: a\n"
	                   "  when: { if: \"data.x > 1\" }\n"
	                   "  summary: 'x'\n"
	                   "  description: |\n"
	                   "      two\n"
	                   "      lines\n";

	CHECK(load(L, yaml, err, sizeof err) == 0);
	CHECK_STR(eval(L, "tree.t"), "seq");
	CHECK_STR(eval(L, "tree.items[1].pairs[1].k.s"), "name");
	CHECK_STR(eval(L, "tree.items[1].pairs[1].v.col"), "9");
	/* a double-quoted scalar in a flow mapping: its text starts after the quote */
	CHECK_STR(eval(L, "tree.items[1].pairs[2].v.pairs[1].v.s"), "data.x > 1");
	CHECK_STR(eval(L, "tree.items[1].pairs[2].v.pairs[1].v.line"), "2");
	CHECK_STR(eval(L, "tree.items[1].pairs[2].v.pairs[1].v.col"), "15");
	CHECK_STR(eval(L, "tree.items[1].pairs[2].v.pairs[1].v.ccol"), "16");
	CHECK_STR(eval(L, "tree.items[1].pairs[2].v.pairs[1].v.style"), "double");
	CHECK_STR(eval(L, "tree.items[1].pairs[3].v.ccol"), "13");
	/* a literal block: the next line, at its indentation */
	CHECK_STR(eval(L, "tree.items[1].pairs[4].v.s"), "two\nlines\n");
	CHECK_STR(eval(L, "tree.items[1].pairs[4].v.style"), "literal");
	CHECK_STR(eval(L, "tree.items[1].pairs[4].v.cline"), "5");
	CHECK_STR(eval(L, "tree.items[1].pairs[4].v.ccol"), "7");
	CHECK_STR(eval(L, "tree.items[1].pairs[4].v.indent"), "6");

	CHECK(load(L, "", err, sizeof err) == 0);
	CHECK_STR(eval(L, "tree"), "nil");
}

static void test_refused(lua_State *L)
{
	char err[256] = "";

	CHECK(load(L, "- name: a\n  when: [\n", err, sizeof err) == -1);
	CHECK(strncmp(err, "r.yaml:3:1: ", 12) == 0);
	CHECK(load(L, "- &x name: a\n- *x\n", err, sizeof err) == -1);
	CHECK(strstr(err, "anchors (&name) are not supported") != NULL);
	CHECK(load(L, "a: 1\n---\nb: 2\n", err, sizeof err) == -1);
	CHECK_STR(err, "r.yaml:2:1: one YAML document per rule file");
	char deep[200];
	memset(deep, '[', 100);
	deep[100] = '\0';
	CHECK(load(L, deep, err, sizeof err) == -1);
	CHECK(strstr(err, "nested deeper than 64 levels") != NULL);
}

static void test_regex(lua_State *L)
{
	lua_settop(L, 0);
	eddy_rules_push_regex_api(L);
	lua_setglobal(L, "re");
	CHECK_STR(eval(L, "re.check_regex('^ORD-[0-9]+$')"), "true");
	CHECK_STR(eval(L, "select(2, re.check_regex('a('))"), "missing ) at end of pattern");
	CHECK_STR(eval(L, "re.regex_match('ORD-12', '^ORD-[0-9]+$')"), "true");
	CHECK_STR(eval(L, "re.regex_match('ORD-x', '^ORD-[0-9]+$')"), "false");
	/* ECMA-262: \\d is ASCII digits only */
	CHECK_STR(eval(L, "re.regex_match('\\xd9\\xa3', '^\\\\d$')"), "false");
	CHECK_STR(eval(L, "re.regex_match(5, 'x')"), "false");
	CHECK_STR(eval(L, "re.regex_match('a(', 'a(')"), "false");
}

int main(void)
{
	lua_State *L = luaL_newstate();
	luaL_openlibs(L);
	test_places(L);
	test_refused(L);
	test_regex(L);
	lua_close(L);
	return test_report("test_rules");
}
