/* config.c - eddy.yaml read through one table of properties that also drives
 * the environment overrides and the generated reference. */
#include "config.h"
#include "log.h"
#include "readfile.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

enum prop_type {
	P_STRING,
	P_BOOL,
	P_INT,
	P_ENUM,
	P_LIST,  /* char ** at off, size_t count at off_n */
	P_MAP,   /* struct eddy_config_kv * at off, size_t count at off_n */
	P_SINKS, /* struct eddy_config_sink * at off, size_t count at off_n */
};

/* Each flag is a check the loader applies to every value the property gets,
 * from the file or the environment, so the two can never disagree. */
#define P_NONEMPTY 0x1 /* strings, and each item of a list */
#define P_SECRET 0x2   /* masked where the effective config is shown */

struct prop {
	const char *name; /* dotted: the YAML path and, upper-cased, the EDDY_ name */
	enum prop_type type;
	const char *def; /* as the user would write it; NULL: unset */
	size_t off;
	size_t off_n;
	long min, max;             /* P_INT */
	const char *const *values; /* P_ENUM, NULL-terminated */
	const char *contains;      /* P_STRING: text the value must contain */
	unsigned flags;
	const char *doc;
};

static const char *const store_types[] = {"sqlite", "postgres", NULL};
static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"auto", "text", "json", NULL};
static const char *const dialects[] = {"draft-04", "draft-06", "draft-07",
                                       "2019-09",  "2020-12",  NULL};
static const char *const strategies[] = {"topic", "record", "topic_record", NULL};
static const char *const page_kibs[] = {"1", "2", "4", "8", "16", "32", "64", NULL};

#define OFF(field) offsetof(struct eddy_config, field)

/* A new group starts at the oldest retained record, not at the end
 * (librdkafka's default): eddy builds its state from what a data product
 * retains (snapshots, then changes), as sink connectors do. A fetch queue
 * of 1 MiB instead of 64: most of the memory eddy used while catching up;
 * fetch_nudge.c wakes the fetcher when the queue drains, which librdkafka
 * 2.0 would do only once a second (docs/operations.md has figures). A
 * fetch response of at most 1 MiB instead of 50: librdkafka's buffers for
 * it are reused instead of mapped afresh each time (page faults were 40 %
 * of its fetching); librdkafka wants it no smaller than message.max.bytes,
 * so a section that raises that keeps librdkafka's. */
const struct eddy_config_default eddy_kafka_consumer_defaults[] = {
    {"auto.offset.reset", "earliest", NULL},
    {"queued.max.messages.kbytes", "1024", NULL},
    {"fetch.max.bytes", "1048576", "message.max.bytes"},
    {NULL, NULL, NULL},
};

static const struct prop props[] = {
    {.name = "kafka",
     .type = P_MAP,
     .off = OFF(kafka),
     .off_n = OFF(n_kafka),
     .doc = "librdkafka properties (see librdkafka's CONFIGURATION.md), passed on "
            "unchanged; values may be strings, numbers or booleans."},
    {.name = "topics",
     .type = P_LIST,
     .def = "",
     .off = OFF(topics),
     .off_n = OFF(n_topics),
     .flags = P_NONEMPTY,
     .doc = "Topics to consume: names, or regular expressions starting with `^`. A single "
            "string is a one-item list; the environment variable takes a comma-separated "
            "list."},
    {.name = "handlers",
     .type = P_STRING,
     .def = "handlers",
     .off = OFF(handlers),
     .flags = P_NONEMPTY,
     .doc = "Folder of the `*.lua` handlers, loaded in name order."},
    {.name = "rules",
     .type = P_STRING,
     .off = OFF(rules),
     .flags = P_NONEMPTY,
     .doc = "Folder of the alert rule files (`*.yaml`, not `*.test.yaml`; see "
            "docs/rules.md), loaded with the handlers. Unset: `rules` when that folder "
            "exists; a folder given here must exist."},
    {.name = "store.type",
     .type = P_ENUM,
     .def = "sqlite",
     .off = OFF(store_type),
     .values = store_types,
     .doc = "Where handlers keep their state and alerts wait to be sent: `sqlite` (a file, "
            "`store.path`) or `postgres` (a server, `store.dsn`)."},
    {.name = "store.path",
     .type = P_STRING,
     .def = "var/eddy.db",
     .off = OFF(store_path),
     .flags = P_NONEMPTY,
     .doc = "Database file of the sqlite store, created when missing."},
    {.name = "store.dsn",
     .type = P_STRING,
     .off = OFF(store_dsn),
     .doc = "PostgreSQL connection string of the postgres store (libpq's `key=value` "
            "form or a `postgresql://` URI), e.g. `\"${EDDY_PG_DSN}\"`. The tables are "
            "created in the connection's current schema (the first of its `search_path` "
            "that exists), each named by its namespace in lower case."},
    {.name = "store.cache_kib",
     .type = P_INT,
     .def = "8192",
     .off = OFF(store_cache_kib),
     .min = 64,
     .max = 16777216,
     .doc = "Page cache of each connection to the sqlite store, in KiB (the writer's, "
            "`ctx.get`'s and, with alert sinks, the sender's). A store larger than the cache "
            "re-reads pages "
            "from the operating system's cache: with 250,000 keys (140 MB) 8 MiB handled "
            "about 25 % more events per second than 2 MiB, and 64 MiB no more than 8 "
            "(docs/operations.md)."},
    {.name = "store.page_kib",
     .type = P_ENUM,
     .def = "4",
     .off = OFF(store_page_kib),
     .values = page_kibs,
     .doc = "Page size of a new sqlite store, in KiB; an existing database keeps its own "
            "(docs/operations.md says how to change it). Each batch writes every page it "
            "changed: a small batch one page per record. At a steady 10,000 events/s 16 KiB "
            "pages wrote 3.3 times the bytes of 4 KiB ones; catching up with big batches "
            "they were 6 % faster over 20,000 keys and 25 % over 250,000."},
    {.name = "store.max_value_bytes",
     .type = P_INT,
     .def = "16777216",
     .off = OFF(store_max_value_bytes),
     .min = 1,
     .max = 1000000000,
     .doc = "The longest value one write (`ctx.upsert`) may store, in bytes of its JSON "
            "text. A longer one fails its event (`ctx.upsert: value of 41943042 bytes is "
            "more than store.max_value_bytes (16777216)`) before it is copied anywhere. "
            "Every value is read back whole into the handlers' Lua state, where the "
            "memory limit counts it and what it decodes to. SQLite keeps values up to "
            "1000000000 bytes, PostgreSQL's jsonb up to 268435455."},
    {.name = "dead_letter.topic",
     .type = P_STRING,
     .def = "eddy.dlq",
     .off = OFF(dead_letter_topic),
     .flags = P_NONEMPTY,
     .doc = "Topic that receives the events that could not be handled."},
    {.name = "envelope.require_key_equals_id",
     .type = P_BOOL,
     .def = "false",
     .off = OFF(require_key_equals_id),
     .doc = "Reject an event whose record key differs from its CloudEvents `id`."},
    {.name = "envelope.require_tenant",
     .type = P_BOOL,
     .def = "false",
     .off = OFF(require_tenant),
     .doc = "Reject an event without a non-empty `meta.tenant`."},
    {.name = "envelope.tenant_topic_pattern",
     .type = P_STRING,
     .off = OFF(tenant_topic_pattern),
     .contains = "{tenant}",
     .doc = "Glob the topic must match once `{tenant}` is replaced by the event's tenant, "
            "e.g. `{tenant}.*`; `*` matches any run of characters. Must contain "
            "`{tenant}`. Unset: not checked."},
    {.name = "schemas.dir",
     .type = P_STRING,
     .def = "conf/schemas",
     .off = OFF(schemas_dir),
     .flags = P_NONEMPTY,
     .doc = "Folder of local JSON Schemas: every `*.json` file in it (and its subfolders) "
            "is known by its `$id` and by its path. A missing folder holds no schemas."},
    {.name = "schemas.types",
     .type = P_MAP,
     .off = OFF(schema_types),
     .off_n = OFF(n_schema_types),
     .doc = "CloudEvents `type` (a glob: `*` matches any run of characters) to the schema "
            "its `data` must satisfy: a `$id`, or a file below `schemas.dir`. The first "
            "matching entry wins."},
    {.name = "schemas.map",
     .type = P_MAP,
     .off = OFF(schema_map),
     .off_n = OFF(n_schema_map),
     .doc = "URI prefix to folder, e.g. `\"https://schemas.example.com/\": conf/schemas/`: "
            "a `$ref` or `dataschema` under the prefix is read from the file at the rest of "
            "the URI in the folder. Schemas are never fetched from the network."},
    {.name = "schemas.required",
     .type = P_BOOL,
     .def = "false",
     .off = OFF(schemas_required),
     .doc = "Dead-letter an event for which no schema is found (no wire-format schema id, "
            "no known `dataschema`, no `schemas.types` entry, no registry subject). "
            "`false`: such events are handled unchecked."},
    {.name = "schemas.dialect",
     .type = P_ENUM,
     .def = "draft-07",
     .off = OFF(schemas_dialect),
     .values = dialects,
     .doc = "JSON Schema dialect of schemas without `$schema`."},
    {.name = "schemas.format_assert",
     .type = P_BOOL,
     .def = "false",
     .off = OFF(schemas_format_assert),
     .doc = "Make `format` (date, date-time, email, uuid, ...) fail validation; by default "
            "it is an annotation only, as the specification says."},
    {.name = "schemas.max_validation_steps",
     .type = P_INT,
     .def = "100000000",
     .off = OFF(schemas_max_validation_steps),
     .min = 0,
     .max = 2000000000,
     .doc = "Steps one record's schema validation may take; a record that needs more is "
            "dead-lettered (stage `schema`). A step is a schema applied to a value, or an "
            "item `uniqueItems` hashes or compares: a record of a few thousand values takes "
            "thousands of steps, and 100000000 take about a second. Stops schemas whose work "
            "grows exponentially with their nesting (`oneOf` of a `$ref` and its `not`, 40 "
            "levels deep). Counted the same way every time, so a record that passes once "
            "always passes. `0`: no limit."},
    {.name = "registry.url",
     .type = P_STRING,
     .off = OFF(registry_url),
     .flags = P_NONEMPTY,
     .doc = "Base URL of a Confluent-compatible Schema Registry. Unset: no registry; "
            "records in the wire format (magic byte 0, schema id) are dead-lettered."},
    {.name = "registry.username",
     .type = P_STRING,
     .off = OFF(registry_username),
     .doc = "Basic-auth user (the Confluent Cloud API key)."},
    {.name = "registry.password",
     .type = P_STRING,
     .off = OFF(registry_password),
     .flags = P_SECRET,
     .doc = "Basic-auth password (the API secret); use `${VAR}`."},
    {.name = "registry.ca_location",
     .type = P_STRING,
     .off = OFF(registry_ca_location),
     .doc = "CA bundle file to verify the registry's certificate. Unset: the system's."},
    {.name = "registry.insecure_skip_verify",
     .type = P_BOOL,
     .def = "false",
     .off = OFF(registry_insecure_skip_verify),
     .doc = "Do not verify the registry's TLS certificate (tests only)."},
    {.name = "registry.timeout_ms",
     .type = P_INT,
     .def = "10000",
     .off = OFF(registry_timeout_ms),
     .min = 100,
     .max = 600000,
     .doc = "Longest wait for one registry request, in milliseconds."},
    {.name = "registry.retries",
     .type = P_INT,
     .def = "2",
     .off = OFF(registry_retries),
     .min = 0,
     .max = 100,
     .doc = "Retries of a failed registry request before the batch is abandoned and "
            "tried again later (a registry that is down never makes an event invalid)."},
    {.name = "registry.subject_strategy",
     .type = P_ENUM,
     .def = "topic",
     .off = OFF(registry_subject_strategy),
     .values = strategies,
     .doc = "Subject of a record without a wire-format schema id, whose latest version "
            "checks its data: `topic` is `<topic>-value`, `record` the CloudEvents "
            "`type`, `topic_record` `<topic>-<type>`. Only asked when no local schema "
            "applies."},
    {.name = "registry.cache_latest_ms",
     .type = P_INT,
     .def = "300000",
     .off = OFF(registry_cache_latest_ms),
     .min = 1000,
     .max = 86400000,
     .doc = "How long the latest version of a subject is used before it is asked again."},
    {.name = "publish.source",
     .type = P_STRING,
     .def = "urn:eddy",
     .off = OFF(publish_source),
     .flags = P_NONEMPTY,
     .doc = "CloudEvents `source` of the events handlers publish (`ctx.publish`), e.g. "
            "`urn:relex:eddy:customer-retail-001`."},
    {.name = "publish.application",
     .type = P_STRING,
     .def = "eddy",
     .off = OFF(publish_application),
     .flags = P_NONEMPTY,
     .doc = "`meta.source.application` of published events."},
    {.name = "publish.environment_type",
     .type = P_STRING,
     .off = OFF(publish_environment_type),
     .doc = "`meta.source.environment_type` of published events (e.g. `production`); unset: "
            "left out."},
    {.name = "publish.transactional",
     .type = P_BOOL,
     .def = "false",
     .off = OFF(publish_transactional),
     .doc = "Exactly-once for what handlers publish: each batch's published records, dead "
            "letters and consumer offsets are committed in one Kafka transaction, so "
            "consumers reading with `isolation.level=read_committed` see each record once "
            "even when a batch is redone after a crash. Store writes and alerts stay "
            "at-least-once (idempotent and deduplicated). Needs brokers with transactions."},
    {.name = "publish.transactional_id",
     .type = P_STRING,
     .off = OFF(publish_transactional_id),
     .doc = "`transactional.id` of the producer with `publish.transactional`; unset: "
            "`eddy-<group.id>`. Each running eddy of a group needs its own when they "
            "share partitions over time (one per instance, stable across restarts)."},
    {.name = "alerts.sinks",
     .type = P_SINKS,
     .off = OFF(alert_sinks),
     .off_n = OFF(n_alert_sinks),
     .doc = "Where `ctx.alert` sends alerts, by name: each a mapping of `type` (`webhook`: "
            "JSON signed as Standard Webhooks do; `slack`: an incoming webhook; "
            "`alertmanager`: Prometheus Alertmanager's `/api/v2/alerts`), `url`, `secret` "
            "(webhook: `whsec_<base64>`, use `${VAR}`) and `timeout_ms` (default 10000)."},
    {.name = "alerts.default_sink",
     .type = P_STRING,
     .off = OFF(alerts_default_sink),
     .doc = "Sink of alerts that name none. Unset: the first sink."},
    {.name = "alerts.dedupe_window_s",
     .type = P_INT,
     .def = "86400",
     .off = OFF(alerts_dedupe_window_s),
     .min = 0,
     .max = 31536000,
     .doc = "An alert whose dedupe key (sink, handler and `key`, or `dedupe`) was raised "
            "within this many seconds is not sent again: replays and restarts do not "
            "repeat alerts."},
    {.name = "alerts.max_age_s",
     .type = P_INT,
     .def = "86400",
     .off = OFF(alerts_max_age_s),
     .min = 1,
     .max = 31536000,
     .doc = "An alert not delivered within this many seconds is given up (logged)."},
    {.name = "alerts.generator_url",
     .type = P_STRING,
     .off = OFF(alerts_generator_url),
     .doc = "`generatorURL` of alerts sent to Alertmanager."},
    {.name = "reload.watch",
     .type = P_BOOL,
     .def = "true",
     .off = OFF(reload_watch),
     .doc = "Reload the handlers (and schemas) when a file in `handlers` or `schemas.dir` "
            "changes (inotify). SIGHUP reloads either way. A reload loads everything into a "
            "fresh state and swaps it in between two batches; if anything fails to load, "
            "the running handlers stay and the error is logged."},
    {.name = "reload.debounce_ms",
     .type = P_INT,
     .def = "300",
     .off = OFF(reload_debounce_ms),
     .min = 0,
     .max = 60000,
     .doc = "Quiet time after the last change before reloading, so that an editor's "
            "several writes make one reload."},
    {.name = "batch.size",
     .type = P_INT,
     .def = "10000",
     .off = OFF(batch_size),
     .min = 1,
     .max = 100000,
     .doc = "Most records handled in one batch (one store transaction). A quiet topic "
            "gets small, prompt batches; a busy one gets big batches, which write each "
            "store page once for more records."},
    {.name = "batch.timeout_ms",
     .type = P_INT,
     .def = "100",
     .off = OFF(batch_timeout_ms),
     .min = 0,
     .max = 60000,
     .doc = "Longest wait, in milliseconds, for a record when none is queued. A batch "
            "is what is queued when the last one is done (at most `batch.size`), so "
            "records are not held back waiting for more."},
    {.name = "handler.retries",
     .type = P_INT,
     .def = "2",
     .off = OFF(handler_retries),
     .min = 0,
     .max = 100,
     .doc = "Retries of a failed handler call before the event goes to the dead letter "
            "topic."},
    {.name = "handler.backoff_ms",
     .type = P_INT,
     .def = "100",
     .off = OFF(handler_backoff_ms),
     .min = 0,
     .max = 600000,
     .doc = "Wait before the first retry, in milliseconds, doubled for each further "
            "retry. Meanwhile the event's partition is paused at the event (the events after "
            "it wait, so each key keeps its order); other partitions go on and the consumer "
            "keeps polling, so the group keeps it and a stop is not held up."},
    {.name = "handler.cpu_limit_ms",
     .type = P_INT,
     .def = "1000",
     .off = OFF(handler_cpu_limit_ms),
     .min = 0,
     .max = 3600000,
     .doc = "CPU time one handler call may use, in milliseconds (running a handler file "
            "when it is loaded too); 0: no limit. A call past it is stopped within 10 ms, "
            "even inside compiled loops and the handler's own `pcall`, and fails like a "
            "raised error (retried, then dead-lettered with the reason "
            "`handlers/x.lua: CPU time limit of 1000 ms exceeded`)."},
    {.name = "handler.memory_limit_mb",
     .type = P_INT,
     .def = "256",
     .off = OFF(handler_memory_limit_mb),
     .min = 0,
     .max = 1048576,
     .doc = "Memory of each handler's own Lua state (every handler file and rule file "
            "has one), in MiB, garbage not yet collected included (keep live data well "
            "below it); 0: no limit. A call whose allocation would pass it is stopped "
            "like one past the CPU limit, naming the handler whose state it is "
            "(`handlers/x.lua: memory limit of 256 MB exceeded`). After either stop that "
            "handler alone is loaded again into a fresh state: its module-level "
            "variables start afresh, the other handlers keep theirs."},
    {.name = "http.listen",
     .type = P_STRING,
     .def = "127.0.0.1:9464",
     .off = OFF(http_listen),
     .doc = "Address of the HTTP endpoint (`host:port`, `[v6]:port`; port 0 picks a free "
            "one, logged at start): `/metrics` (Prometheus), `/livez` and `/healthz` "
            "(liveness), `/readyz` (readiness). `0.0.0.0:9464` serves every interface, as a "
            "container needs; empty turns the endpoint off. An address that cannot be "
            "served stops `eddy run` at start; `eddy dev` goes on without it."},
    {.name = "http.stuck_after_ms",
     .type = P_INT,
     .def = "60000",
     .off = OFF(http_stuck_after_ms),
     .min = 0,
     .max = 3600000,
     .doc = "`/livez` answers 503 when the main loop has not turned for this long (a "
            "handler stuck in a C call, a hung store): the orchestrator restarts the "
            "process. 0: never."},
    {.name = "shutdown.grace_ms",
     .type = P_INT,
     .def = "30000",
     .off = OFF(shutdown_grace_ms),
     .min = 0,
     .max = 3600000,
     .doc = "On SIGTERM or SIGINT (and at the end of `eddy run --exit-at-end` or `eddy "
            "dev`) eddy stops fetching, finishes the batch in hand, commits it, sends the "
            "alerts due in the outbox, flushes what handlers published and leaves the "
            "group, all within this many milliseconds. What is not done by then stays in "
            "the outbox or uncommitted and is done by the next start; a second signal "
            "exits at once. Orchestrators should allow more than this before they kill "
            "the process (Kubernetes' `terminationGracePeriodSeconds`)."},
    {.name = "log.level",
     .type = P_ENUM,
     .def = "info",
     .off = OFF(log_level),
     .values = log_levels,
     .doc = "Least severe level written."},
    {.name = "log.format",
     .type = P_ENUM,
     .def = "auto",
     .off = OFF(log_format),
     .values = log_formats,
     .doc = "`text` for people, `json` (one object a line: `ts`, `level`, `msg`, and "
            "`topic`, `partition`, `offset`, `handler`, `correlation_id`, `tenant`, "
            "`facility` where they apply) for log collectors; `auto`: `text` when stderr is "
            "a terminal and in `eddy dev`, else `json` (a container's log)."},
};

#define N_PROPS (sizeof(props) / sizeof(props[0]))

/* Values quoted in messages are cut here: the message is one line. */
#define QUOTE_MAX 80

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static const struct prop *prop_find(const char *name)
{
	for (size_t i = 0; i < N_PROPS; i++)
		if (strcmp(props[i].name, name) == 0)
			return &props[i];
	return NULL;
}

static void *field(struct eddy_config *c, size_t off)
{
	return (char *)c + off;
}

/* A growable string; every append reports allocation failure. */
struct buf {
	char *p;
	size_t len, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* Returns the finished string, owned by the caller ("" for an empty buf). */
static char *buf_take(struct buf *b)
{
	char *p = b->p;

	if (!p)
		return strdup("");
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

static void list_free(char **items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(items[i]);
	free(items);
}

static void sinks_free(struct eddy_config_sink *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].type);
		free(v[i].url);
		free(v[i].secret);
	}
	free(v);
}

static void kv_free(struct eddy_config_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

/* Sets key to value in the map property p: replaces the value of an
 * existing key (so an override wins over the file), else appends, keeping
 * the file's order. Copies both strings. */
static int map_put(struct eddy_config *c, const struct prop *p, const char *key, const char *value)
{
	struct eddy_config_kv **map = field(c, p->off);
	size_t *n = field(c, p->off_n);
	char *v = strdup(value);
	struct eddy_config_kv *kv;

	if (!v)
		return -1;
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*map)[i].key, key) == 0) {
			free((*map)[i].value);
			(*map)[i].value = v;
			return 0;
		}
	}
	kv = realloc(*map, (*n + 1) * sizeof(*kv));
	if (!kv) {
		free(v);
		return -1;
	}
	*map = kv;
	kv[*n].key = strdup(key);
	if (!kv[*n].key) {
		free(v);
		return -1;
	}
	kv[*n].value = v;
	(*n)++;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};

	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* Whole numbers only: an optional sign and decimal digits, nothing around
 * them, so "1e3", "0x10" and "1.0" are refused rather than half-read.
 * Returns 0, -1 when s is not a number, 1 when it does not fit a long. */
static int parse_long(const char *s, long *out)
{
	const char *d = s + (*s == '+' || *s == '-');

	if (!*d)
		return -1;
	for (const char *p = d; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	errno = 0;
	*out = strtol(s, NULL, 10);
	return errno == ERANGE ? 1 : 0;
}

/* Sets a scalar property (string, bool, int, enum) from text, after checking
 * it. Returns 0, or -1 with the reason (without location or key) in msg. */
static int set_scalar(struct eddy_config *c, const struct prop *p, const char *text, char *msg,
                      size_t msg_size)
{
	switch (p->type) {
	case P_STRING: {
		char **dst = field(c, p->off);
		char *v;

		if ((p->flags & P_NONEMPTY) && !*text) {
			eddy_errf(msg, msg_size, "must not be empty");
			return -1;
		}
		if (p->contains && !strstr(text, p->contains)) {
			eddy_errf(msg, msg_size, "\"%.*s\" does not contain %s", QUOTE_MAX, text,
			          p->contains);
			return -1;
		}
		v = strdup(text);
		if (!v)
			goto oom;
		free(*dst);
		*dst = v;
		return 0;
	}
	case P_BOOL:
		if (parse_bool(text, (bool *)field(c, p->off)) < 0) {
			eddy_errf(msg, msg_size,
			          "\"%.*s\" is not a boolean (true/false, yes/no, on/off)",
			          QUOTE_MAX, text);
			return -1;
		}
		return 0;
	case P_INT: {
		long v;
		int rc = parse_long(text, &v);

		if (rc < 0) {
			eddy_errf(msg, msg_size, "\"%.*s\" is not a whole number", QUOTE_MAX, text);
			return -1;
		}
		if (rc > 0 || v < p->min || v > p->max) {
			eddy_errf(msg, msg_size, "%.*s is out of range %ld..%ld", QUOTE_MAX, text,
			          p->min, p->max);
			return -1;
		}
		*(int *)field(c, p->off) = (int)v;
		return 0;
	}
	case P_ENUM: {
		char **dst = field(c, p->off);
		struct buf allowed = {0};

		/* Matched without case, stored as spelled in the table, so users
		 * of the value compare against one spelling. */
		for (size_t i = 0; p->values[i]; i++) {
			if (strcasecmp(text, p->values[i]) == 0) {
				char *v = strdup(p->values[i]);

				if (!v)
					goto oom;
				free(*dst);
				*dst = v;
				return 0;
			}
		}
		for (size_t i = 0; p->values[i]; i++)
			if ((i && buf_add(&allowed, ", ", 2) < 0) ||
			    buf_add(&allowed, p->values[i], strlen(p->values[i])) < 0) {
				free(allowed.p);
				goto oom;
			}
		eddy_errf(msg, msg_size, "\"%.*s\" is not one of: %s", QUOTE_MAX, text, allowed.p);
		free(allowed.p);
		return -1;
	}
	case P_LIST:
	case P_MAP:
	case P_SINKS:
		break;
	}
	eddy_errf(msg, msg_size, "not a single value");
	return -1;
oom:
	eddy_errf(msg, msg_size, "out of memory");
	return -1;
}

/* Replaces a list property by items, taking ownership of items and of every
 * string in it, even on failure. */
static int set_list(struct eddy_config *c, const struct prop *p, char **items, size_t n, char *msg,
                    size_t msg_size)
{
	char ***dst = field(c, p->off);
	size_t *dst_n = field(c, p->off_n);

	if (p->flags & P_NONEMPTY)
		for (size_t i = 0; i < n; i++)
			if (!*items[i]) {
				eddy_errf(msg, msg_size, "item %zu is empty", i + 1);
				list_free(items, n);
				return -1;
			}
	list_free(*dst, *dst_n);
	*dst = items;
	*dst_n = n;
	return 0;
}

/* Appends a copy of s to *items (n entries). */
static int list_push(char ***items, size_t *n, const char *s, size_t len)
{
	char **p = realloc(*items, (*n + 1) * sizeof(**items));

	if (!p)
		return -1;
	*items = p;
	p[*n] = strndup(s, len);
	if (!p[*n])
		return -1;
	(*n)++;
	return 0;
}

/* Splits text on commas into a list, trimming blanks and dropping empty
 * items, so "a, b," is two topics. Used for defaults and the environment. */
static int set_list_text(struct eddy_config *c, const struct prop *p, const char *text, char *msg,
                         size_t msg_size)
{
	char **items = NULL;
	size_t n = 0;
	const char *s = text;

	while (*s) {
		const char *end = strchr(s, ',');
		const char *next = end ? end + 1 : s + strlen(s);

		if (!end)
			end = next;
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end > s && list_push(&items, &n, s, (size_t)(end - s)) < 0) {
			list_free(items, n);
			eddy_errf(msg, msg_size, "out of memory");
			return -1;
		}
		s = next;
	}
	return set_list(c, p, items, n, msg, msg_size);
}

/* Puts property p back to its default. */
static int set_default(struct eddy_config *c, const struct prop *p, char *msg, size_t msg_size)
{
	switch (p->type) {
	case P_MAP: {
		struct eddy_config_kv **kv = field(c, p->off);
		size_t *n = field(c, p->off_n);

		kv_free(*kv, *n);
		*kv = NULL;
		*n = 0;
		return 0;
	}
	case P_SINKS: {
		struct eddy_config_sink **v = field(c, p->off);
		size_t *n = field(c, p->off_n);

		sinks_free(*v, *n);
		*v = NULL;
		*n = 0;
		return 0;
	}
	case P_LIST:
		return set_list_text(c, p, p->def ? p->def : "", msg, msg_size);
	default:
		if (!p->def) {
			char **dst = field(c, p->off);

			free(*dst);
			*dst = NULL;
			return 0;
		}
		return set_scalar(c, p, p->def, msg, msg_size);
	}
}

struct eddy_config *eddy_config_new(void)
{
	struct eddy_config *c = calloc(1, sizeof(*c));
	char msg[256];

	if (!c)
		return NULL;
	for (size_t i = 0; i < N_PROPS; i++) {
		if (set_default(c, &props[i], msg, sizeof(msg)) < 0) {
			eddy_config_destroy(c);
			return NULL;
		}
	}
	return c;
}

void eddy_config_destroy(struct eddy_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < N_PROPS; i++) {
		const struct prop *p = &props[i];

		switch (p->type) {
		case P_MAP:
			kv_free(*(struct eddy_config_kv **)field(c, p->off),
			        *(size_t *)field(c, p->off_n));
			break;
		case P_SINKS:
			sinks_free(*(struct eddy_config_sink **)field(c, p->off),
			           *(size_t *)field(c, p->off_n));
			break;
		case P_LIST:
			list_free(*(char ***)field(c, p->off), *(size_t *)field(c, p->off_n));
			break;
		case P_STRING:
		case P_ENUM:
			free(*(char **)field(c, p->off));
			break;
		case P_BOOL:
		case P_INT:
			break;
		}
	}
	free(c->path);
	free(c->dir);
	free(c);
}

static const char *env_get(char *const *envp, const char *name, size_t len)
{
	for (; *envp; envp++)
		if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
			return *envp + len + 1;
	return NULL;
}

static int is_name_char(char ch, bool first)
{
	return ch == '_' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	       (!first && ch >= '0' && ch <= '9');
}

/* Expands ${VAR}, ${VAR:-default} (default when VAR is unset or empty, as in
 * the shell) and $$ in text. Any other $ stays as is, so a regex anchor such
 * as "orders$" needs no escaping. Returns a new string, or NULL with the
 * reason in msg. */
static char *expand(const char *text, char *const *envp, char *msg, size_t msg_size)
{
	struct buf b = {0};
	const char *s = text;

	while (*s) {
		const char *dollar = strchr(s, '$');
		const char *name, *end, *close, *value;
		size_t len, vlen;

		if (!dollar)
			dollar = s + strlen(s);
		if (buf_add(&b, s, (size_t)(dollar - s)) < 0)
			goto oom;
		if (!*dollar)
			break;
		if (dollar[1] == '$') {
			if (buf_add(&b, "$", 1) < 0)
				goto oom;
			s = dollar + 2;
			continue;
		}
		if (dollar[1] != '{') {
			if (buf_add(&b, "$", 1) < 0)
				goto oom;
			s = dollar + 1;
			continue;
		}
		name = dollar + 2;
		close = strchr(name, '}');
		if (!close) {
			eddy_errf(msg, msg_size, "unterminated ${ in \"%.*s\"", QUOTE_MAX, text);
			goto err;
		}
		for (end = name; end < close && is_name_char(*end, end == name); end++)
			;
		len = (size_t)(end - name);
		if (!len || (end < close && strncmp(end, ":-", 2) != 0)) {
			eddy_errf(
			    msg, msg_size,
			    "%.*s is not a variable reference (use ${NAME} or ${NAME:-default}, "
			    "and $$ for a $)",
			    (int)(close - dollar + 1), dollar);
			goto err;
		}
		value = env_get(envp, name, len);
		if (value && (*value || end == close))
			vlen = strlen(value);
		else if (end < close) {
			value = end + 2;
			vlen = (size_t)(close - value);
		} else {
			eddy_errf(msg, msg_size, "${%.*s} is not set", (int)len, name);
			goto err;
		}
		if (buf_add(&b, value, vlen) < 0)
			goto oom;
		s = close + 1;
	}
	return buf_take(&b);
oom:
	eddy_errf(msg, msg_size, "out of memory");
err:
	free(b.p);
	return NULL;
}

/* Levenshtein distance, ignoring case, for "did you mean" hints. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[64];

	if (lb >= sizeof(row) / sizeof(row[0]))
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost =
			    tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
			size_t best = diag + cost;

			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			if (up + 1 < best)
				best = up + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The known name closest to key among the names one level below prefix
 * ("" for the top level), written into out; false when none is close
 * enough to be a likely typo. Names are compared without the prefix. */
static bool suggest(const char *prefix, const char *key, char *out, size_t out_size)
{
	size_t plen = strlen(prefix), best = SIZE_MAX, klen = strlen(key);

	for (size_t i = 0; i < N_PROPS; i++) {
		const char *name = props[i].name, *dot;
		char cand[64];
		size_t clen, d, limit;

		if (plen && (strncmp(name, prefix, plen) != 0 || name[plen] != '.'))
			continue;
		name += plen ? plen + 1 : 0;
		dot = strchr(name, '.');
		clen = dot ? (size_t)(dot - name) : strlen(name);
		if (clen >= sizeof(cand))
			continue;
		memcpy(cand, name, clen);
		cand[clen] = '\0';
		d = distance(key, cand);
		limit = clen <= 4 ? 1 : 2;
		/* "timeout" for "timeout_ms": a left-out unit is a common slip */
		if (d > limit && klen >= 3 && klen < clen && strncasecmp(key, cand, klen) == 0)
			d = limit;
		if (d <= limit && d < best) {
			best = d;
			snprintf(out, out_size, "%s%s%s", prefix, plen ? "." : "", cand);
		}
	}
	return best != SIZE_MAX;
}

/* One load: the parsed document and where messages go. */
struct loader {
	struct eddy_config *c;
	const char *name; /* the path as given, for messages */
	yaml_document_t *doc;
	char *const *envp;
	char *errstr;
	size_t errstr_size;
};

PRINTF_LIKE(4, 5)
static int fail_at(struct loader *ld, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	eddy_errf(ld->errstr, ld->errstr_size, "%s:%zu: %s: %s", ld->name, n->start_mark.line + 1,
	          key, msg);
	return -1;
}

/* YAML's null: an empty plain value, ~ or null. It means "keep the default". */
static bool is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return (!*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
	        strcmp(v, "NULL") == 0);
}

static const char *kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return is_null(n) ? "null" : "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

static const char *expected(enum prop_type t)
{
	switch (t) {
	case P_BOOL:
		return "a boolean";
	case P_INT:
		return "an integer";
	case P_LIST:
		return "a string or a list of strings";
	case P_MAP:
		return "a mapping";
	case P_SINKS:
		return "a mapping of sink names to their settings";
	default:
		return "a string";
	}
}

/* The expanded text of scalar n, owned by the caller; NULL after failing. */
static char *scalar_text(struct loader *ld, const yaml_node_t *n, const char *key)
{
	char msg[256];
	char *s = expand((const char *)n->data.scalar.value, ld->envp, msg, sizeof(msg));

	if (!s)
		fail_at(ld, n, key, "%s", msg);
	return s;
}

/* A mapping's keys must be scalars and appear once: a second "store:" would
 * otherwise silently win over the first. */
static int check_keys(struct loader *ld, const yaml_node_t *map, const char *prefix)
{
	yaml_node_pair_t *start = map->data.mapping.pairs.start;
	yaml_node_pair_t *top = map->data.mapping.pairs.top;

	for (yaml_node_pair_t *p = start; p < top; p++) {
		yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
		const char *name;
		char full[256];

		if (k->type != YAML_SCALAR_NODE)
			return fail_at(ld, k, *prefix ? prefix : "(top level)",
			               "expected a name as key, got %s", kind(k));
		name = (const char *)k->data.scalar.value;
		for (yaml_node_pair_t *q = start; q < p; q++) {
			yaml_node_t *k2 = yaml_document_get_node(ld->doc, q->key);

			if (strcmp(name, (const char *)k2->data.scalar.value) != 0)
				continue;
			snprintf(full, sizeof(full), "%s%s%s", prefix, *prefix ? "." : "", name);
			return fail_at(ld, k, full, "duplicate key (first on line %zu)",
			               k2->start_mark.line + 1);
		}
	}
	return 0;
}

static int load_map(struct loader *ld, const struct prop *p, const yaml_node_t *key,
                    const yaml_node_t *n)
{
	if (is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return fail_at(ld, key, p->name, "expected %s, got %s", expected(p->type), kind(n));
	if (check_keys(ld, n, p->name) < 0)
		return -1;
	for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *k = yaml_document_get_node(ld->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(ld->doc, pair->value);
		const char *kname = (const char *)k->data.scalar.value;
		char full[256];
		char *text;

		snprintf(full, sizeof(full), "%s.%s", p->name, kname);
		if (!*kname)
			return fail_at(ld, k, p->name, "empty key");
		if (v->type != YAML_SCALAR_NODE || is_null(v))
			return fail_at(ld, v->type == YAML_SCALAR_NODE ? v : k, full,
			               "expected a string, number or boolean, got %s", kind(v));
		text = scalar_text(ld, v, full);
		if (!text)
			return -1;
		if (map_put(ld->c, p, kname, text) < 0) {
			free(text);
			return fail_at(ld, v, full, "out of memory");
		}
		free(text);
	}
	return 0;
}

/* alerts.sinks: name -> { type, url, secret, timeout_ms }. */
static const char *const sink_types[] = {"webhook", "slack", "alertmanager", NULL};

/* One key of a sink (alerts.sinks.NAME.KEY: value) into s. */
static int load_sink_key(struct loader *ld, struct eddy_config_sink *s, const char *full,
                         const yaml_node_t *qk, const yaml_node_t *qv)
{
	const char *qname = (const char *)qk->data.scalar.value;
	char item[300];
	char *text;
	char **dst = NULL;

	snprintf(item, sizeof(item), "%s.%s", full, qname);
	if (qv->type != YAML_SCALAR_NODE || is_null(qv))
		return fail_at(ld, qk, item, "expected a string, got %s", kind(qv));
	if (!(text = scalar_text(ld, qv, item)))
		return -1;
	if (strcmp(qname, "type") == 0) {
		size_t i;
		for (i = 0; sink_types[i] && strcasecmp(text, sink_types[i]) != 0; i++)
			;
		if (!sink_types[i]) {
			fail_at(ld, qv, item,
			        "\"%.*s\" is not one of: webhook, slack, alertmanager", QUOTE_MAX,
			        text);
			free(text);
			return -1;
		}
		free(text);
		text = strdup(sink_types[i]);
		dst = &s->type;
	} else if (strcmp(qname, "url") == 0) {
		if (strncmp(text, "http://", 7) != 0 && strncmp(text, "https://", 8) != 0) {
			fail_at(ld, qv, item, "\"%.*s\" is not an http:// or https:// URL",
			        QUOTE_MAX, text);
			free(text);
			return -1;
		}
		dst = &s->url;
	} else if (strcmp(qname, "secret") == 0) {
		dst = &s->secret;
	} else if (strcmp(qname, "timeout_ms") == 0) {
		long ms;
		int bad = parse_long(text, &ms) != 0 || ms < 100 || ms > 600000;
		if (bad)
			fail_at(ld, qv, item, "\"%.*s\" is not a whole number in 100..600000",
			        QUOTE_MAX, text);
		else
			s->timeout_ms = (int)ms;
		free(text);
		return bad ? -1 : 0;
	} else {
		free(text);
		return fail_at(ld, qk, item, "unknown key (type, url, secret, timeout_ms)");
	}
	if (!text)
		return fail_at(ld, qv, item, "out of memory");
	free(*dst);
	*dst = text;
	return 0;
}

static int load_sinks(struct loader *ld, const struct prop *p, const yaml_node_t *key,
                      const yaml_node_t *n)
{
	struct eddy_config_sink **v = field(ld->c, p->off);
	size_t *nv = field(ld->c, p->off_n);
	char msg[256];

	if (is_null(n))
		return set_default(ld->c, p, msg, sizeof(msg));
	if (n->type != YAML_MAPPING_NODE)
		return fail_at(ld, key, p->name, "expected %s, got %s", expected(p->type), kind(n));
	if (check_keys(ld, n, p->name) < 0 || set_default(ld->c, p, msg, sizeof(msg)) < 0)
		return -1;
	for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *k = yaml_document_get_node(ld->doc, pair->key);
		yaml_node_t *sv = yaml_document_get_node(ld->doc, pair->value);
		const char *sname = (const char *)k->data.scalar.value;
		struct eddy_config_sink *s;
		char full[256];

		snprintf(full, sizeof(full), "%s.%s", p->name, sname);
		if (!*sname)
			return fail_at(ld, k, p->name, "empty sink name");
		if (sv->type != YAML_MAPPING_NODE)
			return fail_at(ld, k, full, "expected a mapping (type, url, ...), got %s",
			               kind(sv));
		if (check_keys(ld, sv, full) < 0)
			return -1;
		s = realloc(*v, (*nv + 1) * sizeof(**v));
		if (!s)
			return fail_at(ld, k, full, "out of memory");
		*v = s;
		s = &s[(*nv)++];
		memset(s, 0, sizeof(*s));
		s->timeout_ms = 10000;
		if (!(s->name = strdup(sname)))
			return fail_at(ld, k, full, "out of memory");
		for (yaml_node_pair_t *q = sv->data.mapping.pairs.start;
		     q < sv->data.mapping.pairs.top; q++)
			if (load_sink_key(ld, s, full, yaml_document_get_node(ld->doc, q->key),
			                  yaml_document_get_node(ld->doc, q->value)) < 0)
				return -1;
		if (!s->type)
			return fail_at(ld, k, full,
			               "type is required (webhook, slack, alertmanager)");
		if (!s->url)
			return fail_at(ld, k, full, "url is required");
		if (s->secret && strcmp(s->type, "webhook") != 0)
			return fail_at(ld, k, full, "secret is for webhook sinks only");
	}
	return 0;
}

static int load_list(struct loader *ld, const struct prop *p, const yaml_node_t *key,
                     const yaml_node_t *n)
{
	char msg[256];
	char **items = NULL;
	size_t n_items = 0;
	const yaml_node_t *blame = n;

	if (is_null(n))
		return set_default(ld->c, p, msg, sizeof(msg)) < 0
		           ? fail_at(ld, n, p->name, "%s", msg)
		           : 0;
	if (n->type == YAML_MAPPING_NODE)
		return fail_at(ld, key, p->name, "expected %s, got %s", expected(p->type), kind(n));
	if (n->type == YAML_SCALAR_NODE) {
		char *text = scalar_text(ld, n, p->name);

		if (!text)
			return -1;
		items = malloc(sizeof(*items));
		if (!items) {
			free(text);
			return fail_at(ld, n, p->name, "out of memory");
		}
		items[n_items++] = text;
	} else {
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
			char *text;

			if (item->type != YAML_SCALAR_NODE || is_null(item)) {
				fail_at(ld, item, p->name, "expected a string, got %s", kind(item));
				goto err;
			}
			text = scalar_text(ld, item, p->name);
			if (!text)
				goto err;
			if (list_push(&items, &n_items, text, strlen(text)) < 0) {
				free(text);
				fail_at(ld, item, p->name, "out of memory");
				goto err;
			}
			free(text);
		}
	}
	/* an empty item is blamed on its own line */
	for (size_t i = 0; i < n_items && n->type == YAML_SEQUENCE_NODE; i++)
		if (!*items[i])
			blame = yaml_document_get_node(ld->doc, n->data.sequence.items.start[i]);
	if (set_list(ld->c, p, items, n_items, msg, sizeof(msg)) < 0)
		return fail_at(ld, blame, p->name, "%s", msg);
	return 0;
err:
	list_free(items, n_items);
	return -1;
}

static int load_prop(struct loader *ld, const struct prop *p, const yaml_node_t *key,
                     const yaml_node_t *n)
{
	char msg[256];
	char *text;
	int rc;

	if (p->type == P_MAP)
		return load_map(ld, p, key, n);
	if (p->type == P_SINKS)
		return load_sinks(ld, p, key, n);
	if (p->type == P_LIST)
		return load_list(ld, p, key, n);
	if (n->type != YAML_SCALAR_NODE)
		return fail_at(ld, key, p->name, "expected %s, got %s", expected(p->type), kind(n));
	if (is_null(n))
		rc = set_default(ld->c, p, msg, sizeof(msg));
	else {
		text = scalar_text(ld, n, p->name);
		if (!text)
			return -1;
		rc = set_scalar(ld->c, p, text, msg, sizeof(msg));
		free(text);
	}
	return rc < 0 ? fail_at(ld, n, p->name, "%s", msg) : 0;
}

/* true when some property lives below name, i.e. name is a section. */
static bool is_section(const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < N_PROPS; i++)
		if (strncmp(props[i].name, name, len) == 0 && props[i].name[len] == '.')
			return true;
	return false;
}

/* Walks mapping n whose keys are the names below prefix ("" at the top). */
static int load_section(struct loader *ld, const char *prefix, const yaml_node_t *n)
{
	if (check_keys(ld, n, prefix) < 0)
		return -1;
	for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *k = yaml_document_get_node(ld->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(ld->doc, pair->value);
		const char *kname = (const char *)k->data.scalar.value;
		const struct prop *p;
		char full[128], hint[128];

		if (snprintf(full, sizeof(full), "%s%s%s", prefix, *prefix ? "." : "", kname) >=
		    (int)sizeof(full))
			return fail_at(ld, k, kname, "unknown key");
		p = prop_find(full);
		if (p) {
			if (load_prop(ld, p, k, v) < 0)
				return -1;
		} else if (is_section(full)) {
			if (is_null(v))
				continue;
			if (v->type != YAML_MAPPING_NODE)
				return fail_at(ld, k, full, "expected a mapping, got %s", kind(v));
			if (load_section(ld, full, v) < 0)
				return -1;
		} else if (suggest(prefix, kname, hint, sizeof(hint))) {
			return fail_at(ld, k, full, "unknown key (did you mean \"%s\"?)", hint);
		} else {
			return fail_at(ld, k, full, "unknown key");
		}
	}
	return 0;
}

/* "EDDY_" and the name upper-cased with dots as underscores. */
static void env_name(const char *name, char *out, size_t out_size)
{
	size_t i = 0;

	snprintf(out, out_size, "EDDY_");
	for (i = 5; *name && i + 1 < out_size; name++, i++)
		out[i] =
		    *name == '.' ? '_' : (char)(*name >= 'a' && *name <= 'z' ? *name - 32 : *name);
	out[i] = '\0';
}

/* Applies one EDDY_ variable. Unknown names are ignored (the environment is
 * shared with other tools) unless they start like a section of eddy.yaml,
 * where an unknown name is most likely a typo. */
static int apply_env(struct eddy_config *c, const char *var, size_t len, const char *value,
                     char *errstr, size_t errstr_size)
{
	static const char kafka[] = "EDDY_KAFKA_";
	char name[128], msg[256];

	if (len >= sizeof(name))
		return 0;
	memcpy(name, var, len);
	name[len] = '\0';
	if (strncmp(name, kafka, sizeof(kafka) - 1) == 0) {
		char key[128];
		size_t i;

		for (i = 0; name[sizeof(kafka) - 1 + i]; i++) {
			char ch = name[sizeof(kafka) - 1 + i];

			key[i] = ch == '_' ? '.' : (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
		}
		key[i] = '\0';
		if (!*key) {
			eddy_errf(errstr, errstr_size, "%s: kafka: no property name after %s", name,
			          kafka);
			return -1;
		}
		if (map_put(c, prop_find("kafka"), key, value) < 0) {
			eddy_errf(errstr, errstr_size, "%s: kafka.%s: out of memory", name, key);
			return -1;
		}
		return 0;
	}
	for (size_t i = 0; i < N_PROPS; i++) {
		const struct prop *p = &props[i];
		char env[128];
		int rc;

		if (p->type == P_MAP || p->type == P_SINKS)
			continue;
		env_name(p->name, env, sizeof(env));
		if (strcmp(env, name) != 0)
			continue;
		if (p->type == P_LIST)
			rc = set_list_text(c, p, value, msg, sizeof(msg));
		else
			rc = set_scalar(c, p, value, msg, sizeof(msg));
		if (rc < 0) {
			eddy_errf(errstr, errstr_size, "%s: %s: %s", name, p->name, msg);
			return -1;
		}
		return 0;
	}
	for (size_t i = 0; i < N_PROPS; i++) {
		const char *dot = strchr(props[i].name, '.');
		char section[64], env[128], best[128] = "";
		size_t best_d = 3;

		if (!dot || (size_t)(dot - props[i].name) >= sizeof(section))
			continue;
		memcpy(section, props[i].name, (size_t)(dot - props[i].name));
		section[dot - props[i].name] = '\0';
		env_name(section, env, sizeof(env));
		strcat(env, "_");
		if (strncmp(name, env, strlen(env)) != 0)
			continue;
		for (size_t j = 0; j < N_PROPS; j++) {
			char cand[128];
			size_t d;

			if (props[j].type == P_MAP || props[j].type == P_SINKS)
				continue;
			env_name(props[j].name, cand, sizeof(cand));
			d = distance(name, cand);
			if (d < best_d) {
				best_d = d;
				snprintf(best, sizeof(best), "%s", cand);
			}
		}
		if (*best)
			eddy_errf(errstr, errstr_size, "%s: unknown setting (did you mean %s?)",
			          name, best);
		else
			eddy_errf(errstr, errstr_size, "%s: unknown setting", name);
		return -1;
	}
	return 0;
}

static int apply_env_all(struct eddy_config *c, char *const *envp, char *errstr, size_t errstr_size)
{
	for (; *envp; envp++) {
		const char *eq = strchr(*envp, '=');

		if (!eq || strncmp(*envp, "EDDY_", 5) != 0)
			continue;
		if (apply_env(c, *envp, (size_t)(eq - *envp), eq + 1, errstr, errstr_size) < 0)
			return -1;
	}
	return 0;
}

/* The line of a reader error, which libyaml reports as a byte offset only. */
static size_t line_at(const char *text, size_t len, size_t offset)
{
	size_t line = 1;

	for (size_t i = 0; i < offset && i < len; i++)
		line += text[i] == '\n';
	return line;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* alerts.default_sink, from the file or the environment, names a sink. */
static int check_default_sink(const struct eddy_config *c, char *errstr, size_t errstr_size)
{
	if (!c->alerts_default_sink)
		return 0;
	for (size_t i = 0; i < c->n_alert_sinks; i++)
		if (strcmp(c->alert_sinks[i].name, c->alerts_default_sink) == 0)
			return 0;
	eddy_errf(errstr, errstr_size,
	          "%s: alerts.default_sink: \"%.*s\" is not one of alerts.sinks", c->path,
	          QUOTE_MAX, c->alerts_default_sink);
	return -1;
}

/* How deep collections may nest in the file, the top-level mapping
 * counted: eddy's settings need 3 levels. libyaml's scanner takes time
 * quadratic in the depth of flow collections (1e5 nested "[" took 25 s to
 * refuse) and its loader keeps every level. */
#define MAX_DEPTH 64

/* A first pass over the events of len bytes of YAML named name: -1 with
 * errstr when collections nest deeper than MAX_DEPTH, stopping at the
 * first level too deep. 0 otherwise, also for a YAML error, which the
 * load that follows reports where it is. */
static int check_depth(const char *name, const char *yaml, size_t len, char *errstr,
                       size_t errstr_size)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int depth = 0, rc = 0;
	bool end = false;

	if (!yaml_parser_initialize(&parser)) {
		eddy_errf(errstr, errstr_size, "%s: out of memory", name);
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	while (!end && rc == 0 && yaml_parser_parse(&parser, &ev)) {
		if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
			if (++depth > MAX_DEPTH) {
				eddy_errf(errstr, errstr_size,
				          "%s:%zu: nested deeper than %d levels", name,
				          ev.start_mark.line + 1, MAX_DEPTH);
				rc = -1;
			}
		} else if (ev.type == YAML_SEQUENCE_END_EVENT ||
		           ev.type == YAML_MAPPING_END_EVENT) {
			depth--;
		}
		end = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return rc;
}

/* Loads len bytes of YAML named name into a new config. */
static struct eddy_config *load(const char *name, const char *yaml, size_t len, char *const *envp,
                                char *errstr, size_t errstr_size)
{
	struct eddy_config *c = NULL;
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	bool have_doc = false;
	yaml_node_t *root;
	struct loader ld;

	if (!envp)
		envp = environ;
	if (check_depth(name, yaml, len, errstr, errstr_size) < 0)
		return NULL;
	if (!yaml_parser_initialize(&parser)) {
		eddy_errf(errstr, errstr_size, "%s: out of memory", name);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	if (!yaml_parser_load(&parser, &doc))
		goto yaml_err;
	have_doc = true;
	root = yaml_document_get_root_node(&doc);
	if (root) {
		/* a second document would be ignored by the walk below */
		if (!yaml_parser_load(&parser, &extra))
			goto yaml_err;
		if (yaml_document_get_root_node(&extra)) {
			eddy_errf(errstr, errstr_size, "%s:%zu: only one YAML document is allowed",
			          name, extra.start_mark.line + 1);
			yaml_document_delete(&extra);
			goto err;
		}
		yaml_document_delete(&extra);
	}
	c = eddy_config_new();
	if (!c || !(c->path = strdup(name)) || !(c->dir = dir_of(name))) {
		eddy_errf(errstr, errstr_size, "%s: out of memory", name);
		goto err;
	}
	ld = (struct loader){c, name, &doc, envp, errstr, errstr_size};
	if (root && !is_null(root)) {
		if (root->type != YAML_MAPPING_NODE) {
			eddy_errf(errstr, errstr_size,
			          "%s:%zu: expected a mapping of settings, got %s", name,
			          root->start_mark.line + 1, kind(root));
			goto err;
		}
		if (load_section(&ld, "", root) < 0)
			goto err;
	}
	if (apply_env_all(c, envp, errstr, errstr_size) < 0)
		goto err;
	if (check_default_sink(c, errstr, errstr_size) < 0)
		goto err;
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return c;

yaml_err:
	if (parser.error == YAML_READER_ERROR)
		eddy_errf(errstr, errstr_size, "%s:%zu: %s", name,
		          line_at(yaml, len, parser.problem_offset), parser.problem);
	else if (parser.error == YAML_MEMORY_ERROR)
		eddy_errf(errstr, errstr_size, "%s: out of memory", name);
	else
		eddy_errf(errstr, errstr_size, "%s:%zu: %s", name, parser.problem_mark.line + 1,
		          parser.problem ? parser.problem : "invalid YAML");
err:
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	eddy_config_destroy(c);
	return NULL;
}

struct eddy_config *eddy_config_load_string(const char *name, const char *yaml, char *const *envp,
                                            char *errstr, size_t errstr_size)
{
	return load(name, yaml, strlen(yaml), envp, errstr, errstr_size);
}

struct eddy_config *eddy_config_load(const char *path, char *const *envp, char *errstr,
                                     size_t errstr_size)
{
	size_t len;
	char *text = eddy_read_file(path, &len, errstr, errstr_size);
	struct eddy_config *c;

	if (!text)
		return NULL;
	c = load(path, text, len, envp, errstr, errstr_size);
	free(text);
	return c;
}

/* Markdown table cells cannot hold a raw '|'. */
static void put_cell(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputc('\\', out);
		fputc(*s, out);
	}
}

/* What docs/config.md says before the property table. */
static const char doc_intro[] =
    "# Configuration reference\n"
    "\n"
    "<!-- Generated from the property table in src/config.c by `make docs`; "
    "edit that, not this. -->\n"
    "\n"
    "eddy reads one YAML file (`eddy.yaml`). Sections are mappings, in block or "
    "flow style:\n"
    "\n"
    "```yaml\n"
    "kafka:\n"
    "  bootstrap.servers: ${KAFKA_BROKERS:-localhost:9092}\n"
    "  group.id: eddy-orders\n"
    "topics: [customer-retail-001.order-proposals, \"^customer-.*\\\\.orders$\"]\n"
    "store: { type: sqlite, path: var/eddy.db }\n"
    "batch:\n"
    "  size: 500\n"
    "```\n"
    "\n"
    "An empty file, a missing key and an empty value (`~`, `null`) all mean the "
    "default. An unknown key, a key given twice or a value of the wrong type stops "
    "eddy with `file:line: key: message`.\n"
    "\n"
    "Booleans are `true`/`false`, `yes`/`no` or `on`/`off`, in any case. Integers "
    "are whole decimal numbers within the range shown.\n"
    "\n"
    "Every value may refer to the environment: `${NAME}` is replaced by the "
    "variable's value and is an error when it is not set; `${NAME:-default}` gives "
    "`default` when the variable is unset or empty; `$$` is a literal `$`. Any "
    "other `$` stays as is, so a regular expression ending in `$` needs no "
    "escaping.\n"
    "\n"
    "After the file, environment variables override single properties. The name "
    "is `EDDY_` followed by the property's name upper-cased, with dots as "
    "underscores: `EDDY_STORE_PATH=/data/eddy.db` sets `store.path`, "
    "`EDDY_BATCH_SIZE=500` sets `batch.size`. `EDDY_TOPICS` takes a "
    "comma-separated list. An unknown name that starts like a section "
    "(`EDDY_BATCH_SIZ`) is an error; other `EDDY_` variables are ignored.\n"
    "\n"
    "The `kafka` section is passed to librdkafka as is: any librdkafka property "
    "may appear there, and eddy does not check it. `EDDY_KAFKA_<NAME>` sets a "
    "librdkafka property named by `<NAME>` lower-cased with underscores as dots "
    "(`EDDY_KAFKA_BOOTSTRAP_SERVERS` sets `bootstrap.servers`), replacing the "
    "file's value if there is one.\n"
    "\n"
    "Where a group has no committed offset for a partition (a new `group.id`, "
    "or offsets expired), eddy starts at the earliest retained record: "
    "`auto.offset.reset` is `earliest` unless the section sets it (librdkafka's "
    "own default, `latest`, would skip everything the topic already holds, and "
    "eddy builds its state from what a data product retains). Set "
    "`auto.offset.reset: latest` to start at the end. Each such partition's "
    "start is logged when it is assigned: `orders/0: no committed offset for "
    "group eddy-orders: starting at the earliest retained record, offset 0 "
    "(300 records; kafka.auto.offset.reset: earliest)`.\n"
    "\n"
    "The consumer's fetch queue, `queued.max.messages.kbytes`, is 1024 (1 MiB for "
    "all partitions; librdkafka's default is 64 MiB, which was most of eddy's "
    "memory while it caught up). When the loop has drained a full queue, eddy "
    "wakes librdkafka's fetcher with a small request to each leader (librdkafka "
    "2.0 looks at a full queue again only once a second). `fetch.max.bytes` is "
    "1048576 (1 MiB per fetch response, librdkafka's is 50 MiB) unless the "
    "section sets it or `message.max.bytes`: fetching costs librdkafka about 40 % "
    "less CPU per record. For brokers far away (tens of ms), raise both: a fetch "
    "brings at most `fetch.max.bytes` per round trip, and the queue should hold "
    "more than a round trip's worth of records. docs/operations.md has figures.\n"
    "\n"
    "| property | type | default | env | description |\n"
    "| --- | --- | --- | --- | --- |\n";

void eddy_config_write_doc(FILE *out)
{
	fputs(doc_intro, out);
	for (size_t i = 0; i < N_PROPS; i++) {
		const struct prop *p = &props[i];
		char env[128];

		fprintf(out, "| `%s` | ", p->name);
		switch (p->type) {
		case P_STRING:
			fputs("string", out);
			break;
		case P_BOOL:
			fputs("bool", out);
			break;
		case P_INT:
			fprintf(out, "int, %ld..%ld", p->min, p->max);
			break;
		case P_ENUM:
			for (size_t j = 0; p->values[j]; j++)
				fprintf(out, "%s`%s`", j ? ", " : "one of ", p->values[j]);
			break;
		case P_LIST:
			fputs("list of strings", out);
			break;
		case P_MAP:
			fputs("mapping", out);
			break;
		case P_SINKS:
			fputs("mapping of sinks", out);
			break;
		}
		fputs(" | ", out);
		if (p->type == P_MAP || p->type == P_SINKS ||
		    (p->type == P_LIST && (!p->def || !*p->def)))
			fputs("empty", out);
		else if (!p->def)
			fputs("unset", out);
		else
			fprintf(out, "`%s`", p->def);
		fputs(" | ", out);
		if (p->type == P_MAP || p->type == P_SINKS) {
			fputs(strcmp(p->name, "kafka") == 0 ? "`EDDY_KAFKA_<NAME>`" : "none", out);
		} else {
			env_name(p->name, env, sizeof(env));
			fprintf(out, "`%s`", env);
		}
		fputs(" | ", out);
		put_cell(out, p->doc);
		fputs(" |\n", out);
	}
}

/* ---- the effective configuration --------------------------------------- */

#define MASK "\"*****\""

/* A librdkafka property whose value is a credential. */
static bool secret_key(const char *key)
{
	return strstr(key, "password") || strstr(key, "secret") || strstr(key, ".key.pem") ||
	       strcmp(key, "ssl.key.pem") == 0 || strstr(key, "sasl.oauthbearer.config");
}

/* s as a double-quoted YAML scalar (JSON escapes are YAML's too). */
static void put_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(out, "\\x%02x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

/* A PostgreSQL connection string with its password masked: the
 * user:password@ of a URI, or password=... of the key=value form. */
static void put_dsn(FILE *out, const char *dsn)
{
	char buf[1024];
	const char *scheme = strstr(dsn, "://");
	const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
	const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
	const char *pw = scheme ? NULL : strstr(dsn, "password");

	if (colon)
		snprintf(buf, sizeof buf, "%.*s:*****%s", (int)(colon - dsn), dsn, at);
	else if (pw && (pw == dsn || pw[-1] == ' ') && (pw = strchr(pw, '='))) {
		const char *end = pw + 1 + strspn(pw + 1, " ");
		if (*end == '\'') {
			const char *q = strchr(end + 1, '\'');
			end = q ? q + 1 : end + strlen(end);
		} else {
			end += strcspn(end, " ");
		}
		snprintf(buf, sizeof buf, "%.*s=*****%s", (int)(pw - dsn), dsn, end);
	} else
		snprintf(buf, sizeof buf, "%s", dsn);
	put_quoted(out, buf);
}

static void put_value(FILE *out, const struct eddy_config *c, const struct prop *p)
{
	void *f = field((struct eddy_config *)c, p->off);

	switch (p->type) {
	case P_STRING:
	case P_ENUM: {
		const char *v = *(char **)f;
		if (!v)
			fputs("~", out);
		else if (p->flags & P_SECRET)
			fputs(MASK, out);
		else if (p->off == OFF(store_dsn))
			put_dsn(out, v);
		else
			put_quoted(out, v);
		break;
	}
	case P_BOOL:
		fputs(*(bool *)f ? "true" : "false", out);
		break;
	case P_INT:
		fprintf(out, "%d", *(int *)f);
		break;
	case P_LIST: {
		char **v = *(char ***)f;
		size_t n = *(size_t *)field((struct eddy_config *)c, p->off_n);
		fputc('[', out);
		for (size_t i = 0; i < n; i++) {
			fputs(i ? ", " : "", out);
			put_quoted(out, v[i]);
		}
		fputc(']', out);
		break;
	}
	case P_MAP: {
		const struct eddy_config_kv *v = *(struct eddy_config_kv **)f;
		size_t n = *(size_t *)field((struct eddy_config *)c, p->off_n);
		bool kafka = strcmp(p->name, "kafka") == 0;
		fputs(n || kafka ? "" : "{}", out);
		for (size_t i = 0; i < n; i++) {
			fputs("\n    ", out);
			put_quoted(out, v[i].key);
			fputs(": ", out);
			if (kafka && secret_key(v[i].key))
				fputs(MASK, out);
			else
				put_quoted(out, v[i].value);
		}
		/* what the consumer sets when the file does not (kafka.c) */
		for (const struct eddy_config_default *d = eddy_kafka_consumer_defaults;
		     kafka && d->key; d++) {
			size_t i = 0;
			while (i < n && strcmp(v[i].key, d->key) != 0 &&
			       !(d->unless && strcmp(v[i].key, d->unless) == 0))
				i++;
			if (i < n)
				continue;
			fputs("\n    ", out);
			put_quoted(out, d->key);
			fputs(": ", out);
			put_quoted(out, d->value);
			fputs(" # eddy's default", out);
		}
		break;
	}
	case P_SINKS: {
		const struct eddy_config_sink *v = *(struct eddy_config_sink **)f;
		size_t n = *(size_t *)field((struct eddy_config *)c, p->off_n);
		fputs(n ? "" : "{}", out);
		for (size_t i = 0; i < n; i++) {
			fputs("\n    ", out);
			put_quoted(out, v[i].name);
			fputs(": { type: ", out);
			put_quoted(out, v[i].type);
			fputs(", url: ", out);
			put_quoted(out, v[i].url);
			fprintf(out, ", timeout_ms: %d%s }", v[i].timeout_ms,
			        v[i].secret ? ", secret: " MASK : "");
		}
		break;
	}
	}
}

void eddy_config_write(const struct eddy_config *c, FILE *out)
{
	char section[64] = "";

	fprintf(out,
	        "# the effective configuration: %s, ${VAR}s expanded, EDDY_* overrides "
	        "applied, defaults filled in; secrets masked\n",
	        c->path ? c->path : "no file");
	for (size_t i = 0; i < N_PROPS; i++) {
		const struct prop *p = &props[i];
		const char *dot = strchr(p->name, '.');
		size_t sl = dot ? (size_t)(dot - p->name) : 0;

		if (dot && (strlen(section) != sl || strncmp(section, p->name, sl) != 0)) {
			snprintf(section, sizeof section, "%.*s", (int)sl, p->name);
			fprintf(out, "%s:\n", section);
		} else if (!dot) {
			section[0] = 0;
		}
		fprintf(out, "%s%s: ", dot ? "  " : "", dot ? dot + 1 : p->name);
		put_value(out, c, p);
		fputc('\n', out);
	}
}
