/* test_glob_match.c - '*' wildcards: anchoring, runs of stars, patterns that
 * would backtrack exponentially, and bytes marked literal. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "glob_match.h"
#include "test.h"

static bool glob(const char *pattern, const char *s)
{
	return eddy_glob_match(pattern, s, strlen(s));
}

static void test_glob(void)
{
	char many_a[200], many_star[120];

	CHECK(glob("*", ""));
	CHECK(glob("*", "anything"));
	CHECK(glob("a*", "a"));
	CHECK(glob("a*", "abc"));
	CHECK(!glob("a*", "ba"));
	CHECK(glob("*b", "b"));
	CHECK(glob("*b", "aab"));
	CHECK(!glob("*b", "ba"));
	CHECK(glob("a*b*c", "abc"));
	CHECK(glob("a*b*c", "a-b-c"));
	CHECK(glob("a*b*c", "abbbcbc"));
	CHECK(!glob("a*b*c", "acb"));
	CHECK(!glob("a*b*c", "abcd"));
	CHECK(glob("orders", "orders"));
	CHECK(!glob("orders", "orders2"));
	CHECK(!glob("orders", "order"));
	CHECK(glob("", ""));
	CHECK(!glob("", "a"));
	CHECK(glob("**", ""));
	CHECK(glob("a**b", "ab"));
	CHECK(!glob("a?", "ab")); /* '?' is itself */
	CHECK(glob("a?", "a?"));
	CHECK(eddy_glob_match("*", NULL, 0));
	CHECK(eddy_glob_match("ab", "abc", 2));

	/* a pattern that backtracks exponentially in a recursive matcher */
	memset(many_a, 'a', sizeof many_a - 1);
	many_a[sizeof many_a - 1] = '\0';
	for (size_t i = 0; i < 50; i++) {
		many_star[2 * i] = 'a';
		many_star[2 * i + 1] = '*';
	}
	strcpy(many_star + 100, "b");
	CHECK(!glob(many_star, many_a));
}

/* The tenant topic check's use: a '*' marked literal matches only '*'. */
static void test_literal(void)
{
	const char p[] = "a*.*";
	uint8_t lit[1] = {0x02}; /* the first '*' came from data */

	CHECK(eddy_glob_match_lit(p, 4, lit, "a*.x", 4));
	CHECK(eddy_glob_match_lit(p, 4, lit, "a*.", 3));
	CHECK(!eddy_glob_match_lit(p, 4, lit, "ab.x", 4));
	CHECK(!eddy_glob_match_lit(p, 4, lit, "a.x", 3));
	CHECK(eddy_glob_match_lit(p, 4, NULL, "ab.x", 4));
	/* plen, not a NUL, ends the pattern */
	CHECK(eddy_glob_match_lit("ab*", 2, NULL, "ab", 2));
	CHECK(!eddy_glob_match_lit("ab*", 2, NULL, "abc", 3));
}

int main(void)
{
	test_glob();
	test_literal();
	return test_report("test_glob_match");
}
