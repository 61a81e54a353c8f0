/* alloc.h - malloc, calloc and realloc for the modules that must live
 * through running out of memory at run time (the schema validator, its
 * regexes and hash maps), with failures a test can ask for: the Nth
 * allocation of the calling thread from now on fails, as in curl's
 * "torture" tests.
 * Production never asks; what it pays is one thread-local test per call. */
#ifndef EDDY_ALLOC_H
#define EDDY_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *eddy_alloc_malloc(size_t size);
void *eddy_alloc_calloc(size_t n, size_t size);
void *eddy_alloc_realloc(void *p, size_t size);

/* Counts one allocation served from memory already held (an arena's
 * chunk): true when it is to fail. */
bool eddy_alloc_fails(void);

/* Tests: the nth allocation of this thread from now fails (1: the next),
 * and when sticky every one after it too; 0 stops failing and counting. */
void eddy_alloc_fail_at(unsigned long nth, bool sticky);
/* Allocations counted since eddy_alloc_fail_at. */
unsigned long eddy_alloc_count(void);
/* Whether one of them failed. */
bool eddy_alloc_failed(void);

#endif
