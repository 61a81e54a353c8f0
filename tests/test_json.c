/* test_json.c - eddy_json_parse: types, raw slices, escapes, limits, rejections, doc reuse. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "json.h"
#include "sample_event.h"
#include "test.h"

static struct eddy_json_doc *doc;
static char err[256];

static const char event[] = EDDY_SAMPLE_EVENT;

static const struct eddy_json *parse_n(const char *s, size_t n)
{
	return eddy_json_parse(doc, s, n, err, sizeof(err));
}

static const struct eddy_json *parse(const char *s)
{
	return parse_n(s, strlen(s));
}

/* The parse fails and the message contains want (and is one line). */
static int rejects(const char *s, size_t n, const char *want)
{
	const struct eddy_json *v = parse_n(s, n);

	if (v) {
		fprintf(stderr, "accepted: %.*s\n", (int)(n > 80 ? 80 : n), s);
		return 0;
	}
	if (!err[0] || strchr(err, '\n') || (want && !strstr(err, want))) {
		fprintf(stderr, "error for %.*s: \"%s\", want \"%s\"\n", (int)(n > 80 ? 80 : n), s,
		        err, want ? want : "(any)");
		return 0;
	}
	return 1;
}

#define REJECTS(lit, want) CHECK(rejects((lit), sizeof(lit) - 1, (want)))

static int raw_is(const struct eddy_json *v, const char *want)
{
	if (!v || !v->raw || v->raw_len != strlen(want) || memcmp(v->raw, want, v->raw_len) != 0) {
		fprintf(stderr, "raw: got \"%.*s\", want \"%s\"\n",
		        v && v->raw ? (int)v->raw_len : 0, v && v->raw ? v->raw : "", want);
		return 0;
	}
	return 1;
}

static int str_is(const struct eddy_json *v, const char *want, size_t n)
{
	return v && v->type == EDDY_JSON_STRING && v->len == n && memcmp(v->u.s, want, n) == 0 &&
	       v->u.s[n] == '\0';
}

#define STR_IS(v, lit) str_is((v), (lit), sizeof(lit) - 1)

static const struct eddy_json *item(const struct eddy_json *v, uint32_t i)
{
	return v && v->type == EDDY_JSON_ARRAY && i < v->len ? &v->u.items[i] : NULL;
}

/* Same value, compared deeply (doubles by bits, so -0.0 differs from 0.0). */
static int same(const struct eddy_json *a, const struct eddy_json *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case EDDY_JSON_INT:
		return a->u.i == b->u.i;
	case EDDY_JSON_DOUBLE:
		return memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0;
	case EDDY_JSON_STRING:
		return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0;
	case EDDY_JSON_ARRAY:
		if (a->len != b->len)
			return 0;
		for (uint32_t i = 0; i < a->len; i++)
			if (!same(&a->u.items[i], &b->u.items[i]))
				return 0;
		return 1;
	case EDDY_JSON_OBJECT:
		if (a->len != b->len)
			return 0;
		for (uint32_t i = 0; i < a->len; i++)
			if (a->u.members[i].key_len != b->u.members[i].key_len ||
			    memcmp(a->u.members[i].key, b->u.members[i].key,
			           a->u.members[i].key_len) ||
			    !same(&a->u.members[i].value, &b->u.members[i].value))
				return 0;
		return 1;
	default:
		return 1;
	}
}

/* Every container's raw text, parsed on its own, gives that container back;
 * it starts and ends with the right bracket and is not the caller's buffer.
 * Returns the number of containers checked, or -1. */
static int check_raws(const struct eddy_json *v, const char *input, size_t input_len,
                      struct eddy_json_doc *other)
{
	int n = 0, k;

	if (v->type != EDDY_JSON_ARRAY && v->type != EDDY_JSON_OBJECT)
		return v->raw == NULL && v->raw_len == 0 ? 0 : -1;
	if (!v->raw || v->raw_len < 2)
		return -1;
	if (v->raw >= input && v->raw < input + input_len)
		return -1;
	if (v->raw[0] != (v->type == EDDY_JSON_ARRAY ? '[' : '{') ||
	    v->raw[v->raw_len - 1] != (v->type == EDDY_JSON_ARRAY ? ']' : '}'))
		return -1;
	{
		char e[256];
		const struct eddy_json *again =
		    eddy_json_parse(other, v->raw, v->raw_len, e, sizeof(e));

		if (!again || !same(again, v))
			return -1;
	}
	for (uint32_t i = 0; i < v->len; i++) {
		k = check_raws(v->type == EDDY_JSON_ARRAY ? &v->u.items[i] : &v->u.members[i].value,
		               input, input_len, other);
		if (k < 0)
			return -1;
		n += k;
	}
	return n + 1;
}

static void test_types(void)
{
	const struct eddy_json *v, *m;

	v = parse("null");
	CHECK(v && v->type == EDDY_JSON_NULL && v->raw == NULL);
	v = parse("true");
	CHECK(v && v->type == EDDY_JSON_TRUE);
	v = parse("false");
	CHECK(v && v->type == EDDY_JSON_FALSE);
	v = parse("42");
	CHECK(v && v->type == EDDY_JSON_INT && v->u.i == 42);
	v = parse("-7");
	CHECK(v && v->type == EDDY_JSON_INT && v->u.i == -7);
	v = parse("1.5");
	CHECK(v && v->type == EDDY_JSON_DOUBLE && v->u.d == 1.5);
	v = parse("\"hi\"");
	CHECK(STR_IS(v, "hi"));
	CHECK_STR(eddy_json_str(v), "hi");
	v = parse("[]");
	CHECK(v && v->type == EDDY_JSON_ARRAY && v->len == 0);
	v = parse("{}");
	CHECK(v && v->type == EDDY_JSON_OBJECT && v->len == 0);
	CHECK(eddy_json_getz(v, "a") == NULL);

	v = parse("[null,true,false,0,-1,2.25,\"s\",[1],{\"k\":\"v\"}]");
	CHECK(v && v->type == EDDY_JSON_ARRAY && v->len == 9);
	if (v && v->len == 9) {
		CHECK(item(v, 0)->type == EDDY_JSON_NULL);
		CHECK(item(v, 1)->type == EDDY_JSON_TRUE);
		CHECK(item(v, 2)->type == EDDY_JSON_FALSE);
		CHECK(item(v, 3)->type == EDDY_JSON_INT && item(v, 3)->u.i == 0);
		CHECK(item(v, 4)->type == EDDY_JSON_INT && item(v, 4)->u.i == -1);
		CHECK(item(v, 5)->type == EDDY_JSON_DOUBLE && item(v, 5)->u.d == 2.25);
		CHECK(STR_IS(item(v, 6), "s"));
		CHECK(item(v, 7)->type == EDDY_JSON_ARRAY && item(v, 7)->len == 1 &&
		      item(item(v, 7), 0)->u.i == 1);
		m = item(v, 8);
		CHECK(m->type == EDDY_JSON_OBJECT && m->len == 1);
		CHECK(STR_IS(eddy_json_getz(m, "k"), "v"));
		for (uint32_t i = 0; i < 7; i++)
			CHECK(item(v, i)->raw == NULL && item(v, i)->raw_len == 0);
	}

	CHECK_STR(eddy_json_type_name(EDDY_JSON_NULL), "null");
	CHECK_STR(eddy_json_type_name(EDDY_JSON_FALSE), "boolean");
	CHECK_STR(eddy_json_type_name(EDDY_JSON_TRUE), "boolean");
	CHECK_STR(eddy_json_type_name(EDDY_JSON_INT), "integer");
	CHECK_STR(eddy_json_type_name(EDDY_JSON_DOUBLE), "number");
	CHECK_STR(eddy_json_type_name(EDDY_JSON_STRING), "string");
	CHECK_STR(eddy_json_type_name(EDDY_JSON_ARRAY), "array");
	CHECK_STR(eddy_json_type_name(EDDY_JSON_OBJECT), "object");
}

static void test_event(void)
{
	const struct eddy_json *v, *data, *lines, *meta;
	struct eddy_json_doc *other = eddy_json_doc_new();

	v = parse(event);
	CHECK(v && v->type == EDDY_JSON_OBJECT && v->len == 8);
	CHECK(v && raw_is(v, event));
	CHECK_STR(eddy_json_str(eddy_json_getz(v, "specversion")), "1.0");
	CHECK_STR(eddy_json_str(eddy_json_getz(v, "id")), "ORD-1234");
	CHECK(eddy_json_getz(v, "missing") == NULL);
	CHECK(eddy_json_get(v, "idx", 2) == eddy_json_getz(v, "id"));
	CHECK(eddy_json_getz(eddy_json_getz(v, "id"), "x") == NULL);
	CHECK(eddy_json_get(NULL, "a", 1) == NULL);
	CHECK(eddy_json_str(NULL) == NULL);
	CHECK(eddy_json_str(v) == NULL);

	meta = eddy_json_getz(v, "meta");
	CHECK(raw_is(eddy_json_getz(meta, "source"),
	             "{\"application\":\"relex-plan\",\"environment_type\":\"production\"}"));
	CHECK_STR(eddy_json_str(eddy_json_getz(eddy_json_getz(meta, "source"), "environment_type")),
	          "production");

	data = eddy_json_getz(v, "data");
	CHECK(data && data->type == EDDY_JSON_OBJECT && data->len == 11);
	CHECK(eddy_json_getz(data, "quantity")->type == EDDY_JSON_DOUBLE);
	CHECK(eddy_json_getz(data, "quantity")->u.d == 312.0);
	CHECK(eddy_json_getz(data, "version")->type == EDDY_JSON_INT);
	CHECK(eddy_json_getz(data, "version")->u.i == 3);
	lines = eddy_json_getz(data, "lines");
	CHECK(raw_is(
	    lines, "[{\"line_no\":1,\"sku\":\"SKU-0001234\",\"quantity\":200,\"unit_cost\":12.5},"
	           "{\"line_no\":2,\"sku\":\"SKU-0004321\",\"quantity\":112,\"unit_cost\":3.75}]"));
	CHECK(
	    raw_is(item(lines, 1),
	           "{\"line_no\":2,\"sku\":\"SKU-0004321\",\"quantity\":112,\"unit_cost\":3.75}"));
	CHECK(eddy_json_getz(item(lines, 1), "unit_cost")->u.d == 3.75);
	CHECK(eddy_json_getz(item(lines, 0), "quantity")->type == EDDY_JSON_INT);

	/* Members stay in document order. */
	CHECK(v && v->u.members[0].key_len == 11 &&
	      strcmp(v->u.members[0].key, "specversion") == 0);
	CHECK(v && strcmp(v->u.members[7].key, "data") == 0);
	CHECK(v && check_raws(v, event, sizeof(event) - 1, other) == 7);
	eddy_json_doc_destroy(other);
}

static void test_raw(void)
{
	static const char ws[] = " \t\r\n{ \"a\" : [ 1 ,\n{ } , [ ] ,\t{\"b\" :[ ]}  ,[[ ]]] ,\r\n"
	                         "\"c\":{ \"d\" : { \"e\":[1 , 2 ] } } , \"f\" : [ ]\n}\t \n";
	const struct eddy_json *v, *a, *c;
	struct eddy_json_doc *other = eddy_json_doc_new();
	char copy[sizeof(ws)];

	v = parse(ws);
	CHECK(v != NULL);
	if (!v)
		return;
	CHECK(raw_is(v, "{ \"a\" : [ 1 ,\n{ } , [ ] ,\t{\"b\" :[ ]}  ,[[ ]]] ,\r\n"
	                "\"c\":{ \"d\" : { \"e\":[1 , 2 ] } } , \"f\" : [ ]\n}"));
	a = eddy_json_getz(v, "a");
	CHECK(raw_is(a, "[ 1 ,\n{ } , [ ] ,\t{\"b\" :[ ]}  ,[[ ]]]"));
	CHECK(raw_is(item(a, 1), "{ }"));
	CHECK(raw_is(item(a, 2), "[ ]"));
	CHECK(raw_is(item(a, 3), "{\"b\" :[ ]}"));
	CHECK(raw_is(eddy_json_getz(item(a, 3), "b"), "[ ]"));
	CHECK(raw_is(item(a, 4), "[[ ]]"));
	CHECK(raw_is(item(item(a, 4), 0), "[ ]"));
	c = eddy_json_getz(v, "c");
	CHECK(raw_is(c, "{ \"d\" : { \"e\":[1 , 2 ] } }"));
	CHECK(raw_is(eddy_json_getz(c, "d"), "{ \"e\":[1 , 2 ] }"));
	CHECK(raw_is(eddy_json_getz(eddy_json_getz(c, "d"), "e"), "[1 , 2 ]"));
	CHECK(raw_is(eddy_json_getz(v, "f"), "[ ]"));
	CHECK(check_raws(v, ws, sizeof(ws) - 1, other) == 12);

	/* Empty containers, alone and padded. */
	CHECK(raw_is(parse("{}"), "{}"));
	CHECK(raw_is(parse("[]"), "[]"));
	CHECK(raw_is(parse("  [ ]  "), "[ ]"));
	CHECK(raw_is(parse("\n{\n}\n"), "{\n}"));
	CHECK(raw_is(item(parse("[{},[],{ },[ ]]"), 0), "{}"));
	CHECK(raw_is(item(parse("[{},[],{ },[ ]]"), 1), "[]"));
	CHECK(raw_is(item(parse("[{},[],{ },[ ]]"), 3), "[ ]"));
	/* Brackets inside strings do not end a container. */
	v = parse("{\"s\":[\"]\",\"}\",\"\\\"]\"] }");
	CHECK(raw_is(eddy_json_getz(v, "s"), "[\"]\",\"}\",\"\\\"]\"]"));

	/* Raw text is the doc's copy: the caller may reuse its buffer. */
	memcpy(copy, ws, sizeof(ws));
	v = parse(copy);
	memset(copy, 'x', sizeof(copy) - 1);
	CHECK(raw_is(eddy_json_getz(v, "f"), "[ ]"));
	CHECK(raw_is(eddy_json_getz(eddy_json_getz(v, "c"), "d"), "{ \"e\":[1 , 2 ] }"));

	/* A slice of a longer buffer, not NUL-terminated. */
	v = parse_n("[1,[2]]]]garbage", 7);
	CHECK(raw_is(v, "[1,[2]]"));
	CHECK(raw_is(item(v, 1), "[2]"));
	eddy_json_doc_destroy(other);
}

static void test_strings(void)
{
	const struct eddy_json *v;

	v = parse("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"");
	CHECK(STR_IS(v, "a\"b\\c/d\b\f\n\r\t"));
	v = parse("\"\\u00e9\\u20AC\"");
	CHECK(STR_IS(v, "\xc3\xa9\xe2\x82\xac"));
	v = parse("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	CHECK(STR_IS(v, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
	v = parse("\"\"");
	CHECK(STR_IS(v, ""));

	/* \u0000: len counts the NUL, and one more NUL terminates. */
	v = parse("[\"a\\u0000b\"]");
	CHECK(v && item(v, 0)->len == 3 && memcmp(item(v, 0)->u.s, "a\0b\0", 4) == 0);
	v = parse("{\"k\\u0000ey\":1,\"k\":2}");
	CHECK(v && v->len == 2 && v->u.members[0].key_len == 4 &&
	      memcmp(v->u.members[0].key, "k\0ey\0", 5) == 0);
	CHECK(eddy_json_get(v, "k\0ey", 4) && eddy_json_get(v, "k\0ey", 4)->u.i == 1);
	CHECK(eddy_json_getz(v, "k") && eddy_json_getz(v, "k")->u.i == 2);

	/* Surrogate pairs become one 4-byte character. */
	v = parse("\"\\ud83d\\ude00\"");
	CHECK(STR_IS(v, "\xf0\x9f\x98\x80"));
	v = parse("{\"\\uD834\\uDD1E\":\"x\\uDBFF\\uDFFFy\"}");
	CHECK(v && v->len == 1 && v->u.members[0].key_len == 4 &&
	      memcmp(v->u.members[0].key, "\xf0\x9d\x84\x9e", 5) == 0);
	CHECK(v && STR_IS(&v->u.members[0].value, "x\xf4\x8f\xbf\xbfy"));
	REJECTS("\"\\ud800\"", "invalid string at byte 0");
	REJECTS("[\"\\udc00\"]", "invalid string at byte 1");
	REJECTS("\"\\ude00\\ud83d\"", "invalid string");
	REJECTS("\"\\ud83d\\u0041\"", "invalid string");
	REJECTS("{\"\\ud800\":1}", "invalid string at byte 1");

	/* Bad escapes and raw control characters. */
	REJECTS("\"\\x41\"", "invalid string");
	REJECTS("\"\\u12\"", "invalid string");
	REJECTS("\"\\u12g4\"", "invalid string");
	REJECTS("[\"a\tb\"]", "invalid JSON");
	REJECTS("[\"a\nb\"]", "invalid JSON");
	REJECTS("[\"abc]", "invalid JSON");
	REJECTS("\"abc", "invalid JSON");

	/* Long strings, escaped and not, cross simdjson's vector blocks. */
	{
		char buf[3000], want[3000];
		size_t n = 0, w = 0;

		buf[n++] = '"';
		for (int i = 0; i < 500; i++) {
			buf[n++] = (char)('a' + i % 26);
			want[w++] = (char)('a' + i % 26);
			if (i % 7 == 0) {
				memcpy(buf + n, "\\n", 2);
				n += 2;
				want[w++] = '\n';
			}
		}
		buf[n++] = '"';
		v = parse_n(buf, n);
		CHECK(str_is(v, want, w));
	}
}

static void test_numbers(void)
{
	const struct eddy_json *v;

	v = parse("9223372036854775807");
	CHECK(v && v->type == EDDY_JSON_INT && v->u.i == INT64_MAX);
	v = parse("-9223372036854775808");
	CHECK(v && v->type == EDDY_JSON_INT && v->u.i == INT64_MIN);
	v = parse("9223372036854775808");
	CHECK(v && v->type == EDDY_JSON_DOUBLE && v->u.d == 9223372036854775808.0);
	v = parse("-9223372036854775809");
	CHECK(v && v->type == EDDY_JSON_DOUBLE && v->u.d == -9223372036854775808.0);
	v = parse("18446744073709551615");
	CHECK(v && v->type == EDDY_JSON_DOUBLE && v->u.d == 18446744073709551616.0);
	v = parse("18446744073709551616");
	CHECK(v && v->type == EDDY_JSON_DOUBLE && v->u.d == 18446744073709551616.0);
	v = parse("[123456789012345678901234567890,-123456789012345678901234567890]");
	CHECK(v && item(v, 0)->type == EDDY_JSON_DOUBLE &&
	      item(v, 0)->u.d == 123456789012345678901234567890.0);
	CHECK(v && item(v, 1)->type == EDDY_JSON_DOUBLE &&
	      item(v, 1)->u.d == -123456789012345678901234567890.0);
	v = parse(
	    "[9223372036854775807,9223372036854775808,-9223372036854775808,-9223372036854775809]");
	CHECK(v && item(v, 0)->type == EDDY_JSON_INT && item(v, 0)->u.i == INT64_MAX);
	CHECK(v && item(v, 1)->type == EDDY_JSON_DOUBLE);
	CHECK(v && item(v, 2)->type == EDDY_JSON_INT && item(v, 2)->u.i == INT64_MIN);
	CHECK(v && item(v, 3)->type == EDDY_JSON_DOUBLE);

	v = parse("[1.0,0,-0,-0.0,1e2,1E-2,1.5e+3,0.1,5e-324,1e-400,1.7976931348623157e308]");
	CHECK(v && v->len == 11);
	if (v && v->len == 11) {
		CHECK(item(v, 0)->type == EDDY_JSON_DOUBLE && item(v, 0)->u.d == 1.0);
		CHECK(item(v, 1)->type == EDDY_JSON_INT && item(v, 1)->u.i == 0);
		CHECK(item(v, 2)->type == EDDY_JSON_INT && item(v, 2)->u.i == 0);
		CHECK(item(v, 3)->type == EDDY_JSON_DOUBLE && item(v, 3)->u.d == 0.0 &&
		      signbit(item(v, 3)->u.d));
		CHECK(item(v, 4)->type == EDDY_JSON_DOUBLE && item(v, 4)->u.d == 100.0);
		CHECK(item(v, 5)->type == EDDY_JSON_DOUBLE && item(v, 5)->u.d == 0.01);
		CHECK(item(v, 6)->type == EDDY_JSON_DOUBLE && item(v, 6)->u.d == 1500.0);
		CHECK(item(v, 7)->u.d == 0.1);
		CHECK(item(v, 8)->u.d == 5e-324);
		CHECK(item(v, 9)->type == EDDY_JSON_DOUBLE && item(v, 9)->u.d == 0.0);
		CHECK(item(v, 10)->u.d == 1.7976931348623157e308);
	}
	v = parse("{\"n\":-12}");
	CHECK(v && eddy_json_getz(v, "n")->type == EDDY_JSON_INT &&
	      eddy_json_getz(v, "n")->u.i == -12);

	REJECTS("[01]", "invalid number at byte 1: ");
	REJECTS("[1.]", "invalid number");
	REJECTS("[.5]", "invalid");
	REJECTS("[-]", "invalid number");
	REJECTS("[+1]", "invalid");
	REJECTS("[1e]", "invalid number");
	REJECTS("[0x10]", "invalid number");
	REJECTS("[1x]", "invalid number");
	REJECTS("[--1]", "invalid number");
	REJECTS("[NaN]", "invalid");
	REJECTS("[Infinity]", "invalid");
	REJECTS("-Infinity", "invalid");
	/* Beyond double range: no finite value to give. */
	REJECTS("[1e400]", "invalid number at byte 1");
	REJECTS("-1e400", "invalid number at byte 0");
	REJECTS("01", "invalid number");
	REJECTS("1.", "invalid number");
}

static void test_duplicates(void)
{
	char buf[200000];
	size_t n;
	const struct eddy_json *v;

	REJECTS("{\"id\":1,\"id\":2}", "duplicate key \"id\" at byte 8");
	REJECTS("{\"a\":{\"x\":1,\"y\":2,\"x\":3}}", "duplicate key \"x\" at byte 18");
	REJECTS("[{\"a\":1},{\"b\":1,\"b\":1}]", "duplicate key \"b\"");
	REJECTS("{\"a\":1,\"b\":{\"c\":[{\"d\":1,\"d\":2}]}}", "duplicate key \"d\"");
	/* Equal once unescaped. */
	REJECTS("{\"a\":1,\"\\u0061\":2}", "duplicate key \"a\"");
	REJECTS("{\"\":1,\"\":2}", "duplicate key \"\"");
	/* Keys are quoted readably in the message. */
	REJECTS("{\"a\\\"b\\n\":1,\"a\\\"b\\n\":2}", "duplicate key \"a\\\"b\\x0a\"");
	/* The earliest repeat is the one reported. */
	REJECTS("{\"x\":1,\"y\":1,\"y\":2,\"x\":2}", "duplicate key \"y\" at byte 13");

	/* Near misses are distinct keys. */
	v = parse("{\"a\":1,\"aa\":2,\"A\":3,\"a \":4,\"axb\":5,\"ayb\":6,\"ab\":7,\"ba\":8}");
	CHECK(v && v->len == 8);
	v = parse("{\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":2}}");
	CHECK(v && v->len == 2);

	/* Large objects: distinct keys pass, a repeat anywhere is found. */
	for (int dup = -1; dup < 3; dup++) {
		int count = 5000;

		n = 0;
		buf[n++] = '{';
		for (int i = 0; i < count; i++) {
			int k = i;

			if (dup == 0 && i == count - 1)
				k = 0; /* last repeats the first */
			if (dup == 1 && i == 2500)
				k = 17; /* middle repeats an early one */
			if (dup == 2 && i == 20)
				k = 3; /* just past the linear range */
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"key_%d\":%d",
			                      i ? "," : "", k, i);
		}
		buf[n++] = '}';
		v = parse_n(buf, n);
		if (dup < 0) {
			CHECK(v && v->type == EDDY_JSON_OBJECT && v->len == (uint32_t)count);
			CHECK(v && eddy_json_getz(v, "key_4999") &&
			      eddy_json_getz(v, "key_4999")->u.i == 4999);
		} else {
			CHECK(v == NULL);
			CHECK(strstr(err, dup == 0   ? "duplicate key \"key_0\""
			                  : dup == 1 ? "duplicate key \"key_17\""
			                             : "duplicate key \"key_3\"") != NULL);
		}
	}
	/* Exactly at and just past the linear limit. */
	for (int count = 15; count <= 18; count++) {
		n = 0;
		buf[n++] = '{';
		for (int i = 0; i < count; i++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"%c\":%d", i ? "," : "",
			                      i == count - 1 ? 'a' : 'a' + i, i);
		buf[n++] = '}';
		CHECK(rejects(buf, n, "duplicate key \"a\""));
	}
	/* Many keys whose length, ends and middle agree. */
	n = 0;
	buf[n++] = '{';
	for (int i = 0; i < 16; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"k%c_x_%cz\":%d", i ? "," : "",
		                      'a' + i, 'a' + i, i);
	buf[n++] = '}';
	v = parse_n(buf, n);
	CHECK(v && v->len == 16);
}

static void test_rejections(void)
{
	char small[8];

	REJECTS("", "empty input");
	REJECTS("   \n\t ", "empty input");
	CHECK(eddy_json_parse(doc, NULL, 0, err, sizeof(err)) == NULL &&
	      strstr(err, "empty input"));

	/* Trailing content after the root. */
	/* simdjson finds these before the walk: the root's closing bracket
	 * must be the last token. */
	REJECTS("{} x", "invalid JSON at byte 0");
	REJECTS("{\"a\":1},", "invalid JSON");
	REJECTS("[1] [2]", "trailing content at byte 4");
	REJECTS("{}}", "trailing content at byte 2");
	REJECTS("[]]", "trailing content at byte 2");
	REJECTS("1 2", "trailing content at byte 2");
	REJECTS("\"a\" \"b\"", "trailing content at byte 4");
	REJECTS("true  false", "trailing content at byte 6");
	REJECTS("-1.5e3 0", "trailing content at byte 7");
	REJECTS("null x", "invalid");
	REJECTS("[1]x", "invalid JSON");
	CHECK(parse(" {\"a\":1} \n\t\r ") != NULL);
	CHECK(parse(" 1 ") != NULL);
	CHECK(parse("\t\"s\"\n") != NULL);
	REJECTS("null null", "invalid literal");
	REJECTS("nulll", "invalid");
	REJECTS("nul\n", "invalid");
	REJECTS("true\nx", "trailing content at byte 5");

	/* Structure. */
	REJECTS("{", "invalid JSON");
	REJECTS("[", "invalid JSON");
	REJECTS("]", "invalid JSON");
	REJECTS("{\"a\"}", "invalid JSON");
	REJECTS("{\"a\":}", "invalid JSON");
	REJECTS("{\"a\" 1}", "invalid JSON");
	REJECTS("{\"a\":1 \"b\":2}", "invalid JSON");
	REJECTS("{\"a\":1,}", "invalid JSON");
	REJECTS("{,}", "invalid JSON");
	REJECTS("{1:2}", "invalid JSON");
	REJECTS("[1,]", "invalid JSON");
	REJECTS("[,1]", "invalid JSON");
	REJECTS("[1,,2]", "invalid JSON");
	REJECTS("[1 2]", "invalid JSON");
	REJECTS("[\"a\":1]", "invalid JSON");
	REJECTS("[1}", "invalid JSON");
	REJECTS("{\"a\":[1}", "invalid JSON");
	REJECTS("'a'", "invalid");
	REJECTS("[nul]", "invalid literal at byte 1");
	REJECTS("[nullx]", "invalid literal");
	REJECTS("[tru]", "invalid literal");
	REJECTS("[truex]", "invalid literal");
	REJECTS("{\"a\":fals}", "invalid literal at byte 5");
	REJECTS("nul", "invalid");
	REJECTS("True", "invalid");
	REJECTS("[x]", "invalid");
	REJECTS("[{}{}]", "invalid JSON at byte 3");
	REJECTS("{\"a\":{}\"b\":1}", "invalid JSON at byte 7");
	REJECTS("[\"a\"\"b\"]", "invalid JSON");
	REJECTS("{a:1}", "invalid JSON");
	REJECTS("{\"a\"::1}", "invalid JSON");
	REJECTS("{\"a\",1}", "invalid JSON");
	REJECTS("[1:2]", "invalid JSON");
	REJECTS("{\"a\":[1,2}", "invalid JSON");
	REJECTS("[[1]", "invalid JSON");
	REJECTS("[nulll]", "invalid literal");
	REJECTS("[falsey]", "invalid literal");
	REJECTS("[1.5.5]", "invalid number");
	REJECTS("[1e5e5]", "invalid number");
	REJECTS("[-01]", "invalid number");
	REJECTS("[00]", "invalid number");
	REJECTS("[1e+]", "invalid number");
	/* NUL bytes outside and inside strings. */
	REJECTS("[1]\0", "invalid JSON");
	REJECTS("\0", "invalid JSON");
	REJECTS("[1,\0]", "invalid JSON");
	REJECTS("1\0", "invalid number");
	REJECTS("[\"a\0b\"]", "invalid JSON");
	REJECTS("{\"a\0\":1}", "invalid JSON");
	/* simdjson's own words are kept. */
	REJECTS("{\"a\":1,}", "improper structure");

	/* Invalid UTF-8, in values, keys and between tokens. */
	REJECTS("\"\xff\"", "invalid UTF-8");
	REJECTS("[\"\xc0\xaf\"]", "invalid UTF-8");
	REJECTS("[\"\xe2\x82\"]", "invalid UTF-8");
	REJECTS("{\"\xed\xa0\x80\":1}", "invalid UTF-8");
	REJECTS("[\"\xf4\x90\x80\x80\"]", "invalid UTF-8");
	REJECTS("[1,\x80]", "invalid UTF-8");

	/* Messages fit any buffer. */
	memset(small, 'x', sizeof(small));
	CHECK(eddy_json_parse(doc, "{\"id\":1,\"id\":2}", 15, small, sizeof(small)) == NULL);
	CHECK(small[sizeof(small) - 1] == '\0' && strncmp(small, "duplica", 7) == 0);
	CHECK(eddy_json_parse(doc, "[1,]", 4, NULL, 0) == NULL);
	CHECK(eddy_json_parse(doc, "[1]", 3, NULL, 0) != NULL);
	/* A success clears an old message. */
	CHECK(parse("[1]") != NULL && err[0] == '\0');
}

/* Any JSON value is a document: a root scalar, with whitespace around it
 * (NDJSON lines end in "\n"), parses to its type. */
static void test_root_scalars(void)
{
	static const struct {
		const char *text;
		enum eddy_json_type type;
	} cases[] = {
	    {"null", EDDY_JSON_NULL},      {"null\n", EDDY_JSON_NULL},
	    {" null ", EDDY_JSON_NULL},    {"\tnull\r\n", EDDY_JSON_NULL},
	    {"true\n", EDDY_JSON_TRUE},    {" false ", EDDY_JSON_FALSE},
	    {"12\n", EDDY_JSON_INT},       {" -0.5 \n", EDDY_JSON_DOUBLE},
	    {"\"x\"\n", EDDY_JSON_STRING}, {"\"\" ", EDDY_JSON_STRING},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct eddy_json *v = parse(cases[i].text);

		CHECK(v && v->type == cases[i].type);
		if (!v)
			fprintf(stderr, "  root scalar %zu: %s\n", i, err);
	}
}

static void test_depth(void)
{
	char buf[2 * (EDDY_JSON_MAX_DEPTH + 1) + 16];
	const struct eddy_json *v;
	size_t n;
	int d;

	/* EDDY_JSON_MAX_DEPTH arrays deep is fine, one more is not. */
	for (d = EDDY_JSON_MAX_DEPTH; d <= EDDY_JSON_MAX_DEPTH + 1; d++) {
		n = 0;
		for (int i = 0; i < d; i++)
			buf[n++] = '[';
		for (int i = 0; i < d; i++)
			buf[n++] = ']';
		v = parse_n(buf, n);
		if (d == EDDY_JSON_MAX_DEPTH) {
			CHECK(v != NULL);
			for (int i = 1; v && i < d; i++)
				v = item(v, 0);
			CHECK(v && v->type == EDDY_JSON_ARRAY && v->len == 0 && raw_is(v, "[]"));
		} else {
			CHECK(v == NULL && strstr(err, "nesting deeper than 128 at byte 128"));
		}
	}
	/* Objects count the same, and depth is not confused by siblings. */
	{
		static char obj[8 * (EDDY_JSON_MAX_DEPTH + 2)];

		n = 0;
		for (int i = 0; i < EDDY_JSON_MAX_DEPTH + 1; i++)
			n += (size_t)snprintf(obj + n, sizeof(obj) - n, "{\"a\":");
		obj[n++] = '1';
		for (int i = 0; i < EDDY_JSON_MAX_DEPTH + 1; i++)
			obj[n++] = '}';
		CHECK(rejects(obj, n, "nesting deeper than 128"));
		/* Drop the outermost level: now it fits. */
		CHECK(parse_n(obj + 5, n - 6) != NULL);
	}
	{
		/* Two siblings each 127 deep inside a root array: 128. */
		char sib[600];
		size_t m = 0;

		sib[m++] = '[';
		for (int k = 0; k < 2; k++) {
			if (k)
				sib[m++] = ',';
			for (int i = 0; i < EDDY_JSON_MAX_DEPTH - 1; i++)
				sib[m++] = '[';
			for (int i = 0; i < EDDY_JSON_MAX_DEPTH - 1; i++)
				sib[m++] = ']';
		}
		sib[m++] = ']';
		CHECK(parse_n(sib, m) != NULL);
	}
	/* Far deeper than simdjson's own default limit. */
	{
		size_t deep = 5000;
		char *p = malloc(2 * deep);

		if (p) {
			memset(p, '[', deep);
			memset(p + deep, ']', deep);
			CHECK(rejects(p, 2 * deep, "nesting deeper than 128"));
			free(p);
		}
	}
}

/* Builds a large document and checks it, then that the doc still parses
 * small ones. */
static void test_large(void)
{
	size_t cap = 3 << 20, n = 0;
	char *buf = malloc(cap);
	const struct eddy_json *v;
	struct eddy_json_doc *other = eddy_json_doc_new();
	int count = 0;

	if (!buf || !other) {
		CHECK(0);
		free(buf);
		eddy_json_doc_destroy(other);
		return;
	}
	/* About 1.5 MB: numbers, strings, small objects. */
	buf[n++] = '[';
	while (n < (3u << 19)) {
		n += (size_t)snprintf(buf + n, cap - n, "%s%d,\"s%d\",{\"i\":%d,\"t\":[true,null]}",
		                      count ? "," : "", count, count, count);
		count++;
	}
	buf[n++] = ']';
	v = parse_n(buf, n);
	CHECK(v && v->type == EDDY_JSON_ARRAY && v->len == (uint32_t)count * 3);
	CHECK(v && v->raw_len == n);
	if (v && v->len == (uint32_t)count * 3) {
		int ok = 1;

		for (int i = 0; i < count; i++) {
			const struct eddy_json *num = item(v, 3 * i), *s = item(v, 3 * i + 1),
			                       *o = item(v, 3 * i + 2);
			char want[32];

			snprintf(want, sizeof(want), "s%d", i);
			if (num->type != EDDY_JSON_INT || num->u.i != i ||
			    strcmp(eddy_json_str(s), want) || eddy_json_getz(o, "i")->u.i != i ||
			    eddy_json_getz(o, "t")->len != 2 || o->raw[0] != '{' ||
			    o->raw[o->raw_len - 1] != '}')
				ok = 0;
		}
		CHECK(ok);
	}

	/* One 1 MB string. */
	n = 0;
	buf[n++] = '[';
	buf[n++] = '"';
	memset(buf + n, 'z', 1 << 20);
	n += 1 << 20;
	memcpy(buf + n, "\\u00e9\"]", 8);
	n += 8;
	v = parse_n(buf, n);
	CHECK(v && item(v, 0)->len == (1u << 20) + 2 && item(v, 0)->u.s[(1u << 20) + 2] == '\0');
	CHECK(v && memcmp(item(v, 0)->u.s + (1 << 20), "\xc3\xa9", 2) == 0);

	v = parse("[1]");
	CHECK(v && v->len == 1 && item(v, 0)->u.i == 1);
	free(buf);
	eddy_json_doc_destroy(other);
}

/* One doc parses documents of many sizes in turn; each result is whole and
 * the previous one is gone, failures included. */
static void test_reuse(void)
{
	static char buf[100000];
	const struct eddy_json *v;
	int sizes[] = {1, 500, 3, 2000, 0, 40, 1200, 2, 700};

	for (int round = 0; round < 3; round++) {
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			size_t n = 0;

			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"round\":%d,\"items\":[",
			                      round);
			for (int i = 0; i < sizes[s]; i++)
				n += (size_t)snprintf(buf + n, sizeof(buf) - n,
				                      "%s{\"n\":%d,\"s\":\"v%d\"}", i ? "," : "", i,
				                      i * 7 + round);
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "]}");
			v = parse_n(buf, n);
			CHECK(v && eddy_json_getz(v, "round")->u.i == round);
			if (v) {
				const struct eddy_json *items = eddy_json_getz(v, "items");
				int ok = items && items->len == (uint32_t)sizes[s];

				for (int i = 0; ok && i < sizes[s]; i++) {
					char want[32];

					snprintf(want, sizeof(want), "v%d", i * 7 + round);
					ok = eddy_json_getz(item(items, (uint32_t)i), "n")->u.i ==
					         i &&
					     strcmp(eddy_json_str(eddy_json_getz(
					                item(items, (uint32_t)i), "s")),
					            want) == 0;
				}
				CHECK(ok);
				CHECK(raw_is(v, buf));
			}
			/* A failure in between leaves the next parse unharmed. */
			CHECK(parse("{\"a\":[1,2,{\"b\":1,\"b\":2}]}") == NULL);
			CHECK(parse("[1,2,") == NULL);
		}
	}
	v = parse(event);
	CHECK(v && v->len == 8);
	v = parse("7");
	CHECK(v && v->type == EDDY_JSON_INT && v->u.i == 7 && v->len == 0);
	v = parse(event);
	CHECK(v && strcmp(eddy_json_str(eddy_json_getz(v, "id")), "ORD-1234") == 0);

#ifdef __GLIBC__
	/* Steady state: the same event again and again takes no more heap. */
	{
		struct mallinfo2 before, after;

		for (int i = 0; i < 10; i++)
			parse(event);
		before = mallinfo2();
		for (int i = 0; i < 1000; i++)
			CHECK(parse(event) != NULL);
		after = mallinfo2();
		CHECK(before.uordblks == after.uordblks && before.hblkhd == after.hblkhd);
	}
#endif
}

/* Several docs are independent. */
static void test_docs(void)
{
	struct eddy_json_doc *a = eddy_json_doc_new(), *b = eddy_json_doc_new();
	const struct eddy_json *va, *vb;

	CHECK(a && b);
	va = eddy_json_parse(a, "{\"x\":\"from a\"}", 14, err, sizeof(err));
	vb = eddy_json_parse(b, "{\"x\":\"from b\"}", 14, err, sizeof(err));
	CHECK_STR(eddy_json_str(eddy_json_getz(va, "x")), "from a");
	CHECK_STR(eddy_json_str(eddy_json_getz(vb, "x")), "from b");
	eddy_json_doc_destroy(a);
	eddy_json_doc_destroy(b);
	eddy_json_doc_destroy(NULL);
}

int main(void)
{
	doc = eddy_json_doc_new();
	if (!doc) {
		fprintf(stderr, "eddy_json_doc_new failed\n");
		return 1;
	}
	test_types();
	test_event();
	test_raw();
	test_strings();
	test_numbers();
	test_duplicates();
	test_rejections();
	test_root_scalars();
	test_depth();
	test_large();
	test_reuse();
	test_docs();
	eddy_json_doc_destroy(doc);
	return test_report("json");
}
