/* test_envelope.c - CloudEvents decoding of Kafka records, in both content
 * modes, with the reasons a bad record is dead-lettered for, and running
 * out of memory anywhere in a decode (torture). */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "test.h"

#define TOPIC "customer-retail-001.order-proposals"

/* A header with a literal value, its length taken from the literal. */
#define HDR(name, value) ((struct eddy_header){(name), (value), sizeof(value) - 1})

static struct eddy_json_doc *doc;
static struct eddy_event ev;
static char reason[512];

static const struct eddy_envelope_conf no_conf = {0};

static bool attr_is(struct eddy_attr a, const char *want)
{
	return a.s && a.len == strlen(want) && memcmp(a.s, want, a.len) == 0;
}

static struct eddy_msg record(const char *key, const char *value)
{
	struct eddy_msg m = {0};

	m.topic = TOPIC;
	m.timestamp_ms = -1;
	m.key = key;
	m.key_len = key ? strlen(key) : 0;
	m.value = value;
	m.value_len = value ? strlen(value) : 0;
	return m;
}

static int decode(const struct eddy_envelope_conf *conf, const struct eddy_msg *m)
{
	return eddy_envelope_decode(conf, doc, m, &ev, reason, sizeof reason);
}

/* A structured record without headers, as the domain's producers send. */
static int decode_value(const struct eddy_envelope_conf *conf, const char *key, const char *value)
{
	struct eddy_msg m = record(key, value);

	return decode(conf, &m);
}

static const struct eddy_extension *extension(const char *name)
{
	size_t i;

	for (i = 0; i < ev.n_extensions; i++)
		if (ev.extensions[i].name_len == strlen(name) &&
		    memcmp(ev.extensions[i].name, name, strlen(name)) == 0)
			return &ev.extensions[i];
	return NULL;
}

static const char valid[] =
    "{\"specversion\":\"1.0\","
    "\"type\":\"com.relexsolutions.supply-chain.transactions.order-proposals.v1\","
    "\"source\":\"urn:relex:plan:customer-retail-001:order-proposals\","
    "\"id\":\"ORD-12345\","
    "\"time\":\"2025-01-14T12:30:00Z\","
    "\"subject\":\"store-7\","
    "\"datacontenttype\":\"application/json\","
    "\"dataschema\":\"https://schemas.example/order-proposal/v1\","
    "\"meta\":{\"correlation_id\":\"c0ffee\",\"tenant\":\"customer-retail-001\","
    "\"source\":{\"application\":\"relex-plan\",\"environment_type\":\"production\"}},"
    "\"traceparent\":\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\","
    "\"priority\":5,"
    "\"unsetextension\":null,"
    "\"data\": {\"qty\" : 3, \"lines\": [1, 2.5, {\"sku\": null}]} }";

static void test_structured_valid(void)
{
	const struct eddy_extension *x;
	const char *raw = strstr(valid, "{\"qty\"");
	/* ev.msg borrows the record: it lives as long as the checks */
	struct eddy_msg m = record("ORD-12345", valid);

	CHECK(decode(&no_conf, &m) == 0);
	CHECK_STR(reason, "");
	CHECK(ev.mode == EDDY_ENVELOPE_STRUCTURED);
	CHECK(!ev.deleted);
	CHECK(attr_is(ev.specversion, "1.0"));
	CHECK(attr_is(ev.id, "ORD-12345"));
	CHECK(attr_is(ev.source, "urn:relex:plan:customer-retail-001:order-proposals"));
	CHECK(attr_is(ev.type, "com.relexsolutions.supply-chain.transactions.order-proposals.v1"));
	CHECK(attr_is(ev.time, "2025-01-14T12:30:00Z"));
	CHECK(attr_is(ev.subject, "store-7"));
	CHECK(attr_is(ev.datacontenttype, "application/json"));
	CHECK(attr_is(ev.dataschema, "https://schemas.example/order-proposal/v1"));
	CHECK(attr_is(ev.tenant, "customer-retail-001"));
	CHECK(attr_is(ev.correlation_id, "c0ffee"));
	CHECK(ev.meta && ev.meta->type == EDDY_JSON_OBJECT);
	CHECK_STR(eddy_json_str(eddy_json_getz(eddy_json_getz(ev.meta, "source"), "application")),
	          "relex-plan");

	/* data keeps its exact original text for handlers that forward it */
	CHECK(ev.data_json && ev.data_json->type == EDDY_JSON_OBJECT);
	CHECK(ev.data_json && ev.data_json->raw_len == strlen(raw) - 2 &&
	      memcmp(ev.data_json->raw, raw, ev.data_json->raw_len) == 0);
	CHECK(ev.data_bytes.s == NULL);

	/* meta is not an extension, a null one is unset */
	CHECK(ev.n_extensions == 2);
	x = extension("traceparent");
	CHECK(x && x->json && x->json->type == EDDY_JSON_STRING);
	x = extension("priority");
	CHECK(x && x->json && x->json->type == EDDY_JSON_INT && x->json->u.i == 5);
	CHECK(extension("meta") == NULL);
	CHECK(extension("unsetextension") == NULL);
	CHECK(ev.msg == &m && ev.msg->key != NULL);
}

static void test_structured_minimal(void)
{
	CHECK(decode_value(&no_conf, NULL,
	                   "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
	                   "\"subject\":null,\"data\":null}") == 0);
	CHECK(ev.subject.s == NULL);
	CHECK(ev.time.s == NULL);
	CHECK(ev.meta == NULL);
	CHECK(ev.tenant.s == NULL);
	/* an explicit null payload is not the same as no payload */
	CHECK(ev.data_json && ev.data_json->type == EDDY_JSON_NULL);

	CHECK(decode_value(&no_conf, NULL,
	                   "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
	                   "\"data_base64\":\"aGk=\"}") == 0);
	CHECK(ev.data_json == NULL);
	CHECK(extension("data_base64") && extension("data_base64")->json->type == EDDY_JSON_STRING);
}

static void test_required(void)
{
	static const struct {
		const char *value, *reason;
	} cases[] = {
	    {"{\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"}",
	     "required attribute \"specversion\" is missing"},
	    {"{\"specversion\":\"1.0\",\"source\":\"/s\",\"type\":\"t\"}",
	     "required attribute \"id\" is missing"},
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"type\":\"t\"}",
	     "required attribute \"source\" is missing"},
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\"}",
	     "required attribute \"type\" is missing"},
	    {"{\"specversion\":\"1.0\",\"id\":null,\"source\":\"/s\",\"type\":\"t\"}",
	     "required attribute \"id\" is missing"},
	    {"{\"specversion\":\"1.0\",\"id\":\"\",\"source\":\"/s\",\"type\":\"t\"}",
	     "attribute \"id\" must not be empty"},
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"\",\"type\":\"t\"}",
	     "attribute \"source\" must not be empty"},
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"\"}",
	     "attribute \"type\" must not be empty"},
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
	     "\"dataschema\":\"\"}",
	     "attribute \"dataschema\" must not be empty"},
	    {"{}", "required attribute \"specversion\" is missing"},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CHECK(decode_value(&no_conf, NULL, cases[i].value) == -1);
		CHECK_STR(reason, cases[i].reason);
	}
}

static void test_wrong_types(void)
{
	static const struct {
		const char *value, *reason;
	} cases[] = {
	    {"{\"specversion\":\"1.0\",\"id\":42,\"source\":\"/s\",\"type\":\"t\"}",
	     "attribute \"id\" must be a string, got number"},
	    {"{\"specversion\":1.0,\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"}",
	     "attribute \"specversion\" must be a string, got number"},
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":[\"/s\"],\"type\":\"t\"}",
	     "attribute \"source\" must be a string, got array"},
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":{}}",
	     "attribute \"type\" must be a string, got object"},
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
	     "\"time\":true}",
	     "attribute \"time\" must be a string, got boolean"},
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
	     "\"meta\":\"customer-retail-001\"}",
	     "attribute \"meta\" must be an object, got string"},
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
	     "\"data_base64\":7}",
	     "attribute \"data_base64\" must be a string, got number"},
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
	     "\"data\":{},\"data_base64\":\"aGk=\"}",
	     "both \"data\" and \"data_base64\" are present"},
	    {"{\"specversion\":\"0.3\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"}",
	     "specversion is \"0.3\", expected \"1.0\""},
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
	     "\"time\":\"2025-13-01T00:00:00Z\"}",
	     "time \"2025-13-01T00:00:00Z\" is not an RFC 3339 date-time"},
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
	     "\"time\":\"2025-01-14\"}",
	     "time \"2025-01-14\" is not an RFC 3339 date-time"},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CHECK(decode_value(&no_conf, NULL, cases[i].value) == -1);
		CHECK_STR(reason, cases[i].reason);
	}
}

static bool rfc3339(const char *s)
{
	return eddy_envelope_rfc3339(s, strlen(s));
}

static void test_rfc3339(void)
{
	CHECK(rfc3339("2025-01-14T12:30:00Z"));
	CHECK(rfc3339("2025-01-14t12:30:00z"));
	CHECK(rfc3339("2025-01-14T12:30:00.123+02:00"));
	CHECK(rfc3339("2025-01-14T12:30:00.123456789-05:30"));
	CHECK(rfc3339("2024-02-29T00:00:00Z"));
	CHECK(rfc3339("2000-02-29T00:00:00Z"));
	CHECK(rfc3339("2016-12-31T23:59:60Z"));
	CHECK(rfc3339("2025-12-31T23:59:59+23:59"));
	CHECK(!rfc3339("2025-13-01T00:00:00Z"));
	CHECK(!rfc3339("2025-00-01T00:00:00Z"));
	CHECK(!rfc3339("2025-02-30T00:00:00Z"));
	CHECK(!rfc3339("2023-02-29T00:00:00Z"));
	CHECK(!rfc3339("1900-02-29T00:00:00Z"));
	CHECK(!rfc3339("2025-04-31T00:00:00Z"));
	CHECK(!rfc3339("2025-01-00T00:00:00Z"));
	CHECK(!rfc3339("2025-01-14T24:00:00Z"));
	CHECK(!rfc3339("2025-01-14T12:60:00Z"));
	CHECK(!rfc3339("2025-01-14T12:30:61Z"));
	CHECK(!rfc3339("2025-01-14T12:30:00"));
	CHECK(!rfc3339("2025-01-14T12:30:00.Z"));
	CHECK(!rfc3339("2025-01-14 12:30:00Z"));
	CHECK(!rfc3339("2025-01-14T12:30Z"));
	CHECK(!rfc3339("2025-01-14T12:30:00+0200"));
	CHECK(!rfc3339("2025-01-14T12:30:00+24:00"));
	CHECK(!rfc3339("2025-01-14T12:30:00+02:60"));
	CHECK(!rfc3339("2025-01-14T12:30:00Zjunk"));
	CHECK(!rfc3339("25-01-14T12:30:00Z"));
	CHECK(!rfc3339(""));
	CHECK(!eddy_envelope_rfc3339(NULL, 0));
	/* the length is what counts, not a NUL */
	CHECK(!eddy_envelope_rfc3339("2025-01-14T12:30:00Z", 19));
	CHECK(eddy_envelope_rfc3339("2025-01-14T12:30:00Zxx", 20));
}

static void test_not_an_object(void)
{
	CHECK(decode_value(&no_conf, "k", "not json") == -1);
	CHECK(strncmp(reason, "value is not JSON: ", 19) == 0 && strlen(reason) > 19);
	CHECK(decode_value(&no_conf, "k", "") == -1);
	CHECK(strncmp(reason, "value is not JSON: ", 19) == 0);
	CHECK(decode_value(&no_conf, "k", "[{\"specversion\":\"1.0\"}]") == -1);
	CHECK_STR(reason, "value is a JSON array, expected a CloudEvent object");
	CHECK(decode_value(&no_conf, "k", "\"ORD-1\"") == -1);
	CHECK_STR(reason, "value is a JSON string, expected a CloudEvent object");
	CHECK(decode_value(&no_conf, "k", "12") == -1);
	CHECK_STR(reason, "value is a JSON number, expected a CloudEvent object");
}

static const struct eddy_envelope_conf strict = {
    .require_key_equals_id = true,
    .require_tenant = true,
    .tenant_topic_pattern = "{tenant}.*",
};

static void test_tombstone(void)
{
	struct eddy_msg m = record("ORD-1", NULL);
	struct eddy_header h[] = {
	    HDR("ce_specversion", "1.0"),
	    HDR("ce_id", "ORD-1"),
	};

	/* none of the conventions apply: the key is all a delete has */
	CHECK(decode(&strict, &m) == 0);
	CHECK(ev.deleted);
	CHECK(ev.mode == EDDY_ENVELOPE_STRUCTURED);
	CHECK(ev.id.s == NULL);
	CHECK(ev.data_json == NULL);

	m = record(NULL, NULL);
	CHECK(decode(&strict, &m) == -1);
	CHECK_STR(reason, "tombstone without a key");
	m = record("", NULL);
	CHECK(decode(&no_conf, &m) == -1);
	CHECK_STR(reason, "tombstone without a key");

	/* binary headers are decoded, the missing source and type are fine */
	m = record("ORD-1", NULL);
	m.headers = h;
	m.n_headers = 2;
	CHECK(decode(&strict, &m) == 0);
	CHECK(ev.deleted);
	CHECK(ev.mode == EDDY_ENVELOPE_BINARY);
	CHECK(attr_is(ev.id, "ORD-1"));
	CHECK(ev.type.s == NULL);
	CHECK(ev.data_json == NULL && ev.data_bytes.s == NULL);
}

static void test_binary_json(void)
{
	/* header values are not NUL-terminated in a Kafka record */
	static const char id[] = "ORD-7xxx";
	struct eddy_header h[] = {
	    HDR("ce_specversion", "1.0"),
	    {"ce_id", id, 5},
	    HDR("ce_source", "/plan"),
	    HDR("ce_type", "order.v1"),
	    HDR("ce_time", "2025-01-14T12:30:00.5+01:00"),
	    HDR("content-type", "Application/JSON; charset=utf-8"),
	    HDR("ce_tenant", "customer-retail-001"),
	    HDR("ce_correlationid", "c0ffee"),
	    HDR("ce_traceparent", "00-ab-cd-01"),
	    HDR("other", "ignored"),
	};
	struct eddy_msg m = record("ORD-7", " {\"qty\": [1, 2]} ");

	m.headers = h;
	m.n_headers = sizeof h / sizeof h[0];
	CHECK(decode(&strict, &m) == 0);
	CHECK_STR(reason, "");
	CHECK(ev.mode == EDDY_ENVELOPE_BINARY);
	CHECK(attr_is(ev.id, "ORD-7"));
	CHECK(attr_is(ev.source, "/plan"));
	CHECK(attr_is(ev.type, "order.v1"));
	CHECK(attr_is(ev.datacontenttype, "Application/JSON; charset=utf-8"));
	CHECK(attr_is(ev.tenant, "customer-retail-001"));
	CHECK(attr_is(ev.correlation_id, "c0ffee"));
	CHECK(ev.meta == NULL);
	CHECK(ev.data_json && ev.data_json->type == EDDY_JSON_OBJECT);
	CHECK(ev.data_json && ev.data_json->raw_len == 15 &&
	      memcmp(ev.data_json->raw, "{\"qty\": [1, 2]}", 15) == 0);
	CHECK(ev.n_extensions == 3);
	CHECK(extension("traceparent") && attr_is(extension("traceparent")->str, "00-ab-cd-01"));
	CHECK(extension("tenant") && extension("tenant")->json == NULL);

	/* no content type: JSON, as in structured mode; +json is JSON too */
	m.n_headers = 4;
	CHECK(decode(&no_conf, &m) == 0);
	CHECK(ev.data_json && ev.data_json->type == EDDY_JSON_OBJECT);
	h[4] = HDR("content-type", "application/vnd.relex.order+json");
	m.n_headers = 5;
	CHECK(decode(&no_conf, &m) == 0);
	CHECK(ev.data_json && ev.data_json->type == EDDY_JSON_OBJECT);

	m.value = "{\"qty\":";
	m.value_len = strlen(m.value);
	CHECK(decode(&no_conf, &m) == -1);
	CHECK(strncmp(reason, "data is not JSON: ", 18) == 0 && strlen(reason) > 18);

	/* an empty value is an event without data */
	m.value_len = 0;
	CHECK(decode(&no_conf, &m) == 0);
	CHECK(!ev.deleted && ev.data_json == NULL && ev.data_bytes.s == NULL);
}

static void test_binary_bytes(void)
{
	struct eddy_header h[] = {
	    HDR("ce_specversion", "1.0"),
	    HDR("ce_id", "1"),
	    HDR("ce_source", "/s"),
	    HDR("ce_type", "t"),
	    HDR("content-type", "text/plain; charset=utf-8"),
	};
	static const char value[] = "not {json";
	struct eddy_msg m = record(NULL, value);

	m.headers = h;
	m.n_headers = 5;
	CHECK(decode(&no_conf, &m) == 0);
	CHECK(ev.data_json == NULL);
	CHECK(ev.data_bytes.s == value && ev.data_bytes.len == strlen(value));
	CHECK(attr_is(ev.datacontenttype, "text/plain; charset=utf-8"));

	/* a json-looking subtype that is not json */
	h[4] = HDR("content-type", "application/jsonx");
	CHECK(decode(&no_conf, &m) == 0);
	CHECK(ev.data_bytes.s == value);
}

static void test_binary_bad(void)
{
	struct eddy_header h[] = {
	    HDR("ce_specversion", "1.0"),
	    HDR("ce_id", "1"),
	    HDR("ce_source", "/s"),
	    HDR("ce_id", "2"),
	};
	struct eddy_msg m = record(NULL, "{}");

	m.headers = h;
	m.n_headers = 3;
	CHECK(decode(&no_conf, &m) == -1);
	CHECK_STR(reason, "required attribute \"type\" is missing");

	m.n_headers = 4;
	CHECK(decode(&no_conf, &m) == -1);
	CHECK_STR(reason, "header \"ce_id\" appears more than once");

	h[3] = HDR("ce_type", "t\xff");
	CHECK(decode(&no_conf, &m) == -1);
	CHECK_STR(reason, "header \"ce_type\" is not valid UTF-8");

	h[3] = HDR("ce_type", "t");
	h[0].value = "0.3";
	CHECK(decode(&no_conf, &m) == -1);
	CHECK_STR(reason, "specversion is \"0.3\", expected \"1.0\"");

	/* binary mode has no meta object, so the tenant is its own header */
	h[0].value = "1.0";
	CHECK(decode(&strict, &m) == -1);
	CHECK_STR(reason, "record has no key; id is \"1\"");
	m.key = "1";
	m.key_len = 1;
	CHECK(decode(&strict, &m) == -1);
	CHECK_STR(reason, "header ce_tenant is missing");
}

static void test_structured_header(void)
{
	struct eddy_header h[] = {
	    HDR("content-type", "application/cloudevents+json; charset=UTF-8"),
	    HDR("ce_specversion", "1.0"),
	};
	struct eddy_msg m = record("ORD-12345", valid);

	/* the content type wins over ce_ headers */
	m.headers = h;
	m.n_headers = 2;
	CHECK(decode(&strict, &m) == 0);
	CHECK_STR(reason, "");
	CHECK(ev.mode == EDDY_ENVELOPE_STRUCTURED);
	CHECK(attr_is(ev.id, "ORD-12345"));
	CHECK(attr_is(ev.datacontenttype, "application/json"));

	h[0] = HDR("Content-Type", "APPLICATION/CLOUDEVENTS");
	CHECK(decode(&strict, &m) == 0);
	CHECK(ev.mode == EDDY_ENVELOPE_STRUCTURED);

	h[0] = HDR("content-type", "application/cloudevents+avro");
	CHECK(decode(&no_conf, &m) == -1);
	CHECK_STR(reason, "content-type \"application/cloudevents+avro\" is a CloudEvents format "
	                  "other than JSON");

	h[0] = HDR("content-type", "application/cloudevents-batch+json");
	CHECK(decode(&no_conf, &m) == -1);
	CHECK_STR(reason, "content-type \"application/cloudevents-batch+json\" is a CloudEvents "
	                  "batch, which Kafka records cannot carry");

	/* a tombstone's format does not matter, it has no value to read */
	h[0] = HDR("content-type", "application/cloudevents+avro");
	m.value = NULL;
	CHECK(decode(&strict, &m) == 0);
	CHECK(ev.deleted && ev.mode == EDDY_ENVELOPE_STRUCTURED);
	m.value = valid;

	/* a plain JSON content type without ce_specversion: still structured */
	h[0] = HDR("content-type", "application/json");
	m.n_headers = 1;
	CHECK(decode(&no_conf, &m) == 0);
	CHECK(ev.mode == EDDY_ENVELOPE_STRUCTURED);
}

static const char ord1[] =
    "{\"specversion\":\"1.0\",\"id\":\"ORD-1\",\"source\":\"/s\",\"type\":\"t\","
    "\"meta\":{\"tenant\":\"customer-retail-001\"}}";

static void test_key_equals_id(void)
{
	static const struct eddy_envelope_conf conf = {.require_key_equals_id = true};
	struct eddy_msg m = record("ORD-1x", ord1);

	CHECK(decode_value(&conf, "ORD-1", ord1) == 0);
	CHECK(decode_value(&conf, "ORD-2", ord1) == -1);
	CHECK_STR(reason, "key \"ORD-2\" does not equal id \"ORD-1\"");
	CHECK(decode_value(&conf, NULL, ord1) == -1);
	CHECK_STR(reason, "record has no key; id is \"ORD-1\"");
	CHECK(decode_value(&conf, "", ord1) == -1);
	CHECK_STR(reason, "key \"\" does not equal id \"ORD-1\"");
	/* byte for byte over the key's length, not up to a NUL */
	m.key_len = 5;
	CHECK(decode(&conf, &m) == 0);
	CHECK(decode_value(&conf, "ord-1", ord1) == -1);
	/* off by default */
	CHECK(decode_value(&no_conf, "ORD-2", ord1) == 0);
	CHECK(decode_value(NULL, "ORD-2", ord1) == 0);
}

static void test_tenant(void)
{
	static const struct eddy_envelope_conf conf = {.require_tenant = true};
	static const struct {
		const char *value, *reason;
	} cases[] = {
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"}",
	     "meta.tenant is missing"},
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
	     "\"meta\":{\"correlation_id\":\"x\"}}",
	     "meta.tenant is missing"},
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
	     "\"meta\":{\"tenant\":null}}",
	     "meta.tenant is missing"},
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
	     "\"meta\":{\"tenant\":\"\"}}",
	     "meta.tenant is empty"},
	    {"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
	     "\"meta\":{\"tenant\":17}}",
	     "meta.tenant must be a string, got number"},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CHECK(decode_value(&conf, NULL, cases[i].value) == -1);
		CHECK_STR(reason, cases[i].reason);
		/* without the setting the same events pass */
		CHECK(decode_value(&no_conf, NULL, cases[i].value) == 0);
	}
	CHECK(decode_value(&conf, NULL, ord1) == 0);
	CHECK(attr_is(ev.tenant, "customer-retail-001"));

	/* a correlation id of the wrong type is just not there */
	CHECK(decode_value(&conf, NULL,
	                   "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
	                   "\"meta\":{\"tenant\":\"a\",\"correlation_id\":5}}") == 0);
	CHECK(ev.correlation_id.s == NULL);
}

static int decode_topic(const char *pattern, const char *topic, const char *value)
{
	struct eddy_envelope_conf conf = {.tenant_topic_pattern = pattern};
	struct eddy_msg m = record(NULL, value);

	m.topic = topic;
	return decode(&conf, &m);
}

static void test_topic_pattern(void)
{
	static const char star[] = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
	                           "\"type\":\"t\",\"meta\":{\"tenant\":\"*\"}}";
	static const char no_tenant[] = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
	                                "\"type\":\"t\"}";

	CHECK(decode_topic("{tenant}.*", "customer-retail-001.orders", ord1) == 0);
	CHECK(decode_topic("{tenant}", "customer-retail-001", ord1) == 0);
	CHECK(decode_topic("*.{tenant}.*", "eu.customer-retail-001.orders", ord1) == 0);
	CHECK(decode_topic("{tenant}.{tenant}", "customer-retail-001.customer-retail-001", ord1) ==
	      0);
	CHECK(decode_topic("{tenant}.*", "customer-retail-002.orders", ord1) == -1);
	CHECK_STR(reason, "topic \"customer-retail-002.orders\" does not match tenant "
	                  "\"customer-retail-001\" (pattern \"{tenant}.*\")");
	CHECK(decode_topic("{tenant}.*", "customer-retail-001", ord1) == -1);
	CHECK(decode_topic("{tenant}.*", NULL, ord1) == -1);
	CHECK_STR(reason, "topic \"\" does not match tenant \"customer-retail-001\" "
	                  "(pattern \"{tenant}.*\")");

	/* a '*' in the tenant is not a wildcard */
	CHECK(decode_topic("{tenant}.*", "other.orders", star) == -1);
	CHECK(decode_topic("{tenant}.*", "*.orders", star) == 0);

	/* the pattern needs a tenant even when require_tenant is off */
	CHECK(decode_topic("{tenant}.*", "x.orders", no_tenant) == -1);
	CHECK_STR(reason, "meta.tenant is missing (tenant_topic_pattern needs it)");
	/* a pattern without {tenant} needs none */
	CHECK(decode_topic("orders.*", "orders.eu", no_tenant) == 0);
	CHECK(decode_topic("orders.*", "invoices.eu", no_tenant) == -1);
	CHECK_STR(reason, "topic \"invoices.eu\" does not match pattern \"orders.*\"");
}

static void test_reason_quoting(void)
{
	static const struct eddy_envelope_conf conf = {.require_key_equals_id = true};
	char value[512], want[512], id[101];
	struct eddy_msg m;

	/* long values are cut at 64 bytes, the rest marked */
	memset(id, 'A', 100);
	id[100] = '\0';
	snprintf(value, sizeof value,
	         "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/s\",\"type\":\"t\"}", id);
	CHECK(decode_value(&conf, "B", value) == -1);
	snprintf(want, sizeof want, "key \"B\" does not equal id \"%.64s\"...", id);
	CHECK_STR(reason, want);

	/* control characters, quotes and stray bytes stay on one printable line */
	CHECK(decode_value(&conf, "a\nb\"c\\\x01\x7f\xff", ord1) == -1);
	CHECK_STR(reason, "key \"a\\nb\\\"c\\\\\\x01\\x7f\\xff\" does not equal id \"ORD-1\"");

	/* a cut never splits a UTF-8 sequence: 63 bytes then a 2-byte one */
	memset(id, 'A', 63);
	strcpy(id + 63, "\xc3\xa9");
	CHECK(decode_value(&conf, id, ord1) == -1);
	snprintf(want, sizeof want, "key \"%.63s\"... does not equal id \"ORD-1\"", id);
	CHECK_STR(reason, want);
	/* exactly 64 bytes is not cut */
	memset(id, 'A', 62);
	strcpy(id + 62, "\xc3\xa9");
	CHECK(decode_value(&conf, id, ord1) == -1);
	snprintf(want, sizeof want, "key \"%s\" does not equal id \"ORD-1\"", id);
	CHECK_STR(reason, want);

	/* a NUL inside a key is shown, not the end of it */
	m = record("ORD-1", ord1);
	m.key = "ORD\0-1";
	m.key_len = 6;
	CHECK(decode(&conf, &m) == -1);
	CHECK_STR(reason, "key \"ORD\\x00-1\" does not equal id \"ORD-1\"");

	/* a small buffer is cut cleanly and stays terminated */
	{
		char small[12];

		CHECK(eddy_envelope_decode(&conf, doc, &m, &ev, small, sizeof small) == -1);
		CHECK_STR(small, "key \"ORD");
		CHECK(eddy_envelope_decode(&conf, doc, &m, &ev, small, 0) == -1);
	}
}

static void test_extensions(void)
{
	char value[4096];
	size_t n, i;

	for (int total = 32; total <= 33; total++) {
		n = (size_t)snprintf(value, sizeof value,
		                     "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
		                     "\"type\":\"t\"");
		for (i = 0; i < (size_t)total; i++)
			n += (size_t)snprintf(value + n, sizeof value - n, ",\"ext%zu\":%zu", i, i);
		snprintf(value + n, sizeof value - n, "}");
		if (total == 32) {
			CHECK(decode_value(&no_conf, NULL, value) == 0);
			CHECK(ev.n_extensions == 32);
			CHECK(extension("ext31") && extension("ext31")->json->u.i == 31);
		} else {
			CHECK(decode_value(&no_conf, NULL, value) == -1);
			CHECK_STR(reason, "too many extension attributes (more than 32)");
		}
	}
}

static void test_binary_extensions(void)
{
	struct eddy_header h[40];
	char names[36][16];
	struct eddy_msg m = record(NULL, "1");
	size_t i;

	h[0] = HDR("ce_specversion", "1.0");
	h[1] = HDR("ce_id", "1");
	h[2] = HDR("ce_source", "/s");
	h[3] = HDR("ce_type", "t");
	for (i = 0; i < 33; i++) {
		snprintf(names[i], sizeof names[i], "ce_x%zu", i);
		h[4 + i] = (struct eddy_header){names[i], "v", 1};
	}
	m.headers = h;
	m.n_headers = 4 + 32;
	CHECK(decode(&no_conf, &m) == 0);
	CHECK(ev.n_extensions == 32);
	CHECK(ev.data_json && ev.data_json->type == EDDY_JSON_INT);
	m.n_headers = 4 + 33;
	CHECK(decode(&no_conf, &m) == -1);
	CHECK_STR(reason, "too many extension attributes (more than 32)");

	/* a null header value is an absent attribute */
	h[4] = (struct eddy_header){"ce_x0", NULL, 0};
	CHECK(decode(&no_conf, &m) == 0);
	CHECK(ev.n_extensions == 32 && extension("x0") == NULL);
}

/* ---- allocation failures (curl's torture tests) ----
 * envelope.c allocates nothing itself; the parse it runs (json.cc, simdjson)
 * does, through libc. So this program replaces malloc, calloc and realloc:
 * once armed they fail the nth call (and, sticky, every later one) and pass
 * the others to the real ones (the sanitizer's in an ASan build). */

static struct {
	unsigned long at, calls; /* at 0: off */
	bool sticky, failed;
} inject;

static bool fail_now(void)
{
	if (!inject.at || ++inject.calls < inject.at ||
	    (inject.calls > inject.at && !inject.sticky))
		return false;
	inject.failed = true;
	return true;
}

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);

void *malloc(size_t size)
{
	if (!next_malloc)
		next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	return fail_now() ? NULL : next_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	/* dlsym may ask for zeroed memory before calloc is found: a little
	 * from here, never freed */
	static char boot[1024];
	static size_t boot_used;
	static bool finding;

	if (!next_calloc) {
		if (finding) {
			void *p = boot + boot_used;

			if (n && size > (sizeof(boot) - boot_used) / n)
				return NULL;
			boot_used += (n * size + 15) & ~(size_t)15;
			return p;
		}
		finding = true;
		next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
		finding = false;
	}
	return fail_now() ? NULL : next_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	if (!next_realloc)
		next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	return fail_now() ? NULL : next_realloc(p, size);
}

/* A record that makes the parser grow everything it has: big arrays and
 * objects (past the duplicate filter's linear size), deep nesting. */
static char *big_record(void)
{
	size_t cap = 64 * 1024, o = 0;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	o += (size_t)snprintf(s + o, cap - o,
	                      "{\"specversion\": \"1.0\", \"id\": \"ORD-1\", \"source\": \"urn:s\","
	                      " \"type\": \"t\", \"meta\": {\"tenant\": \"acme\"}, \"data\": {");
	for (int i = 0; i < 200; i++)
		o += (size_t)snprintf(s + o, cap - o, "\"k%d\": [%d, \"v%d\", {\"n\": [[[%d]]]}], ",
		                      i, i, i, i);
	snprintf(s + o, cap - o, "\"end\": true}}");
	return s;
}

/* One run: the decode succeeds with the right event or fails saying it
 * ran out of memory; once memory is back the same doc decodes the record.
 * Returns whether the nth allocation was reached. */
static bool torture_run(const struct eddy_msg *m, unsigned long nth, bool sticky)
{
	struct eddy_json_doc *d;
	struct eddy_event e;
	char why[256] = "";
	bool reached;
	int rc = -1;

	inject.at = nth;
	inject.calls = 0;
	inject.sticky = sticky;
	inject.failed = false;
	if ((d = eddy_json_doc_new()))
		rc = eddy_envelope_decode(&no_conf, d, m, &e, why, sizeof why);
	reached = inject.failed;
	inject.at = 0;
	if (!d)
		return reached;
	if (rc == 0) {
		CHECK(attr_is(e.id, "ORD-1") && attr_is(e.tenant, "acme"));
		CHECK(e.data_json && eddy_json_getz(e.data_json, "end"));
	} else {
		CHECK(strstr(why, "memory") != NULL);
		if (!strstr(why, "memory"))
			fprintf(stderr, "allocation %lu%s failed: %s\n", nth, sticky ? " on" : "",
			        why);
	}
	CHECK(eddy_envelope_decode(&no_conf, d, m, &e, why, sizeof why) == 0);
	CHECK(attr_is(e.id, "ORD-1") && e.data_json && eddy_json_getz(e.data_json, "k199"));
	eddy_json_doc_destroy(d);
	return reached;
}

static void test_torture(void)
{
	char *value = big_record();
	struct eddy_msg m = record("ORD-1", value);
	struct eddy_header h[] = {HDR("ce_specversion", "1.0"), HDR("ce_id", "ORD-1"),
	                          HDR("ce_source", "urn:s"), HDR("ce_type", "t"),
	                          HDR("ce_tenant", "acme")};
	unsigned long runs = 0;

	CHECK(value != NULL);
	if (!value)
		return;
	for (int binary = 0; binary < 2; binary++) {
		/* binary mode: the same data as the record's value */
		if (binary) {
			char *data = strstr(value, "\"data\": ") + 8;

			m = record("ORD-1", data);
			m.value_len--; /* the CloudEvent's closing brace */
			m.headers = h;
			m.n_headers = sizeof h / sizeof h[0];
		}
		for (int sticky = 0; sticky < 2; sticky++)
			for (unsigned long n = 1; torture_run(&m, n, sticky); n++)
				runs++;
	}
	printf("envelope torture: %lu runs, each with one allocation failing\n", runs);
	CHECK(runs >= 8);
	free(value);
}

int main(void)
{
	doc = eddy_json_doc_new();
	if (!doc) {
		fprintf(stderr, "eddy_json_doc_new failed\n");
		return 1;
	}
	test_structured_valid();
	test_structured_minimal();
	test_required();
	test_wrong_types();
	test_rfc3339();
	test_not_an_object();
	test_tombstone();
	test_binary_json();
	test_binary_bytes();
	test_binary_bad();
	test_structured_header();
	test_key_equals_id();
	test_tenant();
	test_topic_pattern();
	test_reason_quoting();
	test_extensions();
	test_binary_extensions();
	test_torture();
	eddy_json_doc_destroy(doc);
	return test_report("envelope");
}
