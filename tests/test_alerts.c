/* test_alerts.c - the alert sender against tests/tools/webhook-receiver.py,
 * on a real SQLite outbox written by a second handle: signatures, Slack and
 * Alertmanager bodies, retries, Retry-After, timeouts, permanent failures,
 * max age, wake-ups, a restart in the middle of a run, a burst on a disk
 * with slow flushes, what a stop still sends, and the counts per sink and
 * of the outbox that the metrics show. */
#include <curl/curl.h>
#include <dirent.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alerts.h"
#include "json.h"
#include "log.h"
#include "store/store.h"
#include "fixture.h"
#include "test.h"

#define RECEIVER "tests/tools/webhook-receiver.py"
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define OTHER_SECRET "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

/* Every flush to disk takes this long (0: as the disk does): SQLite's
 * calls reach these before libc's, as a disk that honours flushes would
 * make them wait. */
static atomic_int flush_ms;

static void flush_wait(void)
{
	int ms = atomic_load(&flush_ms);
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	if (ms)
		nanosleep(&ts, NULL);
}

int fsync(int fd)
{
	flush_wait();
	return (int)syscall(SYS_fsync, fd);
}

int fdatasync(int fd)
{
	flush_wait();
	return (int)syscall(SYS_fdatasync, fd);
}

static char dir[] = "/tmp/eddy-alerts-XXXXXX";
static char err[512];
static int n_dbs;

struct receiver {
	pid_t pid;
	int port;
	char url[64];
	char log[96];
};

/* Starts the receiver with the extra arguments (NULL-terminated, at most
 * 8); port 0 when it did not start. Its log is a new file. */
static struct receiver receiver_start(const char *first, ...)
{
	static int n;
	struct receiver r = {0};
	const char *argv[16] = {"python3", RECEIVER, "--log", r.log};
	size_t argc = 4;
	va_list ap;

	snprintf(r.log, sizeof(r.log), "%s/receiver-%d.log", dir, ++n);
	argv[3] = r.log;
	va_start(ap, first);
	for (const char *a = first; a && argc < 14; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	r.port = fixture_spawn(argv, &r.pid);
	snprintf(r.url, sizeof(r.url), "http://127.0.0.1:%d", r.port);
	return r;
}

static void receiver_stop(struct receiver *r)
{
	fixture_kill(&r->pid);
}

static size_t discard(char *data, size_t size, size_t nmemb, void *arg)
{
	(void)data;
	(void)arg;
	return size * nmemb;
}

/* POSTs to a control endpoint of the receiver ("reset"); 1 when it said
 * 200. */
static int receiver_control(const struct receiver *r, const char *what)
{
	char url[160];
	long status = 0;
	CURL *c = curl_easy_init();

	snprintf(url, sizeof(url), "%s/_receiver/%s", r->url, what);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status == 200;
}

/* One line of the receiver's log. */
struct delivery {
	char path[64], webhook_id[64];
	int status;   /* 0: closed without an answer */
	int verified; /* 1, 0, or -1 for not checked */
	int duplicate;
	double time;
	char *body;
};

#define MAX_DELIVERIES 512
static struct delivery got[MAX_DELIVERIES];
static int n_got;

static void copy_str(char *out, size_t size, const struct eddy_json *v)
{
	snprintf(out, size, "%s", eddy_json_str(v) ? v->u.s : "");
}

/* Reads the receiver's log into got[0..n_got). */
static int deliveries(const struct receiver *r)
{
	struct eddy_json_doc *doc = eddy_json_doc_new();
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f = fopen(r->log, "r");

	for (int i = 0; i < n_got; i++)
		free(got[i].body);
	n_got = 0;
	while (f && (len = getline(&line, &cap, f)) > 0 && n_got < MAX_DELIVERIES) {
		const struct eddy_json *v = eddy_json_parse(doc, line, (size_t)len, NULL, 0), *x;
		struct delivery *d = &got[n_got++];

		memset(d, 0, sizeof(*d));
		copy_str(d->path, sizeof(d->path), eddy_json_getz(v, "path"));
		copy_str(d->webhook_id, sizeof(d->webhook_id), eddy_json_getz(v, "webhook_id"));
		x = eddy_json_getz(v, "status");
		d->status = x && x->type == EDDY_JSON_INT ? (int)x->u.i : 0;
		x = eddy_json_getz(v, "verified");
		d->verified = !x || x->type == EDDY_JSON_NULL ? -1 : x->type == EDDY_JSON_TRUE;
		x = eddy_json_getz(v, "duplicate");
		d->duplicate = x && x->type == EDDY_JSON_TRUE;
		x = eddy_json_getz(v, "time");
		d->time = !x ? 0 : x->type == EDDY_JSON_DOUBLE ? x->u.d : (double)x->u.i;
		x = eddy_json_getz(v, "body");
		d->body = strdup(eddy_json_str(x) ? x->u.s : "");
	}
	free(line);
	if (f)
		fclose(f);
	eddy_json_doc_destroy(doc);
	return n_got;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* How long WAIT_UNTIL waits for what should happen much sooner: far more
 * than a loaded machine under ASan needs, so that only a sender that never
 * gets there fails. Checks of how fast it got there are made apart. */
#define DEADLINE_MS 20000

/* Polls cond until it holds or ms have passed; a failed check when it
 * still does not hold. */
#define WAIT_UNTIL(cond, ms)                                                                       \
	do {                                                                                       \
		int64_t until_ = mono_ms() + (ms);                                                 \
		while (!(cond) && mono_ms() < until_)                                              \
			sleep_ms(10);                                                              \
		CHECK(cond);                                                                       \
	} while (0)

/* A new database with its writer's handle; the path in path. */
static struct eddy_store *new_db(char *path, size_t size)
{
	struct eddy_store *s;

	snprintf(path, size, "%s/outbox-%d.db", dir, ++n_dbs);
	if (!(s = eddy_store_open_sqlite(path, 0, err, sizeof(err))))
		fprintf(stderr, "eddy_store_open_sqlite: %s\n", err);
	return s;
}

/* The body ctx.alert writes (alerts.h), for key. */
static void alert_body(char *out, size_t size, const char *sink, const char *key,
                       const char *summary)
{
	snprintf(out, size,
	         "{\"sink\":\"%s\",\"severity\":\"warning\",\"key\":\"%s\",\"summary\":\"%s\","
	         "\"description\":\"Quantity 12000 > 10000 & <rising>\","
	         "\"labels\":{\"team\":\"supply\",\"priority\":2,\"gone\":null},"
	         "\"annotations\":{\"runbook\":\"https://runbooks.example/large-orders\"},"
	         "\"dedupe\":\"%s/large/%s\","
	         "\"event\":{\"id\":\"evt-%s\",\"type\":\"com.example.orders.v1\","
	         "\"source\":\"/orders\",\"tenant\":\"acme\",\"correlation_id\":\"c-1\","
	         "\"topic\":\"orders.acme\",\"partition\":3,\"offset\":42},"
	         "\"created_at\":\"2024-05-01T12:00:00.123Z\"}",
	         sink, key, summary, sink, key, key);
}

/* Adds alerts key-<first>..key-<first+n-1> for sink in one committed batch,
 * created at created_ms (0: now). */
static void add_alerts(struct eddy_store *s, const char *sink, int first, int n, int64_t created_ms)
{
	char body[2048], key[32], dedupe[64];

	CHECK(eddy_store_begin(s, err, sizeof(err)) == 0);
	for (int i = first; i < first + n; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		snprintf(dedupe, sizeof(dedupe), "%s/large/%s", sink, key);
		alert_body(body, sizeof(body), sink, key, "Large order proposal");
		CHECK(eddy_store_outbox_add(s, sink, dedupe, body, strlen(body),
		                            created_ms ? created_ms : wall_ms(), 60000, err,
		                            sizeof(err)) == 0);
	}
	CHECK(eddy_store_commit(s, err, sizeof(err)) == 0);
}

static void count_cb(void *ud, const struct eddy_outbox_alert *a)
{
	(void)a;
	++*(int *)ud;
}

/* Alerts not delivered yet that are due at now_ms. */
static int due_at(struct eddy_store *s, int64_t now_ms)
{
	int n = 0;

	CHECK(eddy_store_outbox_due(s, now_ms, 100000, count_cb, &n, err, sizeof(err)) >= 0);
	return n;
}

/* Alerts not delivered yet, due or not. */
static int undelivered(struct eddy_store *s)
{
	return due_at(s, INT64_MAX / 2);
}

/* A sender on a new handle of path. */
static struct eddy_alerts *sender(const char *path, const struct eddy_alerts_conf *conf)
{
	struct eddy_store *s = eddy_store_open_sqlite(path, 0, err, sizeof(err));
	struct eddy_alerts *a;

	CHECK(s != NULL);
	if (!s)
		return NULL;
	a = eddy_alerts_start(conf, s, err, sizeof(err));
	if (!a)
		fprintf(stderr, "eddy_alerts_start: %s\n", err);
	return a;
}

static struct eddy_alerts_stats stats(struct eddy_alerts *a)
{
	struct eddy_alerts_stats st;

	eddy_alerts_stats(a, &st);
	return st;
}

/* Waits for the sender's counter field to reach n. */
#define WAIT_FOR(a, field, n) WAIT_UNTIL(stats(a).field >= (uint64_t)(n), DEADLINE_MS)

/* The counter of struct eddy_alerts_stats at offset off (COUNTER(field)). */
#define COUNTER(field) offsetof(struct eddy_alerts_stats, field)
static uint64_t counter(struct eddy_alerts *a, size_t off)
{
	struct eddy_alerts_stats st = stats(a);
	uint64_t v;

	memcpy(&v, (const char *)&st + off, sizeof(v));
	return v;
}

static void test_conf(void)
{
	struct eddy_alerts_sink sink = {"ops", EDDY_ALERTS_WEBHOOK, "http://127.0.0.1:1/", SECRET,
	                                0};
	struct eddy_alerts_sink two[2] = {sink, sink};
	struct eddy_alerts_conf conf = {.sinks = &sink, .n_sinks = 1};
	char path[128];
	struct eddy_store *w = new_db(path, sizeof(path));

	CHECK(!eddy_alerts_start(&conf, NULL, err, sizeof(err)));
	conf.n_sinks = 0;
	CHECK(!sender(path, &conf));
	CHECK(strstr(err, "no sinks") != NULL);
	conf.n_sinks = 1;
	sink.url = "ftp://example.com";
	CHECK(!sender(path, &conf));
	CHECK(strstr(err, "url") != NULL);
	sink.url = "http://127.0.0.1:1/";
	sink.secret = "whsec_not base64!";
	CHECK(!sender(path, &conf));
	CHECK(strstr(err, "secret") != NULL);
	sink.secret = "whsec_";
	CHECK(!sender(path, &conf));
	sink.secret = SECRET;
	sink.type = EDDY_ALERTS_SLACK;
	CHECK(!sender(path, &conf));
	CHECK(strstr(err, "only webhooks") != NULL);
	conf.sinks = two;
	conf.n_sinks = 2;
	CHECK(!sender(path, &conf));
	CHECK(strstr(err, "two sinks") != NULL);
	eddy_alerts_stop(NULL, 0);
	eddy_store_destroy(w);
}

/* Signed webhooks: the receiver verifies each signature; a sink with the
 * wrong secret is refused (401) and that is a failure for good. */
static void test_webhook(void)
{
	struct receiver rc = receiver_start("--secret", SECRET, NULL);
	char url[96], bad_url[96], path[128], body[2048];
	struct eddy_alerts_sink sinks[2] = {
	    {"ops", EDDY_ALERTS_WEBHOOK, url, SECRET, 2000},
	    {"wrong", EDDY_ALERTS_WEBHOOK, bad_url, OTHER_SECRET, 2000},
	};
	struct eddy_alerts_conf conf = {.sinks = sinks, .n_sinks = 2, .backoff_ms = 50};
	struct eddy_store *w = new_db(path, sizeof(path));
	struct eddy_alerts *a;
	int verified = 0, refused = 0;

	CHECK(rc.port > 0 && w);
	snprintf(url, sizeof(url), "%s/hook", rc.url);
	snprintf(bad_url, sizeof(bad_url), "%s/wrong", rc.url);
	add_alerts(w, "ops", 1, 3, 0);
	add_alerts(w, "wrong", 10, 1, 0);
	a = sender(path, &conf);
	CHECK(a != NULL);
	WAIT_FOR(a, delivered, 3);
	WAIT_FOR(a, failed, 1);
	CHECK(stats(a).delivered == 3);
	CHECK(stats(a).failed == 1);
	CHECK(stats(a).retried == 0);
	eddy_alerts_stop(a, 1000);
	CHECK(undelivered(w) == 0);

	deliveries(&rc);
	CHECK(n_got == 4);
	for (int i = 0; i < n_got; i++) {
		if (strcmp(got[i].path, "/hook") == 0) {
			char key[32];
			int k = 0;

			verified += got[i].verified == 1 && got[i].status == 200;
			/* the body is the stored alert, byte for byte */
			CHECK(sscanf(got[i].body,
			             "{\"sink\":\"ops\",\"severity\":\"warning\",\"key\":"
			             "\"key-%d\"",
			             &k) == 1);
			snprintf(key, sizeof(key), "key-%d", k);
			alert_body(body, sizeof(body), "ops", key, "Large order proposal");
			CHECK_STR(got[i].body, body);
			CHECK(strncmp(got[i].webhook_id, "eddy-", 5) == 0);
			CHECK(strchr(got[i].webhook_id, '.') == NULL);
		} else {
			refused += got[i].verified == 0 && got[i].status == 401;
		}
	}
	CHECK(verified == 3);
	CHECK(refused == 1);
	receiver_stop(&rc);
	eddy_store_destroy(w);
}

/* Finds the first delivery to path in the log. */
static const struct delivery *delivery_to(const char *path)
{
	for (int i = 0; i < n_got; i++)
		if (strcmp(got[i].path, path) == 0)
			return &got[i];
	return NULL;
}

static const char *str_at(const struct eddy_json *v, const char *key)
{
	return eddy_json_str(eddy_json_get(v, key, strlen(key)));
}

/* Slack and Alertmanager: the bodies parse and carry what they should, with
 * texts that need escaping. */
static void test_slack_alertmanager(void)
{
	struct receiver rc = receiver_start(NULL);
	char slack_url[96], path[128];
	struct eddy_alerts_sink sinks[2] = {
	    {"chat", EDDY_ALERTS_SLACK, slack_url, NULL, 2000},
	    {"am", EDDY_ALERTS_ALERTMANAGER, rc.url, NULL, 2000},
	};
	struct eddy_alerts_conf conf = {
	    .sinks = sinks, .n_sinks = 2, .generator_url = "http://eddy.example/alerts"};
	struct eddy_store *w = new_db(path, sizeof(path));
	struct eddy_json_doc *doc = eddy_json_doc_new();
	const struct eddy_json *v, *b, *el, *l, *an;
	const struct delivery *d;
	struct eddy_alerts *a;
	static const char weird[] = "Order \\\"big\\\" \\u00e9\\n<&>\\t\\\\ done";
	char body[2048];

	CHECK(rc.port > 0 && w);
	snprintf(slack_url, sizeof(slack_url), "%s/slack", rc.url);
	CHECK(eddy_store_begin(w, err, sizeof(err)) == 0);
	alert_body(body, sizeof(body), "chat", "k\\\"1", weird);
	CHECK(eddy_store_outbox_add(w, "chat", "d1", body, strlen(body), wall_ms(), 0, err,
	                            sizeof(err)) == 0);
	alert_body(body, sizeof(body), "am", "k\\\"1", weird);
	CHECK(eddy_store_outbox_add(w, "am", "d2", body, strlen(body), wall_ms(), 0, err,
	                            sizeof(err)) == 0);
	CHECK(eddy_store_commit(w, err, sizeof(err)) == 0);
	a = sender(path, &conf);
	WAIT_FOR(a, delivered, 2);
	CHECK(stats(a).delivered == 2);
	eddy_alerts_stop(a, 1000);

	deliveries(&rc);
	CHECK(n_got == 2);
	if ((d = delivery_to("/slack"))) {
		v = eddy_json_parse(doc, d->body, strlen(d->body), err, sizeof(err));
		CHECK(v && v->type == EDDY_JSON_OBJECT);
		CHECK_STR(str_at(v, "text"),
		          "[WARNING] Order \"big\" \xc3\xa9\n&lt;&amp;&gt;\t\\ done");
		b = eddy_json_getz(v, "blocks");
		CHECK(b && b->type == EDDY_JSON_ARRAY && b->len == 3);
		if (b && b->type == EDDY_JSON_ARRAY && b->len == 3) {
			CHECK_STR(str_at(&b->u.items[0], "type"), "header");
			el = eddy_json_getz(&b->u.items[0], "text");
			CHECK_STR(str_at(el, "type"), "plain_text");
			CHECK_STR(str_at(el, "text"),
			          "[WARNING] Order \"big\" \xc3\xa9\n<&>\t\\ done");
			CHECK_STR(str_at(&b->u.items[1], "type"), "section");
			el = eddy_json_getz(&b->u.items[1], "text");
			CHECK_STR(str_at(el, "type"), "mrkdwn");
			CHECK_STR(str_at(el, "text"),
			          "Quantity 12000 &gt; 10000 &amp; &lt;rising&gt;");
			CHECK_STR(str_at(&b->u.items[2], "type"), "context");
			el = eddy_json_getz(&b->u.items[2], "elements");
			CHECK(el && el->type == EDDY_JSON_ARRAY && el->len == 4);
			if (el && el->type == EDDY_JSON_ARRAY && el->len == 4) {
				CHECK_STR(str_at(&el->u.items[0], "text"), "*key:* k\"1");
				CHECK_STR(str_at(&el->u.items[1], "text"), "*tenant:* acme");
				CHECK_STR(str_at(&el->u.items[2], "text"),
				          "*event:* com.example.orders.v1 evt-k\"1");
				CHECK_STR(str_at(&el->u.items[3], "text"),
				          "*from:* orders.acme [3] @42");
			}
		}
	} else {
		CHECK(!"no Slack delivery");
	}
	if ((d = delivery_to("/api/v2/alerts"))) {
		v = eddy_json_parse(doc, d->body, strlen(d->body), err, sizeof(err));
		CHECK(v && v->type == EDDY_JSON_ARRAY && v->len == 1);
		if (v && v->type == EDDY_JSON_ARRAY && v->len == 1) {
			v = &v->u.items[0];
			l = eddy_json_getz(v, "labels");
			CHECK(l && l->type == EDDY_JSON_OBJECT && l->len == 6);
			CHECK_STR(str_at(l, "alertname"), "com.example.orders.v1");
			CHECK_STR(str_at(l, "severity"), "warning");
			CHECK_STR(str_at(l, "key"), "k\"1");
			CHECK_STR(str_at(l, "tenant"), "acme");
			CHECK_STR(str_at(l, "team"), "supply");
			CHECK_STR(str_at(l, "priority"), "2"); /* labels are strings */
			CHECK(!eddy_json_getz(l, "gone"));
			an = eddy_json_getz(v, "annotations");
			CHECK(an && an->type == EDDY_JSON_OBJECT && an->len == 3);
			CHECK_STR(str_at(an, "summary"), "Order \"big\" \xc3\xa9\n<&>\t\\ done");
			CHECK_STR(str_at(an, "description"), "Quantity 12000 > 10000 & <rising>");
			CHECK_STR(str_at(an, "runbook"), "https://runbooks.example/large-orders");
			CHECK_STR(str_at(v, "startsAt"), "2024-05-01T12:00:00.123Z");
			CHECK_STR(str_at(v, "generatorURL"), "http://eddy.example/alerts");
		}
	} else {
		CHECK(!"no Alertmanager delivery");
	}
	eddy_json_doc_destroy(doc);
	receiver_stop(&rc);
	eddy_store_destroy(w);
}

/* A resolved notification: the body says so (status, starts_at, ends_at),
 * Alertmanager gets endsAt and the start of the alert, Slack a
 * "[RESOLVED]" header. */
static void test_resolved(void)
{
	struct receiver rc = receiver_start(NULL);
	char slack_url[96], path[128], dedupe[256];
	struct eddy_alerts_sink sinks[2] = {
	    {"chat", EDDY_ALERTS_SLACK, slack_url, NULL, 2000},
	    {"am", EDDY_ALERTS_ALERTMANAGER, rc.url, NULL, 2000},
	};
	struct eddy_alerts_conf conf = {.sinks = sinks, .n_sinks = 2};
	struct eddy_store *w = new_db(path, sizeof(path));
	struct eddy_json_doc *doc = eddy_json_doc_new();
	struct eddy_alert_req req = {.handler = "rules/x.yaml",
	                             .key = "S1",
	                             .summary = "Store S1 is silent",
	                             .labels = "{\"alertname\":\"silent\",\"store\":\"S1\"}",
	                             .dedupe = "rule/silent/S1",
	                             .resolved = true,
	                             .starts_ms = 1714564800000,
	                             .ends_ms = 1714565400500};
	const struct eddy_json *v;
	const struct delivery *d;
	struct eddy_alerts *a;
	size_t len;
	char *body;

	CHECK(rc.port > 0 && w);
	snprintf(slack_url, sizeof(slack_url), "%s/slack", rc.url);
	body = eddy_alerts_body(&req, "am", "warning", NULL, NULL, 1714565401000, dedupe,
	                        sizeof(dedupe), &len);
	v = body ? eddy_json_parse(doc, body, len, err, sizeof(err)) : NULL;
	CHECK_STR(str_at(v, "status"), "resolved");
	CHECK_STR(str_at(v, "starts_at"), "2024-05-01T12:00:00.000Z");
	CHECK_STR(str_at(v, "ends_at"), "2024-05-01T12:10:00.500Z");
	CHECK_STR(str_at(v, "created_at"), "2024-05-01T12:10:01.000Z");
	CHECK_STR(dedupe, "rule/silent/S1");
	CHECK(eddy_store_begin(w, err, sizeof(err)) == 0);
	CHECK(body &&
	      eddy_store_outbox_add(w, "am", "r1", body, len, wall_ms(), 0, err, sizeof(err)) == 0);
	CHECK(body && eddy_store_outbox_add(w, "chat", "r2", body, len, wall_ms(), 0, err,
	                                    sizeof(err)) == 0);
	CHECK(eddy_store_commit(w, err, sizeof(err)) == 0);
	free(body);
	/* an alert has neither status nor ends_at */
	req.resolved = false;
	req.starts_ms = 0;
	body = eddy_alerts_body(&req, "am", "warning", NULL, NULL, 1714565401000, dedupe,
	                        sizeof(dedupe), &len);
	CHECK(body && !strstr(body, "\"status\"") && !strstr(body, "ends_at") &&
	      !strstr(body, "starts_at"));
	free(body);

	a = sender(path, &conf);
	WAIT_FOR(a, delivered, 2);
	eddy_alerts_stop(a, 1000);
	deliveries(&rc);
	if ((d = delivery_to("/api/v2/alerts"))) {
		v = eddy_json_parse(doc, d->body, strlen(d->body), err, sizeof(err));
		CHECK(v && v->type == EDDY_JSON_ARRAY && v->len == 1);
		if (v && v->type == EDDY_JSON_ARRAY && v->len == 1) {
			v = &v->u.items[0];
			CHECK_STR(str_at(v, "startsAt"), "2024-05-01T12:00:00.000Z");
			CHECK_STR(str_at(v, "endsAt"), "2024-05-01T12:10:00.500Z");
			CHECK_STR(str_at(eddy_json_getz(v, "labels"), "store"), "S1");
		}
	} else {
		CHECK(!"no Alertmanager delivery");
	}
	if ((d = delivery_to("/slack"))) {
		v = eddy_json_parse(doc, d->body, strlen(d->body), err, sizeof(err));
		CHECK_STR(str_at(v, "text"), "[RESOLVED] Store S1 is silent");
	} else {
		CHECK(!"no Slack delivery");
	}
	eddy_json_doc_destroy(doc);
	receiver_stop(&rc);
	eddy_store_destroy(w);
}

/* One alert through a scripted receiver, until the sender's counter at
 * until (COUNTER(field)) moves, and linger_ms more for what must not happen
 * after it; returns the sender stopped, its counters in *st, the receiver's
 * log in got[]. */
static void one_alert(const char *script, int timeout_ms, int max_age_ms, size_t until,
                      int linger_ms, struct eddy_alerts_stats *st, struct eddy_store **writer)
{
	struct receiver rc = receiver_start("--script", script, NULL);
	char url[96], path[128];
	struct eddy_alerts_sink sink = {"ops", EDDY_ALERTS_WEBHOOK, url, NULL, timeout_ms};
	struct eddy_alerts_conf conf = {.sinks = &sink,
	                                .n_sinks = 1,
	                                .backoff_ms = 100,
	                                .backoff_max_ms = 200,
	                                .max_age_ms = max_age_ms,
	                                .poll_ms = 50};
	struct eddy_store *w = new_db(path, sizeof(path));
	struct eddy_alerts *a;

	CHECK(rc.port > 0 && w);
	snprintf(url, sizeof(url), "%s/hook", rc.url);
	add_alerts(w, "ops", 1, 1, 0);
	a = sender(path, &conf);
	WAIT_UNTIL(counter(a, until) >= 1, DEADLINE_MS);
	/* Watching for a while is how to see that nothing more happens. */
	sleep_ms(linger_ms);
	*st = stats(a);
	eddy_alerts_stop(a, 0);
	deliveries(&rc);
	receiver_stop(&rc);
	*writer = w;
}

static void test_retries(void)
{
	struct eddy_alerts_stats st;
	struct eddy_store *w;

	/* 500 then 200: delivered at the second attempt, one webhook-id */
	one_alert("500,200", 2000, 0, COUNTER(delivered), 0, &st, &w);
	CHECK(st.delivered == 1 && st.retried == 1 && st.failed == 0);
	CHECK(n_got == 2);
	CHECK(n_got == 2 && got[0].status == 500 && got[1].status == 200);
	CHECK(n_got == 2 && strcmp(got[0].webhook_id, got[1].webhook_id) == 0);
	CHECK(undelivered(w) == 0);
	eddy_store_destroy(w);

	/* 429 with Retry-After: 2 wins over a 100 ms backoff */
	one_alert("429:2,200", 2000, 0, COUNTER(delivered), 0, &st, &w);
	CHECK(st.delivered == 1 && st.retried == 1);
	CHECK(n_got == 2);
	if (n_got == 2) {
		CHECK(got[1].time - got[0].time >= 1.9);
		CHECK(got[1].time - got[0].time < 3.5);
	}
	eddy_store_destroy(w);

	/* ... also as an HTTP date (whole seconds: at least one of them) */
	one_alert("503:d3,200", 2000, 0, COUNTER(delivered), 0, &st, &w);
	CHECK(st.delivered == 1 && st.retried == 1);
	CHECK(n_got == 2 && got[1].time - got[0].time >= 1.9);
	eddy_store_destroy(w);

	/* a receiver that does not answer in time: timeout, tried again */
	one_alert("hang:3,200", 300, 0, COUNTER(delivered), 0, &st, &w);
	CHECK(st.delivered == 1 && st.retried == 1);
	CHECK(n_got == 2);
	CHECK(n_got == 2 && got[1].time - got[0].time < 2.0);
	eddy_store_destroy(w);

	/* a connection closed without an answer: tried again */
	one_alert("close,200", 2000, 0, COUNTER(delivered), 0, &st, &w);
	CHECK(st.delivered == 1 && st.retried == 1);
	eddy_store_destroy(w);

	/* 400: failed for good, never sent again (in three of the longest
	 * backoffs it would have been) */
	one_alert("400", 2000, 0, COUNTER(failed), 600, &st, &w);
	CHECK(st.failed == 1 && st.delivered == 0 && st.retried == 0);
	CHECK(n_got == 1 && got[0].status == 400);
	CHECK(undelivered(w) == 0);
	eddy_store_destroy(w);

	/* failing on: given up once older than max age */
	one_alert("500*100", 2000, 1000, COUNTER(given_up), 0, &st, &w);
	CHECK(st.given_up == 1 && st.delivered == 0 && st.failed == 0);
	CHECK(st.retried >= 2);
	/* given up after a failed attempt, or when next due */
	CHECK(n_got >= 3 && (n_got == (int)st.retried + 1 || n_got == (int)st.retried));
	CHECK(undelivered(w) == 0);
	eddy_store_destroy(w);
}

/* An alert already too old when the sender first sees it is given up
 * without a request; a wake makes a new alert go at once. */
static void test_age_and_wake(void)
{
	struct receiver rc = receiver_start(NULL);
	char url[96], path[128];
	struct eddy_alerts_sink sink = {"ops", EDDY_ALERTS_WEBHOOK, url, NULL, 2000};
	struct eddy_alerts_conf conf = {
	    .sinks = &sink, .n_sinks = 1, .max_age_ms = 3600 * 1000, .poll_ms = 30000};
	struct eddy_store *w = new_db(path, sizeof(path));
	struct eddy_alerts *a;
	int64_t t0;

	CHECK(rc.port > 0 && w);
	snprintf(url, sizeof(url), "%s/hook", rc.url);
	add_alerts(w, "ops", 1, 1, wall_ms() - 2 * 3600 * 1000);
	a = sender(path, &conf);
	WAIT_FOR(a, given_up, 1);
	CHECK(stats(a).given_up == 1);
	/* Time for the sender to finish its pass and wait for its poll, 30 s
	 * away: then only the wake explains a quick delivery. Nothing shows
	 * that it waits, and too short a pause makes the check weaker, not
	 * flaky. */
	sleep_ms(100);
	add_alerts(w, "ops", 2, 1, 0);
	t0 = wall_ms();
	eddy_alerts_wake(a);
	WAIT_FOR(a, delivered, 1);
	CHECK(stats(a).delivered == 1);
	CHECK(wall_ms() - t0 < 1000);
	eddy_alerts_stop(a, 1000);
	deliveries(&rc);
	CHECK(n_got == 1);
	CHECK(undelivered(w) == 0);
	receiver_stop(&rc);
	eddy_store_destroy(w);
}

/* Stopped in the middle of a slow run and started again: every alert
 * arrives, none is lost; a delivery recorded before the stop is not sent
 * again, one aborted by it may be (and the receiver sees its webhook-id
 * again). A stop with a grace too short for what is due sends what it can
 * and leaves the rest. */
static void test_restart(void)
{
	struct receiver rc = receiver_start("--delay-ms", "150", "--secret", SECRET, NULL);
	char url[96], path[128];
	struct eddy_alerts_sink sink = {"ops", EDDY_ALERTS_WEBHOOK, url, SECRET, 5000};
	struct eddy_alerts_conf conf = {.sinks = &sink, .n_sinks = 1, .max_in_flight = 4};
	struct eddy_store *w = new_db(path, sizeof(path));
	struct eddy_alerts *a;
	struct eddy_alerts_stats st;
	char ids[40][64];
	int n_ids = 0, dups = 0, fresh = 0;

	CHECK(rc.port > 0 && w);
	snprintf(url, sizeof(url), "%s/hook", rc.url);
	add_alerts(w, "ops", 1, 40, 0);

	/* a stop without grace aborts what is under way: still pending */
	a = sender(path, &conf);
	WAIT_FOR(a, delivered, 8);
	st = stats(a);
	CHECK(st.delivered >= 8 && st.in_flight > 0);
	eddy_alerts_stop(a, 0);
	CHECK(undelivered(w) >= 40 - (int)st.delivered - 4);
	CHECK(undelivered(w) <= 40 - (int)st.delivered);

	/* a stop with grace keeps sending until the grace runs out (4 at
	 * a time, 150 ms each: ~12 in 400 ms), then aborts what is under
	 * way: the receiver has seen every alert delivered, and those */
	a = sender(path, &conf);
	WAIT_FOR(a, delivered, 8);
	st = stats(a);
	eddy_alerts_stop(a, 400);
	CHECK(undelivered(w) > 0);
	CHECK(undelivered(w) < 40 - (int)st.delivered - 8);
	deliveries(&rc);
	n_ids = 0;
	for (int i = 0; i < n_got; i++)
		n_ids += !got[i].duplicate;
	CHECK(n_ids >= 40 - undelivered(w));
	CHECK(n_ids <= 40 - undelivered(w) + 4);

	/* the rest, with nothing sent twice that was recorded */
	a = sender(path, &conf);
	WAIT_UNTIL(undelivered(w) == 0, DEADLINE_MS);
	eddy_alerts_stop(a, 1000);

	deliveries(&rc);
	n_ids = 0;
	for (int i = 0; i < n_got; i++) {
		int seen = 0;

		CHECK(got[i].status == 200 && got[i].verified == 1);
		for (int j = 0; j < n_ids; j++)
			seen |= strcmp(ids[j], got[i].webhook_id) == 0;
		if (!seen && n_ids < 40)
			snprintf(ids[n_ids++], sizeof(ids[0]), "%s", got[i].webhook_id);
		dups += got[i].duplicate;
		fresh += !got[i].duplicate;
	}
	/* all 40 arrived, each accepted once; replays only of the aborted,
	 * at most 4 by each of the two stops */
	CHECK(n_ids == 40);
	CHECK(fresh == 40);
	CHECK(dups <= 8);
	receiver_stop(&rc);
	eddy_store_destroy(w);
}

/* A burst on a disk whose flushes take 50 ms: recording an outcome must
 * not wait for one, or the sender manages 20 alerts a second whatever the
 * receiver's speed (before lazy commits: 300 alerts in 15 s). */
static void test_burst_slow_flush(void)
{
	struct receiver rc = receiver_start(NULL);
	char url[96], path[128];
	struct eddy_alerts_sink sink = {"ops", EDDY_ALERTS_WEBHOOK, url, NULL, 5000};
	struct eddy_alerts_conf conf = {.sinks = &sink, .n_sinks = 1};
	struct eddy_store *w = new_db(path, sizeof(path));
	struct eddy_alerts *a;
	int64_t t0;

	CHECK(rc.port > 0 && w);
	snprintf(url, sizeof(url), "%s/hook", rc.url);
	add_alerts(w, "ops", 1, 300, 0);
	atomic_store(&flush_ms, 50);
	t0 = wall_ms();
	a = sender(path, &conf);
	WAIT_FOR(a, delivered, 300);
	CHECK(stats(a).delivered == 300);
	/* 100 a second at least: five times what flushes would allow */
	CHECK(wall_ms() - t0 < 3000);
	if (wall_ms() - t0 >= 3000)
		fprintf(stderr, "300 alerts took %lld ms\n", (long long)(wall_ms() - t0));
	eddy_alerts_stop(a, 1000);
	atomic_store(&flush_ms, 0);
	CHECK(undelivered(w) == 0);
	receiver_stop(&rc);
	eddy_store_destroy(w);
}

/* Alerts in the outbox and at once a stop: those due are delivered before
 * it returns, each once; those failing (500) get one attempt and stay in
 * backoff without holding the stop for the grace; a receiver that does not
 * answer holds it for the grace only. */
static void test_stop_sends_due(void)
{
	struct receiver ok = receiver_start(NULL);
	struct receiver bad = receiver_start("--script", "500*100", NULL);
	struct receiver slow = receiver_start("--delay-ms", "3000", NULL);
	char ok_url[96], bad_url[96], slow_url[96], path[128];
	struct eddy_alerts_sink sinks[3] = {
	    {"ops", EDDY_ALERTS_WEBHOOK, ok_url, NULL, 5000},
	    {"bad", EDDY_ALERTS_WEBHOOK, bad_url, NULL, 5000},
	    {"slow", EDDY_ALERTS_WEBHOOK, slow_url, NULL, 5000},
	};
	struct eddy_alerts_conf conf = {.sinks = sinks, .n_sinks = 2, .poll_ms = 30000};
	struct eddy_store *w = new_db(path, sizeof(path));
	struct eddy_alerts *a;
	int64_t t0;
	int fresh = 0;

	CHECK(ok.port > 0 && bad.port > 0 && slow.port > 0 && w);
	snprintf(ok_url, sizeof(ok_url), "%s/hook", ok.url);
	snprintf(bad_url, sizeof(bad_url), "%s/hook", bad.url);
	snprintf(slow_url, sizeof(slow_url), "%s/hook", slow.url);
	add_alerts(w, "ops", 1, 200, 0);
	add_alerts(w, "bad", 1000, 5, 0);
	a = sender(path, &conf);
	t0 = wall_ms();
	eddy_alerts_stop(a, 5000);
	CHECK(wall_ms() - t0 < 3000);
	CHECK(undelivered(w) == 5);
	deliveries(&ok);
	for (int i = 0; i < n_got; i++)
		fresh += got[i].status == 200 && !got[i].duplicate;
	CHECK(n_got == 200 && fresh == 200);
	deliveries(&bad);
	CHECK(n_got == 5);

	/* the next start sends them once their backoff is over */
	receiver_stop(&bad);
	bad = receiver_start(NULL);
	snprintf(bad_url, sizeof(bad_url), "%s/hook", bad.url);
	WAIT_UNTIL(due_at(w, wall_ms()) == 5, DEADLINE_MS);
	a = sender(path, &conf);
	eddy_alerts_stop(a, 5000);
	CHECK(undelivered(w) == 0);

	/* the grace bounds a stop whatever the receiver does */
	conf.n_sinks = 3;
	add_alerts(w, "slow", 2000, 2, 0);
	a = sender(path, &conf);
	t0 = wall_ms();
	eddy_alerts_stop(a, 500);
	CHECK(wall_ms() - t0 >= 400 && wall_ms() - t0 < 1500);
	CHECK(undelivered(w) == 2);
	receiver_stop(&ok);
	receiver_stop(&bad);
	receiver_stop(&slow);
	eddy_store_destroy(w);
}

/* sink's counter field, as a snapshot has it */
#define SINK_COUNT(st, i, field)                                                                   \
	((i) < (st).n_sinks ? atomic_load(&(st).sinks[i].field) : UINT64_MAX)

/* Counts per sink and of the outbox, against what the receivers saw: a
 * sink that takes everything, one that answers 500 until told otherwise,
 * and an alert for a sink no longer configured (failed without a
 * request). The outbox's count holds the alerts in backoff, and goes to 0
 * once they are delivered. */
static void test_counts(void)
{
	struct receiver ok = receiver_start(NULL);
	struct receiver bad = receiver_start("--script", "500*1000", NULL);
	char ok_url[96], bad_url[96], path[128];
	struct eddy_alerts_sink sinks[2] = {
	    {"ops", EDDY_ALERTS_WEBHOOK, ok_url, NULL, 5000},
	    {"bad", EDDY_ALERTS_WEBHOOK, bad_url, NULL, 5000},
	};
	struct eddy_alerts_conf conf = {
	    .sinks = sinks, .n_sinks = 2, .backoff_ms = 200, .backoff_max_ms = 200, .poll_ms = 50};
	struct eddy_store *w = new_db(path, sizeof(path));
	struct eddy_alerts_stats st;
	struct eddy_alerts *a;
	uint64_t bad_requests, bad_retried;

	CHECK(ok.port > 0 && bad.port > 0 && w);
	snprintf(ok_url, sizeof(ok_url), "%s/hook", ok.url);
	snprintf(bad_url, sizeof(bad_url), "%s/hook", bad.url);
	add_alerts(w, "ops", 1, 3, 0);
	add_alerts(w, "bad", 10, 2, 0);
	add_alerts(w, "gone", 20, 1, 0);
	a = sender(path, &conf);
	CHECK(a != NULL);
	if (!a)
		return;
	st = stats(a);
	CHECK(st.n_sinks == 3);
	CHECK(st.n_sinks == 3 && strcmp(st.sinks[0].name, "ops") == 0 &&
	      strcmp(st.sinks[1].name, "bad") == 0 && st.sinks[2].name == NULL);
	WAIT_FOR(a, delivered, 3);
	WAIT_FOR(a, failed, 1);
	WAIT_FOR(a, retried, 4);
	/* the ones in backoff are what the outbox holds */
	WAIT_UNTIL(stats(a).outbox_pending == 2, DEADLINE_MS);
	st = stats(a);
	CHECK(SINK_COUNT(st, 0, requests) == 3 && SINK_COUNT(st, 0, delivered) == 3);
	CHECK(SINK_COUNT(st, 0, retried) == 0 && SINK_COUNT(st, 0, failed) == 0);
	CHECK(SINK_COUNT(st, 1, delivered) == 0 && SINK_COUNT(st, 1, retried) >= 4);
	CHECK(SINK_COUNT(st, 1, failed) == 0 && SINK_COUNT(st, 1, given_up) == 0);
	CHECK(SINK_COUNT(st, 2, failed) == 1 && SINK_COUNT(st, 2, requests) == 0);
	CHECK(st.delivered == 3 && st.failed == 1 && st.given_up == 0);

	/* the sink recovers: delivered, and the outbox is empty */
	CHECK(receiver_control(&bad, "reset"));
	WAIT_FOR(a, delivered, 5);
	WAIT_UNTIL(stats(a).outbox_pending == 0, DEADLINE_MS);
	st = stats(a);
	CHECK(SINK_COUNT(st, 1, delivered) == 2 && st.in_flight == 0);
	/* the sinks' counters are borrowed until the stop */
	bad_requests = SINK_COUNT(st, 1, requests);
	bad_retried = SINK_COUNT(st, 1, retried);
	CHECK(SINK_COUNT(st, 0, requests) == 3);
	CHECK(st.requests == 3 + bad_requests);
	eddy_alerts_stop(a, 1000);
	CHECK(undelivered(w) == 0);

	/* every request the receivers saw was counted once, at its sink, by
	 * how it ended */
	deliveries(&ok);
	CHECK(n_got == 3);
	deliveries(&bad);
	CHECK((uint64_t)n_got == bad_requests);
	CHECK(bad_requests == bad_retried + 2);
	receiver_stop(&ok);
	receiver_stop(&bad);
	eddy_store_destroy(w);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	eddy_log_setup(getenv("EDDY_TEST_LOG") ? getenv("EDDY_TEST_LOG") : "error", NULL);
	test_conf();
	test_webhook();
	test_slack_alertmanager();
	test_resolved();
	test_retries();
	test_age_and_wake();
	test_restart();
	test_burst_slow_flush();
	test_stop_sends_due();
	test_counts();

	for (int i = 0; i < n_got; i++)
		free(got[i].body);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return test_report("test_alerts");
}
