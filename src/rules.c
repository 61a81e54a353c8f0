/* rules.c - rule files for the handler host: the folder's *.yaml files,
 * their YAML as Lua trees with every scalar's place, and matches()'s
 * regexes. */
#include "rules.h"
#include "readfile.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <yaml.h>

#include "config.h"
#include "schema/regex.h"

/* How deep collections nest in a rule file (a rule needs 3 levels). As in
 * config.c: libyaml's scanner is quadratic in the depth of flow
 * collections. */
#define MAX_DEPTH 64

const char *eddy_rules_dir(const struct eddy_config *conf, bool *optional)
{
	*optional = !conf->rules;
	return conf->rules ? conf->rules : "rules";
}

int eddy_rules_list(const char *dir, char ***names, size_t *n, char *errstr, size_t errstr_size)
{
	return eddy_list_files(dir, ".yaml", ".test.yaml", names, n, errstr, errstr_size);
}

/* ---- YAML to a Lua tree ------------------------------------------------ */

/* One open collection while the events of a document arrive. */
struct level {
	bool map;
	bool has_key; /* map: a key waits above the table for its value */
	int n;        /* items or pairs so far */
};

/* What the parse needs to free when a Lua error leaves it: the parser and
 * the event in hand, in a userdata whose __gc runs if the error escapes. */
struct parse {
	yaml_parser_t parser;
	yaml_event_t ev;
	bool has_parser, has_event;
};

static int l_parse_gc(lua_State *L)
{
	struct parse *p = lua_touserdata(L, 1);
	if (p->has_event)
		yaml_event_delete(&p->ev);
	if (p->has_parser)
		yaml_parser_delete(&p->parser);
	p->has_event = p->has_parser = false;
	return 0;
}

/* Sets node.line and node.col (1-based) from a mark, on the table on top. */
static void set_place(lua_State *L, const yaml_mark_t *m)
{
	lua_pushinteger(L, (lua_Integer)m->line + 1);
	lua_setfield(L, -2, "line");
	lua_pushinteger(L, (lua_Integer)m->column + 1);
	lua_setfield(L, -2, "col");
}

/* Where a block scalar's text starts: the line after its indicator, at
 * the indentation of its first non-empty line. */
static void block_start(const char *text, size_t len, const yaml_mark_t *m, size_t *line,
                        size_t *indent)
{
	size_t i = m->index, ln = m->line;

	while (i < len && text[i] != '\n')
		i++;
	for (;;) {
		if (i >= len) {
			*line = ln + 1;
			*indent = 0;
			return;
		}
		i++; /* past the newline */
		ln++;
		size_t sp = 0;
		while (i + sp < len && text[i + sp] == ' ')
			sp++;
		if (i + sp < len && text[i + sp] != '\n' && text[i + sp] != '\r') {
			*line = ln;
			*indent = sp;
			return;
		}
		i += sp;
		while (i < len && text[i] != '\n')
			i++;
	}
}

/* Pushes the scalar of ev as { t = "str", s, style, line, col, cline,
 * ccol, indent }. */
static void push_scalar(lua_State *L, const yaml_event_t *ev, const char *text, size_t len)
{
	static const char *const styles[] = {
	    [YAML_ANY_SCALAR_STYLE] = "plain",
	    [YAML_PLAIN_SCALAR_STYLE] = "plain",
	    [YAML_SINGLE_QUOTED_SCALAR_STYLE] = "single",
	    [YAML_DOUBLE_QUOTED_SCALAR_STYLE] = "double",
	    [YAML_LITERAL_SCALAR_STYLE] = "literal",
	    [YAML_FOLDED_SCALAR_STYLE] = "folded",
	};
	const yaml_mark_t *m = &ev->start_mark;
	yaml_scalar_style_t style = ev->data.scalar.style;
	size_t cline = m->line, ccol = m->column, indent = 0;

	if (style > YAML_FOLDED_SCALAR_STYLE)
		style = YAML_PLAIN_SCALAR_STYLE;
	if (style == YAML_SINGLE_QUOTED_SCALAR_STYLE || style == YAML_DOUBLE_QUOTED_SCALAR_STYLE) {
		ccol++;
	} else if (style == YAML_LITERAL_SCALAR_STYLE || style == YAML_FOLDED_SCALAR_STYLE) {
		block_start(text, len, m, &cline, &indent);
		ccol = indent;
	}
	lua_createtable(L, 0, 9); /* node */
	lua_pushliteral(L, "str");
	lua_setfield(L, -2, "t");
	lua_pushlstring(L, (const char *)ev->data.scalar.value, ev->data.scalar.length);
	lua_setfield(L, -2, "s");
	lua_pushstring(L, styles[style]);
	lua_setfield(L, -2, "style");
	set_place(L, m);
	lua_pushinteger(L, (lua_Integer)cline + 1);
	lua_setfield(L, -2, "cline");
	lua_pushinteger(L, (lua_Integer)ccol + 1);
	lua_setfield(L, -2, "ccol");
	lua_pushinteger(L, (lua_Integer)indent);
	lua_setfield(L, -2, "indent");
}

/* A finished node is on top of the stack: it becomes an item or a key or
 * a value of the collection it is in (lv, depth levels open), or stays as
 * the document's root. */
static void attach(lua_State *L, struct level *lv, int depth)
{
	if (depth == 0)
		return;
	struct level *up = &lv[depth - 1];
	if (!up->map) {                       /* seq, node */
		lua_getfield(L, -2, "items"); /* seq, node, items */
		lua_insert(L, -2);            /* seq, items, node */
		lua_rawseti(L, -2, ++up->n);  /* seq, items */
		lua_pop(L, 1);
		return;
	}
	if (!up->has_key) { /* map, key: the value comes next */
		up->has_key = true;
		return;
	}
	lua_createtable(L, 0, 2);     /* map, key, value, pair */
	lua_insert(L, -2);            /* map, key, pair, value */
	lua_setfield(L, -2, "v");     /* map, key, pair */
	lua_insert(L, -2);            /* map, pair, key */
	lua_setfield(L, -2, "k");     /* map, pair */
	lua_getfield(L, -2, "pairs"); /* map, pair, pairs */
	lua_insert(L, -2);            /* map, pairs, pair */
	lua_rawseti(L, -2, ++up->n);  /* map, pairs */
	lua_pop(L, 1);
	up->has_key = false;
}

void eddy_rules_push_yaml(lua_State *L, const char *path, const char *text, size_t len)
{
	struct level lv[MAX_DEPTH];
	int depth = 0, docs = 0, base = lua_gettop(L);
	struct parse *p = lua_newuserdata(L, sizeof *p); /* parse */

	memset(p, 0, sizeof *p);
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, l_parse_gc);
	lua_setfield(L, -2, "__gc");
	lua_setmetatable(L, -2);
	if (!yaml_parser_initialize(&p->parser))
		luaL_error(L, "%s: out of memory", path);
	p->has_parser = true;
	yaml_parser_set_input_string(&p->parser, (const unsigned char *)text, len);
	lua_pushnil(L); /* parse, root (nil: an empty file) */
	for (;;) {
		if (!yaml_parser_parse(&p->parser, &p->ev)) {
			const yaml_mark_t *m = &p->parser.problem_mark;
			luaL_error(L, "%s:%d:%d: %s%s%s", path, (int)m->line + 1,
			           (int)m->column + 1,
			           p->parser.problem ? p->parser.problem : "invalid YAML",
			           p->parser.context ? " " : "",
			           p->parser.context ? p->parser.context : "");
		}
		p->has_event = true;
		const yaml_event_t *ev = &p->ev;
		const yaml_mark_t *m = &ev->start_mark;
		switch (ev->type) {
		case YAML_STREAM_END_EVENT:
			p->has_event = p->has_parser = false;
			yaml_event_delete(&p->ev);
			yaml_parser_delete(&p->parser);
			lua_remove(L, base + 1); /* root */
			return;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				luaL_error(L, "%s:%d:%d: one YAML document per rule file", path,
				           (int)m->line + 1, (int)m->column + 1);
			lua_pop(L, 1); /* parse: the root node comes next */
			break;
		case YAML_ALIAS_EVENT:
			luaL_error(L, "%s:%d:%d: aliases (*name) are not supported in rule files",
			           path, (int)m->line + 1, (int)m->column + 1);
			break;
		case YAML_SCALAR_EVENT:
			if (ev->data.scalar.anchor)
				luaL_error(
				    L, "%s:%d:%d: anchors (&name) are not supported in rule files",
				    path, (int)m->line + 1, (int)m->column + 1);
			push_scalar(L, ev, text, len);
			attach(L, lv, depth);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT: {
			bool map = ev->type == YAML_MAPPING_START_EVENT;
			if (depth == MAX_DEPTH)
				luaL_error(L, "%s:%d:%d: nested deeper than %d levels", path,
				           (int)m->line + 1, (int)m->column + 1, MAX_DEPTH);
			lua_createtable(L, 0, 4); /* ..., node */
			lua_pushstring(L, map ? "map" : "seq");
			lua_setfield(L, -2, "t");
			set_place(L, m);
			lua_newtable(L);
			lua_setfield(L, -2, map ? "pairs" : "items");
			lv[depth++] = (struct level){.map = map};
			break;
		}
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			attach(L, lv, --depth);
			break;
		default:
			break;
		}
		p->has_event = false;
		yaml_event_delete(&p->ev);
	}
}

/* ---- regexes ----------------------------------------------------------- */

struct regex_ud {
	struct eddy_regex *re;
};

static int l_regex_gc(lua_State *L)
{
	struct regex_ud *u = lua_touserdata(L, 1);
	eddy_regex_free(u->re);
	u->re = NULL;
	return 0;
}

/* The compiled pattern at index 1 from the cache (upvalue 1), compiled
 * and kept on first use; NULL with the reason pushed when it does not
 * compile. */
static struct eddy_regex *regex_of(lua_State *L, int pattern)
{
	size_t len;
	const char *s = lua_tolstring(L, pattern, &len);
	char err[256];

	lua_pushvalue(L, pattern);
	lua_rawget(L, lua_upvalueindex(1)); /* ud | nil */
	if (!lua_isnil(L, -1)) {
		struct regex_ud *u = lua_touserdata(L, -1);
		lua_pop(L, 1);
		return u->re;
	}
	lua_pop(L, 1);
	struct regex_ud *u = lua_newuserdata(L, sizeof *u); /* ud */
	u->re = NULL;
	lua_pushvalue(L, lua_upvalueindex(2)); /* ud, mt */
	lua_setmetatable(L, -2);
	if (!(u->re = eddy_regex_compile(s, len, err, sizeof err))) {
		lua_pop(L, 1);
		lua_pushstring(L, err);
		return NULL;
	}
	lua_pushvalue(L, pattern); /* ud, pattern */
	lua_insert(L, -2);         /* pattern, ud */
	lua_rawset(L, lua_upvalueindex(1));
	return u->re;
}

static int l_check_regex(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TSTRING);
	if (!regex_of(L, 1)) { /* msg */
		lua_pushnil(L);
		lua_insert(L, -2);
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* Never raises on the values a rule gives it: false for what is not a
 * match (a non-string, a pattern that does not compile, a match that hit
 * PCRE2's limits). */
static int l_regex_match(lua_State *L)
{
	size_t len;

	if (lua_type(L, 1) != LUA_TSTRING || lua_type(L, 2) != LUA_TSTRING) {
		lua_pushboolean(L, 0);
		return 1;
	}
	const char *s = lua_tolstring(L, 1, &len);
	struct eddy_regex *re = regex_of(L, 2);
	lua_pushboolean(L, re && eddy_regex_search(re, s, len) == 1);
	return 1;
}

void eddy_rules_push_regex_api(lua_State *L)
{
	lua_createtable(L, 0, 2); /* api */
	lua_newtable(L);          /* api, cache */
	lua_createtable(L, 0, 1); /* api, cache, mt */
	lua_pushcfunction(L, l_regex_gc);
	lua_setfield(L, -2, "__gc");
	lua_pushvalue(L, -2); /* api, cache, mt, cache */
	lua_pushvalue(L, -2); /* api, cache, mt, cache, mt */
	lua_pushcclosure(L, l_check_regex, 2);
	lua_setfield(L, -4, "check_regex"); /* api, cache, mt */
	lua_pushcclosure(L, l_regex_match, 2);
	lua_setfield(L, -2, "regex_match"); /* api */
}
