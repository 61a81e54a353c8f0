/* jsonschema_bench.c - how long validating the sample event's data against
 * conf/schemas/order-proposal.schema.json takes: a valid instance (the
 * quiet pass only) and an invalid one (both passes, errors collected). */
/* clock_gettime with -std=c11 even outside the project build. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "schema/jsonschema.h"
#include "readfile.h"
#include "sample_event.h"

static const char event[] = EDDY_SAMPLE_EVENT;
static const char schema_path[] = "conf/schemas/order-proposal.schema.json";

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Times n validations in ten rounds: the mean is the figure, the best round
 * what the code costs when nothing else competes for the CPU. Returns the
 * number of valid outcomes, so the loop cannot be optimised away. */
static long run(const char *what, struct eddy_jsonschema_set *set, const struct eddy_jsonschema *s,
                const struct eddy_json *v, long n)
{
	long per = n / 10, valid = 0;
	double total = 0, best = 0;
	struct eddy_jsonschema_result r;

	for (long i = 0; i < 1000; i++)
		valid += eddy_jsonschema_validate(set, s, v, &r);
	for (int round = 0; round < 10; round++) {
		double t0 = now_ns(), t;

		for (long i = 0; i < per; i++)
			valid += eddy_jsonschema_validate(set, s, v, &r);
		t = now_ns() - t0;
		total += t;
		if (round == 0 || t < best)
			best = t;
	}
	printf("jsonschema_bench: %s: %ld validations: %.0f ns/validation (best round %.0f), "
	       "%.2f M/s\n",
	       what, per * 10, total / (double)(per * 10), best / (double)per,
	       (double)(per * 10) / total * 1e3);
	if (!r.valid)
		printf("jsonschema_bench:   first error: %s: %s\n", r.errors[0].instance_location,
		       r.errors[0].message);
	return valid;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	struct eddy_json_doc *doc = eddy_json_doc_new(), *bad_doc = eddy_json_doc_new();
	struct eddy_jsonschema_set *set = eddy_jsonschema_set_new(NULL);
	char err[256], bad[sizeof(event) + 16], *text;
	const char *at;
	size_t len = 0;
	const struct eddy_jsonschema *s;
	const struct eddy_json *root, *bad_root;
	long valid;

	if (!doc || !bad_doc || !set || n < 10 ||
	    !(text = eddy_read_file(schema_path, &len, err, sizeof(err)))) {
		fprintf(stderr, "jsonschema_bench: cannot start (run from the repository root)\n");
		return 1;
	}
	s = eddy_jsonschema_add(set, text, len, NULL, err, sizeof(err));
	free(text);
	root = eddy_json_parse(doc, event, sizeof(event) - 1, err, sizeof(err));
	/* the second line's quantity made negative, and its sku dropped */
	at = strstr(event, "\"quantity\":112");
	snprintf(bad, sizeof(bad), "%.*s\"quantity\":-112%s", (int)(at - event), event,
	         at + strlen("\"quantity\":112"));
	bad_root = eddy_json_parse(bad_doc, bad, strlen(bad), err, sizeof(err));
	if (!s || !root || !bad_root) {
		fprintf(stderr, "jsonschema_bench: %s\n", err);
		return 1;
	}
	valid = run("valid event", set, s, eddy_json_getz(root, "data"), n);
	if (valid != n / 10 * 10 + 1000) {
		fprintf(stderr, "jsonschema_bench: the sample event is not valid\n");
		return 1;
	}
	/* "valid" as second argument: only the valid event, for profilers */
	if (argc < 3 || strcmp(argv[2], "valid") != 0)
		run("invalid event (errors collected)", set, s, eddy_json_getz(bad_root, "data"),
		    n / 4);
	eddy_jsonschema_set_destroy(set);
	eddy_json_doc_destroy(doc);
	eddy_json_doc_destroy(bad_doc);
	return 0;
}
