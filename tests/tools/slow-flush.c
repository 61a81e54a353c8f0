/* slow-flush.c - an LD_PRELOAD library for the end-to-end specs: every
 * fsync and fdatasync waits SLOW_FLUSH_MS milliseconds (default 30) before
 * doing its work, as on a disk that honours flushes, so that what a flush
 * per operation costs shows on a machine whose disk ignores them.
 *
 *   cc -shared -fPIC -o slow-flush.so tests/tools/slow-flush.c
 *   LD_PRELOAD=$PWD/slow-flush.so SLOW_FLUSH_MS=30 eddy run ...
 *
 * An ASan binary also needs ASAN_OPTIONS=verify_asan_link_order=0. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void flush_wait(void)
{
	const char *env = getenv("SLOW_FLUSH_MS");
	long ms = env ? atol(env) : 30;
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	if (ms > 0)
		nanosleep(&ts, NULL);
}

int fsync(int fd)
{
	flush_wait();
	return (int)syscall(SYS_fsync, fd);
}

int fdatasync(int fd)
{
	flush_wait();
	return (int)syscall(SYS_fdatasync, fd);
}
