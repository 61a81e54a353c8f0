/* dev.c - eddy dev: the service on an embedded broker, loaded with the
 * example events, printing every action as it happens. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "input.h"
#include "kafka.h"
#include "log.h"
#include "mock.h"
#include "rules.h"

/* The rules eddy dev loads when the config names none and there is no
 * rules/ folder. */
#define EXAMPLE_RULES "examples/rules"

/* Sets kafka property key in conf (replacing it when present). */
static int set_kafka(struct eddy_config *c, const char *key, const char *value, bool replace)
{
	for (size_t i = 0; i < c->n_kafka; i++) {
		if (strcmp(c->kafka[i].key, key) != 0)
			continue;
		if (!replace)
			return 0;
		char *v = strdup(value);
		if (!v)
			return -1;
		free(c->kafka[i].value);
		c->kafka[i].value = v;
		return 0;
	}
	struct eddy_config_kv *n = realloc(c->kafka, (c->n_kafka + 1) * sizeof *n);
	if (!n)
		return -1;
	c->kafka = n;
	n[c->n_kafka].key = strdup(key);
	n[c->n_kafka].value = strdup(value);
	if (!n[c->n_kafka].key || !n[c->n_kafka].value)
		return -1;
	c->n_kafka++;
	return 0;
}

static int add_topic(struct eddy_config *c, const char *topic)
{
	for (size_t i = 0; i < c->n_topics; i++)
		if (strcmp(c->topics[i], topic) == 0)
			return 0;
	char **n = realloc(c->topics, (c->n_topics + 1) * sizeof *n);
	if (!n)
		return -1;
	c->topics = n;
	if (!(n[c->n_topics] = strdup(topic)))
		return -1;
	c->n_topics++;
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static bool is_event_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && ((n > 7 && strcmp(d->d_name + n - 7, ".ndjson") == 0) ||
	                               (n > 3 && strcmp(d->d_name + n - 3, ".kv") == 0));
}

static int event_file_filter(const struct dirent *d)
{
	return is_event_file(d);
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: eddy dev [-c FILE] [--events DIR] [--exit-at-end]\n"
	    "  -c, --config FILE   the configuration (default conf/eddy.yaml if present);\n"
	    "                      its kafka bootstrap.servers is replaced by the embedded broker\n"
	    "  --events DIR        sample events, one file per topic: TOPIC.ndjson or TOPIC.kv\n"
	    "                      (default examples/events)\n"
	    "  --exit-at-end       stop once the events are handled and committed\n");
}

int eddy_cmd_dev(int argc, char **argv)
{
	const char *path = NULL, *events = "examples/events";
	struct eddy_kafka_opts ko = {.stop = &eddy_stop, .progress = stderr, .http_optional = true};
	const struct eddy_cli_opt opts[] = {
	    {.name = "config", .letter = 'c', .value = &path},
	    {.name = "events", .value = &events},
	    {.name = "exit-at-end", .flag = &ko.exit_at_end},
	    {0},
	};
	int status;
	struct eddy_config *conf = eddy_cli_start(argc, argv, opts, usage, &path, 2, &status);

	if (!conf)
		return status;
	/* people watch eddy dev: the text format unless json is asked for */
	if (strcmp(conf->log_format, "auto") == 0)
		eddy_log_setup(NULL, "text");
	ko.pipeline.observe = eddy_pipeline_print;
	ko.pipeline.observe_ud = stdout;

	char err[1024];
	int rc = 1;
	struct dirent **files = NULL;
	int nfiles = 0;
	struct eddy_mock *mock = eddy_mock_new(1, err, sizeof err);
	if (!mock)
		goto fail;
	const char *bootstraps = eddy_mock_bootstraps(mock);
	printf("embedded broker: %s   (try: kcat -b %s -L)\n", bootstraps, bootstraps);

	if (set_kafka(conf, "bootstrap.servers", bootstraps, true) ||
	    set_kafka(conf, "group.id", "eddy-dev", false)) {
		snprintf(err, sizeof err, "out of memory");
		goto fail;
	}
	if (eddy_mock_topic(mock, conf->dead_letter_topic, 1, err, sizeof err) != 0)
		goto fail;
	/* topics named in the config exist, so kcat can write to them */
	for (size_t i = 0; i < conf->n_topics; i++)
		if (conf->topics[i][0] != '^' &&
		    eddy_mock_topic(mock, conf->topics[i], 1, err, sizeof err) != 0)
			goto fail;

	nfiles = scandir(events, &files, event_file_filter, by_name);
	if (nfiles < 0) {
		snprintf(err, sizeof err, "%s: cannot read the example events", events);
		nfiles = 0;
		goto fail;
	}
	bool subscribe_all = conf->n_topics == 0;
	for (int i = 0; i < nfiles; i++) {
		char file[4096], topic[256];
		snprintf(file, sizeof file, "%s/%s", events, files[i]->d_name);
		eddy_input_topic_of(file, topic, sizeof topic);
		if (eddy_mock_topic(mock, topic, 1, err, sizeof err) != 0)
			goto fail;
		long n = eddy_mock_produce_file(mock, file, topic, err, sizeof err);
		if (n < 0)
			goto fail;
		printf("loaded %ld events from %s into topic %s\n", n, file, topic);
		if (subscribe_all && add_topic(conf, topic) != 0) {
			snprintf(err, sizeof err, "out of memory");
			goto fail;
		}
	}
	if (conf->n_topics == 0) {
		snprintf(err, sizeof err, "no topics: configure topics or add files to %s", events);
		goto fail;
	}
	/* the example rules, unless the config or a rules/ folder has some */
	struct stat st;
	if (!conf->rules && stat("rules", &st) != 0 && stat(EXAMPLE_RULES, &st) == 0 &&
	    !(conf->rules = strdup(EXAMPLE_RULES))) {
		snprintf(err, sizeof err, "out of memory");
		goto fail;
	}
	bool rules_optional;
	const char *rules = eddy_rules_dir(conf, &rules_optional);
	bool has_rules = !rules_optional || stat(rules, &st) == 0;
	size_t hl = strlen(conf->handlers);
	while (hl > 1 && conf->handlers[hl - 1] == '/')
		hl--;
	printf("handlers from %.*s/%s%s%s, state in %s, dead letters to %s; Ctrl-C stops\n",
	       (int)hl, conf->handlers, has_rules ? ", rules from " : "", has_rules ? rules : "",
	       has_rules ? "/" : "", conf->store_path, conf->dead_letter_topic);
	fflush(stdout);

	eddy_cli_signals();
	rc = eddy_kafka_run(conf, &ko, err, sizeof err);
	if (rc != 0)
		goto fail;
	goto out;
fail:
	fprintf(stderr, "eddy: %s\n", err);
	if (rc == 0)
		rc = 1;
out:
	for (int i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
	eddy_mock_destroy(mock);
	eddy_config_destroy(conf);
	return rc;
}
