/* http.h - the service's HTTP endpoint (libmicrohttpd, its own thread):
 * /metrics for Prometheus, /livez (and /healthz) for a liveness probe,
 * /readyz for a readiness probe. A slow scrape never slows the pipeline:
 * the pipeline only stores atomics that the endpoint reads. */
#ifndef EDDY_HTTP_H
#define EDDY_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

/* What the probes answer, written by the pipeline's thread. */
struct eddy_health;

/* The reasons a service is not ready; each is set and cleared on its own. */
enum eddy_health_cond {
	EDDY_HEALTH_ASSIGNED, /* no partitions assigned (yet) */
	EDDY_HEALTH_STORE,    /* the store failed its last transaction */
	EDDY_HEALTH_REGISTRY, /* the schema registry failed past its retries */
	EDDY_HEALTH_N
};

/* stale_ms: how long the main loop may go without a turn before /livez
 * answers 503. Every condition starts clear but EDDY_HEALTH_ASSIGNED,
 * which holds until the first assignment. */
struct eddy_health *eddy_health_new(int stale_ms);
void eddy_health_destroy(struct eddy_health *h);
/* The main loop turned (a poll returned). */
void eddy_health_beat(struct eddy_health *h);
/* Sets cond with a reason ("store: database is locked"), or clears it
 * (reason NULL). Copies the reason (up to 255 bytes). */
void eddy_health_set(struct eddy_health *h, enum eddy_health_cond cond, const char *reason);

struct eddy_http;

/* Listens on listen ("127.0.0.1:9464", "0.0.0.0:9464", "[::1]:9464"; port
 * 0 picks a free one) and serves m and h (both borrowed until stop).
 * NULL with the reason in errstr when the address is bad or taken. */
struct eddy_http *eddy_http_start(const char *listen, struct eddy_metrics *m, struct eddy_health *h,
                                  char *errstr, size_t errstr_size);
/* The port it listens on. */
uint16_t eddy_http_port(const struct eddy_http *s);
/* Stops serving and frees s; NULL is a no-op. */
void eddy_http_stop(struct eddy_http *s);

#endif
