/* replay.c - eddy replay: records from a file through the same pipeline as
 * the service (envelope, handlers, store), no Kafka. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "input.h"
#include "log.h"
#include "pipeline.h"
#include "publish.h"

struct report {
	const char *input;
	struct eddy_input *in;
};

/* A dead letter of a replay is a report line, with the reason the
 * dead-letter headers would carry. */
static int report_invalid(void *ud, const struct eddy_msg *m, const struct eddy_dead_letter *dl)
{
	struct report *r = ud;
	(void)m;
	/* the reason may quote the record or a handler's error: one line */
	flockfile(stderr);
	fprintf(stderr, "%s:%zu: %s%s%s: ", r->input, eddy_input_line(r->in), dl->stage,
	        dl->handler ? " " : "", dl->handler ? dl->handler : "");
	eddy_log_put_text(stderr, dl->reason, strlen(dl->reason));
	fputc('\n', stderr);
	funlockfile(stderr);
	return 0;
}

/* Without Kafka, what handlers publish is reported on stdout. */
static int report_published(void *ud, const struct eddy_msg *m, const struct eddy_record *r)
{
	(void)ud;
	(void)m;
	eddy_pipeline_print(stdout, &(struct eddy_action){.kind = EDDY_ACTION_PUBLISH,
	                                                  .target = r->topic,
	                                                  .key = r->key,
	                                                  .key_len = r->key_len,
	                                                  .value = r->value,
	                                                  .value_len = r->value_len});
	return 0;
}

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: eddy replay [-c FILE] [--dry-run] [--topic NAME] INPUT\n"
	       "  INPUT               NDJSON of structured CloudEvents, or KEY<TAB>VALUE lines\n"
	       "                      as `kcat -C -K '\\t'` writes them (empty value: tombstone);\n"
	       "                      - reads standard input\n"
	       "  -c, --config FILE   the configuration (default conf/eddy.yaml if present)\n"
	       "  -n, --dry-run       print the actions instead of applying them\n"
	       "  -t, --topic NAME    the topic the records claim to come from\n"
	       "                      (default: INPUT's file name without extension)\n"
	       "exit status: 0 every record handled, 1 some were invalid, 2 errors of use\n");
}

int eddy_cmd_replay(int argc, char **argv)
{
	const char *path = NULL, *topic = NULL;
	struct eddy_pipeline_opts po = {0};
	const struct eddy_cli_opt opts[] = {
	    {.name = "config", .letter = 'c', .value = &path},
	    {.name = "dry-run", .letter = 'n', .flag = &po.dry_run},
	    {.name = "topic", .letter = 't', .value = &topic},
	    {0},
	};
	int status, operand = eddy_cli_parse(argc, argv, opts, usage, &status);

	if (operand < 0)
		return status;
	if (operand != argc - 1) {
		usage(stderr);
		return 2;
	}
	const char *input = argv[operand];
	char err[1024], topic_buf[256];
	if (!topic)
		topic = eddy_input_topic_of(input, topic_buf, sizeof topic_buf);

	struct eddy_config *conf = eddy_cli_config(path);
	if (!conf)
		return 2;
	int rc = 2;
	struct eddy_pipeline *p = NULL;
	struct report r = {input, NULL};
	if (!(r.in = eddy_input_open(input, topic, err, sizeof err))) {
		fprintf(stderr, "eddy: %s\n", err);
		goto out;
	}
	po.dead_letter = report_invalid;
	po.dead_letter_ud = &r;
	if (po.dry_run) {
		po.observe = eddy_pipeline_print; /* published records included */
		po.observe_ud = stdout;
	} else {
		po.publish = report_published;
	}
	if (!(p = eddy_pipeline_new(conf, &po, err, sizeof err))) {
		fprintf(stderr, "eddy: %s\n", err);
		goto out;
	}
	eddy_cli_signals();

	/* A dry run is one transaction rolled back at the end, so later
	 * records see what earlier ones would have written. */
	size_t batch = po.dry_run ? SIZE_MAX : (size_t)conf->batch_size, in_batch = 0;
	bool open = false;
	struct eddy_msg m;
	int got = 0;
	rc = 1;
	while (!eddy_stop && (got = eddy_input_next(r.in, &m, err, sizeof err)) > 0) {
		if (!open) {
			if (eddy_pipeline_begin(p, err, sizeof err) != 0)
				goto fail;
			open = true;
		}
		if (eddy_pipeline_handle(p, &m) == EDDY_OUTCOME_FAILED) {
			snprintf(err, sizeof err, "%s:%zu: %s", input, eddy_input_line(r.in),
			         eddy_pipeline_error(p));
			eddy_pipeline_abort(p);
			open = false;
			goto fail;
		}
		if (++in_batch == batch) {
			open = false;
			in_batch = 0;
			if (eddy_pipeline_commit(p, err, sizeof err) != 0)
				goto fail;
		}
	}
	if (got < 0)
		goto fail;
	if (open && eddy_pipeline_commit(p, err, sizeof err) != 0)
		goto fail;

	const struct eddy_pipeline_stats *s = eddy_pipeline_stats(p);
	fprintf(stderr,
	        "eddy: %s%" PRIu64 " records: %" PRIu64 " handled, %" PRIu64
	        " not subscribed, %" PRIu64 " invalid; %" PRIu64 " upserts, %" PRIu64 " deletes\n",
	        po.dry_run ? "dry run, " : "", s->records, s->handled, s->unrouted, s->dead,
	        s->upserts, s->deletes);
	rc = s->dead ? 1 : 0;
	goto out;
fail:
	fprintf(stderr, "eddy: %s\n", err);
	if (open)
		eddy_pipeline_abort(p);
	rc = 2;
out:
	eddy_pipeline_destroy(p);
	eddy_input_destroy(r.in);
	eddy_config_destroy(conf);
	return rc;
}
