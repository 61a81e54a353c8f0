/* pipeline.c - what happens to one record: envelope, routing, handlers with
 * retries, actions on the store, dead letters; one store transaction a batch. */
#include "pipeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alerts.h"
#include "envelope.h"
#include "handlers.h"
#include "json.h"
#include "log.h"
#include "publish.h"
#include "schema/schemas.h"
#include "store/store.h"
#include "store/store_batch.h"
#include "text.h"

/* A write of the event being handled. The event's writes are applied to
 * the store only once all its handlers succeeded, so a failing handler
 * leaves nothing behind without a savepoint per event. Offsets into the
 * pipeline's buf, which grows. */
struct write {
	size_t ns, key, key_len, value, len; /* value == SIZE_MAX: a delete */
};

/* An alert of the event being handled, ready for the outbox. */
struct alert {
	char *sink, *dedupe, *body, *summary, *severity, *labels;
	size_t body_len;
	int64_t window_ms; /* of the outbox's dedupe */
	bool resolved;
};

static void alert_free(struct alert *a)
{
	free(a->sink);
	free(a->dedupe);
	free(a->body);
	free(a->summary);
	free(a->severity);
	free(a->labels);
}

struct eddy_pipeline {
	const struct eddy_config *conf;
	struct eddy_pipeline_opts opts;
	struct eddy_store *store;
	struct eddy_handlers *handlers;
	struct eddy_schemas *schemas;
	struct eddy_json_doc *doc;
	struct eddy_envelope_conf env;
	struct eddy_actions actions;
	const struct eddy_msg *cur; /* the record being handled */
	const struct eddy_event *cur_ev;
	struct eddy_record *records; /* published by the event's handlers, not yet out */
	size_t n_records, cap_records;
	struct alert *alerts; /* raised by the event's handlers, not yet in the outbox */
	size_t n_alerts, cap_alerts;
	bool store_failed;     /* an action failed (store, producer): abort the batch */
	enum eddy_fault fault; /* of the last EDDY_OUTCOME_FAILED */
	int retry_ms;          /* of the last EDDY_OUTCOME_RETRY */
	struct write *writes;
	size_t n_writes, cap_writes;
	/* opts.async_store: batches are written to a log (batch) that the
	 * writer commits while the next one is handled (inflight); ctx.get
	 * reads both, then the store through a connection of its own */
	struct eddy_store_writer *writer;
	struct eddy_store *reader; /* opened on the first read it serves */
	struct eddy_store_batch *logs[2];
	struct eddy_store_batch *batch;    /* the open batch's, NULL: writing to store */
	struct eddy_store_batch *inflight; /* with the writer, NULL: none */
	struct eddy_strings buf;           /* the writes' strings */
	char error[1024];
	struct eddy_pipeline_stats stats;
	double clock;       /* eddy_pipeline_set_clock's, for reloaded sets too */
	bool live_ticks;    /* ticks come from the system clock */
	double next_tick;   /* monotonic seconds: the next live tick is due */
	double tick_logged; /* monotonic seconds a failed tick was last logged */
};

void eddy_sleep_ms(int ms, volatile const int *stop)
{
	while (ms > 0 && !(stop && *stop)) {
		int step = ms < 10 ? ms : 10;
		struct timespec ts = {0, (long)step * 1000000L};
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			if (stop && *stop)
				return;
		ms -= step;
	}
}

/* Text from records and handlers as a line shows it (log.c's escaping:
 * no newline or terminal control gets through). */
static void put(FILE *out, const char *s, size_t len)
{
	eddy_log_put_text(out, s ? s : "", s ? len : 0);
}

static void putz(FILE *out, const char *s)
{
	put(out, s, s ? strlen(s) : 0);
}

void eddy_pipeline_print(void *ud, const struct eddy_action *a)
{
	static const char *const verbs[] = {"upsert", "delete", "alert", "publish", "log"};
	FILE *out = ud;
	const size_t max = 160;

	flockfile(out);
	fprintf(out, "%-6s ", verbs[a->kind]);
	switch (a->kind) {
	case EDDY_ACTION_ALERT:
		if (!a->target)
			fputs("(no alerts.sinks: not sent) ", out);
		else
			fprintf(out, "%s ", a->target);
		fprintf(out, "%s ", a->resolved ? "resolved" : a->severity);
		putz(out, a->summary);
		fputs(a->repeated ? " (already raised: not sent again)" : "", out);
		break;
	case EDDY_ACTION_LOG:
		fprintf(out, "%s %s: ", a->severity, a->target);
		putz(out, a->summary);
		if (a->value) {
			fputc(' ', out);
			putz(out, a->value);
		}
		break;
	case EDDY_ACTION_PUBLISH:
		fprintf(out, "%s ", a->target);
		put(out, a->key, a->key_len);
		fputc(' ', out);
		if (a->value)
			put(out, a->value, a->value_len);
		else
			fputs("(tombstone)", out);
		break;
	default:
		fprintf(out, "%s ", a->target);
		put(out, a->key, a->key_len);
		if (a->value) {
			fputc(' ', out);
			put(out, a->value, a->value_len > max ? max : a->value_len);
			fputs(a->value_len > max ? "..." : "", out);
		}
	}
	fputc('\n', out);
	fflush(out);
	funlockfile(out);
}

static void observe(const struct eddy_pipeline *p, const struct eddy_action *a)
{
	if (p->opts.observe)
		p->opts.observe(p->opts.observe_ud, a);
}

/* A store error during an action: the record is not at fault, so the
 * batch is abandoned and retried rather than the event dead-lettered. */
static int store_error(struct eddy_pipeline *p, const char *errstr)
{
	p->store_failed = true;
	p->fault = EDDY_FAULT_STORE;
	snprintf(p->error, sizeof p->error, "%s", errstr);
	return -1;
}

static int add_write(struct eddy_pipeline *p, const char *ns, const char *key, size_t key_len,
                     const char *value, size_t len, bool parsed, char *errstr, size_t errstr_size)
{
	/* what a store refuses outright must fail the event here: as a store
	 * error it would hold the batch back for ever */
	if (eddy_store_check_write(p->store, ns, key, key_len, value, len, parsed, errstr,
	                           errstr_size))
		return -1;
	if (p->n_writes == p->cap_writes) {
		size_t cap = p->cap_writes ? p->cap_writes * 2 : 16;
		struct write *w = realloc(p->writes, cap * sizeof *w);
		if (!w)
			goto oom;
		p->writes = w;
		p->cap_writes = cap;
	}
	struct write w = {eddy_strings_put(&p->buf, ns, strlen(ns)),
	                  eddy_strings_put(&p->buf, key, key_len), key_len,
	                  value ? eddy_strings_put(&p->buf, value, len) : SIZE_MAX, len};
	if (w.ns == SIZE_MAX || w.key == SIZE_MAX || (value && w.value == SIZE_MAX))
		goto oom;
	p->writes[p->n_writes++] = w;
	return 0;
oom:
	snprintf(errstr, errstr_size, "out of memory");
	return -1;
}

/* A write buffer grown past this by one big event is given back. */
#define BUF_KEEP (1u << 20)

static void drop_writes(struct eddy_pipeline *p)
{
	p->n_writes = 0;
	eddy_strings_clear(&p->buf, BUF_KEEP);
	for (size_t i = 0; i < p->n_records; i++)
		eddy_record_free(&p->records[i]);
	p->n_records = 0;
	for (size_t i = 0; i < p->n_alerts; i++)
		alert_free(&p->alerts[i]);
	p->n_alerts = 0;
}

static int publish_records(struct eddy_pipeline *p);

/* opts.async_store: the event's writes and alerts go to the batch's log
 * (no observer sees them: async stores are for eddy run only). */
static int log_writes(struct eddy_pipeline *p, const struct eddy_store_origin *origin)
{
	for (size_t i = 0; i < p->n_writes; i++) {
		const struct write *w = &p->writes[i];
		bool del = w->value == SIZE_MAX;
		if (eddy_store_batch_put(p->batch, p->buf.s + w->ns, p->buf.s + w->key, w->key_len,
		                         del ? NULL : p->buf.s + w->value, w->len, origin) != 0)
			return store_error(p, "out of memory for the batch's writes");
		if (del)
			p->stats.deletes++;
		else
			p->stats.upserts++;
	}
	int64_t now = p->n_alerts ? eddy_now_ms() : 0;
	for (size_t i = 0; i < p->n_alerts; i++) {
		const struct alert *a = &p->alerts[i];
		if (eddy_store_batch_alert(p->batch, a->sink, a->dedupe, a->body, a->body_len, now,
		                           a->window_ms) != 0)
			return store_error(p, "out of memory for the batch's alerts");
	}
	return publish_records(p);
}

/* Applies the event's writes to the batch transaction. */
static int apply_writes(struct eddy_pipeline *p)
{
	char err[512];
	struct eddy_store_origin origin = {p->cur->topic, p->cur->partition, p->cur->offset};
	if (p->batch)
		return log_writes(p, &origin);
	for (size_t i = 0; i < p->n_writes; i++) {
		const struct write *w = &p->writes[i];
		const char *ns = p->buf.s + w->ns, *key = p->buf.s + w->key;
		if (w->value == SIZE_MAX) {
			if (eddy_store_delete(p->store, ns, key, w->key_len, err, sizeof err) != 0)
				return store_error(p, err);
			p->stats.deletes++;
			observe(p, &(struct eddy_action){.kind = EDDY_ACTION_DELETE,
			                                 .target = ns,
			                                 .key = key,
			                                 .key_len = w->key_len});
		} else {
			if (eddy_store_upsert(p->store, ns, key, w->key_len, p->buf.s + w->value,
			                      w->len, &origin, err, sizeof err) != 0)
				return store_error(p, err);
			p->stats.upserts++;
			observe(p, &(struct eddy_action){.kind = EDDY_ACTION_UPSERT,
			                                 .target = ns,
			                                 .key = key,
			                                 .key_len = w->key_len,
			                                 .value = p->buf.s + w->value,
			                                 .value_len = w->len});
		}
	}
	int64_t now = p->n_alerts ? eddy_now_ms() : 0;
	for (size_t i = 0; i < p->n_alerts; i++) {
		const struct alert *a = &p->alerts[i];
		int rc = eddy_store_outbox_add(p->store, a->sink, a->dedupe, a->body, a->body_len,
		                               now, a->window_ms, err, sizeof err);
		if (rc < 0)
			return store_error(p, err);
		if (rc == 0)
			p->stats.alerts++;
		else
			p->stats.alerts_deduped++;
		observe(p, &(struct eddy_action){.kind = EDDY_ACTION_ALERT,
		                                 .target = a->sink,
		                                 .severity = a->severity,
		                                 .summary = a->summary,
		                                 .labels = a->labels,
		                                 .repeated = rc != 0,
		                                 .resolved = a->resolved});
	}
	return publish_records(p);
}

/* The event's records to the publisher: last, after everything that can
 * still fail in the store, which in an async store is only its commit. */
static int publish_records(struct eddy_pipeline *p)
{
	for (size_t i = 0; i < p->n_records; i++) {
		const struct eddy_record *r = &p->records[i];
		observe(p, &(struct eddy_action){.kind = EDDY_ACTION_PUBLISH,
		                                 .target = r->topic,
		                                 .key = r->key,
		                                 .key_len = r->key_len,
		                                 .value = r->value,
		                                 .value_len = r->value_len});
		if (p->opts.publish && p->opts.publish(p->opts.publish_ud, p->cur, r) != 0) {
			eddy_errf(p->error, sizeof p->error, "publish to %s not accepted",
			          r->topic);
			p->store_failed = true;
			p->fault = EDDY_FAULT_OTHER;
			return -1;
		}
		p->stats.published++;
	}
	drop_writes(p);
	return 0;
}

/* The sink an alert goes to: named, or the default one; NULL when unknown. */
static const char *sink_of(const struct eddy_config *conf, const char *name)
{
	if (!name)
		name = conf->alerts_default_sink ? conf->alerts_default_sink
		       : conf->n_alert_sinks     ? conf->alert_sinks[0].name
		                                 : NULL;
	for (size_t i = 0; name && i < conf->n_alert_sinks; i++)
		if (strcmp(conf->alert_sinks[i].name, name) == 0)
			return conf->alert_sinks[i].name;
	return NULL;
}

static int act_alert(void *ud, const struct eddy_alert_req *req, char *errstr, size_t errstr_size)
{
	struct eddy_pipeline *p = ud;
	const char *sink = sink_of(p->conf, req->sink);
	const char *severity = req->severity ? req->severity : "warning";
	char dedupe[1024];
	struct alert a = {0};

	if (strcmp(severity, "critical") != 0 && strcmp(severity, "warning") != 0 &&
	    strcmp(severity, "info") != 0) {
		eddy_errf(errstr, errstr_size,
		          "ctx.alert: severity \"%.32s\" is not critical, warning or info",
		          severity);
		return -1;
	}
	if (!req->summary || !*req->summary) {
		eddy_errf(errstr, errstr_size, "ctx.alert: summary is required");
		return -1;
	}
	if (!sink && !req->sink && !p->conf->n_alert_sinks && p->opts.outbox_unsent) {
		sink = ""; /* eddy rule test: kept for the dedupe, never sent */
	} else if (!sink && !req->sink && !p->conf->n_alert_sinks && p->opts.observe) {
		/* eddy dev and dry runs without sinks: the alert is shown, not kept */
		observe(p, &(struct eddy_action){.kind = EDDY_ACTION_ALERT,
		                                 .severity = severity,
		                                 .summary = req->summary,
		                                 .labels = req->labels,
		                                 .resolved = req->resolved});
		return 0;
	}
	if (!sink) {
		if (req->sink)
			eddy_errf(errstr, errstr_size,
			          "ctx.alert: sink \"%.64s\" is not in alerts.sinks", req->sink);
		else
			eddy_errf(errstr, errstr_size, "ctx.alert: no alerts.sinks configured");
		return -1;
	}
	a.body = eddy_alerts_body(req, sink, severity, p->cur_ev, p->cur, eddy_now_ms(), dedupe,
	                          sizeof dedupe, &a.body_len);
	a.window_ms =
	    req->window_ms > 0 ? req->window_ms : (int64_t)p->conf->alerts_dedupe_window_s * 1000;
	a.sink = strdup(sink);
	a.dedupe = strdup(dedupe);
	a.summary = strdup(req->summary);
	a.severity = strdup(severity);
	a.labels = strdup(req->labels ? req->labels : "{}");
	a.resolved = req->resolved;
	if (!a.body || !a.sink || !a.dedupe || !a.summary || !a.severity || !a.labels)
		goto oom;
	if (p->n_alerts == p->cap_alerts) {
		size_t cap = p->cap_alerts ? p->cap_alerts * 2 : 4;
		struct alert *v = realloc(p->alerts, cap * sizeof *v);
		if (!v)
			goto oom;
		p->alerts = v;
		p->cap_alerts = cap;
	}
	p->alerts[p->n_alerts++] = a;
	return 0;
oom:
	alert_free(&a);
	eddy_errf(errstr, errstr_size, "ctx.alert: out of memory or alert too big");
	return -1;
}

static int act_publish(void *ud, const struct eddy_publish_req *req, char *errstr,
                       size_t errstr_size)
{
	struct eddy_pipeline *p = ud;
	struct eddy_record r;
	enum eddy_schemas_outcome so =
	    eddy_publish_build(p->conf, p->schemas, req, p->cur_ev, &r, errstr, errstr_size);

	if (so == EDDY_SCHEMAS_RETRY)
		return store_error(p, errstr); /* the registry: not the event's fault */
	if (so != EDDY_SCHEMAS_VALID)
		return -1;
	if (p->n_records == p->cap_records) {
		size_t cap = p->cap_records ? p->cap_records * 2 : 8;
		struct eddy_record *v = realloc(p->records, cap * sizeof *v);
		if (!v) {
			eddy_record_free(&r);
			eddy_errf(errstr, errstr_size, "out of memory");
			return -1;
		}
		p->records = v;
		p->cap_records = cap;
	}
	p->records[p->n_records++] = r;
	return 0;
}

static int act_get(void *ud, const char *ns, const char *key, size_t key_len, const char **value,
                   size_t *len, char *errstr, size_t errstr_size)
{
	struct eddy_pipeline *p = ud;
	if (eddy_store_check_ns(ns, errstr, errstr_size) != 0)
		return -1;
	/* the event's own writes first, newest first (namespaces are SQLite
	 * table names: case does not matter) */
	for (size_t i = p->n_writes; i-- > 0;) {
		const struct write *w = &p->writes[i];
		if (w->key_len != key_len || memcmp(p->buf.s + w->key, key, key_len) != 0 ||
		    strcasecmp(p->buf.s + w->ns, ns) != 0)
			continue;
		if (w->value == SIZE_MAX)
			return 0;
		*value = p->buf.s + w->value;
		*len = w->len;
		return 1;
	}
	if (!p->batch) {
		int rc =
		    eddy_store_get(p->store, ns, key, key_len, value, len, errstr, errstr_size);
		return rc < 0 ? store_error(p, errstr) : rc;
	}
	/* the open batch, the one being committed, what is committed */
	if (eddy_store_batch_find(p->batch, ns, key, key_len, value, len) ||
	    (p->inflight && eddy_store_batch_find(p->inflight, ns, key, key_len, value, len)))
		return *value != NULL;
	if (!p->reader && !(p->reader = eddy_store_open(p->conf, errstr, errstr_size)))
		return store_error(p, errstr);
	int rc = eddy_store_get(p->reader, ns, key, key_len, value, len, errstr, errstr_size);
	return rc < 0 ? store_error(p, errstr) : rc;
}

static int act_upsert(void *ud, const char *ns, const char *key, size_t key_len, const char *value,
                      size_t len, bool parsed, char *errstr, size_t errstr_size)
{
	return add_write(ud, ns, key, key_len, value, len, parsed, errstr, errstr_size);
}

static int act_del(void *ud, const char *ns, const char *key, size_t key_len, char *errstr,
                   size_t errstr_size)
{
	return add_write(ud, ns, key, key_len, NULL, 0, false, errstr, errstr_size);
}

/* What JSON log lines say of the record (m, may be NULL), its event (ev,
 * may be NULL) and the handler (may be NULL). */
static struct eddy_log_ctx log_ctx(const struct eddy_msg *m, const struct eddy_event *ev,
                                   const char *handler)
{
	struct eddy_log_ctx ctx = {.topic = m ? m->topic : NULL,
	                           .partition = m && m->topic ? m->partition : -1,
	                           .offset = m && m->topic ? m->offset : -1,
	                           .handler = handler};
	if (ev) {
		ctx.correlation_id = ev->correlation_id.s;
		ctx.correlation_id_len = ev->correlation_id.len;
		ctx.tenant = ev->tenant.s;
		ctx.tenant_len = ev->tenant.len;
	}
	return ctx;
}

static void act_log(void *ud, const char *handler, const char *level, const char *msg,
                    const char *fields_json)
{
	struct eddy_pipeline *p = ud;
	enum eddy_log_level l = EDDY_LOG_INFO;
	if (strcmp(level, "debug") == 0)
		l = EDDY_LOG_DEBUG;
	else if (strcmp(level, "warn") == 0)
		l = EDDY_LOG_WARN;
	else if (strcmp(level, "error") == 0)
		l = EDDY_LOG_ERROR;
	if (p->opts.observe && eddy_log_enabled(l)) {
		observe(p, &(struct eddy_action){.kind = EDDY_ACTION_LOG,
		                                 .target = handler,
		                                 .severity = level,
		                                 .summary = msg,
		                                 .value = fields_json});
		return;
	}
	struct eddy_log_ctx ctx = log_ctx(p->cur, p->cur_ev, handler);
	eddy_log_at(l, &ctx, fields_json, "%s: %s", handler, msg);
}

static void act_called(void *ud, const char *handler, enum eddy_handler_end end, double seconds)
{
	struct eddy_pipeline *p = ud;
	p->opts.handler_called(p->opts.handler_called_ud, handler, end, seconds);
}

/* The handlers and rules of the config, or of opts.handlers. */
static struct eddy_handlers *load_handlers(struct eddy_pipeline *p, char *errstr,
                                           size_t errstr_size)
{
	if (p->opts.handlers)
		return eddy_handlers_load_conf(p->opts.handlers, &p->actions, errstr, errstr_size);
	return eddy_handlers_load_config(p->conf, &p->actions, errstr, errstr_size);
}

/* What loading the rules found suspicious (eddy check shows it too). */
static void log_warnings(const struct eddy_handlers *h)
{
	for (size_t i = 0; i < eddy_handlers_warning_count(h); i++)
		eddy_log(EDDY_LOG_WARN, "%s", eddy_handlers_warning(h, i));
}

struct eddy_pipeline *eddy_pipeline_new(const struct eddy_config *conf,
                                        const struct eddy_pipeline_opts *opts, char *errstr,
                                        size_t errstr_size)
{
	struct eddy_pipeline *p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	p->conf = conf;
	if (opts)
		p->opts = *opts;
	p->env.require_key_equals_id = conf->require_key_equals_id;
	p->env.require_tenant = conf->require_tenant;
	p->env.tenant_topic_pattern = conf->tenant_topic_pattern;
	p->actions = (struct eddy_actions){.ud = p,
	                                   .get = act_get,
	                                   .upsert = act_upsert,
	                                   .del = act_del,
	                                   .log = act_log,
	                                   .publish = act_publish,
	                                   .alert = act_alert,
	                                   /* timed only when someone counts */
	                                   .called = p->opts.handler_called ? act_called : NULL};

	if (!(p->doc = eddy_json_doc_new())) {
		snprintf(errstr, errstr_size, "out of memory");
		goto err;
	}
	if (!(p->schemas = eddy_schemas_new(conf, errstr, errstr_size)))
		goto err;
	if (!(p->store = eddy_store_open(conf, errstr, errstr_size)))
		goto err;
	if (!(p->handlers = load_handlers(p, errstr, errstr_size)))
		goto err;
	if (p->opts.async_store && !p->opts.observe && !p->opts.dry_run) {
		if (!(p->logs[0] = eddy_store_batch_new()) ||
		    !(p->logs[1] = eddy_store_batch_new())) {
			snprintf(errstr, errstr_size, "out of memory");
			goto err;
		}
		if (!(p->writer = eddy_store_writer_start(p->store, errstr, errstr_size)))
			goto err;
	}
	log_warnings(p->handlers);
	return p;
err:
	eddy_pipeline_destroy(p);
	return NULL;
}

int eddy_pipeline_reload(struct eddy_pipeline *p, char *errstr, size_t errstr_size)
{
	struct eddy_handlers *h = load_handlers(p, errstr, errstr_size);
	struct eddy_schemas *s = h ? eddy_schemas_new(p->conf, errstr, errstr_size) : NULL;

	if (!s) {
		eddy_handlers_destroy(h);
		p->stats.reload_failures++;
		return -1;
	}
	log_warnings(h);
	if (p->clock != 0)
		eddy_handlers_set_clock(h, p->clock);
	eddy_handlers_set_live_ticks(h, p->live_ticks);
	eddy_handlers_destroy(p->handlers);
	eddy_schemas_destroy(p->schemas);
	p->handlers = h;
	p->schemas = s;
	p->stats.reloads++;
	return 0;
}

size_t eddy_pipeline_handler_count(const struct eddy_pipeline *p)
{
	return eddy_handlers_count(p->handlers) - eddy_handlers_rule_files(p->handlers);
}

void eddy_pipeline_set_clock(struct eddy_pipeline *p, double now)
{
	p->clock = now;
	eddy_handlers_set_clock(p->handlers, now);
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool eddy_pipeline_tick_due(const struct eddy_pipeline *p)
{
	return eddy_handlers_ticking(p->handlers) && (!p->live_ticks || mono_s() >= p->next_tick);
}

int eddy_pipeline_tick(struct eddy_pipeline *p, double now, char *errstr, size_t errstr_size)
{
	/* what a tick's writes say they came from: no record */
	static const struct eddy_msg tick_msg = {.partition = -1, .offset = -1, .timestamp_ms = -1};
	char reason[1024];

	if (!eddy_handlers_ticking(p->handlers) || p->inflight)
		return 0; /* the writer has the store: eddy_pipeline_flush first */
	if (now <= 0) {
		double mono = mono_s();
		struct timespec ts;
		if (!p->live_ticks) {
			p->live_ticks = true;
			eddy_handlers_set_live_ticks(p->handlers, true);
		}
		if (mono < p->next_tick)
			return 0;
		p->next_tick = mono + 1;
		clock_gettime(CLOCK_REALTIME, &ts);
		now = (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1e3;
	}
	if (eddy_store_begin(p->store, errstr, errstr_size) != 0)
		return -1;
	p->store_failed = false;
	for (size_t i = 0; i < eddy_handlers_count(p->handlers); i++) {
		if (!eddy_handlers_unit_ticks(p->handlers, i))
			continue;
		const char *name = eddy_handlers_name(p->handlers, i);
		drop_writes(p);
		p->cur = &tick_msg;
		p->cur_ev = NULL;
		int rc = eddy_handlers_tick(p->handlers, i, now, reason, sizeof reason);
		if (p->store_failed || (rc > 0 && apply_writes(p) != 0)) {
			snprintf(errstr, errstr_size, "%s", p->error);
			goto fail;
		}
		if (rc < 0) {
			/* the same failure every second is logged once a minute */
			double mono = mono_s();
			if (mono - p->tick_logged >= 60 || p->tick_logged == 0) {
				eddy_log(EDDY_LOG_ERROR, "tick of %s failed, its work dropped: %s",
				         name, reason);
				p->tick_logged = mono;
			}
			drop_writes(p);
		}
	}
	p->cur = NULL;
	if (p->opts.dry_run) {
		eddy_store_rollback(p->store);
		return 0;
	}
	return eddy_store_commit(p->store, errstr, errstr_size);
fail:
	drop_writes(p);
	p->cur = NULL;
	eddy_store_rollback(p->store);
	return -1;
}

void eddy_pipeline_destroy(struct eddy_pipeline *p)
{
	if (!p)
		return;
	eddy_store_writer_stop(p->writer); /* the batch in flight ends first */
	eddy_store_batch_destroy(p->logs[0]);
	eddy_store_batch_destroy(p->logs[1]);
	eddy_store_destroy(p->reader);
	drop_writes(p);
	free(p->records);
	free(p->alerts);
	free(p->writes);
	free(p->buf.s);
	eddy_handlers_destroy(p->handlers);
	eddy_schemas_destroy(p->schemas);
	eddy_store_destroy(p->store);
	eddy_json_doc_destroy(p->doc);
	free(p);
}

int eddy_pipeline_begin(struct eddy_pipeline *p, char *errstr, size_t errstr_size)
{
	p->store_failed = false;
	if (!p->writer)
		return eddy_store_begin(p->store, errstr, errstr_size);
	p->batch = p->inflight == p->logs[0] ? p->logs[1] : p->logs[0];
	eddy_store_batch_reset(p->batch);
	return 0;
}

static enum eddy_outcome dead_letter(struct eddy_pipeline *p, const struct eddy_msg *m,
                                     const char *stage, const char *reason, const char *handler)
{
	struct eddy_dead_letter dl = {stage, reason, handler};
	p->stats.dead++;
	if (!p->opts.dead_letter)
		eddy_log(EDDY_LOG_WARN, "dead letter: %s %d/%lld: %s: %s%s%s",
		         m->topic ? m->topic : "-", (int)m->partition, (long long)m->offset, stage,
		         handler ? handler : "", handler ? ": " : "", reason);
	if (p->opts.dead_letter && p->opts.dead_letter(p->opts.dead_letter_ud, m, &dl) != 0) {
		snprintf(p->error, sizeof p->error, "dead letter of %s %d/%lld not accepted",
		         m->topic ? m->topic : "-", (int)m->partition, (long long)m->offset);
		p->fault = EDDY_FAULT_OTHER;
		return EDDY_OUTCOME_FAILED;
	}
	return EDDY_OUTCOME_DEAD;
}

/* The registry could not be asked: the record is not at fault, so the
 * batch is abandoned and retried later, like on a store failure. */
static enum eddy_outcome schema_retry(struct eddy_pipeline *p, const struct eddy_msg *m,
                                      const char *reason)
{
	eddy_errf(p->error, sizeof p->error, "%s %d/%lld: %s", m->topic ? m->topic : "-",
	          (int)m->partition, (long long)m->offset, reason);
	p->fault = EDDY_FAULT_REGISTRY;
	return EDDY_OUTCOME_FAILED;
}

enum eddy_outcome eddy_pipeline_handle(struct eddy_pipeline *p, const struct eddy_msg *m)
{
	struct eddy_event ev;
	char reason[1024];
	const char *failed = NULL;

	struct eddy_msg payload;
	enum eddy_schemas_outcome so;

	p->stats.records++;
	p->cur = m;
	/* the wire format frames the value the envelope reads */
	so = eddy_schemas_unwrap(p->schemas, m, &payload, reason, sizeof reason);
	if (so == EDDY_SCHEMAS_RETRY)
		return schema_retry(p, m, reason);
	if (so == EDDY_SCHEMAS_INVALID)
		return dead_letter(p, m, "schema", reason, NULL);
	if (eddy_envelope_decode(&p->env, p->doc, &payload, &ev, reason, sizeof reason) != 0)
		return dead_letter(p, m, "envelope", reason, NULL);
	so = eddy_schemas_check(p->schemas, &ev, p->doc, reason, sizeof reason);
	if (so == EDDY_SCHEMAS_RETRY)
		return schema_retry(p, m, reason);
	if (so == EDDY_SCHEMAS_INVALID) {
		p->stats.schema_invalid++;
		return dead_letter(p, m, "schema", reason, NULL);
	}

	for (int attempt = m->attempts;; attempt++) {
		drop_writes(p);
		p->cur_ev = &ev;
		int n = eddy_handlers_dispatch(p->handlers, &ev, &failed, reason, sizeof reason);
		p->cur_ev = NULL;
		if (p->store_failed)
			return EDDY_OUTCOME_FAILED;
		if (n >= 0) {
			if (apply_writes(p) != 0)
				return EDDY_OUTCOME_FAILED;
			if (n == 0) {
				p->stats.unrouted++;
				return EDDY_OUTCOME_SKIPPED;
			}
			p->stats.handled++;
			return EDDY_OUTCOME_HANDLED;
		}
		if (attempt >= p->conf->handler_retries)
			break;
		int backoff = p->conf->handler_backoff_ms << (attempt < 10 ? attempt : 10);
		struct eddy_log_ctx ctx = log_ctx(m, &ev, failed);
		eddy_log_at(EDDY_LOG_WARN, &ctx, NULL,
		            "%s failed on %s %d/%lld (attempt %d of %d, retry in %d ms): %s",
		            failed, m->topic ? m->topic : "-", (int)m->partition,
		            (long long)m->offset, attempt + 1, p->conf->handler_retries + 1,
		            backoff, reason);
		p->stats.retries++;
		if (p->opts.defer_retries) {
			drop_writes(p);
			p->retry_ms = backoff;
			return EDDY_OUTCOME_RETRY;
		}
		eddy_sleep_ms(backoff, NULL);
	}
	drop_writes(p);
	return dead_letter(p, m, "handler", reason, failed);
}

/* Waits for the batch with the writer; counts its alerts when committed. */
static int collect(struct eddy_pipeline *p, char *errstr, size_t errstr_size)
{
	struct eddy_store_batch_result res;
	int rc = eddy_store_writer_wait(p->writer, &res, errstr, errstr_size);
	if (p->inflight && rc != 0)
		p->stats.aborted_batches++;
	p->inflight = NULL;
	p->stats.alerts += res.alerts;
	p->stats.alerts_deduped += res.alerts_deduped;
	if (rc == 0) {
		p->stats.store_commits++;
		p->stats.store_seconds = res.seconds;
	}
	return rc;
}

int eddy_pipeline_commit(struct eddy_pipeline *p, char *errstr, size_t errstr_size)
{
	p->stats.batches++;
	if (p->batch) {
		struct eddy_store_batch *b = p->batch;
		p->batch = NULL;
		if (collect(p, errstr, errstr_size) != 0) {
			p->stats.aborted_batches++; /* this one: it came after */
			return -1;
		}
		if (eddy_store_batch_count(b)) {
			eddy_store_writer_submit(p->writer, b);
			p->inflight = b;
		}
		return 0;
	}
	if (p->opts.dry_run) {
		eddy_store_rollback(p->store);
		return 0;
	}
	double t0 = mono_s();
	if (eddy_store_commit(p->store, errstr, errstr_size) != 0)
		return -1;
	p->stats.store_commits++;
	p->stats.store_seconds = mono_s() - t0;
	return 0;
}

bool eddy_pipeline_pending(const struct eddy_pipeline *p)
{
	return p->inflight != NULL;
}

bool eddy_pipeline_flushable(const struct eddy_pipeline *p)
{
	return p->inflight && eddy_store_writer_done(p->writer);
}

int eddy_pipeline_flush(struct eddy_pipeline *p, char *errstr, size_t errstr_size)
{
	return p->inflight ? collect(p, errstr, errstr_size) : 0;
}

void eddy_pipeline_abort(struct eddy_pipeline *p)
{
	p->stats.aborted_batches++;
	if (p->batch)
		p->batch = NULL; /* the log is reset by the next begin */
	else
		eddy_store_rollback(p->store);
}

const char *eddy_pipeline_error(const struct eddy_pipeline *p)
{
	return p->error;
}

enum eddy_fault eddy_pipeline_fault(const struct eddy_pipeline *p)
{
	return p->fault;
}

int eddy_pipeline_retry_ms(const struct eddy_pipeline *p)
{
	return p->retry_ms;
}

const struct eddy_pipeline_stats *eddy_pipeline_stats(const struct eddy_pipeline *p)
{
	return &p->stats;
}
