/* test_metrics.c - the metrics registry and its Prometheus text exposition:
 * exact output, escaping, histograms, names refused, updates from several
 * threads during scrapes, and promtool's own check of a rendering. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "test.h"

static void test_render(void)
{
	struct eddy_metrics *m = eddy_metrics_new();
	const char *const by_topic[] = {"topic", "outcome", NULL};
	struct eddy_metric_family *records =
	    eddy_metrics_family(m, "eddy_records_total", "Records by topic and outcome.",
	                        EDDY_METRIC_COUNTER, by_topic, NULL, 0);
	struct eddy_metric_family *up =
	    eddy_metrics_family(m, "eddy_up", "1 while running.\nSecond line \\ here.",
	                        EDDY_METRIC_GAUGE, NULL, NULL, 0);
	struct eddy_metric_family *empty = eddy_metrics_family(
	    m, "eddy_empty_total", "No series yet.", EDDY_METRIC_COUNTER, by_topic, NULL, 0);
	const double bounds[] = {0.01, 0.1, 1};
	const char *const by_handler[] = {"handler", NULL};
	struct eddy_metric_family *dur =
	    eddy_metrics_family(m, "eddy_handler_duration_seconds", "Handler call time.",
	                        EDDY_METRIC_HISTOGRAM, by_handler, bounds, 3);

	CHECK(records && up && empty && dur);
	/* the same registration again is the same family; a clash is refused */
	CHECK(eddy_metrics_family(m, "eddy_records_total", "x", EDDY_METRIC_COUNTER, by_topic, NULL,
	                          0) == records);
	CHECK(eddy_metrics_family(m, "eddy_records_total", "x", EDDY_METRIC_GAUGE, by_topic, NULL,
	                          0) == NULL);
	CHECK(eddy_metrics_family(m, "eddy_records_total", "x", EDDY_METRIC_COUNTER, by_handler,
	                          NULL, 0) == NULL);

	struct eddy_metric *handled =
	    eddy_metric_get(records, (const char *const[]){"orders", "handled"});
	struct eddy_metric *dead =
	    eddy_metric_get(records, (const char *const[]){"we\"ird\\top\nic", "dead_lettered"});
	CHECK(handled && dead);
	CHECK(eddy_metric_get(records, (const char *const[]){"orders", "handled"}) == handled);
	eddy_metric_inc(handled);
	eddy_metric_add(handled, 2);
	eddy_metric_add(handled, -5); /* counters never go down */
	eddy_metric_add(dead, 0.5);
	CHECK(eddy_metric_value(handled) == 3);
	eddy_metric_set(eddy_metric_only(up), 1);
	eddy_metric_set(handled, 100); /* set is for gauges only */
	CHECK(eddy_metric_value(handled) == 3);
	CHECK(eddy_metric_only(records) == NULL);

	struct eddy_metric *h = eddy_metric_get(dur, (const char *const[]){"orders.lua"});
	eddy_metric_observe(h, 0.005);
	eddy_metric_observe(h, 0.1); /* on a bound: in that bucket (le is "less or equal") */
	eddy_metric_observe(h, 7);
	eddy_metric_observe(h, NAN);
	CHECK(eddy_metric_value(h) == 3);

	size_t len = 0;
	char *text = eddy_metrics_render(m, &len);
	CHECK(text && strlen(text) == len);
	CHECK_STR(text,
	          "# HELP eddy_records_total Records by topic and outcome.\n"
	          "# TYPE eddy_records_total counter\n"
	          "eddy_records_total{topic=\"orders\",outcome=\"handled\"} 3\n"
	          "eddy_records_total{topic=\"we\\\"ird\\\\top\\nic\",outcome=\"dead_lettered\"} "
	          "0.5\n"
	          "# HELP eddy_up 1 while running.\\nSecond line \\\\ here.\n"
	          "# TYPE eddy_up gauge\n"
	          "eddy_up 1\n"
	          "# HELP eddy_handler_duration_seconds Handler call time.\n"
	          "# TYPE eddy_handler_duration_seconds histogram\n"
	          "eddy_handler_duration_seconds_bucket{handler=\"orders.lua\",le=\"0.01\"} 1\n"
	          "eddy_handler_duration_seconds_bucket{handler=\"orders.lua\",le=\"0.1\"} 2\n"
	          "eddy_handler_duration_seconds_bucket{handler=\"orders.lua\",le=\"1\"} 2\n"
	          "eddy_handler_duration_seconds_bucket{handler=\"orders.lua\",le=\"+Inf\"} 3\n"
	          "eddy_handler_duration_seconds_sum{handler=\"orders.lua\"} 7.105\n"
	          "eddy_handler_duration_seconds_count{handler=\"orders.lua\"} 3\n");
	free(text);
	eddy_metrics_destroy(m);
}

static void test_numbers(void)
{
	struct eddy_metrics *m = eddy_metrics_new();
	struct eddy_metric_family *g = eddy_metrics_family(
	    m, "g", "", EDDY_METRIC_GAUGE, (const char *const[]){"v", NULL}, NULL, 0);
	static const struct {
		double v;
		const char *text;
	} cases[] = {{0, "0"},
	             {-2.5, "-2.5"},
	             {0.1, "0.1"},
	             {1e21, "1e+21"},
	             {1.0 / 3, "0.33333333333333331"},
	             {INFINITY, "+Inf"},
	             {-INFINITY, "-Inf"},
	             {NAN, "NaN"},
	             {9007199254740993.0, "9007199254740992"}};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char want[128], label[8];
		snprintf(label, sizeof label, "%zu", i);
		eddy_metric_set(eddy_metric_get(g, (const char *const[]){label}), cases[i].v);
		char *text = eddy_metrics_render(m, NULL);
		snprintf(want, sizeof want, "g{v=\"%zu\"} %s\n", i, cases[i].text);
		CHECK(text && strstr(text, want));
		if (text && !strstr(text, want))
			fprintf(stderr, "  want %s", want);
		free(text);
	}
	eddy_metrics_destroy(m);
}

static void test_refused(void)
{
	struct eddy_metrics *m = eddy_metrics_new();
	const double down[] = {1, 0.5};

	CHECK(eddy_metrics_family(m, "1abc", "", EDDY_METRIC_COUNTER, NULL, NULL, 0) == NULL);
	CHECK(eddy_metrics_family(m, "a-b", "", EDDY_METRIC_COUNTER, NULL, NULL, 0) == NULL);
	CHECK(eddy_metrics_family(m, "", "", EDDY_METRIC_COUNTER, NULL, NULL, 0) == NULL);
	CHECK(eddy_metrics_family(m, "ns:ok_total", "", EDDY_METRIC_COUNTER, NULL, NULL, 0) !=
	      NULL);
	CHECK(eddy_metrics_family(m, "a", "", EDDY_METRIC_COUNTER,
	                          (const char *const[]){"__reserved", NULL}, NULL, 0) == NULL);
	CHECK(eddy_metrics_family(m, "b", "", EDDY_METRIC_COUNTER,
	                          (const char *const[]){"with:colon", NULL}, NULL, 0) == NULL);
	CHECK(eddy_metrics_family(m, "c", "", EDDY_METRIC_HISTOGRAM,
	                          (const char *const[]){"le", NULL}, NULL, 0) == NULL);
	CHECK(eddy_metrics_family(m, "d", "", EDDY_METRIC_HISTOGRAM, NULL, down, 2) == NULL);
	/* nothing refused was registered */
	char *text = eddy_metrics_render(m, NULL);
	CHECK_STR(text, "# HELP ns:ok_total \n# TYPE ns:ok_total counter\nns:ok_total 0\n");
	free(text);
	eddy_metric_inc(NULL);
	eddy_metric_observe(NULL, 1);
	eddy_metrics_destroy(NULL);
	eddy_metrics_destroy(m);
}

/* Writers on two threads make series and update them while a third
 * renders: every update is counted in the end. */
#define WRITES 100000
static struct eddy_metric_family *shared_counter, *shared_hist;

static void *writer(void *arg)
{
	const char *name = arg;
	for (int i = 0; i < WRITES; i++) {
		eddy_metric_inc(eddy_metric_get(shared_counter, (const char *const[]){name}));
		eddy_metric_observe(eddy_metric_only(shared_hist), 0.001 * (i % 3));
	}
	return NULL;
}

static void test_threads(void)
{
	struct eddy_metrics *m = eddy_metrics_new();
	pthread_t a, b;

	shared_counter = eddy_metrics_family(m, "writes_total", "", EDDY_METRIC_COUNTER,
	                                     (const char *const[]){"w", NULL}, NULL, 0);
	shared_hist =
	    eddy_metrics_family(m, "lat_seconds", "", EDDY_METRIC_HISTOGRAM, NULL, NULL, 0);
	pthread_create(&a, NULL, writer, "a");
	pthread_create(&b, NULL, writer, "b");
	for (int i = 0; i < 50; i++)
		free(eddy_metrics_render(m, NULL));
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	CHECK(eddy_metric_value(eddy_metric_get(shared_counter, (const char *const[]){"a"})) ==
	      WRITES);
	CHECK(eddy_metric_value(eddy_metric_get(shared_counter, (const char *const[]){"b"})) ==
	      WRITES);
	CHECK(eddy_metric_value(eddy_metric_only(shared_hist)) == 2 * WRITES);
	eddy_metrics_destroy(m);
}

/* promtool, the Prometheus project's own linter, accepts a rendering. */
static void test_promtool(void)
{
	struct eddy_metrics *m = eddy_metrics_new();
	struct eddy_metric_family *c =
	    eddy_metrics_family(m, "eddy_dead_letters_total", "Dead letters by stage.",
	                        EDDY_METRIC_COUNTER, (const char *const[]){"stage", NULL}, NULL, 0);
	struct eddy_metric_family *h =
	    eddy_metrics_family(m, "eddy_store_commit_duration_seconds", "Store transaction time.",
	                        EDDY_METRIC_HISTOGRAM, NULL, NULL, 0);
	char path[] = "/tmp/eddy-metrics.XXXXXX", cmd[128], out[4096] = "";

	eddy_metric_inc(eddy_metric_get(c, (const char *const[]){"schema"}));
	eddy_metric_inc(eddy_metric_get(c, (const char *const[]){"env\"el\\ope\n"}));
	eddy_metric_observe(eddy_metric_only(h), 0.003);
	char *text = eddy_metrics_render(m, NULL);
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	CHECK(text && f);
	if (text && f) {
		fputs(text, f);
		fclose(f);
		snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
		FILE *p = popen(cmd, "r");
		size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
		out[n] = 0;
		int rc = p ? pclose(p) : -1;
		CHECK(rc == 0);
		if (rc != 0)
			fprintf(stderr, "  promtool (%d): %s\n%s", rc, out, text);
	}
	remove(path);
	free(text);
	eddy_metrics_destroy(m);
}

int main(void)
{
	test_render();
	test_numbers();
	test_refused();
	test_threads();
	test_promtool();
	return test_report("test_metrics");
}
