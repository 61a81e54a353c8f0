/* registry.c - a Confluent Schema Registry client over one reused libcurl easy
 * handle: bounded retries, answers parsed with eddy_json, and a cache whose
 * schemas live as long as the client. */
#include "registry.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "curl_init.h"
#include "hashmap.h"
#include "json.h"
#include "log.h"
#include "text.h"
#include "utf8.h"

/* A registry answer is a schema and its metadata; anything bigger is a broken
 * server or proxy, and must not grow the consumer's memory without end. */
#define BODY_MAX (16u << 20)

/* The buffer kept between requests; a rare big answer does not pin its
 * memory for the life of the client. */
#define BODY_KEEP (1u << 20)

/* Doubling stops here, so many retries wait a bounded time each. */
#define BACKOFF_MAX_MS 30000

/* When a refresh of "latest" fails, the cached one is served and the next
 * refresh waits at most this long (or latest_ttl_ms if shorter), so a
 * registry outage costs one round of retries per subject, not one per event. */
#define LATEST_RETRY_MS 10000

/* Longest part of the registry's message that goes into a reason: a reason is
 * one log line, not a copy of whatever a proxy answered. */
#define MESSAGE_MAX 200

#define ACCEPT "Accept: application/vnd.schemaregistry.v1+json, application/json"

/* A cached schema. Every cached schema is on the client's list until the
 * client is destroyed, so a pointer handed out stays valid even after a
 * "latest" moves on to a newer version. */
struct cached {
	struct cached *next;
	struct eddy_registry_schema s;
};

/* A cache key ("i<id>", "v<version>:<subject>" or "l<subject>") and the
 * schema it names, borrowed from the client's list. The cache maps the key
 * to its node. */
struct node {
	char *key;
	const struct eddy_registry_schema *schema;
	int64_t expires_ms; /* "l" keys only: when to ask again */
};

/* An answer being received; writes past BODY_MAX fail the transfer. */
struct body {
	char *data;
	size_t len, cap;
	bool too_big;
};

struct eddy_registry {
	CURL *curl;
	struct curl_slist *headers;
	char *url; /* without a trailing '/' */
	int retries, backoff_ms, latest_ttl_ms;
	int latest_retry_ms; /* after a failed refresh of "latest" */
	struct eddy_json_doc *doc;
	struct body body;
	char curl_err[CURL_ERROR_SIZE];
	struct cached *schemas;
	struct eddy_hashmap cache; /* key -> struct node, both owned */
};

/* The process's counters (eddy_registry_counters): every client adds to
 * them, the telemetry reads them from the consumer's loop. Relaxed: nothing
 * else is ordered by them. */
static _Atomic uint64_t n_ok, n_not_found, n_errors, n_cache_hits, n_failures;

static void count(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* ---- small helpers ------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* A printf into a new heap string, or NULL when out of memory. */
static char *strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *strf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !(s = malloc((size_t)n + 1)))
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* Copies a message from the network into out as one printable line of at
 * most MESSAGE_MAX bytes, never ending inside a UTF-8 sequence. */
static void quote_message(char *out, size_t size, const char *msg)
{
	size_t n = eddy_utf8_cut(msg, strlen(msg), MESSAGE_MAX < size - 1 ? MESSAGE_MAX : size - 1);

	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)msg[i] < 0x20 || msg[i] == 0x7f ? ' ' : msg[i];
	out[n] = '\0';
}

/* ---- cache -------------------------------------------------------------- */

static struct node *cache_find(const struct eddy_registry *r, const char *key)
{
	return eddy_hashmap_get(&r->cache, key);
}

/* Adds key (taking ownership of it) naming schema (borrowed from r's list);
 * the key must not be in the table yet. Returns the node, or NULL when out of
 * memory (key freed). */
static struct node *cache_add(struct eddy_registry *r, char *key,
                              const struct eddy_registry_schema *schema)
{
	struct node *n = calloc(1, sizeof(*n));

	if (!key || !n || eddy_hashmap_put(&r->cache, key, n)) {
		free(key);
		free(n);
		return NULL;
	}
	n->key = key;
	n->schema = schema;
	return n;
}

static void cached_free(struct cached *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->s.n_refs; i++) {
		free((char *)c->s.refs[i].name);
		free((char *)c->s.refs[i].subject);
	}
	free((void *)c->s.refs);
	free((char *)c->s.subject);
	free((char *)c->s.schema);
	free(c);
}

/* ---- answers ------------------------------------------------------------ */

/* An integer member of obj in [1, INT_MAX], or 0 when absent or not one. */
static int positive_int(const struct eddy_json *obj, const char *key)
{
	const struct eddy_json *v = eddy_json_get(obj, key, strlen(key));

	return v && v->type == EDDY_JSON_INT && v->u.i >= 1 && v->u.i <= INT_MAX ? (int)v->u.i : 0;
}

/* A new schema from an answer object ("schema", "schemaType", "references"),
 * labelled id, subject (copied, may be NULL) and version; NULL with the
 * reason in why when the answer is not one. */
static struct cached *schema_from(const struct eddy_json *root, int id, const char *subject,
                                  int version, char *why, size_t why_size)
{
	const struct eddy_json *text = eddy_json_getz(root, "schema");
	const struct eddy_json *type = eddy_json_getz(root, "schemaType");
	const struct eddy_json *refs = eddy_json_getz(root, "references");
	struct eddy_registry_ref *out_refs = NULL;
	struct cached *c;

	if (!text || text->type != EDDY_JSON_STRING) {
		eddy_errf(why, why_size, "answer has no \"schema\" string");
		return NULL;
	}
	if (refs && refs->type != EDDY_JSON_ARRAY && refs->type != EDDY_JSON_NULL) {
		eddy_errf(why, why_size, "answer's \"references\" is not an array");
		return NULL;
	}
	if (!(c = calloc(1, sizeof(*c))))
		goto oom;
	c->s.id = id;
	c->s.version = version;
	c->s.len = text->len;
	if (!(c->s.schema = eddy_memdup0(text->u.s, text->len)))
		goto oom;
	if (subject && !(c->s.subject = strdup(subject)))
		goto oom;
	if (!type || type->type == EDDY_JSON_NULL ||
	    (eddy_json_str(type) && strcmp(type->u.s, "AVRO") == 0)) {
		c->s.type = EDDY_REGISTRY_AVRO;
	} else if (eddy_json_str(type) && strcmp(type->u.s, "JSON") == 0) {
		c->s.type = EDDY_REGISTRY_JSON;
	} else if (eddy_json_str(type) && strcmp(type->u.s, "PROTOBUF") == 0) {
		c->s.type = EDDY_REGISTRY_PROTOBUF;
	} else {
		eddy_errf(why, why_size, "answer's \"schemaType\" is not AVRO, JSON or PROTOBUF");
		goto err;
	}
	if (refs && refs->type == EDDY_JSON_ARRAY && refs->len) {
		if (!(out_refs = calloc(refs->len, sizeof(*out_refs))))
			goto oom;
		c->s.refs = out_refs;
		for (uint32_t i = 0; i < refs->len; i++) {
			const struct eddy_json *ref = &refs->u.items[i];
			const char *name = eddy_json_str(eddy_json_getz(ref, "name"));
			const char *ref_subject = eddy_json_str(eddy_json_getz(ref, "subject"));
			int ref_version = positive_int(ref, "version");

			if (!name || !ref_subject || !ref_version) {
				eddy_errf(why, why_size,
				          "answer's reference %u lacks a name, subject or version",
				          (unsigned)i);
				goto err;
			}
			c->s.n_refs = i + 1;
			out_refs[i].version = ref_version;
			if (!(out_refs[i].name = strdup(name)) ||
			    !(out_refs[i].subject = strdup(ref_subject)))
				goto oom;
		}
	}
	return c;
oom:
	eddy_errf(why, why_size, "out of memory");
err:
	cached_free(c);
	return NULL;
}

/* ---- requests ----------------------------------------------------------- */

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;

	if (n > BODY_MAX - b->len) {
		b->too_big = true;
		return 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n)
			cap *= 2;
		if (cap > BODY_MAX)
			cap = BODY_MAX;
		if (!(p = realloc(b->data, cap)))
			return 0;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
	return n;
}

/* Curl failures worth another try: the network or the server may be back. A
 * bad URL, a refused certificate or an unsupported protocol will not be. */
static bool transient_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_LOGIN_DENIED:
	case CURLE_WRITE_ERROR:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_FILESIZE_EXCEEDED:
		return false;
	default:
		return true;
	}
}

/* One GET of url. Returns 1 with the answer object in *root (owned by r->doc
 * until the next request), 0 when the registry says the thing does not
 * exist, -1 otherwise; the reason goes into why, and *transient tells
 * whether another try may do better. */
static int get_once(struct eddy_registry *r, const char *url, const struct eddy_json **root,
                    bool *transient, char *why, size_t why_size)
{
	const struct eddy_json *v, *code_v;
	char jerr[128], msg[MESSAGE_MAX + 1] = "";
	long status = 0;
	int64_t code = 0;
	CURLcode cc;

	*transient = false;
	r->body.len = 0;
	r->body.too_big = false;
	r->curl_err[0] = '\0';
	if (r->body.cap > BODY_KEEP) {
		free(r->body.data);
		r->body.data = NULL;
		r->body.cap = 0;
	}
	curl_easy_setopt(r->curl, CURLOPT_URL, url);
	cc = curl_easy_perform(r->curl);
	if (cc != CURLE_OK) {
		if (r->body.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
			eddy_errf(why, why_size, "answer larger than %u bytes", BODY_MAX);
		} else {
			*transient = transient_curl(cc);
			eddy_errf(why, why_size, "%s",
			          r->curl_err[0] ? r->curl_err : curl_easy_strerror(cc));
		}
		return -1;
	}
	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	v = eddy_json_parse(r->doc, r->body.data ? r->body.data : "", r->body.len, jerr,
	                    sizeof(jerr));
	if (status == 200) {
		if (!v || v->type != EDDY_JSON_OBJECT) {
			eddy_errf(why, why_size, "unparsable answer: %s",
			          v ? "not a JSON object" : jerr);
			return -1;
		}
		*root = v;
		return 1;
	}
	/* Error bodies are {"error_code": 40403, "message": "..."}; a proxy's
	 * HTML page has neither, and only the status is told. */
	code_v = eddy_json_getz(v, "error_code");
	if (code_v && code_v->type == EDDY_JSON_INT)
		code = code_v->u.i;
	if (eddy_json_str(eddy_json_getz(v, "message")))
		quote_message(msg, sizeof(msg), eddy_json_getz(v, "message")->u.s);
	if (code)
		eddy_errf(why, why_size, "HTTP %ld: %s%s(error_code %lld)", status, msg,
		          msg[0] ? " " : "", (long long)code);
	else
		eddy_errf(why, why_size, "HTTP %ld%s%s", status, msg[0] ? ": " : "", msg);
	/* 40401 no such subject, 40402 no such version, 40403 no such schema,
	 * 42202 a version that cannot exist: answers, not failures. A 404
	 * without them is a wrong URL, which must not lose events. */
	if ((status == 404 && (code == 40401 || code == 40402 || code == 40403)) ||
	    (status == 422 && code == 42202))
		return 0;
	*transient = status >= 500 || status == 429 || status == 408;
	return -1;
}

/* GET path (below the registry's URL, already percent-encoded), trying again
 * after transient failures up to r->retries times with doubling waits. Same
 * returns as get_once; errstr names the request. */
static int get(struct eddy_registry *r, const char *path, const struct eddy_json **root,
               char *errstr, size_t errstr_size)
{
	char why[512];
	char *url = strf("%s%s", r->url, path);
	int64_t wait = r->backoff_ms;
	bool transient;
	int rc, tries = 0;

	if (!url) {
		eddy_errf(errstr, errstr_size, "schema registry GET %s: out of memory", path);
		return -1;
	}
	for (;;) {
		rc = get_once(r, url, root, &transient, why, sizeof(why));
		count(rc == 1 ? &n_ok : rc == 0 ? &n_not_found : &n_errors);
		tries++;
		if (rc >= 0 || !transient || tries > r->retries)
			break;
		eddy_log(EDDY_LOG_DEBUG, "schema registry GET %s: %s; trying again in %lld ms",
		         path, why, (long long)wait);
		sleep_ms(wait);
		wait = wait * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : wait * 2;
	}
	free(url);
	if (rc < 0 && tries > 1)
		eddy_errf(errstr, errstr_size, "schema registry GET %s: %s (%d tries)", path, why,
		          tries);
	else if (rc <= 0)
		eddy_errf(errstr, errstr_size, "schema registry GET %s: %s", path, why);
	return rc;
}

/* ---- public ------------------------------------------------------------- */

struct eddy_registry *eddy_registry_new(const struct eddy_registry_conf *conf, char *errstr,
                                        size_t errstr_size)
{
	struct eddy_registry *r;
	size_t len;
	int timeout_ms;
	CURLcode cc = CURLE_OK;

	if (!conf || !conf->url ||
	    (strncmp(conf->url, "http://", 7) != 0 && strncmp(conf->url, "https://", 8) != 0)) {
		eddy_errf(errstr, errstr_size,
		          "schema registry url: want one starting with http:// or https://");
		return NULL;
	}
	if (eddy_curl_init("schema registry", errstr, errstr_size) != 0)
		return NULL;
	if (!(r = calloc(1, sizeof(*r))))
		goto oom;
	eddy_hashmap_init(&r->cache, EDDY_HASHMAP_STRINGS);
	r->retries = conf->retries > 0 ? conf->retries : 0;
	r->backoff_ms = conf->backoff_ms > 0 ? conf->backoff_ms : 200;
	r->latest_ttl_ms = conf->latest_ttl_ms > 0 ? conf->latest_ttl_ms : 300000;
	r->latest_retry_ms =
	    r->latest_ttl_ms < LATEST_RETRY_MS ? r->latest_ttl_ms : LATEST_RETRY_MS;
	timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 10000;
	len = strlen(conf->url);
	while (len && conf->url[len - 1] == '/')
		len--;
	if (!(r->url = eddy_memdup0(conf->url, len)) || !(r->doc = eddy_json_doc_new()) ||
	    !(r->headers = curl_slist_append(NULL, ACCEPT)) || !(r->curl = curl_easy_init()))
		goto oom;

	/* One handle for every request keeps the connection (and its TLS
	 * session) alive between them. */
	cc |= curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	cc |= curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, r->curl_err);
	cc |= curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_write);
	cc |= curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, &r->body);
	cc |= curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, r->headers);
	cc |= curl_easy_setopt(r->curl, CURLOPT_USERAGENT, "eddy/" EDDY_VERSION);
	cc |= curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	cc |= curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	cc |= curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	cc |= curl_easy_setopt(r->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	cc |= curl_easy_setopt(r->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)BODY_MAX);
	if (conf->username) {
		cc |= curl_easy_setopt(r->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		cc |= curl_easy_setopt(r->curl, CURLOPT_USERNAME, conf->username);
		cc |= curl_easy_setopt(r->curl, CURLOPT_PASSWORD,
		                       conf->password ? conf->password : "");
	}
	/* A CA file given is the only trust: libcurl would otherwise go on
	 * trusting its built-in CA directory (Debian's: /etc/ssl/certs, every
	 * public CA) next to it. */
	if (conf->ca_location) {
		cc |= curl_easy_setopt(r->curl, CURLOPT_CAINFO, conf->ca_location);
		cc |= curl_easy_setopt(r->curl, CURLOPT_CAPATH, NULL);
	}
	if (conf->insecure_skip_verify) {
		cc |= curl_easy_setopt(r->curl, CURLOPT_SSL_VERIFYPEER, 0L);
		cc |= curl_easy_setopt(r->curl, CURLOPT_SSL_VERIFYHOST, 0L);
		eddy_log(EDDY_LOG_WARN, "schema registry: TLS certificates are not verified");
	}
	if (cc != CURLE_OK) {
		eddy_errf(errstr, errstr_size, "schema registry: libcurl refused an option");
		eddy_registry_destroy(r);
		return NULL;
	}
	return r;
oom:
	eddy_errf(errstr, errstr_size, "schema registry: out of memory");
	eddy_registry_destroy(r);
	return NULL;
}

void eddy_registry_destroy(struct eddy_registry *r)
{
	void *n;

	if (!r)
		return;
	for (size_t i = 0; eddy_hashmap_next(&r->cache, &i, NULL, &n);) {
		free(((struct node *)n)->key);
		free(n);
	}
	for (struct cached *c = r->schemas, *next; c; c = next) {
		next = c->next;
		cached_free(c);
	}
	eddy_hashmap_clear(&r->cache);
	curl_easy_cleanup(r->curl);
	curl_slist_free_all(r->headers);
	eddy_json_doc_destroy(r->doc);
	free(r->body.data);
	free(r->url);
	free(r);
}

/* Puts c on r's list (r owns it from now on) and names it key (owned). */
static const struct eddy_registry_schema *keep(struct eddy_registry *r, struct cached *c, char *key)
{
	c->next = r->schemas;
	r->schemas = c;
	cache_add(r, key, &c->s);
	return &c->s;
}

/* The id cache's entry for id, made from root when there is none yet. An id
 * names the same schema forever, so a by-subject answer fills it too; its
 * copy has no subject, as if fetched by id. */
static const struct eddy_registry_schema *
keep_id(struct eddy_registry *r, const struct eddy_json *root, int id, char *why, size_t why_size)
{
	char key[16];
	struct node *n;
	struct cached *c;

	snprintf(key, sizeof(key), "i%d", id);
	if ((n = cache_find(r, key)))
		return n->schema;
	if (!(c = schema_from(root, id, NULL, 0, why, why_size)))
		return NULL;
	return keep(r, c, strdup(key));
}

int eddy_registry_by_id(struct eddy_registry *r, int id, const struct eddy_registry_schema **out,
                        char *errstr, size_t errstr_size)
{
	const struct eddy_json *root;
	char key[16], path[40], why[256];
	struct node *n;
	int rc;

	snprintf(key, sizeof(key), "i%d", id);
	if ((n = cache_find(r, key))) {
		count(&n_cache_hits);
		*out = n->schema;
		return 1;
	}
	snprintf(path, sizeof(path), "/schemas/ids/%d", id);
	rc = get(r, path, &root, errstr, errstr_size);
	if (rc == 1 && !(*out = keep_id(r, root, id, why, sizeof(why)))) {
		eddy_errf(errstr, errstr_size, "schema registry GET %s: %s", path, why);
		rc = -1;
	}
	if (rc < 0)
		count(&n_failures);
	return rc;
}

/* The version a caller asked for: 1..INT_MAX, 0 for "latest", -1 for
 * anything else. */
static int parse_version(const char *version)
{
	char *end;
	long v;

	if (!version)
		return -1;
	if (strcmp(version, "latest") == 0)
		return 0;
	if (version[0] < '1' || version[0] > '9')
		return -1;
	errno = 0;
	v = strtol(version, &end, 10);
	return *end || errno || v > INT_MAX ? -1 : (int)v;
}

/* Caches a by-subject answer under its id and its subject and version;
 * returns the subject's entry, or NULL with the reason in why. */
static const struct eddy_registry_schema *keep_version(struct eddy_registry *r,
                                                       const struct eddy_json *root,
                                                       const char *subject, char *why,
                                                       size_t why_size)
{
	int id = positive_int(root, "id"), version = positive_int(root, "version");
	const char *answered = eddy_json_str(eddy_json_getz(root, "subject"));
	struct cached *c;
	struct node *n;
	char *key;

	if (!id || !version) {
		eddy_errf(why, why_size, "answer lacks a positive \"id\" or \"version\"");
		return NULL;
	}
	if (!keep_id(r, root, id, why, why_size))
		return NULL;
	if (!(key = strf("v%d:%s", version, subject))) {
		eddy_errf(why, why_size, "out of memory");
		return NULL;
	}
	if ((n = cache_find(r, key))) {
		free(key);
		return n->schema;
	}
	if (!(c = schema_from(root, id, answered ? answered : subject, version, why, why_size))) {
		free(key);
		return NULL;
	}
	return keep(r, c, key);
}

int eddy_registry_by_subject(struct eddy_registry *r, const char *subject, const char *version,
                             const struct eddy_registry_schema **out, char *errstr,
                             size_t errstr_size)
{
	int v = parse_version(version), rc;
	const struct eddy_registry_schema *s = NULL;
	struct node *latest = NULL;
	const struct eddy_json *root;
	char *key, *esc = NULL, *path = NULL, why[256];

	if (!subject || !*subject) {
		eddy_errf(errstr, errstr_size, "schema registry: empty subject");
		return 0;
	}
	if (v < 0) {
		eddy_errf(errstr, errstr_size,
		          "schema registry: version \"%s\" is neither a number nor \"latest\"",
		          version ? version : "");
		return 0;
	}
	key = v ? strf("v%d:%s", v, subject) : strf("l%s", subject);
	if (!key)
		goto oom;
	if (v) {
		struct node *n = cache_find(r, key);

		free(key);
		if (n) {
			count(&n_cache_hits);
			*out = n->schema;
			return 1;
		}
	} else if ((latest = cache_find(r, key))) {
		free(key);
		if (latest->schema && now_ms() < latest->expires_ms) {
			count(&n_cache_hits);
			*out = latest->schema;
			return 1;
		}
	} else if (!(latest = cache_add(r, key, NULL))) {
		goto oom;
	}

	if (!(esc = curl_easy_escape(r->curl, subject, 0)))
		goto oom;
	if (v)
		path = strf("/subjects/%s/versions/%d", esc, v);
	else
		path = strf("/subjects/%s/versions/latest", esc);
	curl_free(esc);
	if (!path)
		goto oom;
	rc = get(r, path, &root, errstr, errstr_size);
	if (rc == 1 && !(s = keep_version(r, root, subject, why, sizeof(why)))) {
		eddy_errf(errstr, errstr_size, "schema registry GET %s: %s", path, why);
		rc = -1;
	}
	free(path);
	if (rc < 0)
		count(&n_failures);
	if (!latest) {
		if (rc == 1)
			*out = s;
		return rc;
	}
	if (rc == 1) {
		latest->schema = s;
		latest->expires_ms = now_ms() + r->latest_ttl_ms;
		*out = s;
	} else if (rc < 0 && latest->schema) {
		/* The registry could not be asked: the version known a moment
		 * ago is a better answer than none, and the consumer goes on. */
		eddy_log(EDDY_LOG_WARN,
		         "%s; using the cached latest version %d of subject %s (schema id %d)",
		         errstr, latest->schema->version, subject, latest->schema->id);
		latest->expires_ms = now_ms() + r->latest_retry_ms;
		*out = latest->schema;
		rc = 1;
	} else if (rc == 0) {
		/* The registry says the subject is gone (deleted): believe it. */
		latest->schema = NULL;
	}
	return rc;
oom:
	eddy_errf(errstr, errstr_size, "schema registry: out of memory");
	count(&n_failures);
	return -1;
}

void eddy_registry_counters(struct eddy_registry_counters *out)
{
	out->ok = atomic_load_explicit(&n_ok, memory_order_relaxed);
	out->not_found = atomic_load_explicit(&n_not_found, memory_order_relaxed);
	out->errors = atomic_load_explicit(&n_errors, memory_order_relaxed);
	out->cache_hits = atomic_load_explicit(&n_cache_hits, memory_order_relaxed);
	out->failures = atomic_load_explicit(&n_failures, memory_order_relaxed);
}
