/* fixture.h - the test servers written in Python (registry, webhook
 * receiver) started from C tests: each prints its port on its first line. */
#ifndef EDDY_TEST_FIXTURE_H
#define EDDY_TEST_FIXTURE_H

#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs argv (NULL-terminated) with its stdout on a pipe and reads the port
 * it prints. Returns the port (0 when it did not start); *pid is the child. */
static inline int fixture_spawn(const char *const *argv, pid_t *pid)
{
	char line[32] = "";
	size_t len = 0;
	int fds[2];

	*pid = -1;
	if (pipe(fds) != 0)
		return 0;
	*pid = fork();
	if (*pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	while (len < sizeof(line) - 1) {
		ssize_t got = read(fds[0], line + len, 1);

		if (got <= 0 || line[len] == '\n')
			break;
		len++;
	}
	line[len] = '\0';
	close(fds[0]);
	return atoi(line);
}

static inline void fixture_kill(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}

#endif
