/* main.c - eddy's entry point: picks the subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "lualimits.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "eddy %s - Kafka topics of CloudEvents to Lua handlers\n"
	    "\n"
	    "usage: eddy COMMAND [OPTIONS]\n"
	    "\n"
	    "  run -c FILE [--exit-at-end]      the service\n"
	    "  dev [-c FILE] [--events DIR]     the service on an embedded broker with the\n"
	    "                                   example events; prints every action\n"
	    "  replay [-c FILE] [--dry-run] INPUT\n"
	    "                                   events from a file (NDJSON or KEY<TAB>VALUE,\n"
	    "                                   - for stdin) through the same pipeline, no Kafka\n"
	    "  validate --schema FILE [INPUT]   JSON values against a JSON Schema\n"
	    "  validate -c FILE [INPUT]         records against their schemas, as the\n"
	    "                                   service checks them\n"
	    "  check [-c FILE]                  load the config, handlers, rules and schemas\n"
	    "  rule test [-c FILE] [TESTS...]   run alert rule tests (NAME.test.yaml) offline\n"
	    "  rule test RULES.yaml EVENTS      the alerts the rules raise on each event\n"
	    "  config [-c FILE]                 print the effective configuration, secrets\n"
	    "                                   masked\n"
	    "  config-doc                       print the configuration reference (Markdown)\n"
	    "  manifest [-c FILE] [--format F]  what this deployment consumes and produces\n"
	    "                                   (yaml or json)\n"
	    "  test [PATH...]                   run the handler specs (default handlers/spec)\n"
	    "                                   with the test kit\n"
	    "  new handler NAME                 a new handler and its spec in handlers/\n"
	    "  new rule NAME                    a new alert rule and its test in rules/\n"
	    "  --help, --version\n"
	    "\n"
	    "Each command takes --help.\n",
	    EDDY_VERSION);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		/* the LuaJIT handlers run on, measured: specs check the JIT is on */
		char lj[128];
		eddy_lualimits_describe(lj, sizeof lj);
		printf("eddy %s (%s)\n", EDDY_VERSION, lj);
		return 0;
	}
	if (strcmp(cmd, "run") == 0)
		return eddy_cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "dev") == 0)
		return eddy_cmd_dev(argc - 1, argv + 1);
	if (strcmp(cmd, "replay") == 0)
		return eddy_cmd_replay(argc - 1, argv + 1);
	if (strcmp(cmd, "validate") == 0)
		return eddy_cmd_validate(argc - 1, argv + 1);
	if (strcmp(cmd, "check") == 0)
		return eddy_cmd_check(argc - 1, argv + 1);
	if (strcmp(cmd, "manifest") == 0)
		return eddy_cmd_manifest(argc - 1, argv + 1);
	if (strcmp(cmd, "config") == 0)
		return eddy_cmd_config(argc - 1, argv + 1);
	if (strcmp(cmd, "rule") == 0)
		return eddy_cmd_rule(argc - 1, argv + 1);
	if (strcmp(cmd, "test") == 0)
		return eddy_cmd_test(argc - 1, argv + 1);
	if (strcmp(cmd, "new") == 0)
		return eddy_cmd_new(argc - 1, argv + 1);
	if (strcmp(cmd, "config-doc") == 0) {
		eddy_config_write_doc(stdout);
		return 0;
	}
	fprintf(stderr, "eddy: unknown command \"%s\"\n\n", cmd);
	usage(stderr);
	return 2;
}
