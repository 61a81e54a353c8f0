/* test_http.c - the HTTP endpoint through a real client (libcurl) on
 * 127.0.0.1: /metrics, /livez and /healthz with a stuck loop, /readyz as
 * its conditions are set and cleared, unknown paths and methods, a port
 * already taken, bad listen addresses. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "test.h"

struct reply {
	long status;
	char body[4096];
	size_t len;
	char type[128];
};

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;
	size_t k = size * n;
	if (r->len + k >= sizeof r->body)
		k = sizeof r->body - 1 - r->len;
	memcpy(r->body + r->len, p, k);
	r->len += k;
	r->body[r->len] = 0;
	return size * n;
}

static struct reply get(uint16_t port, const char *method, const char *path)
{
	struct reply r = {0};
	char url[256];
	char *type = NULL;
	CURL *c = curl_easy_init();

	snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	if (curl_easy_perform(c) == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
		if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type)
			snprintf(r.type, sizeof r.type, "%s", type);
	}
	curl_easy_cleanup(c);
	return r;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

int main(void)
{
	char err[256] = "";
	struct eddy_metrics *m = eddy_metrics_new();
	struct eddy_health *h = eddy_health_new(300);
	struct eddy_metric_family *f =
	    eddy_metrics_family(m, "eddy_records_total", "Records.", EDDY_METRIC_COUNTER,
	                        (const char *const[]){"topic", NULL}, NULL, 0);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	eddy_metric_add(eddy_metric_get(f, (const char *const[]){"orders"}), 42);
	struct eddy_http *s = eddy_http_start("127.0.0.1:0", m, h, err, sizeof err);
	CHECK(s && eddy_http_port(s) > 0);
	if (!s) {
		fprintf(stderr, "  %s\n", err);
		return test_report("test_http");
	}
	uint16_t port = eddy_http_port(s);

	struct reply r = get(port, "GET", "/metrics");
	CHECK(r.status == 200);
	CHECK_STR(r.type, "text/plain; version=0.0.4; charset=utf-8");
	CHECK(strstr(r.body, "eddy_records_total{topic=\"orders\"} 42\n") != NULL);
	r = get(port, "HEAD", "/metrics");
	CHECK(r.status == 200 && r.len == 0);

	/* liveness: the loop turns, then stops turning past stale_ms */
	eddy_health_beat(h);
	r = get(port, "GET", "/livez");
	CHECK(r.status == 200);
	CHECK_STR(r.body, "ok\n");
	CHECK(get(port, "GET", "/healthz").status == 200);
	sleep_ms(450);
	r = get(port, "GET", "/livez");
	CHECK(r.status == 503 && strstr(r.body, "has not turned for"));
	CHECK(get(port, "GET", "/healthz").status == 503);
	eddy_health_beat(h);
	CHECK(get(port, "GET", "/livez").status == 200);

	/* readiness: not assigned at the start, then each condition */
	r = get(port, "GET", "/readyz");
	CHECK(r.status == 503);
	CHECK_STR(r.body, "not ready: no partitions assigned yet\n");
	eddy_health_set(h, EDDY_HEALTH_ASSIGNED, NULL);
	r = get(port, "GET", "/readyz");
	CHECK(r.status == 200);
	CHECK_STR(r.body, "ready\n");
	eddy_health_set(h, EDDY_HEALTH_STORE, "store: database is locked");
	eddy_health_set(h, EDDY_HEALTH_REGISTRY, "schema registry: connection refused");
	r = get(port, "GET", "/readyz");
	CHECK(r.status == 503);
	CHECK_STR(r.body, "not ready: store: database is locked\n"
	                  "not ready: schema registry: connection refused\n");
	eddy_health_set(h, EDDY_HEALTH_STORE, NULL);
	eddy_health_set(h, EDDY_HEALTH_REGISTRY, NULL);
	CHECK(get(port, "GET", "/readyz").status == 200);

	/* what it does not serve */
	r = get(port, "GET", "/nope");
	CHECK(r.status == 404 && strstr(r.body, "/metrics"));
	CHECK(get(port, "POST", "/metrics").status == 405);

	/* the same port twice, and addresses that are not host:port */
	char taken[64];
	snprintf(taken, sizeof taken, "127.0.0.1:%u", port);
	CHECK(eddy_http_start(taken, m, h, err, sizeof err) == NULL &&
	      strstr(err, "cannot listen"));
	CHECK(eddy_http_start("localhost", m, h, err, sizeof err) == NULL &&
	      strstr(err, "not host:port"));
	CHECK(eddy_http_start("no.such.host.invalid:80", m, h, err, sizeof err) == NULL &&
	      strstr(err, "http.listen"));
	struct eddy_http *v6 = eddy_http_start("[::1]:0", m, h, err, sizeof err);
	CHECK(v6 != NULL || strstr(err, "cannot listen")); /* hosts without IPv6 refuse */
	eddy_http_stop(v6);

	eddy_http_stop(s);
	eddy_http_stop(NULL);
	eddy_health_destroy(h);
	eddy_metrics_destroy(m);
	curl_global_cleanup();
	return test_report("test_http");
}
