/* readfile.c - a whole file into memory; the files of a folder. */
#include "readfile.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

char *eddy_read_file(const char *path, size_t *len, char *errstr, size_t errstr_size)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!fp) {
		eddy_errf(errstr, errstr_size, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n + 4096 + 1 > cap) {
			size_t ncap = cap ? cap * 2 : 8192;
			char *b = ncap > (64u << 20) ? NULL : realloc(buf, ncap);
			if (!b) {
				eddy_errf(errstr, errstr_size, "%s: too big or out of memory",
				          path);
				goto err;
			}
			buf = b;
			cap = ncap;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, fp);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(fp)) {
		eddy_errf(errstr, errstr_size, "%s: %s", path, strerror(errno));
		goto err;
	}
	fclose(fp);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
err:
	free(buf);
	fclose(fp);
	return NULL;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n > k && strcmp(s + n - k, suffix) == 0;
}

int eddy_list_files(const char *dir, const char *suffix, const char *except, char ***names,
                    size_t *n, char *errstr, size_t errstr_size)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t len = 0, cap = 0;

	*names = NULL;
	*n = 0;
	if (!d) {
		snprintf(errstr, errstr_size, "%s/: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		size_t nl = strlen(e->d_name);
		struct stat st;
		char *path;
		if (e->d_name[0] == '.' || !ends_with(e->d_name, nl, suffix) ||
		    (except && ends_with(e->d_name, nl, except)))
			continue;
		if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
			goto oom;
		int is_file = stat(path, &st) == 0 && S_ISREG(st.st_mode);
		free(path);
		if (!is_file)
			continue;
		if (len == cap) {
			char **nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof *v);
			if (!nv)
				goto oom;
			v = nv;
		}
		if (!(v[len] = strdup(e->d_name)))
			goto oom;
		len++;
	}
	closedir(d);
	if (len)
		qsort(v, len, sizeof *v, cmp_names);
	*names = v;
	*n = len;
	return 0;
oom:
	closedir(d);
	for (size_t i = 0; i < len; i++)
		free(v[i]);
	free(v);
	snprintf(errstr, errstr_size, "%s/: out of memory", dir);
	return -1;
}
