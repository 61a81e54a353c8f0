/* schema_files.c - the local schema resolver: schema files indexed by
 * their $id, URI prefixes mapped to folders, file:// URIs below allowed
 * folders; nothing outside them is read. */
#include "schema_files.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"
#include "log.h"
#include "readfile.h"
#include "text.h"

struct eddy_schema_files {
	struct eddy_text_pair *ids; /* $id -> file */
	size_t n_ids;
	struct eddy_text_pair *maps; /* URI prefix -> folder */
	size_t n_maps;
	char **roots; /* real paths of folders file:// may read */
	size_t n_roots;
};

struct eddy_schema_files *eddy_schema_files_new(void)
{
	return calloc(1, sizeof(struct eddy_schema_files));
}

void eddy_schema_files_destroy(struct eddy_schema_files *f)
{
	if (!f)
		return;
	eddy_text_pairs_free(f->ids, f->n_ids);
	eddy_text_pairs_free(f->maps, f->n_maps);
	for (size_t i = 0; i < f->n_roots; i++)
		free(f->roots[i]);
	free(f->roots);
	free(f);
}

char *eddy_schema_file_uri(const char *path)
{
	char real[PATH_MAX];
	if (!realpath(path, real))
		return NULL;
	size_t n = strlen(real) + sizeof "file://";
	char *uri = malloc(n);
	if (uri)
		snprintf(uri, n, "file://%s", real);
	return uri;
}

/* The length of uri without an empty trailing fragment ("urn:x#" is "urn:x"). */
static size_t uri_len(const char *uri)
{
	size_t n = strlen(uri);
	return n && uri[n - 1] == '#' ? n - 1 : n;
}

static int index_file(struct eddy_schema_files *f, struct eddy_json_doc *doc, const char *path,
                      char *errstr, size_t errstr_size)
{
	char jerr[256] = "";
	size_t len;
	char *text = eddy_read_file(path, &len, errstr, errstr_size);
	if (!text)
		return -1;
	const struct eddy_json *root = eddy_json_parse(doc, text, len, jerr, sizeof jerr);
	int rc = 0;
	if (!root) {
		eddy_errf(errstr, errstr_size, "%s: not JSON: %s", path, jerr);
		rc = -1;
		goto out;
	}
	const char *id = eddy_json_str(eddy_json_getz(root, "$id"));
	if (!id) /* draft-04 */
		id = eddy_json_str(eddy_json_getz(root, "id"));
	/* a relative $id means nothing without a base: the file:// URI serves */
	if (!id || !strchr(id, ':'))
		goto out;
	size_t n = uri_len(id);
	for (size_t i = 0; i < f->n_ids; i++)
		if (strlen(f->ids[i].a) == n && strncmp(f->ids[i].a, id, n) == 0) {
			eddy_errf(errstr, errstr_size, "%s and %s both have $id \"%s\"",
			          f->ids[i].b, path, id);
			rc = -1;
			goto out;
		}
	char *key = strndup(id, n);
	if (!key || eddy_text_pair_push(&f->ids, &f->n_ids, key, path) < 0) {
		eddy_errf(errstr, errstr_size, "out of memory");
		rc = -1;
	}
	free(key);
out:
	free(text);
	return rc;
}

static int index_dir(struct eddy_schema_files *f, struct eddy_json_doc *doc, const char *dir,
                     int depth, char *errstr, size_t errstr_size)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	int rc = 0;

	if (n < 0) {
		eddy_errf(errstr, errstr_size, "%s: %s", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char path[PATH_MAX];
		struct stat st;
		size_t len = strlen(name);

		if (rc || name[0] == '.')
			goto next;
		snprintf(path, sizeof path, "%s/%s", dir, name);
		if (stat(path, &st) != 0)
			goto next;
		if (S_ISDIR(st.st_mode) && depth < 8)
			rc = index_dir(f, doc, path, depth + 1, errstr, errstr_size);
		else if (S_ISREG(st.st_mode) && len > 5 && strcmp(name + len - 5, ".json") == 0)
			rc = index_file(f, doc, path, errstr, errstr_size);
	next:
		free(names[i]);
	}
	free(names);
	return rc;
}

int eddy_schema_files_index(struct eddy_schema_files *f, const char *dir, bool must_exist,
                            char *errstr, size_t errstr_size)
{
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		if (!must_exist)
			return 0;
		eddy_errf(errstr, errstr_size, "%s: not a folder", dir);
		return -1;
	}
	struct eddy_json_doc *doc = eddy_json_doc_new();
	if (!doc) {
		eddy_errf(errstr, errstr_size, "out of memory");
		return -1;
	}
	int rc = eddy_schema_files_allow(f, dir, errstr, errstr_size);
	if (rc == 0)
		rc = index_dir(f, doc, dir, 0, errstr, errstr_size);
	eddy_json_doc_destroy(doc);
	return rc;
}

int eddy_schema_files_map(struct eddy_schema_files *f, const char *prefix, const char *dir,
                          char *errstr, size_t errstr_size)
{
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		eddy_errf(errstr, errstr_size, "schemas.map: \"%s\": %s is not a folder", prefix,
		          dir);
		return -1;
	}
	if (eddy_text_pair_push(&f->maps, &f->n_maps, prefix, dir) < 0) {
		eddy_errf(errstr, errstr_size, "out of memory");
		return -1;
	}
	return eddy_schema_files_allow(f, dir, errstr, errstr_size);
}

int eddy_schema_files_allow(struct eddy_schema_files *f, const char *dir, char *errstr,
                            size_t errstr_size)
{
	char real[PATH_MAX];
	if (!realpath(dir, real)) {
		eddy_errf(errstr, errstr_size, "%s: %s", dir, strerror(errno));
		return -1;
	}
	char **r = realloc(f->roots, (f->n_roots + 1) * sizeof *r);
	if (!r || !(r[f->n_roots] = strdup(real))) {
		if (r)
			f->roots = r;
		eddy_errf(errstr, errstr_size, "out of memory");
		return -1;
	}
	f->roots = r;
	f->n_roots++;
	return 0;
}

/* Percent-decodes s into out; false when it does not fit or holds %00. */
static bool pct_decode(const char *s, char *out, size_t out_size)
{
	size_t n = strlen(s);
	return n < out_size && eddy_pct_decode(s, n, out) == strlen(out);
}

/* Reads path if it lies below one of the allowed folders. */
static int read_allowed(struct eddy_schema_files *f, const char *uri, const char *path, char **text,
                        size_t *len, char *errstr, size_t errstr_size)
{
	char real[PATH_MAX];
	if (!realpath(path, real)) {
		eddy_errf(errstr, errstr_size, "%s: %s", uri, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < f->n_roots; i++) {
		size_t n = strlen(f->roots[i]);
		if (strncmp(real, f->roots[i], n) == 0 &&
		    (real[n] == '/' || real[n] == '\0' || (n == 1 && f->roots[i][0] == '/'))) {
			*text = eddy_read_file(real, len, errstr, errstr_size);
			return *text ? 0 : -1;
		}
	}
	eddy_errf(errstr, errstr_size, "%s is outside the schema folders", uri);
	return -1;
}

int eddy_schema_files_resolve(void *ud, const char *uri, char **text, size_t *len, char *errstr,
                              size_t errstr_size)
{
	struct eddy_schema_files *f = ud;
	size_t n = uri_len(uri);
	char path[PATH_MAX], rest[PATH_MAX];

	for (size_t i = 0; i < f->n_ids; i++)
		if (strlen(f->ids[i].a) == n && strncmp(f->ids[i].a, uri, n) == 0) {
			*text = eddy_read_file(f->ids[i].b, len, errstr, errstr_size);
			return *text ? 0 : -1;
		}
	const struct eddy_text_pair *best = NULL;
	for (size_t i = 0; i < f->n_maps; i++) {
		size_t pl = strlen(f->maps[i].a);
		if (strncmp(uri, f->maps[i].a, pl) == 0 && (!best || pl > strlen(best->a)))
			best = &f->maps[i];
	}
	if (best) {
		const char *r = uri + strlen(best->a);
		while (*r == '/')
			r++;
		if (!pct_decode(r, rest, sizeof rest) || strstr(rest, "..") || strchr(rest, '?')) {
			eddy_errf(errstr, errstr_size, "%s: no such file below %s", uri, best->b);
			return -1;
		}
		if (snprintf(path, sizeof path, "%s/%s", best->b, rest) >= (int)sizeof path) {
			eddy_errf(errstr, errstr_size, "%s: path too long", uri);
			return -1;
		}
		return read_allowed(f, uri, path, text, len, errstr, errstr_size);
	}
	if (strncmp(uri, "file://", 7) == 0) {
		const char *p = uri + 7;
		if (strncmp(p, "localhost/", 10) == 0)
			p += 9;
		if (*p != '/' || !pct_decode(p, path, sizeof path)) {
			eddy_errf(errstr, errstr_size, "%s: not a local file URI", uri);
			return -1;
		}
		return read_allowed(f, uri, path, text, len, errstr, errstr_size);
	}
	eddy_errf(errstr, errstr_size,
	          "no local schema has $id \"%s\" and no schemas.map prefix matches it", uri);
	return -1;
}
