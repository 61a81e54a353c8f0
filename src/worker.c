/* worker.c - see worker.h */
#include "worker.h"

#include <string.h>

#include "log.h"

int eddy_worker_start(struct eddy_worker *w, void *(*fn)(void *), void *arg, const char *what,
                      char *errstr, size_t errstr_size)
{
	w->stopping = false;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	int err = pthread_create(&w->thread, NULL, fn, arg);
	if (err) {
		eddy_errf(errstr, errstr_size, "%s thread: %s", what, strerror(err));
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->lock);
		return -1;
	}
	return 0;
}

void eddy_worker_stop(struct eddy_worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
}
