/* rules.h - the host side of alert rule files (rules/ *.yaml): which files
 * a folder holds, each file's YAML as a Lua tree that keeps every scalar's
 * place (lua/eddy/rules.lua checks and compiles it), and the regexes of
 * matches() through the schema validator's ECMA-262 regexes. */
#ifndef EDDY_RULES_H
#define EDDY_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include <lua.h>

struct eddy_config;

/* The rule folder of conf: rules: when set (*optional false: it must
 * exist), else "rules" (*optional true: a missing one holds no rules). */
const char *eddy_rules_dir(const struct eddy_config *conf, bool *optional);

/* The rule files of dir: its *.yaml regular files but *.test.yaml and
 * hidden ones, sorted by name. Returns 0 with *names (file names; the
 * caller frees each and the array), or -1 with errstr ("rules/: No such
 * file or directory"). */
int eddy_rules_list(const char *dir, char ***names, size_t *n, char *errstr, size_t errstr_size);

/* Pushes the YAML document of text (len bytes, of the file path) as the
 * tree lua/eddy/rules.lua reads (nil for an empty file). Raises
 * "path:line:col: message" for YAML it cannot read: a syntax error, an
 * anchor or alias, nesting deeper than 64, more than one document. */
void eddy_rules_push_yaml(lua_State *L, const char *path, const char *text, size_t len);

/* Pushes the table { check_regex = f, regex_match = f } for rule_expr:
 * check_regex(pattern) -> true | nil, message (ECMA-262 syntax, as JSON
 * Schema's pattern), regex_match(subject, pattern) -> boolean, each
 * pattern compiled once and kept as long as the functions live. Raises on
 * memory errors. */
void eddy_rules_push_regex_api(lua_State *L);

#endif
