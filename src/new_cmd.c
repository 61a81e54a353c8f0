/* new_cmd.c - eddy new handler NAME: a commented starting handler and a
 * spec for it that passes under eddy test; eddy new rule NAME: an alert
 * rule and a rule test that passes under eddy rule test. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "store/store.h"

#define HANDLERS_DIR "handlers"
#define RULES_DIR "rules"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: eddy new handler NAME\n"
	        "       eddy new rule NAME\n"
	        "  handler: writes " HANDLERS_DIR "/NAME.lua, a handler keeping the latest data\n"
	        "  of each key in namespace NAME, and " HANDLERS_DIR "/spec/NAME_spec.lua, its\n"
	        "  spec (run it with eddy test); NAME: letters, digits and _, not starting with\n"
	        "  a digit, as a namespace\n"
	        "  rule: writes " RULES_DIR "/NAME.yaml, an alert rule named NAME, and\n"
	        "  " RULES_DIR "/NAME.test.yaml, its test (run it with eddy rule test); NAME:\n"
	        "  letters, digits, _, . and -\n"
	        "exit status: 0 written, 1 a file exists or cannot be written, 2 errors of use\n");
}

/* {name} is the name throughout. */
static const char handler_template[] =
    "-- {name}: keeps the latest data of each key in namespace \"{name}\".\n"
    "-- The handler API (ev, ctx, json) is in docs/handlers.md; the spec beside\n"
    "-- this file, spec/{name}_spec.lua, runs with `eddy test`.\n"
    "return {\n"
    "  -- Which events reach on_event: CloudEvents type and Kafka topic globs\n"
    "  -- (* matches any run of characters). Without types or topics: every event.\n"
    "  subscribe = {\n"
    "    types = { \"com.example.{name}.*\" },\n"
    "    -- topics = { \"customer-*.{name}\" },\n"
    "  },\n"
    "\n"
    "  -- Called once per event. What it does through ctx is kept only when it\n"
    "  -- returns without an error; an error (retried handler.retries times)\n"
    "  -- dead-letters the event, the reason naming this file's line. Handle\n"
    "  -- an event twice and the result must be the same: delivery is at least\n"
    "  -- once.\n"
    "  on_event = function(ev, ctx)\n"
    "    -- a tombstone (a record with a key and no value): the entity is gone\n"
    "    if ev.deleted then\n"
    "      return ctx.delete(\"{name}\", ev.key)\n"
    "    end\n"
    "    if type(ev.data) ~= \"table\" then\n"
    "      error(\"expected a data object, got \" .. type(ev.data))\n"
    "    end\n"
    "    -- the whole state of the entity, by its key: idempotent\n"
    "    ctx.upsert(\"{name}\", ev.key, ev.data)\n"
    "    -- more: ctx.get(ns, key), ctx.log(\"info\", msg, fields),\n"
    "    -- ctx.alert{ summary = ..., key = ev.key },\n"
    "    -- ctx.publish{ topic = ..., type = ..., key = ev.key, data = ... }\n"
    "  end,\n"
    "}\n";

static const char spec_template[] =
    "-- The spec of " HANDLERS_DIR "/{name}.lua; run it with `eddy test`. The test kit\n"
    "-- (docs/handlers.md, \"Testing handlers\") runs the handler as eddy does.\n"
    "local testing = require \"eddy.testing\"\n"
    "\n"
    "describe(\"{name}\", function()\n"
    "  local h\n"
    "\n"
    "  before_each(function()\n"
    "    -- a store of its own for each case; events sent without a type get\n"
    "    -- this one\n"
    "    h = assert(testing.handler(\"" HANDLERS_DIR "/{name}.lua\", {\n"
    "      event = { type = \"com.example.{name}.v1\" },\n"
    "    }))\n"
    "  end)\n"
    "\n"
    "  after_each(function()\n"
    "    h:close()\n"
    "  end)\n"
    "\n"
    "  it(\"keeps the latest data of each key\", function()\n"
    "    h:send{ key = \"K-1\", data = { status = \"new\" } }\n"
    "    local r = h:send{ key = \"K-1\", data = { status = \"done\", quantity = 3 } }\n"
    "    assert.are.equal(\"handled\", r.outcome)\n"
    "    assert.are.equal(1, #r.upserts)\n"
    "    assert.are.equal(\"{name}\", r.upserts[1].ns)\n"
    "    assert.are.equal(\"K-1\", r.upserts[1].key)\n"
    "    assert.are.same({ status = \"done\", quantity = 3 }, h:get(\"{name}\", \"K-1\"))\n"
    "  end)\n"
    "\n"
    "  it(\"deletes the key on a tombstone\", function()\n"
    "    h:put(\"{name}\", \"K-2\", { status = \"new\" })\n"
    "    local r = h:send{ key = \"K-2\", deleted = true }\n"
    "    assert.are.same({ { ns = \"{name}\", key = \"K-2\" } }, r.deletes)\n"
    "    assert.is_nil(h:get(\"{name}\", \"K-2\"))\n"
    "  end)\n"
    "\n"
    "  it(\"dead-letters an event without a data object\", function()\n"
    "    local r = h:send{ key = \"K-3\", data = \"not an object\" }\n"
    "    assert.are.equal(\"dead\", r.outcome)\n"
    "    assert.are.equal(\"handler\", r.dead_letter.stage)\n"
    "    assert.matches(\"" HANDLERS_DIR
    "/{name}.lua:%d+: expected a data object, got string\", r.dead_letter.reason)\n"
    "    assert.are.same({}, r.upserts)\n"
    "  end)\n"
    "\n"
    "  it(\"leaves events of other types alone\", function()\n"
    "    local r = h:send{ type = \"com.example.other.v1\", key = \"K-4\", data = {} }\n"
    "    assert.are.equal(\"skipped\", r.outcome)\n"
    "  end)\n"
    "end)\n";

static const char rule_template[] =
    "# {name}: an alert rule (docs/rules.md). Its test, {name}.test.yaml beside\n"
    "# this file, runs with `eddy rule test`; `eddy check` compiles it.\n"
    "- name: {name}\n"
    "  when:\n"
    "    # the event types it looks at (* matches any run of characters)\n"
    "    types: [\"com.example.orders.*\"]\n"
    "    # the condition: fields of data, the event's attributes (type, subject,\n"
    "    # tenant, time, key) and before (what the key's data was); a missing\n"
    "    # field is null, never an error\n"
    "    if: data.quantity > 1000\n"
    "  severity: warning\n"
    "  # templates: {{path}} is replaced by the event's value\n"
    "  summary: \"Large quantity for {{key}}: {{data.quantity}}\"\n"
    "  # what the alert is about: one alert for each distinct set of labels\n"
    "  labels: { order: \"{{key}}\" }\n"
    "  # the same alert stays quiet this long after it was sent\n"
    "  realert: 1h\n";

static const char rule_test_template[] =
    "# The test of {name}.yaml: `eddy rule test " RULES_DIR "/{name}.test.yaml`. Each case\n"
    "# starts from an empty state; expect lists every alert it must raise, or none.\n"
    "tests:\n"
    "  - name: a large quantity fires\n"
    "    events:\n"
    "      - { type: com.example.orders.v1, id: K-1, time: \"2025-01-14T12:30:00Z\",\n"
    "          data: { quantity: 5000 } }\n"
    "    expect:\n"
    "      - rule: {name}\n"
    "        labels: { order: K-1 }\n"
    "        summary: \"Large quantity for K-1: 5000\"\n"
    "\n"
    "  - name: a small quantity does not\n"
    "    events:\n"
    "      - { type: com.example.orders.v1, id: K-2, data: { quantity: 10 } }\n"
    "    expect: none\n";

/* Creates path (which must not exist): tmpl with each {name} replaced. */
static int write_new(const char *path, const char *tmpl, const char *name)
{
	static const char mark[] = "{name}";
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");

	if (!f) {
		fprintf(stderr, "eddy: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (const char *p = tmpl, *at; *p; p = at + sizeof mark - 1) {
		if (!(at = strstr(p, mark))) {
			fputs(p, f);
			break;
		}
		fwrite(p, 1, (size_t)(at - p), f);
		fputs(name, f);
	}
	if (ferror(f) | fclose(f)) {
		fprintf(stderr, "eddy: %s: %s\n", path, strerror(errno));
		return -1;
	}
	printf("created %s\n", path);
	return 0;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "eddy: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Writes the two files (neither when either exists) into dir. */
static int write_pair(const char *dir, const char *a, const char *a_tmpl, const char *b,
                      const char *b_tmpl, const char *name)
{
	struct stat st;
	if (stat(a, &st) == 0 || stat(b, &st) == 0) {
		fprintf(stderr, "eddy: %s exists\n", stat(a, &st) == 0 ? a : b);
		return 1;
	}
	if (make_dir(dir) != 0 || write_new(a, a_tmpl, name) != 0 ||
	    write_new(b, b_tmpl, name) != 0)
		return 1;
	return 0;
}

/* eddy new rule NAME */
static int new_rule(const char *name)
{
	char rule[512], test[512];
	size_t n = strlen(name);
	if (n == 0 || n > 100 ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "0123456789_.-") != n ||
	    name[0] == '.') {
		fprintf(
		    stderr,
		    "eddy: \"%s\" cannot name a rule: letters, digits, _, . and -, not starting "
		    "with ., at most 100 characters\n",
		    name);
		return 2;
	}
	snprintf(rule, sizeof rule, RULES_DIR "/%s.yaml", name);
	snprintf(test, sizeof test, RULES_DIR "/%s.test.yaml", name);
	if (write_pair(RULES_DIR, rule, rule_template, test, rule_test_template, name) != 0)
		return 1;
	printf("run its test: eddy rule test %s\n", test);
	return 0;
}

int eddy_cmd_new(int argc, char **argv)
{
	const struct eddy_cli_opt opts[] = {{0}};
	int status, operand = eddy_cli_parse(argc, argv, opts, usage, &status);
	char handler[512], spec[512];

	if (operand < 0)
		return status;
	if (operand == argc - 2 && strcmp(argv[operand], "rule") == 0)
		return new_rule(argv[operand + 1]);
	if (operand != argc - 2 || strcmp(argv[operand], "handler") != 0) {
		usage(stderr);
		return 2;
	}
	const char *name = argv[operand + 1];
	if (!eddy_store_ns_valid(name)) {
		fprintf(stderr,
		        "eddy: \"%s\" cannot name a handler and its namespace: letters, digits and "
		        "_, not starting with a digit, sqlite_ or eddy_, at most %d characters\n",
		        name, EDDY_STORE_NS_MAX);
		return 2;
	}
	snprintf(handler, sizeof handler, HANDLERS_DIR "/%s.lua", name);
	snprintf(spec, sizeof spec, HANDLERS_DIR "/spec/%s_spec.lua", name);
	if (make_dir(HANDLERS_DIR) != 0 ||
	    write_pair(HANDLERS_DIR "/spec", handler, handler_template, spec, spec_template,
	               name) != 0)
		return 1;
	printf("run its spec: eddy test %s\n", spec);
	return 0;
}
