/* readfile.h - a whole file into memory (handlers, schemas, config), and
 * the files of a folder (handlers, rule files). */
#ifndef EDDY_READFILE_H
#define EDDY_READFILE_H

#include <stddef.h>

/* Reads all of path, NUL-terminated (the text may hold NULs: *len says how
 * long it is); the caller frees it. Files past 64 MiB are refused. NULL with
 * "path: reason" in errstr. */
char *eddy_read_file(const char *path, size_t *len, char *errstr, size_t errstr_size);

/* The regular files of dir (hidden ones left out) whose names end in
 * suffix but not in except (NULL: none), sorted by name. Returns 0 with
 * *names (the caller frees each and the array) and *n, or -1 with
 * "dir/: reason" in errstr. */
int eddy_list_files(const char *dir, const char *suffix, const char *except, char ***names,
                    size_t *n, char *errstr, size_t errstr_size);

#endif
