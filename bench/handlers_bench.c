/* handlers_bench.c - the cost of one handler call: the sample event turned
 * into ev, on_event run, ctx.upsert of ev.data, with actions that only
 * count. The event is parsed once; every dispatch converts it again. Each
 * run twice: with the CPU-time and memory limits armed around every call
 * (the defaults), and without limits.
 *
 * usage: handlers_bench [EVENTS [RUN [LIMITS]]]
 *   RUN: only that run (0-4); LIMITS: only with limits on (1) or off (0) */
/* clock_gettime and mkdtemp with -std=c11 even outside the project build. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "handlers.h"
#include "json.h"
#include "sample_event.h"

static const char event_text[] = EDDY_SAMPLE_EVENT;

/* What each run's handler does with the event. */
static const struct {
	const char *name, *body;
} runs[] = {
    {"upsert ev.data unchanged (raw text)", "ctx.upsert('orders', ev.key, ev.data)"},
    {"read only (ev conversion)", "local q = ev.data.quantity"},
    {"upsert ev.data changed (json.encode)",
     "ev.data.status = 'accepted'; ctx.upsert('orders', ev.key, ev.data)"},
    {"no-op (ev unused)", ""},
    {"read 3 fields", "local d = ev.data; local a, b, c = d.order_id, d.quantity, ev.key"},
};

struct counts {
	unsigned long upserts;
	size_t bytes;
};

static int count_upsert(void *ud, const char *ns, const char *key, size_t key_len,
                        const char *value, size_t len, bool parsed, char *errstr,
                        size_t errstr_size)
{
	struct counts *c = ud;
	(void)ns, (void)key, (void)key_len, (void)value, (void)parsed, (void)errstr,
	    (void)errstr_size;
	c->upserts++;
	c->bytes += len;
	return 0;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static struct eddy_attr attr(const struct eddy_json *v)
{
	return (struct eddy_attr){eddy_json_str(v), eddy_json_str(v) ? v->len : 0};
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	long only = argc > 2 ? atol(argv[2]) : -1; /* run just this one (for profiling) */
	long only_limits = argc > 3 ? atol(argv[3]) : -1;
	char dir[] = "/tmp/eddy-handlers-bench.XXXXXX", path[128], err[512];
	struct eddy_json_doc *doc = eddy_json_doc_new();
	const struct eddy_json *root;
	const char *failed;

	if (!doc || n <= 0 || !mkdtemp(dir)) {
		fprintf(stderr, "handlers_bench: cannot start\n");
		return 1;
	}
	if (!(root = eddy_json_parse(doc, event_text, sizeof event_text - 1, err, sizeof err))) {
		fprintf(stderr, "handlers_bench: %s\n", err);
		return 1;
	}

	/* the event as envelope.c would fill it */
	struct eddy_msg msg = {.topic = "customer-retail-001.order-proposals",
	                       .partition = 0,
	                       .offset = 42,
	                       .timestamp_ms = -1,
	                       .key = "ORD-1234",
	                       .key_len = 8,
	                       .value = event_text,
	                       .value_len = sizeof event_text - 1};
	struct eddy_event ev = {.msg = &msg, .mode = EDDY_ENVELOPE_STRUCTURED};
	ev.id = attr(eddy_json_getz(root, "id"));
	ev.type = attr(eddy_json_getz(root, "type"));
	ev.source = attr(eddy_json_getz(root, "source"));
	ev.specversion = attr(eddy_json_getz(root, "specversion"));
	ev.time = attr(eddy_json_getz(root, "time"));
	ev.datacontenttype = attr(eddy_json_getz(root, "datacontenttype"));
	ev.data_json = eddy_json_getz(root, "data");
	ev.meta = eddy_json_getz(root, "meta");
	ev.tenant = attr(eddy_json_getz(ev.meta, "tenant"));
	ev.correlation_id = attr(eddy_json_getz(ev.meta, "correlation_id"));

	snprintf(path, sizeof path, "%s/bench.lua", dir);
	for (size_t r = 0; r < 2 * sizeof runs / sizeof runs[0]; r++) {
		static const struct eddy_handlers_limits limited = {EDDY_HANDLERS_CPU_LIMIT_MS,
		                                                    EDDY_HANDLERS_MEMORY_LIMIT_MB};
		static const struct eddy_handlers_limits unlimited = {0, 0};
		bool limits = r % 2 == 0;
		if ((only >= 0 && (size_t)only != r / 2) ||
		    (only_limits >= 0 && only_limits != limits))
			continue;
		struct counts c = {0, 0};
		struct eddy_actions actions = {.ud = &c, .upsert = count_upsert};
		FILE *f = fopen(path, "w");
		if (!f) {
			perror(path);
			return 1;
		}
		fprintf(f, "return { on_event = function(ev, ctx) %s end }\n", runs[r / 2].body);
		fclose(f);
		struct eddy_handlers *h = eddy_handlers_load_with_limits(
		    dir, &actions, limits ? &limited : &unlimited, err, sizeof err);
		if (!h) {
			fprintf(stderr, "handlers_bench: %s\n", err);
			return 1;
		}
		for (long i = 0; i < n / 10 + 1; i++) /* warm up: the JIT compiles */
			eddy_handlers_dispatch(h, &ev, &failed, err, sizeof err);
		/* ten rounds: the mean, and the best round (the machine's noise
		 * only ever adds) */
		double total = 0, best = 0;
		long per = n / 10 > 0 ? n / 10 : 1;
		c.upserts = 0;
		c.bytes = 0;
		for (int round = 0; round < 10; round++) {
			double t0 = now_ns();
			for (long i = 0; i < per; i++)
				if (eddy_handlers_dispatch(h, &ev, &failed, err, sizeof err) != 1) {
					fprintf(stderr, "handlers_bench: %s: %s\n", failed, err);
					return 1;
				}
			double t = now_ns() - t0;
			total += t;
			if (round == 0 || t < best)
				best = t;
		}
		printf("handlers_bench: %-38s limits %-3s %ld events: %5.0f ns/event (best round "
		       "%4.0f), "
		       "%zu B stored each\n",
		       runs[r / 2].name, limits ? "on" : "off", 10 * per,
		       total / (double)(10 * per), best / (double)per,
		       c.upserts ? c.bytes / c.upserts : 0);
		eddy_handlers_destroy(h);
	}
	unlink(path);
	rmdir(dir);
	eddy_json_doc_destroy(doc);
	return 0;
}
