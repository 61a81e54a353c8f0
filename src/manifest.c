/* manifest.c - eddy manifest: what one deployment consumes and produces,
 * for the owners of the data products it reads ("who consumes my data
 * product?"): its consumer group and topics, the CloudEvents types its
 * handlers and rules subscribe to, the schemas that check them, what the
 * handlers publish, its dead-letter topic and alert sinks. Written as JSON
 * once, shown as JSON or YAML. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "handlers.h"
#include "json.h"
#include "jsonw.h"
#include "schema/registry.h"
#include "schema/schemas.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: eddy manifest [-c FILE] [--format yaml|json]\n"
	           "  -c, --config FILE   the configuration (default conf/eddy.yaml if present)\n"
	           "  --format F          yaml (default) or json\n"
	           "What this deployment consumes and produces: consumer group, topics,\n"
	           "CloudEvents types of its handlers and rules, schemas (local files; registry\n"
	           "subjects with their latest version when a registry is configured), the\n"
	           "topics and types its handlers publish, dead letters, alert sinks.\n"
	           "exit status: 0 written, 1 the config or a handler does not load, 2 errors "
	           "of use\n");
}

static void string(struct eddy_jsonw *w, const char *s)
{
	eddy_jsonw_string(w, s, strlen(s));
}

static void member(struct eddy_jsonw *w, const char *key, const char *s)
{
	if (s)
		eddy_jsonw_member(w, key, s, strlen(s));
}

static void list(struct eddy_jsonw *w, const char *key, const char *const *v, size_t n)
{
	eddy_jsonw_key(w, key);
	eddy_jsonw_array(w);
	for (size_t i = 0; i < n; i++)
		string(w, v[i]);
	eddy_jsonw_end(w);
}

static const char *kafka_value(const struct eddy_config *conf, const char *key)
{
	for (size_t i = 0; i < conf->n_kafka; i++)
		if (strcmp(conf->kafka[i].key, key) == 0)
			return conf->kafka[i].value;
	return NULL;
}

/* url without what may be secret: user info, path and query ("https://
 * hooks.slack.com/services/T0/B0/XXXX" names its secret in the path). */
static void url_origin(struct eddy_jsonw *w, const char *key, const char *url)
{
	if (!url)
		return;
	const char *host = strstr(url, "://");
	host = host ? host + 3 : url;
	const char *end = host + strcspn(host, "/?#");
	const char *at = memchr(host, '@', (size_t)(end - host));
	if (at)
		host = at + 1;
	const char *scheme_end = strstr(url, "://");
	char buf[512];
	snprintf(buf, sizeof buf, "%.*s%.*s", scheme_end ? (int)(scheme_end - url + 3) : 0, url,
	         (int)(end - host), host);
	member(w, key, buf);
}

/* A string literal at p (Lua quotes); its text up to the closing quote, or
 * NULL when p is not at one or it has escapes (a computed name to us). */
static const char *literal(const char *p, const char *end, size_t *len)
{
	if (p >= end || (*p != '"' && *p != '\''))
		return NULL;
	const char *close = memchr(p + 1, *p, (size_t)(end - p - 1));
	if (!close || memchr(p + 1, '\\', (size_t)(close - p - 1)))
		return NULL;
	*len = (size_t)(close - p - 1);
	return p + 1;
}

/* Writes the value of field name in the table constructor [p, end) when it
 * is a string literal ("topic = 'x'"), else "(computed)", or nothing when
 * the field is not there. */
static void field(struct eddy_jsonw *w, const char *name, const char *p, const char *end)
{
	size_t n = strlen(name);
	for (const char *q = p; q + n < end; q++) {
		if (memcmp(q, name, n) != 0 ||
		    (q > p && (q[-1] == '_' || isalnum((unsigned char)q[-1]))))
			continue;
		const char *v = q + n;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		if (v >= end || *v != '=' || (v + 1 < end && v[1] == '='))
			continue;
		for (v++; v < end && (*v == ' ' || *v == '\t' || *v == '\n'); v++)
			;
		size_t len;
		const char *s = literal(v, end, &len);
		if (s) {
			/* only a literal alone is the name ("a" .. x is computed) */
			const char *after = s + len + 1;
			while (after < end && (*after == ' ' || *after == '\t'))
				after++;
			if (after < end && *after != ',' && *after != ';' && *after != '\n')
				s = NULL;
		}
		eddy_jsonw_key(w, name);
		if (s)
			eddy_jsonw_string(w, s, len);
		else
			string(w, "(computed)");
		return;
	}
}

/* The ctx.publish{...} calls of a handler's source, each with its topic
 * and type when they are string literals. A reading of the text, not of
 * what runs: a publish through a variable or a helper is not seen. */
static void publishes(struct eddy_jsonw *w, const char *src, size_t len)
{
	const char *end = src + len;
	eddy_jsonw_key(w, "publishes");
	eddy_jsonw_array(w);
	for (const char *p = src; (p = memmem(p, (size_t)(end - p), "publish", 7)); p += 7) {
		const char *q = p + 7;
		while (q < end && (*q == ' ' || *q == '(' || *q == '\n'))
			q++;
		if (q >= end || *q != '{')
			continue;
		/* the constructor: to its matching brace, strings skipped */
		int depth = 0;
		const char *c = q;
		for (; c < end; c++) {
			if (*c == '"' || *c == '\'') {
				const char *close = c + 1;
				while (close < end && *close != *c)
					close += *close == '\\' ? 2 : 1;
				c = close;
			} else if (*c == '{') {
				depth++;
			} else if (*c == '}' && --depth == 0) {
				break;
			}
		}
		eddy_jsonw_object(w);
		field(w, "topic", q, c);
		field(w, "type", q, c);
		eddy_jsonw_end(w);
	}
	eddy_jsonw_end(w);
}

static void handlers(struct eddy_jsonw *w, const struct eddy_handlers *h)
{
	static const char *const all[] = {"*"};
	eddy_jsonw_key(w, "handlers");
	eddy_jsonw_array(w);
	for (size_t i = 0; i < eddy_handlers_count(h); i++) {
		struct eddy_handler_info hi;
		if (!eddy_handlers_info(h, i, &hi))
			continue;
		eddy_jsonw_object(w);
		member(w, "path", hi.path);
		member(w, "kind", hi.rules ? "rules" : "handler");
		list(w, "types", hi.all_types ? all : hi.types, hi.all_types ? 1 : hi.n_types);
		list(w, "topics", hi.all_topics ? all : hi.topics, hi.all_topics ? 1 : hi.n_topics);
		if (!hi.rules)
			publishes(w, hi.src, hi.src_len);
		eddy_jsonw_end(w);
	}
	eddy_jsonw_end(w);
}

/* The registry subjects the topics imply (topic strategy: "<topic>-value"
 * for each topic named literally), with their latest version when the
 * registry answers. */
static void registry_subjects(struct eddy_jsonw *w, const struct eddy_config *conf)
{
	struct eddy_registry_conf rc;
	char err[512];
	eddy_schemas_registry_conf(conf, &rc);
	struct eddy_registry *r = eddy_registry_new(&rc, err, sizeof err);
	bool topic = strcmp(conf->registry_subject_strategy, "topic") == 0;

	eddy_jsonw_key(w, "subjects");
	eddy_jsonw_array(w);
	for (size_t i = 0; topic && r && i < conf->n_topics; i++) {
		if (conf->topics[i][0] == '^')
			continue; /* a pattern: its topics, and so subjects, are not known here */
		char subject[300];
		const struct eddy_registry_schema *s;
		snprintf(subject, sizeof subject, "%s-value", conf->topics[i]);
		eddy_jsonw_object(w);
		member(w, "subject", subject);
		int rc2 = eddy_registry_by_subject(r, subject, "latest", &s, err, sizeof err);
		if (rc2 > 0) {
			eddy_jsonw_key(w, "version");
			eddy_jsonw_int(w, s->version);
			eddy_jsonw_key(w, "id");
			eddy_jsonw_int(w, s->id);
		} else {
			member(w, "error", err);
		}
		eddy_jsonw_end(w);
	}
	eddy_jsonw_end(w);
	eddy_registry_destroy(r);
}

static void schemas(struct eddy_jsonw *w, const struct eddy_config *conf)
{
	eddy_jsonw_key(w, "schemas");
	eddy_jsonw_object(w);
	member(w, "dir", conf->schemas_dir);
	eddy_jsonw_key(w, "types");
	eddy_jsonw_object(w);
	for (size_t i = 0; i < conf->n_schema_types; i++)
		member(w, conf->schema_types[i].key, conf->schema_types[i].value);
	eddy_jsonw_end(w);
	eddy_jsonw_key(w, "map");
	eddy_jsonw_object(w);
	for (size_t i = 0; i < conf->n_schema_map; i++)
		member(w, conf->schema_map[i].key, conf->schema_map[i].value);
	eddy_jsonw_end(w);
	if (conf->registry_url) {
		eddy_jsonw_key(w, "registry");
		eddy_jsonw_object(w);
		url_origin(w, "url", conf->registry_url);
		member(w, "subject_strategy", conf->registry_subject_strategy);
		registry_subjects(w, conf);
		eddy_jsonw_end(w);
	}
	eddy_jsonw_end(w);
}

static void sinks(struct eddy_jsonw *w, const struct eddy_config *conf)
{
	eddy_jsonw_key(w, "alert_sinks");
	eddy_jsonw_array(w);
	for (size_t i = 0; i < conf->n_alert_sinks; i++) {
		eddy_jsonw_object(w);
		member(w, "name", conf->alert_sinks[i].name);
		member(w, "type", conf->alert_sinks[i].type);
		url_origin(w, "url", conf->alert_sinks[i].url);
		eddy_jsonw_end(w);
	}
	eddy_jsonw_end(w);
}

/* The manifest as JSON text (malloc'd), or NULL when out of memory. */
static char *manifest(const struct eddy_config *conf, const struct eddy_handlers *h, size_t *len)
{
	struct eddy_jsonw w;
	eddy_jsonw_init(&w, 0);
	eddy_jsonw_object(&w);
	eddy_jsonw_key(&w, "consumer");
	eddy_jsonw_object(&w);
	member(&w, "group", kafka_value(conf, "group.id"));
	member(&w, "bootstrap_servers", kafka_value(conf, "bootstrap.servers"));
	list(&w, "topics", (const char *const *)conf->topics, conf->n_topics);
	eddy_jsonw_end(&w);
	handlers(&w, h);
	schemas(&w, conf);
	member(&w, "dead_letter_topic", conf->dead_letter_topic);
	sinks(&w, conf);
	member(&w, "store", conf->store_type);
	eddy_jsonw_end(&w);
	return eddy_jsonw_take(&w, len);
}

/* A scalar as JSON text, which YAML reads the same. */
static void scalar(FILE *out, const char *s, size_t len)
{
	struct eddy_jsonw w;
	eddy_jsonw_init(&w, 0);
	eddy_jsonw_string(&w, s, len);
	size_t n;
	char *text = eddy_jsonw_take(&w, &n);
	fputs(text ? text : "\"\"", out);
	free(text);
}

static void yaml_scalar(FILE *out, const struct eddy_json *v)
{
	switch (v->type) {
	case EDDY_JSON_NULL:
		fputs("null", out);
		break;
	case EDDY_JSON_FALSE:
		fputs("false", out);
		break;
	case EDDY_JSON_TRUE:
		fputs("true", out);
		break;
	case EDDY_JSON_INT:
		fprintf(out, "%" PRId64, v->u.i);
		break;
	case EDDY_JSON_DOUBLE:
		fprintf(out, "%.17g", v->u.d);
		break;
	case EDDY_JSON_STRING:
		scalar(out, v->u.s, v->len);
		break;
	default:
		fwrite(v->raw, 1, v->raw_len, out);
	}
}

/* Whether a key reads the same unquoted: a name of letters, digits and
 * "_", not one YAML would take for something else. */
static bool plain_key(const char *k, size_t len)
{
	if (len == 0 || !isalpha((unsigned char)k[0]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '_')
			return false;
	static const char *const words[] = {"y",   "n",    "yes",   "no",  "on",
	                                    "off", "true", "false", "null"};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strlen(words[i]) == len && strncasecmp(k, words[i], len) == 0)
			return false;
	return true;
}

/* YAML of a JSON value after its key (or "- "): mappings and sequences of
 * mappings as blocks, lists of scalars in flow style. */
static void yaml(FILE *out, const struct eddy_json *v, int indent, bool in_seq)
{
	bool scalars = v->type == EDDY_JSON_ARRAY;
	for (uint32_t i = 0; scalars && i < v->len; i++)
		scalars =
		    v->u.items[i].type != EDDY_JSON_OBJECT && v->u.items[i].type != EDDY_JSON_ARRAY;
	if ((v->type != EDDY_JSON_OBJECT && v->type != EDDY_JSON_ARRAY) || v->len == 0 || scalars) {
		fputs(in_seq ? "" : " ", out);
		if (v->type == EDDY_JSON_ARRAY) {
			fputc('[', out);
			for (uint32_t i = 0; i < v->len; i++) {
				fputs(i ? ", " : "", out);
				yaml_scalar(out, &v->u.items[i]);
			}
			fputc(']', out);
		} else if (v->type == EDDY_JSON_OBJECT) {
			fputs("{}", out);
		} else {
			yaml_scalar(out, v);
		}
		fputc('\n', out);
		return;
	}
	if (!in_seq)
		fputc('\n', out);
	for (uint32_t i = 0; i < v->len; i++) {
		if (v->type == EDDY_JSON_ARRAY) {
			fprintf(out, "%*s- ", indent, "");
			yaml(out, &v->u.items[i], indent + 2, true);
			continue;
		}
		const struct eddy_json_member *m = &v->u.members[i];
		if (!(in_seq && i == 0))
			fprintf(out, "%*s", indent, "");
		if (plain_key(m->key, m->key_len))
			fwrite(m->key, 1, m->key_len, out);
		else
			scalar(out, m->key, m->key_len);
		fputc(':', out);
		yaml(out, &m->value, indent + 2, false);
	}
}

int eddy_cmd_manifest(int argc, char **argv)
{
	const char *path = NULL, *format = "yaml";
	const struct eddy_cli_opt opts[] = {
	    {.name = "config", .letter = 'c', .value = &path},
	    {.name = "format", .value = &format},
	    {0},
	};
	int status;
	struct eddy_config *conf = eddy_cli_start(argc, argv, opts, usage, &path, 1, &status);
	if (!conf)
		return status;
	if (strcmp(format, "yaml") != 0 && strcmp(format, "json") != 0) {
		fprintf(stderr, "eddy: --format: \"%s\" is not yaml or json\n", format);
		eddy_config_destroy(conf);
		return 2;
	}
	char err[1024];
	int rc = 1;
	struct eddy_actions none = {0};
	struct eddy_handlers *h = eddy_handlers_load_config(conf, &none, err, sizeof err);
	struct eddy_json_doc *doc = eddy_json_doc_new();
	size_t len = 0;
	char *text = h && doc ? manifest(conf, h, &len) : NULL;
	const struct eddy_json *root =
	    text ? eddy_json_parse(doc, text, len, err, sizeof err) : NULL;
	if (!h) {
		fprintf(stderr, "eddy: %s\n", err);
	} else if (!root) {
		fprintf(stderr, "eddy: out of memory\n");
	} else {
		if (strcmp(format, "json") == 0)
			printf("%s\n", text);
		else {
			printf("# what %s consumes and produces (eddy manifest)",
			       conf->path ? conf->path : "eddy");
			yaml(stdout, root, 0, false);
		}
		rc = 0;
	}
	free(text);
	eddy_json_doc_destroy(doc);
	eddy_handlers_destroy(h);
	eddy_config_destroy(conf);
	return rc;
}
