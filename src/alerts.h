/* alerts.h - the alert sender: delivers the store's alert outbox to signed
 * webhooks, Slack and Prometheus Alertmanager from its own thread. */
#ifndef EDDY_ALERTS_H
#define EDDY_ALERTS_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "handlers.h"
#include "msg.h"
#include "store/store.h"

/* ---- the outbox body: the contract of ctx.alert ---------------------------
 * What ctx.alert writes as the body of an outbox alert
 * (eddy_store_outbox_add), one JSON object:
 *
 *   {"sink": "ops",                      name of a configured sink
 *    "severity": "warning",              string
 *    "key": "order-42",                  what the alert is about (may be "")
 *    "summary": "Large order proposal",  one line
 *    "description": "...",               text, may be absent or ""
 *    "labels": {"tenant": "acme"},       object of strings, may be {}
 *    "annotations": {"runbook": "..."},  object of strings, may be {}
 *    "dedupe": "ops/order-42/...",       the outbox's dedupe key
 *    "event": {"id", "type", "source", "tenant", "correlation_id",
 *              "topic", "partition", "offset"},   of the event that raised it
 *    "created_at": "2024-05-01T12:00:00.123Z",   RFC 3339, UTC
 *    "starts_at": "...",                 when the alert's condition began to
 *                                        hold (time-based rules); may be absent
 *    "status": "resolved",               only on a resolved notification
 *    "ends_at": "..."}                   with it: when the condition stopped
 *                                        holding
 *
 * A resolved notification (a rule's condition stopped holding for an alert
 * it raised) has the labels, summary and dedupe of that alert, "status":
 * "resolved" and "ends_at"; an alert has no "status".
 * Only "summary" is required by every sink; absent strings are sent as
 * empty, absent objects as {}. Label and annotation values that are not
 * strings are sent as their JSON text (null ones are left out). Event
 * members may be absent (replayed input has no topic). What each sink gets:
 *
 * - webhook: the body exactly as stored, POSTed with Content-Type
 *   application/json and the Standard Webhooks headers: webhook-id
 *   "eddy-<outbox id>-<8 hex digits of SHA-256 of the dedupe key>" (the
 *   same for every attempt of one alert, so a receiver drops replays by it),
 *   webhook-timestamp (unix seconds of the attempt) and webhook-signature
 *   "v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">" keyed with the
 *   base64-decoded secret after "whsec_" (no signature without a secret).
 * - slack: an incoming-webhook message: "text" (severity and summary, the
 *   notification's fallback) and "blocks": a header "[SEVERITY] summary",
 *   a section with the description (when there is one), and a context line
 *   with key, tenant and event (type, id, topic/partition/offset). A
 *   resolved notification's header is "[RESOLVED] summary".
 * - alertmanager: POST <url>/api/v2/alerts with one alert: "labels"
 *   alertname (labels.alertname, else the event's type, else "eddy"),
 *   severity, key and tenant (when not empty), then the alert's labels (a
 *   label of the alert wins over the computed one of the same name);
 *   "annotations" summary and description, then the alert's annotations;
 *   "startsAt" starts_at, else created_at; "endsAt" ends_at on a resolved
 *   notification (Alertmanager then marks the alert resolved);
 *   "generatorURL" when configured.
 */

/* The outbox body above of ctx.alert req, raised by event ev (record m;
 * either may be NULL) at now_ms, for sink with severity (both checked by
 * the caller); its dedupe key (req->dedupe, else "sink/handler/key") goes
 * into dedupe. Returns the body (the caller frees it) and its length in
 * *len; NULL when out of memory or past 1 MiB. */
char *eddy_alerts_body(const struct eddy_alert_req *req, const char *sink, const char *severity,
                       const struct eddy_event *ev, const struct eddy_msg *m, int64_t now_ms,
                       char *dedupe, size_t dedupe_size, size_t *len);

enum eddy_alerts_sink_type {
	EDDY_ALERTS_WEBHOOK,
	EDDY_ALERTS_SLACK,
	EDDY_ALERTS_ALERTMANAGER,
};

/* One destination; the outbox's "sink" column names it. */
struct eddy_alerts_sink {
	const char *name;
	enum eddy_alerts_sink_type type;
	/* webhook: the URL POSTed to; slack: the incoming webhook's URL;
	 * alertmanager: its base URL ("http://am:9093"), /api/v2/alerts is
	 * appended unless already there. http:// or https:// only. */
	const char *url;
	/* webhook only: the Standard Webhooks secret, "whsec_<base64>" (the
	 * prefix may be left out); NULL sends unsigned requests. */
	const char *secret;
	int timeout_ms; /* per request, connection included; 0: 10000 */
};

/* Zero values mean the defaults given. Every string is copied by
 * eddy_alerts_start: the conf may be freed once it returns. */
struct eddy_alerts_conf {
	const struct eddy_alerts_sink *sinks;
	size_t n_sinks;
	int max_age_ms;            /* an alert older than this is given up; 0: 24 h */
	int backoff_ms;            /* first retry's wait; 0: 1000 */
	int backoff_max_ms;        /* doubling stops here; 0: 300000 */
	int max_in_flight;         /* requests at once, all sinks together; 0: 16 */
	int poll_ms;               /* outbox looked at this often without a wake; 0: 1000 */
	const char *generator_url; /* alertmanager's generatorURL; NULL: none */
};

/* One sink's counts since the sender started, as the totals of struct
 * eddy_alerts_stats count. The sender's thread adds to them (relaxed
 * atomics); others read them with atomic loads. */
struct eddy_alerts_sink_counters {
	const char *name; /* the sink's; NULL: alerts naming no configured sink */
	_Atomic uint64_t requests, delivered, retried, failed, given_up;
};

/* What the sender has done since it started; every count is of alerts
 * (retried counts attempts that will be tried again). */
struct eddy_alerts_stats {
	uint64_t requests;  /* requests started: each attempt handed to libcurl */
	uint64_t delivered; /* a sink accepted it (2xx) */
	uint64_t retried;   /* failed for now: 5xx, 408, 429, network, timeout */
	uint64_t failed;    /* failed for good: another 4xx, 3xx, unknown sink, bad body */
	uint64_t given_up;  /* older than max_age_ms before it could be delivered */
	uint64_t in_flight; /* requests under way now */
	/* alerts in the outbox not delivered nor failed yet (due or in
	 * backoff), as the sender counted them last, once a second; -1 before
	 * the first count and while counting fails */
	int64_t outbox_pending;
	/* the same counts per sink: one per configured sink, in the order of
	 * the conf, then one (name NULL) for alerts whose sink is not
	 * configured; borrowed from the sender until eddy_alerts_stop */
	const struct eddy_alerts_sink_counters *sinks;
	size_t n_sinks;
};

struct eddy_alerts;

/* Starts the sender's thread on store, a handle of its own on the database
 * the consumer writes the outbox of (eddy_store_* handles are not shared
 * between threads); the sender takes ownership of it, also when start fails,
 * and makes its commits lazy (eddy_store_lazy_commits): an outcome undone
 * by a crash of the machine sends its alert again, which the webhook-id
 * makes harmless.
 * Returns NULL with errstr filled when the conf is invalid (no sinks, a sink
 * without name or with a bad URL or secret, two sinks of one name) or
 * resources could not be had. */
struct eddy_alerts *eddy_alerts_start(const struct eddy_alerts_conf *conf, struct eddy_store *store,
                                      char *errstr, size_t errstr_size);

/* New alerts were committed: the sender looks at the outbox now rather than
 * at its next poll. Cheap, callable from any thread, until stop. */
void eddy_alerts_wake(struct eddy_alerts *a);

/* Thread-safe snapshot of the counters (the totals summed over the sinks)
 * and of the outbox's last count; a NULL a gives zeros and no sinks. */
void eddy_alerts_stats(const struct eddy_alerts *a, struct eddy_alerts_stats *out);

/* Stops sending, within grace_ms: the alerts due when it is called are
 * sent first (at most one attempt each: one that fails waits out its
 * backoff in the outbox), with those under way, until none is left; past
 * the grace, requests under way are aborted and stay pending, to be sent
 * again by the next start (receivers drop the replay by its webhook-id).
 * Then logs what the sender did and how many alerts the outbox still
 * holds ("alerts: stopped: ..."), joins the thread, closes the store
 * handle and frees a. NULL is a no-op. */
void eddy_alerts_stop(struct eddy_alerts *a, int grace_ms);

#endif
