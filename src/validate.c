/* validate.c - eddy validate: instances against a schema, or records as the
 * service checks them. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "envelope.h"
#include "input.h"
#include "schema/jsonschema.h"
#include "readfile.h"
#include "schema/schema_files.h"
#include "schema/schemas.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: eddy validate --schema FILE [--map PREFIX=DIR]... [--dialect D]\n"
	           "                     [--format-assert] [--output text|json] [INPUT|-]\n"
	           "       eddy validate -c FILE [--topic NAME] [--output text|json] [INPUT|-]\n"
	           "  -s, --schema FILE   a JSON Schema; INPUT holds one JSON value per line\n"
	           "  -m, --map PREFIX=DIR\n"
	           "                      read $refs under the URI PREFIX from files in DIR\n"
	           "  -d, --dialect D     draft-04, draft-06, draft-07 (default), 2019-09 or\n"
	           "                      2020-12: the dialect of schemas without $schema\n"
	           "  -f, --format-assert make \"format\" fail validation\n"
	           "  -c, --config FILE   check records as the service does with this config\n"
	           "                      (INPUT: NDJSON of CloudEvents or KEY<TAB>VALUE lines)\n"
	           "  -t, --topic NAME    the topic the records claim to come from\n"
	           "                      (default: INPUT's file name without extension)\n"
	           "  -o, --output FMT    text (default): one line per instance; json: the\n"
	           "                      \"basic\" output shape of JSON Schema per instance\n"
	           "INPUT defaults to standard input.\n"
	           "exit status: 0 all valid, 1 some invalid, 2 errors of use\n");
}

/* One error of our own (not a schema keyword) in the basic output shape. */
static void write_json_reason(const char *reason, FILE *out)
{
	struct eddy_jsonschema_error e = {"", "", "", reason};
	struct eddy_jsonschema_result r = {false, 1, &e};
	eddy_jsonschema_result_write_json(&r, out);
}

static void write_valid(bool json, const char *input, size_t line, FILE *out)
{
	struct eddy_jsonschema_result r = {true, 0, NULL};
	if (json)
		eddy_jsonschema_result_write_json(&r, out);
	else
		fprintf(out, "%s:%zu: valid\n", input, line);
}

static int validate_instances(struct eddy_jsonschema_set *set, const struct eddy_jsonschema *sc,
                              const char *input, bool json, FILE *in)
{
	struct eddy_json_doc *doc = eddy_json_doc_new();
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int rc = 0;

	if (!doc) {
		fprintf(stderr, "eddy: out of memory\n");
		return 2;
	}
	while ((n = getline(&line, &cap, in)) >= 0) {
		char jerr[256] = "";
		struct eddy_jsonschema_result r;

		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)n)
			continue;
		const struct eddy_json *v =
		    eddy_json_parse(doc, line, (size_t)n, jerr, sizeof jerr);
		if (!v) {
			char msg[512];
			snprintf(msg, sizeof msg, "not JSON: %s", jerr);
			if (json)
				write_json_reason(msg, stdout);
			else
				printf("%s:%zu: invalid: %s\n", input, lineno, msg);
			rc = 1;
			continue;
		}
		if (eddy_jsonschema_validate(set, sc, v, &r)) {
			write_valid(json, input, lineno, stdout);
			continue;
		}
		rc = 1;
		if (json) {
			eddy_jsonschema_result_write_json(&r, stdout);
			continue;
		}
		printf("%s:%zu: invalid\n", input, lineno);
		for (size_t i = 0; i < r.n_errors; i++)
			printf("  %s: %s (keyword %s)\n",
			       *r.errors[i].instance_location ? r.errors[i].instance_location : "/",
			       r.errors[i].message,
			       *r.errors[i].keyword_location ? r.errors[i].keyword_location : "/");
	}
	free(line);
	eddy_json_doc_destroy(doc);
	fflush(stdout);
	return rc;
}

static int with_schema(const char *schema, const struct eddy_cli_list *maps, const char *dialect,
                       bool format_assert, const char *input, bool json)
{
	char err[1024];
	int rc = 2;
	struct eddy_schema_files *files = eddy_schema_files_new();
	struct eddy_jsonschema_opts opts = {.format_assert = format_assert,
	                                    .max_errors = 10,
	                                    .resolve = eddy_schema_files_resolve,
	                                    .resolve_ud = files};
	struct eddy_jsonschema_set *set = NULL;
	char *text = NULL, *uri = NULL, *dir = NULL;
	FILE *in = NULL;
	size_t len;

	if (dialect) {
		int d = eddy_jsonschema_dialect_parse(dialect);
		if (d < 0) {
			fprintf(stderr,
			        "eddy: --dialect: \"%s\" is not one of draft-04, draft-06, "
			        "draft-07, 2019-09, 2020-12\n",
			        dialect);
			goto out;
		}
		opts.default_dialect = (enum eddy_jsonschema_dialect)d;
	}
	if (!files || !(set = eddy_jsonschema_set_new(&opts))) {
		fprintf(stderr, "eddy: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < maps->n; i++) {
		const char *map = maps->items[i], *eq = strchr(map, '=');
		char prefix[1024];
		if (!eq || eq == map || !eq[1] || (size_t)(eq - map) >= sizeof prefix) {
			fprintf(stderr, "eddy: --map \"%s\": expected PREFIX=DIR\n", map);
			goto out;
		}
		snprintf(prefix, sizeof prefix, "%.*s", (int)(eq - map), map);
		if (eddy_schema_files_map(files, prefix, eq + 1, err, sizeof err) != 0) {
			fprintf(stderr, "eddy: --map: %s\n", err);
			goto out;
		}
	}
	/* $refs to files beside the schema resolve, nothing else on disk */
	if (!(text = eddy_read_file(schema, &len, err, sizeof err)) || !(dir = strdup(schema)) ||
	    eddy_schema_files_allow(files, dirname(dir), err, sizeof err) != 0) {
		fprintf(stderr, "eddy: %s\n", err);
		goto out;
	}
	uri = eddy_schema_file_uri(schema);
	const struct eddy_jsonschema *sc =
	    eddy_jsonschema_add(set, text, len, uri, err, sizeof err);
	if (!sc) {
		fprintf(stderr, "eddy: %s: %s\n", schema, err);
		goto out;
	}
	in = strcmp(input, "-") == 0 ? stdin : fopen(input, "r");
	if (!in) {
		fprintf(stderr, "eddy: %s: cannot open\n", input);
		goto out;
	}
	rc = validate_instances(set, sc, input, json, in);
out:
	if (in && in != stdin)
		fclose(in);
	free(text);
	free(uri);
	free(dir);
	eddy_jsonschema_set_destroy(set);
	eddy_schema_files_destroy(files);
	return rc;
}

/* Records through unwrap, envelope and schema check, as the pipeline does. */
static int with_config(const char *path, const char *topic, const char *input, bool json)
{
	char err[1024], reason[1024], topic_buf[256];
	struct eddy_config *conf = eddy_cli_config(path);
	struct eddy_schemas *schemas = NULL;
	struct eddy_input *in = NULL;
	struct eddy_json_doc *doc = eddy_json_doc_new();
	int rc = 2, got;

	if (!conf || !doc)
		goto out;
	if (!topic)
		topic = eddy_input_topic_of(input, topic_buf, sizeof topic_buf);
	if (!(schemas = eddy_schemas_new(conf, err, sizeof err)) ||
	    !(in = eddy_input_open(input, topic, err, sizeof err))) {
		fprintf(stderr, "eddy: %s\n", err);
		goto out;
	}
	struct eddy_envelope_conf env = {conf->require_key_equals_id, conf->require_tenant,
	                                 conf->tenant_topic_pattern};
	struct eddy_msg m, payload;
	struct eddy_event ev;
	rc = 0;
	while ((got = eddy_input_next(in, &m, err, sizeof err)) > 0) {
		const char *stage = "schema";
		enum eddy_schemas_outcome so =
		    eddy_schemas_unwrap(schemas, &m, &payload, reason, sizeof reason);
		if (so == EDDY_SCHEMAS_VALID) {
			if (eddy_envelope_decode(&env, doc, &payload, &ev, reason, sizeof reason)) {
				so = EDDY_SCHEMAS_INVALID;
				stage = "envelope";
			} else {
				so = eddy_schemas_check(schemas, &ev, doc, reason, sizeof reason);
			}
		}
		if (so == EDDY_SCHEMAS_RETRY) {
			fprintf(stderr, "eddy: %s:%zu: %s\n", input, eddy_input_line(in), reason);
			rc = 2;
			goto out;
		}
		if (so == EDDY_SCHEMAS_VALID) {
			write_valid(json, input, eddy_input_line(in), stdout);
			continue;
		}
		rc = 1;
		const struct eddy_jsonschema_result *r = eddy_schemas_last_errors(schemas);
		if (json && r)
			eddy_jsonschema_result_write_json(r, stdout);
		else if (json)
			write_json_reason(reason, stdout);
		else
			printf("%s:%zu: invalid: %s: %s\n", input, eddy_input_line(in), stage,
			       reason);
	}
	if (got < 0) {
		fprintf(stderr, "eddy: %s\n", err);
		rc = 2;
	}
out:
	fflush(stdout);
	eddy_input_destroy(in);
	eddy_schemas_destroy(schemas);
	eddy_json_doc_destroy(doc);
	eddy_config_destroy(conf);
	return rc;
}

int eddy_cmd_validate(int argc, char **argv)
{
	const char *schema = NULL, *config = NULL, *dialect = NULL, *topic = NULL;
	const char *output = "text";
	struct eddy_cli_list maps = {0};
	bool format_assert = false;
	const struct eddy_cli_opt opts[] = {
	    {.name = "schema", .letter = 's', .value = &schema},
	    {.name = "map", .letter = 'm', .list = &maps},
	    {.name = "dialect", .letter = 'd', .value = &dialect},
	    {.name = "format-assert", .letter = 'f', .flag = &format_assert},
	    {.name = "config", .letter = 'c', .value = &config},
	    {.name = "topic", .letter = 't', .value = &topic},
	    {.name = "output", .letter = 'o', .value = &output},
	    {0},
	};
	int rc, operand = eddy_cli_parse(argc, argv, opts, usage, &rc);

	if (operand < 0)
		return rc;
	if (operand < argc - 1 || !!schema == !!config ||
	    (strcmp(output, "text") != 0 && strcmp(output, "json") != 0) ||
	    (config && (maps.n || dialect || format_assert)) || (schema && topic)) {
		usage(stderr);
		return 2;
	}
	const char *input = operand < argc ? argv[operand] : "-";
	bool json = strcmp(output, "json") == 0;
	if (schema)
		return with_schema(schema, &maps, dialect, format_assert, input, json);
	return with_config(config, topic, input, json);
}
