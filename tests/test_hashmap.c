/* test_hashmap.c - the hash map of the validator and the registry cache:
 * strings and pointers as keys, growth through many doublings, iteration,
 * and a put that runs out of memory leaving the map as it was. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "hashmap.h"
#include "test.h"

#define N 5000

static char keys[N][16];
static int vals[N];

static void test_strings(void)
{
	struct eddy_hashmap m = {0}; /* zeroed: a string map */
	char probe[16];
	int other = 0;

	CHECK(eddy_hashmap_get(&m, "absent") == NULL);
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof keys[i], "k%d", i);
		CHECK(eddy_hashmap_put(&m, keys[i], &vals[i]) == 0);
	}
	CHECK(m.n == N);
	for (int i = 0; i < N; i++) {
		/* found by contents, not by address */
		snprintf(probe, sizeof probe, "k%d", i);
		if (eddy_hashmap_get(&m, probe) != &vals[i]) {
			CHECK(!"a key lost in growth");
			break;
		}
	}
	CHECK(eddy_hashmap_get(&m, "k5000") == NULL);
	CHECK(eddy_hashmap_get(&m, "") == NULL);

	/* a second put of a key replaces its value */
	CHECK(eddy_hashmap_put(&m, "k7", &other) == 0);
	CHECK(m.n == N);
	CHECK(eddy_hashmap_get(&m, keys[7]) == &other);

	eddy_hashmap_clear(&m);
	CHECK(m.n == 0 && eddy_hashmap_get(&m, "k1") == NULL);
	CHECK(eddy_hashmap_put(&m, "again", &other) == 0);
	CHECK(eddy_hashmap_get(&m, "again") == &other);
	eddy_hashmap_clear(&m);
}

static void test_pointers(void)
{
	struct eddy_hashmap m;
	char twin[16];

	eddy_hashmap_init(&m, EDDY_HASHMAP_POINTERS);
	for (int i = 0; i < N; i++)
		CHECK(eddy_hashmap_put(&m, &vals[i], keys[i]) == 0);
	for (int i = 0; i < N; i++)
		if (eddy_hashmap_get(&m, &vals[i]) != keys[i]) {
			CHECK(!"a pointer key lost in growth");
			break;
		}
	/* the address is the key: equal contents elsewhere are another key */
	eddy_hashmap_put(&m, keys[0], &vals[0]);
	strcpy(twin, keys[0]);
	CHECK(eddy_hashmap_get(&m, keys[0]) == &vals[0]);
	CHECK(eddy_hashmap_get(&m, twin) == NULL);
	eddy_hashmap_clear(&m);
}

static void test_next(void)
{
	struct eddy_hashmap m = {0};
	static bool seen[N];
	const void *k;
	void *v;
	size_t i = 0, visits = 0;

	CHECK(!eddy_hashmap_next(&m, &i, &k, &v));
	for (int j = 0; j < 100; j++)
		eddy_hashmap_put(&m, keys[j], &vals[j]);
	for (i = 0; eddy_hashmap_next(&m, &i, &k, &v);) {
		int j = (int)((int *)v - vals);

		visits++;
		CHECK(j >= 0 && j < 100 && !seen[j] && k == keys[j]);
		if (j >= 0 && j < 100)
			seen[j] = true;
	}
	CHECK(visits == 100);
	i = 0;
	CHECK(eddy_hashmap_next(&m, &i, NULL, NULL));
	eddy_hashmap_clear(&m);
}

/* The validator's torture tests need a put that fails cleanly. */
static void test_out_of_memory(void)
{
	struct eddy_hashmap m = {0};
	int j = 0;

	eddy_alloc_fail_at(1, false);
	CHECK(eddy_hashmap_put(&m, keys[0], &vals[0]) == -1);
	eddy_alloc_fail_at(0, false);
	CHECK(m.n == 0 && m.cap == 0 && eddy_hashmap_get(&m, keys[0]) == NULL);

	/* fill up to the next doubling, then fail it */
	for (; (size_t)(j + 1) * 2 <= 64; j++)
		CHECK(eddy_hashmap_put(&m, keys[j], &vals[j]) == 0);
	CHECK(m.cap == 64 && m.n == 32);
	eddy_alloc_fail_at(1, false);
	CHECK(eddy_hashmap_put(&m, keys[j], &vals[j]) == -1);
	CHECK(eddy_alloc_failed());
	eddy_alloc_fail_at(0, false);
	CHECK(m.cap == 64 && m.n == 32);
	CHECK(eddy_hashmap_get(&m, keys[j]) == NULL);
	for (int i = 0; i < j; i++)
		CHECK(eddy_hashmap_get(&m, keys[i]) == &vals[i]);
	eddy_hashmap_clear(&m);
}

int main(void)
{
	test_strings();
	test_pointers();
	test_next();
	test_out_of_memory();
	return test_report("test_hashmap");
}
