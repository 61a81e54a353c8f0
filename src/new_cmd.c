/* new_cmd.c - eddy new handler NAME: a commented starting handler and a
 * spec for it that passes under eddy test. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "store/store.h"

#define HANDLERS_DIR "handlers"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: eddy new handler NAME\n"
	        "  writes " HANDLERS_DIR "/NAME.lua, a handler keeping the latest data of each\n"
	        "  key in namespace NAME, and " HANDLERS_DIR "/spec/NAME_spec.lua, its spec\n"
	        "  (run it with eddy test); NAME: letters, digits and _, not starting with a\n"
	        "  digit, as a namespace\n"
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

int eddy_cmd_new(int argc, char **argv)
{
	const struct eddy_cli_opt opts[] = {{0}};
	int status, operand = eddy_cli_parse(argc, argv, opts, usage, &status);
	char handler[512], spec[512];
	struct stat st;

	if (operand < 0)
		return status;
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
	/* neither is written when either exists */
	if (stat(handler, &st) == 0 || stat(spec, &st) == 0) {
		fprintf(stderr, "eddy: %s exists\n", stat(handler, &st) == 0 ? handler : spec);
		return 1;
	}
	if (make_dir(HANDLERS_DIR) != 0 || make_dir(HANDLERS_DIR "/spec") != 0 ||
	    write_new(handler, handler_template, name) != 0 ||
	    write_new(spec, spec_template, name) != 0)
		return 1;
	printf("run its spec: eddy test %s\n", spec);
	return 0;
}
