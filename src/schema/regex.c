/* regex.c - ECMA-262 regular expressions (with the "u" flag, as JSON Schema
 * means them) translated into PCRE2 patterns and matched by PCRE2. */
#include "regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "text.h"

/* Backtracking steps one search may take before it gives up with -1. A
 * pattern that needs more on an event-sized string is catastrophic (e.g.
 * "(a+)+$"); a million steps is a few milliseconds. */
#define MATCH_LIMIT 1000000
/* Heap the interpreter may use for backtracking (KiB) when JIT is missing. */
#define HEAP_LIMIT 20000
/* The JIT stack, one per thread, grows up to this on demand. A repeated
 * group takes about 32 bytes per iteration, so PCRE2's 32 KiB default
 * stops "(x|y)+" at a thousand characters; 16 MiB (address space, touched
 * only as used) takes it to about half a million. */
#define JIT_STACK_START (32 * 1024)
#define JIT_STACK_MAX (16 * 1024 * 1024)
/* Group nesting an ECMA pattern may have; PCRE2's own limit is 250. */
#define NEST_MAX 200

struct eddy_regex {
	pcre2_code *code;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	char *pattern; /* a NUL-terminated copy of the pattern */
};

/* ECMA WhiteSpace and LineTerminator, the set \s means (ES2023 22.2.2.9):
 * PCRE2 without UCP knows only the ASCII ones, and with UCP would also make
 * \d and \w match beyond ASCII, which ECMA's do not. */
#define WS_SET                                                                                     \
	"\\x{09}-\\x{0d}\\x{20}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}"              \
	"\\x{202f}\\x{205f}\\x{3000}\\x{feff}"
/* Every code point outside WS_SET, for \S inside a class (PCRE2 10.42 has
 * no class subtraction). */
#define NON_WS_SET                                                                                 \
	"\\x{00}-\\x{08}\\x{0e}-\\x{1f}\\x{21}-\\x{9f}\\x{a1}-\\x{167f}\\x{1681}-\\x{1fff}"        \
	"\\x{200b}-\\x{2027}\\x{202a}-\\x{202e}\\x{2030}-\\x{205e}\\x{2060}-\\x{2fff}"             \
	"\\x{3001}-\\x{fefe}\\x{ff00}-\\x{10ffff}"
/* ECMA "." matches anything but a LineTerminator, PCRE2's "." only \n. */
#define DOT_CLASS "[^\\x{0a}\\x{0d}\\x{2028}\\x{2029}]"
/* Stands for a lone surrogate escape: UTF-8 text holds no surrogates, so
 * it never matches, as it never would in a well-formed string in ECMA. */
#define NEVER "(?:(?!))"

/* ECMA's long General_Category names (and "LC") that PCRE2 10.42 only
 * knows by their short form. */
static const char *const gc_names[][2] = {
    {"Letter", "L"},
    {"Cased_Letter", "L&"},
    {"LC", "L&"},
    {"Uppercase_Letter", "Lu"},
    {"Lowercase_Letter", "Ll"},
    {"Titlecase_Letter", "Lt"},
    {"Modifier_Letter", "Lm"},
    {"Other_Letter", "Lo"},
    {"Mark", "M"},
    {"Combining_Mark", "M"},
    {"Nonspacing_Mark", "Mn"},
    {"Spacing_Mark", "Mc"},
    {"Enclosing_Mark", "Me"},
    {"Number", "N"},
    {"Decimal_Number", "Nd"},
    {"digit", "Nd"},
    {"Letter_Number", "Nl"},
    {"Other_Number", "No"},
    {"Punctuation", "P"},
    {"punct", "P"},
    {"Connector_Punctuation", "Pc"},
    {"Dash_Punctuation", "Pd"},
    {"Open_Punctuation", "Ps"},
    {"Close_Punctuation", "Pe"},
    {"Initial_Punctuation", "Pi"},
    {"Final_Punctuation", "Pf"},
    {"Other_Punctuation", "Po"},
    {"Symbol", "S"},
    {"Math_Symbol", "Sm"},
    {"Currency_Symbol", "Sc"},
    {"Modifier_Symbol", "Sk"},
    {"Other_Symbol", "So"},
    {"Separator", "Z"},
    {"Space_Separator", "Zs"},
    {"Line_Separator", "Zl"},
    {"Paragraph_Separator", "Zp"},
    {"Other", "C"},
    {"Control", "Cc"},
    {"cntrl", "Cc"},
    {"Format", "Cf"},
    {"Surrogate", "Cs"},
    {"Private_Use", "Co"},
    {"Unassigned", "Cn"},
};

/* ---- translation ------------------------------------------------------ */

/* What the last thing written can take: a quantifier only follows an atom
 * (u-mode forbids quantified assertions and stacked quantifiers). */
enum last { LAST_NONE, LAST_ATOM, LAST_QUANT };

enum group { GROUP_CAPTURE, GROUP_PLAIN, GROUP_LOOKAROUND };

/* The ECMA pattern being read and the PCRE2 pattern being written. */
struct tr {
	const unsigned char *p; /* pattern */
	size_t len, i;          /* its length and the read position */
	char *out;              /* PCRE2 pattern, malloc'ed, NUL-terminated */
	size_t olen, ocap;
	bool oom;
	unsigned ngroups; /* capturing groups in the whole pattern */
	char *errstr;
	size_t errstr_size;
	bool failed;
};

static void emit(struct tr *t, const char *s, size_t n)
{
	if (t->oom)
		return;
	if (t->olen + n + 1 > t->ocap) {
		size_t cap = t->ocap ? t->ocap : 64;
		while (cap < t->olen + n + 1)
			cap *= 2;
		char *o = eddy_alloc_realloc(t->out, cap);
		if (!o) {
			t->oom = true;
			return;
		}
		t->out = o;
		t->ocap = cap;
	}
	memcpy(t->out + t->olen, s, n);
	t->olen += n;
	t->out[t->olen] = '\0';
}

static void emits(struct tr *t, const char *s)
{
	emit(t, s, strlen(s));
}

static void emit_cp(struct tr *t, uint32_t cp)
{
	char b[16];
	int n = snprintf(b, sizeof b, "\\x{%x}", (unsigned)cp);
	emit(t, b, (size_t)n);
}

/* Records the first error; the translation stops at it. */
__attribute__((format(printf, 2, 3))) static void fail(struct tr *t, const char *fmt, ...)
{
	if (t->failed)
		return;
	t->failed = true;
	if (t->errstr && t->errstr_size) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(t->errstr, t->errstr_size, fmt, ap);
		va_end(ap);
	}
}

/* Reads n hex digits at t->i into *v; false (nothing consumed) if absent. */
static bool read_hex(struct tr *t, size_t n, uint32_t *v)
{
	uint32_t x = 0;
	if (t->len - t->i < n)
		return false;
	for (size_t k = 0; k < n; k++) {
		int h = eddy_hexval(t->p[t->i + k]);
		if (h < 0)
			return false;
		x = x * 16 + (uint32_t)h;
	}
	t->i += n;
	*v = x;
	return true;
}

/* Reads what follows "\u" (t->i just past the 'u'): four hex digits,
 * joined with a following "\uDC00"-style low surrogate, or "{hex}". */
static bool read_u(struct tr *t, uint32_t *cp)
{
	size_t at = t->i - 2;
	if (t->i < t->len && t->p[t->i] == '{') {
		uint32_t v = 0;
		size_t k = t->i + 1, start = k;
		for (; k < t->len && eddy_hexval(t->p[k]) >= 0; k++) {
			v = v * 16 + (uint32_t)eddy_hexval(t->p[k]);
			if (v > 0x10ffff) {
				fail(t, "code point out of range in \\u{} at offset %zu", at);
				return false;
			}
		}
		if (k == start || k >= t->len || t->p[k] != '}') {
			fail(t, "invalid \\u{} escape at offset %zu", at);
			return false;
		}
		t->i = k + 1;
		*cp = v;
		return true;
	}
	if (!read_hex(t, 4, cp)) {
		fail(t, "invalid \\u escape at offset %zu", at);
		return false;
	}
	if (*cp >= 0xd800 && *cp <= 0xdbff && t->len - t->i >= 6 && t->p[t->i] == '\\' &&
	    t->p[t->i + 1] == 'u') {
		size_t save = t->i;
		uint32_t lo;
		t->i += 2;
		if (read_hex(t, 4, &lo) && lo >= 0xdc00 && lo <= 0xdfff)
			*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
		else
			t->i = save;
	}
	return true;
}

static bool is_surrogate(uint32_t cp)
{
	return cp >= 0xd800 && cp <= 0xdfff;
}

/* Reads "{Name}" or "{Name=Value}" after \p or \P and writes the PCRE2
 * form, mapping long General_Category names to short ones. */
static void property(struct tr *t, char pp)
{
	size_t at = t->i - 2;
	if (t->i >= t->len || t->p[t->i] != '{') {
		fail(t, "\\%c needs {property} at offset %zu", pp, at);
		return;
	}
	size_t s = t->i + 1, k = s, eq = 0;
	for (; k < t->len && t->p[k] != '}'; k++) {
		unsigned char c = t->p[k];
		if (c == '=' && !eq && k > s)
			eq = k;
		else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		           (c >= '0' && c <= '9') || c == '_')) {
			fail(t, "invalid property name at offset %zu", at);
			return;
		}
	}
	if (k >= t->len || k == s || (eq && eq + 1 == k)) {
		fail(t, "invalid property name at offset %zu", at);
		return;
	}
	t->i = k + 1;

	const char *name = (const char *)t->p + s, *value = NULL;
	size_t nlen = k - s, vlen = 0;
	if (eq) {
		nlen = eq - s;
		value = (const char *)t->p + eq + 1;
		vlen = k - eq - 1;
		bool gc = (nlen == 16 && !memcmp(name, "General_Category", 16)) ||
		          (nlen == 2 && !memcmp(name, "gc", 2));
		bool script = (nlen == 6 && !memcmp(name, "Script", 6)) ||
		              (nlen == 2 && !memcmp(name, "sc", 2)) ||
		              (nlen == 17 && !memcmp(name, "Script_Extensions", 17)) ||
		              (nlen == 3 && !memcmp(name, "scx", 3));
		if (!gc && !script) {
			fail(t, "unknown property %.*s at offset %zu", (int)nlen, name, at);
			return;
		}
		if (gc) {
			/* a General_Category value is written like a lone name */
			name = value;
			nlen = vlen;
			value = NULL;
		}
	}
	if (!value && nlen == 8 && !memcmp(name, "Assigned", 8)) {
		/* PCRE2 10.42 lacks it; it is the complement of Unassigned */
		emits(t, pp == 'p' ? "\\P{Cn}" : "\\p{Cn}");
		return;
	}
	char b[8];
	snprintf(b, sizeof b, "\\%c{", pp);
	emits(t, b);
	if (!value) {
		for (size_t g = 0; g < sizeof gc_names / sizeof gc_names[0]; g++)
			if (strlen(gc_names[g][0]) == nlen && !memcmp(gc_names[g][0], name, nlen)) {
				name = gc_names[g][1];
				nlen = strlen(name);
				break;
			}
		emit(t, name, nlen);
	} else {
		emit(t, name, nlen);
		emits(t, "=");
		emit(t, value, vlen);
	}
	emits(t, "}");
}

/* What one class atom turned out to be. */
struct catom {
	bool single; /* one code point (may start or end a range) */
	uint32_t cp; /* when single */
};

/* Reads one escape inside a class (t->i just past the backslash) and
 * writes it, or describes the single code point it stands for. */
static void class_escape(struct tr *t, struct catom *a)
{
	size_t at = t->i - 1;
	if (t->i >= t->len) {
		fail(t, "\\ at end of pattern");
		return;
	}
	unsigned char c = t->p[t->i++];
	a->single = true;
	switch (c) {
	case 'd':
	case 'D':
	case 'w':
	case 'W': {
		char b[3] = {'\\', (char)c, 0};
		emits(t, b);
		a->single = false;
		return;
	}
	case 's':
		emits(t, WS_SET);
		a->single = false;
		return;
	case 'S':
		emits(t, NON_WS_SET);
		a->single = false;
		return;
	case 'p':
	case 'P':
		property(t, (char)c);
		a->single = false;
		return;
	case 'b':
		a->cp = 8;
		return;
	case '-':
		a->cp = '-';
		return;
	case 'f':
		a->cp = '\f';
		return;
	case 'n':
		a->cp = '\n';
		return;
	case 'r':
		a->cp = '\r';
		return;
	case 't':
		a->cp = '\t';
		return;
	case 'v':
		a->cp = '\v';
		return;
	case 'c':
		if (t->i < t->len && ((t->p[t->i] | 0x20) >= 'a' && (t->p[t->i] | 0x20) <= 'z')) {
			a->cp = t->p[t->i++] % 32;
			return;
		}
		break;
	case '0':
		if (t->i >= t->len || t->p[t->i] < '0' || t->p[t->i] > '9') {
			a->cp = 0;
			return;
		}
		break;
	case 'x':
		if (read_hex(t, 2, &a->cp))
			return;
		fail(t, "invalid \\x escape at offset %zu", at);
		return;
	case 'u':
		read_u(t, &a->cp);
		return;
	default:
		if (strchr("^$\\.*+?()[]{}|/", c)) {
			a->cp = c;
			return;
		}
		break;
	}
	if (c >= 0x20 && c < 0x7f)
		fail(t, "invalid escape \\%c in class at offset %zu", c, at);
	else
		fail(t, "invalid escape in class at offset %zu", at);
}

/* Length of the UTF-8 sequence starting with byte c (1 for anything that
 * does not start one: PCRE2's UTF check reports it). */
static size_t utf8_len(unsigned char c)
{
	if (c >= 0xf0 && c < 0xf8)
		return 4;
	if (c >= 0xe0)
		return 3;
	if (c >= 0xc0)
		return 2;
	return 1;
}

/* Decodes the UTF-8 sequence at t->i (already known to be n bytes long). */
static uint32_t utf8_cp(const unsigned char *s, size_t n)
{
	uint32_t cp = n == 1 ? s[0] : n == 2 ? s[0] & 0x1fu : n == 3 ? s[0] & 0x0fu : s[0] & 0x07u;
	for (size_t k = 1; k < n; k++)
		cp = (cp << 6) | (s[k] & 0x3fu);
	return cp;
}

/* Reads a class (t->i just past '[') up to its ']'. Every member is
 * written as an escape so that nothing PCRE2 reads specially inside a class
 * ("[:alpha:]", a leading ']') changes its meaning. */
static void char_class(struct tr *t)
{
	size_t at = t->i - 1;
	bool negated = t->i < t->len && t->p[t->i] == '^';
	if (negated)
		t->i++;
	size_t start = t->olen;
	emits(t, negated ? "[^" : "[");

	/* A single code point is written only once the next atom shows it
	 * does not start a range. */
	struct catom prev = {0};
	bool have_prev = false;
	bool in_range = false; /* prev '-' read, waiting for the range's end */
	while (!t->failed && t->i < t->len && t->p[t->i] != ']') {
		struct catom a = {.single = true};
		unsigned char c = t->p[t->i];
		size_t here = t->i;
		if (c == '\\') {
			t->i++;
			class_escape(t, &a);
			if (!a.single &&
			    (in_range || (t->i < t->len && t->p[t->i] == '-' && t->i + 1 < t->len &&
			                  t->p[t->i + 1] != ']'))) {
				fail(t, "class escape in a range at offset %zu", here);
				break;
			}
			if (!a.single)
				continue; /* already written */
		} else if (c == '-' && have_prev && !in_range && t->i + 1 < t->len &&
		           t->p[t->i + 1] != ']') {
			t->i++;
			in_range = true;
			continue;
		} else {
			size_t n = utf8_len(c);
			if (n > t->len - t->i)
				n = t->len - t->i;
			a.cp = utf8_cp(t->p + t->i, n);
			t->i += n;
		}
		if (t->failed)
			break;
		if (in_range) {
			if (a.cp < prev.cp) {
				fail(t, "range out of order in class at offset %zu", here);
				break;
			}
			if (is_surrogate(prev.cp) || is_surrogate(a.cp)) {
				fail(t, "surrogate as a class range end at offset %zu", here);
				break;
			}
			emit_cp(t, prev.cp);
			emits(t, "-");
			emit_cp(t, a.cp);
			in_range = false;
			have_prev = false;
			continue;
		}
		if (have_prev && !is_surrogate(prev.cp))
			emit_cp(t, prev.cp);
		prev = a;
		have_prev = true;
	}
	if (t->failed)
		return;
	if (t->i >= t->len) {
		fail(t, "missing ] for class at offset %zu", at);
		return;
	}
	t->i++; /* ']' */
	if (have_prev && !is_surrogate(prev.cp))
		emit_cp(t, prev.cp);
	if (in_range) /* "a-" at the end: a literal hyphen */
		emits(t, "\\-");
	if (!t->oom && t->olen == start + (negated ? 2 : 1)) {
		/* PCRE2's own empty classes (ALLOW_EMPTY_CLASS) ignore a
		 * quantifier: "[]?" would never match */
		t->olen = start;
		emits(t, negated ? "[\\x{0}-\\x{10ffff}]" : "(?:(?!))");
		return;
	}
	emits(t, "]");
}

/* Reads "{n}", "{n,}" or "{n,m}" at t->i; false (nothing consumed) when
 * it is not one, which u-mode makes an error. */
static bool read_braces(struct tr *t)
{
	size_t k = t->i + 1;
	unsigned long n = 0, m = 0;
	bool has_m = false, open = false;
	size_t s = k;
	for (; k < t->len && t->p[k] >= '0' && t->p[k] <= '9'; k++)
		n = n > 100000 ? n : n * 10 + (t->p[k] - '0');
	if (k == s || k >= t->len)
		return false;
	if (t->p[k] == ',') {
		k++;
		s = k;
		for (; k < t->len && t->p[k] >= '0' && t->p[k] <= '9'; k++)
			m = m > 100000 ? m : m * 10 + (t->p[k] - '0');
		has_m = k > s;
		open = !has_m;
		if (k >= t->len)
			return false;
	} else {
		m = n;
		has_m = true;
	}
	if (t->p[k] != '}')
		return false;
	if (has_m && m < n) {
		fail(t, "numbers out of order in {} quantifier at offset %zu", t->i);
		return true;
	}
	if (n > 65535 || m > 65535) {
		fail(t, "quantifier above 65535 at offset %zu", t->i);
		return true;
	}
	char b[48];
	if (open)
		snprintf(b, sizeof b, "{%lu,}", n);
	else if (m == n)
		snprintf(b, sizeof b, "{%lu}", n);
	else
		snprintf(b, sizeof b, "{%lu,%lu}", n, m);
	emits(t, b);
	t->i = k + 1;
	return true;
}

/* Counts the capturing groups so that "\N" can be checked (u-mode makes a
 * reference past the last group an error, forward references are fine). */
static unsigned count_groups(const unsigned char *p, size_t len)
{
	unsigned n = 0;
	bool in_class = false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\\')
			i++;
		else if (in_class)
			in_class = p[i] != ']';
		else if (p[i] == '[')
			in_class = true;
		else if (p[i] == '(' &&
		         (i + 1 >= len || p[i + 1] != '?' ||
		          (i + 3 < len && p[i + 2] == '<' && p[i + 3] != '=' && p[i + 3] != '!')))
			n++;
	}
	return n;
}

/* \1 to \9... (c the first digit, t->i past it): a back-reference. */
static void backref(struct tr *t, unsigned char c, size_t at)
{
	unsigned long n = c - '0';
	while (t->i < t->len && t->p[t->i] >= '0' && t->p[t->i] <= '9' && n <= 100000)
		n = n * 10 + (t->p[t->i++] - '0');
	if (n > t->ngroups) {
		fail(t, "reference to non-existent group \\%lu at offset %zu", n, at);
		return;
	}
	char b[32];
	snprintf(b, sizeof b, "\\g{%lu}", n);
	emits(t, b);
}

/* \k<name> (t->i past the k): a named back-reference. */
static void named_backref(struct tr *t, size_t at)
{
	size_t k = t->i + 1;
	if (t->i < t->len && t->p[t->i] == '<') {
		while (k < t->len && t->p[k] != '>')
			k++;
		if (k < t->len && k > t->i + 1) {
			emits(t, "\\k");
			emit(t, (const char *)t->p + t->i, k + 1 - t->i);
			t->i = k + 1;
			return;
		}
	}
	fail(t, "invalid \\k<name> at offset %zu", at);
}

/* Reads one escape outside a class (t->i just past the backslash). */
static void atom_escape(struct tr *t, enum last *last)
{
	size_t at = t->i - 1;
	if (t->i >= t->len) {
		fail(t, "\\ at end of pattern");
		return;
	}
	unsigned char c = t->p[t->i++];
	uint32_t cp;
	*last = LAST_ATOM;
	switch (c) {
	case 'b':
	case 'B':
		emits(t, c == 'b' ? "\\b" : "\\B");
		*last = LAST_NONE;
		return;
	case 'd':
	case 'D':
	case 'w':
	case 'W':
	case 'f':
	case 'n':
	case 'r':
	case 't': {
		/* the same in PCRE2 */
		char b[3] = {'\\', (char)c, 0};
		emits(t, b);
		return;
	}
	case 's':
		emits(t, "[" WS_SET "]");
		return;
	case 'S':
		emits(t, "[^" WS_SET "]");
		return;
	case 'p':
	case 'P':
		property(t, (char)c);
		return;
	case 'v': /* PCRE2's \v is a class of vertical space */
		emit_cp(t, 0x0b);
		return;
	case 'c':
		if (t->i < t->len && ((t->p[t->i] | 0x20) >= 'a' && (t->p[t->i] | 0x20) <= 'z')) {
			emit_cp(t, t->p[t->i++] % 32);
			return;
		}
		break;
	case '0':
		if (t->i >= t->len || t->p[t->i] < '0' || t->p[t->i] > '9') {
			emit_cp(t, 0);
			return;
		}
		break;
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
	case '8':
	case '9':
		backref(t, c, at);
		return;
	case 'k':
		named_backref(t, at);
		return;
	case 'x':
		if (read_hex(t, 2, &cp)) {
			emit_cp(t, cp);
			return;
		}
		fail(t, "invalid \\x escape at offset %zu", at);
		return;
	case 'u':
		if (read_u(t, &cp)) {
			if (is_surrogate(cp))
				emits(t, NEVER);
			else
				emit_cp(t, cp);
		}
		return;
	default:
		if (strchr("^$\\.*+?()[]{}|/", c)) {
			char b[3] = {'\\', (char)c, 0};
			emits(t, b);
			return;
		}
		break;
	}
	if (c >= 0x20 && c < 0x7f)
		fail(t, "invalid escape \\%c at offset %zu", c, at);
	else
		fail(t, "invalid escape at offset %zu", at);
}

/* Reads "(?<name>" (t->i at '<' + 1) and writes the same. */
static void group_name(struct tr *t, size_t at)
{
	size_t k = t->i;
	for (; k < t->len && t->p[k] != '>'; k++) {
		unsigned char c = t->p[k];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		          c == '$' || (k > t->i && c >= '0' && c <= '9');
		if (!ok) {
			fail(t, "invalid group name at offset %zu", at);
			return;
		}
	}
	if (k >= t->len || k == t->i) {
		fail(t, "invalid group name at offset %zu", at);
		return;
	}
	emits(t, "(?<");
	emit(t, (const char *)t->p + t->i, k + 1 - t->i);
	t->i = k + 1;
}

/* Reads "(" (t->i past it) and what follows it: (?:, lookarounds, named
 * groups. Returns the kind of group, or -1 when it is invalid. */
static int group_open(struct tr *t, size_t at)
{
	enum group g = GROUP_CAPTURE;
	if (t->i < t->len && t->p[t->i] == '?') {
		const char *rest = (const char *)t->p + t->i + 1;
		size_t left = t->len - t->i - 1;
		if (left >= 1 && rest[0] == ':') {
			emits(t, "(?:");
			t->i += 2;
			g = GROUP_PLAIN;
		} else if (left >= 1 && (rest[0] == '=' || rest[0] == '!')) {
			emit(t, rest - 2, 3);
			t->i += 2;
			g = GROUP_LOOKAROUND;
		} else if (left >= 2 && rest[0] == '<' && (rest[1] == '=' || rest[1] == '!')) {
			emit(t, rest - 2, 4);
			t->i += 3;
			g = GROUP_LOOKAROUND;
		} else if (left >= 1 && rest[0] == '<') {
			t->i += 2;
			group_name(t, at);
		} else {
			fail(t, "invalid group (? at offset %zu", at);
			return -1;
		}
	} else {
		emits(t, "(");
	}
	return (int)g;
}

/* Reads a quantifier (c is *, +, ? or {; t->i past it) and its lazy "?". */
static void quantifier(struct tr *t, unsigned char c, size_t at)
{
	if (c == '{') {
		t->i--;
		if (!read_braces(t)) {
			fail(t, "lone { at offset %zu", at);
			return;
		}
	} else {
		char b[2] = {(char)c, 0};
		emits(t, b);
	}
	if (t->i < t->len && t->p[t->i] == '?') {
		emits(t, "?");
		t->i++;
	}
}

static void translate(struct tr *t)
{
	enum group stack[NEST_MAX];
	size_t depth = 0;
	enum last last = LAST_NONE;

	while (!t->failed && !t->oom && t->i < t->len) {
		size_t at = t->i;
		unsigned char c = t->p[t->i++];
		switch (c) {
		case '\\':
			atom_escape(t, &last);
			break;
		case '[':
			char_class(t);
			last = LAST_ATOM;
			break;
		case '.':
			emits(t, DOT_CLASS);
			last = LAST_ATOM;
			break;
		case '^':
		case '$': {
			char b[2] = {(char)c, 0};
			emits(t, b);
			last = LAST_NONE;
			break;
		}
		case '|':
			emits(t, "|");
			last = LAST_NONE;
			break;
		case '(': {
			int g;
			if (depth == NEST_MAX) {
				fail(t, "groups nested deeper than %d at offset %zu", NEST_MAX, at);
				break;
			}
			if ((g = group_open(t, at)) < 0)
				break;
			stack[depth++] = (enum group)g;
			last = LAST_NONE;
			break;
		}
		case ')':
			if (!depth) {
				fail(t, "unmatched ) at offset %zu", at);
				break;
			}
			emits(t, ")");
			last = stack[--depth] == GROUP_LOOKAROUND ? LAST_NONE : LAST_ATOM;
			break;
		case '*':
		case '+':
		case '?':
		case '{':
			if (last != LAST_ATOM) {
				fail(t, "nothing to repeat at offset %zu", at);
				break;
			}
			quantifier(t, c, at);
			last = LAST_QUANT;
			break;
		case ']':
		case '}':
			fail(t, "lone %c at offset %zu", c, at);
			break;
		default:
			if (c >= 0x80) {
				size_t n = utf8_len(c);
				if (n > t->len - at)
					n = t->len - at;
				emit(t, (const char *)t->p + at, n);
				t->i = at + n;
			} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			           (c >= '0' && c <= '9')) {
				emit(t, (const char *)&c, 1);
			} else {
				emit_cp(t, c);
			}
			last = LAST_ATOM;
			break;
		}
	}
	if (!t->failed && depth)
		fail(t, "missing ) at end of pattern");
}

/* ---- the regex object ------------------------------------------------- */

static pthread_once_t jit_once = PTHREAD_ONCE_INIT;
static pthread_key_t jit_key;
static bool jit_key_ok;

static void jit_stack_free(void *stack)
{
	pcre2_jit_stack_free(stack);
}

static void jit_key_create(void)
{
	jit_key_ok = pthread_key_create(&jit_key, jit_stack_free) == 0;
}

/* PCRE2 asks for a JIT stack at the start of each JIT match: the calling
 * thread's own, made on first use and freed when the thread ends. NULL
 * (out of memory) makes PCRE2 use its small default on the machine stack. */
static pcre2_jit_stack *thread_jit_stack(void *unused)
{
	(void)unused;
	pthread_once(&jit_once, jit_key_create);
	if (!jit_key_ok)
		return NULL;
	pcre2_jit_stack *stack = pthread_getspecific(jit_key);
	if (!stack) {
		stack = pcre2_jit_stack_create(JIT_STACK_START, JIT_STACK_MAX, NULL);
		if (stack && pthread_setspecific(jit_key, stack) != 0) {
			pcre2_jit_stack_free(stack);
			stack = NULL;
		}
	}
	return stack;
}

struct eddy_regex *eddy_regex_compile(const char *pattern, size_t len, char *errstr,
                                      size_t errstr_size)
{
	struct tr t = {
	    .p = (const unsigned char *)(pattern ? pattern : ""),
	    .len = pattern ? len : 0,
	    .errstr = errstr,
	    .errstr_size = errstr_size,
	};
	struct eddy_regex *re = NULL;

	t.ngroups = count_groups(t.p, t.len);
	emits(&t, "");
	translate(&t);
	if (t.failed)
		goto err;
	if (t.oom) {
		eddy_errf(errstr, errstr_size, "out of memory");
		goto err;
	}

	re = eddy_alloc_calloc(1, sizeof *re);
	if (!re || !(re->pattern = eddy_alloc_malloc(t.len + 1))) {
		eddy_errf(errstr, errstr_size, "out of memory");
		goto err;
	}
	memcpy(re->pattern, t.p, t.len);
	re->pattern[t.len] = '\0';

	int ec;
	PCRE2_SIZE eoff;
	/* No ALT_BSUX: the translation writes every code point as \x{...},
	 * which ALT_BSUX would forbid; ECMA's \u forms are read above. */
	re->code = pcre2_compile((PCRE2_SPTR)t.out, t.olen,
	                         PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_MATCH_UNSET_BACKREF |
	                             PCRE2_NEVER_BACKSLASH_C,
	                         &ec, &eoff, NULL);
	if (!re->code) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(ec, msg, sizeof msg);
		eddy_errf(errstr, errstr_size, "%s",
		          ec == PCRE2_ERROR_HEAP_FAILED ? "out of memory" : (const char *)msg);
		goto err;
	}
	re->md = pcre2_match_data_create_from_pattern(re->code, NULL);
	re->mctx = pcre2_match_context_create(NULL);
	if (!re->md || !re->mctx) {
		eddy_errf(errstr, errstr_size, "out of memory");
		goto err;
	}
	pcre2_set_match_limit(re->mctx, MATCH_LIMIT);
	pcre2_set_heap_limit(re->mctx, HEAP_LIMIT);
	/* JIT is an optimisation: without it (unsupported CPU, no executable
	 * memory) the interpreter gives the same answers, more slowly. */
	if (pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0)
		pcre2_jit_stack_assign(re->mctx, thread_jit_stack, NULL);
	free(t.out);
	return re;

err:
	free(t.out);
	eddy_regex_free(re);
	return NULL;
}

void eddy_regex_free(struct eddy_regex *re)
{
	if (!re)
		return;
	pcre2_match_context_free(re->mctx);
	pcre2_match_data_free(re->md);
	pcre2_code_free(re->code);
	free(re->pattern);
	free(re);
}

int eddy_regex_search(struct eddy_regex *re, const char *s, size_t len)
{
	if (!s) /* PCRE2 10.42 wants a subject even when it is empty */
		s = "";
	int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, re->md, re->mctx);
	if (rc >= 0)
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	return -1;
}

const char *eddy_regex_pattern(const struct eddy_regex *re)
{
	return re->pattern;
}
