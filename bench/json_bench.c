/* json_bench.c - how long eddy_json_parse takes on a typical CloudEvent, reusing one doc. */
/* clock_gettime with -std=c11 even outside the project build. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "sample_event.h"

static const char event[] = EDDY_SAMPLE_EVENT;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Times n parses in ten rounds: the mean is the figure, the best round
 * shows what the code costs when nothing else competes for the CPU. */
int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000, per = n / 10;
	struct eddy_json_doc *doc = eddy_json_doc_new();
	char err[256];
	unsigned long sink = 0;
	double total = 0, best = 0;

	if (!doc || per <= 0) {
		fprintf(stderr, "json_bench: cannot start\n");
		return 1;
	}
	/* Warm up: the first parses size the buffers, which later ones reuse. */
	for (long i = 0; i < 1000; i++)
		if (!eddy_json_parse(doc, event, sizeof(event) - 1, err, sizeof(err))) {
			fprintf(stderr, "json_bench: %s\n", err);
			return 1;
		}
	for (int round = 0; round < 10; round++) {
		double t0 = now_ns(), t;

		for (long i = 0; i < per; i++) {
			const struct eddy_json *root =
			    eddy_json_parse(doc, event, sizeof(event) - 1, err, sizeof(err));

			/* Use the result so the loop cannot be optimised away. */
			sink += root->len;
		}
		t = now_ns() - t0;
		total += t;
		if (round == 0 || t < best)
			best = t;
	}
	printf("json_bench: %zu-byte event, %ld parses: %.0f ns/parse (best round %.0f)\n",
	       sizeof(event) - 1, per * 10, total / (double)(per * 10), best / (double)per);
	eddy_json_doc_destroy(doc);
	return sink == (unsigned long)per * 10 * 8 ? 0 : 1;
}
