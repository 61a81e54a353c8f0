/* schemas.c - finds the schema of each record (wire-format id, dataschema,
 * type mapping, registry subject), decodes Avro and validates; local files
 * come through schema_files.c. */
#include "schemas.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "avro.h"
#include "glob_match.h"
#include "log.h"
#include "readfile.h"
#include "registry.h"
#include "text.h"

/* ---- registry schemas ---------------------------------------------------- */

/* A schema of the registry, compiled once per id. error is set when it
 * cannot be used (unknown id, does not compile): records naming it are
 * invalid; an unknown id is asked again after UNKNOWN_RETRY_S. */
struct wire {
	int id;
	enum eddy_registry_type type;
	const struct eddy_jsonschema *json;
	struct eddy_avro_schema *avro;
	char *uri;
	char *error;
	time_t asked;
	bool unknown;
};

#define UNKNOWN_RETRY_S 30

struct memo {
	char key[256];
	size_t len;
	bool valid;
	const struct eddy_jsonschema *schema;
};

struct eddy_schemas {
	const struct eddy_config *conf;
	struct eddy_schema_files *files;
	struct eddy_jsonschema_set *set;
	struct eddy_registry *registry;
	struct type_map {
		const char *glob;
		const struct eddy_jsonschema *schema;
	} * types;
	size_t n_types;
	struct wire *wires;
	size_t n_wires;
	struct eddy_text_pair *refs; /* registry reference name -> schema text */
	size_t n_refs;
	char **unknown; /* dataschema URIs found nowhere */
	size_t n_unknown;
	struct miss {
		char *subject; /* a registry subject without schema */
		time_t at;
	} * misses;
	size_t n_misses;
	struct memo last_type, last_dataschema;
	/* the record between unwrap and check */
	const struct wire *cur;
	struct eddy_jsonschema_result last; /* of the record's failed validation */
	struct eddy_json_doc *pub_doc;      /* data of ctx.publish */
	bool have_last;
	char *avro_json;
};

/* Resolves registry references by name first, then local files. */
static int resolve(void *ud, const char *uri, char **text, size_t *len, char *errstr,
                   size_t errstr_size)
{
	struct eddy_schemas *s = ud;
	size_t ul = strlen(uri);
	for (size_t i = 0; i < s->n_refs; i++) {
		size_t nl = strlen(s->refs[i].a);
		if (strcmp(uri, s->refs[i].a) == 0 || (ul > nl && uri[ul - nl - 1] == '/' &&
		                                       strcmp(uri + ul - nl, s->refs[i].a) == 0)) {
			*text = strdup(s->refs[i].b);
			*len = strlen(s->refs[i].b);
			return *text ? 0 : -1;
		}
	}
	return eddy_schema_files_resolve(s->files, uri, text, len, errstr, errstr_size);
}

static int dialect_of(const char *name)
{
	int d = eddy_jsonschema_dialect_parse(name);
	return d < 0 ? EDDY_JSONSCHEMA_DRAFT7 : d;
}

/* A schemas.types value: a $id (anything with a colon) or a file below
 * schemas.dir. */
static const struct eddy_jsonschema *load_named(struct eddy_schemas *s, const char *name,
                                                char *errstr, size_t errstr_size)
{
	if (strchr(name, ':'))
		return eddy_jsonschema_lookup(s->set, name, errstr, errstr_size);
	char path[PATH_MAX];
	size_t len;
	snprintf(path, sizeof path, "%s/%s", s->conf->schemas_dir, name);
	char *text = eddy_read_file(path, &len, errstr, errstr_size);
	if (!text)
		return NULL;
	char *uri = eddy_schema_file_uri(path);
	const struct eddy_jsonschema *sc =
	    uri ? eddy_jsonschema_add(s->set, text, len, uri, errstr, errstr_size) : NULL;
	if (!uri)
		eddy_errf(errstr, errstr_size, "%s: %s", path, strerror(errno));
	free(uri);
	free(text);
	return sc;
}

void eddy_schemas_registry_conf(const struct eddy_config *conf, struct eddy_registry_conf *rc)
{
	*rc = (struct eddy_registry_conf){
	    .url = conf->registry_url,
	    .username = conf->registry_username,
	    .password = conf->registry_password,
	    .ca_location = conf->registry_ca_location,
	    .insecure_skip_verify = conf->registry_insecure_skip_verify,
	    .timeout_ms = conf->registry_timeout_ms,
	    .retries = conf->registry_retries,
	    .latest_ttl_ms = conf->registry_cache_latest_ms,
	};
}

struct eddy_schemas *eddy_schemas_new(const struct eddy_config *conf, char *errstr,
                                      size_t errstr_size)
{
	struct eddy_schemas *s = calloc(1, sizeof *s);
	char err[1024];

	if (!s || !(s->files = eddy_schema_files_new()))
		goto oom;
	s->conf = conf;
	struct eddy_jsonschema_opts opts = {
	    .default_dialect = (enum eddy_jsonschema_dialect)dialect_of(conf->schemas_dialect),
	    .format_assert = conf->schemas_format_assert,
	    .max_errors = 4,
	    .max_steps = (uint64_t)conf->schemas_max_validation_steps,
	    .resolve = resolve,
	    .resolve_ud = s,
	};
	if (!(s->set = eddy_jsonschema_set_new(&opts)))
		goto oom;
	if (eddy_schema_files_index(s->files, conf->schemas_dir, false, err, sizeof err) != 0) {
		eddy_errf(errstr, errstr_size, "schemas.dir: %s", err);
		goto fail;
	}
	for (size_t i = 0; i < conf->n_schema_map; i++)
		if (eddy_schema_files_map(s->files, conf->schema_map[i].key,
		                          conf->schema_map[i].value, errstr, errstr_size) != 0)
			goto fail;
	if (conf->n_schema_types && !(s->types = calloc(conf->n_schema_types, sizeof *s->types)))
		goto oom;
	for (size_t i = 0; i < conf->n_schema_types; i++) {
		const struct eddy_config_kv *kv = &conf->schema_types[i];
		s->types[i].glob = kv->key;
		s->types[i].schema = load_named(s, kv->value, err, sizeof err);
		if (!s->types[i].schema) {
			eddy_errf(errstr, errstr_size, "schemas.types: \"%s\": %s", kv->key, err);
			goto fail;
		}
		s->n_types++;
	}
	if (conf->registry_url) {
		struct eddy_registry_conf rc;
		eddy_schemas_registry_conf(conf, &rc);
		if (!(s->registry = eddy_registry_new(&rc, err, sizeof err))) {
			eddy_errf(errstr, errstr_size, "registry: %s", err);
			goto fail;
		}
	}
	return s;
oom:
	eddy_errf(errstr, errstr_size, "out of memory");
fail:
	eddy_schemas_destroy(s);
	return NULL;
}

void eddy_schemas_destroy(struct eddy_schemas *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_wires; i++) {
		eddy_avro_schema_free(s->wires[i].avro);
		free(s->wires[i].uri);
		free(s->wires[i].error);
	}
	free(s->wires);
	for (size_t i = 0; i < s->n_unknown; i++)
		free(s->unknown[i]);
	free(s->unknown);
	for (size_t i = 0; i < s->n_misses; i++)
		free(s->misses[i].subject);
	free(s->misses);
	eddy_text_pairs_free(s->refs, s->n_refs);
	free(s->types);
	free(s->avro_json);
	eddy_json_doc_destroy(s->pub_doc);
	eddy_registry_destroy(s->registry);
	eddy_jsonschema_set_destroy(s->set);
	eddy_schema_files_destroy(s->files);
	free(s);
}

/* Loads the schemas a registry schema references (by subject and version)
 * so that its $refs find them by name. Returns 1, 0 (a reference is not
 * in the registry), -1 (the registry could not be asked). */
static int load_refs(struct eddy_schemas *s, const struct eddy_registry_schema *rs, int depth,
                     char *errstr, size_t errstr_size)
{
	for (size_t i = 0; i < rs->n_refs; i++) {
		const struct eddy_registry_ref *ref = &rs->refs[i];
		const struct eddy_registry_schema *dep;
		char version[16];
		bool have = false;

		for (size_t j = 0; j < s->n_refs && !have; j++)
			have = strcmp(s->refs[j].a, ref->name) == 0;
		if (have)
			continue;
		if (depth > 16) {
			eddy_errf(errstr, errstr_size, "references nest deeper than 16");
			return 0;
		}
		snprintf(version, sizeof version, "%d", ref->version);
		int rc = eddy_registry_by_subject(s->registry, ref->subject, version, &dep, errstr,
		                                  errstr_size);
		if (rc <= 0)
			return rc;
		if (eddy_text_pair_push(&s->refs, &s->n_refs, ref->name, dep->schema) < 0) {
			eddy_errf(errstr, errstr_size, "out of memory");
			return -1;
		}
		if ((rc = load_refs(s, dep, depth + 1, errstr, errstr_size)) <= 0)
			return rc;
	}
	return 1;
}

static struct wire *wire_find(struct eddy_schemas *s, int id)
{
	for (size_t i = 0; i < s->n_wires; i++)
		if (s->wires[i].id == id)
			return &s->wires[i];
	return NULL;
}

/* Compiles a registry schema into the cache entry w. */
static void wire_compile(struct eddy_schemas *s, struct wire *w,
                         const struct eddy_registry_schema *rs)
{
	char err[1024], uri[1200];

	w->type = rs->type;
	snprintf(uri, sizeof uri, "%s/schemas/ids/%d", s->conf->registry_url, w->id);
	w->uri = strdup(uri);
	if (rs->type == EDDY_REGISTRY_JSON) {
		w->json = eddy_jsonschema_add(s->set, rs->schema, rs->len, uri, err, sizeof err);
		if (!w->json)
			w->error = strdup(err);
	} else if (rs->type == EDDY_REGISTRY_AVRO) {
		w->avro = eddy_avro_schema_parse(rs->schema, rs->len, err, sizeof err);
		if (!w->avro)
			w->error = strdup(err);
	} else {
		w->error = strdup("it is a PROTOBUF schema, which eddy does not read");
	}
	if (w->error || !w->uri) {
		eddy_log(EDDY_LOG_ERROR, "schema id %d of the registry cannot be used: %s", w->id,
		         w->error ? w->error : "out of memory");
	}
}

/* The cache entry of a registry schema, looked up by id or (id 0) by
 * subject. Returns 1 with *out, 0 when the registry does not know it
 * (*out is NULL, or an entry with error set), -1 when the registry could
 * not be asked. */
static int wire_get(struct eddy_schemas *s, int id, const char *subject, struct wire **out,
                    char *errstr, size_t errstr_size)
{
	const struct eddy_registry_schema *rs;
	struct wire *w = id ? wire_find(s, id) : NULL;
	time_t now = time(NULL);
	int rc;

	*out = NULL;
	/* a subject without schema is asked again only after a while, not
	 * once per record of its topic */
	struct miss *miss = NULL;
	for (size_t i = 0; subject && i < s->n_misses && !miss; i++)
		if (strcmp(s->misses[i].subject, subject) == 0)
			miss = &s->misses[i];
	if (miss && now - miss->at < UNKNOWN_RETRY_S) {
		eddy_errf(errstr, errstr_size, "subject %s has no schema", subject);
		return 0;
	}
	if (w && (!w->unknown || now - w->asked < UNKNOWN_RETRY_S)) {
		*out = w;
		if (w->unknown)
			eddy_errf(errstr, errstr_size, "%s", w->error);
		return w->unknown ? 0 : 1;
	}
	rc = subject ? eddy_registry_by_subject(s->registry, subject, "latest", &rs, errstr,
	                                        errstr_size)
	             : eddy_registry_by_id(s->registry, id, &rs, errstr, errstr_size);
	if (rc < 0)
		return -1;
	if (rc == 0 && subject) {
		/* says nothing about ids; remembered, bounded as the subjects
		 * come from the records' topics and types */
		if (miss) {
			miss->at = now;
		} else if (s->n_misses < 1024) {
			struct miss *m = realloc(s->misses, (s->n_misses + 1) * sizeof *m);
			if (m) {
				s->misses = m;
				if ((m[s->n_misses].subject = strdup(subject)))
					m[s->n_misses++].at = now;
			}
		}
		return 0;
	}
	if (rc > 0) {
		if (subject)
			id = rs->id;
		if ((rc = load_refs(s, rs, 0, errstr, errstr_size)) < 0)
			return -1;
	}
	if (!w && !(w = wire_find(s, id))) {
		struct wire *v = realloc(s->wires, (s->n_wires + 1) * sizeof *v);
		if (!v) {
			eddy_errf(errstr, errstr_size, "out of memory");
			return -1;
		}
		s->wires = v;
		w = &v[s->n_wires++];
		memset(w, 0, sizeof *w);
		w->id = id;
	} else if (!w->unknown) {
		*out = w; /* the latest version is one already compiled */
		return 1;
	}
	w->asked = now;
	if (rc == 0) {
		w->unknown = true;
		free(w->error);
		w->error = strdup(errstr);
		*out = w;
		return 0;
	}
	w->unknown = false;
	free(w->error);
	w->error = NULL;
	wire_compile(s, w, rs);
	*out = w;
	return 1;
}

/* ---- the check of a record ----------------------------------------------- */

enum eddy_schemas_outcome eddy_schemas_unwrap(struct eddy_schemas *s, const struct eddy_msg *m,
                                              struct eddy_msg *out, char *reason,
                                              size_t reason_size)
{
	const unsigned char *v = (const unsigned char *)m->value;
	struct wire *w;
	char err[1024];

	*out = *m;
	s->cur = NULL;
	s->have_last = false;
	if (!v || !m->value_len)
		return EDDY_SCHEMAS_VALID;
	if (v[0] != 0) {
		/* JSON starts with a printable character or blank; with a
		 * registry any other first byte is a framing we do not know */
		if (s->registry && v[0] < 0x20 && v[0] != '\t' && v[0] != '\n' && v[0] != '\r') {
			eddy_errf(reason, reason_size,
			          "unknown magic byte 0x%02x (the wire format starts with 0x00)",
			          v[0]);
			return EDDY_SCHEMAS_INVALID;
		}
		return EDDY_SCHEMAS_VALID;
	}
	if (m->value_len < 5) {
		eddy_errf(reason, reason_size,
		          "value of %zu bytes is too short for the wire format (magic byte and "
		          "4-byte schema id)",
		          m->value_len);
		return EDDY_SCHEMAS_INVALID;
	}
	uint32_t id = (uint32_t)v[1] << 24 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 8 | v[4];
	if (!s->registry) {
		eddy_errf(reason, reason_size,
		          "value is in the wire format (schema id %u) but no registry.url is "
		          "configured",
		          id);
		return EDDY_SCHEMAS_INVALID;
	}
	if (id == 0 || id > INT32_MAX) {
		eddy_errf(reason, reason_size, "schema id %u of the wire format is not valid", id);
		return EDDY_SCHEMAS_INVALID;
	}
	int rc = wire_get(s, (int)id, NULL, &w, err, sizeof err);
	if (rc < 0) {
		eddy_errf(reason, reason_size, "%s", err);
		return EDDY_SCHEMAS_RETRY;
	}
	if (rc == 0 || w->error) {
		eddy_errf(reason, reason_size, "schema id %u: %s", id, w ? w->error : err);
		return EDDY_SCHEMAS_INVALID;
	}
	s->cur = w;
	out->value = m->value + 5;
	out->value_len = m->value_len - 5;
	if (w->avro) {
		char *json;
		size_t len;
		if (eddy_avro_to_json(w->avro, out->value, out->value_len, &json, &len, err,
		                      sizeof err) != 0) {
			eddy_errf(reason, reason_size,
			          "Avro value does not decode with schema id %u: %s", id, err);
			return EDDY_SCHEMAS_INVALID;
		}
		free(s->avro_json);
		s->avro_json = json;
		out->value = json;
		out->value_len = len;
	}
	return EDDY_SCHEMAS_VALID;
}

/* Formats the first errors of an invalid result into one line:
 * "data/lines/0/quantity: -3 is less than the minimum of 0 (keyword
 * /properties/lines/items/properties/quantity/minimum of SCHEMA); 1 more
 * error". what is prepended to instance locations ("data" or ""). */
static void format_errors(const struct eddy_jsonschema_result *r, const char *what,
                          const char *schema_uri, char *out, size_t out_size)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < r->n_errors && i < 2 && n < out_size; i++) {
		const struct eddy_jsonschema_error *e = &r->errors[i];
		int k = snprintf(out + n, out_size - n, "%s%s%s: %s (keyword %s of %s)",
		                 i ? "; " : "", what, e->instance_location, e->message,
		                 *e->keyword_location ? e->keyword_location : "/", schema_uri);
		if (k < 0)
			break;
		n += (size_t)k;
	}
	if (r->n_errors > 2 && n < out_size)
		snprintf(out + n, out_size - n, "; %zu more error%s", r->n_errors - 2,
		         r->n_errors > 3 ? "s" : "");
}

/* Validates inst (NULL: absent data) against sc. */
static enum eddy_schemas_outcome validate(struct eddy_schemas *s, const struct eddy_jsonschema *sc,
                                          const struct eddy_json *inst, const char *what,
                                          char *reason, size_t reason_size)
{
	static const struct eddy_json null_json = {.type = EDDY_JSON_NULL};
	struct eddy_jsonschema_result r;

	if (eddy_jsonschema_validate(s->set, sc, inst ? inst : &null_json, &r))
		return EDDY_SCHEMAS_VALID;
	s->last = r;
	s->have_last = true;
	if (eddy_jsonschema_over_budget(s->set))
		eddy_errf(reason, reason_size,
		          "%s: validation against schema %s took more than "
		          "schemas.max_validation_steps (%d steps)",
		          *what ? what : "record", eddy_jsonschema_uri(sc),
		          s->conf->schemas_max_validation_steps);
	else if (!inst)
		eddy_errf(reason, reason_size, "data is absent, which schema %s does not allow",
		          eddy_jsonschema_uri(sc));
	else
		format_errors(&r, what, eddy_jsonschema_uri(sc), reason, reason_size);
	return EDDY_SCHEMAS_INVALID;
}

static bool is_unknown(struct eddy_schemas *s, const char *uri, size_t len)
{
	for (size_t i = 0; i < s->n_unknown; i++)
		if (strlen(s->unknown[i]) == len && memcmp(s->unknown[i], uri, len) == 0)
			return true;
	return false;
}

/* The local schema the event's dataschema names, NULL when none. */
/* The last answer of a lookup by text (a type, a dataschema): a stream
 * carries the same one event after event. */
static bool memo_get(const struct memo *m, const struct eddy_attr *a,
                     const struct eddy_jsonschema **out)
{
	if (!m->valid || m->len != a->len || memcmp(m->key, a->s, a->len) != 0)
		return false;
	*out = m->schema;
	return true;
}

static const struct eddy_jsonschema *memo_put(struct memo *m, const struct eddy_attr *a,
                                              const struct eddy_jsonschema *sc)
{
	m->valid = a->len <= sizeof m->key;
	if (m->valid) {
		memcpy(m->key, a->s, a->len);
		m->len = a->len;
		m->schema = sc;
	}
	return sc;
}

static const struct eddy_jsonschema *by_dataschema(struct eddy_schemas *s,
                                                   const struct eddy_event *ev)
{
	char uri[1024], err[512];
	const struct eddy_attr *a = &ev->dataschema;
	const struct eddy_jsonschema *sc;

	if (!a->s)
		return NULL;
	if (memo_get(&s->last_dataschema, a, &sc))
		return sc;
	if (a->len >= sizeof uri || is_unknown(s, a->s, a->len))
		return memo_put(&s->last_dataschema, a, NULL);
	memcpy(uri, a->s, a->len);
	uri[a->len] = '\0';
	sc = eddy_jsonschema_lookup(s->set, uri, err, sizeof err);
	if (sc)
		return memo_put(&s->last_dataschema, a, sc);
	eddy_log(EDDY_LOG_DEBUG, "dataschema %s: %s", uri, err);
	/* remembered, so the files are not searched again for every event;
	 * bounded, since the URIs come from the records */
	if (s->n_unknown < 1024) {
		char **u = realloc(s->unknown, (s->n_unknown + 1) * sizeof *u);
		if (u) {
			s->unknown = u;
			if ((u[s->n_unknown] = strdup(uri)))
				s->n_unknown++;
		}
	}
	return memo_put(&s->last_dataschema, a, NULL);
}

static const struct eddy_jsonschema *by_type(struct eddy_schemas *s, const struct eddy_event *ev)
{
	const struct eddy_jsonschema *sc;

	if (!ev->type.s)
		return NULL;
	if (memo_get(&s->last_type, &ev->type, &sc))
		return sc;
	for (size_t i = 0; i < s->n_types; i++)
		if (eddy_glob_match(s->types[i].glob, ev->type.s, ev->type.len))
			return memo_put(&s->last_type, &ev->type, s->types[i].schema);
	return memo_put(&s->last_type, &ev->type, NULL);
}

/* The registry subject of ev by the configured strategy. */
static bool subject_of(const struct eddy_schemas *s, const struct eddy_event *ev, char *out,
                       size_t out_size)
{
	const char *strategy = s->conf->registry_subject_strategy;
	const char *topic = ev->msg->topic;
	int n;

	if (strcmp(strategy, "topic") == 0) {
		if (!topic)
			return false;
		n = snprintf(out, out_size, "%s-value", topic);
	} else if (!ev->type.s) {
		return false;
	} else if (strcmp(strategy, "record") == 0) {
		n = snprintf(out, out_size, "%.*s", (int)ev->type.len, ev->type.s);
	} else {
		if (!topic)
			return false;
		n = snprintf(out, out_size, "%s-%.*s", topic, (int)ev->type.len, ev->type.s);
	}
	return n > 0 && (size_t)n < out_size;
}

/* Turns the JSON text an Avro payload decoded into (binary mode) into ev's
 * data. */
static enum eddy_schemas_outcome avro_data(struct eddy_event *ev, struct eddy_json_doc *doc,
                                           const char *json, size_t len, char *reason,
                                           size_t reason_size)
{
	char jerr[256] = "";
	ev->data_json = eddy_json_parse(doc, json, len, jerr, sizeof jerr);
	if (!ev->data_json) {
		eddy_errf(reason, reason_size, "Avro value decoded into invalid JSON: %s", jerr);
		return EDDY_SCHEMAS_INVALID;
	}
	ev->data_bytes.s = NULL;
	ev->data_bytes.len = 0;
	return EDDY_SCHEMAS_VALID;
}

enum eddy_schemas_outcome eddy_schemas_check(struct eddy_schemas *s, struct eddy_event *ev,
                                             struct eddy_json_doc *doc, char *reason,
                                             size_t reason_size)
{
	const struct wire *w = s->cur;
	const struct eddy_jsonschema *sc;
	char err[1024];

	if (ev->deleted)
		return EDDY_SCHEMAS_VALID;
	if (w) {
		/* a wire-format schema covers what follows the prefix: the
		 * whole CloudEvent in structured mode, the data in binary mode */
		if (w->avro) {
			if (ev->mode == EDDY_ENVELOPE_BINARY && ev->data_bytes.s == s->avro_json)
				return avro_data(ev, doc, ev->data_bytes.s, ev->data_bytes.len,
				                 reason, reason_size);
			return EDDY_SCHEMAS_VALID;
		}
		if (ev->mode == EDDY_ENVELOPE_STRUCTURED)
			return validate(s, w->json, ev->root, "", reason, reason_size);
		sc = w->json;
	} else if (!(sc = by_dataschema(s, ev)) && !(sc = by_type(s, ev)) && s->registry) {
		struct wire *sw;
		char subject[512];
		int rc = 0;

		if (subject_of(s, ev, subject, sizeof subject))
			rc = wire_get(s, 0, subject, &sw, err, sizeof err);
		if (rc < 0) {
			eddy_errf(reason, reason_size, "%s", err);
			return EDDY_SCHEMAS_RETRY;
		}
		if (rc > 0 && sw->error) {
			eddy_errf(reason, reason_size, "schema of subject %s (id %d): %s", subject,
			          sw->id, sw->error);
			return EDDY_SCHEMAS_INVALID;
		}
		if (rc > 0 && sw->avro) {
			char *json;
			size_t len;
			if (!ev->data_bytes.s) {
				eddy_errf(
				    reason, reason_size,
				    "subject %s has an Avro schema (id %d), but data is not Avro",
				    subject, sw->id);
				return EDDY_SCHEMAS_INVALID;
			}
			if (eddy_avro_to_json(sw->avro, ev->data_bytes.s, ev->data_bytes.len, &json,
			                      &len, err, sizeof err) != 0) {
				eddy_errf(reason, reason_size,
				          "Avro data does not decode with schema id %d: %s", sw->id,
				          err);
				return EDDY_SCHEMAS_INVALID;
			}
			free(s->avro_json);
			s->avro_json = json;
			return avro_data(ev, doc, json, len, reason, reason_size);
		}
		sc = rc > 0 ? sw->json : NULL;
	}
	if (!sc) {
		if (!s->conf->schemas_required)
			return EDDY_SCHEMAS_VALID;
		eddy_errf(reason, reason_size,
		          "no schema for type \"%.*s\" (no wire-format schema id, no known "
		          "dataschema, no schemas.types entry%s)",
		          (int)ev->type.len, ev->type.s ? ev->type.s : "",
		          s->registry ? ", no registry subject" : "");
		return EDDY_SCHEMAS_INVALID;
	}
	if (ev->data_bytes.s) {
		eddy_errf(reason, reason_size,
		          "data is %.*s, not JSON, so schema %s cannot check it",
		          (int)ev->datacontenttype.len,
		          ev->datacontenttype.s ? ev->datacontenttype.s : "bytes",
		          eddy_jsonschema_uri(sc));
		return EDDY_SCHEMAS_INVALID;
	}
	return validate(s, sc, ev->data_json, "data", reason, reason_size);
}

enum eddy_schemas_outcome eddy_schemas_check_data(struct eddy_schemas *s, const char *topic,
                                                  const char *type, const char *dataschema,
                                                  const char *data, size_t len, char *reason,
                                                  size_t reason_size)
{
	char jerr[256] = "";

	if (!s->pub_doc && !(s->pub_doc = eddy_json_doc_new())) {
		eddy_errf(reason, reason_size, "out of memory");
		return EDDY_SCHEMAS_INVALID;
	}
	/* the same path as a record without wire format: a record made up of
	 * what the event will be */
	struct eddy_msg m = {.topic = topic, .partition = -1, .offset = -1, .timestamp_ms = -1};
	struct eddy_event ev = {.msg = &m, .mode = EDDY_ENVELOPE_STRUCTURED};
	ev.type = (struct eddy_attr){type, strlen(type)};
	if (dataschema)
		ev.dataschema = (struct eddy_attr){dataschema, strlen(dataschema)};
	ev.data_json = eddy_json_parse(s->pub_doc, data, len, jerr, sizeof jerr);
	if (!ev.data_json) {
		eddy_errf(reason, reason_size, "data is not JSON: %s", jerr);
		return EDDY_SCHEMAS_INVALID;
	}
	s->cur = NULL;
	s->have_last = false;
	return eddy_schemas_check(s, &ev, s->pub_doc, reason, reason_size);
}

const struct eddy_jsonschema_result *eddy_schemas_last_errors(const struct eddy_schemas *s)
{
	return s->have_last ? &s->last : NULL;
}
