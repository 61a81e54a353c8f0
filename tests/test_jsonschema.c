/* test_jsonschema.c - the JSON Schema validator against the official test
 * suite (Debian's json-schema-test-suite: draft-04, -06, -07, which must be
 * installed), our own 2019-09 and 2020-12 tests in the same format, and the
 * API's promises: error locations and messages, the basic output, lookup,
 * compile errors, and running out of memory anywhere (torture). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "json.h"
#include "schema/jsonschema.h"
#include "readfile.h"
#include "sample_event.h"
#include "test.h"

#define SUITE "/usr/share/json-schema-test-suite"
#define REMOTE_PREFIX "http://localhost:1234/"

/* Serves http://localhost:1234/<path> from the first folder holding it,
 * as the suite's remotes expect. */
struct remotes {
	const char *dirs[3];
};

static int resolve(void *ud, const char *uri, char **text, size_t *len, char *errstr,
                   size_t errstr_size)
{
	const struct remotes *r = ud;
	char path[1024], why[256];

	if (strncmp(uri, REMOTE_PREFIX, strlen(REMOTE_PREFIX)) != 0) {
		snprintf(errstr, errstr_size, "no remote for \"%s\"", uri);
		return -1;
	}
	for (int i = 0; i < 3 && r->dirs[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", r->dirs[i], uri + strlen(REMOTE_PREFIX));
		/* not there: the next folder may hold it */
		if ((*text = eddy_read_file(path, len, why, sizeof(why))))
			return 0;
	}
	snprintf(errstr, errstr_size, "%s: no such remote file", uri);
	return -1;
}

struct tally {
	int req, req_ok, opt, opt_ok;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_file(const char *path, enum eddy_jsonschema_dialect d, bool optional,
                     const struct remotes *rem, struct tally *t)
{
	size_t len;
	char err[512] = "not an array of test groups";
	char *text = eddy_read_file(path, &len, err, sizeof(err));
	struct eddy_json_doc *doc = eddy_json_doc_new();
	const struct eddy_json *root;
	/* the optional format tests (optional/format.json, optional/format/)
	 * expect assertion; the required format.json expects annotation only */
	struct eddy_jsonschema_opts opts = {.default_dialect = d,
	                                    .format_assert =
	                                        strstr(path, "/optional/format") != NULL,
	                                    .resolve = resolve,
	                                    .resolve_ud = (void *)rem};

	if (!text || !(root = eddy_json_parse(doc, text, len, err, sizeof(err))) ||
	    root->type != EDDY_JSON_ARRAY) {
		fprintf(stderr, "%s: cannot read the tests: %s\n", path, err);
		t->req++;
		free(text);
		eddy_json_doc_destroy(doc);
		return;
	}
	for (uint32_t g = 0; g < root->len; g++) {
		const struct eddy_json *grp = &root->u.items[g];
		const struct eddy_json *schema = eddy_json_getz(grp, "schema");
		const struct eddy_json *tests = eddy_json_getz(grp, "tests");
		const char *gdesc = eddy_json_str(eddy_json_getz(grp, "description"));
		struct eddy_jsonschema_set *set = eddy_jsonschema_set_new(&opts);
		const struct eddy_jsonschema *s = NULL;
		const char *stext = schema->type == EDDY_JSON_TRUE    ? "true"
		                    : schema->type == EDDY_JSON_FALSE ? "false"
		                                                      : schema->raw;
		size_t slen = schema->type == EDDY_JSON_TRUE    ? 4
		              : schema->type == EDDY_JSON_FALSE ? 5
		                                                : schema->raw_len;

		err[0] = 0;
		s = eddy_jsonschema_add(set, stext, slen, NULL, err, sizeof(err));
		for (uint32_t i = 0; tests && i < tests->len; i++) {
			const struct eddy_json *tc = &tests->u.items[i];
			const struct eddy_json *data = eddy_json_getz(tc, "data");
			bool want = eddy_json_getz(tc, "valid")->type == EDDY_JSON_TRUE,
			     got = false, ok;
			struct eddy_jsonschema_result r;

			if (s) {
				got = eddy_jsonschema_validate(set, s, data, &r);
				/* both passes agree, and an invalid result says why */
				ok = got == want && r.valid == got && (got || r.n_errors > 0);
			} else {
				ok = false;
			}
			if (optional) {
				t->opt++;
				t->opt_ok += ok;
			} else {
				t->req++;
				t->req_ok += ok;
			}
			if (!ok)
				fprintf(stderr, "FAIL %s%s: %s / %s: %s%s\n",
				        optional ? "(optional) " : "", path, gdesc,
				        eddy_json_str(eddy_json_getz(tc, "description")),
				        s ? (want ? "want valid" : "want invalid") : "compile: ",
				        s ? "" : err);
		}
		eddy_jsonschema_set_destroy(set);
	}
	eddy_json_doc_destroy(doc);
	free(text);
}

/* Every .json file of dir, sorted, optional/ folders included. */
static void run_dir(const char *dir, enum eddy_jsonschema_dialect d, bool optional,
                    const struct remotes *rem, struct tally *t)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	char **names = NULL, **more;
	size_t n = 0, cap = 0;

	CHECK(dp != NULL);
	if (!dp)
		return;
	while ((e = readdir(dp))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			more = realloc(names, cap * sizeof(*names));
			CHECK(more != NULL);
			if (!more)
				break;
			names = more;
		}
		CHECK((names[n++] = strdup(e->d_name)) != NULL);
	}
	closedir(dp);
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char path[1024];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			run_dir(path, d, optional || strcmp(names[i], "optional") == 0, rem, t);
		else if (strstr(names[i], ".json"))
			run_file(path, d, optional, rem, t);
		free(names[i]);
	}
	free(names);
}

/* A suite that is missing, or holds no tests, fails: a test that runs
 * nothing must not pass. Optional tests (optional/ folders: formats,
 * ECMA-262 corners) are counted and their failures printed, but do not fail
 * the run. */
static void suite(const char *name, const char *dir, enum eddy_jsonschema_dialect d,
                  const struct remotes *rem)
{
	struct tally t = {0};
	struct stat st;

	if (stat(dir, &st) != 0) {
		fprintf(stderr, "%s: no tests at %s (Debian: apt install json-schema-test-suite)\n",
		        name, dir);
		CHECK(!"suite missing");
		return;
	}
	run_dir(dir, d, false, rem, &t);
	printf("%s: %d/%d required passed; optional %d/%d passed, %d failed (not counted)\n", name,
	       t.req_ok, t.req, t.opt_ok, t.opt, t.opt - t.opt_ok);
	CHECK(t.req > 0);
	test_checks += t.req;
	test_failures += t.req - t.req_ok;
}

/* The upstream suite's 2019-09 and 2020-12 folders, when JSON_SCHEMA_SUITE
 * names a checkout of it: not installed by any package, so CI runs without
 * it; its required tests then count like ours. */
static void upstream_suite(const char *root)
{
	static const struct {
		const char *name, *dir;
		enum eddy_jsonschema_dialect d;
	} drafts[] = {
	    {"upstream draft2019-09", "draft2019-09", EDDY_JSONSCHEMA_2019_09},
	    {"upstream draft2020-12", "draft2020-12", EDDY_JSONSCHEMA_2020_12},
	};
	char rdir[1024], tdir[1024];
	struct remotes rem = {{rdir}};

	snprintf(rdir, sizeof(rdir), "%s/remotes", root);
	for (size_t i = 0; i < sizeof(drafts) / sizeof(drafts[0]); i++) {
		snprintf(tdir, sizeof(tdir), "%s/tests/%s", root, drafts[i].dir);
		/* a wrong path must not pass as "nothing to run" */
		CHECK(access(tdir, R_OK) == 0);
		suite(drafts[i].name, tdir, drafts[i].d, &rem);
	}
}

static const char schema_path[] = "conf/schemas/order-proposal.schema.json";

static const struct eddy_jsonschema *order_schema(struct eddy_jsonschema_set *set)
{
	size_t len;
	char err[256], *text = eddy_read_file(schema_path, &len, err, sizeof(err));
	const struct eddy_jsonschema *s;

	if (!text) {
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	s = eddy_jsonschema_add(set, text, len, NULL, err, sizeof(err));
	if (!s)
		fprintf(stderr, "%s: %s\n", schema_path, err);
	free(text);
	return s;
}

/* The data of the sample event with one member's text replaced. */
static const struct eddy_json *sample_data(struct eddy_json_doc *doc, const char *from,
                                           const char *to)
{
	char buf[2048], err[256];
	const char *ev = EDDY_SAMPLE_EVENT, *at = from ? strstr(ev, from) : NULL;
	const struct eddy_json *root;

	if (at)
		snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - ev), ev, to, at + strlen(from));
	else
		snprintf(buf, sizeof(buf), "%s", ev);
	root = eddy_json_parse(doc, buf, strlen(buf), err, sizeof(err));
	if (!root)
		fprintf(stderr, "sample: %s\n", err);
	return eddy_json_getz(root, "data");
}

static void api_errors(void)
{
	struct eddy_jsonschema_set *set = eddy_jsonschema_set_new(NULL);
	struct eddy_json_doc *doc = eddy_json_doc_new();
	const struct eddy_jsonschema *s = order_schema(set);
	struct eddy_jsonschema_result r;
	const struct eddy_json *data;
	char *out = NULL;
	size_t out_len = 0;
	FILE *f;

	CHECK(s != NULL);
	if (!s)
		goto out;
	CHECK_STR(
	    eddy_jsonschema_uri(s),
	    "urn:relex:schemas:com.relexsolutions.supply-chain.transactions.order-proposals.v1");
	data = sample_data(doc, NULL, NULL);
	CHECK(eddy_jsonschema_validate(set, s, data, &r));
	CHECK(r.valid && r.n_errors == 0);

	data = sample_data(doc, "\"quantity\":112", "\"quantity\":-3");
	CHECK(!eddy_jsonschema_validate(set, s, data, &r));
	CHECK(r.n_errors == 1);
	CHECK_STR(r.errors[0].instance_location, "/lines/1/quantity");
	CHECK_STR(r.errors[0].keyword_location,
	          "/properties/lines/items/properties/quantity/minimum");
	CHECK_STR(
	    r.errors[0].absolute_keyword_location,
	    "urn:relex:schemas:com.relexsolutions.supply-chain.transactions.order-proposals.v1"
	    "#/properties/lines/items/properties/quantity/minimum");
	CHECK_STR(r.errors[0].message, "must be >= 0, got -3");

	data = sample_data(doc, "\"sku\":\"SKU-0001234\",", "");
	CHECK(!eddy_jsonschema_validate(set, s, data, &r));
	CHECK(r.n_errors == 1);
	CHECK_STR(r.errors[0].instance_location, "/lines/0");
	CHECK_STR(r.errors[0].keyword_location, "/properties/lines/items/required");
	CHECK_STR(r.errors[0].message, "required property \"sku\" is missing");

	/* several errors, in document order of the instance */
	data = sample_data(doc, "\"unit\":\"CS\"", "\"unit\":\"XX\",\"extra\":1");
	CHECK(!eddy_jsonschema_validate(set, s, data, &r));
	CHECK(r.n_errors == 1);
	CHECK_STR(r.errors[0].instance_location, "/unit");
	CHECK_STR(r.errors[0].keyword_location, "/properties/unit/enum");
	CHECK_STR(r.errors[0].message,
	          "\"XX\" is not one of \"EA\", \"CS\", \"KG\", \"L\", \"PAL\"");

	data = sample_data(doc, "\"order_id\":\"ORD-1234\"", "\"order_id\":7");
	CHECK(!eddy_jsonschema_validate(set, s, data, &r));
	CHECK(r.n_errors == 1);
	CHECK_STR(r.errors[0].message, "must be of type string, got integer 7");

	data = sample_data(doc, "\"unit_cost\":12.5}", "\"unit_cost\":12.5,\"colour\":\"red\"}");
	CHECK(!eddy_jsonschema_validate(set, s, data, &r));
	CHECK(r.n_errors == 1);
	CHECK_STR(r.errors[0].instance_location, "/lines/0/colour");
	CHECK_STR(r.errors[0].keyword_location, "/properties/lines/items/additionalProperties");
	CHECK_STR(r.errors[0].message, "property \"colour\" is not allowed");

	/* the basic output shape, one line */
	f = open_memstream(&out, &out_len);
	eddy_jsonschema_result_write_json(&r, f);
	fclose(f);
	CHECK_STR(out,
	          "{\"valid\":false,\"errors\":[{\"keywordLocation\":\"/properties/lines/items/"
	          "additionalProperties\",\"absoluteKeywordLocation\":\"urn:relex:schemas:com."
	          "relexsolutions.supply-chain.transactions.order-proposals.v1#/properties/lines/"
	          "items/additionalProperties\",\"instanceLocation\":\"/lines/0/colour\",\"error\":"
	          "\"property \\\"colour\\\" is not allowed\"}]}\n");
	free(out);
	out = NULL;
	r.valid = true;
	f = open_memstream(&out, &out_len);
	eddy_jsonschema_result_write_json(&r, f);
	fclose(f);
	CHECK_STR(out, "{\"valid\":true}\n");
	free(out);
	/* without a result, only the answer */
	CHECK(!eddy_jsonschema_validate(set, s, data, NULL));
out:
	eddy_json_doc_destroy(doc);
	eddy_jsonschema_set_destroy(set);
}

static void api_max_errors(void)
{
	struct eddy_jsonschema_opts opts = {.max_errors = 2};
	struct eddy_jsonschema_set *set = eddy_jsonschema_set_new(&opts);
	struct eddy_json_doc *doc = eddy_json_doc_new();
	static const char schema[] = "{\"items\": {\"type\": \"integer\"}}";
	const struct eddy_jsonschema *s = eddy_jsonschema_add(set, schema, sizeof(schema) - 1,
	                                                      "https://x.test/ints.json", NULL, 0);
	const struct eddy_json *v = eddy_json_parse(doc, "[\"a\", 1, \"b\", \"c\"]", 18, NULL, 0);
	struct eddy_jsonschema_result r;

	CHECK(s && v);
	if (s && v) {
		CHECK(!eddy_jsonschema_validate(set, s, v, &r));
		CHECK(r.n_errors == 2);
		CHECK_STR(r.errors[0].instance_location, "/0");
		CHECK_STR(r.errors[1].instance_location, "/2");
		CHECK_STR(r.errors[1].absolute_keyword_location,
		          "https://x.test/ints.json#/items/type");
		CHECK_STR(r.errors[1].message, "must be of type integer, got string \"b\"");
	}
	/* adding the same URI again gives the same schema */
	CHECK(eddy_jsonschema_add(set, "{}", 2, "https://x.test/ints.json", NULL, 0) == s);
	eddy_json_doc_destroy(doc);
	eddy_jsonschema_set_destroy(set);
}

static void api_lookup(void)
{
	struct eddy_jsonschema_set *set = eddy_jsonschema_set_new(NULL);
	struct eddy_json_doc *doc = eddy_json_doc_new();
	static const char schema[] =
	    "{\"$id\": \"https://x.test/a.json\", \"definitions\": {\"x\": {\"type\": \"string\"},"
	    " \"y\": {\"$id\": \"#why\", \"minimum\": 3}, \"a~b/c\": {\"const\": 1}},"
	    " \"allOf\": [{\"$ref\": \"#/definitions/x\"}]}";
	static const char s2020[] =
	    "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
	    " \"$id\": \"https://x.test/b.json\", \"$defs\": {\"n\": {\"$anchor\": \"num\","
	    " \"type\": \"number\"}, \"t\": {\"$dynamicAnchor\": \"node\"}}}";
	char err[256];
	const struct eddy_jsonschema *s;
	const struct eddy_json *v;

	CHECK(eddy_jsonschema_add(set, schema, sizeof(schema) - 1, NULL, err, sizeof(err)) != NULL);
	CHECK(eddy_jsonschema_add(set, s2020, sizeof(s2020) - 1, NULL, err, sizeof(err)) != NULL);
	s = eddy_jsonschema_lookup(set, "https://x.test/a.json#/definitions/x", err, sizeof(err));
	CHECK(s != NULL);
	if (s) {
		CHECK_STR(eddy_jsonschema_uri(s), "https://x.test/a.json#/definitions/x");
		v = eddy_json_parse(doc, "5", 1, NULL, 0);
		CHECK(!eddy_jsonschema_validate(set, s, v, NULL));
	}
	s = eddy_jsonschema_lookup(set, "https://x.test/a.json#why", err, sizeof(err));
	CHECK(s != NULL);
	if (s) {
		CHECK_STR(eddy_jsonschema_uri(s), "https://x.test/a.json#/definitions/y");
		v = eddy_json_parse(doc, "2", 1, NULL, 0);
		CHECK(!eddy_jsonschema_validate(set, s, v, NULL));
	}
	s = eddy_jsonschema_lookup(set, "https://x.test/a.json#/definitions/a~0b~1c", err,
	                           sizeof(err));
	CHECK(s != NULL);
	s = eddy_jsonschema_lookup(set, "https://x.test/a.json#/definitions/a%7E0b~1c", err,
	                           sizeof(err));
	CHECK(s != NULL);
	CHECK(eddy_jsonschema_lookup(set, "https://x.test/b.json#num", err, sizeof(err)) != NULL);
	CHECK(eddy_jsonschema_lookup(set, "https://x.test/b.json#node", err, sizeof(err)) != NULL);
	CHECK(eddy_jsonschema_lookup(set, "https://x.test/a.json#nope", err, sizeof(err)) == NULL);
	CHECK_STR(err, "no anchor \"nope\" in \"https://x.test/a.json\"");
	CHECK(eddy_jsonschema_lookup(set, "https://x.test/c.json", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "https://x.test/c.json") != NULL);
	/* the meta-schemas are built in */
	s = eddy_jsonschema_lookup(set, "http://json-schema.org/draft-07/schema#", err,
	                           sizeof(err));
	CHECK(s != NULL);
	if (s) {
		v = eddy_json_parse(doc, "{\"type\": 5}", 11, NULL, 0);
		CHECK(!eddy_jsonschema_validate(set, s, v, NULL));
	}
	eddy_json_doc_destroy(doc);
	eddy_jsonschema_set_destroy(set);
}

static void api_compile_errors(void)
{
	static const struct {
		const char *schema, *want;
	} cases[] = {
	    {"{\"type\": 5}",
	     "urn:eddy:schema:1: /type: must be a type name or an array of them, got 5"},
	    {"{\"properties\": {\"a\": {\"$ref\": \"other.json\"}}}",
	     "urn:eddy:schema:2: /properties/a/$ref: cannot resolve \"other.json\": unknown schema "
	     "\"urn:other.json\" (no resolver)"},
	    {"{\"pattern\": \"(\"}", NULL},
	    {"{\"minLength\": -1}",
	     "urn:eddy:schema:4: /minLength: must be a non-negative integer, got -1"},
	    {"{\"type\": ", NULL},
	    /* the regex compiled before the error is freed (ASan) */
	    {"{\"pattern\": \"a\", \"minLength\": -1}",
	     "urn:eddy:schema:6: /minLength: must be a non-negative integer, got -1"},
	};
	struct eddy_jsonschema_set *set = eddy_jsonschema_set_new(NULL);
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = 0;
		CHECK(eddy_jsonschema_add(set, cases[i].schema, strlen(cases[i].schema), NULL, err,
		                          sizeof(err)) == NULL);
		CHECK(err[0] && !strchr(err, '\n'));
		if (cases[i].want)
			CHECK_STR(err, cases[i].want);
	}
	eddy_jsonschema_set_destroy(set);
}

/* A meta-schema that requires a vocabulary we do not know: the schema is
 * refused, not validated as if the vocabulary meant nothing. */
static void api_unknown_vocabulary(void)
{
	static const char *const drafts[] = {"draft2019-09", "draft2020-12"};
	struct remotes ours = {{"tests/jsonschema/remotes"}};
	struct eddy_jsonschema_opts opts = {.resolve = resolve, .resolve_ud = &ours};

	for (size_t i = 0; i < sizeof(drafts) / sizeof(drafts[0]); i++) {
		struct eddy_jsonschema_set *set = eddy_jsonschema_set_new(&opts);
		char schema[256], want[512], err[512] = "";

		snprintf(schema, sizeof(schema),
		         "{\"$schema\": \"" REMOTE_PREFIX "%s/meta-unknown-required.json\", "
		         "\"type\": \"integer\"}",
		         drafts[i]);
		snprintf(want, sizeof(want),
		         "urn:eddy:schema:1: /$schema: the meta-schema requires the vocabulary "
		         "\"https://eddy.test/vocab/not-known\", which is not supported");
		CHECK(eddy_jsonschema_add(set, schema, strlen(schema), NULL, err, sizeof(err)) ==
		      NULL);
		CHECK_STR(err, want);
		eddy_jsonschema_set_destroy(set);
	}
}

/* A schema whose subschema failed to compile stays refused: adding it
 * again must not give a schema that skips the broken part. */
static void api_compile_error_sticks(void)
{
	static const char schema[] = "{\"properties\": {\"a\": {\"minLength\": -1}}}";
	struct eddy_jsonschema_set *set = eddy_jsonschema_set_new(NULL);
	char err[512] = "";

	CHECK(eddy_jsonschema_add(set, schema, sizeof(schema) - 1, "urn:x", err, sizeof(err)) ==
	      NULL);
	CHECK_STR(err, "urn:x: /properties/a/minLength: must be a non-negative integer, got -1");
	CHECK(eddy_jsonschema_add(set, schema, sizeof(schema) - 1, "urn:x", err, sizeof(err)) ==
	      NULL);
	CHECK_STR(err, "urn:x: schema failed to compile earlier");
	CHECK(eddy_jsonschema_lookup(set, "urn:x#/properties/a", err, sizeof(err)) == NULL);
	eddy_jsonschema_set_destroy(set);
}

static void api_recursion(void)
{
	struct eddy_jsonschema_set *set = eddy_jsonschema_set_new(NULL);
	struct eddy_json_doc *doc = eddy_json_doc_new();
	static const char schema[] =
	    "{\"definitions\": {\"a\": {\"$ref\": \"#/definitions/b\"},"
	    " \"b\": {\"$ref\": \"#/definitions/a\"}}, \"allOf\": [{\"$ref\": "
	    "\"#/definitions/a\"}]}";
	const struct eddy_jsonschema *s =
	    eddy_jsonschema_add(set, schema, sizeof(schema) - 1, NULL, NULL, 0);
	const struct eddy_json *v = eddy_json_parse(doc, "1", 1, NULL, 0);
	struct eddy_jsonschema_result r;

	CHECK(s != NULL);
	if (s) {
		CHECK(!eddy_jsonschema_validate(set, s, v, &r));
		CHECK(r.n_errors == 1 && strstr(r.errors[0].message, "deeper than"));
	}
	eddy_json_doc_destroy(doc);
	eddy_jsonschema_set_destroy(set);
}

/* The 2020-12 schema $defs s0 .. s<levels>, each s<k> a oneOf of s<k-1>
 * and its "not": evaluating s<levels> naively takes 2^levels steps. */
static char *exponential_schema(int levels)
{
	size_t cap = 200 + (size_t)levels * 120, o = 0;
	char *t = malloc(cap);

	if (!t)
		return NULL;
	o += (size_t)snprintf(t + o, cap - o,
	                      "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
	                      " \"$ref\": \"#/$defs/s%d\", \"$defs\": {\"s0\": {\"type\": "
	                      "\"integer\"}",
	                      levels);
	for (int k = 1; k <= levels; k++)
		o += (size_t)snprintf(t + o, cap - o,
		                      ", \"s%d\": {\"oneOf\": [{\"$ref\": \"#/$defs/s%d\"}, "
		                      "{\"not\": {\"$ref\": \"#/$defs/s%d\"}}]}",
		                      k, k - 1, k - 1);
	snprintf(t + o, cap - o, "}}");
	return t;
}

/* Validation has a budget of steps (opts.max_steps): counted the same way
 * every time, and stopping work that grows exponentially with the
 * schema's nesting (39 levels of oneOf ran for minutes). */
static void api_budget(void)
{
	struct eddy_jsonschema_opts opts = {.max_steps = 4};
	struct eddy_jsonschema_set *set = eddy_jsonschema_set_new(&opts);
	struct eddy_json_doc *doc = eddy_json_doc_new();
	static const char ints[] = "{\"items\": {\"type\": \"integer\"}}";
	const struct eddy_jsonschema *s =
	    eddy_jsonschema_add(set, ints, sizeof(ints) - 1, "https://x.test/b.json", NULL, 0);
	const struct eddy_json *v = eddy_json_parse(doc, "[1, 2, 3]", 9, NULL, 0);
	struct eddy_jsonschema_result r;
	char *text = exponential_schema(39);

	CHECK(s && v && text);
	if (!s || !v || !text)
		goto out;
	/* the array and its 3 items: 4 steps */
	CHECK(eddy_jsonschema_validate(set, s, v, &r) && !eddy_jsonschema_over_budget(set));
	eddy_jsonschema_set_destroy(set);
	opts.max_steps = 3;
	set = eddy_jsonschema_set_new(&opts);
	s = eddy_jsonschema_add(set, ints, sizeof(ints) - 1, "https://x.test/b.json", NULL, 0);
	CHECK(s && !eddy_jsonschema_validate(set, s, v, &r));
	CHECK(eddy_jsonschema_over_budget(set));
	CHECK(r.n_errors == 1);
	CHECK_STR(r.errors[0].message, "validation stopped after 3 steps, its budget");
	CHECK_STR(r.errors[0].absolute_keyword_location, "https://x.test/b.json");
	/* invalid within the budget: the errors, not the budget */
	v = eddy_json_parse(doc, "[\"a\"]", 5, NULL, 0);
	CHECK(v && !eddy_jsonschema_validate(set, s, v, &r) && !eddy_jsonschema_over_budget(set));
	CHECK(r.n_errors == 1 && strstr(r.errors[0].message, "must be of type integer"));
	eddy_jsonschema_set_destroy(set);

	opts.max_steps = 1000000;
	set = eddy_jsonschema_set_new(&opts);
	s = eddy_jsonschema_add(set, text, strlen(text), "https://x.test/exp.json", NULL, 0);
	v = eddy_json_parse(doc, "1", 1, NULL, 0);
	CHECK(s && v);
	if (s && v) {
		clock_t t0 = clock();
		CHECK(!eddy_jsonschema_validate(set, s, v, &r));
		CHECK(eddy_jsonschema_over_budget(set));
		CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 10);
		/* a few levels fit */
		CHECK(eddy_jsonschema_validate(
		    set, eddy_jsonschema_lookup(set, "https://x.test/exp.json#/$defs/s5", NULL, 0),
		    v, &r));
	}
out:
	free(text);
	eddy_json_doc_destroy(doc);
	eddy_jsonschema_set_destroy(set);
}

/* uniqueItems hashes: 100k items take about as long as a pass over them
 * (compared pairwise they took 12 s), with JSON equality kept (1 equals
 * 1.0, the order of an object's members does not count). */
static void api_unique_items(void)
{
	struct eddy_jsonschema_set *set = eddy_jsonschema_set_new(NULL);
	struct eddy_json_doc *doc = eddy_json_doc_new();
	static const char schema[] = "{\"type\": \"array\", \"uniqueItems\": true}";
	const struct eddy_jsonschema *s =
	    eddy_jsonschema_add(set, schema, sizeof(schema) - 1, NULL, NULL, 0);
	size_t n = 100000, cap = n * 24 + 64, o = 0;
	char *text = malloc(cap);
	const struct eddy_json *v;
	struct eddy_jsonschema_result r;

	CHECK(s && text);
	if (!s || !text)
		goto out;
	o += (size_t)snprintf(text + o, cap - o, "[{\"a\": 1, \"b\": 2}");
	for (size_t i = 1; i < n; i++)
		o += (size_t)snprintf(text + o, cap - o, ", %zu", i);
	snprintf(text + o, cap - o, "]");
	v = eddy_json_parse(doc, text, strlen(text), NULL, 0);
	CHECK(v != NULL);
	if (v) {
		clock_t t0 = clock();
		CHECK(eddy_jsonschema_validate(set, s, v, NULL));
		CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 2);
	}
	/* the last item equal to the first: the members in another order */
	snprintf(text + o, cap - o, ", {\"b\": 2.0, \"a\": 1}]");
	v = eddy_json_parse(doc, text, strlen(text), NULL, 0);
	CHECK(v != NULL);
	if (v) {
		clock_t t0 = clock();
		CHECK(!eddy_jsonschema_validate(set, s, v, &r));
		CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 2);
		CHECK(r.n_errors == 1);
		CHECK_STR(r.errors[0].message,
		          "items 0 and 100000 are equal ({\"b\":2,\"a\":1}), must be unique");
	}
out:
	free(text);
	eddy_json_doc_destroy(doc);
	eddy_jsonschema_set_destroy(set);
}

/* ---- allocation failures (curl's torture tests) ---- */

struct torture {
	const char *name;
	enum eddy_jsonschema_dialect dialect;
	const char *schema; /* added, or looked up when it is a URI */
	const char *instances[4];
	bool want[4];
};

/* The answers of s, with memory to spare. */
static bool answers_right(struct eddy_jsonschema_set *set, const struct eddy_jsonschema *s,
                          const struct torture *t, const struct eddy_json *const *v)
{
	struct eddy_jsonschema_result r;
	bool ok = true;

	for (size_t i = 0; i < 4 && v[i]; i++)
		ok &= eddy_jsonschema_validate(set, s, v[i], &r) == t->want[i] &&
		      r.valid == t->want[i];
	return ok;
}

/* One run with the nth allocation failing (and every later one when
 * sticky): a clean error or the right answer, never a wrong answer or a
 * crash; once memory is back, the set refuses the schema or answers right.
 * Returns whether the nth allocation was reached. */
static bool torture_run(const struct torture *t, const struct eddy_json *const *v,
                        unsigned long nth, bool sticky)
{
	struct remotes rem = {{"tests/jsonschema/remotes"}};
	struct eddy_jsonschema_opts opts = {.default_dialect = t->dialect,
	                                    .max_errors = 100,
	                                    .resolve = resolve,
	                                    .resolve_ud = &rem};
	struct eddy_jsonschema_set *set;
	const struct eddy_jsonschema *s = NULL;
	struct eddy_jsonschema_result r;
	char err[512] = "";
	bool reached, is_uri = strchr(t->schema, '{') == NULL;

	eddy_alloc_fail_at(nth, sticky);
	if ((set = eddy_jsonschema_set_new(&opts))) {
		s = is_uri ? eddy_jsonschema_lookup(set, t->schema, err, sizeof(err))
		           : eddy_jsonschema_add(set, t->schema, strlen(t->schema), "urn:t", err,
		                                 sizeof(err));
		CHECK(s || strstr(err, "out of memory"));
		for (size_t i = 0; s && i < 4 && v[i]; i++) {
			bool got = eddy_jsonschema_validate(set, s, v[i], &r);

			CHECK(got == r.valid && (got || r.n_errors > 0));
			/* never valid when it is not; invalid when it is valid only
			 * for want of memory */
			CHECK(!got || t->want[i]);
			if (got != t->want[i])
				CHECK(strstr(r.errors[0].message, "out of memory") != NULL);
		}
	}
	reached = eddy_alloc_failed();
	eddy_alloc_fail_at(0, false);
	if (!set)
		return reached;
	/* running out of memory leaves nothing behind that fails later */
	if (!s) {
		s = is_uri ? eddy_jsonschema_lookup(set, t->schema, err, sizeof(err))
		           : eddy_jsonschema_add(set, t->schema, strlen(t->schema), "urn:t", err,
		                                 sizeof(err));
		if (!s)
			fprintf(stderr, "%s: allocation %lu%s failed, then: %s\n", t->name, nth,
			        sticky ? " on" : "", err);
		CHECK(s != NULL);
	}
	if (s && !answers_right(set, s, t, v)) {
		fprintf(stderr, "%s: wrong answers after allocation %lu%s failed\n", t->name, nth,
		        sticky ? " on" : "");
		CHECK(!"answers after a failed allocation");
	}
	eddy_jsonschema_set_destroy(set);
	return reached;
}

static void api_torture(void)
{
	/* long names grow the location buffers, many errors the error list */
	char big[4096], name[300];
	static struct torture cases[] = {
	    {"2020-12",
	     EDDY_JSONSCHEMA_2020_12,
	     "{\"$id\": \"https://x.test/t.json\", \"$defs\": {\"pos\": {\"$anchor\": \"pos\","
	     " \"type\": \"integer\", \"minimum\": 0}, \"node\": {\"$dynamicAnchor\": \"node\"}},"
	     " \"type\": \"object\", \"properties\": {\"n\": {\"$ref\": \"#pos\"},"
	     " \"list\": {\"items\": {\"$ref\": \"#/$defs/pos\"}, \"unevaluatedItems\": false},"
	     " \"name\": {\"pattern\": \"^[a-z]+$\", \"maxLength\": 8},"
	     " \"i\": {\"$ref\": \"http://localhost:1234/draft2020-12/integer.json\"}},"
	     " \"patternProperties\": {\"^x-\": {\"type\": \"string\"}}, \"required\": [\"n\"],"
	     " \"dependentRequired\": {\"name\": [\"n\"]},"
	     " \"if\": {\"properties\": {\"n\": {\"const\": 0}}}, \"then\": {\"required\": "
	     "[\"name\"]},"
	     " \"anyOf\": [{\"required\": [\"n\"]}, {\"required\": [\"i\"]}],"
	     " \"unevaluatedProperties\": false}",
	     {NULL},
	     {true, false, true, false}},
	    {"draft-07",
	     EDDY_JSONSCHEMA_DRAFT7,
	     "{\"definitions\": {\"s\": {\"type\": \"string\"}}, \"type\": \"array\","
	     " \"items\": [{\"$ref\": \"#/definitions/s\"}], \"additionalItems\": {\"type\": "
	     "\"integer\"},"
	     " \"contains\": {\"const\": 1}, \"uniqueItems\": true}",
	     {"[\"a\", 1, 2]", "[\"a\", 2, 2, \"b\"]", "[1]", NULL},
	     {true, false, false}},
	    {"uniqueItems hashed",
	     EDDY_JSONSCHEMA_DRAFT7,
	     "{\"uniqueItems\": true}",
	     {"[1, 2, 3, 4, 5, 6, 7, 8, 9, {\"a\": [1]}]", "[1, 2, 3, 4, 5, 6, 7, 8, 9, 1.0]",
	      "[{\"a\": 1, \"b\": 2}, 2, 3, 4, 5, 6, 7, 8, 9, {\"b\": 2, \"a\": 1.0}]", NULL},
	     {true, false, false}},
	    {"meta-schema",
	     EDDY_JSONSCHEMA_2020_12,
	     "https://json-schema.org/draft/2020-12/schema",
	     {"{\"type\": \"string\", \"minLength\": 1}", "{\"type\": 5}", NULL},
	     {true, false}},
	};
	struct eddy_json_doc *docs[4];
	size_t o = 0;

	/* the 2020-12 instances: valid, and invalid in many places */
	memset(name, 'k', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	o += (size_t)snprintf(big + o, sizeof(big) - o,
	                      "{\"n\": -1, \"name\": \"ABC\", \"list\": [");
	for (int i = 0; i < 300; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "%s%d", i ? "," : "",
		                      i % 7 ? i : -i);
	snprintf(big + o, sizeof(big) - o, "], \"x-a\": 1, \"%s\": 1, \"i\": 1.5}", name);
	cases[0].instances[0] = "{\"n\": 1, \"name\": \"abc\", \"x-a\": \"b\", \"list\": [1, 2]}";
	cases[0].instances[1] = big;
	cases[0].instances[2] = "{\"n\": 0, \"name\": \"z\", \"i\": 3}";
	cases[0].instances[3] = "{\"n\": 0}";
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct torture *t = &cases[c];
		const struct eddy_json *v[4] = {NULL};
		unsigned long runs = 0;

		for (size_t i = 0; i < 4 && t->instances[i]; i++) {
			docs[i] = eddy_json_doc_new();
			v[i] = eddy_json_parse(docs[i], t->instances[i], strlen(t->instances[i]),
			                       NULL, 0);
			CHECK(v[i] != NULL);
		}
		/* the answers themselves first */
		for (int sticky = 0; sticky < 2; sticky++)
			for (unsigned long n = 1; torture_run(t, v, n, sticky); n++)
				runs++;
		printf("torture %s: %lu runs, each with one allocation failing\n", t->name, runs);
		CHECK(runs > 10);
		for (size_t i = 0; i < 4 && t->instances[i]; i++)
			eddy_json_doc_destroy(docs[i]);
	}
}

int main(void)
{
	struct remotes old = {{SUITE "/remotes"}};
	struct remotes ours = {{"tests/jsonschema/remotes", SUITE "/remotes"}};
	const char *up = getenv("JSON_SCHEMA_SUITE");

	suite("draft4", SUITE "/tests/draft4", EDDY_JSONSCHEMA_DRAFT4, &old);
	suite("draft6", SUITE "/tests/draft6", EDDY_JSONSCHEMA_DRAFT6, &old);
	suite("draft7", SUITE "/tests/draft7", EDDY_JSONSCHEMA_DRAFT7, &old);
	suite("draft2019-09", "tests/jsonschema/draft2019-09", EDDY_JSONSCHEMA_2019_09, &ours);
	suite("draft2020-12", "tests/jsonschema/draft2020-12", EDDY_JSONSCHEMA_2020_12, &ours);
	if (up && *up)
		upstream_suite(up);
	api_errors();
	api_max_errors();
	api_lookup();
	api_compile_errors();
	api_compile_error_sticks();
	api_unknown_vocabulary();
	api_recursion();
	api_budget();
	api_unique_items();
	api_torture();
	CHECK(eddy_jsonschema_dialect_parse("http://json-schema.org/draft-07/schema#") ==
	      EDDY_JSONSCHEMA_DRAFT7);
	CHECK(eddy_jsonschema_dialect_parse("https://json-schema.org/draft/2020-12/schema") ==
	      EDDY_JSONSCHEMA_2020_12);
	CHECK(eddy_jsonschema_dialect_parse("2019-09") == EDDY_JSONSCHEMA_2019_09);
	CHECK(eddy_jsonschema_dialect_parse("draft-99") == -1);
	CHECK_STR(eddy_jsonschema_dialect_name(EDDY_JSONSCHEMA_DRAFT4), "draft-04");
	return test_report("test_jsonschema");
}
