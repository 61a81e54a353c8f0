/* cli.c - what the subcommands share: signals, the config, options. */
#include "cli.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

#define MAX_OPTS 16

int eddy_cli_parse(int argc, char **argv, const struct eddy_cli_opt *opts, void (*usage)(FILE *f),
                   int *status)
{
	struct option longs[MAX_OPTS + 2];
	char shorts[3 * MAX_OPTS + 4] = "h";
	size_t n = 0, o = 1;
	int ch;

	/* getopt's tables: a short letter is its own value, a long-only
	 * option is 256 + its index */
	for (; opts[n].name; n++) {
		bool arg = opts[n].value || opts[n].list;
		if (n == MAX_OPTS)
			abort(); /* a programmer's error: more options than the table holds */
		longs[n] = (struct option){opts[n].name, arg ? required_argument : no_argument,
		                           NULL, opts[n].letter ? opts[n].letter : 256 + (int)n};
		if (opts[n].letter) {
			shorts[o++] = opts[n].letter;
			if (arg)
				shorts[o++] = ':';
		}
	}
	longs[n] = (struct option){"help", no_argument, NULL, 'h'};
	longs[n + 1] = (struct option){NULL, 0, NULL, 0};
	shorts[o] = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		size_t i = 0;
		if (ch == 'h') {
			usage(stdout);
			*status = 0;
			return -1;
		}
		while (i < n && (opts[i].letter ? opts[i].letter : 256 + (int)i) != ch)
			i++;
		if (i == n)
			goto misuse;
		if (opts[i].value)
			*opts[i].value = optarg;
		else if (opts[i].flag)
			*opts[i].flag = true;
		else if (opts[i].list->n < EDDY_CLI_LIST_MAX)
			opts[i].list->items[opts[i].list->n++] = optarg;
		else {
			fprintf(stderr, "eddy: at most %d --%s options\n", EDDY_CLI_LIST_MAX,
			        opts[i].name);
			goto misuse;
		}
	}
	return optind;
misuse:
	usage(stderr);
	*status = 2;
	return -1;
}

struct eddy_config *eddy_cli_start(int argc, char **argv, const struct eddy_cli_opt *opts,
                                   void (*usage)(FILE *f), const char *const *path, int bad_config,
                                   int *status)
{
	struct eddy_config *conf;
	int operand = eddy_cli_parse(argc, argv, opts, usage, status);

	if (operand < 0)
		return NULL;
	if (operand != argc) {
		usage(stderr);
		*status = 2;
		return NULL;
	}
	if (!(conf = eddy_cli_config(*path)))
		*status = bad_config;
	return conf;
}
