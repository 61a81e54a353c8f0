/* alerts_bench.c - alerts per second delivered by the sender: signed
 * webhooks from a SQLite outbox to tests/tools/webhook-receiver.py.
 *
 * Built with the project; run from the repository root:
 *   build/release/alerts_bench [N [IN_FLIGHT...]]
 * N alerts (default 5000) are added in batches of 1000, then one sender per
 * IN_FLIGHT value (default 1 4 16 64) delivers them all, from a fresh copy
 * each, to a receiver that verifies every signature. The receiver is a
 * Python process, and at high IN_FLIGHT the figure is its speed more than
 * the sender's: the sender's own cost is printed as CPU time per alert. */
#include <signal.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alerts.h"
#include "log.h"
#include "store/store.h"

#define RECEIVER "tests/tools/webhook-receiver.py"
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Starts the receiver; its pid in *pid, its port returned (0: failed). */
static int receiver_start(pid_t *pid)
{
	char line[32] = "";
	size_t len = 0;
	int fds[2];

	if (pipe(fds) != 0)
		return 0;
	if ((*pid = fork()) == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execlp("python3", "python3", RECEIVER, "--secret", SECRET, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (len < sizeof(line) - 1 && read(fds[0], line + len, 1) == 1 && line[len] != '\n')
		len++;
	close(fds[0]);
	return atoi(line);
}

/* Fills a new outbox at path with n alerts. */
static int fill(const char *path, int n)
{
	char err[256], body[1024], dedupe[64];
	struct eddy_store *s = eddy_store_open_sqlite(path, 0, err, sizeof(err));
	struct timespec ts;

	if (!s) {
		fprintf(stderr, "alerts_bench: %s\n", err);
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	for (int i = 0; i < n; i++) {
		int len = snprintf(
		    body, sizeof(body),
		    "{\"sink\":\"ops\",\"severity\":\"warning\",\"key\":\"order-%d\","
		    "\"summary\":\"Large order proposal %d\",\"description\":\"Quantity 12000\","
		    "\"labels\":{\"tenant\":\"acme\"},\"annotations\":{},"
		    "\"dedupe\":\"ops/large/order-%d\",\"event\":{\"id\":\"evt-%d\","
		    "\"type\":\"com.example.orders.v1\",\"source\":\"/orders\",\"tenant\":\"acme\","
		    "\"correlation_id\":\"c-%d\",\"topic\":\"orders.acme\",\"partition\":0,"
		    "\"offset\":%d},\"created_at\":\"2024-05-01T12:00:00.000Z\"}",
		    i, i, i, i, i, i);

		snprintf(dedupe, sizeof(dedupe), "ops/large/order-%d", i);
		if ((i % 1000 == 0 && eddy_store_begin(s, err, sizeof(err)) != 0) ||
		    eddy_store_outbox_add(s, "ops", dedupe, body, (size_t)len,
		                          (int64_t)ts.tv_sec * 1000, 0, err, sizeof(err)) != 0 ||
		    ((i % 1000 == 999 || i == n - 1) &&
		     eddy_store_commit(s, err, sizeof(err)) != 0)) {
			fprintf(stderr, "alerts_bench: %s\n", err);
			eddy_store_destroy(s);
			return -1;
		}
	}
	eddy_store_destroy(s);
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 5000;
	int default_in_flight[] = {1, 4, 16, 64}, n_runs = argc > 2 ? argc - 2 : 4;
	char dir[] = "/tmp/eddy-alerts-bench-XXXXXX", path[128], err[256], url[64];
	pid_t pid;
	int port;

	signal(SIGPIPE, SIG_IGN);
	eddy_log_setup("error", NULL);
	if (n <= 0 || !mkdtemp(dir))
		return 1;
	if (!(port = receiver_start(&pid))) {
		fprintf(
		    stderr,
		    "alerts_bench: the receiver did not start (run from the repository root)\n");
		return 1;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", port);
	printf("%d signed webhook alerts to %s (Python receiver verifying signatures)\n", n, url);
	for (int r = 0; r < n_runs; r++) {
		int in_flight = argc > 2 ? atoi(argv[r + 2]) : default_in_flight[r];
		struct eddy_alerts_sink sink = {"ops", EDDY_ALERTS_WEBHOOK, url, SECRET, 10000};
		struct eddy_alerts_conf conf = {
		    .sinks = &sink, .n_sinks = 1, .max_in_flight = in_flight, .poll_ms = 100};
		struct eddy_alerts_stats st = {0};
		struct eddy_alerts *a;
		struct eddy_store *s;
		double t0, c0, t;

		snprintf(path, sizeof(path), "%s/outbox-%d.db", dir, r);
		if (fill(path, n) != 0 || !(s = eddy_store_open_sqlite(path, 0, err, sizeof(err))))
			break;
		t0 = now();
		c0 = cpu();
		if (!(a = eddy_alerts_start(&conf, s, err, sizeof(err)))) {
			fprintf(stderr, "alerts_bench: %s\n", err);
			break;
		}
		while (st.delivered + st.failed + st.given_up < (uint64_t)n && now() - t0 < 600) {
			struct timespec ts = {0, 2000000};

			nanosleep(&ts, NULL);
			eddy_alerts_stats(a, &st);
		}
		t = now() - t0;
		eddy_alerts_stop(a, 1000);
		printf("max_in_flight %3d: %6.0f alerts/s (%" PRIu64
		       " delivered in %.2f s, %" PRIu64 " retried, %" PRIu64
		       " failed), sender CPU %.0f us/alert\n",
		       in_flight, (double)st.delivered / t, st.delivered, t, st.retried, st.failed,
		       (cpu() - c0) * 1e6 / (double)n);
		fflush(stdout);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	return system(path) == 0 ? 0 : 1;
}
