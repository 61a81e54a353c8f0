/* telemetry.h - the service's own metrics (every name, help text and label
 * set in one table-like place) and its probes, served over HTTP when
 * http.listen is set. The consumer loop updates them; nothing here slows
 * an event beyond an atomic add. */
#ifndef EDDY_TELEMETRY_H
#define EDDY_TELEMETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "alerts.h"
#include "config.h"
#include "http.h"
#include "metrics.h"
#include "pipeline.h"
#include "schema/registry.h"

/* Outcomes of a record in eddy_records_total. */
enum eddy_record_outcome {
	EDDY_RECORD_HANDLED,       /* its handlers ran and their actions are durable */
	EDDY_RECORD_SKIPPED,       /* no handler subscribed */
	EDDY_RECORD_DEAD_LETTERED, /* sent to the dead-letter topic */
	EDDY_RECORD_RETRIED,       /* its batch was abandoned; it is handled again */
	EDDY_RECORD_N
};

struct eddy_telemetry {
	struct eddy_metrics *registry;
	struct eddy_health *health;
	struct eddy_http *http;                       /* NULL when http.listen is empty */
	struct eddy_metric_family *records;           /* {topic, outcome} */
	struct eddy_metric_family *dead_letters;      /* {stage} */
	struct eddy_metric_family *lag;               /* {topic, partition} */
	struct eddy_metric_family *rebalances;        /* {kind} */
	struct eddy_metric_family *delivery_failures; /* {kind}: published, dead_letter */
	struct eddy_metric *batches, *batches_abandoned;
	struct eddy_metric *fetch_nudges;
	struct eddy_metric *commits, *commit_failures, *commit_seconds;
	struct eddy_metric *store_seconds, *store_failures;
	struct eddy_metric *upserts, *deletes, *published, *alerts, *alerts_deduped;
	struct eddy_metric *handler_retries, *reloads, *reload_failures;
	struct eddy_metric_family *handler_calls, *handler_errors, *handler_stops, *handler_seconds;
	struct eddy_metric_family *alert_deliveries; /* {sink, outcome} */
	struct eddy_metric_family *alert_requests;   /* {sink} */
	struct eddy_telemetry_handler *handlers;     /* per handler name, made on first call */
	size_t n_handlers, cap_handlers;
	struct eddy_telemetry_sink *sinks; /* per alert sink, made on first sync */
	size_t n_sinks, cap_sinks;
	struct eddy_metric *alerts_in_flight, *alert_outbox;
	struct eddy_metric_family *registry_requests; /* {outcome} */
	struct eddy_metric *registry_outcomes[3];     /* ok, not_found, error */
	struct eddy_metric *registry_cache_hits, *registry_failures;
	struct eddy_pipeline_stats synced;             /* the pipeline's counters already added */
	struct eddy_registry_counters registry_synced; /* the registry clients' */
};

/* Registers every metric and, unless conf->http_listen is empty, serves
 * them. required: whether an endpoint that cannot listen is an error (eddy
 * run) or only a warning (eddy dev). NULL with errstr on failure. */
struct eddy_telemetry *eddy_telemetry_new(const struct eddy_config *conf, bool required,
                                          char *errstr, size_t errstr_size);
/* Stops serving and frees t; NULL is a no-op. */
void eddy_telemetry_destroy(struct eddy_telemetry *t);

/* The series of records of topic with outcome; cache it per partition. */
struct eddy_metric *eddy_telemetry_records(struct eddy_telemetry *t, const char *topic,
                                           enum eddy_record_outcome outcome);
/* A dead letter of stage (envelope, schema, handler, action). */
void eddy_telemetry_dead_letter(struct eddy_telemetry *t, const char *stage);
/* The lag series of one partition. */
struct eddy_metric *eddy_telemetry_lag(struct eddy_telemetry *t, const char *topic,
                                       int32_t partition);
/* Adds what the pipeline counted since the last call (upserts, deletes,
 * published records, alerts, handler retries, reloads), and what the
 * process's schema registry clients did (eddy_registry_counters). */
void eddy_telemetry_sync(struct eddy_telemetry *t, const struct eddy_pipeline_stats *s);
/* One handler call: an eddy_pipeline_opts.handler_called (ud: the
 * telemetry). */
void eddy_telemetry_handler_called(void *ud, const char *handler, enum eddy_handler_end end,
                                   double seconds);

/* The same for the alert sender's counters, per sink, and sets its gauges
 * (requests in flight, the outbox's pending alerts). s->sinks is read
 * during the call only. */
void eddy_telemetry_sync_alerts(struct eddy_telemetry *t, const struct eddy_alerts_stats *s);

#endif
