/* avro_bench.c - how long eddy_avro_to_json takes on an order proposal of
 * about 800 bytes of Avro, reusing one schema. */
/* clock_gettime with -std=c11 even outside the project build. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "schema/avro.h"
#include "avro_encode.h"

static const char schema_text[] =
    "{\"type\":\"record\",\"name\":\"OrderProposal\",\"namespace\":\"com.example.orders\","
    "\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"customer\",\"type\":\"string\"},"
    "{\"name\":\"quantity\",\"type\":\"double\"},"
    "{\"name\":\"unit\",\"type\":{\"type\":\"enum\",\"name\":\"Unit\","
    "\"symbols\":[\"PIECE\",\"KG\",\"LITRE\"]}},"
    "{\"name\":\"version\",\"type\":\"int\"},"
    "{\"name\":\"lines\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
    "\"name\":\"Line\",\"fields\":[{\"name\":\"sku\",\"type\":\"string\"},"
    "{\"name\":\"description\",\"type\":\"string\"},"
    "{\"name\":\"qty\",\"type\":\"long\"},{\"name\":\"unit\",\"type\":\"Unit\"},"
    "{\"name\":\"price\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\","
    "\"precision\":10,\"scale\":2}}]}}},"
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"created_at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"delivery_date\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
    "{\"name\":\"total\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\","
    "\"precision\":10,\"scale\":2}},"
    "{\"name\":\"proposal_id\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"
    "{\"name\":\"attributes\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"
    "{\"name\":\"checksum\",\"type\":{\"type\":\"fixed\",\"name\":\"Md5\",\"size\":16}}"
    "]}";

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Times n decodes in ten rounds: the mean is the figure, the best round
 * shows what the code costs when nothing else competes for the CPU. */
int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000, per = n / 10;
	char json[8192], err[512], *out = NULL;
	size_t len = 0, bin_len = 0, out_len = 0;
	void *bin = NULL;
	struct eddy_avro_schema *s =
	    eddy_avro_schema_parse(schema_text, sizeof(schema_text) - 1, err, sizeof(err));
	double total = 0, best = 0;
	unsigned long sink = 0;

	if (!s || per <= 0) {
		fprintf(stderr, "avro_bench: %s\n", s ? "bad count" : err);
		return 1;
	}
	len += (size_t)snprintf(json + len, sizeof(json) - len,
	                        "{\"id\":\"p-20250114-0001\",\"customer\":\"Acme Tools GmbH\","
	                        "\"quantity\":12.5,\"unit\":\"KG\",\"version\":3,\"lines\":[");
	for (int i = 0; i < 12; i++)
		len +=
		    (size_t)snprintf(json + len, sizeof(json) - len,
		                     "%s{\"sku\":\"SKU-%06d\",\"description\":\"Steel bolts M%d, "
		                     "zinc plated, box\",\"qty\":%d,\"unit\":\"PIECE\","
		                     "\"price\":\"%d.%02d\"}",
		                     i ? "," : "", 1000 + i, 6 + i, 10 * i + 1, 3 + i, 7 * i);
	len += (size_t)snprintf(json + len, sizeof(json) - len,
	                        "],\"note\":\"deliver before noon, gate 4\","
	                        "\"created_at\":\"2025-01-14T12:30:00.123Z\","
	                        "\"delivery_date\":\"2025-01-20\",\"total\":\"1234.56\","
	                        "\"proposal_id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\","
	                        "\"attributes\":{\"channel\":\"web\",\"region\":\"eu-central\"},"
	                        "\"checksum\":\"AAECAwQFBgcICQoLDA0ODw==\"}");
	if (eddy_avro_from_json(s, json, len, &bin, &bin_len, err, sizeof(err))) {
		fprintf(stderr, "avro_bench: %s\n", err);
		return 1;
	}
	for (long i = 0; i < 1000; i++) {
		if (eddy_avro_to_json(s, bin, bin_len, &out, &out_len, err, sizeof(err))) {
			fprintf(stderr, "avro_bench: %s\n", err);
			return 1;
		}
		free(out);
	}
	for (int round = 0; round < 10; round++) {
		double t0 = now_ns(), t;

		for (long i = 0; i < per; i++) {
			eddy_avro_to_json(s, bin, bin_len, &out, &out_len, err, sizeof(err));
			/* Use the result so the loop cannot be optimised away. */
			sink += out_len;
			free(out);
		}
		t = now_ns() - t0;
		total += t;
		if (round == 0 || t < best)
			best = t;
	}
	printf("avro_bench: %zu-byte datum to %zu bytes of JSON, %ld decodes: %.0f ns/decode "
	       "(best round %.0f)\n",
	       bin_len, out_len, per * 10, total / (double)(per * 10), best / (double)per);
	free(bin);
	eddy_avro_schema_free(s);
	return sink == (unsigned long)out_len * (unsigned long)per * 10 ? 0 : 1;
}
