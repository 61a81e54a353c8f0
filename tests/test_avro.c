/* test_avro.c - Avro datums to JSON and back: every type, the logical types'
 * strings, refused bytes and JSON, a large payload. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/avro.h"
#include "avro_encode.h"
#include "test.h"

static char err[512];

static const char order_schema[] =
    "{\"type\":\"record\",\"name\":\"OrderProposal\",\"namespace\":\"com.example.orders\","
    "\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"customer\",\"type\":\"string\"},"
    "{\"name\":\"quantity\",\"type\":\"double\"},"
    "{\"name\":\"unit\",\"type\":{\"type\":\"enum\",\"name\":\"Unit\","
    "\"symbols\":[\"PIECE\",\"KG\",\"LITRE\"]}},"
    "{\"name\":\"version\",\"type\":\"int\"},"
    "{\"name\":\"lines\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
    "\"name\":\"Line\",\"fields\":[{\"name\":\"sku\",\"type\":\"string\"},"
    "{\"name\":\"qty\",\"type\":\"long\"},{\"name\":\"unit\",\"type\":\"Unit\"}]}}},"
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"created_at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"delivery_date\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
    "{\"name\":\"total\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\","
    "\"precision\":10,\"scale\":2}},"
    "{\"name\":\"proposal_id\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"
    "{\"name\":\"attributes\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"
    "{\"name\":\"checksum\",\"type\":{\"type\":\"fixed\",\"name\":\"Md5\",\"size\":16}}"
    "]}";

static const char order_json[] =
    "{\"id\":\"p-1001\",\"customer\":\"Acme \\\"Tools\\\" GmbH\",\"quantity\":12.5,"
    "\"unit\":\"KG\",\"version\":3,"
    "\"lines\":[{\"sku\":\"A-1\",\"qty\":2,\"unit\":\"PIECE\"},"
    "{\"sku\":\"B-\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"qty\":-9007199254740993,\"unit\":"
    "\"LITRE\"}],"
    "\"note\":\"deliver\\u0001 before noon\\u000a\","
    "\"created_at\":\"2025-01-14T12:30:00.123Z\",\"delivery_date\":\"2025-01-20\","
    "\"total\":\"12.34\",\"proposal_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\","
    "\"attributes\":{\"channel\":\"web\",\"a/b~c\":\"\"},"
    "\"checksum\":\"AAECAwQFBgcICQoLDA0ODw==\"}";

/* The datum of json, or NULL (with err). */
static unsigned char *encode(struct eddy_avro_schema *s, const char *json, size_t *len)
{
	void *out = NULL;

	if (eddy_avro_from_json(s, json, strlen(json), &out, len, err, sizeof(err)))
		return NULL;
	return out;
}

/* JSON of a datum, or NULL (with err). */
static char *decode(struct eddy_avro_schema *s, const void *buf, size_t len)
{
	char *out = NULL;
	size_t out_len = 0;

	if (eddy_avro_to_json(s, buf, len, &out, &out_len, err, sizeof(err)))
		return NULL;
	if (strlen(out) != out_len) {
		free(out);
		return NULL;
	}
	return out;
}

static struct eddy_avro_schema *schema(const char *text)
{
	struct eddy_avro_schema *s = eddy_avro_schema_parse(text, strlen(text), err, sizeof(err));

	if (!s)
		fprintf(stderr, "schema: %s\n", err);
	return s;
}

/* json encodes and decodes back to want (json itself when NULL). */
static int round_trip(struct eddy_avro_schema *s, const char *json, const char *want)
{
	size_t len;
	unsigned char *bin = encode(s, json, &len);
	char *back;
	int ok;

	if (!bin) {
		fprintf(stderr, "encode %s: %s\n", json, err);
		return 0;
	}
	back = decode(s, bin, len);
	free(bin);
	if (!back) {
		fprintf(stderr, "decode %s: %s\n", json, err);
		return 0;
	}
	ok = strcmp(back, want ? want : json) == 0;
	if (!ok)
		fprintf(stderr, "round trip:\n  got  %s\n  want %s\n", back, want ? want : json);
	free(back);
	return ok;
}

/* Decoding buf fails with a one-line message containing want. */
static int decode_fails(struct eddy_avro_schema *s, const void *buf, size_t len, const char *want)
{
	char *out = decode(s, buf, len);

	if (out) {
		fprintf(stderr, "decoded, want error \"%s\": %s\n", want, out);
		free(out);
		return 0;
	}
	if (!strstr(err, want) || strchr(err, '\n')) {
		fprintf(stderr, "error \"%s\", want \"%s\"\n", err, want);
		return 0;
	}
	return 1;
}

static int encode_fails(struct eddy_avro_schema *s, const char *json, const char *want)
{
	size_t len;
	unsigned char *bin = encode(s, json, &len);

	if (bin) {
		fprintf(stderr, "encoded %s, want error \"%s\"\n", json, want);
		free(bin);
		return 0;
	}
	if (!strstr(err, want) || strchr(err, '\n')) {
		fprintf(stderr, "error \"%s\", want \"%s\"\n", err, want);
		return 0;
	}
	return 1;
}

/* Appends the zigzag varint of v; returns the new length. */
static size_t zz(unsigned char *b, size_t n, int64_t v)
{
	uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);

	while (u > 0x7f) {
		b[n++] = (unsigned char)(u | 0x80);
		u >>= 7;
	}
	b[n++] = (unsigned char)u;
	return n;
}

/* The decoded JSON of a single value v of a one-long/int schema. */
static int long_is(struct eddy_avro_schema *s, int64_t v, const char *want)
{
	unsigned char b[16];
	size_t n = zz(b, 0, v);
	char *out = decode(s, b, n);
	int ok = out && strcmp(out, want) == 0;

	if (!ok)
		fprintf(stderr, "%lld: got %s, want %s\n", (long long)v, out ? out : err, want);
	free(out);
	return ok;
}

static int long_fails(struct eddy_avro_schema *s, int64_t v, const char *want)
{
	unsigned char b[16];

	return decode_fails(s, b, zz(b, 0, v), want);
}

static void test_order(void)
{
	struct eddy_avro_schema *s = schema(order_schema);
	size_t len;
	unsigned char *bin;
	char *back;

	CHECK(s != NULL);
	if (!s)
		return;
	/* Escapes come back as the decoder writes them: \u00XX for controls. */
	CHECK(round_trip(s, order_json, NULL));

	/* Logical types given as their raw numbers come back as strings. */
	CHECK(round_trip(
	    s,
	    "{\"id\":\"x\",\"customer\":\"c\",\"quantity\":1,\"unit\":\"PIECE\",\"version\":1,"
	    "\"lines\":[],\"note\":null,\"created_at\":1736857800123,\"delivery_date\":20108,"
	    "\"total\":\"-0.05\",\"proposal_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	    "\"attributes\":{},\"checksum\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}",
	    "{\"id\":\"x\",\"customer\":\"c\",\"quantity\":1,\"unit\":\"PIECE\",\"version\":1,"
	    "\"lines\":[],\"note\":null,\"created_at\":\"2025-01-14T12:30:00.123Z\","
	    "\"delivery_date\":\"2025-01-20\",\"total\":\"-0.05\","
	    "\"proposal_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\",\"attributes\":{},"
	    "\"checksum\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}"));

	/* An optional field left out is null; a zone offset is the same instant. */
	CHECK(round_trip(
	    s,
	    "{\"id\":\"x\",\"customer\":\"c\",\"quantity\":0.1,\"unit\":\"PIECE\",\"version\":1,"
	    "\"lines\":[],\"created_at\":\"2025-01-14T13:30:00.123+01:00\","
	    "\"delivery_date\":\"2025-01-20\",\"total\":\"0\","
	    "\"proposal_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\",\"attributes\":{},"
	    "\"checksum\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}",
	    "{\"id\":\"x\",\"customer\":\"c\",\"quantity\":0.1,\"unit\":\"PIECE\",\"version\":1,"
	    "\"lines\":[],\"note\":null,\"created_at\":\"2025-01-14T12:30:00.123Z\","
	    "\"delivery_date\":\"2025-01-20\",\"total\":\"0.00\","
	    "\"proposal_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\",\"attributes\":{},"
	    "\"checksum\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}"));

	bin = encode(s, order_json, &len);
	CHECK(bin != NULL);
	if (bin) {
		unsigned char *more = malloc(len + 1);

		/* Every cut of the datum is refused, none is taken for a shorter one. */
		for (size_t cut = 0; cut < len; cut++)
			CHECK(decode_fails(s, bin, cut, "truncated"));
		memcpy(more, bin, len);
		more[len] = 0;
		CHECK(decode_fails(s, more, len + 1, "1 trailing bytes after the datum"));
		back = decode(s, bin, len);
		CHECK(back != NULL);
		free(back);
		free(more);
		free(bin);
	}

	/* JSON that does not fit names where. */
	CHECK(
	    encode_fails(s,
	                 "{\"id\":\"x\",\"customer\":\"c\",\"quantity\":1,\"unit\":\"KG\","
	                 "\"version\":1,\"lines\":[{\"sku\":\"a\",\"qty\":\"2\",\"unit\":\"KG\"}],"
	                 "\"note\":null,\"created_at\":0,\"delivery_date\":0,\"total\":\"1\","
	                 "\"proposal_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	                 "\"attributes\":{},\"checksum\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}",
	                 "/lines/0/qty: expected long, got string"));
	CHECK(encode_fails(s, "{\"id\":\"x\"}", "missing field \"customer\""));
	CHECK(encode_fails(s, "[]", "expected record, got array"));
	CHECK(encode_fails(s, "{\"id\":\"x\",\"colour\":1}", "/colour: not a field of record"));
	CHECK(encode_fails(s, "{\"id\":\"x\",\"customer\":\"c\",\"quantity\":1,\"unit\":\"TON\"}",
	                   "/unit: \"TON\" is not a symbol of enum Unit"));
	CHECK(encode_fails(s,
	                   "{\"id\":\"x\",\"customer\":\"c\",\"quantity\":1,\"unit\":\"KG\","
	                   "\"version\":1,\"lines\":[],\"note\":7}",
	                   "/note: expected null or string, got integer"));
	CHECK(encode_fails(s,
	                   "{\"id\":\"x\",\"customer\":\"c\",\"quantity\":1,\"unit\":\"KG\","
	                   "\"version\":1,\"lines\":[],\"note\":null,\"created_at\":\"yesterday\"}",
	                   "/created_at: expected timestamp-millis as"));
	CHECK(encode_fails(s, "{\"id\":", "invalid JSON"));
	eddy_avro_schema_free(s);
}

static void test_logical(void)
{
	struct eddy_avro_schema *s;

	s = schema("{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}");
	CHECK(s && long_is(s, 1736857800123, "\"2025-01-14T12:30:00.123Z\""));
	CHECK(s && long_is(s, 0, "\"1970-01-01T00:00:00.000Z\""));
	CHECK(s && long_is(s, -1, "\"1969-12-31T23:59:59.999Z\""));
	CHECK(s && decode_fails(s, "\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10,
	                        "outside years 0000-9999"));
	eddy_avro_schema_free(s);

	s = schema("{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}");
	CHECK(s && long_is(s, 1736857800123456, "\"2025-01-14T12:30:00.123456Z\""));
	CHECK(s && round_trip(s, "\"2025-01-14T12:30:00.1Z\"", "\"2025-01-14T12:30:00.100000Z\""));
	CHECK(s &&
	      encode_fails(s, "\"2025-01-14T12:30:00.1234567Z\"", "expected timestamp-micros"));
	eddy_avro_schema_free(s);

	s = schema("{\"type\":\"long\",\"logicalType\":\"local-timestamp-millis\"}");
	CHECK(s && long_is(s, 1736857800123, "\"2025-01-14T12:30:00.123\""));
	CHECK(s && round_trip(s, "\"2024-02-29T23:59:59.999\"", NULL));
	CHECK(s &&
	      encode_fails(s, "\"2023-02-29T00:00:00.000\"", "expected local-timestamp-millis"));
	eddy_avro_schema_free(s);

	s = schema("{\"type\":\"long\",\"logicalType\":\"local-timestamp-micros\"}");
	CHECK(s && long_is(s, 1736857800123456, "\"2025-01-14T12:30:00.123456\""));
	eddy_avro_schema_free(s);

	s = schema("{\"type\":\"int\",\"logicalType\":\"date\"}");
	CHECK(s && long_is(s, 20108, "\"2025-01-20\""));
	CHECK(s && long_is(s, -719162, "\"0001-01-01\""));
	CHECK(s && long_is(s, 2932896, "\"9999-12-31\""));
	CHECK(s && long_fails(s, 3000000, "date 3000000 is outside years 0000-9999"));
	eddy_avro_schema_free(s);

	s = schema("{\"type\":\"int\",\"logicalType\":\"time-millis\"}");
	CHECK(s && long_is(s, 45000123, "\"12:30:00.123\""));
	CHECK(s && long_fails(s, 86400000, "time-millis 86400000 is not a time of day"));
	CHECK(s && long_fails(s, -1, "not a time of day"));
	CHECK(s && round_trip(s, "\"23:59:59.999\"", NULL));
	eddy_avro_schema_free(s);

	s = schema("{\"type\":\"long\",\"logicalType\":\"time-micros\"}");
	CHECK(s && long_is(s, 45000123456, "\"12:30:00.123456\""));
	eddy_avro_schema_free(s);

	/* A logical type on the wrong type is ignored, as the spec says. */
	s = schema("{\"type\":\"string\",\"logicalType\":\"date\"}");
	CHECK(s && round_trip(s, "\"not a date\"", NULL));
	eddy_avro_schema_free(s);

	s = schema("{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":10,\"scale\":2}");
	CHECK(s && round_trip(s, "\"12.34\"", NULL));
	CHECK(s && round_trip(s, "\"-0.05\"", NULL));
	CHECK(s && round_trip(s, "\"99999999.99\"", NULL));
	CHECK(s && round_trip(s, "\"-99999999.99\"", NULL));
	CHECK(s && round_trip(s, "\"-1.28\"", NULL));
	CHECK(s && round_trip(s, "\"1.230\"", "\"1.23\""));
	CHECK(s && round_trip(s, "\"7\"", "\"7.00\""));
	CHECK(s && encode_fails(s, "\"1.234\"", "more than 2 digits after the point"));
	CHECK(s && encode_fails(s, "\"123456789.00\"", "more than 10 digits"));
	CHECK(s && encode_fails(s, "\"1e3\"", "is not a decimal number"));
	CHECK(s && encode_fails(s, "12.34", "expected decimal, got number"));
	eddy_avro_schema_free(s);
	{
		/* 12.34 and -0.05 as a Java producer writes them. */
		struct eddy_avro_schema *d = schema("{\"type\":\"bytes\",\"logicalType\":"
		                                    "\"decimal\",\"precision\":10,\"scale\":2}");
		char *out = d ? decode(d, "\x04\x04\xd2", 3) : NULL;

		CHECK_STR(out, "\"12.34\"");
		free(out);
		out = d ? decode(d, "\x02\xfb", 2) : NULL;
		CHECK_STR(out, "\"-0.05\"");
		free(out);
		eddy_avro_schema_free(d);
	}

	/* decimal and uuid on fixed, the named fixed referenced a second time. */
	s = schema("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
	           "{\"name\":\"a\",\"type\":{\"type\":\"fixed\",\"name\":\"Dec\",\"size\":8,"
	           "\"logicalType\":\"decimal\",\"precision\":18,\"scale\":4}},"
	           "{\"name\":\"b\",\"type\":\"Dec\"},"
	           "{\"name\":\"u\",\"type\":{\"type\":\"fixed\",\"name\":\"U\",\"size\":16,"
	           "\"logicalType\":\"uuid\"}},"
	           "{\"name\":\"f\",\"type\":\"float\"},{\"name\":\"ok\",\"type\":\"boolean\"},"
	           "{\"name\":\"raw\",\"type\":\"bytes\"}]}");
	CHECK(s &&
	      round_trip(s,
	                 "{\"a\":\"-123456789012.3456\",\"b\":\"0.0001\","
	                 "\"u\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\",\"f\":0.1,\"ok\":true,"
	                 "\"raw\":\"/w==\"}",
	                 NULL));
	CHECK(s && encode_fails(s, "{\"a\":\"0\",\"b\":\"0\",\"u\":\"nope\"}",
	                        "/u: \"nope\" is not a UUID"));
	eddy_avro_schema_free(s);

	/* Logical types of array items and map values. */
	s = schema(
	    "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
	    "{\"name\":\"days\",\"type\":{\"type\":\"array\",\"items\":"
	    "{\"type\":\"int\",\"logicalType\":\"date\"}}},"
	    "{\"name\":\"prices\",\"type\":{\"type\":\"map\",\"values\":"
	    "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":4,\"scale\":1}}}]}");
	CHECK(s &&
	      round_trip(s,
	                 "{\"days\":[\"2024-02-29\",\"1970-01-01\"],\"prices\":{\"a\":\"-999.9\"}}",
	                 NULL));
	eddy_avro_schema_free(s);
}

/* The bytes a producer writes, spelled out, and how a union picks its branch. */
static void test_encoding(void)
{
	struct eddy_avro_schema *s;
	size_t len;
	unsigned char *bin;

	s = schema(
	    "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
	    "{\"name\":\"b\",\"type\":\"string\"},{\"name\":\"c\",\"type\":[\"null\",\"long\"]}]}");
	bin = s ? encode(s, "{\"a\":-1,\"b\":\"h\\u0000i\",\"c\":64}", &len) : NULL;
	CHECK(bin && len == 8 && memcmp(bin, "\x01\x06h\0i\x02\x80\x01", 8) == 0);
	free(bin);
	eddy_avro_schema_free(s);

	s = schema("[\"null\",\"int\",\"long\",\"double\",\"string\",{\"type\":\"array\",\"items\":"
	           "\"int\"}]");
	bin = s ? encode(s, "3000000000", &len) : NULL;
	CHECK(bin && len > 0 && bin[0] == 4); /* too big for int: long */
	free(bin);
	bin = s ? encode(s, "7", &len) : NULL;
	CHECK(bin && len == 2 && bin[0] == 2 && bin[1] == 14);
	free(bin);
	bin = s ? encode(s, "1.5", &len) : NULL;
	CHECK(bin && len == 9 && bin[0] == 6);
	free(bin);
	CHECK(s && round_trip(s, "[1,2]", NULL));
	CHECK(s && round_trip(s, "\"x\"", NULL));
	CHECK(s && round_trip(s, "null", NULL));
	/* The array branch is the only one an array fits: its error is the one told. */
	CHECK(s && encode_fails(s, "[1,\"2\"]", "/1: expected int, got string"));
	CHECK(s && encode_fails(
	               s, "{}",
	               "expected null or int or long or double or string or array, got object"));
	eddy_avro_schema_free(s);
}

static void test_refused(void)
{
	struct eddy_avro_schema *s;
	unsigned char b[4096];
	size_t n;
	char *out;

	CHECK(!eddy_avro_schema_parse("{\"type\":\"record\"}", 17, err, sizeof(err)));
	CHECK(strstr(err, "invalid Avro schema") && !strchr(err, '\n'));
	CHECK(!eddy_avro_schema_parse("{\"type\":\"nothing\"}", 18, err, sizeof(err)));
	CHECK(strstr(err, "invalid Avro schema") && !strchr(err, '\n'));
	CHECK(!eddy_avro_schema_parse("{", 1, err, sizeof(err)));

	s = schema("[\"null\",\"string\"]");
	CHECK(s && decode_fails(s, "\x04", 1, "union index 2 out of range (2 branches)"));
	CHECK(s && decode_fails(s, "\x01", 1, "union index -1 out of range"));
	CHECK(s && decode_fails(s, "\x02\x06\x61\xff\x62", 5, "not valid UTF-8"));
	CHECK(s && decode_fails(s, "\x02\x04\xed\xa0", 4, "not valid UTF-8"));
	/* A length far beyond the bytes is refused before anything is allocated. */
	CHECK(s && decode_fails(s, "\x02\xfe\xff\xff\xff\x0f", 6, "truncated"));
	CHECK(s && decode_fails(s, "\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12,
	                        "varint longer than 10 bytes"));
	out = s ? decode(s, "\x02\x0c\x01\"\\\n\x7f/", 8) : NULL;
	CHECK_STR(out, "\"\\u0001\\\"\\\\\\u000a\x7f/\"");
	free(out);
	out = s ? decode(s, "\x00", 1) : NULL;
	CHECK_STR(out, "null");
	free(out);
	eddy_avro_schema_free(s);

	s = schema("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}");
	CHECK(s && decode_fails(s, "\x04", 1, "enum index 2 out of range"));
	eddy_avro_schema_free(s);

	s = schema("\"boolean\"");
	CHECK(s && decode_fails(s, "\x02", 1, "neither 0 nor 1"));
	eddy_avro_schema_free(s);

	/* NaN and the infinities are not JSON. */
	s = schema("{\"type\":\"array\",\"items\":\"double\"}");
	out = s ? decode(s,
	                 "\x06\x00\x00\x00\x00\x00\x00\xf8\x7f\x00\x00\x00\x00\x00\x00\xf0\x7f"
	                 "\x9a\x99\x99\x99\x99\x99\xb9\x3f\x00",
	                 26)
	        : NULL;
	CHECK_STR(out, "[null,null,0.1]");
	free(out);
	/* Blocks with a byte size, as some writers use. */
	out = s ? decode(s, "\x01\x10\x00\x00\x00\x00\x00\x00\xf0\x3f\x00", 11) : NULL;
	CHECK_STR(out, "[1]");
	free(out);
	eddy_avro_schema_free(s);

	/* A recursive schema cannot nest without limit. */
	s = schema("{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
	           "{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}");
	n = 0;
	for (int i = 0; i < 10; i++)
		b[n++] = 2;
	b[n++] = 0;
	out = s ? decode(s, b, n) : NULL;
	CHECK(out && strncmp(out, "{\"next\":{\"next\":", 16) == 0);
	free(out);
	n = 0;
	for (int i = 0; i < 1000; i++)
		b[n++] = 2;
	b[n++] = 0;
	CHECK(s && decode_fails(s, b, n, "nested deeper than"));
	eddy_avro_schema_free(s);

	/* Items that take no bytes are counted. */
	s = schema("{\"type\":\"array\",\"items\":\"null\"}");
	n = zz(b, 0, (int64_t)1 << 40);
	b[n++] = 0;
	CHECK(s && decode_fails(s, b, n, "items that take no bytes"));
	n = zz(b, 0, 3);
	b[n++] = 0;
	out = s ? decode(s, b, n) : NULL;
	CHECK_STR(out, "[null,null,null]");
	free(out);
	eddy_avro_schema_free(s);

	/* The JSON text has a cap: 12 MiB of control characters is 72 MiB escaped. */
	s = schema("\"string\"");
	if (s) {
		size_t big = (size_t)12 << 20;
		unsigned char *p = malloc(big + 8);

		n = zz(p, 0, (int64_t)big);
		memset(p + n, 1, big);
		CHECK(decode_fails(s, p, n + big, "exceeds 64 MiB"));
		free(p);
	}
	eddy_avro_schema_free(s);
}

/* A payload of about 1 MB: 20000 lines. */
static void test_large(void)
{
	struct eddy_avro_schema *s = schema(order_schema);
	size_t cap = 4 << 20, len = 0, bin_len;
	char *json = malloc(cap);
	unsigned char *bin;

	if (!s || !json) {
		CHECK(0);
		free(json);
		eddy_avro_schema_free(s);
		return;
	}
	len += (size_t)snprintf(json + len, cap - len,
	                        "{\"id\":\"big\",\"customer\":\"c\",\"quantity\":1,\"unit\":\"KG\","
	                        "\"version\":1,\"lines\":[");
	for (int i = 0; i < 20000; i++)
		len += (size_t)snprintf(
		    json + len, cap - len,
		    "%s{\"sku\":\"SKU-%08d-abcdefghijklmnopqrstuvwxyz\",\"qty\":%d,"
		    "\"unit\":\"LITRE\"}",
		    i ? "," : "", i, i * 37);
	len += (size_t)snprintf(json + len, cap - len,
	                        "],\"note\":null,\"created_at\":\"2025-01-14T12:30:00.123Z\","
	                        "\"delivery_date\":\"2025-01-20\",\"total\":\"1.00\","
	                        "\"proposal_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	                        "\"attributes\":{},\"checksum\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}");
	bin = encode(s, json, &bin_len);
	CHECK(bin != NULL && bin_len > 800000);
	if (bin) {
		char *back = decode(s, bin, bin_len);

		CHECK(back && strcmp(back, json) == 0);
		free(back);
		/* The schema's reused value decodes a small datum after the big one. */
		free(bin);
		bin = encode(s, order_json, &bin_len);
		back = bin ? decode(s, bin, bin_len) : NULL;
		CHECK_STR(back, order_json);
		free(back);
	}
	free(bin);
	free(json);
	eddy_avro_schema_free(s);
}

int main(void)
{
	test_order();
	test_logical();
	test_encoding();
	test_refused();
	test_large();
	eddy_avro_schema_free(NULL);
	return test_report("test_avro");
}
