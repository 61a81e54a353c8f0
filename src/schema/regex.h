/* regex.h - ECMA-262 regular expressions (JSON Schema "pattern",
 * "patternProperties", format "regex") through PCRE2. */
#ifndef EDDY_REGEX_H
#define EDDY_REGEX_H

#include <stddef.h>

struct eddy_regex;

/* Compiles an ECMA-262 pattern (UTF-8, len bytes). NULL with a one-line
 * reason in errstr when it is not a valid ECMA-262 pattern, or with
 * "out of memory" when that is why. */
struct eddy_regex *eddy_regex_compile(const char *pattern, size_t len, char *errstr,
                                      size_t errstr_size);
void eddy_regex_free(struct eddy_regex *re);

/* Searches s (UTF-8, len bytes) anywhere, like RegExp.prototype.test:
 * 1 found, 0 not found, -1 the match could not complete (resource limit). */
int eddy_regex_search(struct eddy_regex *re, const char *s, size_t len);

/* The pattern as given. */
const char *eddy_regex_pattern(const struct eddy_regex *re);

#endif
