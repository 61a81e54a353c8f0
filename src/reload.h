/* reload.h - notices that handlers (or schemas) changed on disk: inotify on
 * their folders, or SIGHUP; bursts of writes (editors save in several steps)
 * are debounced into one reload. */
#ifndef EDDY_RELOAD_H
#define EDDY_RELOAD_H

#include <stdbool.h>
#include <stddef.h>

struct eddy_reload;

/* Watches each of dirs (missing ones are skipped; a subfolder created later
 * is watched from the next reload on) when watch is true; SIGHUP works
 * either way. NULL with errstr when inotify cannot be set up. */
struct eddy_reload *eddy_reload_new(const char *const *dirs, size_t n_dirs, bool watch,
                                    int debounce_ms, char *errstr, size_t errstr_size);
void eddy_reload_destroy(struct eddy_reload *r);

/* Asks for a reload; safe in a signal handler (SIGHUP). */
void eddy_reload_request(void);

/* Non-blocking: true once a change (or a request) was seen and debounce_ms
 * passed without another. The caller reloads, then calls
 * eddy_reload_done(), which also watches subfolders that appeared. */
bool eddy_reload_due(struct eddy_reload *r);
void eddy_reload_done(struct eddy_reload *r);

#endif
