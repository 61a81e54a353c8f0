/* rules_cmd.c - eddy rule test: alert rules run offline, on the events of
 * test files (rules/NAME.test.yaml) or of an NDJSON file, in a throwaway
 * store, with no broker and no sink; what fired is compared with what was
 * expected, or printed. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <yaml.h>

#include "cli.h"
#include "input.h"
#include "json.h"
#include "jsonw.h"
#include "log.h"
#include "pipeline.h"
#include "readfile.h"
#include "rules.h"

#define MAX_FIRED 1024

/* An alert a rule raised (repeated ones, within realert, are not). */
struct fired {
	char *rule, *summary, *severity, *labels;
	bool matched;
	bool resolved; /* a resolved notification */
};

/* One run: the throwaway store, the pipeline, what fired. */
struct run {
	char dir[64];
	char db[96];
	struct eddy_pipeline *p;
	struct fired fired[MAX_FIRED];
	size_t n_fired;
	size_t dropped;  /* fired past MAX_FIRED */
	char dead[1024]; /* the last event refused (envelope, schema, a rule's error) */
	size_t n_dead;
	struct eddy_json_doc *doc;
};

static void fired_clear(struct run *r)
{
	for (size_t i = 0; i < r->n_fired; i++) {
		free(r->fired[i].rule);
		free(r->fired[i].summary);
		free(r->fired[i].severity);
		free(r->fired[i].labels);
	}
	r->n_fired = r->dropped = 0;
}

static void on_action(void *ud, const struct eddy_action *a)
{
	struct run *r = ud;
	char err[128];

	if (a->kind != EDDY_ACTION_ALERT || a->repeated)
		return;
	if (r->n_fired == MAX_FIRED) {
		r->dropped++;
		return;
	}
	const char *labels = a->labels ? a->labels : "{}";
	const struct eddy_json *l =
	    eddy_json_parse(r->doc, labels, strlen(labels), err, sizeof err);
	const char *rule = eddy_json_str(eddy_json_getz(l, "alertname"));
	struct fired *f = &r->fired[r->n_fired];
	*f = (struct fired){strdup(rule ? rule : ""),
	                    strdup(a->summary ? a->summary : ""),
	                    strdup(a->severity ? a->severity : ""),
	                    strdup(labels),
	                    false,
	                    a->resolved};
	if (f->rule && f->summary && f->severity && f->labels)
		r->n_fired++;
}

static int on_dead(void *ud, const struct eddy_msg *m, const struct eddy_dead_letter *dl)
{
	struct run *r = ud;
	(void)m;
	snprintf(r->dead, sizeof r->dead, "%s%s%s: %s", dl->stage, dl->handler ? " " : "",
	         dl->handler ? dl->handler : "", dl->reason);
	r->n_dead++;
	return 0;
}

/* A pipeline of the rule files only, on a new store in a temporary
 * folder; conf's store settings are changed to point there. */
static int run_start(struct run *r, struct eddy_config *conf, const struct eddy_handlers_conf *hc,
                     char *err, size_t err_size)
{
	struct eddy_pipeline_opts po = {.observe = on_action,
	                                .observe_ud = r,
	                                .dead_letter = on_dead,
	                                .dead_letter_ud = r,
	                                .handlers = hc,
	                                .outbox_unsent = true};

	snprintf(r->dir, sizeof r->dir, "/tmp/eddy-rule-test.XXXXXX");
	if (!mkdtemp(r->dir)) {
		snprintf(err, err_size, "%s: %s", r->dir, strerror(errno));
		r->dir[0] = '\0';
		return -1;
	}
	snprintf(r->db, sizeof r->db, "%s/state.db", r->dir);
	char *type = strdup("sqlite"), *path = strdup(r->db);
	if (!type || !path) {
		free(type);
		free(path);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	free(conf->store_type);
	free(conf->store_path);
	conf->store_type = type;
	conf->store_path = path;
	r->n_dead = 0;
	if (!(r->p = eddy_pipeline_new(conf, &po, err, err_size)))
		return -1;
	return 0;
}

static void run_end(struct run *r)
{
	static const char *const files[] = {"state.db", "state.db-wal", "state.db-shm"};

	eddy_pipeline_destroy(r->p);
	r->p = NULL;
	fired_clear(r);
	if (!r->dir[0])
		return;
	for (size_t i = 0; i < 3; i++) {
		char path[128];
		snprintf(path, sizeof path, "%s/%s", r->dir, files[i]);
		unlink(path);
	}
	rmdir(r->dir);
	r->dir[0] = '\0';
}

/* Handles one record in a batch of its own. */
static int run_event(struct run *r, const struct eddy_msg *m, char *err, size_t err_size)
{
	if (eddy_pipeline_begin(r->p, err, err_size) != 0)
		return -1;
	if (eddy_pipeline_handle(r->p, m) == EDDY_OUTCOME_FAILED) {
		snprintf(err, err_size, "%s", eddy_pipeline_error(r->p));
		eddy_pipeline_abort(r->p);
		return -1;
	}
	return eddy_pipeline_commit(r->p, err, err_size);
}

/* ---- the test file ------------------------------------------------------- */

struct tfile {
	const char *path;
	yaml_document_t doc;
};

static yaml_node_t *node(struct tfile *t, int id)
{
	return yaml_document_get_node(&t->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int line_of(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

static yaml_node_t *get(struct tfile *t, const yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(node(t, p->key));
		if (k && strcmp(k, key) == 0)
			return node(t, p->value);
	}
	return NULL;
}

/* A plain scalar that JSON reads as a number, as it is written. */
static bool json_number(const char *s)
{
	const char *p = s;
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return false;
	if (*p == '.') {
		if (!(*++p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

/* The YAML node n as JSON: plain scalars may be null, booleans or
 * numbers; quoted ones are strings. skip: a member of the top mapping
 * left out. */
static void to_json(struct tfile *t, const yaml_node_t *n, struct eddy_jsonw *w, const char *skip,
                    int depth)
{
	if (depth > 64) {
		eddy_jsonw_raw(w, "null", 4);
		return;
	}
	if (n->type == YAML_MAPPING_NODE) {
		eddy_jsonw_object(w);
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			const char *k = scalar(node(t, p->key));
			if (!k || (skip && strcmp(k, skip) == 0))
				continue;
			eddy_jsonw_key(w, k);
			to_json(t, node(t, p->value), w, NULL, depth + 1);
		}
		eddy_jsonw_end(w);
	} else if (n->type == YAML_SEQUENCE_NODE) {
		eddy_jsonw_array(w);
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     i < n->data.sequence.items.top; i++)
			to_json(t, node(t, *i), w, NULL, depth + 1);
		eddy_jsonw_end(w);
	} else {
		const char *s = scalar(n);
		bool plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		if (plain && (!*s || !strcmp(s, "~") || !strcmp(s, "null")))
			eddy_jsonw_raw(w, "null", 4);
		else if (plain && (!strcmp(s, "true") || !strcmp(s, "false")))
			eddy_jsonw_raw(w, s, strlen(s));
		else if (plain && json_number(s))
			eddy_jsonw_raw(w, s, strlen(s));
		else
			eddy_jsonw_string(w, s, n->data.scalar.length);
	}
}

/* Seconds since the epoch of "2025-01-14T12:30:00Z" (or a number of
 * seconds); NAN when it is neither. */
static double parse_time(const char *s)
{
	struct tm tm = {0};
	char *end;
	double secs = strtod(s, &end);

	if (end != s && *end == '\0')
		return secs;
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return NAN;
	double frac = 0;
	if (*end == '.') {
		frac = strtod(end, &end);
	}
	if (strcmp(end, "Z") != 0 && strcmp(end, "z") != 0)
		return NAN;
	return (double)timegm(&tm) + frac;
}

/* The event node as a record: defaults for what a test need not say
 * (specversion 1.0, a source, an id), the key from its key member or its
 * id. Returns the JSON (the caller frees it) and the key in *key. */
static char *event_json(struct tfile *t, const yaml_node_t *ev, int n, char **key)
{
	struct eddy_jsonw w;
	char id[32];
	const char *k = scalar(get(t, ev, "key")), *evid = scalar(get(t, ev, "id"));

	snprintf(id, sizeof id, "e%d", n);
	eddy_jsonw_init(&w, 1 << 24);
	eddy_jsonw_object(&w);
	if (!get(t, ev, "specversion"))
		eddy_jsonw_member(&w, "specversion", "1.0", 3);
	if (!get(t, ev, "source"))
		eddy_jsonw_member(&w, "source", "eddy-rule-test", 14);
	if (!evid)
		eddy_jsonw_member(&w, "id", id, strlen(id));
	for (yaml_node_pair_t *p = ev->data.mapping.pairs.start; p < ev->data.mapping.pairs.top;
	     p++) {
		const char *name = scalar(node(t, p->key));
		if (!name || strcmp(name, "key") == 0)
			continue;
		eddy_jsonw_key(&w, name);
		to_json(t, node(t, p->value), &w, NULL, 1);
	}
	eddy_jsonw_end(&w);
	*key = strdup(k ? k : evid ? evid : id);
	size_t len;
	return eddy_jsonw_take(&w, &len);
}

/* Whether fired alert f is what the expect node e asks for: its rule, and
 * each label, summary and severity e names. */
static bool matches(struct run *r, struct tfile *t, const yaml_node_t *e, const struct fired *f)
{
	char err[128];
	const char *rule = scalar(get(t, e, "rule")), *summary = scalar(get(t, e, "summary")),
	           *severity = scalar(get(t, e, "severity"));
	const yaml_node_t *labels = get(t, e, "labels");

	const char *resolved = scalar(get(t, e, "resolved"));
	bool want_resolved = resolved && strcmp(resolved, "true") == 0;

	if (!rule || strcmp(rule, f->rule) != 0 || (summary && strcmp(summary, f->summary) != 0) ||
	    (severity && strcmp(severity, f->severity) != 0) || want_resolved != f->resolved)
		return false;
	if (!labels || labels->type != YAML_MAPPING_NODE)
		return true;
	const struct eddy_json *l =
	    eddy_json_parse(r->doc, f->labels, strlen(f->labels), err, sizeof err);
	for (yaml_node_pair_t *p = labels->data.mapping.pairs.start;
	     p < labels->data.mapping.pairs.top; p++) {
		const char *k = scalar(node(t, p->key)), *v = scalar(node(t, p->value));
		const char *got = k ? eddy_json_str(eddy_json_get(l, k, strlen(k))) : NULL;
		if (!v || !got || strcmp(v, got) != 0)
			return false;
	}
	return true;
}

static void print_expect(struct tfile *t, const yaml_node_t *e)
{
	const char *summary = scalar(get(t, e, "summary"));
	const yaml_node_t *labels = get(t, e, "labels");

	printf("expected, not raised: %s", scalar(get(t, e, "rule")));
	if (labels && labels->type == YAML_MAPPING_NODE) {
		struct eddy_jsonw w;
		size_t len;
		eddy_jsonw_init(&w, 1 << 16);
		to_json(t, labels, &w, NULL, 0);
		char *s = eddy_jsonw_take(&w, &len);
		printf(" %s", s ? s : "");
		free(s);
	}
	if (summary)
		printf(" \"%s\"", summary);
	const char *resolved = scalar(get(t, e, "resolved"));
	printf("%s\n", resolved && strcmp(resolved, "true") == 0 ? " (resolved)" : "");
}

/* The rule files a test file tests: its rule_files (relative to it), or
 * the file of its name without .test. Returns how many (into files,
 * allocated). */
static size_t rule_files_of(struct tfile *t, const yaml_node_t *root, char **files, size_t max)
{
	const yaml_node_t *list = get(t, root, "rule_files");
	const char *slash = strrchr(t->path, '/');
	int dlen = slash ? (int)(slash - t->path + 1) : 0;
	size_t n = 0;

	if (list && list->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *i = list->data.sequence.items.start;
		     i < list->data.sequence.items.top && n < max; i++) {
			const char *f = scalar(node(t, *i));
			if (f &&
			    asprintf(&files[n], "%.*s%s", f[0] == '/' ? 0 : dlen, t->path, f) >= 0)
				n++;
		}
		return n;
	}
	size_t len = strlen(t->path);
	if (len > 10 && strcmp(t->path + len - 10, ".test.yaml") == 0 &&
	    asprintf(&files[0], "%.*s.yaml", (int)(len - 10), t->path) >= 0)
		return 1;
	return 0;
}

/* Seconds of a duration as rules write them ("10m", "1h30m", "500ms",
 * "2d", "1w") or a plain number of seconds; NAN when it is neither. */
static double parse_duration(const char *s)
{
	static const struct {
		const char *unit;
		double secs;
	} units[] = {{"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"w", 604800}};
	char *end;
	double total = strtod(s, &end);

	if (end != s && *end == '\0')
		return total;
	total = 0;
	if (!*s)
		return NAN;
	while (*s) {
		if (!(*s >= '0' && *s <= '9'))
			return NAN;
		double n = strtod(s, &end);
		size_t i = 0;
		for (; i < sizeof units / sizeof *units; i++) {
			size_t k = strlen(units[i].unit);
			if (strncmp(end, units[i].unit, k) == 0 &&
			    !(end[k] >= 'a' && end[k] <= 'z')) {
				total += n * units[i].secs;
				s = end + k;
				break;
			}
		}
		if (i == sizeof units / sizeof *units)
			return NAN;
	}
	return total;
}

/* Compares the alerts raised since the last check with the expect node
 * (a list, or none), prints what differed under the case's FAIL line
 * (once: *failing), and forgets them. where: "" for the case's expect,
 * "line N: " for a clock step's. Returns whether they were as expected. */
static bool check_alerts(struct run *r, struct tfile *t, const yaml_node_t *expect,
                         const char *label, const char *where, bool *failing)
{
	bool none = !expect || (scalar(expect) && strcmp(scalar(expect), "none") == 0);
	bool ok = true;

	if (!none && expect->type != YAML_SEQUENCE_NODE) {
		if (!*failing)
			printf("FAIL %s\n", label);
		*failing = true;
		printf("    %sexpect: a list of alerts, or none\n", where);
		fired_clear(r);
		return false;
	}
	for (yaml_node_item_t *x = none ? NULL : expect->data.sequence.items.start;
	     x && x < expect->data.sequence.items.top; x++) {
		bool found = false;
		for (size_t i = 0; i < r->n_fired && !found; i++)
			if (!r->fired[i].matched && matches(r, t, node(t, *x), &r->fired[i]))
				found = r->fired[i].matched = true;
		if (!found) {
			if (!*failing)
				printf("FAIL %s\n", label);
			*failing = true;
			ok = false;
			printf("    %s", where);
			print_expect(t, node(t, *x));
		}
	}
	for (size_t i = 0; i < r->n_fired; i++) {
		if (r->fired[i].matched)
			continue;
		if (!*failing)
			printf("FAIL %s\n", label);
		*failing = true;
		ok = false;
		printf("    %sraised, not expected: %s %s \"%s\"%s\n", where, r->fired[i].rule,
		       r->fired[i].labels, r->fired[i].summary,
		       r->fired[i].resolved ? " (resolved)" : "");
	}
	fired_clear(r);
	return ok;
}

/* Runs one case c: its events and clock steps on a new store. Returns 0
 * passed, 1 failed (reported), -1 when it cannot run (errstr). */
static int run_case(struct run *r, struct tfile *t, struct eddy_config *conf,
                    const struct eddy_handlers_conf *hc, const yaml_node_t *c, char *err,
                    size_t err_size)
{
	const char *name = scalar(get(t, c, "name"));
	const yaml_node_t *events = get(t, c, "events"), *expect = get(t, c, "expect");
	const char *now = scalar(get(t, c, "now"));
	char label[256], msg[1024] = "";
	bool failing = false, checked = false;
	size_t raised = 0;
	int n = 0;

	snprintf(label, sizeof label, "%s:%d%s%s", t->path, line_of(c), name ? ": " : "",
	         name ? name : "");
	if (run_start(r, conf, hc, err, err_size) != 0) {
		run_end(r);
		return -1;
	}
	double fixed = now ? parse_time(now) : -1;
	double clock = now ? fixed : NAN; /* the clock steps start from */
	if (isnan(fixed)) {
		printf("FAIL %s\n    now: \"%s\" is not a time (2025-01-14T12:30:00Z)\n", label,
		       now);
		run_end(r);
		return 1;
	}
	eddy_pipeline_set_clock(r->p, fixed);
	for (yaml_node_item_t *e = events && events->type == YAML_SEQUENCE_NODE
	                               ? events->data.sequence.items.start
	                               : NULL;
	     e && e < events->data.sequence.items.top && !msg[0]; e++) {
		const yaml_node_t *ev = node(t, *e);
		char *key = NULL, *json = NULL;
		if (ev->type != YAML_MAPPING_NODE) {
			snprintf(msg, sizeof msg, "line %d: an event is a mapping", line_of(ev));
			break;
		}
		const char *after = scalar(get(t, ev, "after")), *at = scalar(get(t, ev, "at"));
		if (after || at) {
			/* a clock step: the clock moves, the time-based rules tick */
			double to = at ? parse_time(at) : clock + parse_duration(after);
			if (after && isnan(clock))
				snprintf(
				    msg, sizeof msg,
				    "line %d: after: the clock has no time yet (give the events "
				    "a time, the case a now, or the step at: TIME)",
				    line_of(ev));
			else if (isnan(to))
				snprintf(
				    msg, sizeof msg,
				    "line %d: %s: \"%s\" is not a %s (at: 2025-01-14T12:30:00Z, "
				    "after: 10m)",
				    line_of(ev), at ? "at" : "after", at ? at : after,
				    at ? "time" : "duration");
			if (msg[0])
				break;
			clock = to;
			if (now)
				eddy_pipeline_set_clock(r->p, to);
			if (eddy_pipeline_tick(r->p, to, err, err_size) != 0) {
				run_end(r);
				return -1;
			}
			const yaml_node_t *x = get(t, ev, "expect");
			if (x) {
				char where[32];
				snprintf(where, sizeof where, "line %d: ", line_of(ev));
				raised += r->n_fired;
				check_alerts(r, t, x, label, where, &failing);
				checked = true;
			}
			continue;
		}
		const char *time = scalar(get(t, ev, "time"));
		double et = time ? parse_time(time) : NAN;
		if (!isnan(et) && (isnan(clock) || et > clock))
			clock = et;
		json = event_json(t, ev, ++n, &key);
		struct eddy_msg m = {.topic = "rule-test",
		                     .offset = n - 1,
		                     .timestamp_ms = -1,
		                     .key = key,
		                     .key_len = key ? strlen(key) : 0,
		                     .value = json,
		                     .value_len = json ? strlen(json) : 0};
		int rc = json && key ? run_event(r, &m, msg, sizeof msg) : -1;
		free(json);
		free(key);
		if (rc != 0 && !msg[0])
			snprintf(msg, sizeof msg, "out of memory");
		else if (r->n_dead)
			eddy_errf(msg, sizeof msg, "event at line %d refused: %s", line_of(ev),
			          r->dead);
	}
	if (msg[0]) {
		if (!failing)
			printf("FAIL %s\n", label);
		printf("    %s\n", msg);
		run_end(r);
		return 1;
	}
	/* the case's expect: the alerts after the last step that checked */
	if (!expect && !checked) {
		if (!failing)
			printf("FAIL %s\n", label);
		printf("    expect: a list of alerts, or none\n");
		run_end(r);
		return 1;
	}
	raised += r->n_fired;
	check_alerts(r, t, expect, label, "", &failing);
	if (!failing)
		printf("ok   %s (%zu alert%s)\n", label, raised, raised == 1 ? "" : "s");
	run_end(r);
	return failing ? 1 : 0;
}

/* Runs the cases of one test file; returns the number that failed, or -1
 * when the file cannot be run (the error printed). */
static int test_file(struct eddy_config *conf, const char *path, size_t *cases)
{
	struct tfile t = {.path = path};
	struct run r = {0};
	char err[1024], *files[32];
	size_t len, n_files = 0;
	int failed = -1;
	yaml_parser_t parser;
	char *text = eddy_read_file(path, &len, err, sizeof err);
	bool has_doc = false;

	if (!text) {
		fprintf(stderr, "eddy: %s\n", err);
		return -1;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &t.doc)) {
		fprintf(stderr, "eddy: %s:%zu: %s\n", path, parser.problem_mark.line + 1,
		        parser.problem ? parser.problem : "invalid YAML");
		goto out;
	}
	has_doc = true;
	const yaml_node_t *root = yaml_document_get_root_node(&t.doc);
	const yaml_node_t *tests = get(&t, root, "tests");
	if (!tests || tests->type != YAML_SEQUENCE_NODE) {
		fprintf(stderr, "eddy: %s:%d: tests: required, a list of test cases\n", path,
		        root ? line_of(root) : 1);
		goto out;
	}
	n_files = rule_files_of(&t, root, files, 32);
	if (!n_files) {
		fprintf(stderr,
		        "eddy: %s: rule_files: required when the name does not end in "
		        ".test.yaml\n",
		        path);
		goto out;
	}
	struct eddy_handlers_conf hc = {
	    .conf = conf, .rule_files = (const char *const *)files, .n_rule_files = n_files};
	if (!(r.doc = eddy_json_doc_new())) {
		fprintf(stderr, "eddy: out of memory\n");
		goto out;
	}
	failed = 0;
	for (yaml_node_item_t *it = tests->data.sequence.items.start;
	     it < tests->data.sequence.items.top; it++) {
		(*cases)++;
		int rc = run_case(&r, &t, conf, &hc, node(&t, *it), err, sizeof err);
		if (rc < 0) {
			fprintf(stderr, "eddy: %s\n", err);
			failed = -1;
			goto out;
		}
		failed += rc;
	}
out:
	for (size_t i = 0; i < n_files; i++)
		free(files[i]);
	eddy_json_doc_destroy(r.doc);
	if (has_doc)
		yaml_document_delete(&t.doc);
	yaml_parser_delete(&parser);
	free(text);
	return failed;
}

/* eddy rule test RULES EVENTS: per event, what fired. */
static int explain(struct eddy_config *conf, const char *rules, const char *events)
{
	struct run r = {0};
	struct eddy_input *in = NULL;
	struct eddy_handlers_conf hc = {.conf = conf, .rule_files = &rules, .n_rule_files = 1};
	char err[1024], topic[256];
	struct eddy_msg m;
	int got, rc = 2;

	if (!(r.doc = eddy_json_doc_new()) ||
	    !(in = eddy_input_open(events, eddy_input_topic_of(events, topic, sizeof topic), err,
	                           sizeof err)) ||
	    run_start(&r, conf, &hc, err, sizeof err) != 0) {
		fprintf(stderr, "eddy: %s\n", r.doc ? err : "out of memory");
		goto out;
	}
	eddy_pipeline_set_clock(r.p, -1);
	while ((got = eddy_input_next(in, &m, err, sizeof err)) > 0) {
		size_t line = eddy_input_line(in);
		r.n_dead = 0;
		if (run_event(&r, &m, err, sizeof err) != 0) {
			fprintf(stderr, "eddy: %s:%zu: %s\n", events, line, err);
			goto out;
		}
		printf("%s:%zu %.*s:", events, line, (int)m.key_len, m.key ? m.key : "");
		if (r.n_dead)
			printf(" not handled: %s\n", r.dead);
		else if (!r.n_fired)
			printf(" no rule fired\n");
		else
			printf("\n");
		for (size_t i = 0; i < r.n_fired; i++)
			printf("  %s %s \"%s\" %s\n", r.fired[i].rule, r.fired[i].severity,
			       r.fired[i].summary, r.fired[i].labels);
		fired_clear(&r);
	}
	rc = got < 0 ? 2 : 0;
	if (got < 0)
		fprintf(stderr, "eddy: %s\n", err);
out:
	run_end(&r);
	eddy_input_destroy(in);
	eddy_json_doc_destroy(r.doc);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: eddy rule test [-c FILE] [TESTS...]\n"
	           "       eddy rule test [-c FILE] RULES.yaml EVENTS\n"
	           "  -c, --config FILE   the configuration (default conf/eddy.yaml if present):\n"
	           "                      its alerts.sinks and handler limits; nothing is sent\n"
	           "  TESTS               rule test files (NAME.test.yaml beside NAME.yaml);\n"
	           "                      default: every *.test.yaml of the rules folder\n"
	           "  RULES.yaml EVENTS   prints, per event of EVENTS (NDJSON or KEY<TAB>VALUE),\n"
	           "                      the alerts the rules of RULES.yaml raise\n"
	           "Runs offline: no broker, a throwaway store, the clock at each event's time.\n"
	           "exit status: 0 every case passed, 1 some failed, 2 errors of use\n");
}

static bool is_test_file(const char *s)
{
	size_t n = strlen(s);
	return n > 10 && strcmp(s + n - 10, ".test.yaml") == 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.test.yaml files of the rules folder, sorted (the caller frees
 * each); how many. */
static size_t default_tests(struct eddy_config *conf, char **out, size_t max)
{
	bool optional;
	const char *dir = eddy_rules_dir(conf, &optional);
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max)
		if (e->d_name[0] != '.' && is_test_file(e->d_name) &&
		    asprintf(&out[n], "%s/%s", dir, e->d_name) >= 0)
			n++;
	closedir(d);
	qsort(out, n, sizeof *out, by_name);
	return n;
}

int eddy_cmd_rule(int argc, char **argv)
{
	const char *path = NULL;
	const struct eddy_cli_opt opts[] = {
	    {.name = "config", .letter = 'c', .value = &path},
	    {0},
	};
	int status;

	if (argc < 2 || strcmp(argv[1], "test") != 0) {
		usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	int operand = eddy_cli_parse(argc - 1, argv + 1, opts, usage, &status);
	if (operand < 0)
		return status;
	operand++;
	struct eddy_config *conf = eddy_cli_config(path);
	if (!conf)
		return 2;
	/* rules are tested on the events as written: CloudEvents, but no
	 * schemas nor the envelope's domain checks (restored before the
	 * config is freed) */
	size_t n_types = conf->n_schema_types;
	char *registry = conf->registry_url, *tenant_topic = conf->tenant_topic_pattern;
	conf->n_schema_types = 0;
	conf->registry_url = conf->tenant_topic_pattern = NULL;
	conf->require_key_equals_id = conf->require_tenant = conf->schemas_required = false;
	int rc;
	if (argc - operand == 2 && !is_test_file(argv[operand]) &&
	    !is_test_file(argv[operand + 1])) {
		rc = explain(conf, argv[operand], argv[operand + 1]);
		goto out;
	}
	char *found[256];
	size_t n_found = 0, cases = 0;
	int failed = 0;
	if (operand == argc)
		n_found = default_tests(conf, found, 256);
	rc = 0;
	for (int i = operand; i < argc; i++) {
		int f = test_file(conf, argv[i], &cases);
		if (f < 0)
			rc = 2;
		else
			failed += f;
	}
	for (size_t i = 0; i < n_found; i++) {
		int f = test_file(conf, found[i], &cases);
		if (f < 0)
			rc = 2;
		else
			failed += f;
		free(found[i]);
	}
	if (!cases && !rc) {
		fprintf(stderr, "eddy: no rule tests found\n");
		rc = 2;
	}
	if (rc == 0) {
		printf("%zu cases, %d failed\n", cases, failed);
		rc = failed ? 1 : 0;
	}
out:
	conf->n_schema_types = n_types;
	conf->registry_url = registry;
	conf->tenant_topic_pattern = tenant_topic;
	eddy_config_destroy(conf);
	return rc;
}
