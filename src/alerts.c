/* alerts.c - the alert sender: one thread that takes due alerts from the
 * store's outbox, sends them with libcurl's multi interface (webhook signed
 * as Standard Webhooks do, Slack message, Alertmanager alert) and records
 * each outcome in the outbox. */
#include "alerts.h"

#include <ctype.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "curl_init.h"
#include "json.h"
#include "jsonw.h"
#include "log.h"
#include "text.h"
#include "utf8.h"

/* Kept of a sink's answer, for the log and the outbox's error column. */
#define ANSWER_MAX 2048

/* Longest part of an answer quoted in a log line or an error. */
#define EXCERPT_MAX 200

/* Slack refuses longer texts: a header's plain text holds 150 characters,
 * a section's 3000 (limits in characters; we count bytes, which is safe). */
#define SLACK_HEADER_MAX 150
#define SLACK_SECTION_MAX 3000
#define SLACK_CONTEXT_MAX 300

#define AM_PATH "/api/v2/alerts"

/* Bodies we build (Slack, Alertmanager) are the alert's texts plus a
 * little: past this, something is wrong with the alert. */
#define BODY_MAX (4u << 20)

/* How often the sender counts the outbox's pending alerts for the
 * metrics: a count is a query on the store, not something for every
 * request. */
#define OUTBOX_COUNT_MS 1000

/* ---- small helpers ------------------------------------------------------ */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An output buffer that remembers running out of memory, so a run of puts
 * is checked once at its end. */
struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (n > SIZE_MAX / 2 - b->len) { /* the doubling below would wrap */
		b->oom = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(p = realloc(b->p, cap))) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void putz(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* s[0..n) as a JSON string value, cut to max bytes with "…" marking the
 * cut. */
static void string_max(struct eddy_jsonw *w, const char *s, size_t n, size_t max)
{
	struct buf t = {0};

	if (n <= max) {
		eddy_jsonw_string(w, s, n);
		return;
	}
	put(&t, s, eddy_utf8_cut(s, n, max - 3)); /* room for the ellipsis' 3 bytes */
	put(&t, "\xe2\x80\xa6", 3);
	if (t.oom)
		w->failed = true;
	else
		eddy_jsonw_string(w, t.p, t.len);
	free(t.p);
}

/* Slack's mrkdwn takes &, < and > as markup: they are escaped, the rest
 * (*bold*, _italic_) is left for the author to use. */
static void put_mrkdwn(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0, run = 0; i <= n; i++) {
		const char *esc = i == n        ? ""
		                  : s[i] == '&' ? "&amp;"
		                  : s[i] == '<' ? "&lt;"
		                  : s[i] == '>' ? "&gt;"
		                                : NULL;
		if (!esc)
			continue;
		put(b, s + run, i - run);
		putz(b, esc);
		run = i + 1;
	}
}

/* The printable first EXCERPT_MAX bytes of an answer, as one line. */
static void excerpt(char *out, size_t size, const char *s, size_t n)
{
	n = eddy_utf8_cut(s, n, EXCERPT_MAX < size - 1 ? EXCERPT_MAX : size - 1);
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
	out[n] = '\0';
}

/* ---- the outbox body ----------------------------------------------------- */

char *eddy_alerts_body(const struct eddy_alert_req *req, const char *sink, const char *severity,
                       const struct eddy_event *ev, const struct eddy_msg *m, int64_t now_ms,
                       char *dedupe, size_t dedupe_size, size_t *len)
{
	struct eddy_jsonw w;
	char when[EDDY_TIME_LEN];

	if (req->dedupe)
		snprintf(dedupe, dedupe_size, "%s", req->dedupe);
	else
		snprintf(dedupe, dedupe_size, "%s/%s/%s", sink, req->handler ? req->handler : "",
		         req->key ? req->key : "");
	eddy_time_rfc3339(now_ms, when);
	eddy_jsonw_init(&w, 1 << 20);
	eddy_jsonw_object(&w);
	eddy_jsonw_member(&w, "sink", sink, strlen(sink));
	eddy_jsonw_member(&w, "severity", severity, strlen(severity));
	eddy_jsonw_member(&w, "key", req->key ? req->key : "", req->key ? strlen(req->key) : 0);
	eddy_jsonw_member(&w, "summary", req->summary, strlen(req->summary));
	if (req->description)
		eddy_jsonw_member(&w, "description", req->description, strlen(req->description));
	eddy_jsonw_key(&w, "labels");
	eddy_jsonw_raw(&w, req->labels ? req->labels : "{}", req->labels ? strlen(req->labels) : 2);
	eddy_jsonw_key(&w, "annotations");
	eddy_jsonw_raw(&w, req->annotations ? req->annotations : "{}",
	               req->annotations ? strlen(req->annotations) : 2);
	eddy_jsonw_member(&w, "dedupe", dedupe, strlen(dedupe));
	eddy_jsonw_key(&w, "event");
	eddy_jsonw_object(&w);
	if (ev) {
		eddy_jsonw_member(&w, "id", ev->id.s, ev->id.len);
		eddy_jsonw_member(&w, "type", ev->type.s, ev->type.len);
		eddy_jsonw_member(&w, "source", ev->source.s, ev->source.len);
		eddy_jsonw_member(&w, "tenant", ev->tenant.s, ev->tenant.len);
		eddy_jsonw_member(&w, "correlation_id", ev->correlation_id.s,
		                  ev->correlation_id.len);
	}
	if (m && m->topic) {
		eddy_jsonw_member(&w, "topic", m->topic, strlen(m->topic));
		eddy_jsonw_key(&w, "partition");
		eddy_jsonw_int(&w, m->partition);
		eddy_jsonw_key(&w, "offset");
		eddy_jsonw_int(&w, m->offset);
	}
	eddy_jsonw_end(&w);
	eddy_jsonw_member(&w, "created_at", when, strlen(when));
	if (req->starts_ms > 0) {
		char starts[EDDY_TIME_LEN];
		eddy_time_rfc3339(req->starts_ms, starts);
		eddy_jsonw_member(&w, "starts_at", starts, strlen(starts));
	}
	if (req->resolved) {
		char ends[EDDY_TIME_LEN];
		eddy_time_rfc3339(req->ends_ms > 0 ? req->ends_ms : now_ms, ends);
		eddy_jsonw_member(&w, "status", "resolved", 8);
		eddy_jsonw_member(&w, "ends_at", ends, strlen(ends));
	}
	eddy_jsonw_end(&w);
	return eddy_jsonw_take(&w, len);
}

/* ---- the sender --------------------------------------------------------- */

struct sink {
	char *name;
	enum eddy_alerts_sink_type type;
	char *url;
	unsigned char *key; /* webhook: the decoded secret, NULL: unsigned */
	size_t key_len;
	long timeout_ms;
	struct eddy_alerts_sink_counters *counts; /* in the sender's counts[] */
};

/* An alert taken from the outbox: copies, owned by the sender. */
struct pick {
	int64_t id, created_ms;
	int attempts;
	char *sink, *dedupe, *body;
	size_t body_len;
};

/* A request under way. */
struct request {
	struct request *next;
	struct eddy_alerts *a;
	CURL *easy;
	struct curl_slist *headers;
	const struct sink *sink;
	int64_t id, created_ms;
	int attempts;
	char *payload; /* the body sent, owned */
	char answer[ANSWER_MAX];
	size_t answer_len;
	char curl_err[CURL_ERROR_SIZE];
};

struct eddy_alerts {
	struct sink *sinks;
	size_t n_sinks;
	int64_t max_age_ms;
	int backoff_ms, backoff_max_ms, max_in_flight, poll_ms;
	char *generator_url;
	struct eddy_store *store;
	CURLM *multi;
	EVP_MAC *hmac;
	pthread_t thread;
	bool started;

	/* shared with other threads */
	atomic_bool stopping, woken;
	atomic_int grace_ms;
	atomic_uint_fast64_t in_flight;
	_Atomic int64_t outbox_pending;
	/* one per sink and the last for alerts of no configured sink
	 * (alerts.h); written by the sender's thread only */
	struct eddy_alerts_sink_counters *counts;

	/* the sender thread's own */
	struct request *flying;
	int n_flying;
	struct pick *picks;
	int n_picks;
	struct eddy_json_doc *doc;
	uint64_t rng;
	int64_t hint_ms; /* wall time of the earliest retry this run scheduled */
};

/* Log fields naming an alert: {"alert_id":1,"sink":"ops"}. */
static void alert_log(enum eddy_log_level level, int64_t id, const char *sink, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void alert_log(enum eddy_log_level level, int64_t id, const char *sink, const char *fmt, ...)
{
	struct eddy_jsonw f;
	char msg[1024], *fields;
	va_list ap;

	if (!eddy_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	eddy_jsonw_init(&f, 4096);
	eddy_jsonw_object(&f);
	eddy_jsonw_key(&f, "alert_id");
	eddy_jsonw_int(&f, id);
	eddy_jsonw_member(&f, "sink", sink, strlen(sink));
	eddy_jsonw_end(&f);
	fields = eddy_jsonw_take(&f, NULL);
	eddy_log_fields(level, fields, "%s", msg);
	free(fields);
}

static const struct sink *find_sink(const struct eddy_alerts *a, const char *name)
{
	for (size_t i = 0; i < a->n_sinks; i++)
		if (strcmp(a->sinks[i].name, name) == 0)
			return &a->sinks[i];
	return NULL;
}

/* The counters of the sink named name, or those of alerts whose sink is
 * not configured. */
static struct eddy_alerts_sink_counters *counts_of(const struct eddy_alerts *a, const char *name)
{
	const struct sink *s = find_sink(a, name);

	return s ? s->counts : &a->counts[a->n_sinks];
}

static void bump(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* xorshift64*: jitter needs spread, not secrecy. */
static uint64_t rnd(struct eddy_alerts *a)
{
	a->rng ^= a->rng >> 12;
	a->rng ^= a->rng << 25;
	a->rng ^= a->rng >> 27;
	return a->rng * 2685821657736338717ull;
}

/* The wait before the next attempt after attempts failed ones: doubling
 * from backoff_ms up to backoff_max_ms, of which a random half is taken
 * off so that alerts failed together do not come back together. */
static int64_t backoff(struct eddy_alerts *a, int attempts)
{
	int64_t wait = a->backoff_ms;

	for (int i = 1; i < attempts && wait < a->backoff_max_ms; i++)
		wait *= 2;
	if (wait > a->backoff_max_ms)
		wait = a->backoff_max_ms;
	return wait - wait / 2 + (int64_t)(rnd(a) % (uint64_t)(wait / 2 + 1));
}

static void mark(struct eddy_alerts *a, int64_t id, const char *sink, enum eddy_outbox_state state,
                 int64_t next_ms, const char *error)
{
	char err[256];

	if (eddy_store_outbox_mark(a->store, id, state, next_ms, error, err, sizeof(err)) != 0)
		/* It stays pending as it was: sent again, dropped by the
		 * receiver by its webhook-id. */
		alert_log(EDDY_LOG_ERROR, id, sink, "alert %" PRId64 ": recording the outcome: %s",
		          id, err);
}

/* Records a failure for good; given_up tells which counter it goes to. */
static void fail(struct eddy_alerts *a, int64_t id, const char *sink, bool given_up,
                 const char *why)
{
	alert_log(EDDY_LOG_ERROR, id, sink, "alert %" PRId64 " to sink %s %s: %s", id, sink,
	          given_up ? "given up" : "failed for good", why);
	mark(a, id, sink, EDDY_OUTBOX_FAILED, 0, why);
	bump(given_up ? &counts_of(a, sink)->given_up : &counts_of(a, sink)->failed);
}

/* ---- bodies ------------------------------------------------------------- */

/* A member's string, "" when absent or not a string. */
static const char *member_str(const struct eddy_json *obj, const char *key, size_t *len)
{
	const struct eddy_json *v = eddy_json_get(obj, key, strlen(key));

	if (v && v->type == EDDY_JSON_STRING) {
		*len = v->len;
		return v->u.s;
	}
	*len = 0;
	return "";
}

/* A label or annotation value as Alertmanager wants it: a string. Returns
 * false for null (left out). */
static bool value_string(struct eddy_jsonw *w, const struct eddy_json *v)
{
	char tmp[40];

	switch (v->type) {
	case EDDY_JSON_NULL:
		return false;
	case EDDY_JSON_STRING:
		eddy_jsonw_string(w, v->u.s, v->len);
		return true;
	case EDDY_JSON_TRUE:
	case EDDY_JSON_FALSE:
		snprintf(tmp, sizeof(tmp), "%s", v->type == EDDY_JSON_TRUE ? "true" : "false");
		break;
	case EDDY_JSON_INT:
		snprintf(tmp, sizeof(tmp), "%" PRId64, v->u.i);
		break;
	case EDDY_JSON_DOUBLE:
		snprintf(tmp, sizeof(tmp), "%.17g", v->u.d);
		break;
	default:
		eddy_jsonw_string(w, v->raw, v->raw_len);
		return true;
	}
	eddy_jsonw_string(w, tmp, strlen(tmp));
	return true;
}

/* One computed member of a labels/annotations object, unless the alert's
 * own object (own) names it or the value is empty. */
static void computed(struct eddy_jsonw *w, const struct eddy_json *own, const char *name,
                     const char *value, size_t len)
{
	if (len && !eddy_json_get(own, name, strlen(name)))
		eddy_jsonw_member(w, name, value, len);
}

/* The alert's own members of obj (labels or annotations), after the
 * computed ones; null values are left out. */
static void own_members(struct eddy_jsonw *w, const struct eddy_json *obj)
{
	for (uint32_t i = 0; obj && i < obj->len; i++) {
		const struct eddy_json_member *m = &obj->u.members[i];

		if (m->value.type == EDDY_JSON_NULL)
			continue;
		eddy_jsonw_key(w, m->key);
		value_string(w, &m->value);
	}
}

/* An object member of root, NULL when absent or not an object. */
static const struct eddy_json *object_member(const struct eddy_json *root, const char *key)
{
	const struct eddy_json *v = eddy_json_get(root, key, strlen(key));

	return v && v->type == EDDY_JSON_OBJECT ? v : NULL;
}

/* Whether the body is a resolved notification. */
static bool resolved(const struct eddy_json *root)
{
	size_t len;
	const char *s = member_str(root, "status", &len);

	return len == 8 && memcmp(s, "resolved", 8) == 0;
}

static void alertmanager_body(const struct eddy_alerts *a, const struct pick *p,
                              const struct eddy_json *root, struct eddy_jsonw *w)
{
	const struct eddy_json *labels = object_member(root, "labels");
	const struct eddy_json *annotations = object_member(root, "annotations");
	const struct eddy_json *event = object_member(root, "event");
	const char *s;
	size_t len;

	eddy_jsonw_array(w);
	eddy_jsonw_object(w);
	eddy_jsonw_key(w, "labels");
	eddy_jsonw_object(w);
	/* alertname: the one label Alertmanager requires; the event's type
	 * groups alerts of one kind when the handler named none. */
	s = member_str(event, "type", &len);
	computed(w, labels, "alertname", len ? s : "eddy", len ? len : 4);
	s = member_str(root, "severity", &len);
	computed(w, labels, "severity", s, len);
	s = member_str(root, "key", &len);
	computed(w, labels, "key", s, len);
	s = member_str(event, "tenant", &len);
	computed(w, labels, "tenant", s, len);
	own_members(w, labels);
	eddy_jsonw_end(w);
	eddy_jsonw_key(w, "annotations");
	eddy_jsonw_object(w);
	s = member_str(root, "summary", &len);
	computed(w, annotations, "summary", s, len);
	s = member_str(root, "description", &len);
	computed(w, annotations, "description", s, len);
	own_members(w, annotations);
	eddy_jsonw_end(w);
	s = member_str(root, "starts_at", &len);
	if (!len)
		s = member_str(root, "created_at", &len);
	if (len) {
		eddy_jsonw_member(w, "startsAt", s, len);
	} else {
		char when[EDDY_TIME_LEN];

		eddy_time_rfc3339(p->created_ms, when);
		eddy_jsonw_member(w, "startsAt", when, strlen(when));
	}
	/* a resolved notification ends the alert of the same labels */
	if (resolved(root) && (s = member_str(root, "ends_at", &len)) && len)
		eddy_jsonw_member(w, "endsAt", s, len);
	if (a->generator_url)
		eddy_jsonw_member(w, "generatorURL", a->generator_url, strlen(a->generator_url));
	eddy_jsonw_end(w);
	eddy_jsonw_end(w);
}

/* One mrkdwn element of a context block, "*name:* value", when value (in
 * t, mrkdwn already) is not empty; t is emptied. */
static void slack_context(struct eddy_jsonw *w, const char *name, struct buf *t)
{
	struct buf e = {0};

	if (t->len) {
		putz(&e, "*");
		putz(&e, name);
		putz(&e, ":* ");
		put(&e, t->p, t->len);
		eddy_jsonw_object(w);
		eddy_jsonw_member(w, "type", "mrkdwn", 6);
		eddy_jsonw_key(w, "text");
		if (e.oom)
			w->failed = true;
		else
			string_max(w, e.p, e.len, SLACK_CONTEXT_MAX);
		eddy_jsonw_end(w);
	}
	if (t->oom)
		w->failed = true;
	t->len = 0;
	free(e.p);
}

/* The context block: key, tenant, event type and id, where it came from
 * (topic [partition] @offset). t is scratch space, left empty. */
static void slack_context_block(struct eddy_jsonw *w, const struct eddy_json *root,
                                const struct eddy_json *event, struct buf *t)
{
	const struct eddy_json *v;
	const char *s;
	size_t len;

	eddy_jsonw_object(w);
	eddy_jsonw_member(w, "type", "context", 7);
	eddy_jsonw_key(w, "elements");
	eddy_jsonw_array(w);
	s = member_str(root, "key", &len);
	put_mrkdwn(t, s, len);
	slack_context(w, "key", t);
	s = member_str(event, "tenant", &len);
	put_mrkdwn(t, s, len);
	slack_context(w, "tenant", t);
	s = member_str(event, "type", &len);
	put_mrkdwn(t, s, len);
	s = member_str(event, "id", &len);
	if (len) {
		putz(t, t->len ? " " : "");
		put_mrkdwn(t, s, len);
	}
	slack_context(w, "event", t);
	s = member_str(event, "topic", &len);
	if (len) {
		char num[32];

		put_mrkdwn(t, s, len);
		if ((v = eddy_json_getz(event, "partition")) && v->type == EDDY_JSON_INT) {
			snprintf(num, sizeof(num), " [%" PRId64 "]", v->u.i);
			putz(t, num);
		}
		if ((v = eddy_json_getz(event, "offset")) && v->type == EDDY_JSON_INT) {
			snprintf(num, sizeof(num), " @%" PRId64, v->u.i);
			putz(t, num);
		}
	}
	slack_context(w, "from", t);
	/* A context block needs one element: the sender's name, at least. */
	if (w->first[w->depth - 1]) {
		eddy_jsonw_object(w);
		eddy_jsonw_member(w, "type", "mrkdwn", 6);
		eddy_jsonw_member(w, "text", "eddy", 4);
		eddy_jsonw_end(w);
	}
	eddy_jsonw_end(w);
	eddy_jsonw_end(w);
}

static void slack_body(const struct eddy_json *root, struct eddy_jsonw *w)
{
	const struct eddy_json *event = object_member(root, "event");
	struct buf head = {0}, t = {0};
	const char *s;
	size_t len;

	/* "[WARNING] summary": the severity shouts, as in every pager;
	 * "[RESOLVED] summary" when it is over */
	s = member_str(root, "severity", &len);
	if (resolved(root)) {
		s = "resolved";
		len = 8;
	}
	if (len) {
		putz(&head, "[");
		for (size_t i = 0; i < len; i++) {
			char c = (char)toupper((unsigned char)s[i]);
			put(&head, &c, 1);
		}
		putz(&head, "] ");
	}
	s = member_str(root, "summary", &len);
	put(&head, s, len);
	if (!head.len)
		putz(&head, "alert");
	if (head.oom) {
		w->failed = true;
		return;
	}

	eddy_jsonw_object(w);
	/* the notification's text, and what clients without blocks show */
	put_mrkdwn(&t, head.p, head.len);
	eddy_jsonw_key(w, "text");
	string_max(w, t.p ? t.p : "", t.len, SLACK_SECTION_MAX);
	t.len = 0;
	eddy_jsonw_key(w, "blocks");
	eddy_jsonw_array(w);

	eddy_jsonw_object(w);
	eddy_jsonw_member(w, "type", "header", 6);
	eddy_jsonw_key(w, "text");
	eddy_jsonw_object(w);
	eddy_jsonw_member(w, "type", "plain_text", 10);
	eddy_jsonw_key(w, "text");
	string_max(w, head.p, head.len, SLACK_HEADER_MAX);
	eddy_jsonw_end(w);
	eddy_jsonw_end(w);

	s = member_str(root, "description", &len);
	if (len) {
		put_mrkdwn(&t, s, len);
		eddy_jsonw_object(w);
		eddy_jsonw_member(w, "type", "section", 7);
		eddy_jsonw_key(w, "text");
		eddy_jsonw_object(w);
		eddy_jsonw_member(w, "type", "mrkdwn", 6);
		eddy_jsonw_key(w, "text");
		string_max(w, t.p ? t.p : "", t.len, SLACK_SECTION_MAX);
		eddy_jsonw_end(w);
		eddy_jsonw_end(w);
		t.len = 0;
	}

	slack_context_block(w, root, event, &t);
	eddy_jsonw_end(w);
	eddy_jsonw_end(w);
	free(head.p);
	free(t.p);
}

/* ---- requests ----------------------------------------------------------- */

static size_t on_answer(char *data, size_t size, size_t nmemb, void *arg)
{
	struct request *r = arg;
	size_t n = size * nmemb, room = sizeof(r->answer) - 1 - r->answer_len;

	/* The rest of a long answer is read and dropped: the status decides. */
	memcpy(r->answer + r->answer_len, data, n < room ? n : room);
	r->answer_len += n < room ? n : room;
	r->answer[r->answer_len] = '\0';
	return n;
}

/* Appends a header line to r's list; false when out of memory. */
static bool add_header(struct request *r, const char *line)
{
	struct curl_slist *h = curl_slist_append(r->headers, line);

	if (h)
		r->headers = h;
	return h != NULL;
}

static void request_free(struct request *r)
{
	if (!r)
		return;
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->payload);
	free(r);
}

/* The Standard Webhooks headers of an attempt at p. Returns false when
 * out of memory or when libcrypto fails. */
static bool sign(struct eddy_alerts *a, struct request *r, const struct pick *p)
{
	unsigned char digest[EVP_MAX_MD_SIZE], mac[EVP_MAX_MD_SIZE];
	char hdr[200], ts[24], id[64];
	unsigned int digest_len = 0;
	size_t mac_len = 0;
	unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	bool ok = false;

	/* Stable for every attempt of this alert, unique across databases by
	 * the dedupe key's digest, and without the '.' the scheme forbids. */
	if (!EVP_Digest(p->dedupe, strlen(p->dedupe), digest, &digest_len, EVP_sha256(), NULL))
		return false;
	snprintf(id, sizeof(id), "eddy-%" PRId64 "-%02x%02x%02x%02x", p->id, digest[0], digest[1],
	         digest[2], digest[3]);
	snprintf(ts, sizeof(ts), "%lld", (long long)(eddy_now_ms() / 1000));
	snprintf(hdr, sizeof(hdr), "webhook-id: %s", id);
	if (!add_header(r, hdr))
		return false;
	snprintf(hdr, sizeof(hdr), "webhook-timestamp: %s", ts);
	if (!add_header(r, hdr))
		return false;
	if (!r->sink->key)
		return true;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_MAC_CTX_new(a->hmac)) &&
	    EVP_MAC_init(ctx, r->sink->key, r->sink->key_len, params) &&
	    EVP_MAC_update(ctx, (const unsigned char *)id, strlen(id)) &&
	    EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
	    EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts)) &&
	    EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
	    EVP_MAC_update(ctx, (const unsigned char *)r->payload, strlen(r->payload)) &&
	    EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac))) {
		EVP_EncodeBlock(b64, mac, (int)mac_len);
		snprintf(hdr, sizeof(hdr), "webhook-signature: v1,%s", (const char *)b64);
		ok = add_header(r, hdr);
	}
	EVP_MAC_CTX_free(ctx);
	return ok;
}

/* Starts sending p. Returns 0 when under way, -1 when p was recorded as
 * failed for good, -2 when it could not start now (left pending). */
static int send_one(struct eddy_alerts *a, const struct pick *p)
{
	const struct sink *sink = find_sink(a, p->sink);
	const struct eddy_json *root = NULL;
	struct request *r;
	struct eddy_jsonw body;
	char jerr[160];
	CURLcode cc = CURLE_OK;

	if (!sink) {
		fail(a, p->id, p->sink, false, "no sink of this name is configured");
		return -1;
	}
	if (sink->type != EDDY_ALERTS_WEBHOOK) {
		root = eddy_json_parse(a->doc, p->body, p->body_len, jerr, sizeof(jerr));
		if (!root || root->type != EDDY_JSON_OBJECT) {
			char why[200];

			snprintf(why, sizeof(why), "the stored alert is not a JSON object: %s",
			         root ? "another type" : jerr);
			fail(a, p->id, p->sink, false, why);
			return -1;
		}
	}
	if (!(r = calloc(1, sizeof(*r))))
		return -2;
	r->a = a;
	r->sink = sink;
	r->id = p->id;
	r->created_ms = p->created_ms;
	r->attempts = p->attempts;
	eddy_jsonw_init(&body, BODY_MAX);
	switch (sink->type) {
	case EDDY_ALERTS_WEBHOOK:
		r->payload = eddy_memdup0(p->body, p->body_len);
		break;
	case EDDY_ALERTS_SLACK:
		slack_body(root, &body);
		break;
	case EDDY_ALERTS_ALERTMANAGER:
		alertmanager_body(a, p, root, &body);
		break;
	}
	if (sink->type != EDDY_ALERTS_WEBHOOK)
		r->payload = eddy_jsonw_take(&body, NULL);
	eddy_jsonw_free(&body);
	if (!r->payload)
		goto retry_later;
	/* No "Expect: 100-continue" round trip before larger bodies. */
	if (!add_header(r, "Content-Type: application/json") || !add_header(r, "Expect:") ||
	    (sink->type == EDDY_ALERTS_WEBHOOK && !sign(a, r, p)) || !(r->easy = curl_easy_init()))
		goto retry_later;
	cc |= curl_easy_setopt(r->easy, CURLOPT_URL, sink->url);
	cc |= curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->payload);
	cc |=
	    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->payload));
	cc |= curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	cc |= curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_answer);
	cc |= curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	cc |= curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	cc |= curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->curl_err);
	cc |= curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	cc |= curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "eddy/" EDDY_VERSION);
	cc |= curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	cc |= curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, sink->timeout_ms);
	cc |= curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, sink->timeout_ms);
	cc |= curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	if (cc != CURLE_OK || curl_multi_add_handle(a->multi, r->easy) != CURLM_OK)
		goto retry_later;
	r->next = a->flying;
	a->flying = r;
	a->n_flying++;
	atomic_store(&a->in_flight, (uint_fast64_t)a->n_flying);
	bump(&sink->counts->requests);
	return 0;
retry_later:
	/* Out of memory: the alert stays as it is in the outbox, and the next
	 * look at it tries again. */
	alert_log(EDDY_LOG_WARN, p->id, p->sink, "alert %" PRId64 ": cannot start a request now",
	          p->id);
	request_free(r);
	return -2;
}

/* Records the outcome of a finished request and frees it. */
static void finish(struct eddy_alerts *a, struct request *r, CURLcode cc)
{
	const char *sink = r->sink->name;
	char why[CURL_ERROR_SIZE + EXCERPT_MAX + 64], ex[EXCERPT_MAX + 1];
	int64_t now = eddy_now_ms(), wait;
	curl_off_t retry_after = 0;
	long status = 0;

	if (cc == CURLE_OK)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	if (cc == CURLE_OK && status >= 200 && status <= 299) {
		mark(a, r->id, sink, EDDY_OUTBOX_DELIVERED, 0, NULL);
		bump(&r->sink->counts->delivered);
		alert_log(EDDY_LOG_DEBUG, r->id, sink, "alert %" PRId64 " delivered to sink %s",
		          r->id, sink);
		return;
	}
	excerpt(ex, sizeof(ex), r->answer, r->answer_len);
	if (cc != CURLE_OK)
		snprintf(why, sizeof(why), "%s",
		         r->curl_err[0] ? r->curl_err : curl_easy_strerror(cc));
	else
		snprintf(why, sizeof(why), "HTTP %ld%s%s", status, ex[0] ? ": " : "", ex);
	/* A refused alert (bad request, unknown channel, wrong URL or
	 * credentials) is refused again: only a change of config helps. The
	 * network, an overloaded or rate-limiting sink may recover. */
	if (cc == CURLE_OK && status != 408 && status != 429 && status < 500) {
		fail(a, r->id, sink, false, why);
		return;
	}
	if (now - r->created_ms >= a->max_age_ms) {
		fail(a, r->id, sink, true, why);
		return;
	}
	wait = backoff(a, r->attempts + 1);
	if (cc == CURLE_OK &&
	    curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
	    retry_after > 0) {
		/* The sink said when: not sooner, capped as our own backoff is */
		int64_t said = retry_after > INT32_MAX ? INT64_C(1000) * INT32_MAX
		                                       : (int64_t)retry_after * 1000;
		if (said > wait)
			wait = said < a->max_age_ms ? said : a->max_age_ms;
	}
	alert_log(EDDY_LOG_WARN, r->id, sink,
	          "alert %" PRId64 " to sink %s: %s; trying again in %" PRId64 " ms (attempt %d)",
	          r->id, sink, why, wait, r->attempts + 1);
	mark(a, r->id, sink, EDDY_OUTBOX_PENDING, now + wait, why);
	bump(&r->sink->counts->retried);
	if (now + wait < a->hint_ms)
		a->hint_ms = now + wait;
}

/* Takes finished requests off the multi handle. */
static void reap(struct eddy_alerts *a)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(a->multi, &left))) {
		struct request *r = NULL, **pp;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		for (pp = &a->flying; *pp && *pp != r; pp = &(*pp)->next)
			;
		if (!r || !*pp)
			continue;
		*pp = r->next;
		a->n_flying--;
		atomic_store(&a->in_flight, (uint_fast64_t)a->n_flying);
		curl_multi_remove_handle(a->multi, r->easy);
		finish(a, r, msg->data.result);
		request_free(r);
	}
}

static void picks_clear(struct eddy_alerts *a)
{
	for (int i = 0; i < a->n_picks; i++) {
		free(a->picks[i].sink);
		free(a->picks[i].dedupe);
		free(a->picks[i].body);
	}
	a->n_picks = 0;
}

/* eddy_store_outbox_due's callback: copies the alerts not under way. */
static void on_due(void *ud, const struct eddy_outbox_alert *al)
{
	struct eddy_alerts *a = ud;
	struct pick *p;

	for (const struct request *r = a->flying; r; r = r->next)
		if (r->id == al->id)
			return;
	if (a->n_picks + a->n_flying >= a->max_in_flight)
		return;
	p = &a->picks[a->n_picks];
	memset(p, 0, sizeof(*p));
	p->id = al->id;
	p->created_ms = al->created_ms;
	p->attempts = al->attempts;
	p->body_len = al->body_len;
	if (!(p->sink = strdup(al->sink ? al->sink : "")) ||
	    !(p->dedupe = strdup(al->dedupe_key ? al->dedupe_key : "")) ||
	    !(p->body = eddy_memdup0(al->body ? al->body : "", al->body_len))) {
		free(p->sink);
		free(p->dedupe);
		free(p->body);
		return;
	}
	a->n_picks++;
}

/* Starts requests for the alerts due at due_ms while there is room.
 * Returns true when the outbox may hold more of them than there was room
 * for. */
static bool fill(struct eddy_alerts *a, int64_t due_ms)
{
	char err[256];
	int64_t now = eddy_now_ms();
	int seen;

	/* Those under way are due too, and oldest first: asking for as many
	 * as fit in flight finds every free slot's alert. */
	seen =
	    eddy_store_outbox_due(a->store, due_ms, a->max_in_flight, on_due, a, err, sizeof(err));
	if (seen < 0) {
		eddy_log(EDDY_LOG_ERROR, "alerts: reading the outbox: %s", err);
		return false;
	}
	for (int i = 0; i < a->n_picks; i++) {
		const struct pick *p = &a->picks[i];

		if (now - p->created_ms >= a->max_age_ms) {
			char why[96];

			snprintf(why, sizeof(why), "older than %" PRId64 " ms, after %d attempts",
			         a->max_age_ms, p->attempts);
			fail(a, p->id, p->sink, true, why);
		} else {
			send_one(a, p);
		}
	}
	picks_clear(a);
	return seen >= a->max_in_flight;
}

/* Whether the outbox is worth a look now: when told to, at every poll,
 * when a retry this run scheduled is due, and after completions when the
 * last look found more than fitted (once half the slots are free: one
 * query per slot would cost more than it gains). Stopping, only the last
 * reason counts: what was due when the stop began is all there is. */
static bool look_now(struct eddy_alerts *a, bool stopping, bool more, int64_t now,
                     int64_t next_poll)
{
	bool refill = more && a->n_flying <= a->max_in_flight / 2;

	if (stopping)
		return refill;
	return a->n_flying < a->max_in_flight &&
	       (atomic_exchange(&a->woken, false) || now >= next_poll ||
	        eddy_now_ms() >= a->hint_ms || refill);
}

/* Past the grace: what is under way is dropped unrecorded and stays
 * pending for the next start. */
static void abort_flying(struct eddy_alerts *a)
{
	while (a->flying) {
		struct request *r = a->flying;

		a->flying = r->next;
		curl_multi_remove_handle(a->multi, r->easy);
		alert_log(EDDY_LOG_WARN, r->id, r->sink->name,
		          "alert %" PRId64 " to sink %s: aborted by shutdown, stays pending", r->id,
		          r->sink->name);
		request_free(r);
	}
	a->n_flying = 0;
	atomic_store(&a->in_flight, 0);
}

/* Counts the outbox's pending alerts for eddy_alerts_stats. A failure is
 * logged at the stop, and else when counting starts to fail, not once a
 * second. Returns the count or -1. */
static int64_t count_outbox(struct eddy_alerts *a, bool stop)
{
	char err[256];
	int64_t n = eddy_store_outbox_pending(a->store, err, sizeof(err));

	if (n < 0 && (stop || atomic_load_explicit(&a->outbox_pending, memory_order_relaxed) >= 0))
		eddy_log(EDDY_LOG_ERROR, "alerts: counting the alerts in the outbox: %s", err);
	atomic_store_explicit(&a->outbox_pending, n, memory_order_relaxed);
	return n;
}

/* The closing line: what this run did, and what the outbox still holds
 * for the next start (in backoff, or not reached within the grace). */
static void report(struct eddy_alerts *a)
{
	struct eddy_alerts_stats st;
	int64_t left = count_outbox(a, true);

	eddy_alerts_stats(a, &st);
	eddy_log(left != 0 ? EDDY_LOG_WARN : EDDY_LOG_INFO,
	         "alerts: stopped: %" PRIu64 " delivered, %" PRIu64 " retries, %" PRIu64
	         " failed, %" PRIu64 " given up; %" PRId64 " left in the outbox%s",
	         st.delivered, st.retried, st.failed, st.given_up, left,
	         left > 0 ? ", sent after the next start" : "");
}

static void *run(void *arg)
{
	struct eddy_alerts *a = arg;
	int64_t next_poll = 0, next_count = 0, deadline = -1, due_ms = 0;
	bool more = false;
	int running;

	for (;;) {
		int64_t now = mono_ms(), timeout;
		bool stopping = atomic_load(&a->stopping);

		if (stopping && deadline < 0) {
			/* Drain: what is due now goes out before the thread
			 * ends. A failure puts its alert in backoff, past
			 * due_ms: each gets one more attempt at most. */
			deadline = now + atomic_load(&a->grace_ms);
			due_ms = eddy_now_ms();
			more = true;
		}
		if (stopping && (now >= deadline || (a->n_flying == 0 && !more)))
			break;
		if (look_now(a, stopping, more, now, next_poll)) {
			a->hint_ms = INT64_MAX;
			more = fill(a, stopping ? due_ms : eddy_now_ms());
			next_poll = now + a->poll_ms;
		}
		curl_multi_perform(a->multi, &running);
		reap(a);

		now = mono_ms();
		if (!stopping && now >= next_count) {
			count_outbox(a, false);
			next_count = now + OUTBOX_COUNT_MS;
		}
		timeout = next_poll - now;
		if (more && a->n_flying <= a->max_in_flight / 2)
			timeout = 0; /* look again at once */
		else if (stopping)
			timeout = a->n_flying ? deadline - now : 0; /* 0: drained, end now */
		else if (a->hint_ms != INT64_MAX && a->hint_ms - eddy_now_ms() < timeout)
			timeout = a->hint_ms - eddy_now_ms();
		if (!stopping && next_count - now < timeout)
			timeout = next_count - now;
		if (timeout < 0)
			timeout = 0;
		/* libcurl shortens the wait to its own timers; a wake or stop
		 * ends it at once. */
		curl_multi_poll(a->multi, NULL, 0, (int)(timeout > 60000 ? 60000 : timeout), NULL);
	}
	abort_flying(a);
	report(a);
	return NULL;
}

/* ---- set-up ------------------------------------------------------------- */

/* Decodes a Standard Webhooks secret ("whsec_" and base64) into s->key. */
static int decode_secret(struct sink *s, const char *secret, char *errstr, size_t errstr_size)
{
	size_t len, pad = 0;
	int n;

	if (strncmp(secret, "whsec_", 6) == 0)
		secret += 6;
	len = strlen(secret);
	if (!len || len % 4 || len > 4096)
		goto bad;
	if (!(s->key = malloc(len / 4 * 3 + 1))) {
		eddy_errf(errstr, errstr_size, "alerts: out of memory");
		return -1;
	}
	while (pad < 2 && secret[len - 1 - pad] == '=')
		pad++;
	/* EVP_DecodeBlock counts the padding's bytes as decoded zeros. */
	n = EVP_DecodeBlock(s->key, (const unsigned char *)secret, (int)len);
	if (n < 0 || (size_t)n < pad || (size_t)n - pad == 0)
		goto bad;
	s->key_len = (size_t)n - pad;
	return 0;
bad:
	eddy_errf(errstr, errstr_size,
	          "alerts: sink %s: secret: want \"whsec_\" followed by base64", s->name);
	return -1;
}

static int copy_sink(struct sink *s, const struct eddy_alerts_sink *in, char *errstr,
                     size_t errstr_size)
{
	size_t len;

	if (!in->name || !*in->name) {
		eddy_errf(errstr, errstr_size, "alerts: a sink has no name");
		return -1;
	}
	if (!(s->name = strdup(in->name)))
		goto oom;
	if (in->type != EDDY_ALERTS_WEBHOOK && in->type != EDDY_ALERTS_SLACK &&
	    in->type != EDDY_ALERTS_ALERTMANAGER) {
		eddy_errf(errstr, errstr_size, "alerts: sink %s: unknown type", in->name);
		return -1;
	}
	s->type = in->type;
	if (!in->url ||
	    (strncmp(in->url, "http://", 7) != 0 && strncmp(in->url, "https://", 8) != 0)) {
		eddy_errf(errstr, errstr_size,
		          "alerts: sink %s: url: want one starting with http:// or https://",
		          in->name);
		return -1;
	}
	len = strlen(in->url);
	if (s->type == EDDY_ALERTS_ALERTMANAGER) {
		while (len && in->url[len - 1] == '/')
			len--;
		if (len < strlen(AM_PATH) ||
		    memcmp(in->url + len - strlen(AM_PATH), AM_PATH, strlen(AM_PATH)) != 0) {
			if (!(s->url = malloc(len + strlen(AM_PATH) + 1)))
				goto oom;
			memcpy(s->url, in->url, len);
			strcpy(s->url + len, AM_PATH);
		}
	}
	if (!s->url && !(s->url = eddy_memdup0(in->url, len)))
		goto oom;
	if (in->secret && s->type != EDDY_ALERTS_WEBHOOK) {
		eddy_errf(errstr, errstr_size, "alerts: sink %s: only webhooks take a secret",
		          in->name);
		return -1;
	}
	if (in->secret && decode_secret(s, in->secret, errstr, errstr_size) != 0)
		return -1;
	if (s->type == EDDY_ALERTS_WEBHOOK && !in->secret)
		eddy_log(EDDY_LOG_WARN, "alerts: sink %s: no secret, requests are not signed",
		         in->name);
	s->timeout_ms = in->timeout_ms > 0 ? in->timeout_ms : 10000;
	return 0;
oom:
	eddy_errf(errstr, errstr_size, "alerts: out of memory");
	return -1;
}

/* Frees what start made; the thread is not running. */
static void destroy(struct eddy_alerts *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_sinks; i++) {
		free(a->sinks[i].name);
		free(a->sinks[i].url);
		free(a->sinks[i].key);
	}
	free(a->sinks);
	free(a->counts);
	free(a->picks);
	free(a->generator_url);
	eddy_json_doc_destroy(a->doc);
	curl_multi_cleanup(a->multi);
	EVP_MAC_free(a->hmac);
	eddy_store_destroy(a->store);
	free(a);
}

struct eddy_alerts *eddy_alerts_start(const struct eddy_alerts_conf *conf, struct eddy_store *store,
                                      char *errstr, size_t errstr_size)
{
	struct eddy_alerts *a;

	if (!(a = calloc(1, sizeof(*a)))) {
		eddy_store_destroy(store);
		eddy_errf(errstr, errstr_size, "alerts: out of memory");
		return NULL;
	}
	a->store = store;
	atomic_init(&a->outbox_pending, -1);
	if (!store) {
		eddy_errf(errstr, errstr_size, "alerts: no store");
		goto err;
	}
	if (!conf || !conf->n_sinks || !conf->sinks) {
		eddy_errf(errstr, errstr_size, "alerts: no sinks");
		goto err;
	}
	/* The outcomes need no flush each (alerts.h, store.h): with one, the
	 * sender sends no faster than the disk flushes. */
	if (eddy_store_lazy_commits(store, errstr, errstr_size) != 0)
		goto err;
	if (eddy_curl_init("alerts", errstr, errstr_size) != 0)
		goto err;
	a->max_age_ms = conf->max_age_ms > 0 ? conf->max_age_ms : 24 * 3600 * 1000;
	a->backoff_ms = conf->backoff_ms > 0 ? conf->backoff_ms : 1000;
	a->backoff_max_ms = conf->backoff_max_ms > 0 ? conf->backoff_max_ms : 300000;
	if (a->backoff_max_ms < a->backoff_ms)
		a->backoff_max_ms = a->backoff_ms;
	a->max_in_flight = conf->max_in_flight > 0 ? conf->max_in_flight : 16;
	a->poll_ms = conf->poll_ms > 0 ? conf->poll_ms : 1000;
	a->hint_ms = INT64_MAX;
	a->rng = (uint64_t)eddy_now_ms() * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)a;
	if (!a->rng)
		a->rng = 1;
	if (!(a->sinks = calloc(conf->n_sinks, sizeof(*a->sinks))) ||
	    !(a->counts = calloc(conf->n_sinks + 1, sizeof(*a->counts))))
		goto oom;
	for (size_t i = 0; i < conf->n_sinks; i++) {
		a->n_sinks = i + 1;
		if (copy_sink(&a->sinks[i], &conf->sinks[i], errstr, errstr_size) != 0)
			goto err;
		a->sinks[i].counts = &a->counts[i];
		a->counts[i].name = a->sinks[i].name;
		for (size_t j = 0; j < i; j++)
			if (strcmp(a->sinks[j].name, a->sinks[i].name) == 0) {
				eddy_errf(errstr, errstr_size, "alerts: two sinks named %s",
				          a->sinks[i].name);
				goto err;
			}
	}
	if ((conf->generator_url && !(a->generator_url = strdup(conf->generator_url))) ||
	    !(a->picks = calloc((size_t)a->max_in_flight, sizeof(*a->picks))) ||
	    !(a->doc = eddy_json_doc_new()))
		goto oom;
	if (!(a->multi = curl_multi_init()) || !(a->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL))) {
		eddy_errf(errstr, errstr_size, "alerts: cannot set up libcurl or libcrypto");
		goto err;
	}
	if (pthread_create(&a->thread, NULL, run, a) != 0) {
		eddy_errf(errstr, errstr_size, "alerts: cannot start the sender's thread");
		goto err;
	}
	a->started = true;
	return a;
oom:
	eddy_errf(errstr, errstr_size, "alerts: out of memory");
err:
	destroy(a);
	return NULL;
}

void eddy_alerts_wake(struct eddy_alerts *a)
{
	if (!a)
		return;
	atomic_store(&a->woken, true);
	curl_multi_wakeup(a->multi);
}

void eddy_alerts_stats(const struct eddy_alerts *a, struct eddy_alerts_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!a)
		return;
	out->sinks = a->counts;
	out->n_sinks = a->n_sinks + 1;
	for (size_t i = 0; i < out->n_sinks; i++) {
		const struct eddy_alerts_sink_counters *c = &a->counts[i];

		out->requests += atomic_load_explicit(&c->requests, memory_order_relaxed);
		out->delivered += atomic_load_explicit(&c->delivered, memory_order_relaxed);
		out->retried += atomic_load_explicit(&c->retried, memory_order_relaxed);
		out->failed += atomic_load_explicit(&c->failed, memory_order_relaxed);
		out->given_up += atomic_load_explicit(&c->given_up, memory_order_relaxed);
	}
	out->in_flight = atomic_load(&a->in_flight);
	out->outbox_pending = atomic_load_explicit(&a->outbox_pending, memory_order_relaxed);
}

void eddy_alerts_stop(struct eddy_alerts *a, int grace_ms)
{
	if (!a)
		return;
	atomic_store(&a->grace_ms, grace_ms > 0 ? grace_ms : 0);
	atomic_store(&a->stopping, true);
	curl_multi_wakeup(a->multi);
	if (a->started)
		pthread_join(a->thread, NULL);
	destroy(a);
}
