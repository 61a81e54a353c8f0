/* registry.h - a Confluent Schema Registry client (REST API over libcurl):
 * schemas by id and by subject and version, basic auth, TLS, timeouts,
 * retries, and a cache so the hot path asks the registry once per id. */
#ifndef EDDY_REGISTRY_H
#define EDDY_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct eddy_registry_conf {
	const char *url;           /* e.g. "https://psrc-x.europe-west3.gcp.confluent.cloud" */
	const char *username;      /* basic auth (Confluent Cloud API key), NULL: none */
	const char *password;      /* (API secret) */
	const char *ca_location;   /* CA bundle file, NULL: the system's */
	bool insecure_skip_verify; /* do not verify the server's certificate */
	int timeout_ms;            /* per request; 0: 10000 */
	int retries;               /* after the first failed try; negative: 0 */
	int backoff_ms;            /* first wait between tries, doubled each retry; 0: 200 */
	int latest_ttl_ms;         /* how long a "latest" version stays cached; 0: 300000 */
};

enum eddy_registry_type { EDDY_REGISTRY_AVRO, EDDY_REGISTRY_JSON, EDDY_REGISTRY_PROTOBUF };

/* A schema reference: the schema names another schema (subject, version)
 * by name, which is the URI a JSON Schema $ref uses for it, or the Avro
 * full name of its type. */
struct eddy_registry_ref {
	const char *name;
	const char *subject;
	int version;
};

struct eddy_registry_schema {
	int id;
	const char *subject;          /* NULL when fetched by id */
	int version;                  /* 0 when fetched by id */
	enum eddy_registry_type type; /* "schemaType", AVRO when absent */
	const char *schema;           /* the schema text, NUL-terminated */
	size_t len;
	const struct eddy_registry_ref *refs;
	size_t n_refs;
};

/* One client keeps one connection and its cache; it is not thread-safe (one
 * per thread). Every schema it hands out stays valid until it is destroyed. */
struct eddy_registry;

/* NULL with errstr when conf is unusable (no http:// or https:// url).
 * Copies what it needs of conf. */
struct eddy_registry *eddy_registry_new(const struct eddy_registry_conf *conf, char *errstr,
                                        size_t errstr_size);
void eddy_registry_destroy(struct eddy_registry *r);

/* GET /schemas/ids/{id}. Returns 1 with *out (owned by the client, cached
 * for its life: ids never change), 0 when the registry says there is no
 * such schema (404, error_code 40403; reason in errstr), -1 when it could
 * not be asked after the retries (connection refused, timeout, 5xx, 401,
 * unparsable answer; reason in errstr): a caller must retry later, never
 * take it as "invalid". */
int eddy_registry_by_id(struct eddy_registry *r, int id, const struct eddy_registry_schema **out,
                        char *errstr, size_t errstr_size);

/* GET /subjects/{subject}/versions/{version}: version is a number or
 * "latest" (cached for latest_ttl_ms; when a refresh fails the cached one is
 * kept and used, with a warning logged, and asked for again after
 * min(latest_ttl_ms, 10 s)). Same returns; 0 for 40401 (no such subject),
 * 40402 (no such version), 42202 and a version that is neither a positive
 * number nor "latest". The answer also fills the id cache. */
int eddy_registry_by_subject(struct eddy_registry *r, const char *subject, const char *version,
                             const struct eddy_registry_schema **out, char *errstr,
                             size_t errstr_size);

/* What every client of the process has done since it started: clients are
 * made anew on each reload, the counts go on. */
struct eddy_registry_counters {
	/* HTTP requests by how they ended, each try of a lookup counted */
	uint64_t ok;         /* 200 with an answer object */
	uint64_t not_found;  /* the registry's "no such schema, subject or version" */
	uint64_t errors;     /* anything else: network, timeout, 5xx, 401, bad answer */
	uint64_t cache_hits; /* lookups answered from the cache, no request */
	/* lookups the registry could not answer after the retries (-1; by
	 * subject "latest" counts even when the cached version was used) */
	uint64_t failures;
};

/* A snapshot of the process's counters; callable from any thread. */
void eddy_registry_counters(struct eddy_registry_counters *out);

#endif
