/* cli.h - the eddy subcommands and what they share. */
#ifndef EDDY_CLI_H
#define EDDY_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"

/* Set by SIGINT/SIGTERM: stop after the current batch. */
extern volatile int eddy_stop;
void eddy_cli_signals(void);

/* Loads path, or conf/eddy.yaml when path is NULL and that file exists,
 * or the defaults. Prints the error and returns NULL on failure. Applies
 * the log settings. */
struct eddy_config *eddy_cli_config(const char *path);

/* A repeatable option's arguments, in order. */
#define EDDY_CLI_LIST_MAX 32
struct eddy_cli_list {
	const char *items[EDDY_CLI_LIST_MAX];
	size_t n;
};

/* One option of a subcommand; exactly one of value, flag and list is set. */
struct eddy_cli_opt {
	const char *name;           /* the long name: --name */
	char letter;                /* the short one: -l, 0 for none */
	const char **value;         /* takes an argument, stored here */
	bool *flag;                 /* takes none, sets this */
	struct eddy_cli_list *list; /* takes an argument each time it is given */
};

/* Parses a subcommand's argv (argv[0] is the subcommand) by opts, which
 * ends with an entry without name; -h and --help are added. Returns the
 * index of the first operand, or -1 when the command ends at once with
 * exit status *status: 0 after --help (usage on stdout), 2 after a bad
 * option (usage on stderr). */
int eddy_cli_parse(int argc, char **argv, const struct eddy_cli_opt *opts, void (*usage)(FILE *f),
                   int *status);

/* eddy_cli_parse for a subcommand without operands, then its config
 * (eddy_cli_config of *path, which an option of opts sets). Returns the
 * config, or NULL when the command ends at once with exit status *status:
 * 0 after --help, 2 after misuse, bad_config when the config does not
 * load. */
struct eddy_config *eddy_cli_start(int argc, char **argv, const struct eddy_cli_opt *opts,
                                   void (*usage)(FILE *f), const char *const *path, int bad_config,
                                   int *status);

int eddy_cmd_run(int argc, char **argv);
int eddy_cmd_dev(int argc, char **argv);
int eddy_cmd_replay(int argc, char **argv);
int eddy_cmd_validate(int argc, char **argv);
int eddy_cmd_check(int argc, char **argv);
int eddy_cmd_config(int argc, char **argv);
int eddy_cmd_rule(int argc, char **argv);
int eddy_cmd_test(int argc, char **argv);
int eddy_cmd_new(int argc, char **argv);
int eddy_cmd_manifest(int argc, char **argv);

#endif
