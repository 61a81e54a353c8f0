/* config.h - eddy.yaml: one table of properties drives parsing, validation,
 * environment overrides and the generated reference (docs/config.md). */
#ifndef EDDY_CONFIG_H
#define EDDY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* A librdkafka property from the kafka: section, passed on as is. */
struct eddy_config_kv {
	char *key;
	char *value;
};

/* A librdkafka consumer property eddy sets when the kafka section does not
 * (nor the property named by unless, when there is one): kafka.c applies
 * them, the effective configuration shows them. */
struct eddy_config_default {
	const char *key, *value, *unless;
};
/* Ends with {NULL, NULL}. */
extern const struct eddy_config_default eddy_kafka_consumer_defaults[];

/* An alert sink (alerts.sinks.<name>). */
struct eddy_config_sink {
	char *name;
	char *type; /* webhook | slack | alertmanager */
	char *url;
	char *secret; /* webhook signing secret, NULL: unsigned */
	int timeout_ms;
};

struct eddy_config {
	char *path;                   /* the file read, NULL for defaults only */
	char *dir;                    /* its directory: relative paths below resolve against the
	                                 current directory, as users expect of CLI tools */
	struct eddy_config_kv *kafka; /* kafka.* in file order, then overrides */
	size_t n_kafka;
	char **topics; /* names, or ^regex */
	size_t n_topics;
	char *handlers;          /* folder of *.lua */
	char *rules;             /* folder of alert rule files, NULL: "rules" if it exists */
	char *store_type;        /* "sqlite" | "postgres" */
	char *store_path;        /* sqlite */
	char *store_dsn;         /* postgres: libpq connection string, NULL unset */
	char *dead_letter_topic; /* dead_letter.topic, default "eddy.dlq" */
	bool require_key_equals_id;
	bool require_tenant;
	char *tenant_topic_pattern;          /* NULL: not checked */
	char *schemas_dir;                   /* local JSON Schemas */
	struct eddy_config_kv *schema_types; /* CE type glob -> $id or file, in order */
	size_t n_schema_types;
	struct eddy_config_kv *schema_map; /* URI prefix -> folder */
	size_t n_schema_map;
	bool schemas_required; /* no schema found: dead letter */
	char *schemas_dialect; /* of schemas without $schema */
	bool schemas_format_assert;
	int schemas_max_validation_steps; /* per record; 0: no limit */
	char *registry_url;               /* NULL: no schema registry */
	char *registry_username;
	char *registry_password;
	char *registry_ca_location;
	bool registry_insecure_skip_verify;
	int registry_timeout_ms;
	int registry_retries;
	char *registry_subject_strategy; /* topic | record | topic_record */
	int registry_cache_latest_ms;
	char *publish_source;                 /* CloudEvents source of what handlers publish */
	char *publish_application;            /* meta.source.application */
	char *publish_environment_type;       /* meta.source.environment_type, NULL: left out */
	bool publish_transactional;           /* a Kafka transaction per batch */
	char *publish_transactional_id;       /* NULL: eddy-<group.id> */
	struct eddy_config_sink *alert_sinks; /* in file order */
	size_t n_alert_sinks;
	char *alerts_default_sink; /* NULL: the first sink */
	int alerts_dedupe_window_s;
	int alerts_max_age_s;
	char *alerts_generator_url;
	bool reload_watch; /* reload when handlers or schemas change on disk */
	int reload_debounce_ms;
	int batch_size;              /* max records per batch */
	int batch_timeout_ms;        /* max wait to fill a batch */
	int handler_retries;         /* retries after the first failure */
	int handler_backoff_ms;      /* first backoff, doubled each retry */
	int handler_cpu_limit_ms;    /* CPU time of one handler call; 0: none */
	int handler_memory_limit_mb; /* memory of the handlers' Lua state; 0: none */
	int store_max_value_bytes;   /* the longest value a write stores, as JSON text */
	int store_cache_kib;         /* sqlite: page cache of each connection */
	char *store_page_kib;        /* sqlite: page size of a new database, "1".."64" */
	char *http_listen;           /* host:port of /metrics, /livez, /readyz; "": off */
	int http_stuck_after_ms;     /* /livez fails past this without a loop turn; 0: never */
	int shutdown_grace_ms;       /* a stop finishes its work within this */
	char *log_level;             /* debug | info | warn | error */
	char *log_format;            /* auto | text | json */
};

/* The config with every default and no file. */
struct eddy_config *eddy_config_new(void);
void eddy_config_destroy(struct eddy_config *c);

/* Reads path (libyaml) into a new config, expands ${VAR} in values, then
 * applies EDDY_<SECTION>_<KEY> environment overrides from envp (NULL: the
 * process environment), then validates. On failure returns NULL and writes
 * "path:line: key: message" (or "EDDY_X_Y: key: message" for an override)
 * into errstr. */
struct eddy_config *eddy_config_load(const char *path, char *const *envp, char *errstr,
                                     size_t errstr_size);

/* Same, from a string (name is used in messages as the path). */
struct eddy_config *eddy_config_load_string(const char *name, const char *yaml, char *const *envp,
                                            char *errstr, size_t errstr_size);

/* Writes the Markdown reference of every property (docs/config.md). */
void eddy_config_write_doc(FILE *out);
/* The effective configuration as YAML that eddy_config_load reads back:
 * every property (defaults included), secrets masked (registry.password,
 * credentials among the kafka properties, sink secrets, a DSN's
 * password). */
void eddy_config_write(const struct eddy_config *c, FILE *out);

#endif
