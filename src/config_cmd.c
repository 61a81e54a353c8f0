/* config_cmd.c - eddy config: the configuration a process would run with
 * (file, ${VAR}s, EDDY_* overrides, defaults), secrets masked. */
#include <stdio.h>

#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: eddy config [-c FILE]\n"
	           "  -c, --config FILE   the configuration (default conf/eddy.yaml if present)\n"
	           "Prints the effective configuration as YAML: the file with its ${VAR}s\n"
	           "expanded, the EDDY_* environment overrides applied and every default\n"
	           "filled in, secrets masked. What a container will run with.\n"
	           "exit status: 0 printed, 2 the configuration does not load\n");
}

int eddy_cmd_config(int argc, char **argv)
{
	const char *path = NULL;
	const struct eddy_cli_opt opts[] = {
	    {.name = "config", .letter = 'c', .value = &path},
	    {0},
	};
	int status;
	struct eddy_config *conf = eddy_cli_start(argc, argv, opts, usage, &path, 2, &status);

	if (!conf)
		return status;
	eddy_config_write(conf, stdout);
	eddy_config_destroy(conf);
	return 0;
}
