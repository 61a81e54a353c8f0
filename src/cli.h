/* cli.h - the eddy subcommands and what they share. */
#ifndef EDDY_CLI_H
#define EDDY_CLI_H

#include "config.h"

/* Set by SIGINT/SIGTERM: stop after the current batch. */
extern volatile int eddy_stop;
void eddy_cli_signals(void);

/* Loads path, or conf/eddy.yaml when path is NULL and that file exists,
 * or the defaults. Prints the error and returns NULL on failure. Applies
 * the log settings. */
struct eddy_config *eddy_cli_config(const char *path);

int eddy_cmd_run(int argc, char **argv);
int eddy_cmd_dev(int argc, char **argv);
int eddy_cmd_replay(int argc, char **argv);
int eddy_cmd_validate(int argc, char **argv);
int eddy_cmd_check(int argc, char **argv);

#endif
