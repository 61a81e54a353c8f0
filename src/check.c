/* check.c - eddy check: everything a config names loads (handlers with
 * their limits, alert rules, every mapped schema). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "glob_match.h"
#include "handlers.h"
#include "schema/registry.h"
#include "schema/schemas.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: eddy check [-c FILE] [--offline]\n"
	           "  -c, --config FILE   the configuration (default conf/eddy.yaml if present)\n"
	           "  --offline           do not ask the schema registry\n"
	           "Loads the config, compiles every handler, alert rule and schema it names;\n"
	           "asks the schema registry (when configured) for the subject of each topic;\n"
	           "warns (on stderr, exit 0) about rule labels that change with every event,\n"
	           "subscriptions to topics the config does not consume, rule types no schema\n"
	           "covers, and registry subjects that do not exist.\n"
	           "exit status: 0 all good, 1 a problem (printed as file:line: message), 2 errors "
	           "of use\n");
}

/* Either glob could match what the other does (each taken as a string of
 * the other: "com.x.*" and "com.x.orders.v1", or "com.*" and "com.x.*"). */
static bool overlap(const char *a, const char *b)
{
	return eddy_glob_match(a, b, strlen(b)) || eddy_glob_match(b, a, strlen(a));
}

/* Subscriptions that can never match: a handler's topics that are none of
 * the configured ones (when those are all names, not patterns), a rule
 * file's types that no schemas.types entry covers. Warnings only. */
static void warn_subscriptions(const struct eddy_config *conf, const struct eddy_handlers *h)
{
	bool patterns = false;
	for (size_t i = 0; i < conf->n_topics; i++)
		patterns |= conf->topics[i][0] == '^';
	for (size_t i = 0; i < eddy_handlers_count(h); i++) {
		struct eddy_handler_info hi;
		if (!eddy_handlers_info(h, i, &hi))
			continue;
		for (size_t j = 0; !patterns && j < hi.n_topics; j++) {
			size_t k = 0;
			while (k < conf->n_topics && !eddy_glob_match(hi.topics[j], conf->topics[k],
			                                              strlen(conf->topics[k])))
				k++;
			if (k == conf->n_topics)
				fprintf(stderr,
				        "eddy: warning: %s: subscribe.topics \"%s\" matches none "
				        "of the configured topics: it never runs\n",
				        hi.path, hi.topics[j]);
		}
		for (size_t j = 0;
		     hi.rules && conf->n_schema_types && !conf->registry_url && j < hi.n_types;
		     j++) {
			size_t k = 0;
			while (k < conf->n_schema_types &&
			       !overlap(hi.types[j], conf->schema_types[k].key))
				k++;
			if (k == conf->n_schema_types)
				fprintf(
				    stderr,
				    "eddy: warning: %s: type \"%s\" matches no schema in "
				    "schemas.types: the fields its rules read are not checked\n",
				    hi.path, hi.types[j]);
		}
	}
}

/* Asks the registry for the subject of each topic named in the config
 * (topic strategy: "<topic>-value"). Returns 0, or -1 when the registry
 * could not be asked (a subject it does not have is a warning). */
static int ask_registry(const struct eddy_config *conf)
{
	struct eddy_registry_conf rc;
	char err[512];
	eddy_schemas_registry_conf(conf, &rc);
	struct eddy_registry *r = eddy_registry_new(&rc, err, sizeof err);
	int status = 0;
	if (!r) {
		fprintf(stderr, "eddy: registry: %s\n", err);
		return -1;
	}
	if (strcmp(conf->registry_subject_strategy, "topic") != 0)
		printf(
		    "registry: subjects follow the events' types (%s strategy): asked per record\n",
		    conf->registry_subject_strategy);
	for (size_t i = 0; status == 0 && i < conf->n_topics; i++) {
		if (conf->topics[i][0] == '^' ||
		    strcmp(conf->registry_subject_strategy, "topic") != 0)
			continue;
		char subject[300];
		const struct eddy_registry_schema *s;
		snprintf(subject, sizeof subject, "%s-value", conf->topics[i]);
		int found = eddy_registry_by_subject(r, subject, "latest", &s, err, sizeof err);
		if (found > 0)
			printf("registry: %s: version %d (id %d)\n", subject, s->version, s->id);
		else if (found == 0)
			fprintf(stderr,
			        "eddy: warning: registry: %s: %s: records of %s without a schema "
			        "id are "
			        "not checked\n",
			        subject, err, conf->topics[i]);
		else {
			fprintf(stderr, "eddy: registry: %s: %s\n", subject, err);
			status = -1;
		}
	}
	eddy_registry_destroy(r);
	return status;
}

int eddy_cmd_check(int argc, char **argv)
{
	const char *path = NULL;
	bool offline = false;
	const struct eddy_cli_opt opts[] = {
	    {.name = "config", .letter = 'c', .value = &path},
	    {.name = "offline", .flag = &offline},
	    {0},
	};
	int status;
	struct eddy_config *conf = eddy_cli_start(argc, argv, opts, usage, &path, 1, &status);

	if (!conf)
		return status;
	char err[1024];
	int rc = 1;
	struct eddy_actions none = {0};
	struct eddy_handlers *h = eddy_handlers_load_config(conf, &none, err, sizeof err);
	struct eddy_schemas *s = NULL;
	if (!h) {
		fprintf(stderr, "eddy: %s\n", err);
		goto out;
	}
	if (!(s = eddy_schemas_new(conf, err, sizeof err))) {
		fprintf(stderr, "eddy: %s\n", err);
		goto out;
	}
	for (size_t i = 0; i < eddy_handlers_warning_count(h); i++)
		fprintf(stderr, "eddy: warning: %s\n", eddy_handlers_warning(h, i));
	warn_subscriptions(conf, h);
	if (conf->registry_url && !offline && ask_registry(conf) != 0)
		goto out;
	printf("%s: ok: %zu handlers, %zu type mappings to schemas%s, %zu rules in %zu files\n",
	       conf->path ? conf->path : "(defaults)",
	       eddy_handlers_count(h) - eddy_handlers_rule_files(h), conf->n_schema_types,
	       !conf->registry_url ? ""
	       : offline           ? ", registry not asked"
	                           : ", registry answered",
	       eddy_handlers_rule_count(h), eddy_handlers_rule_files(h));
	rc = 0;
out:
	eddy_schemas_destroy(s);
	eddy_handlers_destroy(h);
	eddy_config_destroy(conf);
	return rc;
}
