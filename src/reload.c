/* reload.c - inotify watches on the handler and schema folders, SIGHUP, and
 * the debounce that turns a burst of writes into one reload. */
#include "reload.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define WATCH_MASK                                                                                 \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF |   \
	 IN_MOVE_SELF | IN_ATTRIB)

/* Subfolders deeper than this are not watched (handlers/lib/a/b is plenty). */
#define MAX_DEPTH 4

static volatile sig_atomic_t requested;

struct eddy_reload {
	int fd; /* inotify, -1 when not watching */
	char **dirs;
	size_t n_dirs;
	int debounce_ms;
	bool pending;
	struct timespec last; /* of the last change seen */
};

void eddy_reload_request(void)
{
	requested = 1;
}

static void watch_tree(struct eddy_reload *r, const char *dir, int depth)
{
	struct stat st;

	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return;
	/* watching a watched folder again returns the same watch: harmless */
	if (inotify_add_watch(r->fd, dir, WATCH_MASK) < 0) {
		eddy_log(EDDY_LOG_WARN, "cannot watch %s for changes: %s", dir, strerror(errno));
		return;
	}
	if (depth >= MAX_DEPTH)
		return;
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[PATH_MAX];
		if (e->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
			continue;
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			watch_tree(r, path, depth + 1);
	}
	closedir(d);
}

static void watch_all(struct eddy_reload *r)
{
	for (size_t i = 0; r->fd >= 0 && i < r->n_dirs; i++)
		watch_tree(r, r->dirs[i], 0);
}

struct eddy_reload *eddy_reload_new(const char *const *dirs, size_t n_dirs, bool watch,
                                    int debounce_ms, char *errstr, size_t errstr_size)
{
	struct eddy_reload *r = calloc(1, sizeof *r);

	if (!r || (n_dirs && !(r->dirs = calloc(n_dirs, sizeof *r->dirs))))
		goto oom;
	r->fd = -1;
	r->debounce_ms = debounce_ms;
	for (size_t i = 0; i < n_dirs; i++) {
		if (!(r->dirs[i] = strdup(dirs[i])))
			goto oom;
		r->n_dirs++;
	}
	if (watch) {
		r->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (r->fd < 0) {
			eddy_errf(errstr, errstr_size, "inotify: %s", strerror(errno));
			eddy_reload_destroy(r);
			return NULL;
		}
		watch_all(r);
	}
	requested = 0;
	return r;
oom:
	eddy_errf(errstr, errstr_size, "out of memory");
	eddy_reload_destroy(r);
	return NULL;
}

void eddy_reload_destroy(struct eddy_reload *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	for (size_t i = 0; i < r->n_dirs; i++)
		free(r->dirs[i]);
	free(r->dirs);
	free(r);
}

/* Reads what inotify has; true when something other than hidden files
 * (editor swap files, ".#x") changed. */
static bool drain(struct eddy_reload *r)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	ssize_t n;

	while ((n = read(r->fd, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			bool hidden = ev->len && ev->name[0] == '.';
			size_t nl = ev->len ? strlen(ev->name) : 0;
			bool backup = nl && ev->name[nl - 1] == '~';
			if (ev->mask & IN_Q_OVERFLOW)
				changed = true;
			else if (!(ev->mask & IN_IGNORED) && !hidden && !backup)
				changed = true;
			p += sizeof *ev + ev->len;
		}
	}
	return changed;
}

static long ms_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000L + (now.tv_nsec - t->tv_nsec) / 1000000L;
}

bool eddy_reload_due(struct eddy_reload *r)
{
	bool changed = false;

	if (requested) {
		requested = 0;
		changed = true;
		eddy_log(EDDY_LOG_INFO, "reload requested (SIGHUP)");
	}
	if (r->fd >= 0 && drain(r))
		changed = true;
	if (changed) {
		r->pending = true;
		clock_gettime(CLOCK_MONOTONIC, &r->last);
	}
	return r->pending && ms_since(&r->last) >= r->debounce_ms;
}

void eddy_reload_done(struct eddy_reload *r)
{
	r->pending = false;
	/* folders created (handlers/lib) or replaced since are watched now */
	watch_all(r);
}
