/* reload_bench.c - the pause a hot reload causes: the time
 * eddy_pipeline_reload takes (every handler file compiled into a fresh
 * sandbox, the schemas loaded again, the swap), with N handlers shaped like
 * the shipped ones and the shipped schema mapping. The consumer handles no
 * record meanwhile, so this is the pause between two batches.
 *
 * usage: reload_bench [HANDLERS [RELOADS]]   (run from the repository root) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "pipeline.h"

static const char handler_src[] =
    "-- handler %d\n"
    "local function changed(before, data)\n"
    "  return not before or before.status ~= data.status\n"
    "end\n"
    "return {\n"
    "  subscribe = { types = { 'com.relexsolutions.supply-chain.transactions.order-proposals.*' } "
    "},\n"
    "  on_event = function(ev, ctx)\n"
    "    if ev.deleted then return ctx.delete('h%d', ev.key) end\n"
    "    local before = ctx.get('h%d', ev.key)\n"
    "    if changed(before, ev.data) then ctx.log('info', 'changed', { id = ev.id }) end\n"
    "    ctx.upsert('h%d', ev.key, ev.data)\n"
    "  end,\n"
    "}\n";

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20, reloads = argc > 2 ? atoi(argv[2]) : 50;
	char dir[] = "/tmp/eddy-reload-bench.XXXXXX", path[256], yaml[1024], err[1024];

	if (n <= 0 || reloads <= 0 || !mkdtemp(dir)) {
		fprintf(stderr, "reload_bench: cannot start\n");
		return 1;
	}
	snprintf(path, sizeof path, "%s/handlers", dir);
	if (mkdir(path, 0700) != 0)
		return 1;
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/handlers/h%02d.lua", dir, i);
		FILE *f = fopen(path, "w");
		if (!f)
			return 1;
		fprintf(f, handler_src, i, i, i, i);
		fclose(f);
	}
	snprintf(yaml, sizeof yaml,
	         "handlers: %s/handlers\n"
	         "store: { path: %s/state.db }\n"
	         "schemas:\n"
	         "  dir: conf/schemas\n"
	         "  types: { \"com.relexsolutions.supply-chain.transactions.order-proposals.v1\": "
	         "order-proposal.schema.json }\n",
	         dir, dir);
	struct eddy_config *conf =
	    eddy_config_load_string("bench.yaml", yaml, NULL, err, sizeof err);
	struct eddy_pipeline *p = conf ? eddy_pipeline_new(conf, NULL, err, sizeof err) : NULL;
	if (!p) {
		fprintf(stderr, "reload_bench: %s\n", err);
		return 1;
	}
	double *ms = calloc((size_t)reloads, sizeof *ms);
	for (int i = 0; i < reloads; i++) {
		double t0 = now_ms();
		if (eddy_pipeline_reload(p, err, sizeof err) != 0) {
			fprintf(stderr, "reload_bench: %s\n", err);
			return 1;
		}
		ms[i] = now_ms() - t0;
	}
	qsort(ms, (size_t)reloads, sizeof *ms, cmp);
	printf("reload_bench: %zu handlers, %d reloads: median %.2f ms, p90 %.2f ms, max %.2f ms\n",
	       eddy_pipeline_handler_count(p), reloads, ms[reloads / 2], ms[reloads * 9 / 10],
	       ms[reloads - 1]);
	free(ms);
	eddy_pipeline_destroy(p);
	eddy_config_destroy(conf);
	snprintf(path, sizeof path, "rm -rf '%s'", dir);
	return system(path) == 0 ? 0 : 1;
}
