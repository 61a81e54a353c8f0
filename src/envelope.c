/* envelope.c - decodes a Kafka record into a CloudEvent (structured or binary
 * content mode) and checks the domain's key, tenant and topic conventions. */
#include "envelope.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "glob_match.h"
#include "utf8.h"

/* Longest part of a quoted value a reason shows: a reason is one log line
 * and one Kafka header, not a copy of the record. */
#define QUOTE_MAX 64

/* Room for a tenant topic pattern once "{tenant}" is replaced. Kafka topic
 * names are at most 249 bytes, so a pattern this long is a mistake. */
#define PATTERN_MAX 1024

/* The prefix of every CloudEvents media type (Kafka binding 3). */
#define CE_MEDIA_TYPE "application/cloudevents"

/* ---- reasons ---------------------------------------------------------- */

/* A reason being written into the caller's buffer. Units (one character or
 * one escape) go in whole or not at all, so a full buffer never ends in half
 * a UTF-8 sequence or half an escape. */
struct reason {
	char *buf;
	size_t size;
	size_t len;
	bool full;
};

static void put(struct reason *r, const char *s, size_t n)
{
	if (r->full || !r->size)
		return;
	if (r->len + n >= r->size) {
		r->full = true;
		return;
	}
	memcpy(r->buf + r->len, s, n);
	r->len += n;
	r->buf[r->len] = '\0';
}

/* Appends s[0..len) so that the reason stays one printable line: control
 * characters (C0, DEL, C1) and bytes that are not UTF-8 become escapes.
 * quoted: also escapes '"' and '\\', and shows at most QUOTE_MAX bytes of s
 * followed by "..." when there is more. */
static void put_escaped(struct reason *r, const char *s, size_t len, bool quoted)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;
	uint32_t cp;
	char esc[8];

	if (quoted)
		put(r, "\"", 1);
	while (i < len) {
		n = eddy_utf8_decode(s + i, len - i, &cp);
		if (quoted && i + (n ? n : 1) > QUOTE_MAX)
			break;
		if (!n) {
			snprintf(esc, sizeof esc, "\\x%02x", p[i]);
			put(r, esc, 4);
			n = 1;
		} else if (cp == '\n') {
			put(r, "\\n", 2);
		} else if (cp == '\r') {
			put(r, "\\r", 2);
		} else if (cp == '\t') {
			put(r, "\\t", 2);
		} else if (cp < 0x20 || cp == 0x7f) {
			snprintf(esc, sizeof esc, "\\x%02x", (unsigned)cp);
			put(r, esc, 4);
		} else if (cp >= 0x80 && cp < 0xa0) {
			snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
			put(r, esc, 6);
		} else if (quoted && (cp == '"' || cp == '\\')) {
			esc[0] = '\\';
			esc[1] = (char)cp;
			put(r, esc, 2);
		} else {
			put(r, s + i, n);
		}
		i += n;
	}
	if (quoted)
		put(r, "\"", 1);
	/* The ellipsis goes outside the quotes: a value that really ends in
	 * "..." stays distinguishable from a cut one. */
	if (i < len)
		put(r, "...", 3);
}

/* Writes a reason from fmt and returns -1, so that a check reads
 * `return fail(r, ...)`. Directives: %s a NUL-terminated string (escaped,
 * not quoted), %q a string as (const char *, size_t) shown quoted and cut at
 * QUOTE_MAX bytes, %u an unsigned, %% a percent sign. Values that come from
 * the record go through %q or %s only, never into fmt. */
static int fail(struct reason *r, const char *fmt, ...)
{
	va_list ap;
	const char *s, *lit;
	size_t n;
	char num[24];

	r->len = 0;
	r->full = false;
	if (r->size)
		r->buf[0] = '\0';
	va_start(ap, fmt);
	while (*fmt) {
		lit = fmt;
		while (*fmt && *fmt != '%')
			fmt++;
		/* fmt is ASCII, so it may be cut anywhere */
		for (; lit < fmt; lit++)
			put(r, lit, 1);
		if (!*fmt)
			break;
		switch (fmt[1]) {
		case 's':
			s = va_arg(ap, const char *);
			put_escaped(r, s ? s : "(null)", s ? strlen(s) : 6, false);
			break;
		case 'q':
			s = va_arg(ap, const char *);
			n = va_arg(ap, size_t);
			put_escaped(r, s ? s : "", s ? n : 0, true);
			break;
		case 'u':
			snprintf(num, sizeof num, "%u", va_arg(ap, unsigned));
			put(r, num, strlen(num));
			break;
		default: /* "%%", or a stray '%' at the end */
			put(r, "%", 1);
			break;
		}
		fmt += fmt[1] ? 2 : 1;
	}
	va_end(ap);
	return -1;
}

/* ---- small string helpers -------------------------------------------- */

static bool eq(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len == n && memcmp(s, lit, n) == 0;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool ieq(const char *a, size_t alen, const char *lit)
{
	size_t i, n = strlen(lit);

	if (alen != n)
		return false;
	for (i = 0; i < n; i++)
		if (lower(a[i]) != lit[i])
			return false;
	return true;
}

static bool iprefix(const char *s, size_t len, const char *lit)
{
	return len >= strlen(lit) && ieq(s, strlen(lit), lit);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* The media type of a content type: parameters (";charset=utf-8") and
 * surrounding blanks dropped. */
static void media_type(const char *s, size_t len, const char **out, size_t *out_len)
{
	size_t end = 0;

	while (end < len && s[end] != ';')
		end++;
	while (end && is_space(s[end - 1]))
		end--;
	while (end && is_space(*s)) {
		s++;
		end--;
	}
	*out = s;
	*out_len = end;
}

/* JSON event format's rule for JSON data: a media subtype of "json" or one
 * ending in "+json" (application/json, text/json, application/foo+json). */
static bool is_json_type(const char *s, size_t len)
{
	const char *mt, *sub;
	size_t mt_len, sub_len;

	media_type(s, len, &mt, &mt_len);
	sub = memchr(mt, '/', mt_len);
	if (!sub)
		return false;
	sub++;
	sub_len = mt_len - (size_t)(sub - mt);
	return ieq(sub, sub_len, "json") || (sub_len > 5 && ieq(sub + sub_len - 5, 5, "+json"));
}

/* JSON's own name for v's type: a user writes numbers, not integers. */
static const char *kind(const struct eddy_json *v)
{
	return v->type == EDDY_JSON_INT ? "number" : eddy_json_type_name(v->type);
}

/* ---- RFC 3339 ---------------------------------------------------------- */

/* The value of n ASCII digits at s, or -1. */
static int digits(const char *s, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int days_in_month(int year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* RFC 3339 section 5.6 date-time: the ABNF only, so no space instead of 'T'
 * and no missing offset; a leap second (:60) is accepted at any minute since
 * checking it needs the leap second table. */
bool eddy_envelope_rfc3339(const char *s, size_t len)
{
	int year, month, day, hour, minute, second;
	size_t i;

	if (!s || len < 20)
		return false;
	year = digits(s, 4);
	month = digits(s + 5, 2);
	day = digits(s + 8, 2);
	hour = digits(s + 11, 2);
	minute = digits(s + 14, 2);
	second = digits(s + 17, 2);
	if (year < 0 || s[4] != '-' || month < 1 || month > 12 || s[7] != '-' || day < 1 ||
	    day > days_in_month(year, month) || (s[10] != 'T' && s[10] != 't') || hour < 0 ||
	    hour > 23 || s[13] != ':' || minute < 0 || minute > 59 || s[16] != ':' || second < 0 ||
	    second > 60)
		return false;
	i = 19;
	if (s[i] == '.') {
		i++;
		if (i >= len || digits(s + i, 1) < 0)
			return false;
		while (i < len && digits(s + i, 1) >= 0)
			i++;
	}
	if (i < len && (s[i] == 'Z' || s[i] == 'z'))
		return i + 1 == len;
	if (i < len && (s[i] == '+' || s[i] == '-')) {
		if (len - i != 6)
			return false;
		hour = digits(s + i + 1, 2);
		minute = digits(s + i + 4, 2);
		return hour >= 0 && hour <= 23 && s[i + 3] == ':' && minute >= 0 && minute <= 59;
	}
	return false;
}

/* ---- decoding ---------------------------------------------------------- */

/* The attributes every mode fills by name. */
static struct eddy_attr *known_attr(struct eddy_event *ev, const char *name, size_t len)
{
	static const struct {
		const char *name;
		size_t off;
	} attrs[] = {
	    {"id", offsetof(struct eddy_event, id)},
	    {"source", offsetof(struct eddy_event, source)},
	    {"specversion", offsetof(struct eddy_event, specversion)},
	    {"type", offsetof(struct eddy_event, type)},
	    {"subject", offsetof(struct eddy_event, subject)},
	    {"time", offsetof(struct eddy_event, time)},
	    {"datacontenttype", offsetof(struct eddy_event, datacontenttype)},
	    {"dataschema", offsetof(struct eddy_event, dataschema)},
	};
	size_t i;

	for (i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
		if (eq(name, len, attrs[i].name))
			return (struct eddy_attr *)((char *)ev + attrs[i].off);
	return NULL;
}

/* Reserves the next extension slot for name, or fails when it is taken
 * twice or there are too many. */
static struct eddy_extension *add_extension(struct eddy_event *ev, const char *name, size_t len,
                                            struct reason *r)
{
	struct eddy_extension *x;
	size_t i;

	for (i = 0; i < ev->n_extensions; i++)
		if (ev->extensions[i].name_len == len &&
		    !memcmp(ev->extensions[i].name, name, len)) {
			fail(r, "attribute %q appears more than once", name, len);
			return NULL;
		}
	if (ev->n_extensions == EDDY_ENVELOPE_MAX_EXTENSIONS) {
		fail(r, "too many extension attributes (more than %u)",
		     (unsigned)EDDY_ENVELOPE_MAX_EXTENSIONS);
		return NULL;
	}
	x = &ev->extensions[ev->n_extensions++];
	x->name = name;
	x->name_len = len;
	return x;
}

static void take_string(struct eddy_attr *a, const struct eddy_json *v)
{
	if (v && v->type == EDDY_JSON_STRING) {
		a->s = v->u.s;
		a->len = v->len;
	}
}

static int set_string(struct eddy_attr *a, const struct eddy_json *v, const char *name, size_t len,
                      struct reason *r)
{
	if (v->type != EDDY_JSON_STRING)
		return fail(r, "attribute %q must be a string, got %s", name, len, kind(v));
	take_string(a, v);
	return 0;
}

/* Structured mode: the value is a JSON CloudEvent, parsed into doc. A JSON
 * null attribute counts as absent (JSON event format 2.2), except "data",
 * where null is an explicit null payload (3.1.1). */
static int decode_structured(struct eddy_json_doc *doc, const struct eddy_msg *msg,
                             struct eddy_event *ev, struct reason *r)
{
	const struct eddy_json *root, *v, *base64 = NULL;
	const struct eddy_json_member *m;
	struct eddy_extension *x;
	struct eddy_attr *a;
	char jerr[256];
	uint32_t i;

	jerr[0] = '\0';
	root = eddy_json_parse(doc, msg->value, msg->value_len, jerr, sizeof jerr);
	if (!root)
		return fail(r, "value is not JSON: %s", jerr);
	if (root->type != EDDY_JSON_OBJECT)
		return fail(r, "value is a JSON %s, expected a CloudEvent object", kind(root));
	ev->root = root;

	for (i = 0; i < root->len; i++) {
		m = &root->u.members[i];
		v = &m->value;
		if (eq(m->key, m->key_len, "data")) {
			ev->data_json = v;
			continue;
		}
		if (v->type == EDDY_JSON_NULL)
			continue;
		if ((a = known_attr(ev, m->key, m->key_len))) {
			if (set_string(a, v, m->key, m->key_len, r))
				return -1;
		} else if (eq(m->key, m->key_len, "meta")) {
			if (v->type != EDDY_JSON_OBJECT)
				return fail(r, "attribute \"meta\" must be an object, got %s",
				            kind(v));
			ev->meta = v;
			/* Wrong types stay unset here; the tenant check reports
			 * them when a tenant is needed. */
			take_string(&ev->tenant, eddy_json_getz(v, "tenant"));
			take_string(&ev->correlation_id, eddy_json_getz(v, "correlation_id"));
		} else {
			/* data_base64 is kept as an extension, not decoded: no
			 * handler needs it yet and decoding would need memory
			 * the event does not own. */
			if (eq(m->key, m->key_len, "data_base64")) {
				if (v->type != EDDY_JSON_STRING)
					return fail(
					    r, "attribute \"data_base64\" must be a string, got %s",
					    kind(v));
				base64 = v;
			}
			x = add_extension(ev, m->key, m->key_len, r);
			if (!x)
				return -1;
			x->json = v;
		}
	}
	if (ev->data_json && base64)
		return fail(r, "both \"data\" and \"data_base64\" are present");
	return 0;
}

/* Binary mode: attributes are ce_<name> headers, content-type is
 * datacontenttype and the value is the data.
 *
 * The RELEX meta object has no place here: a binary-mode attribute is one
 * header with one string value, and eddy_json_doc holds a single document,
 * which the data already occupies (a second, hidden per-thread doc would
 * outlive the record and break "valid while msg and doc are"). So binary
 * mode reads the tenant and correlation id from the extension headers
 * ce_tenant and ce_correlationid (CloudEvents extension names are lowercase
 * letters and digits only), ev->meta stays NULL, and a ce_meta header is an
 * ordinary string extension, not parsed. A header with a null value counts
 * as absent, like a JSON null attribute. */
static int decode_binary(struct eddy_json_doc *doc, const struct eddy_msg *msg,
                         const struct eddy_header *ctype, struct eddy_event *ev, struct reason *r)
{
	const struct eddy_header *h;
	struct eddy_extension *x;
	struct eddy_attr *a;
	const char *name;
	size_t i, len;
	char jerr[256];

	for (i = 0; i < msg->n_headers; i++) {
		h = &msg->headers[i];
		if (!h->name || strncmp(h->name, "ce_", 3) != 0 || !h->value)
			continue;
		name = h->name + 3;
		len = strlen(name);
		if (!len)
			return fail(r, "header \"ce_\" names no attribute");
		if (!eddy_utf8_valid(h->value, h->len))
			return fail(r, "header %q is not valid UTF-8", h->name, strlen(h->name));
		if ((a = known_attr(ev, name, len))) {
			if (a->s)
				return fail(r, "header %q appears more than once", h->name,
				            strlen(h->name));
			a->s = h->value;
			a->len = h->len;
			continue;
		}
		x = add_extension(ev, name, len, r);
		if (!x)
			return -1;
		x->str.s = h->value;
		x->str.len = h->len;
		if (eq(name, len, "tenant"))
			ev->tenant = x->str;
		else if (eq(name, len, "correlationid"))
			ev->correlation_id = x->str;
	}
	/* The binding maps content-type to datacontenttype; it wins over a
	 * ce_datacontenttype header, which binary mode should not carry. */
	if (ctype) {
		ev->datacontenttype.s = ctype->value;
		ev->datacontenttype.len = ctype->len;
	}

	/* An empty value is taken as "no data" rather than as invalid JSON:
	 * tools that cannot write a null value write an empty one. */
	if (!msg->value || !msg->value_len)
		return 0;
	if (!ev->datacontenttype.s ||
	    is_json_type(ev->datacontenttype.s, ev->datacontenttype.len)) {
		jerr[0] = '\0';
		ev->data_json = eddy_json_parse(doc, msg->value, msg->value_len, jerr, sizeof jerr);
		if (!ev->data_json)
			return fail(r, "data is not JSON: %s", jerr);
	} else {
		ev->data_bytes.s = msg->value;
		ev->data_bytes.len = msg->value_len;
	}
	return 0;
}

/* Required attributes (not for tombstones) and the values of those present. */
static int check_attributes(const struct eddy_event *ev, struct reason *r)
{
	static const char *const required[] = {"specversion", "id", "source", "type"};
	const struct eddy_attr *req[] = {&ev->specversion, &ev->id, &ev->source, &ev->type};
	size_t i;

	for (i = 0; i < 4; i++) {
		if (!req[i]->s) {
			if (ev->deleted)
				continue;
			return fail(r, "required attribute \"%s\" is missing", required[i]);
		}
		if (!req[i]->len)
			return fail(r, "attribute \"%s\" must not be empty", required[i]);
		if (i == 0 && !eq(ev->specversion.s, ev->specversion.len, "1.0"))
			return fail(r, "specversion is %q, expected \"1.0\"", ev->specversion.s,
			            ev->specversion.len);
	}
	if (ev->time.s && !eddy_envelope_rfc3339(ev->time.s, ev->time.len))
		return fail(r, "time %q is not an RFC 3339 date-time", ev->time.s, ev->time.len);
	if (ev->dataschema.s && !ev->dataschema.len)
		return fail(r, "attribute \"dataschema\" must not be empty");
	return 0;
}

/* The tenant as the conventions need it, or a reason; why names the
 * setting that needs it. */
static int need_tenant(const struct eddy_event *ev, const char *why, struct reason *r)
{
	const char *name = ev->mode == EDDY_ENVELOPE_BINARY ? "header ce_tenant" : "meta.tenant";
	const struct eddy_json *t = ev->meta ? eddy_json_getz(ev->meta, "tenant") : NULL;

	if (!ev->tenant.s && t && t->type != EDDY_JSON_NULL)
		return fail(r, "%s must be a string, got %s%s", name, kind(t), why);
	if (!ev->tenant.s)
		return fail(r, "%s is missing%s", name, why);
	if (!ev->tenant.len)
		return fail(r, "%s is empty%s", name, why);
	return 0;
}

/* The topic must match conf's pattern with "{tenant}" replaced by the
 * tenant, taken literally (a '*' in a tenant is no wildcard). */
static int check_topic(const struct eddy_envelope_conf *conf, const struct eddy_event *ev,
                       struct reason *r)
{
	static const char var[] = "{tenant}";
	const char *pat = conf->tenant_topic_pattern, *hit, *topic = ev->msg->topic;
	char buf[PATTERN_MAX];
	uint8_t lit[PATTERN_MAX / 8];
	size_t n = 0, k, plen = strlen(pat);

	if (!topic)
		topic = "";
	memset(lit, 0, sizeof lit);
	while (*pat) {
		hit = strstr(pat, var);
		k = hit ? (size_t)(hit - pat) : strlen(pat);
		if (n + k > sizeof buf || (hit && n + k + ev->tenant.len > sizeof buf))
			return fail(r,
			            "tenant_topic_pattern %q is too long once \"{tenant}\" is "
			            "replaced by %q",
			            conf->tenant_topic_pattern, plen, ev->tenant.s, ev->tenant.len);
		memcpy(buf + n, pat, k);
		n += k;
		if (!hit)
			break;
		for (k = 0; k < ev->tenant.len; k++, n++) {
			buf[n] = ev->tenant.s[k];
			lit[n / 8] |= (uint8_t)(1u << (n % 8));
		}
		pat = hit + sizeof var - 1;
	}
	if (eddy_glob_match_lit(buf, n, lit, topic, strlen(topic)))
		return 0;
	if (!strstr(conf->tenant_topic_pattern, var))
		return fail(r, "topic %q does not match pattern %q", topic, strlen(topic),
		            conf->tenant_topic_pattern, plen);
	return fail(r, "topic %q does not match tenant %q (pattern %q)", topic, strlen(topic),
	            ev->tenant.s, ev->tenant.len, conf->tenant_topic_pattern, plen);
}

static int check_conventions(const struct eddy_envelope_conf *conf, const struct eddy_event *ev,
                             struct reason *r)
{
	const struct eddy_msg *msg = ev->msg;
	bool pattern_tenant;

	if (conf->require_key_equals_id) {
		if (!msg->key)
			return fail(r, "record has no key; id is %q", ev->id.s, ev->id.len);
		if (msg->key_len != ev->id.len || memcmp(msg->key, ev->id.s, ev->id.len) != 0)
			return fail(r, "key %q does not equal id %q", msg->key, msg->key_len,
			            ev->id.s, ev->id.len);
	}
	pattern_tenant =
	    conf->tenant_topic_pattern && strstr(conf->tenant_topic_pattern, "{tenant}");
	if (conf->require_tenant && need_tenant(ev, "", r))
		return -1;
	if (pattern_tenant && need_tenant(ev, " (tenant_topic_pattern needs it)", r))
		return -1;
	if (conf->tenant_topic_pattern && check_topic(conf, ev, r))
		return -1;
	return 0;
}

/* Finds the content-type header (name matched case-insensitively, as HTTP
 * bridges capitalise it) and whether a ce_specversion header is present. */
static int scan_headers(const struct eddy_msg *msg, const struct eddy_header **ctype,
                        bool *has_specversion, struct reason *r)
{
	const struct eddy_header *h;
	size_t i;

	*ctype = NULL;
	*has_specversion = false;
	for (i = 0; i < msg->n_headers; i++) {
		h = &msg->headers[i];
		if (!h->name)
			continue;
		if (strcmp(h->name, "ce_specversion") == 0) {
			*has_specversion = true;
		} else if (ieq(h->name, strlen(h->name), "content-type") && h->value) {
			if (*ctype)
				return fail(r, "header \"content-type\" appears more than once");
			*ctype = h;
		}
	}
	return 0;
}

/* Structured mode by content type: only the JSON event format can be read,
 * and the Kafka binding has no batch mode. */
static int check_structured_type(const struct eddy_header *ctype, const char *mt, size_t mt_len,
                                 struct reason *r)
{
	size_t n = strlen(CE_MEDIA_TYPE);

	if (mt_len == n || ieq(mt + n, mt_len - n, "+json"))
		return 0;
	if (iprefix(mt + n, mt_len - n, "-batch"))
		return fail(r,
		            "content-type %q is a CloudEvents batch, which Kafka records "
		            "cannot carry",
		            ctype->value, ctype->len);
	return fail(r, "content-type %q is a CloudEvents format other than JSON", ctype->value,
	            ctype->len);
}

int eddy_envelope_decode(const struct eddy_envelope_conf *conf, struct eddy_json_doc *doc,
                         const struct eddy_msg *msg, struct eddy_event *ev, char *reason,
                         size_t reason_size)
{
	struct reason r = {reason, reason_size, 0, false};
	const struct eddy_header *ctype;
	const char *mt = NULL;
	size_t mt_len = 0;
	bool has_specversion, structured_type;

	if (reason_size)
		reason[0] = '\0';
	memset(ev, 0, sizeof *ev);
	ev->msg = msg;
	if (scan_headers(msg, &ctype, &has_specversion, &r))
		return -1;
	if (ctype)
		media_type(ctype->value, ctype->len, &mt, &mt_len);
	structured_type = ctype && iprefix(mt, mt_len, CE_MEDIA_TYPE);
	/* A tombstone has no value to read, whatever its format. */
	if (structured_type && msg->value && check_structured_type(ctype, mt, mt_len, &r))
		return -1;
	/* Without either header the domain's producers send a JSON value. */
	ev->mode =
	    !structured_type && has_specversion ? EDDY_ENVELOPE_BINARY : EDDY_ENVELOPE_STRUCTURED;
	if (!msg->value) {
		ev->deleted = true;
		if (!msg->key || !msg->key_len)
			return fail(&r, "tombstone without a key");
	}
	if (ev->mode == EDDY_ENVELOPE_BINARY) {
		if (decode_binary(doc, msg, ctype, ev, &r))
			return -1;
	} else if (!ev->deleted && decode_structured(doc, msg, ev, &r)) {
		return -1;
	}
	if (check_attributes(ev, &r))
		return -1;
	/* A tombstone carries no event to hold to the conventions: its key is
	 * all there is, and deletes must not pile up as dead letters. */
	if (!ev->deleted && conf && check_conventions(conf, ev, &r))
		return -1;
	return 0;
}
