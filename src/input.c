/* input.c - records from NDJSON or KEY<TAB>VALUE files. */
#include "input.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct eddy_input {
	FILE *f;
	char *path;
	char *topic;
	char *line;
	size_t cap;
	size_t lineno;
	int64_t records;
	struct eddy_json_doc *doc; /* only to find the id of NDJSON lines */
};

struct eddy_input *eddy_input_open(const char *path, const char *topic, char *errstr,
                                   size_t errstr_size)
{
	struct eddy_input *in = calloc(1, sizeof *in);
	if (!in || !(in->path = strdup(path)) || !(in->topic = strdup(topic)) ||
	    !(in->doc = eddy_json_doc_new())) {
		snprintf(errstr, errstr_size, "out of memory");
		goto err;
	}
	if (strcmp(path, "-") == 0) {
		in->f = stdin;
	} else if (!(in->f = fopen(path, "r"))) {
		snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
		goto err;
	}
	return in;
err:
	eddy_input_destroy(in);
	return NULL;
}

void eddy_input_destroy(struct eddy_input *in)
{
	if (!in)
		return;
	if (in->f && in->f != stdin)
		fclose(in->f);
	eddy_json_doc_destroy(in->doc);
	free(in->path);
	free(in->topic);
	free(in->line);
	free(in);
}

int eddy_input_next(struct eddy_input *in, struct eddy_msg *m, char *errstr, size_t errstr_size)
{
	for (;;) {
		errno = 0;
		ssize_t n = getline(&in->line, &in->cap, in->f);
		if (n < 0) {
			if (errno) {
				snprintf(errstr, errstr_size, "%s: %s", in->path, strerror(errno));
				return -1;
			}
			return 0;
		}
		in->lineno++;
		while (n > 0 && (in->line[n - 1] == '\n' || in->line[n - 1] == '\r'))
			in->line[--n] = '\0';
		size_t skip = strspn(in->line, " \t");
		if ((size_t)n == skip)
			continue;

		*m = (struct eddy_msg){
		    .topic = in->topic, .offset = in->records++, .timestamp_ms = -1};
		char *tab = memchr(in->line, '\t', (size_t)n);
		if (in->line[skip] != '{' && tab) {
			m->key = in->line;
			m->key_len = (size_t)(tab - in->line);
			if (tab + 1 < in->line + n) {
				m->value = tab + 1;
				m->value_len = (size_t)(in->line + n - (tab + 1));
			}
			return 1;
		}
		m->value = in->line;
		m->value_len = (size_t)n;
		char err[256];
		const struct eddy_json *root =
		    eddy_json_parse(in->doc, in->line, (size_t)n, err, sizeof err);
		const struct eddy_json *id = root ? eddy_json_getz(root, "id") : NULL;
		if (id && id->type == EDDY_JSON_STRING) {
			m->key = id->u.s;
			m->key_len = id->len;
		}
		return 1;
	}
}

size_t eddy_input_line(const struct eddy_input *in)
{
	return in->lineno;
}

const char *eddy_input_topic_of(const char *path, char *buf, size_t size)
{
	if (strcmp(path, "-") == 0) {
		snprintf(buf, size, "stdin");
		return buf;
	}
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	const char *dot = strrchr(base, '.');
	size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
	snprintf(buf, size, "%.*s", (int)n, base);
	return buf;
}
