/* alloc.c - allocations that a test can make fail (alloc.h). */
#include "alloc.h"

#include <stdlib.h>

/* Per thread, so that a test's failures never reach another thread. */
static _Thread_local struct {
	unsigned long fail_at; /* 0: off */
	unsigned long count;
	bool sticky, failed;
} inject;

bool eddy_alloc_fails(void)
{
	if (!inject.fail_at)
		return false;
	if (++inject.count < inject.fail_at || (inject.count > inject.fail_at && !inject.sticky))
		return false;
	inject.failed = true;
	return true;
}

void *eddy_alloc_malloc(size_t size)
{
	return eddy_alloc_fails() ? NULL : malloc(size);
}

void *eddy_alloc_calloc(size_t n, size_t size)
{
	return eddy_alloc_fails() ? NULL : calloc(n, size);
}

void *eddy_alloc_realloc(void *p, size_t size)
{
	return eddy_alloc_fails() ? NULL : realloc(p, size);
}

void eddy_alloc_fail_at(unsigned long nth, bool sticky)
{
	inject.fail_at = nth;
	inject.count = 0;
	inject.sticky = sticky;
	inject.failed = false;
}

unsigned long eddy_alloc_count(void)
{
	return inject.count;
}

bool eddy_alloc_failed(void)
{
	return inject.failed;
}
