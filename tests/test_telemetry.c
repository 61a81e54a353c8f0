/* test_telemetry.c - eddy's own metrics: handler calls by how they ended,
 * the pipeline's counters added once, the alert sender's outcomes per sink
 * and its outbox, the schema registry clients' requests; and no endpoint
 * when http.listen is empty. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "telemetry.h"
#include "test.h"

/* The value of series in the rendering, or -1. */
static double sample(struct eddy_telemetry *t, const char *series)
{
	char *text = eddy_metrics_render(t->registry, NULL), *at;
	double v = -1;
	size_t n = strlen(series);

	for (at = text; at && (at = strstr(at, series)); at += n)
		if ((at == text || at[-1] == '\n') && at[n] == ' ') {
			v = strtod(at + n + 1, NULL);
			break;
		}
	free(text);
	return v;
}

/* The sender's counters reach the series of their sink, each growth added
 * once; alerts of no configured sink get theirs when there are some; the
 * gauges follow the last snapshot, the outbox's only once counted. */
static void test_alerts(struct eddy_telemetry *t)
{
	struct eddy_alerts_sink_counters c[3] = {{.name = "ops"}, {.name = "chat"}, {.name = NULL}};
	struct eddy_alerts_stats as = {
	    .in_flight = 2, .outbox_pending = -1, .sinks = c, .n_sinks = 3};

	eddy_telemetry_sync_alerts(t, &as);
	CHECK(sample(t, "eddy_alert_requests_total{sink=\"chat\"}") == 0);
	CHECK(sample(t, "eddy_alert_deliveries_total{sink=\"chat\",outcome=\"given_up\"}") == 0);
	CHECK(sample(t,
	             "eddy_alert_deliveries_total{sink=\"(not configured)\",outcome=\"failed\"}") ==
	      -1);
	CHECK(sample(t, "eddy_alert_requests_in_flight") == 2);
	CHECK(sample(t, "eddy_alert_outbox_pending") == 0);

	atomic_store(&c[0].requests, 4);
	atomic_store(&c[0].delivered, 3);
	atomic_store(&c[0].retried, 1);
	atomic_store(&c[1].failed, 2);
	as.outbox_pending = 5;
	eddy_telemetry_sync_alerts(t, &as);
	eddy_telemetry_sync_alerts(t, &as);
	atomic_store(&c[0].delivered, 4);
	atomic_store(&c[2].failed, 1);
	as.in_flight = 0;
	eddy_telemetry_sync_alerts(t, &as);
	CHECK(sample(t, "eddy_alert_requests_total{sink=\"ops\"}") == 4);
	CHECK(sample(t, "eddy_alert_deliveries_total{sink=\"ops\",outcome=\"delivered\"}") == 4);
	CHECK(sample(t, "eddy_alert_deliveries_total{sink=\"ops\",outcome=\"retried\"}") == 1);
	CHECK(sample(t, "eddy_alert_deliveries_total{sink=\"ops\",outcome=\"failed\"}") == 0);
	CHECK(sample(t, "eddy_alert_deliveries_total{sink=\"chat\",outcome=\"failed\"}") == 2);
	CHECK(sample(t, "eddy_alert_deliveries_total{sink=\"chat\",outcome=\"delivered\"}") == 0);
	CHECK(sample(t,
	             "eddy_alert_deliveries_total{sink=\"(not configured)\",outcome=\"failed\"}") ==
	      1);
	CHECK(sample(t, "eddy_alert_requests_in_flight") == 0);
	CHECK(sample(t, "eddy_alert_outbox_pending") == 5);

	/* a count that failed (-1) leaves the last one shown */
	as.outbox_pending = -1;
	eddy_telemetry_sync_alerts(t, &as);
	CHECK(sample(t, "eddy_alert_outbox_pending") == 5);
	as.outbox_pending = 0;
	eddy_telemetry_sync_alerts(t, &as);
	CHECK(sample(t, "eddy_alert_outbox_pending") == 0);
}

/* A real client against a port nobody listens on: each try is an error
 * request, the lookup one failure; the process's counters reach the
 * series at the next sync, once. */
static void test_registry(struct eddy_telemetry *t)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	const struct eddy_registry_schema *schema = NULL;
	struct eddy_pipeline_stats none = {0};
	struct eddy_registry_conf rconf = {.retries = 1, .backoff_ms = 10, .timeout_ms = 2000};
	struct eddy_registry *r;
	char url[64], err[256];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* A port the system just gave out and nobody listens on. */
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	      getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
	rconf.url = url;
	eddy_telemetry_sync(t, &none);
	CHECK(sample(t, "eddy_schema_registry_requests_total{outcome=\"ok\"}") == 0);
	CHECK(sample(t, "eddy_schema_registry_requests_total{outcome=\"error\"}") == 0);
	CHECK(sample(t, "eddy_schema_registry_failures_total") == 0);

	r = eddy_registry_new(&rconf, err, sizeof(err));
	CHECK(r != NULL);
	CHECK(r && eddy_registry_by_id(r, 1, &schema, err, sizeof(err)) == -1);
	eddy_registry_destroy(r);
	eddy_telemetry_sync(t, &none);
	eddy_telemetry_sync(t, &none);
	CHECK(sample(t, "eddy_schema_registry_requests_total{outcome=\"error\"}") == 2);
	CHECK(sample(t, "eddy_schema_registry_requests_total{outcome=\"ok\"}") == 0);
	CHECK(sample(t, "eddy_schema_registry_requests_total{outcome=\"not_found\"}") == 0);
	CHECK(sample(t, "eddy_schema_registry_failures_total") == 1);
	CHECK(sample(t, "eddy_schema_registry_cache_hits_total") == 0);
}

int main(void)
{
	struct eddy_config *conf = eddy_config_new();
	char err[256];

	free(conf->http_listen);
	conf->http_listen = strdup("");
	struct eddy_telemetry *t = eddy_telemetry_new(conf, true, err, sizeof err);
	CHECK(t != NULL && t->http == NULL);
	if (!t)
		return test_report("test_telemetry");

	eddy_telemetry_handler_called(t, "a.lua", EDDY_HANDLER_OK, 0.002);
	eddy_telemetry_handler_called(t, "a.lua", EDDY_HANDLER_ERROR, 0.001);
	eddy_telemetry_handler_called(t, "a.lua", EDDY_HANDLER_CPU_LIMIT, 1.0);
	eddy_telemetry_handler_called(t, "b.lua", EDDY_HANDLER_MEMORY_LIMIT, 0.3);
	CHECK(sample(t, "eddy_handler_calls_total{handler=\"a.lua\"}") == 3);
	CHECK(sample(t, "eddy_handler_errors_total{handler=\"a.lua\"}") == 1);
	CHECK(sample(t, "eddy_handler_limit_stops_total{handler=\"a.lua\",kind=\"cpu\"}") == 1);
	CHECK(sample(t, "eddy_handler_limit_stops_total{handler=\"a.lua\",kind=\"memory\"}") == 0);
	CHECK(sample(t, "eddy_handler_limit_stops_total{handler=\"b.lua\",kind=\"memory\"}") == 1);
	CHECK(sample(t, "eddy_handler_duration_seconds_count{handler=\"a.lua\"}") == 3);
	CHECK(sample(t, "eddy_handler_duration_seconds_bucket{handler=\"a.lua\",le=\"0.0025\"}") ==
	      2);

	/* the pipeline's counters are cumulative: each sync adds the growth */
	struct eddy_pipeline_stats s = {.upserts = 5, .deletes = 1, .retries = 2};
	eddy_telemetry_sync(t, &s);
	eddy_telemetry_sync(t, &s);
	s.upserts = 7;
	eddy_telemetry_sync(t, &s);
	CHECK(sample(t, "eddy_store_upserts_total") == 7);
	CHECK(sample(t, "eddy_store_deletes_total") == 1);
	CHECK(sample(t, "eddy_handler_retries_total") == 2);

	test_alerts(t);
	test_registry(t);

	eddy_telemetry_dead_letter(t, "schema");
	eddy_metric_inc(eddy_telemetry_records(t, "orders", EDDY_RECORD_SKIPPED));
	CHECK(sample(t, "eddy_dead_letters_total{stage=\"schema\"}") == 1);
	CHECK(sample(t, "eddy_records_total{topic=\"orders\",outcome=\"skipped\"}") == 1);

	eddy_telemetry_destroy(t);
	eddy_telemetry_destroy(NULL);
	eddy_config_destroy(conf);
	return test_report("test_telemetry");
}
