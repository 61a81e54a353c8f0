/* test_handlers.c - loading handler files, routing, the ev table, ctx,
 * JSON through Lua and back, the sandbox. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "handlers.h"
#include "json.h"
#include "lualimits.h"
#include "test.h"

/* ---- actions that record what handlers do ---------------------------------- */

struct kv {
	char ns[64];
	char key[128];
	char *value;
	size_t len;
	bool parsed; /* the upsert said the text is the event's own */
};

struct rec {
	struct kv kv[64];
	size_t n;
	int upserts, deletes, logs;
	const char *fail_upsert; /* upsert returns -1 with this errstr */
	char log[1024];          /* "handler level msg fields" of the last log */
};

static struct kv *find(struct rec *r, const char *ns, const char *key, size_t key_len)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->kv[i].ns, ns) == 0 && strlen(r->kv[i].key) == key_len &&
		    memcmp(r->kv[i].key, key, key_len) == 0)
			return &r->kv[i];
	return NULL;
}

static int rec_get(void *ud, const char *ns, const char *key, size_t key_len, const char **value,
                   size_t *len, char *errstr, size_t errstr_size)
{
	struct kv *e = find(ud, ns, key, key_len);
	(void)errstr;
	(void)errstr_size;
	if (!e)
		return 0;
	*value = e->value;
	*len = e->len;
	return 1;
}

static int rec_upsert(void *ud, const char *ns, const char *key, size_t key_len, const char *value,
                      size_t len, bool parsed, char *errstr, size_t errstr_size)
{
	struct rec *r = ud;
	struct kv *e = find(r, ns, key, key_len);
	if (r->fail_upsert) {
		snprintf(errstr, errstr_size, "%s", r->fail_upsert);
		return -1;
	}
	if (!e) {
		if (r->n == 64)
			return -1;
		e = &r->kv[r->n++];
		snprintf(e->ns, sizeof e->ns, "%s", ns);
		snprintf(e->key, sizeof e->key, "%.*s", (int)key_len, key);
		e->value = NULL;
	}
	free(e->value);
	e->value = malloc(len + 1);
	memcpy(e->value, value, len);
	e->value[len] = '\0';
	e->len = len;
	e->parsed = parsed;
	r->upserts++;
	return 0;
}

static int rec_del(void *ud, const char *ns, const char *key, size_t key_len, char *errstr,
                   size_t errstr_size)
{
	struct rec *r = ud;
	struct kv *e = find(r, ns, key, key_len);
	(void)errstr;
	(void)errstr_size;
	if (e) {
		free(e->value);
		*e = r->kv[--r->n];
		r->kv[r->n].value = NULL;
	}
	r->deletes++;
	return 0;
}

static void rec_log(void *ud, const char *handler, const char *level, const char *msg,
                    const char *fields_json)
{
	struct rec *r = ud;
	r->logs++;
	snprintf(r->log, sizeof r->log, "%s %s %s %s", handler, level, msg,
	         fields_json ? fields_json : "-");
}

static void rec_clear(struct rec *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->kv[i].value);
	memset(r, 0, sizeof *r);
}

static struct rec rec;
static const struct eddy_actions actions = {
    .ud = &rec, .get = rec_get, .upsert = rec_upsert, .del = rec_del, .log = rec_log};

/* The stored value of ns/key, or NULL. */
static const char *stored(const char *ns, const char *key)
{
	struct kv *e = find(&rec, ns, key, strlen(key));
	return e ? e->value : NULL;
}

/* ---- handler files ---------------------------------------------------------- */

/* Tests run in a temporary directory holding ./handlers, so messages read
 * "handlers/x.lua:3: ..." as they do in a real deployment. */
static char tmp_root[] = "/tmp/eddy-test-handlers.XXXXXX";

static void clear_dir(void)
{
	DIR *d = opendir("handlers");
	struct dirent *e;
	char path[512];
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "handlers/%s", e->d_name);
		if (rmdir(path) != 0)
			unlink(path);
	}
	closedir(d);
}

static void write_file(const char *name, const char *text, size_t len)
{
	char path[512];
	snprintf(path, sizeof path, "handlers/%s", name);
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f) {
		fwrite(text, 1, len, f);
		fclose(f);
	}
}

/* Replaces the handler files by files[] (name, source, name, source, ...,
 * NULL) and loads them. */
static struct eddy_handlers *load(const char *const *files, char *err, size_t err_size)
{
	clear_dir();
	for (size_t i = 0; files[i]; i += 2)
		write_file(files[i], files[i + 1], strlen(files[i + 1]));
	rec_clear(&rec);
	err[0] = '\0';
	return eddy_handlers_load("handlers", &actions, err, err_size);
}

/* ---- events ------------------------------------------------------------------ */

static struct eddy_attr attr(const char *s)
{
	return (struct eddy_attr){s, s ? strlen(s) : 0};
}

static struct eddy_msg msg;
static struct eddy_event ev;
static struct eddy_header headers[2] = {{"traceparent", "00-abc-01", 9}, {"empty", NULL, 0}};

static const struct eddy_event *event(const char *type, const char *topic,
                                      const struct eddy_json *data)
{
	memset(&msg, 0, sizeof msg);
	memset(&ev, 0, sizeof ev);
	msg.topic = topic;
	msg.partition = 3;
	msg.offset = 12345678901LL;
	msg.key = "ORD-1234";
	msg.key_len = 8;
	msg.value = "{}";
	msg.value_len = 2;
	msg.headers = headers;
	msg.n_headers = 2;
	ev.msg = &msg;
	ev.mode = EDDY_ENVELOPE_STRUCTURED;
	ev.id = attr("ORD-1234");
	ev.type = attr(type);
	ev.source = attr("/relex/planning");
	ev.specversion = attr("1.0");
	ev.time = attr("2025-01-14T12:30:00Z");
	ev.datacontenttype = attr("application/json");
	ev.data_json = data;
	return &ev;
}

/* A document built by hand, the way json.cc fills one in: null, [], {}
 * and 312.0 whose text only the original keeps. */
static const char hand_text[] = "{\"id\":\"A-1\",\"empty\":[],\"none\":null,\"obj\":{},\"n\":312.0,"
                                "\"list\":[1,\"two\",true,false]}";
static struct eddy_json hand_items[4];
static struct eddy_json_member hand_members[6];
static struct eddy_json hand;

static struct eddy_json jstr(const char *s)
{
	return (struct eddy_json){.type = EDDY_JSON_STRING, .len = (uint32_t)strlen(s), .u.s = s};
}

static void build_hand(void)
{
	const char *empty = strstr(hand_text, "[]"), *obj = strstr(hand_text, "{}");
	const char *list = strstr(hand_text, "[1");

	hand_items[0] = (struct eddy_json){.type = EDDY_JSON_INT, .u.i = 1};
	hand_items[1] = jstr("two");
	hand_items[2] = (struct eddy_json){.type = EDDY_JSON_TRUE};
	hand_items[3] = (struct eddy_json){.type = EDDY_JSON_FALSE};
	hand_members[0] = (struct eddy_json_member){"id", 2, jstr("A-1")};
	hand_members[1] = (struct eddy_json_member){
	    "empty", 5, {.type = EDDY_JSON_ARRAY, .raw = empty, .raw_len = 2}};
	hand_members[2] = (struct eddy_json_member){"none", 4, {.type = EDDY_JSON_NULL}};
	hand_members[3] = (struct eddy_json_member){
	    "obj", 3, {.type = EDDY_JSON_OBJECT, .raw = obj, .raw_len = 2}};
	hand_members[4] =
	    (struct eddy_json_member){"n", 1, {.type = EDDY_JSON_DOUBLE, .u.d = 312.0}};
	hand_members[5] =
	    (struct eddy_json_member){"list",
	                              4,
	                              {.type = EDDY_JSON_ARRAY,
	                               .len = 4,
	                               .raw = list,
	                               .raw_len = (uint32_t)(strchr(list, ']') + 1 - list),
	                               .u.items = hand_items}};
	hand = (struct eddy_json){.type = EDDY_JSON_OBJECT,
	                          .len = 6,
	                          .raw = hand_text,
	                          .raw_len = sizeof hand_text - 1,
	                          .u.members = hand_members};
}

#define S_HEAD                                                                                     \
	"{\"order_id\":\"ORD-1234\",\"product_id\":\"PROD-000123\",\"location_id\":\"STORE-"       \
	"0042\","                                                                                  \
	"\"supplier_id\":\"SUP-00077\",\"quantity\":312.0,\"unit\":\"CS\",\"order_date\":\"2025-"  \
	"01-14\","                                                                                 \
	"\"delivery_date\":\"2025-01-20T08:00:00Z\","
#define S_STATUS "\"status\":\"proposed\","
#define S_VERSION "\"version\":3,"
#define S_LINE1 "{\"line_no\":1,\"sku\":\"SKU-0001234\",\"quantity\":200,\"unit_cost\":12.5}"
#define S_LINE2 "{\"line_no\":2,\"sku\":\"SKU-0004321\",\"quantity\":112,\"unit_cost\":3.75}"
#define S_DATA S_HEAD S_STATUS S_VERSION "\"lines\":[" S_LINE1 "," S_LINE2 "]}"

static const char sample_event[] =
    "{\"specversion\":\"1.0\",\"id\":\"ORD-1234\",\"type\":\"com.relexsolutions.supply-chain."
    "transactions.order-proposals.v1\",\"source\":\"/relex/planning\",\"time\":\"2025-01-14T12:"
    "30:00Z\",\"meta\":{\"tenant\":\"customer-retail-001\",\"correlation_id\":\"c-77\"},"
    "\"region\":\"eu\",\"data\":" S_DATA "}";

/* The sample CloudEvent parsed with the real parser, its attributes filled
 * by hand (as envelope.c does). */
static const struct eddy_event *sample(struct eddy_json_doc *doc)
{
	char err[256];
	const struct eddy_json *root =
	    eddy_json_parse(doc, sample_event, strlen(sample_event), err, sizeof err);
	CHECK(root != NULL);
	if (!root)
		return NULL;
	event(eddy_json_str(eddy_json_getz(root, "type")), "customer-retail-001.order-proposals",
	      eddy_json_getz(root, "data"));
	ev.meta = eddy_json_getz(root, "meta");
	ev.tenant = attr(eddy_json_str(eddy_json_getz(ev.meta, "tenant")));
	ev.correlation_id = attr(eddy_json_str(eddy_json_getz(ev.meta, "correlation_id")));
	ev.extensions[0] =
	    (struct eddy_extension){"region", 6, eddy_json_getz(root, "region"), {NULL, 0}};
	ev.extensions[1] = (struct eddy_extension){"partitionkey", 12, NULL, {"k-9", 3}};
	ev.n_extensions = 2;
	return &ev;
}

static bool is_number(const struct eddy_json *v, double *d)
{
	*d = v->type == EDDY_JSON_INT ? (double)v->u.i : v->u.d;
	return v->type == EDDY_JSON_INT || v->type == EDDY_JSON_DOUBLE;
}

/* Equality of two JSON trees: members in any order, numbers by value
 * (312 equals 312.0). */
static bool json_equal(const struct eddy_json *a, const struct eddy_json *b)
{
	double x, y;
	if (is_number(a, &x) && is_number(b, &y))
		return x == y;
	if (a->type != b->type || a->len != b->len)
		return false;
	switch (a->type) {
	case EDDY_JSON_INT:
		return a->u.i == b->u.i;
	case EDDY_JSON_DOUBLE:
		return a->u.d == b->u.d;
	case EDDY_JSON_STRING:
		return memcmp(a->u.s, b->u.s, a->len) == 0;
	case EDDY_JSON_ARRAY:
		for (uint32_t i = 0; i < a->len; i++)
			if (!json_equal(&a->u.items[i], &b->u.items[i]))
				return false;
		return true;
	case EDDY_JSON_OBJECT:
		for (uint32_t i = 0; i < a->len; i++) {
			const struct eddy_json_member *m = &a->u.members[i];
			const struct eddy_json *o = eddy_json_get(b, m->key, m->key_len);
			if (!o || !json_equal(&m->value, o))
				return false;
		}
		return true;
	default:
		return true;
	}
}

/* true when JSON texts a and b hold the same value. */
static bool same_json_text(const char *a, const char *b)
{
	struct eddy_json_doc *da = eddy_json_doc_new(), *db = eddy_json_doc_new();
	char err[256];
	const struct eddy_json *ja = a ? eddy_json_parse(da, a, strlen(a), err, sizeof err) : NULL;
	const struct eddy_json *jb = b ? eddy_json_parse(db, b, strlen(b), err, sizeof err) : NULL;
	bool same = ja && jb && json_equal(ja, jb);
	if (!same)
		fprintf(stderr, "  JSON differs:\n    %s\n    %s\n", a ? a : "(null)",
		        b ? b : "(null)");
	eddy_json_doc_destroy(da);
	eddy_json_doc_destroy(db);
	return same;
}

/* ---- tests ------------------------------------------------------------------- */

static const char *const ORDERS_TYPE =
    "com.relexsolutions.supply-chain.transactions.order-proposals.v1";

static void test_load(void)
{
	char err[512];
	struct eddy_handlers *h;

	const char *ok[] = {"orders.lua",
	                    "local n = 0\n"
	                    "return { subscribe = { types = \"com.*\" },\n"
	                    "  on_event = function(ev, ctx) n = n + 1 end }\n",
	                    "notes.txt", "not a handler", NULL};
	h = load(ok, err, sizeof err);
	CHECK(h != NULL);
	CHECK(eddy_handlers_count(h) == 1);
	CHECK_STR(eddy_handlers_name(h, 0), "orders.lua");
	CHECK(eddy_handlers_name(h, 1) == NULL);
	CHECK(eddy_handlers_stack_top(h) == 0);
	eddy_handlers_destroy(h);
	eddy_handlers_destroy(NULL);

	const char *syntax[] = {"a.lua", "return { on_event = function() end }\n", "bad.lua",
	                        "local x = 1\nlocal y = = 2\nreturn {}\n", NULL};
	CHECK(load(syntax, err, sizeof err) == NULL);
	CHECK_STR(err, "handlers/bad.lua:2: unexpected symbol near '='");

	const char *runtime[] = {"bad.lua", "local t = {}\n\nlocal x = t.a.b\nreturn {}\n", NULL};
	CHECK(load(runtime, err, sizeof err) == NULL);
	CHECK_STR(err, "handlers/bad.lua:3: attempt to index field 'a' (a nil value)");

	const char *raised[] = {"bad.lua", "error({})\n", NULL};
	CHECK(load(raised, err, sizeof err) == NULL);
	CHECK_STR(err, "handlers/bad.lua:1: error object is a table");

	const char *no_table[] = {"bad.lua", "return 42\n", NULL};
	CHECK(load(no_table, err, sizeof err) == NULL);
	CHECK_STR(err, "handlers/bad.lua: must return a table with on_event, got number");

	const char *no_on_event[] = {"bad.lua", "return { on_evnt = function() end }\n", NULL};
	CHECK(load(no_on_event, err, sizeof err) == NULL);
	CHECK_STR(err, "handlers/bad.lua: on_event must be a function");

	/* print is not in the sandbox: nil */
	const char *print_fn[] = {"bad.lua", "return { on_event = print }\n", NULL};
	CHECK(load(print_fn, err, sizeof err) == NULL);
	CHECK_STR(err, "handlers/bad.lua: on_event must be a function");

	const char *bad_types[] = {
	    "bad.lua",
	    "return { subscribe = { types = { 'a.*', 7 } }, on_event = function() end }\n", NULL};
	CHECK(load(bad_types, err, sizeof err) == NULL);
	CHECK_STR(err, "handlers/bad.lua: subscribe.types must be a list of strings");

	const char *bad_types2[] = {
	    "bad.lua",
	    "return { subscribe = { types = { 'a', x = 'b' } }, on_event = function() end }\n",
	    NULL};
	CHECK(load(bad_types2, err, sizeof err) == NULL);
	CHECK_STR(err, "handlers/bad.lua: subscribe.types must be a list of strings");

	const char *bad_topics[] = {
	    "bad.lua", "return { subscribe = { topics = true }, on_event = function() end }\n",
	    NULL};
	CHECK(load(bad_topics, err, sizeof err) == NULL);
	CHECK_STR(err, "handlers/bad.lua: subscribe.topics must be a list of strings");

	const char *typo[] = {
	    "bad.lua", "return { subscribe = { type = 'a.*' }, on_event = function() end }\n",
	    NULL};
	CHECK(load(typo, err, sizeof err) == NULL);
	CHECK_STR(err, "handlers/bad.lua: subscribe.type is not known (types, topics)");

	const char *sub_string[] = {
	    "bad.lua", "return { subscribe = 'a.*', on_event = function() end }\n", NULL};
	CHECK(load(sub_string, err, sizeof err) == NULL);
	CHECK_STR(err, "handlers/bad.lua: subscribe must be a table");

	/* bytecode: refused before the Lua loader sees it */
	clear_dir();
	write_file("bc.lua", "\033LJ\002\012\000\000", 7);
	CHECK(eddy_handlers_load("handlers", &actions, err, sizeof err) == NULL);
	CHECK_STR(err, "handlers/bc.lua: precompiled bytecode is not accepted, only Lua source");

	/* an empty directory is a set of no handlers */
	const char *none[] = {NULL};
	h = load(none, err, sizeof err);
	CHECK(h != NULL);
	CHECK(eddy_handlers_count(h) == 0);
	const char *failed = "x";
	CHECK(eddy_handlers_dispatch(h, event(ORDERS_TYPE, "t", NULL), &failed, err, sizeof err) ==
	      0);
	CHECK(failed == NULL);
	eddy_handlers_destroy(h);

	CHECK(eddy_handlers_load("nope", &actions, err, sizeof err) == NULL);
	CHECK_STR(err, "nope/: No such file or directory");
	CHECK(eddy_handlers_load("nope/", &actions, err, sizeof err) == NULL);
	CHECK_STR(err, "nope/: No such file or directory");

	/* a trailing slash names files the same way */
	const char *slash[] = {"bad.lua", "return {}\n", NULL};
	load(slash, err, sizeof err);
	CHECK(eddy_handlers_load("handlers/", &actions, err, sizeof err) == NULL);
	CHECK_STR(err, "handlers/bad.lua: on_event must be a function");
}

/* Each handler records its name in ns "calls" under the event's id. */
#define RECORDER(name)                                                                             \
	"return { " name " on_event = function(ev, ctx)\n"                                         \
	"  local seen = ctx.get('calls', ev.id) or ''\n"                                           \
	"  ctx.upsert('calls', ev.id, seen .. (seen == '' and '' or ',') .. HANDLER)\n"            \
	"end }\n"

static void test_dispatch(void)
{
	char err[512];
	const char *failed = NULL;
	const char *files[] = {
	    "b_types.lua",
	    "HANDLER = 'b'\n" RECORDER(
	        "subscribe = { types = { 'com.*.order-proposals.v*', 'x' } },"),
	    "a_all.lua",
	    "HANDLER = 'a'\n" RECORDER(""),
	    "c_topics.lua",
	    "HANDLER = 'c'\n" RECORDER("subscribe = { topics = '*.order-proposals' },"),
	    "d_both.lua",
	    "HANDLER = 'd'\n" RECORDER(
	        "subscribe = { topics = { 'x', '*.orders' }, types = '*.v2' },"),
	    NULL};
	struct eddy_handlers *h = load(files, err, sizeof err);
	CHECK(h != NULL);
	if (!h) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK(eddy_handlers_count(h) == 4);
	CHECK_STR(eddy_handlers_name(h, 0), "a_all.lua");
	CHECK_STR(eddy_handlers_name(h, 3), "d_both.lua");

	CHECK(eddy_handlers_dispatch(h, event(ORDERS_TYPE, "tenant1.order-proposals", NULL),
	                             &failed, err, sizeof err) == 3);
	CHECK_STR(stored("calls", "ORD-1234"), "\"a,b,c\"");

	rec_clear(&rec);
	CHECK(eddy_handlers_dispatch(h, event("com.example.orders.v2", "tenant1.orders", NULL),
	                             &failed, err, sizeof err) == 2);
	CHECK_STR(stored("calls", "ORD-1234"), "\"a,d\"");

	/* no type: only patterns that match "" and absent lists */
	rec_clear(&rec);
	CHECK(eddy_handlers_dispatch(h, event(NULL, "tenant1.order-proposals", NULL), &failed, err,
	                             sizeof err) == 2);
	CHECK_STR(stored("calls", "ORD-1234"), "\"a,c\"");

	/* a tombstone without a type goes by topic alone */
	rec_clear(&rec);
	event(NULL, "tenant1.order-proposals", NULL);
	ev.deleted = true;
	CHECK(eddy_handlers_dispatch(h, &ev, &failed, err, sizeof err) == 3);
	CHECK_STR(stored("calls", "ORD-1234"), "\"a,b,c\"");
	CHECK(eddy_handlers_stack_top(h) == 0);
	eddy_handlers_destroy(h);
}

static void test_errors(void)
{
	char err[512];
	const char *failed = NULL;
	const char *files[] = {
	    "a.lua",
	    "return { on_event = function(ev, ctx) ctx.upsert('n', 'a', 1) end }\n",
	    "b.lua",
	    "return {\n"
	    "  on_event = function(ev, ctx)\n"
	    "    if ev.type == 'boom' then error('bad thing') end\n"
	    "    if ev.type == 'table' then error({ code = 1 }) end\n"
	    "    if ev.type == 'nil' then local t = nil; return t.x end\n"
	    "    if ev.type == 'plain' then error('no position', 0) end\n"
	    "  end }\n",
	    "c.lua",
	    "return { on_event = function(ev, ctx) ctx.upsert('n', 'c', 1) end }\n",
	    NULL};
	struct eddy_handlers *h = load(files, err, sizeof err);
	CHECK(h != NULL);
	if (!h)
		return;

	CHECK(eddy_handlers_dispatch(h, event("boom", "t", NULL), &failed, err, sizeof err) == -1);
	CHECK_STR(failed, "b.lua");
	CHECK_STR(err, "handlers/b.lua:3: bad thing");
	CHECK(stored("n", "a") != NULL);
	CHECK(stored("n", "c") == NULL); /* handlers after the failing one do not run */

	CHECK(eddy_handlers_dispatch(h, event("table", "t", NULL), &failed, err, sizeof err) == -1);
	CHECK_STR(failed, "b.lua");
	CHECK_STR(err, "handlers/b.lua:4: error object is a table");

	CHECK(eddy_handlers_dispatch(h, event("nil", "t", NULL), &failed, err, sizeof err) == -1);
	CHECK_STR(err, "handlers/b.lua:5: attempt to index local 't' (a nil value)");

	CHECK(eddy_handlers_dispatch(h, event("plain", "t", NULL), &failed, err, sizeof err) == -1);
	CHECK_STR(err, "no position");

	/* the state goes on after errors */
	CHECK(eddy_handlers_dispatch(h, event("fine", "t", NULL), &failed, err, sizeof err) == 3);
	CHECK(failed == NULL);
	CHECK(stored("n", "c") != NULL);
	CHECK(eddy_handlers_stack_top(h) == 0);
	eddy_handlers_destroy(h);
}

static void test_ev(struct eddy_json_doc *doc)
{
	char err[512];
	const char *failed = NULL;
	const char *files[] = {
	    "a.lua",
	    "local function show(v)\n"
	    "  if type(v) == 'table' then\n"
	    "    local keys = {}\n"
	    "    for k in pairs(v) do keys[#keys + 1] = k end\n"
	    "    table.sort(keys)\n"
	    "    return '{' .. table.concat(keys, ',') .. '}'\n"
	    "  end\n"
	    "  return tostring(v)\n"
	    "end\n"
	    "return { on_event = function(ev, ctx)\n"
	    "  local out = {}\n"
	    "  for _, k in ipairs({ 'id', 'type', 'source', 'subject', 'time', 'specversion',\n"
	    "      'datacontenttype', 'dataschema', 'key', 'deleted', 'tenant', 'correlation_id',\n"
	    "      'topic', 'partition', 'offset' }) do\n"
	    "    out[#out + 1] = k .. '=' .. show(ev[k])\n"
	    "  end\n"
	    "  out[#out + 1] = 'headers=' .. show(ev.headers) .. ':' .. ev.headers.traceparent\n"
	    "  out[#out + 1] = 'extensions=' .. show(ev.extensions) .. ':' .. "
	    "ev.extensions.region\n"
	    "    .. ':' .. ev.extensions.partitionkey\n"
	    "  out[#out + 1] = 'meta=' .. show(ev.meta) .. ':' .. ev.meta.tenant\n"
	    "  out[#out + 1] = 'data=' .. show(ev.data)\n"
	    "  out[#out + 1] = 'lines=' .. #ev.data.lines .. ':' .. ev.data.lines[2].sku\n"
	    "  out[#out + 1] = 'mt=' .. tostring(getmetatable(ev.data.lines) == json.array_mt)\n"
	    "    .. tostring(getmetatable(ev.data) == nil)\n"
	    "  out[#out + 1] = 'q=' .. ev.data.quantity .. ':' .. ev.data.version\n"
	    "  local n = 0; for k in pairs(ev) do n = n + 1 end\n"
	    "  out[#out + 1] = 'fields=' .. n\n"
	    "  ctx.upsert('t', 'ev', table.concat(out, '\\n'))\n"
	    "  ev.data.order_id = 'CHANGED'; ev.extra = 1; ev.headers.traceparent = nil\n"
	    "end }\n",
	    "b.lua",
	    "return { on_event = function(ev, ctx)\n"
	    "  ctx.upsert('t', 'b', ev.data.order_id .. ' ' .. tostring(ev.extra) .. ' '\n"
	    "    .. tostring(ev.headers.traceparent))\n"
	    "end }\n",
	    NULL};
	struct eddy_handlers *h = load(files, err, sizeof err);
	CHECK(h != NULL);
	if (!h) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	const struct eddy_event *e = sample(doc);
	if (!e)
		return;
	int rc = eddy_handlers_dispatch(h, e, &failed, err, sizeof err);
	CHECK(rc == 2);
	if (rc < 0)
		fprintf(stderr, "  %s\n", err);
	const char *want =
	    "\"id=ORD-1234\\n"
	    "type=com.relexsolutions.supply-chain.transactions.order-proposals.v1\\n"
	    "source=\\/relex\\/planning\\n"
	    "subject=nil\\n"
	    "time=2025-01-14T12:30:00Z\\n"
	    "specversion=1.0\\n"
	    "datacontenttype=application\\/json\\n"
	    "dataschema=nil\\n"
	    "key=ORD-1234\\n"
	    "deleted=false\\n"
	    "tenant=customer-retail-001\\n"
	    "correlation_id=c-77\\n"
	    "topic=customer-retail-001.order-proposals\\n"
	    "partition=3\\n"
	    "offset=12345678901\\n"
	    "headers={traceparent}:00-abc-01\\n"
	    "extensions={partitionkey,region}:eu:k-9\\n"
	    "meta={correlation_id,tenant}:customer-retail-001\\n"
	    "data={delivery_date,lines,location_id,order_date,order_id,product_id,quantity,"
	    "status,supplier_id,unit,version}\\n"
	    "lines=2:SKU-0004321\\n"
	    "mt=truetrue\\n"
	    "q=312:3\\n"
	    "fields=17\"";
	CHECK_STR(stored("t", "ev"), want);
	/* what a changed in its ev does not reach b's */
	CHECK_STR(stored("t", "b"), "\"ORD-1234 nil 00-abc-01\"");

	/* a tombstone, and data that is not JSON */
	rec_clear(&rec);
	const char *files2[] = {
	    "a.lua",
	    "return { on_event = function(ev, ctx)\n"
	    "  ctx.upsert('t', 'x', tostring(ev.deleted) .. ' ' .. type(ev.data)\n"
	    "    .. ' ' .. #(ev.data or '') .. ' ' .. tostring(ev.meta))\n"
	    "end }\n",
	    NULL};
	eddy_handlers_destroy(h);
	h = load(files2, err, sizeof err);
	CHECK(h != NULL);
	if (!h)
		return;
	e = event(NULL, "t", NULL);
	ev.deleted = true;
	CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == 1);
	CHECK_STR(stored("t", "x"), "\"true nil 0 nil\"");
	e = event("bin", "t", NULL);
	ev.data_bytes = (struct eddy_attr){"ab\0cd", 5};
	CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == 1);
	CHECK_STR(stored("t", "x"), "\"false string 5 nil\"");
	eddy_handlers_destroy(h);
}

static void test_json_round_trip(struct eddy_json_doc *doc)
{
	char err[512];
	const char *failed = NULL;
	const char *files[] = {
	    "a.lua",
	    "local stash\n"
	    "return { on_event = function(ev, ctx)\n"
	    "  local d = ev.data\n"
	    "  if ev.type == 'same' then return ctx.upsert('t', 'v', d) end\n"
	    "  if ev.type == 'lines' then return ctx.upsert('t', 'v', d.lines) end\n"
	    "  if ev.type == 'line' then return ctx.upsert('t', 'v', d.lines[2]) end\n"
	    "  if ev.type == 'copy' then\n"
	    "    local c = {}\n"
	    "    for k, v in pairs(d) do c[k] = v end\n"
	    "    return ctx.upsert('t', 'v', c)\n"
	    "  end\n"
	    "  if ev.type == 'nested' then d.lines[1].quantity = 201 end\n"
	    "  if ev.type == 'added' then d.lines[2].note = 'x' end\n"
	    "  if ev.type == 'removed' then d.lines[2].sku = nil end\n"
	    "  if ev.type == 'emptied' then table.remove(d.lines); table.remove(d.lines) end\n"
	    "  if ev.type == 'grown' then d.lines[3] = 'x' end\n"
	    "  if ev.type == 'to_null' then d.status = json.null end\n"
	    "  if ev.type == 'retyped' then d.version = '3' end\n"
	    "  if ev.type == 'unmarked' then d.lines = {} end\n"
	    "  if ev.type == 'same_value' then d.quantity = 312; d.status = 'pro' .. 'posed' end\n"
	    "  if ev.type == 'stash' then stash = d; return end\n"
	    "  if ev.type == 'stashed' then return ctx.upsert('t', 'v', stash) end\n"
	    "  ctx.upsert('t', 'v', d)\n"
	    "end }\n",
	    NULL};
	struct eddy_handlers *h = load(files, err, sizeof err);
	CHECK(h != NULL);
	if (!h) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	const struct eddy_event *e;
	const struct eddy_json *data;

	/* unchanged: the original text, byte for byte (312.0 stays 312.0) */
	e = sample(doc);
	data = e->data_json;
	ev.type = attr("same");
	CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == 1);
	CHECK(stored("t", "v") && strlen(stored("t", "v")) == data->raw_len &&
	      memcmp(stored("t", "v"), data->raw, data->raw_len) == 0);
	CHECK(strstr(stored("t", "v"), "\"quantity\":312.0,") != NULL);
	CHECK(find(&rec, "t", "v", 1)->parsed); /* the store need not check it again */

	/* a subtree unchanged: its own text */
	e = sample(doc);
	ev.type = attr("lines");
	CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == 1);
	data = eddy_json_getz(e->data_json, "lines");
	CHECK(stored("t", "v") && strlen(stored("t", "v")) == data->raw_len &&
	      memcmp(stored("t", "v"), data->raw, data->raw_len) == 0);
	e = sample(doc);
	ev.type = attr("line");
	CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == 1);
	CHECK_STR(stored("t", "v"), "{\"line_no\":2,\"sku\":\"SKU-0004321\",\"quantity\":112,"
	                            "\"unit_cost\":3.75}");

	/* the same value set again is still the same value */
	e = sample(doc);
	ev.type = attr("same_value");
	CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == 1);
	CHECK(strstr(stored("t", "v"), "\"quantity\":312.0,") != NULL);

	/* changed: encoded, and the change is there */
	static const struct {
		const char *type, *want;
	} changed[] = {
	    {"nested", S_HEAD S_STATUS S_VERSION
	     "\"lines\":["
	     "{\"line_no\":1,\"sku\":\"SKU-0001234\",\"quantity\":201,\"unit_cost\":12.5}," S_LINE2
	     "]}"},
	    {"added", S_HEAD S_STATUS S_VERSION
	     "\"lines\":[" S_LINE1 ","
	     "{\"line_no\":2,\"sku\":\"SKU-0004321\",\"quantity\":112,\"unit_cost\":3.75,"
	     "\"note\":\"x\"}]}"},
	    {"removed",
	     S_HEAD S_STATUS S_VERSION "\"lines\":[" S_LINE1 ","
	                               "{\"line_no\":2,\"quantity\":112,\"unit_cost\":3.75}]}"},
	    {"emptied", S_HEAD S_STATUS S_VERSION "\"lines\":[]}"},
	    {"grown", S_HEAD S_STATUS S_VERSION "\"lines\":[" S_LINE1 "," S_LINE2 ",\"x\"]}"},
	    {"to_null", S_HEAD "\"status\":null," S_VERSION "\"lines\":[" S_LINE1 "," S_LINE2 "]}"},
	    {"retyped", S_HEAD S_STATUS "\"version\":\"3\",\"lines\":[" S_LINE1 "," S_LINE2 "]}"},
	    {"unmarked", S_HEAD S_STATUS S_VERSION "\"lines\":{}}"},
	};
	for (size_t i = 0; i < sizeof changed / sizeof changed[0]; i++) {
		e = sample(doc);
		ev.type = attr(changed[i].type);
		CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == 1);
		const char *got = stored("t", "v");
		CHECK(got && strcmp(got, S_DATA) != 0);
		CHECK(!find(&rec, "t", "v", 1)->parsed);
		test_checks++;
		if (!same_json_text(got, changed[i].want)) {
			test_failures++;
			fprintf(stderr, "  (%s)\n", changed[i].type);
		}
	}

	/* a table of an earlier event is encoded, not matched to this one's text */
	e = sample(doc);
	ev.type = attr("stash");
	CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == 1);
	build_hand();
	e = event("stashed", "t", &hand);
	CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == 1);
	CHECK(same_json_text(stored("t", "v"), S_DATA));
	CHECK(strcmp(stored("t", "v"), S_DATA) != 0); /* encoded: 312.0 is written 312 */

	/* null, [] and {} survive both ways: the raw text, and an encoded copy */
	e = event("same", "t", &hand);
	CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == 1);
	CHECK_STR(stored("t", "v"), hand_text);
	e = event("copy", "t", &hand);
	CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == 1);
	CHECK(same_json_text(stored("t", "v"), hand_text));
	CHECK(strstr(stored("t", "v"), "\"empty\":[]") && strstr(stored("t", "v"), "\"obj\":{}") &&
	      strstr(stored("t", "v"), "\"none\":null"));
	CHECK(eddy_handlers_stack_top(h) == 0);
	eddy_handlers_destroy(h);
}

static void test_ctx(void)
{
	char err[512];
	const char *failed = NULL;
	const char *files[] = {
	    "a.lua",
	    "return { on_event = function(ev, ctx)\n"
	    "  if ev.type == 'put' then\n"
	    "    ctx.upsert('s', 'k', { a = {}, b = json.array(), c = json.null,\n"
	    "      n = 1234567890123456, f = 0.1, third = 1 / 3, list = json.array({ 1, json.null, "
	    "{} }) })\n"
	    "    ctx.upsert('s', 'str', 'he said \"hi\"')\n"
	    "    ctx.upsert('s', 'num', 2.5)\n"
	    "    ctx.upsert('s', 'yes', true)\n"
	    "    ctx.upsert('s', 'null', json.null)\n"
	    "  elseif ev.type == 'get' then\n"
	    "    local v = ctx.get('s', 'k')\n"
	    "    assert(getmetatable(v.b) == json.array_mt and getmetatable(v.a) == nil)\n"
	    "    assert(v.c == json.null and v.n == 1234567890123456 and #v.list == 3)\n"
	    "    assert(ctx.get('s', 'missing') == nil and ctx.get('s', 'str') == 'he said "
	    "\"hi\"')\n"
	    "    assert(ctx.get('s', 'num') == 2.5 and ctx.get('s', 'yes') == true)\n"
	    "    assert(ctx.get('s', 'null') == json.null)\n"
	    "    ctx.upsert('s', 'again', v)\n"
	    "    ctx.delete('s', 'str')\n"
	    "    ctx.log('info', 'got it', { n = 1, list = json.array() })\n"
	    "    ctx.log('debug', 'plain')\n"
	    "  elseif ev.type == 'decode' then\n"
	    "    local v = json.decode('{\"a\":[],\"b\":null,\"c\":{\"d\":[1,2]}}')\n"
	    "    assert(getmetatable(v.a) == json.array_mt and v.b == json.null)\n"
	    "    ctx.upsert('s', 'decoded', v)\n"
	    "    ctx.upsert('s', 'encoded', json.encode({ x = json.array({}) }))\n"
	    "  end\n"
	    "end }\n",
	    NULL};
	struct eddy_handlers *h = load(files, err, sizeof err);
	CHECK(h != NULL);
	if (!h) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	int rc = eddy_handlers_dispatch(h, event("put", "t", NULL), &failed, err, sizeof err);
	CHECK(rc == 1);
	if (rc < 0)
		fprintf(stderr, "  %s\n", err);
	const char *k = "{\"a\":{},\"b\":[],\"c\":null,\"n\":1234567890123456,\"f\":0.1,"
	                "\"third\":0.3333333333333333,\"list\":[1,null,{}]}";
	CHECK(same_json_text(stored("s", "k"), k));

	CHECK(strstr(stored("s", "k"), "1234567890123456") != NULL);
	CHECK_STR(stored("s", "str"), "\"he said \\\"hi\\\"\"");
	CHECK_STR(stored("s", "num"), "2.5");
	CHECK_STR(stored("s", "yes"), "true");
	CHECK_STR(stored("s", "null"), "null");

	rc = eddy_handlers_dispatch(h, event("get", "t", NULL), &failed, err, sizeof err);
	CHECK(rc == 1);
	if (rc < 0)
		fprintf(stderr, "  %s\n", err);
	CHECK(same_json_text(stored("s", "again"), k));
	CHECK(stored("s", "str") == NULL);
	CHECK(rec.deletes == 1 && rec.logs == 2);
	CHECK_STR(rec.log, "a.lua debug plain -");

	rc = eddy_handlers_dispatch(h, event("decode", "t", NULL), &failed, err, sizeof err);
	CHECK(rc == 1);
	if (rc < 0)
		fprintf(stderr, "  %s\n", err);
	CHECK(same_json_text(stored("s", "decoded"), "{\"a\":[],\"b\":null,\"c\":{\"d\":[1,2]}}"));
	CHECK_STR(stored("s", "encoded"), "\"{\\\"x\\\":[]}\"");
	eddy_handlers_destroy(h);

	/* misuse: raised at the handler's line, tail calls included */
	const char *misuse[] = {
	    "m.lua",
	    "return { on_event = function(ev, ctx)\n"
	    "  local t = ev.type\n"
	    "  if t == 'key' then ctx.upsert('ns', 42, {}) end\n"
	    "  if t == 'ns' then ctx.get(nil, 'k') end\n"
	    "  if t == 'value' then ctx.upsert('ns', 'k', nil) end\n"
	    "  if t == 'fn' then ctx.upsert('ns', 'k', { f = function() end }) end\n"
	    "  if t == 'nan' then ctx.upsert('ns', 'k', 0 / 0) end\n"
	    "  if t == 'level' then ctx.log('loud', 'x') end\n"
	    "  if t == 'fields' then ctx.log('info', 'x', 'y') end\n"
	    "  if t == 'tail' then return ctx.delete('ns', nil) end\n"
	    "  if t == 'store' then ctx.upsert('ns', 'k', 1) end\n"
	    "  if t == 'encode' then json.encode({ print = error }) end\n"
	    "  if t == 'decode' then json.decode('{') end\n"
	    "  if t == 'cycle' then local c = {}; c.c = c; ctx.upsert('ns', 'k', c) end\n"
	    "  if t == 'utf8' then ctx.upsert('ns', 'k', { a = { 'ok', '\\255' } }) end\n"
	    "  if t == 'utf8_long' then json.encode(('x'):rep(50) .. '\\237\\160\\128') end\n"
	    "  if t == 'utf8_key' then ctx.upsert('ns', 'k', { ['\\192\\128'] = 1 }) end\n"
	    "end }\n",
	    NULL};
	h = load(misuse, err, sizeof err);
	CHECK(h != NULL);
	if (!h)
		return;
	static const struct {
		const char *type, *want;
	} cases[] = {
	    {"key", "handlers/m.lua:3: ctx.upsert: key must be a string, got number"},
	    {"ns", "handlers/m.lua:4: ctx.get: namespace must be a string, got nil"},
	    {"value", "handlers/m.lua:5: ctx.upsert: value must be a table, string, number, "
	              "boolean or json.null, got nil (ctx.delete removes a key)"},
	    {"fn", "handlers/m.lua:6: ctx.upsert: Cannot serialise function: type not supported"},
	    {"nan",
	     "handlers/m.lua:7: ctx.upsert: Cannot serialise number: must not be NaN or Inf"},
	    {"level", "handlers/m.lua:8: ctx.log: level must be debug, info, warn or error, got "
	              "\"loud\""},
	    {"fields", "handlers/m.lua:9: ctx.log: fields must be a table, got string"},
	    {"tail", "handlers/m.lua: ctx.delete: key must be a string, got nil"},
	    {"store", "handlers/m.lua:11: ctx.upsert: disk full"},
	    {"encode", "handlers/m.lua:12: Cannot serialise function: type not supported"},
	    {"decode", "handlers/m.lua:13: json.decode: "},
	    {"cycle", "handlers/m.lua:14: ctx.upsert: Cannot serialise, excessive nesting (129)"},
	    {"utf8", "handlers/m.lua:15: ctx.upsert: Cannot serialise a string that is not UTF-8 "
	             "text: byte 0xff after '{\"a\":[\"ok\",\"'"},
	    {"utf8_long", "handlers/m.lua:16: Cannot serialise a string that is not UTF-8 text: "
	                  "byte 0xed after 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'"},
	    {"utf8_key", "handlers/m.lua:17: ctx.upsert: Cannot serialise a string that is not "
	                 "UTF-8 text: byte 0xc0 after '{\"'"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rec.fail_upsert = strcmp(cases[i].type, "store") == 0 ? "disk full" : NULL;
		CHECK(eddy_handlers_dispatch(h, event(cases[i].type, "t", NULL), &failed, err,
		                             sizeof err) == -1);
		CHECK_STR(failed, "m.lua");
		test_checks++;
		if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0) {
			test_failures++;
			fprintf(stderr, "  %s: got \"%s\", want \"%s\"\n", cases[i].type, err,
			        cases[i].want);
		}
	}
	rec.fail_upsert = NULL;
	CHECK(eddy_handlers_stack_top(h) == 0);
	eddy_handlers_destroy(h);
}

static void test_sandbox(void)
{
	char err[512];
	const char *failed = NULL;
	const char *files[] = {
	    "a.lua",
	    "string.upper = function() return 'hacked' end\n"
	    "string.extra = 1\n"
	    "json.encode = nil\n"
	    "mine = 'a'\n"
	    "local ok = pcall(function() json.array_mt.__index = function() return 1 end end)\n"
	    "assert(not ok)\n"
	    "return { on_event = function(ev, ctx) counter = (counter or 0) + 1 end }\n",
	    "b.lua",
	    "local probe = { 'io', 'loadstring', 'loadfile', 'dofile',\n"
	    "  'getfenv', 'setfenv', 'debug', 'ffi', 'jit', 'package', 'module', 'newproxy',\n"
	    "  'print', 'gcinfo', 'coroutine', 'mine', 'counter', 'cjson' }\n"
	    /* require, load and collectgarbage are there, guarded */
	    "local guarded = { pcall(require, 'cjson'), pcall(collectgarbage, 'stop'),\n"
	    "  load(string.char(27) .. 'LJ') ~= nil, load('return io')() ~= nil }\n"
	    "return { on_event = function(ev, ctx)\n"
	    "  local leaked = {}\n"
	    "  for _, name in ipairs(probe) do\n"
	    "    if _G[name] ~= nil then leaked[#leaked + 1] = name end\n"
	    "  end\n"
	    "  if os.execute or os.getenv or os.exit or os.remove then leaked[#leaked + 1] = 'os' "
	    "end\n"
	    "  for i, g in ipairs(guarded) do if g then leaked[#leaked + 1] = 'guard ' .. i end "
	    "end\n"
	    "  if string.dump or ('').dump then leaked[#leaked + 1] = 'string.dump' end\n"
	    "  if getmetatable('') then leaked[#leaked + 1] = 'string metatable' end\n"
	    "  if math.randomseed then leaked[#leaked + 1] = 'math.randomseed' end\n"
	    "  if string.extra then leaked[#leaked + 1] = 'string.extra' end\n"
	    "  leaked[#leaked + 1] = string.upper('x') .. ('y'):upper()\n"
	    "  leaked[#leaked + 1] = json.encode({ 1 })\n"
	    "  local t, n = { a = 1, b = 2 }, 0\n"
	    "  for i = 1, 1000 do\n" /* hot: compiled (scripts/luajit-checkhook-itern.patch) */
	    "    for _, v in pairs(t) do n = n + v end\n"
	    "    for _, v in next, t do n = n + v end\n"
	    "  end\n"
	    "  leaked[#leaked + 1] = n\n"
	    "  leaked[#leaked + 1] = type(math.floor) .. type(table.concat) .. type(os.time)\n"
	    "    .. type(bit.band) .. type(json.array_mt)\n"
	    "  ctx.upsert('t', 'probe', table.concat(leaked, ' '))\n"
	    "end }\n",
	    NULL};
	struct eddy_handlers *h = load(files, err, sizeof err);
	CHECK(h != NULL);
	if (!h) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	int rc = eddy_handlers_dispatch(h, event("x", "t", NULL), &failed, err, sizeof err);
	CHECK(rc == 2);
	if (rc < 0)
		fprintf(stderr, "  %s\n", err);
	CHECK_STR(stored("t", "probe"), "\"XY [1] 6000 functionfunctionfunctionfunctiontable\"");
	eddy_handlers_destroy(h);
}

/* Deep documents convert and compare without running out of stack. */
static void test_deep(struct eddy_json_doc *doc)
{
	char err[512], text[2 * 130 + 16];
	const char *failed = NULL;
	size_t n = 0;
	for (int i = 0; i < 120; i++)
		text[n++] = '[';
	text[n++] = '1';
	for (int i = 0; i < 120; i++)
		text[n++] = ']';
	const struct eddy_json *data = eddy_json_parse(doc, text, n, err, sizeof err);
	CHECK(data != NULL);
	if (!data)
		return;
	const char *files[] = {"a.lua",
	                       "return { on_event = function(ev, ctx)\n"
	                       "  ctx.upsert('t', 'same', ev.data)\n"
	                       "  local t = ev.data; for i = 1, 119 do t = t[1] end; t[1] = 2\n"
	                       "  ctx.upsert('t', 'changed', ev.data)\n"
	                       "end }\n",
	                       NULL};
	struct eddy_handlers *h = load(files, err, sizeof err);
	CHECK(h != NULL);
	if (!h)
		return;
	CHECK(eddy_handlers_dispatch(h, event("x", "t", data), &failed, err, sizeof err) == 1);
	CHECK(stored("t", "same") && strlen(stored("t", "same")) == n &&
	      memcmp(stored("t", "same"), text, n) == 0);
	text[120] = '2';
	CHECK(stored("t", "changed") && strlen(stored("t", "changed")) == n &&
	      memcmp(stored("t", "changed"), text, n) == 0);
	eddy_handlers_destroy(h);
}

/* ---- CPU-time and memory limits ------------------------------------------------ */

static struct eddy_handlers *load_limited(const char *const *files, int cpu_ms, int memory_mb,
                                          char *err, size_t err_size)
{
	struct eddy_handlers_limits lim = {cpu_ms, memory_mb};
	clear_dir();
	for (size_t i = 0; files[i]; i += 2)
		write_file(files[i], files[i + 1], strlen(files[i + 1]));
	rec_clear(&rec);
	err[0] = '\0';
	return eddy_handlers_load_with_limits("handlers", &actions, &lim, err, err_size);
}

static void test_limits(void)
{
	const char *files[] = {
	    "a_spin.lua",
	    "return { subscribe = { types = { 'spin', 'hog' } }, on_event = function(ev, ctx)\n"
	    "  if ev.type == 'spin' then\n"
	    "    while true do pcall(function() local x = 0 for i = 1, 1e12 do x = x + i end end) "
	    "end\n"
	    "  end\n"
	    "  local t = {} while true do t[#t + 1] = string.rep('x', 1e5) .. #t end\n"
	    "end }\n",
	    "b_count.lua",
	    "local n = 0\n"
	    "return { on_event = function(ev, ctx) n = n + 1; ctx.upsert('n', ev.type, n) end }\n",
	    NULL};
	char err[512];
	const char *failed;
	uint64_t stops = eddy_handlers_limit_stops();
	/* the hog needs some 60 ms of CPU time (page faults) to reach 16 MB:
	 * with a CPU limit near that, either limit could stop it first */
	struct eddy_handlers *h = load_limited(files, 200, 16, err, sizeof err);

	CHECK(h != NULL);
	if (!h)
		return;
	CHECK(eddy_handlers_dispatch(h, event("x", "t", NULL), &failed, err, sizeof err) == 1);
	CHECK_STR(stored("n", "x"), "1");
	CHECK(eddy_handlers_dispatch(h, event("spin", "t", NULL), &failed, err, sizeof err) == -1);
	CHECK_STR(failed, "a_spin.lua");
	CHECK_STR(err, "handlers/a_spin.lua: CPU time limit of 200 ms exceeded");
	CHECK(eddy_handlers_dispatch(h, event("hog", "t", NULL), &failed, err, sizeof err) == -1);
	CHECK_STR(err, "handlers/a_spin.lua: memory limit of 16 MB exceeded");
	CHECK(eddy_handlers_limit_stops() == stops + 2);
	/* only the stopped handler's state is made again: b_count.lua's
	 * module-level count goes on */
	CHECK(eddy_handlers_dispatch(h, event("y", "t", NULL), &failed, err, sizeof err) == 1);
	CHECK_STR(stored("n", "y"), "2");
	CHECK(eddy_handlers_stack_top(h) == 0);
	eddy_handlers_destroy(h);

	/* loading runs under the limits too */
	const char *slow[] = {"slow.lua", "while true do end\nreturn {}\n", NULL};
	CHECK(load_limited(slow, 50, 0, err, sizeof err) == NULL);
	CHECK_STR(err, "handlers/slow.lua: CPU time limit of 50 ms exceeded");
	const char *big[] = {"big.lua",
	                     "local t = {} for i = 1, 100 do t[i] = string.rep('y', 1e6) .. i end\n"
	                     "return { on_event = function() end }\n",
	                     NULL};
	CHECK(load_limited(big, 0, 16, err, sizeof err) == NULL);
	CHECK_STR(err, "handlers/big.lua: memory limit of 16 MB exceeded");
	/* 0: no limit */
	h = load_limited(big, 0, 0, err, sizeof err);
	CHECK(h != NULL);
	eddy_handlers_destroy(h);
}

/* Memory is limited per handler: one that keeps more and more in its
 * module-level state is stopped at the limit of its own state, and only
 * its state is made again; another handler that needs memory for each
 * call is not hurt by it. */
static void test_limits_per_handler(void)
{
	const char *files[] = {
	    "a_hoard.lua",
	    "local kept = {}\n"
	    "return { subscribe = { types = { 'hoard' } }, on_event = function(ev, ctx)\n"
	    "  kept[#kept + 1] = string.rep(ev.id .. #kept, 1e6)\n" /* ~7 MB a call */
	    "  ctx.upsert('kept', ev.id, #kept)\n"
	    "end }\n",
	    "b_innocent.lua",
	    "local calls = 0\n"
	    "return { on_event = function(ev, ctx)\n"
	    "  calls = calls + 1\n"
	    "  local big = string.rep(ev.id, 5e5)\n" /* ~4 MB a call, garbage after it */
	    "  ctx.upsert('calls', ev.id, calls)\n"
	    "end }\n",
	    NULL};
	char err[512], id[16], want[16];
	const char *failed;
	int stopped = 0, calls = 0;
	bool after_stop = false;
	struct eddy_handlers *h = load_limited(files, 0, 24, err, sizeof err);

	CHECK(h != NULL);
	if (!h) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	for (int i = 1; i <= 12; i++) {
		snprintf(id, sizeof id, "ID-%04d", i);
		event("hoard", "t", NULL);
		ev.id = attr(id);
		int rc = eddy_handlers_dispatch(h, &ev, &failed, err, sizeof err);
		if (rc == -1) {
			/* the hoarder is blamed, and only it */
			stopped++;
			after_stop = true;
			CHECK_STR(failed, "a_hoard.lua");
			CHECK_STR(err, "handlers/a_hoard.lua: memory limit of 24 MB exceeded");
		} else {
			CHECK(rc == 2);
			calls++;
			/* its state made again after a stop: the list started afresh */
			if (after_stop)
				CHECK_STR(stored("kept", id), "1");
			after_stop = false;
		}
		event("other", "t", NULL);
		ev.id = attr(id);
		CHECK(eddy_handlers_dispatch(h, &ev, &failed, err, sizeof err) == 1);
		/* b_innocent.lua's state was never made again: it counts every call */
		snprintf(want, sizeof want, "%d", ++calls);
		CHECK_STR(stored("calls", id), want);
	}
	CHECK(stopped >= 2);
	CHECK(eddy_handlers_stack_top(h) == 0);
	eddy_handlers_destroy(h);
}

/* A handler whose state cannot be made again after a stop (here a module
 * of lib/ is gone: modules are read when a file loads) has none: its
 * events fail with the reason until it loads again, then it goes on. */
static void test_limits_rebuild_fails(void)
{
	const char *spin = "local helper = require('helper')\n"
	                   "return { on_event = function(ev, ctx)\n"
	                   "  if ev.type == 'spin' then while true do end end\n"
	                   "  ctx.upsert('a', ev.type, helper.value)\n"
	                   "end }\n";
	const char *count =
	    "local n = 0\n"
	    "return { on_event = function(ev, ctx) n = n + 1; ctx.upsert('n', ev.type, n) end }\n";
	const char *helper = "return { value = 7 }\n";
	struct eddy_handlers_limits lim = {100, 0};
	char err[512];
	const char *failed;

	clear_dir();
	write_file("a_spin.lua", spin, strlen(spin));
	write_file("b_count.lua", count, strlen(count));
	CHECK(mkdir("handlers/lib", 0755) == 0 || errno == EEXIST);
	write_file("lib/helper.lua", helper, strlen(helper));
	rec_clear(&rec);
	struct eddy_handlers *h =
	    eddy_handlers_load_with_limits("handlers", &actions, &lim, err, sizeof err);
	CHECK(h != NULL);
	if (!h) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK(eddy_handlers_dispatch(h, event("x", "t", NULL), &failed, err, sizeof err) == 2);
	unlink("handlers/lib/helper.lua");
	CHECK(eddy_handlers_dispatch(h, event("spin", "t", NULL), &failed, err, sizeof err) == -1);
	CHECK_STR(err, "handlers/a_spin.lua: CPU time limit of 100 ms exceeded");
	/* no state: the next event tries to load it, and fails with why */
	CHECK(eddy_handlers_dispatch(h, event("y", "t", NULL), &failed, err, sizeof err) == -1);
	CHECK_STR(failed, "a_spin.lua");
	CHECK(strstr(err, "handlers/a_spin.lua:1:") == err && strstr(err, "helper") != NULL);
	CHECK(eddy_handlers_stack_top(h) == 0);
	/* back: loaded again, and b_count.lua kept its state throughout */
	write_file("lib/helper.lua", helper, strlen(helper));
	CHECK(eddy_handlers_dispatch(h, event("z", "t", NULL), &failed, err, sizeof err) == 2);
	CHECK_STR(stored("a", "z"), "7");
	CHECK_STR(stored("n", "z"), "2");
	CHECK(eddy_handlers_stack_top(h) == 0);
	eddy_handlers_destroy(h);
	unlink("handlers/lib/helper.lua");
	rmdir("handlers/lib");
}

/* What json.decode and ctx.get parse, and the writes a call hands on, are
 * held outside the Lua state: they count against the memory limit too. */
static void test_limits_outside_state(void)
{
	const char *files[] = {"held.lua",
	                       "return { on_event = function(ev, ctx)\n"
	                       "  if ev.type == 'decode' then\n"
	                       /* 8 MB of text, 32 MB of Lua values, a tree of 256 MB in C */
	                       "    local t = json.decode('[' .. ('0,'):rep(4e6) .. '0]')\n"
	                       "    ctx.upsert('n', 'decoded', #t)\n"
	                       "  elseif ev.type == 'decode_small' then\n"
	                       "    local t = json.decode('[\"' .. ('x'):rep(3e6) .. '\", 1]')\n"
	                       "    ctx.upsert('n', 'decoded', #t[1] + t[2])\n"
	                       "  elseif ev.type == 'writes' then\n"
	                       /* 100 writes of 1 MB to one key: the store keeps one, the
	                        * event's buffer all of them */
	                       "    local v = ('x'):rep(1e6)\n"
	                       "    for i = 1, 100 do ctx.upsert('n', 'w', v) end\n"
	                       "  else\n"
	                       "    ctx.upsert('n', ev.type, 1)\n"
	                       "  end\n"
	                       "end }\n",
	                       NULL};
	char err[512];
	const char *failed;
	struct eddy_handlers *h = load_limited(files, 0, 64, err, sizeof err);

	CHECK(h != NULL);
	if (!h)
		return;
	CHECK(eddy_handlers_dispatch(h, event("decode", "t", NULL), &failed, err, sizeof err) ==
	      -1);
	CHECK_STR(err, "handlers/held.lua: memory limit of 64 MB exceeded");
	CHECK(stored("n", "decoded") == NULL);
	/* a document larger than the reused one's keep, within the limit */
	CHECK(eddy_handlers_dispatch(h, event("decode_small", "t", NULL), &failed, err,
	                             sizeof err) == 1);
	CHECK_STR(stored("n", "decoded"), "3000001");
	CHECK(eddy_handlers_dispatch(h, event("writes", "t", NULL), &failed, err, sizeof err) ==
	      -1);
	CHECK_STR(err, "handlers/held.lua: memory limit of 64 MB exceeded");
	CHECK(rec.upserts < 64);
	/* what a call held ends with it */
	for (int i = 0; i < 3; i++) {
		CHECK(eddy_handlers_dispatch(h, event("decode_small", "t", NULL), &failed, err,
		                             sizeof err) == 1);
		CHECK(eddy_handlers_dispatch(h, event("after", "t", NULL), &failed, err,
		                             sizeof err) == 1);
	}
	CHECK_STR(stored("n", "after"), "1");
	CHECK(eddy_handlers_stack_top(h) == 0);
	eddy_handlers_destroy(h);
}

/* CPU time this thread has used, in ms. */
static double thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Library calls that run no bytecode for long (pattern matching,
 * table.sort) are stopped inside, within the limit, not when they return:
 * unstopped, the pattern backtracks for some 15 s and the sort takes 3 s. */
static void test_limits_in_library_calls(void)
{
	const char *files[] = {"pattern.lua",
	                       "return { on_event = function(ev, ctx)\n"
	                       "  local s = ('a'):rep(200)\n"
	                       "  if ev.type == 'find' then string.find(s, '.-.-.-.-b')\n"
	                       "  elseif ev.type == 'match' then string.match(s, '.-.-.-.-b')\n"
	                       "  elseif ev.type == 'gsub' then string.gsub(s, '.-.-.-.-b', '')\n"
	                       "  else for m in s:gmatch('.-.-.-.-b') do end end\n"
	                       "end }\n",
	                       NULL};
	const char *types[] = {"find", "match", "gsub", "gmatch"};
	char err[512];
	const char *failed;
	struct eddy_handlers *h = load_limited(files, 100, 0, err, sizeof err);

	CHECK(h != NULL);
	for (size_t i = 0; h && i < sizeof types / sizeof *types; i++) {
		double t0 = thread_cpu_ms();
		CHECK(eddy_handlers_dispatch(h, event(types[i], "t", NULL), &failed, err,
		                             sizeof err) == -1);
		CHECK_STR(err, "handlers/pattern.lua: CPU time limit of 100 ms exceeded");
		CHECK(thread_cpu_ms() - t0 < 1000);
	}
	eddy_handlers_destroy(h);

	/* the table is filled with no limit armed; only the sort is timed */
	static const char sort_src[] =
	    "local t = {}\n"
	    "for i = 1, 2e6 do t[i] = tostring((i * 7919) % 1000003) end\n"
	    "return function() table.sort(t) end\n";
	struct eddy_lualimits *lim = eddy_lualimits_new(100, 0);
	lua_State *L = lim ? eddy_lualimits_newstate(lim) : NULL;

	CHECK(L != NULL);
	if (!L) {
		eddy_lualimits_destroy(lim);
		return;
	}
	luaL_openlibs(L);
	CHECK(luaL_loadbuffer(L, sort_src, sizeof sort_src - 1, "=sort") == 0 &&
	      lua_pcall(L, 0, 1, 0) == 0); /* sort */
	CHECK(eddy_lualimits_arm(lim, err, sizeof err) == 0);
	double t0 = thread_cpu_ms();
	CHECK(lua_pcall(L, 0, 0, 0) != 0);
	double spent = thread_cpu_ms() - t0;
	CHECK(eddy_lualimits_disarm(lim) == EDDY_LUALIMIT_CPU);
	CHECK(spent < 1000);
	eddy_lualimits_close(lim);
	eddy_lualimits_destroy(lim);
}

/* ---- allocation failures -------------------------------------------------------- */

/* The top of a torture handler: an event of its type and ".gc" makes
 * garbage enough for whole collections of the handler's state. */
#define TORTURE_GC                                                                                 \
	"  if ev.type:sub(-3) == '.gc' then\n"                                                     \
	"    local n = 0\n"                                                                        \
	"    for i = 1, 4000 do n = n + #(string.rep('.', 500) .. i) end\n"                        \
	"    return\n"                                                                             \
	"  end\n"

/* true when s ends with the memory error: raised as it is where the
 * allocation failed, or after "<file>:<line>: ctx.upsert: " when it failed
 * inside the encoding ctx calls. */
static bool memory_error(const char *s)
{
	static const char suffix[] = ": not enough memory";
	size_t len = strlen(s), n = sizeof suffix - 1;
	return strcmp(s, suffix + 2) == 0 || (len > n && strcmp(s + len - n, suffix) == 0);
}

/* One dispatch of e with the nth allocation of the handlers' state
 * refused. A refusal must fail the event with the memory error, store
 * nothing and leave the state able to handle e again, or not matter at
 * all ("t"/key then holds want). Returns 0 after a refusal, 1 when the
 * dispatch needed fewer than n allocations, -1 when a check failed. */
static int dispatch_failing(struct eddy_handlers *h, const struct eddy_event *e, unsigned long n,
                            const char *handler, const char *key, const char *want, int *failures)
{
	char err[512] = "";
	const char *failed = NULL;

	/* garbage enough for whole collections of the handler's state: the
	 * strings of the last dispatch are gone, so this one makes them again */
	char gc_type[64];
	snprintf(gc_type, sizeof gc_type, "%.*s.gc", (int)e->type.len, e->type.s);
	const struct eddy_event gc = {.type = {gc_type, strlen(gc_type)}};
	CHECK(eddy_handlers_dispatch(h, &gc, &failed, err, sizeof err) == 1);
	rec_del(&rec, "t", key, strlen(key), err, sizeof err);
	rec.upserts = 0;
	eddy_lualimits_fail_nth(n);
	int rc = eddy_handlers_dispatch(h, e, &failed, err, sizeof err);
	bool refused = eddy_lualimits_fail_nth(0) == 0;
	int checks = test_failures;

	CHECK(eddy_handlers_stack_top(h) == 0);
	if (!refused) {
		CHECK(rc == 1);
		CHECK_STR(stored("t", key), want);
		return test_failures == checks ? 1 : -1;
	}
	if (rc == 1) {
		/* a refusal LuaJIT can do without (a trace left uncompiled) */
		CHECK_STR(stored("t", key), want);
	} else {
		CHECK(rc == -1);
		CHECK_STR(failed, handler);
		CHECK(memory_error(err));
		if (!memory_error(err))
			fprintf(stderr, "  refusing allocation %lu: %s\n", n, err);
		CHECK(rec.upserts == 0);
		(*failures)++;
	}
	/* the state goes on: the same event again, nothing refused */
	rc = eddy_handlers_dispatch(h, e, &failed, err, sizeof err);
	CHECK(rc == 1);
	if (rc != 1)
		fprintf(stderr, "  after refusing allocation %lu: %s\n", n, err);
	CHECK_STR(stored("t", key), want);
	CHECK(eddy_handlers_stack_top(h) == 0);
	return test_failures == checks ? 0 : -1;
}

/* Refuses each allocation of a dispatch of e in turn (n = 1, 2, ... until
 * the dispatch needs fewer), as curl's torture tests do with malloc; leaks
 * show in the sanitizer build. Returns the refusals that failed the event. */
static int fail_each_allocation(struct eddy_handlers *h, const struct eddy_event *e,
                                const char *handler, const char *key, const char *want)
{
	int failures = 0, rc = 0;
	unsigned long n;

	for (n = 1;
	     n < 100000 && (rc = dispatch_failing(h, e, n, handler, key, want, &failures)) == 0;
	     n++)
		;
	CHECK(rc == 1);
	if (rc != 1)
		fprintf(stderr, "  %s: refusing allocation %lu\n", handler, n);
	return failures;
}

/* Out of memory while JSON becomes Lua values, the event's (data, meta,
 * extensions) and the one ctx.get reads: a Lua error that fails the
 * event, never a crash or a leak. */
static void test_alloc_failures(struct eddy_json_doc *doc)
{
	const char *files[] = {
	    "ev.lua",
	    "return { subscribe = { types = { 'torture.ev*' } }, on_event = function(ev, "
	    "ctx)\n" TORTURE_GC
	    "  assert(ev.meta.tenant and ev.extensions.region and ev.headers.traceparent)\n"
	    "  assert(ev.data.lines[2].sku)\n"
	    "  ctx.upsert('t', 'ev', ev.data)\n"
	    "end }\n",
	    "lazy.lua",
	    "return { subscribe = { types = { 'torture.lazy*' } }, on_event = function(ev, "
	    "ctx)\n" TORTURE_GC "  ctx.upsert('t', 'lazy', ev.data)\n"
	    "end }\n",
	    "get.lua",
	    "return { subscribe = { types = { 'torture.get*' } }, on_event = function(ev, "
	    "ctx)\n" TORTURE_GC "  local v = ctx.get('t', 'doc')\n"
	    "  ctx.upsert('t', 'got', v.lines[2].sku .. ' ' .. #v.lines)\n"
	    "end }\n",
	    NULL};
	char err[512];
	struct eddy_handlers *h = load(files, err, sizeof err);

	CHECK(h != NULL);
	if (!h) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	const struct eddy_event *e = sample(doc);
	if (!e) {
		eddy_handlers_destroy(h);
		return;
	}
	ev.type = attr("torture.ev");
	int failures = fail_each_allocation(h, e, "ev.lua", "ev", S_DATA);
	CHECK(failures >= 30);
	/* ev.data passed on unread: its text, however few allocations are left */
	e = sample(doc);
	ev.type = attr("torture.lazy");
	fail_each_allocation(h, e, "lazy.lua", "lazy", S_DATA);

	CHECK(rec_upsert(&rec, "t", "doc", 3, S_DATA, strlen(S_DATA), false, err, sizeof err) == 0);
	failures = fail_each_allocation(h, event("torture.get", "t", NULL), "get.lua", "got",
	                                "\"SKU-0004321 2\"");
	CHECK(failures >= 30);

	eddy_handlers_destroy(h);
}

/* ---- ev.data and ev.meta built on first use ---------------------------------- */

static int send_data(struct eddy_handlers *h, struct eddy_json_doc *doc, const char *type,
                     const char *id, long offset, const char *text, char *err, size_t err_size);

/* Whatever a handler does with ev.data and ev.meta first (read raw,
 * iterate, look at or change the metatable, encode, keep for later
 * events, after an error too), they read as the tables they stand for. */
static void test_ev_lazy(struct eddy_json_doc *doc)
{
	char err[512];
	const char *failed = NULL;
	const char *files[] = {
	    "a.lua",
	    "local kept, kept_err\n"
	    "local function keys(t) local n = 0; for _ in pairs(t) do n = n + 1 end; return n end\n"
	    "return { on_event = function(ev, ctx)\n"
	    "  local d, m, t = ev.data, ev.meta, ev.type\n"
	    "  local v\n"
	    "  if t == 'pairs' then v = keys(d) .. ' ' .. keys(m)\n"
	    "  elseif t == 'next' then v = tostring(next(d) ~= nil) .. tostring(next(m) ~= nil)\n"
	    "  elseif t == 'rawget' then v = rawget(d, 'order_id') .. ' ' .. rawget(m, 'tenant')\n"
	    "  elseif t == 'getmetatable' then v = tostring(getmetatable(d)) .. ' ' .. keys(d)\n"
	    "  elseif t == 'setmetatable' then\n"
	    "    setmetatable(d, { __index = function() return 'dflt' end })\n"
	    "    v = d.order_id .. ' ' .. d.nope .. ' ' .. keys(d)\n"
	    "  elseif t == 'rawset' then rawset(d, 'extra', 1); v = keys(d) .. ' ' .. d.order_id\n"
	    "  elseif t == 'set' then m.extra = 1; v = keys(m) .. ' ' .. m.tenant\n"
	    "  elseif t == 'insert' then table.insert(d, 'x'); v = keys(d) .. ' ' .. #d\n"
	    "  elseif t == 'insert_unread' then table.insert(d, 'x'); v = d\n"
	    "  elseif t == 'array' then json.array(d); v = keys(d) .. ' ' .. d.order_id\n"
	    "  elseif t == 'as_mt' then v = setmetatable({}, d).x\n"
	    "  elseif t == 'encode' then v = json.decode(json.encode({ d = d, m = m }))\n"
	    "  elseif t == 'keep' then kept = ev; return\n"
	    "  elseif t == 'keep_err' then kept_err = ev; error('after keeping ev')\n"
	    "  elseif t == 'kept' then\n"
	    "    v = kept.data.order_id .. ' ' .. kept.meta.tenant .. ' ' .. keys(kept.data) ..\n"
	    "      ' ' .. keys(kept_err.meta) .. ' ' .. kept_err.data.lines[2].sku\n"
	    "  else v = d end\n"
	    "  ctx.upsert('t', 'v', v)\n"
	    "end }\n",
	    NULL};
	static const struct {
		const char *type, *want;
	} cases[] = {
	    {"pairs", "\"11 2\""},
	    {"next", "\"truetrue\""},
	    {"rawget", "\"ORD-1234 customer-retail-001\""},
	    {"getmetatable", "\"nil 11\""},
	    {"setmetatable", "\"ORD-1234 dflt 11\""},
	    {"rawset", "\"12 ORD-1234\""},
	    {"set", "\"3 customer-retail-001\""},
	    {"insert", "\"12 1\""},
	    {"array", "\"11 ORD-1234\""},
	};
	struct eddy_handlers *h = load(files, err, sizeof err);

	CHECK(h != NULL);
	if (!h) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct eddy_event *e = sample(doc);
		ev.type = attr(cases[i].type);
		CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == 1);
		CHECK_STR(stored("t", "v"), cases[i].want);
	}

	/* passed on unread: the original text */
	const struct eddy_event *e = sample(doc);
	ev.type = attr("same");
	CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == 1);
	CHECK_STR(stored("t", "v"), S_DATA);

	/* given an item raw before it was built: encoded, the item there */
	e = sample(doc);
	ev.type = attr("insert_unread");
	CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == 1);
	CHECK(stored("t", "v") && strstr(stored("t", "v"), "\"1\":\"x\"") &&
	      strstr(stored("t", "v"), "\"order_id\":\"ORD-1234\""));

	/* encoded by json.encode: every member there */
	e = sample(doc);
	ev.type = attr("encode");
	CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == 1);
	CHECK(same_json_text(stored("t", "v"), "{\"d\":" S_DATA ",\"m\":{\"tenant\":\"customer-"
	                                       "retail-001\",\"correlation_id\":\"c-77\"}}"));

	/* kept unread past the call, and past a call that failed: read later,
	 * once the event's document is gone (sample parses again) */
	e = sample(doc);
	ev.type = attr("keep");
	CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == 1);
	e = sample(doc);
	ev.type = attr("keep_err");
	CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == -1);
	CHECK(strstr(err, "after keeping ev") != NULL);
	e = sample(doc);
	ev.type = attr("kept");
	CHECK(eddy_handlers_dispatch(h, e, &failed, err, sizeof err) == 1);
	CHECK_STR(stored("t", "v"), "\"ORD-1234 customer-retail-001 11 2 SKU-0004321\"");

	/* a metatable: its metamethods are read raw */
	CHECK(send_data(h, doc, "as_mt", "M-1", 1, "{\"__index\":{\"x\":7}}", err, sizeof err) ==
	      1);
	CHECK_STR(stored("t", "v"), "7");
	CHECK(eddy_handlers_stack_top(h) == 0);
	eddy_handlers_destroy(h);
}

/* ---- ev's tables built by constructors of their shape ----------------------- */

/* Parses text into doc and dispatches it to h as the data of an event of
 * type with id and offset; returns what dispatch returned. */
static int send_data(struct eddy_handlers *h, struct eddy_json_doc *doc, const char *type,
                     const char *id, long offset, const char *text, char *err, size_t err_size)
{
	const char *failed;
	const struct eddy_json *data = eddy_json_parse(doc, text, strlen(text), err, err_size);

	CHECK(data != NULL);
	if (!data)
		return -1;
	event(type, "t", data);
	ev.id = attr(id);
	msg.offset = offset;
	int rc = eddy_handlers_dispatch(h, &ev, &failed, err, err_size);
	if (rc < 0)
		fprintf(stderr, "  %s\n", err);
	return rc;
}

/* The first object of a shape is built member by member, the second
 * compiles its constructor, the later ones are built by it: every event
 * reads the same, an ev kept from an earlier event reads as it was, and
 * unchanged data is stored as its text. */
static void test_ev_shapes(void)
{
	const char *files[] = {
	    "shapes.lua",
	    "local prev, prev_data\n"
	    "local function keys(t)\n"
	    "  local ks = {}\n"
	    "  for k in pairs(t) do ks[#ks + 1] = k end\n"
	    "  table.sort(ks)\n"
	    "  return table.concat(ks, ',')\n"
	    "end\n"
	    "return { subscribe = { types = { 'shapes' } }, on_event = function(ev, ctx)\n"
	    "  if prev then\n"
	    "    ctx.upsert('t', 'prev', prev.id .. ' ' .. prev_data.order_id .. ' '\n"
	    "      .. prev_data.lines[1].quantity .. ' ' .. tostring(prev.data == prev_data) .. ' "
	    "'\n"
	    "      .. keys(prev))\n"
	    "  end\n"
	    "  assert(rawequal(ev.data, ev.data) and ev.data.lines == ev.data.lines)\n"
	    "  ctx.upsert('t', 'keys', keys(ev) .. '|' .. keys(ev.data) .. '|' .. "
	    "keys(ev.data.lines[2]))\n"
	    "  ctx.upsert('t', 'same', ev.data)\n"
	    "  ev.data.lines[1].quantity = 7\n"
	    "  ctx.upsert('t', 'changed', ev.data)\n"
	    "  prev, prev_data = ev, ev.data\n"
	    "end }\n",
	    "spin.lua",
	    "return { subscribe = { types = { 'spin' } }, on_event = function(ev, ctx)\n"
	    "  while true do end\n"
	    "end }\n",
	    NULL};
	const char *keys = "\"data,datacontenttype,deleted,extensions,headers,id,key,offset,"
	                   "partition,source,specversion,time,topic,type|delivery_date,lines,"
	                   "location_id,order_date,order_id,product_id,quantity,status,"
	                   "supplier_id,unit,version|line_no,quantity,sku,unit_cost\"";
	const char *changed =
	    S_HEAD S_STATUS S_VERSION "\"lines\":[{\"line_no\":1,\"sku\":\"SKU-0001234\","
	                              "\"quantity\":7,\"unit_cost\":12.5}," S_LINE2 "]}";
	struct eddy_json_doc *doc = eddy_json_doc_new();
	char err[512], id[16], want[512];

	clear_dir();
	for (size_t i = 0; files[i]; i += 2)
		write_file(files[i], files[i + 1], strlen(files[i + 1]));
	rec_clear(&rec);
	struct eddy_handlers_limits limits = {100, 0};
	struct eddy_handlers *h =
	    eddy_handlers_load_with_limits("handlers", &actions, &limits, err, sizeof err);
	CHECK(h != NULL && doc != NULL);
	if (!h || !doc) {
		fprintf(stderr, "  %s\n", err);
		eddy_handlers_destroy(h);
		eddy_json_doc_destroy(doc);
		return;
	}
	/* events 5 and later run in the state made after the CPU limit stop */
	for (int i = 1; i <= 8; i++) {
		if (i == 5)
			CHECK(send_data(h, doc, "spin", "S", 0, "{}", err, sizeof err) < 0);
		snprintf(id, sizeof id, "ORD-%d", i);
		CHECK(send_data(h, doc, "shapes", id, i, S_DATA, err, sizeof err) == 1);
		CHECK_STR(stored("t", "keys"), keys);
		CHECK_STR(stored("t", "same"), S_DATA);
		CHECK(same_json_text(stored("t", "changed"), changed));
		if (i > 1 && i != 5) {
			/* the ev of the last event, kept by the handler: its own values */
			snprintf(want, sizeof want,
			         "\"ORD-%d ORD-1234 7 true data,datacontenttype,deleted,extensions,"
			         "headers,id,key,offset,partition,source,specversion,time,topic,"
			         "type\"",
			         i - 1);
			CHECK_STR(stored("t", "prev"), want);
		}
	}
	eddy_handlers_destroy(h);
	eddy_json_doc_destroy(doc);
}

/* Member names that need escaping in a constructor's source, objects too
 * large for one, names that change with every event, and huge data of
 * which the handler reads a little. */
static void test_ev_shapes_edges(void)
{
	const char *files[] = {
	    "odd.lua",
	    "return { subscribe = { types = { 'odd' } }, on_event = function(ev, ctx)\n"
	    "  local d = ev.data\n"
	    "  local ok = d['a\"b'] == 1 and d['x\\0y'] == 2 and d['back\\\\slash'] == 3\n"
	    "    and d['new\\nline'] == 4 and d['\\195\\188'] == 5 and d['1'] == 6 and d[1] == "
	    "nil\n"
	    "    and d[''] == 7 and d[']] end'] == 8\n"
	    "    and getmetatable(d.nested['a\"b']['']) == json.array_mt\n"
	    "  local n = 0\n"
	    "  for _ in pairs(d) do n = n + 1 end\n"
	    "  ctx.upsert('t', 'odd', tostring(ok) .. ' ' .. n)\n"
	    "  ctx.upsert('t', 'raw', d)\n"
	    "  d.nested = nil\n"
	    "  ctx.upsert('t', 'encoded', d)\n"
	    "end }\n",
	    "map.lua",
	    "return { subscribe = { types = { 'map' } }, on_event = function(ev, ctx)\n"
	    "  local d = ev.data\n"
	    "  local n = 0\n"
	    "  for _ in pairs(d.wide) do n = n + 1 end\n"
	    "  ctx.upsert('t', 'map', d['m' .. ev.offset] .. ' ' .. tostring(d['m' .. (ev.offset - "
	    "1)])\n"
	    "    .. ' ' .. d.wide.k99 .. ' ' .. n .. ' ' .. #d.big .. ' ' .. d.big[150000])\n"
	    "end }\n",
	    NULL};
	const char odd[] =
	    "{\"a\\\"b\":1,\"x\\u0000y\":2,\"back\\\\slash\":3,\"new\\nline\":4,"
	    "\"\xc3\xbc\":5,\"1\":6,\"\":7,\"]] end\":8,\"nested\":{\"a\\\"b\":{\"\":[]}}}";
	const char odd_encoded[] = "{\"a\\\"b\":1,\"x\\u0000y\":2,\"back\\\\slash\":3,"
	                           "\"new\\nline\":4,\"\xc3\xbc\":5,\"1\":6,\"\":7,\"]] end\":8}";
	struct eddy_json_doc *doc = eddy_json_doc_new();
	size_t cap = 64 + 100 * 24 + 200000 * 8;
	char *text = malloc(cap), err[512], want[128];
	struct eddy_handlers *h = load(files, err, sizeof err);

	CHECK(h != NULL && doc != NULL && text != NULL);
	if (!h || !doc || !text) {
		fprintf(stderr, "  %s\n", err);
		goto out;
	}
	for (int i = 1; i <= 3; i++) {
		CHECK(send_data(h, doc, "odd", "O", i, odd, err, sizeof err) == 1);
		CHECK_STR(stored("t", "odd"), "\"true 9\"");
		CHECK_STR(stored("t", "raw"), odd);
		CHECK(same_json_text(stored("t", "encoded"), odd_encoded));
	}
	for (int i = 1; i <= 3; i++) {
		/* {"m<i>":i,"wide":{"k0":0,...,"k99":99},"big":[1,...,200000]} */
		size_t len = (size_t)snprintf(text, cap, "{\"m%d\":%d,\"wide\":{", i, i);
		for (int k = 0; k < 100; k++)
			len += (size_t)snprintf(text + len, cap - len, "%s\"k%d\":%d", k ? "," : "",
			                        k, k);
		len += (size_t)snprintf(text + len, cap - len, "},\"big\":[");
		for (int k = 1; k <= 200000; k++)
			len += (size_t)snprintf(text + len, cap - len, "%s%d", k > 1 ? "," : "", k);
		snprintf(text + len, cap - len, "]}");
		CHECK(send_data(h, doc, "map", "M", i, text, err, sizeof err) == 1);
		snprintf(want, sizeof want, "\"%d nil 99 100 200000 150000\"", i);
		CHECK_STR(stored("t", "map"), want);
	}
out:
	eddy_handlers_destroy(h);
	eddy_json_doc_destroy(doc);
	free(text);
}

int main(void)
{
	if (!mkdtemp(tmp_root) || chdir(tmp_root) != 0 || mkdir("handlers", 0700) != 0) {
		perror(tmp_root);
		return 1;
	}
	struct eddy_json_doc *doc = eddy_json_doc_new();

	test_load();
	test_dispatch();
	test_errors();
	test_ev(doc);
	test_ev_lazy(doc);
	test_json_round_trip(doc);
	test_ctx();
	test_sandbox();
	test_deep(doc);
	test_limits();
	test_limits_per_handler();
	test_limits_rebuild_fails();
	test_limits_outside_state();
	test_limits_in_library_calls();
	test_alloc_failures(doc);
	test_ev_shapes();
	test_ev_shapes_edges();

	eddy_json_doc_destroy(doc);
	rec_clear(&rec);
	clear_dir();
	rmdir("handlers");
	if (chdir("/") == 0)
		rmdir(tmp_root);
	return test_report("handlers");
}
