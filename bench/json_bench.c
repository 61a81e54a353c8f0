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

static const char event[] =
    "{\"specversion\":\"1.0\","
    "\"type\":\"com.relexsolutions.supply-chain.transactions.order-proposals.v1\","
    "\"source\":\"urn:relex:plan:customer-retail-001:order-proposals\",\"id\":\"ORD-1234\","
    "\"time\":\"2025-01-14T12:30:00Z\",\"datacontenttype\":\"application/json\","
    "\"meta\":{\"correlation_id\":\"0b7c3a52-8a55-4a4c-9f64-5b9b8e8c2b1e\","
    "\"tenant\":\"customer-retail-001\",\"source\":{\"application\":\"relex-plan\","
    "\"environment_type\":\"production\"}},\"data\":{\"order_id\":\"ORD-1234\","
    "\"product_id\":\"PROD-000123\",\"location_id\":\"STORE-0042\","
    "\"supplier_id\":\"SUP-00077\",\"quantity\":312.0,\"unit\":\"CS\","
    "\"order_date\":\"2025-01-14\",\"delivery_date\":\"2025-01-20T08:00:00Z\","
    "\"status\":\"proposed\",\"version\":3,\"lines\":[{\"line_no\":1,\"sku\":\"SKU-0001234\","
    "\"quantity\":200,\"unit_cost\":12.5},{\"line_no\":2,\"sku\":\"SKU-0004321\","
    "\"quantity\":112,\"unit_cost\":3.75}]}}";

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
