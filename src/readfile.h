/* readfile.h - a whole file into memory (handlers, schemas, config). */
#ifndef EDDY_READFILE_H
#define EDDY_READFILE_H

#include <stddef.h>

/* Reads all of path, NUL-terminated (the text may hold NULs: *len says how
 * long it is); the caller frees it. Files past 64 MiB are refused. NULL with
 * "path: reason" in errstr. */
char *eddy_read_file(const char *path, size_t *len, char *errstr, size_t errstr_size);

#endif
