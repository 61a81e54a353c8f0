/* test_config.c - eddy.yaml as a user writes it: defaults, both YAML styles,
 * ${VAR}, EDDY_ overrides, every error message, and docs/config.md. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "test.h"

#define NAME "conf/eddy.yaml"

static char err[512];
static char *no_env[] = {NULL};

static struct eddy_config *load(const char *yaml, char **envp)
{
	err[0] = '\0';
	return eddy_config_load_string(NAME, yaml, envp ? envp : no_env, err, sizeof(err));
}

/* A macro so a failure reports the caller's line. */
#define CHECK_ERR(yaml, envp, want)                                                                \
	do {                                                                                       \
		struct eddy_config *c_ = load(yaml, envp);                                         \
		CHECK(c_ == NULL);                                                                 \
		CHECK_STR(err, want);                                                              \
		eddy_config_destroy(c_);                                                           \
	} while (0)

static const char *kafka_get(const struct eddy_config *c, const char *key)
{
	for (size_t i = 0; i < c->n_kafka; i++)
		if (strcmp(c->kafka[i].key, key) == 0)
			return c->kafka[i].value;
	return NULL;
}

static void check_defaults(const struct eddy_config *c)
{
	CHECK(c->n_kafka == 0);
	CHECK(c->n_topics == 0);
	CHECK_STR(c->handlers, "handlers");
	CHECK_STR(c->store_type, "sqlite");
	CHECK_STR(c->store_path, "var/eddy.db");
	CHECK_STR(c->store_page_kib, "4");
	CHECK_STR(c->dead_letter_topic, "eddy.dlq");
	CHECK(!c->require_key_equals_id);
	CHECK(!c->require_tenant);
	CHECK(c->tenant_topic_pattern == NULL);
	CHECK(c->batch_size == 10000);
	CHECK(c->batch_timeout_ms == 100);
	CHECK(c->handler_retries == 2);
	CHECK(c->handler_backoff_ms == 100);
	CHECK_STR(c->log_level, "info");
	CHECK_STR(c->log_format, "auto");
}

static void test_defaults(void)
{
	struct eddy_config *c = eddy_config_new();

	CHECK(c != NULL);
	check_defaults(c);
	CHECK(c->path == NULL && c->dir == NULL);
	eddy_config_destroy(c);
	eddy_config_destroy(NULL);

	/* an empty file, or one of comments only, is every default */
	c = load("", NULL);
	CHECK(c != NULL);
	check_defaults(c);
	CHECK_STR(c->path, NAME);
	CHECK_STR(c->dir, "conf");
	eddy_config_destroy(c);

	c = load("# nothing set yet\n\n# still nothing\n", NULL);
	CHECK(c != NULL);
	check_defaults(c);
	eddy_config_destroy(c);

	/* an empty value keeps the default */
	c = load("handlers:\nstore: { path: ~ }\nlog:\n", NULL);
	CHECK(c != NULL);
	check_defaults(c);
	eddy_config_destroy(c);
}

static const char full_flow[] =
    "kafka:                       # every key here is passed to librdkafka as is\n"
    "  bootstrap.servers: localhost:9092\n"
    "  group.id: eddy-orders\n"
    "topics: [customer-retail-001.order-proposals, \"^customer-.*\\\\.orders$\"]\n"
    "handlers: handlers/          # folder of *.lua\n"
    "store: { type: sqlite, path: var/orders.db }\n"
    "dead_letter: { topic: orders.dlq }\n"
    "envelope: { require_key_equals_id: true, require_tenant: true, "
    "tenant_topic_pattern: \"{tenant}.*\" }\n"
    "batch: { size: 500, timeout_ms: 250 }\n"
    "handler: { retries: 3, backoff_ms: 50 }\n"
    "log: { level: debug, format: json }\n";

static const char full_block[] = "# the same settings, block style\n"
                                 "kafka:\n"
                                 "  bootstrap.servers: \"localhost:9092\"\n"
                                 "  group.id: 'eddy-orders'\n"
                                 "topics:\n"
                                 "  - customer-retail-001.order-proposals  # exact name\n"
                                 "  - '^customer-.*\\.orders$'              # a regex\n"
                                 "handlers: handlers/\n"
                                 "store:\n"
                                 "  type: sqlite\n"
                                 "  path: var/orders.db\n"
                                 "dead_letter:\n"
                                 "  topic: orders.dlq\n"
                                 "envelope:\n"
                                 "  require_key_equals_id: yes\n"
                                 "  require_tenant: on\n"
                                 "  tenant_topic_pattern: '{tenant}.*'\n"
                                 "batch:\n"
                                 "  size: 500\n"
                                 "  timeout_ms: 250\n"
                                 "handler:\n"
                                 "  retries: 3\n"
                                 "  backoff_ms: 50\n"
                                 "log:\n"
                                 "  level: debug\n"
                                 "  format: json\n";

static void check_full(const struct eddy_config *c)
{
	CHECK(c->n_kafka == 2);
	if (c->n_kafka == 2) {
		CHECK_STR(c->kafka[0].key, "bootstrap.servers");
		CHECK_STR(c->kafka[0].value, "localhost:9092");
		CHECK_STR(c->kafka[1].key, "group.id");
		CHECK_STR(c->kafka[1].value, "eddy-orders");
	}
	CHECK(c->n_topics == 2);
	if (c->n_topics == 2) {
		CHECK_STR(c->topics[0], "customer-retail-001.order-proposals");
		/* the backslash and the $ anchor survive both quoting and ${} */
		CHECK_STR(c->topics[1], "^customer-.*\\.orders$");
	}
	CHECK_STR(c->handlers, "handlers/");
	CHECK_STR(c->store_type, "sqlite");
	CHECK_STR(c->store_path, "var/orders.db");
	CHECK_STR(c->dead_letter_topic, "orders.dlq");
	CHECK(c->require_key_equals_id);
	CHECK(c->require_tenant);
	CHECK_STR(c->tenant_topic_pattern, "{tenant}.*");
	CHECK(c->batch_size == 500);
	CHECK(c->batch_timeout_ms == 250);
	CHECK(c->handler_retries == 3);
	CHECK(c->handler_backoff_ms == 50);
	CHECK_STR(c->log_level, "debug");
	CHECK_STR(c->log_format, "json");
}

static void test_styles(void)
{
	struct eddy_config *c = load(full_flow, NULL);

	CHECK(c != NULL);
	if (c)
		check_full(c);
	eddy_config_destroy(c);

	c = load(full_block, NULL);
	CHECK(c != NULL);
	if (c)
		check_full(c);
	eddy_config_destroy(c);

	/* a flow mapping at the top works too */
	c = load("{handlers: h, batch: {size: 7}}", NULL);
	CHECK(c != NULL && c->batch_size == 7);
	CHECK(c != NULL && strcmp(c->handlers, "h") == 0);
	eddy_config_destroy(c);
}

static void test_values(void)
{
	struct eddy_config *c;

	/* a single topic needs no list */
	c = load("topics: customer-retail-001.order-proposals\n", NULL);
	CHECK(c != NULL && c->n_topics == 1);
	if (c && c->n_topics == 1)
		CHECK_STR(c->topics[0], "customer-retail-001.order-proposals");
	eddy_config_destroy(c);

	c = load("topics: []\n", NULL);
	CHECK(c != NULL && c->n_topics == 0);
	eddy_config_destroy(c);

	/* kafka values keep the text the user wrote, whatever YAML type */
	c = load("kafka:\n  session.timeout.ms: 45000\n  enable.auto.commit: false\n"
	         "  client.id: \"007\"\n",
	         NULL);
	CHECK(c != NULL && c->n_kafka == 3);
	if (c) {
		CHECK_STR(kafka_get(c, "session.timeout.ms"), "45000");
		CHECK_STR(kafka_get(c, "enable.auto.commit"), "false");
		CHECK_STR(kafka_get(c, "client.id"), "007");
	}
	eddy_config_destroy(c);

	/* every boolean spelling, in any case */
	static const char *const yes[] = {"true", "yes", "on", "TRUE", "Yes", "On"};
	static const char *const no[] = {"false", "no", "off", "FALSE", "No", "OFF"};
	for (size_t i = 0; i < 6; i++) {
		char yaml[128];

		snprintf(yaml, sizeof(yaml), "envelope: { require_tenant: %s }\n", yes[i]);
		c = load(yaml, NULL);
		CHECK(c != NULL && c->require_tenant);
		eddy_config_destroy(c);
		snprintf(yaml, sizeof(yaml), "envelope: { require_key_equals_id: %s }\n", no[i]);
		c = load(yaml, NULL);
		CHECK(c != NULL && !c->require_key_equals_id);
		eddy_config_destroy(c);
	}

	/* range ends are inside the range */
	c = load(
	    "batch: { size: 1, timeout_ms: 0 }\nhandler: { retries: 100, backoff_ms: 600000 }\n",
	    NULL);
	CHECK(c != NULL);
	if (c) {
		CHECK(c->batch_size == 1 && c->batch_timeout_ms == 0);
		CHECK(c->handler_retries == 100 && c->handler_backoff_ms == 600000);
	}
	eddy_config_destroy(c);
	c = load("batch: { size: 100000 }\n", NULL);
	CHECK(c != NULL && c->batch_size == 100000);
	eddy_config_destroy(c);

	/* enums match without case and are stored as documented */
	c = load("log: { level: WARN, format: Json }\n", NULL);
	CHECK(c != NULL);
	if (c) {
		CHECK_STR(c->log_level, "warn");
		CHECK_STR(c->log_format, "json");
	}
	eddy_config_destroy(c);

	/* a quoted "null" is a string, not the default */
	c = load("handlers: \"null\"\n", NULL);
	CHECK(c != NULL && strcmp(c->handlers, "null") == 0);
	eddy_config_destroy(c);
}

static void test_expansion(void)
{
	char *env[] = {"BROKERS=kafka-1:9092,kafka-2:9092", "TENANT=acme", "EMPTY=", "SIZE=42",
	               NULL};
	struct eddy_config *c;

	c = load("kafka:\n  bootstrap.servers: ${BROKERS}\n  group.id: eddy-${TENANT}\n"
	         "topics: [\"${TENANT}.orders\", \"^${TENANT}\\\\..*$\"]\n"
	         "handlers: ${HANDLERS:-/opt/eddy/handlers}\n"
	         "store: { path: \"${EMPTY:-var/default.db}\" }\n"
	         "dead_letter: { topic: \"${TENANT}.dlq${EMPTY}\" }\n"
	         "batch: { size: \"${SIZE}\" }\n"
	         "log: { format: \"${FORMAT:-json}\" }\n"
	         "envelope: { tenant_topic_pattern: \"cost$$-{tenant}$\" }\n",
	         env);
	CHECK(c != NULL);
	if (c) {
		CHECK_STR(kafka_get(c, "bootstrap.servers"), "kafka-1:9092,kafka-2:9092");
		CHECK_STR(kafka_get(c, "group.id"), "eddy-acme");
		CHECK(c->n_topics == 2);
		if (c->n_topics == 2) {
			CHECK_STR(c->topics[0], "acme.orders");
			CHECK_STR(c->topics[1], "^acme\\..*$");
		}
		CHECK_STR(c->handlers, "/opt/eddy/handlers");
		CHECK_STR(c->store_path, "var/default.db");
		CHECK_STR(c->dead_letter_topic, "acme.dlq");
		CHECK(c->batch_size == 42);
		CHECK_STR(c->log_format, "json");
		CHECK_STR(c->tenant_topic_pattern, "cost$-{tenant}$");
	} else {
		fprintf(stderr, "  load failed: %s\n", err);
	}
	eddy_config_destroy(c);

	/* a default may be empty, and a set variable wins over it */
	c = load("handlers: x${NOPE:-}y\nstore: { path: \"${TENANT:-nobody}.db\" }\n", env);
	CHECK(c != NULL);
	if (c) {
		CHECK_STR(c->handlers, "xy");
		CHECK_STR(c->store_path, "acme.db");
	}
	eddy_config_destroy(c);

	CHECK_ERR("# line 1\nhandlers: ${NOPE}\n", env, NAME ":2: handlers: ${NOPE} is not set");
	CHECK_ERR("kafka:\n  group.id: ${GROUP}\n", env,
	          NAME ":2: kafka.group.id: ${GROUP} is not set");
	CHECK_ERR("topics:\n  - a\n  - ${T}\n", env, NAME ":3: topics: ${T} is not set");
	CHECK_ERR("handlers: ${NOPE\n", env, NAME ":1: handlers: unterminated ${ in \"${NOPE\"");
	CHECK_ERR("handlers: ${1X}\n", env,
	          NAME ":1: handlers: ${1X} is not a variable reference (use ${NAME} or "
	               "${NAME:-default}, and $$ for a $)");
	/* an expanded value is checked like a written one */
	CHECK_ERR("batch:\n  size: ${EMPTY:-0}\n", env,
	          NAME ":2: batch.size: 0 is out of range 1..100000");
}

static void test_overrides(void)
{
	char *env[] = {"HOME=/root",
	               "EDDY_BIN=/usr/bin/eddy", /* other tools' EDDY_ variables pass */
	               "EDDY_STORE_PATH=/data/eddy.db",
	               "EDDY_BATCH_SIZE=10",
	               "EDDY_HANDLERS=/srv/handlers",
	               "EDDY_TOPICS=a.orders, ^b\\..*$ ,,c",
	               "EDDY_KAFKA_BOOTSTRAP_SERVERS=broker:9093",
	               "EDDY_KAFKA_CLIENT_ID=eddy-1",
	               "EDDY_ENVELOPE_REQUIRE_TENANT=yes",
	               "EDDY_DEAD_LETTER_TOPIC=x.dlq",
	               "EDDY_LOG_LEVEL=error",
	               NULL};
	struct eddy_config *c;

	c = load("kafka:\n  bootstrap.servers: localhost:9092\n  group.id: g\n"
	         "topics: [from.file]\nstore: { path: file.db }\nbatch: { size: 5 }\n",
	         env);
	CHECK(c != NULL);
	if (c) {
		CHECK_STR(c->store_path, "/data/eddy.db");
		CHECK(c->batch_size == 10);
		CHECK_STR(c->handlers, "/srv/handlers");
		CHECK(c->n_topics == 3);
		if (c->n_topics == 3) {
			CHECK_STR(c->topics[0], "a.orders");
			CHECK_STR(c->topics[1], "^b\\..*$");
			CHECK_STR(c->topics[2], "c");
		}
		/* the file's order, the replaced value in place, new keys after */
		CHECK(c->n_kafka == 3);
		if (c->n_kafka == 3) {
			CHECK_STR(c->kafka[0].key, "bootstrap.servers");
			CHECK_STR(c->kafka[0].value, "broker:9093");
			CHECK_STR(c->kafka[1].key, "group.id");
			CHECK_STR(c->kafka[2].key, "client.id");
			CHECK_STR(c->kafka[2].value, "eddy-1");
		}
		CHECK(c->require_tenant);
		CHECK_STR(c->dead_letter_topic, "x.dlq");
		CHECK_STR(c->log_level, "error");
	} else {
		fprintf(stderr, "  load failed: %s\n", err);
	}
	eddy_config_destroy(c);

	/* overrides apply to an empty file, and are taken as is: no ${} */
	char *env2[] = {"EDDY_HANDLERS=${HOME}", "EDDY_TOPICS=", NULL};
	c = load("topics: [x]\n", env2);
	CHECK(c != NULL);
	if (c) {
		CHECK_STR(c->handlers, "${HOME}");
		CHECK(c->n_topics == 0);
	}
	eddy_config_destroy(c);

	char *bad_int[] = {"EDDY_BATCH_SIZE=0", NULL};
	CHECK_ERR("", bad_int, "EDDY_BATCH_SIZE: batch.size: 0 is out of range 1..100000");
	char *bad_bool[] = {"EDDY_ENVELOPE_REQUIRE_TENANT=maybe", NULL};
	CHECK_ERR("", bad_bool,
	          "EDDY_ENVELOPE_REQUIRE_TENANT: envelope.require_tenant: \"maybe\" is not a "
	          "boolean (true/false, yes/no, on/off)");
	char *bad_enum[] = {"EDDY_STORE_TYPE=mysql", NULL};
	CHECK_ERR("", bad_enum,
	          "EDDY_STORE_TYPE: store.type: \"mysql\" is not one of: sqlite, postgres");
	char *typo[] = {"EDDY_BATCH_SIZ=10", NULL};
	CHECK_ERR("", typo, "EDDY_BATCH_SIZ: unknown setting (did you mean EDDY_BATCH_SIZE?)");
	char *no_key[] = {"EDDY_KAFKA_=x", NULL};
	CHECK_ERR("", no_key, "EDDY_KAFKA_: kafka: no property name after EDDY_KAFKA_");

	/* NULL means the process environment */
	setenv("EDDY_HANDLER_RETRIES", "7", 1);
	c = eddy_config_load_string(NAME, "handler: { retries: 1 }\n", NULL, err, sizeof(err));
	CHECK(c != NULL && c->handler_retries == 7);
	eddy_config_destroy(c);
	unsetenv("EDDY_HANDLER_RETRIES");
}

static void test_errors(void)
{
	CHECK_ERR("# 1\n# 2\n# 3\n# 4\n# 5\n# 6\n# 7\n# 8\n# 9\n# 10\n# 11\n"
	          "store:\n  path:\n    file: x\n",
	          NULL, NAME ":13: store.path: expected a string, got a mapping");
	CHECK_ERR("store: { path: [a, b] }\n", NULL,
	          NAME ":1: store.path: expected a string, got a list");
	CHECK_ERR("handlers: h\nlog: { level: info }\nbatch:\n  size: 0\n", NULL,
	          NAME ":4: batch.size: 0 is out of range 1..100000");
	CHECK_ERR("batch: { size: 100001 }\n", NULL,
	          NAME ":1: batch.size: 100001 is out of range 1..100000");
	CHECK_ERR("batch: { timeout_ms: -1 }\n", NULL,
	          NAME ":1: batch.timeout_ms: -1 is out of range 0..60000");
	CHECK_ERR("handler: { retries: 99999999999999999999 }\n", NULL,
	          NAME ":1: handler.retries: 99999999999999999999 is out of range 0..100");
	CHECK_ERR("batch: { size: 1.5 }\n", NULL,
	          NAME ":1: batch.size: \"1.5\" is not a whole number");
	CHECK_ERR("batch: { size: 1e3 }\n", NULL,
	          NAME ":1: batch.size: \"1e3\" is not a whole number");
	CHECK_ERR("batch: { size: [1] }\n", NULL,
	          NAME ":1: batch.size: expected an integer, got a list");
	CHECK_ERR("\n\n\n\n\n\nstor:\n  path: x\n", NULL,
	          NAME ":7: stor: unknown key (did you mean \"store\"?)");
	CHECK_ERR("store:\n  pth: x\n", NULL,
	          NAME ":2: store.pth: unknown key (did you mean \"store.path\"?)");
	CHECK_ERR("batch:\n  timeout: 5\n", NULL,
	          NAME ":2: batch.timeout: unknown key (did you mean \"batch.timeout_ms\"?)");
	CHECK_ERR("database: x\n", NULL, NAME ":1: database: unknown key");
	CHECK_ERR("\n\n\nstore:\n  type: mysql\n", NULL,
	          NAME ":5: store.type: \"mysql\" is not one of: sqlite, postgres");
	CHECK_ERR("store:\n  page_kib: 3\n", NULL,
	          NAME ":2: store.page_kib: \"3\" is not one of: 1, 2, 4, 8, 16, 32, 64");
	CHECK_ERR("log: { level: verbose }\n", NULL,
	          NAME ":1: log.level: \"verbose\" is not one of: debug, info, warn, error");
	CHECK_ERR("envelope: { require_tenant: maybe }\n", NULL,
	          NAME
	          ":1: envelope.require_tenant: \"maybe\" is not a boolean (true/false, yes/no, "
	          "on/off)");
	CHECK_ERR("envelope:\n  tenant_topic_pattern: orders.*\n", NULL,
	          NAME ":2: envelope.tenant_topic_pattern: \"orders.*\" does not contain {tenant}");
	CHECK_ERR("dead_letter: { topic: \"\" }\n", NULL,
	          NAME ":1: dead_letter.topic: must not be empty");
	CHECK_ERR("topics:\n  - a\n  - ''\n", NULL, NAME ":3: topics: item 2 is empty");
	CHECK_ERR("topics: { a: b }\n", NULL,
	          NAME ":1: topics: expected a string or a list of strings, got a mapping");
	CHECK_ERR("topics:\n  - [a]\n", NULL, NAME ":2: topics: expected a string, got a list");
	CHECK_ERR("store: sqlite\n", NULL, NAME ":1: store: expected a mapping, got a scalar");
	CHECK_ERR("kafka: [a]\n", NULL, NAME ":1: kafka: expected a mapping, got a list");
	CHECK_ERR("kafka:\n  debug:\n    x: 1\n", NULL,
	          NAME ":2: kafka.debug: expected a string, number or boolean, got a mapping");
	CHECK_ERR("kafka:\n  debug:\n", NULL,
	          NAME ":2: kafka.debug: expected a string, number or boolean, got null");

	/* duplicates, at every level */
	CHECK_ERR("handlers: a\nhandlers: b\n", NULL,
	          NAME ":2: handlers: duplicate key (first on line 1)");
	CHECK_ERR("store:\n  path: a\n  type: sqlite\n  path: b\n", NULL,
	          NAME ":4: store.path: duplicate key (first on line 2)");
	CHECK_ERR("kafka: { group.id: a, group.id: b }\n", NULL,
	          NAME ":1: kafka.group.id: duplicate key (first on line 1)");

	/* YAML itself */
	CHECK_ERR("store: { type: sqlite\nbatch: 1\n", NULL,
	          NAME ":2: did not find expected ',' or '}'");
	CHECK_ERR("handlers: a\n  b: c\n", NULL,
	          NAME ":2: mapping values are not allowed in this context");
	CHECK_ERR("- a\n- b\n", NULL, NAME ":1: expected a mapping of settings, got a list");
	CHECK_ERR("handlers: a\n---\nhandlers: b\n", NULL,
	          NAME ":2: only one YAML document is allowed");
	CHECK_ERR("handlers: \"a\xff\"\n", NULL, NAME ":1: invalid leading UTF-8 octet");
}

/* "topics: " and n nested flow sequences (n "[", then n "]"), on the
 * second line. */
static char *nested(size_t n)
{
	static const char head[] = "handlers: h\ntopics: ";
	char *s = malloc(sizeof head + 2 * n + 1);

	if (!s)
		return NULL;
	memcpy(s, head, sizeof head - 1);
	memset(s + sizeof head - 1, '[', n);
	memset(s + sizeof head - 1 + n, ']', n);
	memcpy(s + sizeof head - 1 + 2 * n, "\n", 2);
	return s;
}

/* Nesting is capped at 64 levels, the top-level mapping counted: 1e5
 * levels were refused only after some 25 s of libyaml's scanning. */
static void test_depth(void)
{
	char *yaml = nested(63);

	CHECK(yaml != NULL);
	if (yaml)
		CHECK_ERR(yaml, NULL, NAME ":2: topics: expected a string, got a list");
	free(yaml);
	yaml = nested(64);
	if (yaml)
		CHECK_ERR(yaml, NULL, NAME ":2: nested deeper than 64 levels");
	free(yaml);
	yaml = nested(100000);
	if (yaml)
		CHECK_ERR(yaml, NULL, NAME ":2: nested deeper than 64 levels");
	free(yaml);
	/* block sequences count alike: "- " 63 times on one line */
	char block[160] = "topics:\n  ";
	for (int i = 0; i < 63; i++)
		strcat(block, "- ");
	strcat(block, "x\n");
	CHECK_ERR(block, NULL, NAME ":2: topics: expected a string, got a list");
	block[strlen(block) - 2] = '\0';
	strcat(block, "- x\n");
	CHECK_ERR(block, NULL, NAME ":2: nested deeper than 64 levels");
}

static void test_file(void)
{
	char path[] = "/tmp/eddy-test-config-XXXXXX";
	int fd = mkstemp(path);
	struct eddy_config *c;
	FILE *f;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	f = fdopen(fd, "w");
	fputs(full_block, f);
	fclose(f);
	c = eddy_config_load(path, no_env, err, sizeof(err));
	CHECK(c != NULL);
	if (c) {
		check_full(c);
		CHECK_STR(c->path, path);
		CHECK_STR(c->dir, "/tmp");
	}
	eddy_config_destroy(c);

	f = fopen(path, "w");
	fputs("batch:\n  size: 0\n", f);
	fclose(f);
	c = eddy_config_load(path, no_env, err, sizeof(err));
	CHECK(c == NULL);
	{
		char want[256];

		snprintf(want, sizeof(want), "%s:2: batch.size: 0 is out of range 1..100000", path);
		CHECK_STR(err, want);
	}
	eddy_config_destroy(c);
	unlink(path);

	c = eddy_config_load("conf/no-such.yaml", no_env, err, sizeof(err));
	CHECK(c == NULL);
	CHECK_STR(err, "conf/no-such.yaml: No such file or directory");
}

/* docs/config.md is generated: it must be what the table says today. */
static void test_doc(void)
{
	char *gen = NULL, *file = NULL;
	size_t gen_len = 0, file_len = 0;
	FILE *mem = open_memstream(&gen, &gen_len);
	FILE *f = fopen("docs/config.md", "rb");

	eddy_config_write_doc(mem);
	fclose(mem);
	CHECK(strncmp(gen, "# Configuration reference\n", 26) == 0);
	CHECK(strstr(gen, "| `store.path` | string | `var/eddy.db` | `EDDY_STORE_PATH` |") != NULL);
	CHECK(strstr(gen, "| `batch.size` | int, 1..100000 | `10000` | `EDDY_BATCH_SIZE` |") !=
	      NULL);
	CHECK(f != NULL);
	if (f) {
		mem = open_memstream(&file, &file_len);
		for (int ch; (ch = fgetc(f)) != EOF;)
			fputc(ch, mem);
		fclose(mem);
		fclose(f);
	}
	if (!f || file_len != gen_len || memcmp(file, gen, gen_len) != 0)
		fprintf(stderr, "docs/config.md differs from eddy_config_write_doc(): run `make "
		                "docs` and commit the result\n");
	CHECK(f && file_len == gen_len && memcmp(file, gen, gen_len) == 0);
	free(gen);
	free(file);
}

/* alerts.sinks: named sinks with their own keys, checked where they are. */
static void test_sinks(void)
{
	char *env[] = {"HOOK_SECRET=whsec_c2VjcmV0", NULL};
	struct eddy_config *c =
	    load("alerts:\n  default_sink: chat\n  sinks:\n"
	         "    ops: { type: webhook, url: \"https://h.example.com/a\", secret: "
	         "\"${HOOK_SECRET}\" }\n"
	         "    chat: { type: Slack, url: \"https://hooks.slack.com/x\", timeout_ms: 2500 }\n"
	         "    am: { type: alertmanager, url: \"http://am:9093\" }\n",
	         env);
	CHECK(c != NULL && c->n_alert_sinks == 3);
	if (c && c->n_alert_sinks == 3) {
		CHECK_STR(c->alert_sinks[0].name, "ops");
		CHECK_STR(c->alert_sinks[0].type, "webhook");
		CHECK_STR(c->alert_sinks[0].secret, "whsec_c2VjcmV0");
		CHECK(c->alert_sinks[0].timeout_ms == 10000);
		CHECK_STR(c->alert_sinks[1].type, "slack");
		CHECK(c->alert_sinks[1].timeout_ms == 2500);
		CHECK(c->alert_sinks[1].secret == NULL);
		CHECK_STR(c->alert_sinks[2].url, "http://am:9093");
		CHECK_STR(c->alerts_default_sink, "chat");
		CHECK(c->alerts_dedupe_window_s == 86400);
	}
	eddy_config_destroy(c);

	CHECK_ERR("alerts:\n  sinks:\n    ops: { type: webhok, url: \"http://x\" }\n", NULL,
	          NAME ":3: alerts.sinks.ops.type: \"webhok\" is not one of: webhook, slack, "
	               "alertmanager");
	CHECK_ERR("alerts:\n  sinks:\n    ops:\n      type: webhook\n", NULL,
	          NAME ":3: alerts.sinks.ops: url is required");
	CHECK_ERR("alerts:\n  sinks:\n    ops: { type: slack, url: \"ftp://x\" }\n", NULL,
	          NAME ":3: alerts.sinks.ops.url: \"ftp://x\" is not an http:// or https:// URL");
	CHECK_ERR("alerts:\n  sinks:\n    ops: { type: slack, url: \"http://x\", secret: s }\n",
	          NULL, NAME ":3: alerts.sinks.ops: secret is for webhook sinks only");
	CHECK_ERR("alerts:\n  sinks:\n    ops: { type: slack, url: \"http://x\", retries: 3 }\n",
	          NULL,
	          NAME ":3: alerts.sinks.ops.retries: unknown key (type, url, secret, timeout_ms)");
	CHECK_ERR("alerts:\n  sinks:\n    ops: http://x\n", NULL,
	          NAME ":3: alerts.sinks.ops: expected a mapping (type, url, ...), got a scalar");
	CHECK_ERR("alerts:\n  default_sink: pager\n  sinks:\n    ops: { type: slack, url: "
	          "\"http://x\" }\n",
	          NULL, NAME ": alerts.default_sink: \"pager\" is not one of alerts.sinks");
}

int main(void)
{
	test_defaults();
	test_styles();
	test_values();
	test_expansion();
	test_overrides();
	test_errors();
	test_depth();
	test_sinks();
	test_file();
	test_doc();
	return test_report("config");
}
