/* http.c - /metrics, /livez, /healthz and /readyz on libmicrohttpd's own
 * thread. The handlers only read: the registry renders under its own lock,
 * the health state is atomics plus reasons under a mutex. */
#include "http.h"

#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "log.h"

struct eddy_health {
	int stale_ms;
	_Atomic int64_t beat_ms; /* monotonic ms of the last turn of the main loop */
	pthread_mutex_t lock;    /* the reasons */
	bool held[EDDY_HEALTH_N];
	char reason[EDDY_HEALTH_N][256]; /* fixed: setting one never fails */
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct eddy_health *eddy_health_new(int stale_ms)
{
	struct eddy_health *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	if (pthread_mutex_init(&h->lock, NULL) != 0) {
		free(h);
		return NULL;
	}
	h->held[EDDY_HEALTH_ASSIGNED] = true;
	snprintf(h->reason[EDDY_HEALTH_ASSIGNED], sizeof h->reason[0],
	         "no partitions assigned yet");
	h->stale_ms = stale_ms;
	atomic_store(&h->beat_ms, mono_ms());
	return h;
}

void eddy_health_destroy(struct eddy_health *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void eddy_health_beat(struct eddy_health *h)
{
	if (h)
		atomic_store_explicit(&h->beat_ms, mono_ms(), memory_order_relaxed);
}

void eddy_health_set(struct eddy_health *h, enum eddy_health_cond cond, const char *reason)
{
	if (!h || cond >= EDDY_HEALTH_N)
		return;
	pthread_mutex_lock(&h->lock);
	h->held[cond] = reason != NULL;
	if (reason)
		snprintf(h->reason[cond], sizeof h->reason[cond], "%s", reason);
	pthread_mutex_unlock(&h->lock);
}

struct eddy_http {
	struct MHD_Daemon *daemon;
	struct eddy_metrics *metrics;
	struct eddy_health *health;
	uint16_t port;
};

/* Queues a response whose body is text (taken, freed by libmicrohttpd). */
static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type,
                              char *text, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    len, text, text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result answer_text(struct MHD_Connection *conn, unsigned status, const char *fmt,
                                   ...) __attribute__((format(printf, 3, 4)));

static enum MHD_Result answer_text(struct MHD_Connection *conn, unsigned status, const char *fmt,
                                   ...)
{
	char *text = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return MHD_NO;
	return answer(conn, status, "text/plain; charset=utf-8", text, (size_t)n);
}

static enum MHD_Result livez(struct eddy_http *s, struct MHD_Connection *conn)
{
	int64_t idle = mono_ms() - atomic_load_explicit(&s->health->beat_ms, memory_order_relaxed);
	if (s->health->stale_ms > 0 && idle > s->health->stale_ms)
		return answer_text(
		    conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "stuck: the main loop has not turned for %lld ms (limit %d ms)\n",
		    (long long)idle, s->health->stale_ms);
	return answer_text(conn, MHD_HTTP_OK, "ok\n");
}

static enum MHD_Result readyz(struct eddy_http *s, struct MHD_Connection *conn)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	int ready = 1;

	if (!out)
		return MHD_NO;
	pthread_mutex_lock(&s->health->lock);
	for (int i = 0; i < EDDY_HEALTH_N; i++) {
		if (s->health->held[i]) {
			fprintf(out, "not ready: %s\n", s->health->reason[i]);
			ready = 0;
		}
	}
	pthread_mutex_unlock(&s->health->lock);
	if (ready)
		fputs("ready\n", out);
	if (fclose(out) != 0) {
		free(text);
		return MHD_NO;
	}
	return answer(conn, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
	              "text/plain; charset=utf-8", text, len);
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **state)
{
	struct eddy_http *s = cls;
	(void)version;
	(void)upload;
	(void)upload_size;
	(void)state;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return answer_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (strcmp(url, "/metrics") == 0) {
		size_t len = 0;
		char *text = eddy_metrics_render(s->metrics, &len);
		if (!text)
			return answer_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
		return answer(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text,
		              len);
	}
	if (strcmp(url, "/livez") == 0 || strcmp(url, "/healthz") == 0)
		return livez(s, conn);
	if (strcmp(url, "/readyz") == 0)
		return readyz(s, conn);
	return answer_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /livez, /readyz\n");
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = 0;
	eddy_log(EDDY_LOG_WARN, "http: %s", msg);
}

/* host:port, [v6]:port or :port (all interfaces) into an address. */
static int resolve(const char *listen, struct addrinfo **ai, char *errstr, size_t errstr_size)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	const char *h = listen;
	size_t hlen;

	if (!colon || !colon[1]) {
		eddy_errf(errstr, errstr_size, "http.listen: \"%s\" is not host:port", listen);
		return -1;
	}
	hlen = (size_t)(colon - listen);
	if (hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen >= sizeof host) {
		eddy_errf(errstr, errstr_size, "http.listen: host too long");
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = 0;
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	int rc = getaddrinfo(hlen ? host : NULL, colon + 1, &hints, ai);
	if (rc != 0) {
		eddy_errf(errstr, errstr_size, "http.listen: %s: %s", listen, gai_strerror(rc));
		return -1;
	}
	return 0;
}

struct eddy_http *eddy_http_start(const char *listen, struct eddy_metrics *m, struct eddy_health *h,
                                  char *errstr, size_t errstr_size)
{
	struct addrinfo *ai = NULL;
	struct eddy_http *s = calloc(1, sizeof *s);

	if (!s) {
		eddy_errf(errstr, errstr_size, "http: out of memory");
		return NULL;
	}
	s->metrics = m;
	s->health = h;
	if (resolve(listen, &ai, errstr, errstr_size))
		goto fail;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, serve, s, MHD_OPTION_EXTERNAL_LOGGER,
	                             mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
	                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
	                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
	if (!s->daemon) {
		eddy_errf(errstr, errstr_size, "http.listen: cannot listen on %s (in use?)",
		          listen);
		goto fail;
	}
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : 0;
	freeaddrinfo(ai);
	return s;
fail:
	if (ai)
		freeaddrinfo(ai);
	free(s);
	return NULL;
}

uint16_t eddy_http_port(const struct eddy_http *s)
{
	return s ? s->port : 0;
}

void eddy_http_stop(struct eddy_http *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon);
	free(s);
}
