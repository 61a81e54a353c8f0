/* publish.c - builds the CloudEvents record of a ctx.publish call, after
 * checking its data against the schema of its type. */
#include "publish.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "jsonw.h"
#include "log.h"

void eddy_record_free(struct eddy_record *r)
{
	if (!r)
		return;
	free(r->topic);
	free(r->key);
	free(r->value);
	for (size_t i = 0; i < 2 * r->n_headers; i++)
		free(r->headers[i]);
	free(r->headers);
	memset(r, 0, sizeof *r);
}

/* A random (version 4) UUID, for events published without a key. */
static void uuid4(char out[37])
{
	unsigned char b[16];
	static const char hex[] = "0123456789abcdef";

	if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		for (size_t i = 0; i < sizeof b; i++)
			b[i] = (unsigned char)((ts.tv_nsec >> (i % 8)) ^ (i * 131) ^ rand());
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (int i = 0, o = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[36] = '\0';
}

/* What Kafka takes as a topic name: [A-Za-z0-9._-]{1,249}, not "." or "..". */
static bool topic_name_ok(const char *t)
{
	size_t n = strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
	return n && !t[n] && n <= 249 && strcmp(t, ".") != 0 && strcmp(t, "..") != 0;
}

/* len bytes of p in a NUL-terminated copy (the bytes may hold NULs). */
static char *memdup(const char *p, size_t len)
{
	char *c = malloc(len + 1);
	if (c) {
		memcpy(c, p, len);
		c[len] = '\0';
	}
	return c;
}

static int add_header(struct eddy_record *r, const char *name, const char *value, size_t len)
{
	char **h = realloc(r->headers, (r->n_headers + 1) * 2 * sizeof *h);
	if (!h)
		return -1;
	r->headers = h;
	h[2 * r->n_headers] = strdup(name);
	h[2 * r->n_headers + 1] = strndup(value, len);
	r->n_headers++;
	return h[2 * r->n_headers - 2] && h[2 * r->n_headers - 1] ? 0 : -1;
}

/* The meta object: correlation id and tenant of the triggering event, the
 * application and environment of this deployment. */
static void write_meta(struct eddy_jsonw *w, const struct eddy_config *conf,
                       const struct eddy_event *ev)
{
	eddy_jsonw_key(w, "meta");
	eddy_jsonw_object(w);
	if (ev && ev->correlation_id.s)
		eddy_jsonw_member(w, "correlation_id", ev->correlation_id.s,
		                  ev->correlation_id.len);
	if (ev && ev->tenant.s)
		eddy_jsonw_member(w, "tenant", ev->tenant.s, ev->tenant.len);
	eddy_jsonw_key(w, "source");
	eddy_jsonw_object(w);
	eddy_jsonw_member(w, "application", conf->publish_application,
	                  strlen(conf->publish_application));
	if (conf->publish_environment_type)
		eddy_jsonw_member(w, "environment_type", conf->publish_environment_type,
		                  strlen(conf->publish_environment_type));
	eddy_jsonw_end(w);
	eddy_jsonw_end(w);
}

/* The record's value and headers: a structured CloudEvent, or in binary
 * mode the data with the attributes as ce_ headers. -1 when out of memory. */
static int set_value(struct eddy_record *out, const struct eddy_config *conf,
                     const struct eddy_publish_req *req, const struct eddy_event *ev,
                     const char *id, size_t id_len, const char *when)
{
	if (!req->binary) {
		struct eddy_jsonw w;
		eddy_jsonw_init(&w, 0);
		eddy_jsonw_object(&w);
		eddy_jsonw_member(&w, "specversion", "1.0", 3);
		eddy_jsonw_member(&w, "id", id, id_len);
		eddy_jsonw_member(&w, "source", conf->publish_source, strlen(conf->publish_source));
		eddy_jsonw_member(&w, "type", req->type, strlen(req->type));
		eddy_jsonw_member(&w, "time", when, strlen(when));
		eddy_jsonw_member(&w, "datacontenttype", "application/json", 16);
		if (req->subject)
			eddy_jsonw_member(&w, "subject", req->subject, strlen(req->subject));
		if (req->dataschema)
			eddy_jsonw_member(&w, "dataschema", req->dataschema,
			                  strlen(req->dataschema));
		write_meta(&w, conf, ev);
		eddy_jsonw_key(&w, "data");
		eddy_jsonw_raw(&w, req->data, req->data_len);
		eddy_jsonw_end(&w);
		if (!(out->value = eddy_jsonw_take(&w, &out->value_len)))
			return -1;
		if (add_header(out, "content-type", "application/cloudevents+json", 28) != 0)
			return -1;
	} else {
		/* binary mode: the data is the value, attributes are ce_ headers
		 * (tenant and correlation id as envelope.c reads them) */
		if (!(out->value = strndup(req->data, req->data_len)))
			return -1;
		out->value_len = req->data_len;
		if (add_header(out, "ce_specversion", "1.0", 3) ||
		    add_header(out, "ce_id", id, id_len) ||
		    add_header(out, "ce_source", conf->publish_source,
		               strlen(conf->publish_source)) ||
		    add_header(out, "ce_type", req->type, strlen(req->type)) ||
		    add_header(out, "ce_time", when, strlen(when)) ||
		    add_header(out, "content-type", "application/json", 16) ||
		    (req->subject &&
		     add_header(out, "ce_subject", req->subject, strlen(req->subject))) ||
		    (req->dataschema &&
		     add_header(out, "ce_dataschema", req->dataschema, strlen(req->dataschema))) ||
		    (ev && ev->tenant.s &&
		     add_header(out, "ce_tenant", ev->tenant.s, ev->tenant.len)) ||
		    (ev && ev->correlation_id.s &&
		     add_header(out, "ce_correlationid", ev->correlation_id.s,
		                ev->correlation_id.len)))
			return -1;
	}
	return 0;
}

enum eddy_schemas_outcome eddy_publish_build(const struct eddy_config *conf, struct eddy_schemas *s,
                                             const struct eddy_publish_req *req,
                                             const struct eddy_event *ev, struct eddy_record *out,
                                             char *reason, size_t reason_size)
{
	char uuid[37], when[EDDY_TIME_LEN];
	const char *id = req->id;
	size_t id_len = id ? strlen(id) : 0;
	enum eddy_schemas_outcome so;

	memset(out, 0, sizeof *out);
	if (!req->topic || !*req->topic) {
		eddy_errf(reason, reason_size, "ctx.publish: topic is required");
		return EDDY_SCHEMAS_INVALID;
	}
	if (!topic_name_ok(req->topic)) {
		/* the broker would refuse the record after the batch committed */
		eddy_errf(
		    reason, reason_size,
		    "ctx.publish: topic \"%.64s\" is not a Kafka topic name (letters, digits, "
		    "'.', '_' and '-', at most 249)",
		    req->topic);
		return EDDY_SCHEMAS_INVALID;
	}
	if (!req->data) {
		/* a tombstone: the entity named by key is gone */
		if (!req->key || !req->key_len) {
			eddy_errf(reason, reason_size,
			          "ctx.publish: a tombstone (no data) needs a key");
			return EDDY_SCHEMAS_INVALID;
		}
	} else {
		if (!req->type || !*req->type) {
			eddy_errf(reason, reason_size, "ctx.publish: type is required");
			return EDDY_SCHEMAS_INVALID;
		}
		so = eddy_schemas_check_data(s, req->topic, req->type, req->dataschema, req->data,
		                             req->data_len, reason, reason_size);
		if (so != EDDY_SCHEMAS_VALID)
			return so;
	}
	if (!id) {
		if (req->key && req->key_len) {
			id = req->key;
			id_len = req->key_len;
		} else {
			uuid4(uuid);
			id = uuid;
			id_len = 36;
		}
	}
	if (!(out->topic = strdup(req->topic)))
		goto oom;
	if (req->key && !(out->key = memdup(req->key, req->key_len)))
		goto oom;
	out->key_len = req->key ? req->key_len : 0;
	eddy_time_rfc3339(eddy_now_ms(), when);

	if (req->data && set_value(out, conf, req, ev, id, id_len, when) != 0)
		goto oom;
	for (size_t i = 0; i < req->n_headers; i++)
		if (add_header(out, req->headers[2 * i], req->headers[2 * i + 1],
		               strlen(req->headers[2 * i + 1])) != 0)
			goto oom;
	return EDDY_SCHEMAS_VALID;
oom:
	eddy_record_free(out);
	eddy_errf(reason, reason_size, "ctx.publish: out of memory");
	return EDDY_SCHEMAS_INVALID;
}
