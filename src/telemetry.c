/* telemetry.c - eddy's metrics by Prometheus conventions (`eddy_` prefix,
 * `_total` counters, base units) and the endpoint that serves them. */
#include "telemetry.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <luajit.h>

#include "log.h"

/* The series of one handler, found by name on each call (a handful of
 * handlers: a short scan beats a lookup in the registry under its lock). */
struct eddy_telemetry_handler {
	char *name;
	struct eddy_metric *calls, *errors, *cpu, *memory, *seconds;
};

/* The series of one alert sink, and the sender's counts already added to
 * them: requests, then the outcomes of alert_outcome_names. */
struct eddy_telemetry_sink {
	char *name;
	struct eddy_metric *series[5];
	uint64_t synced[5];
};

static const char *const outcome_names[EDDY_RECORD_N] = {"handled", "skipped", "dead_lettered",
                                                         "retried"};
static const char *const alert_outcome_names[4] = {"delivered", "retried", "failed", "given_up"};
static const char *const registry_outcome_names[3] = {"ok", "not_found", "error"};

/* The sink label of alerts whose sink is not configured (any more): in
 * parentheses, which a sink's name hardly has. */
#define UNCONFIGURED_SINK "(not configured)"

/* Short names for the families' label lists. */
#define LABELS(...) ((const char *const[]){__VA_ARGS__, NULL})

#define FAMILY(field) offsetof(struct eddy_telemetry, field), 0
#define SERIES(field) 0, offsetof(struct eddy_telemetry, field)

/* eddy's metrics, one row each: labelled ones fill a family pointer of
 * struct eddy_telemetry, the others their one series. */
static const struct metric_def {
	const char *name, *help;
	enum eddy_metric_type type;
	const char *const *labels;
	size_t family_off, series_off; /* the one that is not 0 */
} defs[] = {
    {"eddy_records_total",
     "Records consumed, by topic and outcome: handled, skipped (no handler subscribed), "
     "dead_lettered, retried (their batch was abandoned, or their partition waits for a "
     "handler retry: fetched again).",
     EDDY_METRIC_COUNTER, LABELS("topic", "outcome"), FAMILY(records)},
    {"eddy_dead_letters_total",
     "Records sent to the dead-letter topic, by the stage that refused them: envelope, "
     "schema, handler, action.",
     EDDY_METRIC_COUNTER, LABELS("stage"), FAMILY(dead_letters)},
    {"eddy_consumer_lag",
     "Records between this consumer's position and the end of each partition it holds, as "
     "of its last fetch; 0 once the partition is revoked.",
     EDDY_METRIC_GAUGE, LABELS("topic", "partition"), FAMILY(lag)},
    {"eddy_rebalances_total", "Partition assignments and revocations of the group.",
     EDDY_METRIC_COUNTER, LABELS("kind"), FAMILY(rebalances)},
    {"eddy_handler_calls_total", "on_event calls, by handler.", EDDY_METRIC_COUNTER,
     LABELS("handler"), FAMILY(handler_calls)},
    {"eddy_handler_errors_total",
     "on_event calls that raised an error, by handler (limit stops not included).",
     EDDY_METRIC_COUNTER, LABELS("handler"), FAMILY(handler_errors)},
    {"eddy_handler_limit_stops_total",
     "on_event calls stopped at a limit, by handler and kind: cpu (handler.cpu_limit_ms), "
     "memory (handler.memory_limit_mb).",
     EDDY_METRIC_COUNTER, LABELS("handler", "kind"), FAMILY(handler_stops)},
    {"eddy_handler_duration_seconds", "Wall time of on_event calls, by handler.",
     EDDY_METRIC_HISTOGRAM, LABELS("handler"), FAMILY(handler_seconds)},
    {"eddy_alert_deliveries_total",
     "Outcomes of the alert sender's attempts, by sink and outcome: delivered (2xx), retried "
     "(5xx, 408, 429, network), failed (for good), given_up (older than alerts.max_age_s); "
     "sink \"" UNCONFIGURED_SINK "\" for alerts whose sink is not configured.",
     EDDY_METRIC_COUNTER, LABELS("sink", "outcome"), FAMILY(alert_deliveries)},
    {"eddy_alert_requests_total",
     "Requests the alert sender started, by sink; every attempt of an alert counts.",
     EDDY_METRIC_COUNTER, LABELS("sink"), FAMILY(alert_requests)},
    {"eddy_schema_registry_requests_total",
     "Requests to the schema registry, every try counted, by outcome: ok, not_found (no such "
     "schema, subject or version), error (network, timeout, 5xx, 401, unparsable answer).",
     EDDY_METRIC_COUNTER, LABELS("outcome"), FAMILY(registry_requests)},
    {"eddy_batches_total", "Batches made durable.", EDDY_METRIC_COUNTER, NULL, SERIES(batches)},
    {"eddy_batches_abandoned_total",
     "Batches abandoned (store or registry failure) and polled again.", EDDY_METRIC_COUNTER, NULL,
     SERIES(batches_abandoned)},
    {"eddy_fetch_nudges_total",
     "Requests sent to wake librdkafka's fetcher once the loop had drained a full fetch queue.",
     EDDY_METRIC_COUNTER, NULL, SERIES(fetch_nudges)},
    {"eddy_offset_commits_total", "Offset commits to the group.", EDDY_METRIC_COUNTER, NULL,
     SERIES(commits)},
    {"eddy_offset_commit_failures_total", "Offset commits the group refused.", EDDY_METRIC_COUNTER,
     NULL, SERIES(commit_failures)},
    {"eddy_offset_commit_duration_seconds",
     "Time to settle a batch's produced records and commit its offsets.", EDDY_METRIC_HISTOGRAM,
     NULL, SERIES(commit_seconds)},
    {"eddy_store_transaction_duration_seconds",
     "Time to commit a batch's store transaction (durable on disk).", EDDY_METRIC_HISTOGRAM, NULL,
     SERIES(store_seconds)},
    {"eddy_store_transaction_failures_total", "Store transactions that failed to begin or commit.",
     EDDY_METRIC_COUNTER, NULL, SERIES(store_failures)},
    {"eddy_store_upserts_total",
     "ctx.upsert writes applied to a batch's store transaction (a batch handled again counts "
     "again).",
     EDDY_METRIC_COUNTER, NULL, SERIES(upserts)},
    {"eddy_store_deletes_total",
     "ctx.delete writes applied to a batch's store transaction (a batch handled again counts "
     "again).",
     EDDY_METRIC_COUNTER, NULL, SERIES(deletes)},
    {"eddy_published_total", "Records handlers published (ctx.publish).", EDDY_METRIC_COUNTER, NULL,
     SERIES(published)},
    {"eddy_delivery_failures_total",
     "Records eddy produced that the broker did not acknowledge, by kind: published "
     "(ctx.publish), dead_letter. Their source record is not committed and is handled again.",
     EDDY_METRIC_COUNTER, LABELS("kind"), FAMILY(delivery_failures)},
    {"eddy_alerts_raised_total", "Alerts written to the outbox.", EDDY_METRIC_COUNTER, NULL,
     SERIES(alerts)},
    {"eddy_alerts_deduplicated_total", "Alerts raised again within the dedupe window and dropped.",
     EDDY_METRIC_COUNTER, NULL, SERIES(alerts_deduped)},
    {"eddy_alert_requests_in_flight", "Alert requests under way.", EDDY_METRIC_GAUGE, NULL,
     SERIES(alerts_in_flight)},
    {"eddy_alert_outbox_pending",
     "Alerts in the outbox not delivered nor failed yet (due, or waiting out a backoff), as "
     "the alert sender counted them last (once a second).",
     EDDY_METRIC_GAUGE, NULL, SERIES(alert_outbox)},
    {"eddy_schema_registry_cache_hits_total",
     "Schema lookups answered from the registry client's cache, without a request.",
     EDDY_METRIC_COUNTER, NULL, SERIES(registry_cache_hits)},
    {"eddy_schema_registry_failures_total",
     "Schema lookups the registry could not answer after the retries (the batch is abandoned "
     "and polled again, or a cached latest version is used).",
     EDDY_METRIC_COUNTER, NULL, SERIES(registry_failures)},
    {"eddy_handler_retries_total", "Events retried after a handler failed.", EDDY_METRIC_COUNTER,
     NULL, SERIES(handler_retries)},
    {"eddy_reloads_total", "Handler and schema reloads that took.", EDDY_METRIC_COUNTER, NULL,
     SERIES(reloads)},
    {"eddy_reload_failures_total", "Reloads that failed; the running handlers stayed.",
     EDDY_METRIC_COUNTER, NULL, SERIES(reload_failures)},
};

/* Every metric of defs, build_info and the registry outcomes' series;
 * false when one could not be made (no memory). */
static bool register_all(struct eddy_telemetry *t)
{
	struct eddy_metrics *m = t->registry;
	struct eddy_metric_family *info = eddy_metrics_family(
	    m, "eddy_build_info", "The versions eddy runs with; the value is always 1.",
	    EDDY_METRIC_GAUGE, LABELS("version", "luajit", "librdkafka"), NULL, 0);
	struct eddy_metric *version =
	    eddy_metric_get(info, LABELS(EDDY_VERSION, LUAJIT_VERSION, rd_kafka_version_str()));

	if (!version)
		return false;
	eddy_metric_set(version, 1);
	for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
		const struct metric_def *d = &defs[i];
		struct eddy_metric_family *f =
		    eddy_metrics_family(m, d->name, d->help, d->type, d->labels, NULL, 0);
		if (!f)
			return false;
		if (d->family_off)
			*(struct eddy_metric_family **)((char *)t + d->family_off) = f;
		else
			*(struct eddy_metric **)((char *)t + d->series_off) = eddy_metric_only(f);
	}
	for (int i = 0; i < 3; i++)
		if (!(t->registry_outcomes[i] =
		          eddy_metric_get(t->registry_requests, LABELS(registry_outcome_names[i]))))
			return false;
	return true;
}

struct eddy_telemetry *eddy_telemetry_new(const struct eddy_config *conf, bool required,
                                          char *errstr, size_t errstr_size)
{
	struct eddy_telemetry *t = calloc(1, sizeof *t);
	char err[256];

	if (!t || !(t->registry = eddy_metrics_new()) ||
	    !(t->health = eddy_health_new(conf->http_stuck_after_ms)) || !register_all(t)) {
		eddy_errf(errstr, errstr_size, "metrics: out of memory");
		goto fail;
	}
	if (!conf->http_listen || !*conf->http_listen)
		return t;
	t->http = eddy_http_start(conf->http_listen, t->registry, t->health, err, sizeof err);
	if (t->http) {
		eddy_log(EDDY_LOG_INFO, "http: /metrics, /livez, /readyz on %s (port %u)",
		         conf->http_listen, eddy_http_port(t->http));
	} else if (required) {
		eddy_errf(errstr, errstr_size, "%s", err);
		goto fail;
	} else {
		eddy_log(EDDY_LOG_WARN, "%s; going on without /metrics", err);
	}
	return t;
fail:
	eddy_telemetry_destroy(t);
	return NULL;
}

void eddy_telemetry_destroy(struct eddy_telemetry *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_handlers; i++)
		free(t->handlers[i].name);
	free(t->handlers);
	for (size_t i = 0; i < t->n_sinks; i++)
		free(t->sinks[i].name);
	free(t->sinks);
	eddy_http_stop(t->http);
	eddy_health_destroy(t->health);
	eddy_metrics_destroy(t->registry);
	free(t);
}

struct eddy_metric *eddy_telemetry_records(struct eddy_telemetry *t, const char *topic,
                                           enum eddy_record_outcome outcome)
{
	return eddy_metric_get(t->records, LABELS(topic, outcome_names[outcome]));
}

void eddy_telemetry_dead_letter(struct eddy_telemetry *t, const char *stage)
{
	eddy_metric_inc(eddy_metric_get(t->dead_letters, LABELS(stage)));
}

struct eddy_metric *eddy_telemetry_lag(struct eddy_telemetry *t, const char *topic,
                                       int32_t partition)
{
	char p[16];
	snprintf(p, sizeof p, "%d", (int)partition);
	return eddy_metric_get(t->lag, LABELS(topic, p));
}

/* Adds to a counter what a cumulative count grew by since it was was. */
static void add_growth(struct eddy_metric *m, uint64_t now, uint64_t was)
{
	if (now > was)
		eddy_metric_add(m, (double)(now - was));
}

/* Adds the growth of one pipeline counter. */
#define SYNC(metric, field) add_growth(t->metric, s->field, t->synced.field)

void eddy_telemetry_sync(struct eddy_telemetry *t, const struct eddy_pipeline_stats *s)
{
	struct eddy_registry_counters rc;

	SYNC(upserts, upserts);
	SYNC(deletes, deletes);
	SYNC(published, published);
	SYNC(alerts, alerts);
	SYNC(alerts_deduped, alerts_deduped);
	SYNC(handler_retries, retries);
	SYNC(reloads, reloads);
	SYNC(reload_failures, reload_failures);
	t->synced = *s;

	eddy_registry_counters(&rc);
	add_growth(t->registry_outcomes[0], rc.ok, t->registry_synced.ok);
	add_growth(t->registry_outcomes[1], rc.not_found, t->registry_synced.not_found);
	add_growth(t->registry_outcomes[2], rc.errors, t->registry_synced.errors);
	add_growth(t->registry_cache_hits, rc.cache_hits, t->registry_synced.cache_hits);
	add_growth(t->registry_failures, rc.failures, t->registry_synced.failures);
	t->registry_synced = rc;
}

/* Room for one more element of size in *v (n used of *cap); false without
 * memory, *v unchanged. */
static bool grow(void *v, size_t n, size_t *cap, size_t size)
{
	void *p;

	if (n < *cap)
		return true;
	if (!(p = realloc(*(void **)v, (*cap ? *cap * 2 : 8) * size)))
		return false;
	*(void **)v = p;
	*cap = *cap ? *cap * 2 : 8;
	return true;
}

/* The series of the alert sink name, made with every outcome at 0 on
 * first use; NULL without memory. */
static struct eddy_telemetry_sink *sink_of(struct eddy_telemetry *t, const char *name)
{
	struct eddy_telemetry_sink *s;

	for (size_t i = 0; i < t->n_sinks; i++)
		if (strcmp(t->sinks[i].name, name) == 0)
			return &t->sinks[i];
	if (!grow(&t->sinks, t->n_sinks, &t->cap_sinks, sizeof *s))
		return NULL;
	s = &t->sinks[t->n_sinks];
	memset(s, 0, sizeof *s);
	if (!(s->name = strdup(name)))
		return NULL;
	s->series[0] = eddy_metric_get(t->alert_requests, LABELS(name));
	for (int i = 0; i < 4; i++)
		s->series[i + 1] =
		    eddy_metric_get(t->alert_deliveries, LABELS(name, alert_outcome_names[i]));
	t->n_sinks++;
	return s;
}

void eddy_telemetry_sync_alerts(struct eddy_telemetry *t, const struct eddy_alerts_stats *s)
{
	for (size_t i = 0; i < s->n_sinks; i++) {
		const struct eddy_alerts_sink_counters *c = &s->sinks[i];
		const uint64_t now[5] = {atomic_load_explicit(&c->requests, memory_order_relaxed),
		                         atomic_load_explicit(&c->delivered, memory_order_relaxed),
		                         atomic_load_explicit(&c->retried, memory_order_relaxed),
		                         atomic_load_explicit(&c->failed, memory_order_relaxed),
		                         atomic_load_explicit(&c->given_up, memory_order_relaxed)};
		struct eddy_telemetry_sink *ts;

		/* Alerts of a sink no longer configured are rare: their
		 * series appear when there are some. */
		if (!c->name && !(now[0] | now[1] | now[2] | now[3] | now[4]))
			continue;
		if (!(ts = sink_of(t, c->name ? c->name : UNCONFIGURED_SINK)))
			continue; /* no memory: a metric lost, never an alert */
		for (int j = 0; j < 5; j++) {
			add_growth(ts->series[j], now[j], ts->synced[j]);
			ts->synced[j] = now[j];
		}
	}
	eddy_metric_set(t->alerts_in_flight, (double)s->in_flight);
	if (s->outbox_pending >= 0)
		eddy_metric_set(t->alert_outbox, (double)s->outbox_pending);
}

static struct eddy_telemetry_handler *handler_of(struct eddy_telemetry *t, const char *name)
{
	for (size_t i = 0; i < t->n_handlers; i++)
		if (strcmp(t->handlers[i].name, name) == 0)
			return &t->handlers[i];
	if (!grow(&t->handlers, t->n_handlers, &t->cap_handlers, sizeof t->handlers[0]))
		return NULL;
	struct eddy_telemetry_handler *h = &t->handlers[t->n_handlers];
	if (!(h->name = strdup(name)))
		return NULL;
	h->calls = eddy_metric_get(t->handler_calls, LABELS(name));
	h->errors = eddy_metric_get(t->handler_errors, LABELS(name));
	h->cpu = eddy_metric_get(t->handler_stops, LABELS(name, "cpu"));
	h->memory = eddy_metric_get(t->handler_stops, LABELS(name, "memory"));
	h->seconds = eddy_metric_get(t->handler_seconds, LABELS(name));
	t->n_handlers++;
	return h;
}

void eddy_telemetry_handler_called(void *ud, const char *handler, enum eddy_handler_end end,
                                   double seconds)
{
	struct eddy_telemetry_handler *h = handler_of(ud, handler);

	if (!h)
		return; /* no memory: a metric lost, never an event */
	eddy_metric_inc(h->calls);
	eddy_metric_observe(h->seconds, seconds);
	if (end == EDDY_HANDLER_ERROR)
		eddy_metric_inc(h->errors);
	else if (end == EDDY_HANDLER_CPU_LIMIT)
		eddy_metric_inc(h->cpu);
	else if (end == EDDY_HANDLER_MEMORY_LIMIT)
		eddy_metric_inc(h->memory);
}
