/* test_telemetry.c - eddy's own metrics: handler calls by how they ended,
 * the pipeline's counters added once, the alert sender's outcomes; and no
 * endpoint when http.listen is empty. */
#include <stdlib.h>
#include <string.h>

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

	struct eddy_alerts_stats as = {.delivered = 3, .retried = 1, .in_flight = 2};
	eddy_telemetry_sync_alerts(t, &as);
	as.delivered = 4;
	as.in_flight = 0;
	eddy_telemetry_sync_alerts(t, &as);
	CHECK(sample(t, "eddy_alert_deliveries_total{outcome=\"delivered\"}") == 4);
	CHECK(sample(t, "eddy_alert_deliveries_total{outcome=\"retried\"}") == 1);
	CHECK(sample(t, "eddy_alert_requests_in_flight") == 0);

	eddy_telemetry_dead_letter(t, "schema");
	eddy_metric_inc(eddy_telemetry_records(t, "orders", EDDY_RECORD_SKIPPED));
	CHECK(sample(t, "eddy_dead_letters_total{stage=\"schema\"}") == 1);
	CHECK(sample(t, "eddy_records_total{topic=\"orders\",outcome=\"skipped\"}") == 1);

	eddy_telemetry_destroy(t);
	eddy_telemetry_destroy(NULL);
	eddy_config_destroy(conf);
	return test_report("test_telemetry");
}
