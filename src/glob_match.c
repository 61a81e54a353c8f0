/* glob_match.c - '*' wildcard matching without backtracking blow-up (glob_match.h). */
#include "glob_match.h"

#include <string.h>

static bool is_star(const char *p, const uint8_t *lit, size_t i)
{
	return p[i] == '*' && !(lit && ((lit[i / 8] >> (i % 8)) & 1));
}

/* Iterative: on a mismatch only the most recent '*' is retried one byte
 * further, which is enough because an earlier star never needs to cover
 * more (O(plen*len) at worst, no exponential backtracking). */
bool eddy_glob_match_lit(const char *p, size_t plen, const uint8_t *lit, const char *s, size_t len)
{
	size_t pi = 0, si = 0, star_p = 0, star_s = 0;
	bool star = false;

	while (si < len) {
		if (pi < plen && is_star(p, lit, pi)) {
			star = true;
			star_p = ++pi;
			star_s = si;
		} else if (pi < plen && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star) {
			pi = star_p;
			si = ++star_s;
		} else {
			return false;
		}
	}
	while (pi < plen && is_star(p, lit, pi))
		pi++;
	return pi == plen;
}

bool eddy_glob_match(const char *pattern, const char *s, size_t len)
{
	return eddy_glob_match_lit(pattern, strlen(pattern), NULL, s ? s : "", s ? len : 0);
}
