/* readfile.c - a whole file into memory. */
#include "readfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
