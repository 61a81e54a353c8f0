/* check.c - eddy check: everything a config names loads (handlers with
 * their limits, alert rules, every mapped schema). */
#include <stdio.h>

#include "cli.h"
#include "handlers.h"
#include "schema/schemas.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: eddy check [-c FILE]\n"
	           "  -c, --config FILE   the configuration (default conf/eddy.yaml if present)\n"
	           "Loads the config, compiles every handler, alert rule and schema it names;\n"
	           "warns (on stderr, exit 0) about rule labels that change with every event.\n"
	           "exit status: 0 all good, 1 a problem (printed as file:line: message), 2 errors "
	           "of use\n");
}

int eddy_cmd_check(int argc, char **argv)
{
	const char *path = NULL;
	const struct eddy_cli_opt opts[] = {
	    {.name = "config", .letter = 'c', .value = &path},
	    {0},
	};
	int status;
	struct eddy_config *conf = eddy_cli_start(argc, argv, opts, usage, &path, 1, &status);

	if (!conf)
		return status;
	char err[1024];
	int rc = 1;
	struct eddy_actions none = {0};
	struct eddy_handlers *h = eddy_handlers_load_config(conf, &none, err, sizeof err);
	struct eddy_schemas *s = NULL;
	if (!h) {
		fprintf(stderr, "eddy: %s\n", err);
		goto out;
	}
	if (!(s = eddy_schemas_new(conf, err, sizeof err))) {
		fprintf(stderr, "eddy: %s\n", err);
		goto out;
	}
	for (size_t i = 0; i < eddy_handlers_warning_count(h); i++)
		fprintf(stderr, "eddy: warning: %s\n", eddy_handlers_warning(h, i));
	printf("%s: ok: %zu handlers, %zu type mappings to schemas%s, %zu rules in %zu files\n",
	       conf->path ? conf->path : "(defaults)",
	       eddy_handlers_count(h) - eddy_handlers_rule_files(h), conf->n_schema_types,
	       conf->registry_url ? ", registry not asked" : "", eddy_handlers_rule_count(h),
	       eddy_handlers_rule_files(h));
	rc = 0;
out:
	eddy_schemas_destroy(s);
	eddy_handlers_destroy(h);
	eddy_config_destroy(conf);
	return rc;
}
