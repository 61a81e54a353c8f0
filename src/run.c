/* run.c - eddy run: the service. */
#include <stdio.h>

#include "cli.h"
#include "kafka.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: eddy run -c FILE [--exit-at-end]\n"
	           "  -c, --config FILE   the configuration (conf/eddy.yaml)\n"
	           "  --exit-at-end       exit 0 once every assigned partition is at its end\n"
	           "                      and all work is committed\n");
}

int eddy_cmd_run(int argc, char **argv)
{
	const char *path = NULL;
	struct eddy_kafka_opts ko = {.stop = &eddy_stop};
	const struct eddy_cli_opt opts[] = {
	    {.name = "config", .letter = 'c', .value = &path},
	    {.name = "exit-at-end", .flag = &ko.exit_at_end},
	    {0},
	};
	int rc;
	struct eddy_config *conf = eddy_cli_start(argc, argv, opts, usage, &path, 2, &rc);

	if (!conf)
		return rc;
	eddy_cli_signals();
	char err[1024];
	rc = eddy_kafka_run(conf, &ko, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "eddy: %s\n", err);
	eddy_config_destroy(conf);
	return rc;
}
