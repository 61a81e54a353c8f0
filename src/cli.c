/* cli.c - what the subcommands share, and eddy run. */
#include "cli.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kafka.h"
#include "log.h"
#include "reload.h"

volatile int eddy_stop;

static void on_signal(int sig)
{
	eddy_stop = 1;
	/* a second Ctrl-C ends the process at once */
	signal(sig, SIG_DFL);
}

static void on_hup(int sig)
{
	(void)sig;
	eddy_reload_request();
}

void eddy_cli_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_hup;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

struct eddy_config *eddy_cli_config(const char *path)
{
	char err[1024];
	struct eddy_config *c;
	if (!path && access("conf/eddy.yaml", R_OK) == 0)
		path = "conf/eddy.yaml";
	if (path)
		c = eddy_config_load(path, NULL, err, sizeof err);
	else if (!(c = eddy_config_new()))
		snprintf(err, sizeof err, "out of memory");
	if (!c) {
		fprintf(stderr, "eddy: %s\n", err);
		return NULL;
	}
	eddy_log_setup(c->log_level, c->log_format);
	return c;
}

static void run_usage(FILE *f)
{
	fprintf(f, "usage: eddy run -c FILE [--exit-at-end]\n"
		   "  -c, --config FILE   the configuration (conf/eddy.yaml)\n"
		   "  --exit-at-end       exit 0 once every assigned partition is at its end\n"
		   "                      and all work is committed\n");
}

int eddy_cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"exit-at-end", no_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	struct eddy_kafka_opts ko = {.stop = &eddy_stop};
	int ch;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'e':
			ko.exit_at_end = true;
			break;
		case 'h':
			run_usage(stdout);
			return 0;
		default:
			run_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		run_usage(stderr);
		return 2;
	}
	struct eddy_config *conf = eddy_cli_config(path);
	if (!conf)
		return 2;
	eddy_cli_signals();
	char err[1024];
	int rc = eddy_kafka_run(conf, &ko, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "eddy: %s\n", err);
	eddy_config_destroy(conf);
	return rc;
}
