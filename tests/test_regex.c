/* test_regex.c - eddy_regex: ECMA-262 syntax and meaning over PCRE2, the
 * JSON Schema Test Suite's pattern cases, errors, runaway backtracking. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "schema/regex.h"
#include "test.h"

#define SUITE "/usr/share/json-schema-test-suite/tests/draft7/"

static char err[256];

/* Searches s with pattern; 1, 0 or -1 as eddy_regex_search, 2 when the
 * pattern does not compile. */
static int search_n(const char *pattern, const char *s, size_t n)
{
	struct eddy_regex *re = eddy_regex_compile(pattern, strlen(pattern), err, sizeof err);
	if (!re)
		return 2;
	int rc = eddy_regex_search(re, s, n);
	eddy_regex_free(re);
	return rc;
}

static int search(const char *pattern, const char *s)
{
	return search_n(pattern, s, strlen(s));
}

/* The pattern is rejected with a one-line reason. */
static int rejects(const char *pattern)
{
	err[0] = '\0';
	struct eddy_regex *re = eddy_regex_compile(pattern, strlen(pattern), err, sizeof err);
	if (re) {
		fprintf(stderr, "accepted: %s\n", pattern);
		eddy_regex_free(re);
		return 0;
	}
	if (!err[0] || strchr(err, '\n')) {
		fprintf(stderr, "reason for %s: \"%s\"\n", pattern, err);
		return 0;
	}
	return 1;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Runs a suite file's groups whose schema is {"pattern": P} (each string
 * datum searched) or {"format": "regex"} (each string datum compiled). */
static void run_suite_file(const char *path)
{
	size_t len, cases = 0;
	char *text = slurp(path, &len);
	struct eddy_json_doc *doc = eddy_json_doc_new();
	const struct eddy_json *root =
	    text && doc ? eddy_json_parse(doc, text, len, err, sizeof err) : NULL;
	CHECK(root && root->type == EDDY_JSON_ARRAY);
	for (uint32_t g = 0; root && g < root->len; g++) {
		const struct eddy_json *group = &root->u.items[g];
		const struct eddy_json *schema = eddy_json_getz(group, "schema");
		const struct eddy_json *tests = eddy_json_getz(group, "tests");
		const struct eddy_json *pat = eddy_json_getz(schema, "pattern");
		const char *format = eddy_json_str(eddy_json_getz(schema, "format"));
		bool is_regex_format = format && strcmp(format, "regex") == 0;
		if (!tests || (!eddy_json_str(pat) && !is_regex_format))
			continue;
		struct eddy_regex *re = NULL;
		if (pat) {
			re = eddy_regex_compile(pat->u.s, pat->len, err, sizeof err);
			CHECK(re != NULL);
			if (!re) {
				fprintf(stderr, "%s: pattern %s: %s\n", path, pat->u.s, err);
				continue;
			}
		}
		for (uint32_t k = 0; k < tests->len; k++) {
			const struct eddy_json *t = &tests->u.items[k];
			const struct eddy_json *data = eddy_json_getz(t, "data");
			const struct eddy_json *valid = eddy_json_getz(t, "valid");
			if (!data || data->type != EDDY_JSON_STRING || !valid)
				continue;
			int want = valid->type == EDDY_JSON_TRUE, got;
			if (re) {
				got = eddy_regex_search(re, data->u.s, data->len) == 1;
			} else {
				struct eddy_regex *r2 =
				    eddy_regex_compile(data->u.s, data->len, err, sizeof err);
				got = r2 != NULL;
				eddy_regex_free(r2);
			}
			cases++;
			CHECK(got == want);
			if (got != want)
				fprintf(stderr, "%s: %s / %s: got %s\n", path,
				        eddy_json_str(eddy_json_getz(group, "description")),
				        eddy_json_str(eddy_json_getz(t, "description")),
				        got ? "valid" : "invalid");
		}
		eddy_regex_free(re);
	}
	printf("%s: %zu cases\n", path, cases);
	CHECK(cases > 0);
	eddy_json_doc_destroy(doc);
	free(text);
}

/* The optional ecmascript-regex cases of later drafts, which this Debian
 * package does not ship. */
static void test_ecmascript(void)
{
	/* $ does not match before a trailing newline; ^ only at the start */
	CHECK(search("^abc$", "abc") == 1);
	CHECK(search("^abc$", "abc\n") == 0);
	CHECK(search("^abc", "x\nabc") == 0);
	CHECK(search("abc$", "abc\nx") == 0);

	/* escapes ECMA does not have */
	CHECK(rejects("\\a"));
	CHECK(rejects("^\\S(|(.|\\n)*\\S)\\Z"));
	CHECK(rejects("\\A"));
	CHECK(rejects("\\z"));
	CHECK(rejects("\\e"));
	CHECK(rejects("\\h"));
	CHECK(rejects("\\R"));
	CHECK(rejects("\\X"));
	CHECK(rejects("\\Q.\\E"));
	CHECK(rejects("\\g1(a)"));
	CHECK(rejects("\\o{101}"));
	CHECK(rejects("\\c1"));
	CHECK(rejects("\\01"));
	CHECK(rejects("\\-"));
	CHECK(rejects("[\\B]"));
	CHECK(rejects("\\"));

	/* control escapes */
	CHECK(search("^\\cC$", "\x03") == 1);
	CHECK(search("^\\cC$", "\\cC") == 0);
	CHECK(search("^\\cc$", "\x03") == 1);
	CHECK(search("^[\\cC]$", "\x03") == 1);

	/* \d and \w are ASCII; \p{digit} is not */
	CHECK(search("^\\d$", "0") == 1);
	CHECK(search("^\\d$", "\xdf\x80") == 0); /* U+07C0 NKO DIGIT ZERO */
	CHECK(search("^\\D$", "\xdf\x80") == 1);
	CHECK(search("^\\p{digit}+$", "\xdf\x80") == 1);
	CHECK(search("^\\w$", "a") == 1);
	CHECK(search("^\\w$", "\xc3\xa9") == 0); /* é */
	CHECK(search("^\\W$", "\xc3\xa9") == 1);
	CHECK(search("\\wcole", "\xc3\xa9"
	                        "cole") == 0);
	CHECK(search("[a-z]cole", "\xc3\xa9"
	                          "cole") == 0);
	CHECK(search("\\p{Letter}cole", "\xc3\xa9"
	                                "cole") == 1);
	CHECK(search("\\p{L}cole", "\xc3\xa9"
	                           "cole") == 1);
	CHECK(search("^\\p{Lowercase_Letter}$", "\xc3\xa9") == 1);
	CHECK(search("^\\p{General_Category=Uppercase_Letter}$", "\xc3\x89") == 1);
	CHECK(search("^\\p{gc=Lu}$", "\xc3\xa9") == 0);
	CHECK(search("^\\p{Script=Greek}+$", "\xce\xb1\xce\xb2") == 1);
	CHECK(search("^\\P{Script=Greek}$", "a") == 1);
	CHECK(search("^\\p{Assigned}$", "a") == 1);
	CHECK(search("^\\P{Assigned}$", "a") == 0);
	CHECK(search("^\\P{Assigned}$", "\xf0\x9f\xbf\xbf") == 1); /* U+1FFFF */
	CHECK(rejects("\\p{letter}")); /* ECMA's names are case-sensitive */
	CHECK(rejects("\\p{Nonsense}"));
	CHECK(rejects("\\p"));
	CHECK(rejects("\\p{Script=}"));
	CHECK(search("\\ba\\b", "\xc3\xa9"
	                        "a") == 1); /* é is no word character */

	/* \s is ECMA's whitespace and line terminators, Unicode included */
	const char *spaces[] = {"\t",           "\n",           "\v",
	                        "\f",           "\r",           " ",
	                        "\xc2\xa0",     "\xe1\x9a\x80", "\xe2\x80\x83",
	                        "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf",
	                        "\xe3\x80\x80", "\xef\xbb\xbf"};
	for (size_t i = 0; i < sizeof spaces / sizeof spaces[0]; i++) {
		CHECK(search("^\\s$", spaces[i]) == 1);
		CHECK(search("^\\S$", spaces[i]) == 0);
		CHECK(search("^[\\s]$", spaces[i]) == 1);
		CHECK(search("^[^\\s]$", spaces[i]) == 0);
		CHECK(search("^[\\S]$", spaces[i]) == 0);
		CHECK(search("^[^\\S]$", spaces[i]) == 1);
	}
	const char *non_spaces[] = {
	    "a", "\x01", "\xc2\x85", "\xe1\xa0\x8e", "\xe2\x80\x8b", "\xf0\x9f\x90\xb2"};
	for (size_t i = 0; i < sizeof non_spaces / sizeof non_spaces[0]; i++) {
		CHECK(search("^\\s$", non_spaces[i]) == 0);
		CHECK(search("^\\S$", non_spaces[i]) == 1);
		CHECK(search("^[\\S]$", non_spaces[i]) == 1);
		CHECK(search("^[x\\S]$", non_spaces[i]) == 1);
	}

	/* . is any code point but a line terminator */
	CHECK(search("^.$", "\xf0\x9f\x90\xb2") == 1);
	CHECK(search("^.$", "\n") == 0);
	CHECK(search("^.$", "\r") == 0);
	CHECK(search("^.$", "\xe2\x80\xa8") == 0);
	CHECK(search("^.$", "\xc2\x85") == 1);

	/* code points, not bytes or UTF-16 units */
	CHECK(search("^\xf0\x9f\x90\xb2*$", "\xf0\x9f\x90\xb2\xf0\x9f\x90\xb2") == 1);
	CHECK(search("^\xf0\x9f\x90\xb2*$", "\xf0\x9f\x90\xb2\xf0\x9f\x90") == -1); /* bad UTF-8 */
	CHECK(search("^\\ud83d\\udc32$", "\xf0\x9f\x90\xb2") == 1);
	CHECK(search("^\\u{1F432}$", "\xf0\x9f\x90\xb2") == 1);
	CHECK(search("^\\u00e9$", "\xc3\xa9") == 1);
	CHECK(search("^\\x41$", "A") == 1);
	CHECK(search("^[\\u0041-\\u005a]+$", "AZ") == 1);
	CHECK(search("\\ud800", "a") == 0);
	CHECK(search("^\\ud800?$", "") == 1);
	CHECK(search("^[^\\ud800]$", "a") == 1);
	CHECK(rejects("\\u{110000}"));
	CHECK(rejects("\\u12"));
	CHECK(rejects("\\x4"));

	/* classes: PCRE2-only syntax inside means nothing special */
	CHECK(rejects("[[:alpha:]]")); /* a class, then a lone ] */
	CHECK(search("^[[:a]+$", "[:a") == 1);
	CHECK(search("^[[:a]+$", "b") == 0);
	CHECK(search("^[]$", "") == 0);
	CHECK(search("^[]?$", "") == 1);
	CHECK(search("^[^]?$", "") == 1);
	CHECK(search("^[^]*$", "a\nb") == 1);
	CHECK(search("^[\\ud800]?$", "") == 1);
	CHECK(search("[]", "a") == 0);
	CHECK(search("^[^]$", "\n") == 1);
	CHECK(search("^[a-]+$", "a-") == 1);
	CHECK(search("^[-a]+$", "a-") == 1);
	CHECK(search("^[\\d-]+$", "1-") == 1);
	CHECK(search("^[--0]+$", "./") == 1);
	CHECK(search("^[\\b]$", "\b") == 1);
	CHECK(search("^[\\]]$", "]") == 1);
	CHECK(search("^[\\-]$", "-") == 1);
	CHECK(search("^[.]$", "x") == 0);
	CHECK(search("^[\xc3\xa0-\xc3\xbf]$", "\xc3\xa9") == 1);
	CHECK(rejects("[\\d-z]"));
	CHECK(rejects("[a-\\d]"));
	CHECK(rejects("[z-a]"));
	CHECK(rejects("[a"));
	CHECK(rejects("[\\c]"));

	/* u-mode rejects what Annex B would take as literals */
	CHECK(rejects("]"));
	CHECK(rejects("a{"));
	CHECK(rejects("a{1"));
	CHECK(rejects("a{,5}"));
	CHECK(rejects("}"));
	CHECK(rejects("{1}"));
	CHECK(rejects("a**"));
	CHECK(rejects("a*+"));
	CHECK(rejects("a{2}+"));
	CHECK(rejects("a{2,1}"));
	CHECK(rejects("*a"));
	CHECK(rejects("a|*"));
	CHECK(rejects("^*"));
	CHECK(rejects("(?=a)*"));
	CHECK(rejects("\\b+"));
	CHECK(search("a{2,}?", "aaa") == 1);
	CHECK(search("^a{2,3}$", "aaaa") == 0);
	CHECK(search("^a{2}$", "aa") == 1);
	CHECK(search("^(?:ab)+?$", "abab") == 1);

	/* groups */
	CHECK(rejects("(a"));
	CHECK(rejects("a)"));
	CHECK(rejects("(?i)a"));
	CHECK(rejects("(?>a)"));
	CHECK(rejects("(?#x)"));
	CHECK(rejects("(?|a)"));
	CHECK(rejects("(?P<n>a)"));
	CHECK(rejects("(?<1a>a)"));
	CHECK(rejects("(?<n>a)(?<n>b)"));
	CHECK(rejects("(a)\\2"));
	CHECK(rejects("\\k<n>(?<m>a)"));
	CHECK(rejects("\\k"));
	CHECK(search("^(?<y>\\d{4})-\\k<y>$", "2024-2024") == 1);
	CHECK(search("^(a)\\1$", "aa") == 1);
	CHECK(search("^(a)\\1$", "ab") == 0);
	CHECK(search("^(?:(a)|b)\\1$", "b") == 1); /* an unset group matches empty */
	CHECK(search("^\\1(a)$", "a") == 1);
	CHECK(search("(?<=\\$)\\d+", "$42") == 1);
	CHECK(search("(?<!\\$)\\b\\d+", "$42") == 0);
	CHECK(search("^a(?=b)", "ab") == 1);
	CHECK(search("^a(?!b)", "ab") == 0);

	/* unanchored search, like RegExp.test */
	CHECK(search("a+", "xxaayy") == 1);
	CHECK(search("^$", "") == 1);
	CHECK(search_n("^a\\x00b$", "a\0b", 3) == 1);
	CHECK(search_n("a.b", "a\0b", 3) == 1);
	CHECK(search_n("x", NULL, 0) == 0);

	/* a NUL byte in the pattern is a literal */
	struct eddy_regex *re = eddy_regex_compile("a\0b", 3, err, sizeof err);
	CHECK(re != NULL);
	CHECK(re && eddy_regex_search(re, "a\0b", 3) == 1);
	CHECK(re && eddy_regex_search(re, "ab", 2) == 0);
	CHECK(re && memcmp(eddy_regex_pattern(re), "a\0b", 4) == 0);
	eddy_regex_free(re);

	/* syntax characters and / escaped are literals */
	CHECK(search("^\\^\\$\\\\\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\/$", "^$\\.*+?()[]{}|/") == 1);
	CHECK(search("^a#b c$", "a#b c") == 1);
	CHECK(search("^\\t\\n\\r\\f\\v\\0$", "\t\n\r\f\v") == 0);
	CHECK(search_n("^\\t\\n\\r\\f\\v\\0$", "\t\n\r\f\v\0", 6) == 1);
	CHECK(search("^\\v$", "\n") == 0);
}

static void test_reasons(void)
{
	struct eddy_regex *re = eddy_regex_compile("ab\\a", 4, err, sizeof err);
	CHECK(re == NULL);
	CHECK_STR(err, "invalid escape \\a at offset 2");
	re = eddy_regex_compile("(?<=a+)b", 8, err, sizeof err);
	CHECK(re == NULL); /* PCRE2 10.42 has no variable-length lookbehind */
	CHECK(err[0] && !strchr(err, '\n'));
	eddy_regex_free(re);
	CHECK(eddy_regex_compile("(", 1, NULL, 0) == NULL);
	char tiny[4];
	CHECK(eddy_regex_compile("(", 1, tiny, sizeof tiny) == NULL);
	CHECK(strlen(tiny) < sizeof tiny);
	eddy_regex_free(NULL);

	re = eddy_regex_compile("^\\d+$", 5, err, sizeof err);
	CHECK_STR(re ? eddy_regex_pattern(re) : NULL, "^\\d+$");
	eddy_regex_free(re);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Catastrophic patterns end with -1 (or an answer) quickly, and the same
 * regex keeps working afterwards. */
static void test_runaway(void)
{
	static const char *const patterns[] = {"(a+)+$", "^(a|a)*$", "(a*)*b", "^(\\w+\\s?)*$",
	                                       "(x+x+)+y"};
	/* each one's answer on "aab" */
	static const int aab[] = {0, 0, 1, 1, 0};
	char s[4096];
	memset(s, 'a', sizeof s - 2);
	s[sizeof s - 2] = '!';
	s[sizeof s - 1] = '\0';
	for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
		struct eddy_regex *re =
		    eddy_regex_compile(patterns[i], strlen(patterns[i]), err, sizeof err);
		CHECK(re != NULL);
		if (!re)
			continue;
		for (size_t n = 28; n < sizeof s; n *= 4) {
			const char *subject = s + sizeof s - 1 - n;
			double t0 = now();
			int rc = eddy_regex_search(re, subject, n);
			double took = now() - t0;
			CHECK(rc == -1 || rc == 0);
			CHECK(took < 1.0);
			if (took >= 1.0 || rc == 1)
				fprintf(stderr, "%s on %zu bytes: %d in %.3fs\n", patterns[i], n,
				        rc, took);
		}
		CHECK(eddy_regex_search(re, "aab", 3) == aab[i]);
		eddy_regex_free(re);
	}

	/* long ordinary subjects do not hit the limits */
	size_t big = 256 * 1024;
	char *text = malloc(big);
	CHECK(text != NULL);
	if (!text)
		return;
	memset(text, 'x', big);
	text[big - 1] = 'y';
	CHECK(search_n("^x*y$", text, big) == 1);
	CHECK(search_n("^[a-z]+$", text, big) == 1);
	CHECK(search_n("(x|z)+y$", text, big) == 1);
	CHECK(search_n("^(?:x|z)*$", text, big - 1) == 1);
	CHECK(search_n("q", text, big) == 0);
	free(text);
}

int main(void)
{
	test_ecmascript();
	test_reasons();
	test_runaway();
	run_suite_file(SUITE "optional/ecmascript-regex.json");
	run_suite_file(SUITE "pattern.json");
	return test_report("test_regex");
}
