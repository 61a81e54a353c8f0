/* jsonschema_uri.c - URI references resolved against a base (RFC 3986
 * section 5), the way $id, $ref and $schema are read. A leaf. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "jsonschema_int.h"

struct uri_parts {
	const char *scheme, *auth, *path, *query, *frag;
	size_t scheme_len, auth_len, path_len, query_len, frag_len;
	bool has_scheme, has_auth, has_query, has_frag;
};

static void uri_split(const char *s, struct uri_parts *u)
{
	const char *p = s;

	memset(u, 0, sizeof(*u));
	/* scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
	while (*p && !strchr(":/?#", *p))
		p++;
	if (*p == ':' && p > s) {
		u->has_scheme = true;
		u->scheme = s;
		u->scheme_len = (size_t)(p - s);
		s = p + 1;
	}
	if (s[0] == '/' && s[1] == '/') {
		u->has_auth = true;
		u->auth = s + 2;
		u->auth_len = strcspn(u->auth, "/?#");
		s = u->auth + u->auth_len;
	}
	u->path = s;
	u->path_len = strcspn(s, "?#");
	s += u->path_len;
	if (*s == '?') {
		u->has_query = true;
		u->query = s + 1;
		u->query_len = strcspn(u->query, "#");
		s = u->query + u->query_len;
	}
	if (*s == '#') {
		u->has_frag = true;
		u->frag = s + 1;
		u->frag_len = strlen(u->frag);
	}
}

/* RFC 3986 5.2.4, in place on a NUL-terminated path. */
static void remove_dot_segments(char *path)
{
	char *in = path, *out = path;

	while (*in) {
		if (strncmp(in, "../", 3) == 0) {
			in += 3;
		} else if (strncmp(in, "./", 2) == 0) {
			in += 2;
		} else if (strncmp(in, "/./", 3) == 0) {
			in += 2;
		} else if (strcmp(in, "/.") == 0) {
			in[1] = 0;
		} else if (strncmp(in, "/../", 4) == 0 || strcmp(in, "/..") == 0) {
			in += 3;
			if (*in == 0)
				*--in = '/';
			else
				in[0] = '/';
			while (out > path && *--out != '/')
				;
		} else if (strcmp(in, ".") == 0 || strcmp(in, "..") == 0) {
			break;
		} else {
			/* first segment of in, with its leading "/" if any */
			do
				*out++ = *in++;
			while (*in && *in != '/');
		}
	}
	*out = 0;
}

static void cat(char **p, const char *s, size_t n)
{
	memcpy(*p, s, n);
	*p += n;
}

char *eddy_jsonschema_uri_resolve(struct eddy_jsonschema_set *set, const char *base,
                                  const char *ref)
{
	struct uri_parts b, r;
	size_t cap = strlen(base) + strlen(ref) + 8;
	char *buf = eddy_alloc_malloc(cap), *o = buf, *path = eddy_alloc_malloc(cap), *res = NULL;

	if (!buf || !path) {
		set->oom = true;
		goto out;
	}
	uri_split(base, &b);
	uri_split(ref, &r);
	path[0] = 0;
	if (r.has_scheme) {
		b = r;
	} else if (r.has_auth) {
		b.auth = r.auth, b.auth_len = r.auth_len, b.has_auth = true;
		b.path = r.path, b.path_len = r.path_len;
		b.query = r.query, b.query_len = r.query_len, b.has_query = r.has_query;
	} else if (r.path_len == 0) {
		if (r.has_query)
			b.query = r.query, b.query_len = r.query_len, b.has_query = true;
	} else {
		if (r.path[0] == '/') {
			memcpy(path, r.path, r.path_len);
			path[r.path_len] = 0;
		} else {
			size_t keep = 0;

			if (b.has_auth && b.path_len == 0) {
				path[0] = '/';
				keep = 1;
			} else {
				for (size_t i = 0; i < b.path_len; i++)
					if (b.path[i] == '/')
						keep = i + 1;
				memcpy(path, b.path, keep);
			}
			memcpy(path + keep, r.path, r.path_len);
			path[keep + r.path_len] = 0;
		}
		b.path = path;
		b.path_len = strlen(path);
		b.query = r.query, b.query_len = r.query_len, b.has_query = r.has_query;
	}
	if (b.has_scheme) {
		cat(&o, b.scheme, b.scheme_len);
		cat(&o, ":", 1);
	}
	if (b.has_auth) {
		cat(&o, "//", 2);
		cat(&o, b.auth, b.auth_len);
	}
	{
		char *start = o;

		cat(&o, b.path, b.path_len);
		*o = 0;
		/* only hierarchical paths have dot segments */
		if (start[0] == '/' || b.has_auth)
			remove_dot_segments(start);
		o = start + strlen(start);
	}
	if (b.has_query) {
		cat(&o, "?", 1);
		cat(&o, b.query, b.query_len);
	}
	/* an empty fragment names the same resource as none */
	if (r.has_frag && r.frag_len) {
		cat(&o, "#", 1);
		cat(&o, r.frag, r.frag_len);
	}
	*o = 0;
	res = eddy_jsonschema_strdup(set, buf);
out:
	free(buf);
	free(path);
	return res;
}
