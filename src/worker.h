/* worker.h - a thread of its own that sleeps on a condition until it has
 * work or is stopped: what the store's writer and the fetch nudge share.
 * The owner's work flags and the thread's loop stay the owner's; both take
 * lock, and the loop ends once it sees stopping. */
#ifndef EDDY_WORKER_H
#define EDDY_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct eddy_worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* work for the thread, or the stop */
	bool stopping;       /* under lock */
};

/* Initialises w's lock and condition and runs fn(arg) on a new thread.
 * Returns 0, or -1 with errstr ("<what> thread: <reason>") and nothing
 * left to destroy. */
int eddy_worker_start(struct eddy_worker *w, void *(*fn)(void *), void *arg, const char *what,
                      char *errstr, size_t errstr_size);
/* Sets stopping, wakes the thread, waits for it to end, and destroys the
 * lock and condition. */
void eddy_worker_stop(struct eddy_worker *w);

#endif
