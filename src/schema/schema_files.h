/* schema_files.h - the local schema resolver: maps URIs to files by the
 * $id index of a folder, URI prefixes (schemas.map) and file:// URIs below
 * the allowed folders. Used by the service (schemas.c) and eddy validate. */
#ifndef EDDY_SCHEMA_FILES_H
#define EDDY_SCHEMA_FILES_H

#include <stdbool.h>
#include <stddef.h>

struct eddy_schema_files;
struct eddy_schema_files *eddy_schema_files_new(void);
void eddy_schema_files_destroy(struct eddy_schema_files *f);
/* Indexes every *.json below dir by its $id; a missing dir is fine unless
 * must_exist. */
int eddy_schema_files_index(struct eddy_schema_files *f, const char *dir, bool must_exist,
                            char *errstr, size_t errstr_size);
int eddy_schema_files_map(struct eddy_schema_files *f, const char *prefix, const char *dir,
                          char *errstr, size_t errstr_size);
/* Makes file:// URIs below dir readable. */
int eddy_schema_files_allow(struct eddy_schema_files *f, const char *dir, char *errstr,
                            size_t errstr_size);
/* An eddy_jsonschema_resolve_fn; ud is the struct eddy_schema_files. */
int eddy_schema_files_resolve(void *ud, const char *uri, char **text, size_t *len, char *errstr,
                              size_t errstr_size);
/* "file:///abs/path" of path, or NULL. Caller frees. */
char *eddy_schema_file_uri(const char *path);

#endif
