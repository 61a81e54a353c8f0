/* glob_match.h - the one wildcard syntax of the configuration (event type
 * routes, handler subscriptions, tenant topic patterns): '*' matches any
 * run of bytes, including none, and every other byte itself. */
#ifndef EDDY_GLOB_MATCH_H
#define EDDY_GLOB_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether s[0..len) matches the NUL-terminated pattern; s may be NULL
 * when len is 0. */
bool eddy_glob_match(const char *pattern, const char *s, size_t len);

/* The same for the pattern p[0..plen), where lit (a bitmap over p, bit i
 * in lit[i / 8], or NULL) marks bytes that are always literal, so that a
 * '*' spliced into a pattern from data (a tenant) is no wildcard. */
bool eddy_glob_match_lit(const char *p, size_t plen, const uint8_t *lit, const char *s, size_t len);

#endif
