/* avro_encode.c - JSON text to one Avro binary datum, the way a producer
 * writes it: for tests, benchmarks and tests/tools/avro-encode. The service
 * only decodes (src/schema/avro.c), so its binary does not carry this. */
#include "avro_encode.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/avro_int.h"
#include "json.h"

/* ---- dates ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * algorithm; avro.c has the way back). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_days(int y, unsigned m)
{
	static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* ---- JSON to Avro value ---- */

static const char *type_name(const struct node *n)
{
	static const char *const names[] = {
	    [AVRO_STRING] = "string",   [AVRO_BYTES] = "bytes", [AVRO_INT32] = "int",
	    [AVRO_INT64] = "long",      [AVRO_FLOAT] = "float", [AVRO_DOUBLE] = "double",
	    [AVRO_BOOLEAN] = "boolean", [AVRO_NULL] = "null",   [AVRO_RECORD] = "record",
	    [AVRO_ENUM] = "enum",       [AVRO_FIXED] = "fixed", [AVRO_MAP] = "map",
	    [AVRO_ARRAY] = "array",     [AVRO_UNION] = "union", [AVRO_LINK] = "link",
	};

	if (n->logical)
		return eddy_avro_logical_names[n->logical];
	return (size_t)n->type < sizeof(names) / sizeof(names[0]) && names[n->type] ? names[n->type]
	                                                                            : "?";
}

static int mismatch(struct err *e, const struct node *n, const struct eddy_json *j)
{
	return eddy_avro_err_set(e, "expected %s, got %s", type_name(n),
	                         eddy_json_type_name((enum eddy_json_type)j->type));
}

/* Whether j is of the JSON type that n is written as (not whether it fits
 * all the way down): picks which union branch's error to report. */
static bool shallow_fits(const struct node *n, const struct eddy_json *j)
{
	switch (n->type) {
	case AVRO_NULL:
		return j->type == EDDY_JSON_NULL;
	case AVRO_BOOLEAN:
		return j->type == EDDY_JSON_TRUE || j->type == EDDY_JSON_FALSE;
	case AVRO_INT32:
	case AVRO_INT64:
		return j->type == EDDY_JSON_INT || j->type == EDDY_JSON_DOUBLE ||
		       (n->logical && j->type == EDDY_JSON_STRING);
	case AVRO_FLOAT:
	case AVRO_DOUBLE:
		return j->type == EDDY_JSON_INT || j->type == EDDY_JSON_DOUBLE;
	case AVRO_STRING:
	case AVRO_BYTES:
	case AVRO_FIXED:
	case AVRO_ENUM:
		return j->type == EDDY_JSON_STRING;
	case AVRO_RECORD:
	case AVRO_MAP:
		return j->type == EDDY_JSON_OBJECT;
	case AVRO_ARRAY:
		return j->type == EDDY_JSON_ARRAY;
	case AVRO_UNION:
		for (size_t i = 0; i < n->n; i++)
			if (shallow_fits(n->kids[i], j))
				return true;
		return false;
	default:
		return false;
	}
}

static int digits_at(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* ".fraction" at s (or nothing) in units of 10^-digits of a second; more
 * digits are fine when they are zeros, since nothing is lost. Returns the
 * characters read, or -1. */
static int parse_fraction(const char *s, size_t len, int digits, int64_t *units)
{
	size_t i = 1;

	*units = 0;
	if (!len || s[0] != '.')
		return 0;
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		if ((int)i <= digits)
			*units = *units * 10 + (s[i] - '0');
		else if (s[i] != '0')
			return -1;
		i++;
	}
	if (i == 1)
		return -1;
	for (int k = (int)i - 1; k < digits; k++)
		*units *= 10;
	return (int)i;
}

/* "HH:MM:SS[.fraction]" into units since midnight; the characters read or -1. */
static int parse_time(const char *s, size_t len, int64_t per_sec, int digits, int64_t *out)
{
	int h, m, sec, k;
	int64_t frac;

	if (len < 8 || s[2] != ':' || s[5] != ':')
		return -1;
	h = digits_at(s, 2);
	m = digits_at(s + 3, 2);
	sec = digits_at(s + 6, 2);
	if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 59)
		return -1;
	k = parse_fraction(s + 8, len - 8, digits, &frac);
	if (k < 0)
		return -1;
	*out = ((int64_t)h * 3600 + m * 60 + sec) * per_sec + frac;
	return 8 + k;
}

/* "YYYY-MM-DD" into a day number; the characters read or -1. */
static int parse_date(const char *s, size_t len, int64_t *day)
{
	int y, m, d;

	if (len < 10 || s[4] != '-' || s[7] != '-')
		return -1;
	y = digits_at(s, 4);
	m = digits_at(s + 5, 2);
	d = digits_at(s + 8, 2);
	if (y < 0 || m < 1 || m > 12 || d < 1 || (unsigned)d > month_days(y, (unsigned)m))
		return -1;
	*day = days_from_civil(y, (unsigned)m, (unsigned)d);
	return 10;
}

/* A logical type's string back into its int or long. */
static int parse_logical(const struct node *n, const char *s, size_t len, int64_t *out)
{
	int64_t per_sec = 1000, day, t;
	int digits = 3, k;
	bool zoned = n->logical == LT_TS_MILLIS || n->logical == LT_TS_MICROS;

	switch (n->logical) {
	case LT_DATE:
		return parse_date(s, len, out) == (int)len ? 0 : -1;
	case LT_TIME_MICROS:
		per_sec = 1000000;
		digits = 6;
		/* fall through */
	case LT_TIME_MILLIS:
		return parse_time(s, len, per_sec, digits, out) == (int)len ? 0 : -1;
	case LT_TS_MICROS:
	case LT_LOCAL_TS_MICROS:
		per_sec = 1000000;
		digits = 6;
		/* fall through */
	case LT_TS_MILLIS:
	case LT_LOCAL_TS_MILLIS:
		if (parse_date(s, len, &day) != 10 || len < 11 || (s[10] != 'T' && s[10] != 't'))
			return -1;
		k = parse_time(s + 11, len - 11, per_sec, digits, &t);
		if (k < 0)
			return -1;
		k += 11;
		*out = day * 86400 * per_sec + t;
		if (!zoned)
			return (size_t)k == len ? 0 : -1;
		if ((size_t)k + 1 == len && (s[k] == 'Z' || s[k] == 'z'))
			return 0;
		/* An offset: the instant is the same, written in UTC on the way out. */
		if ((size_t)k + 6 == len && (s[k] == '+' || s[k] == '-') && s[k + 3] == ':') {
			int oh = digits_at(s + k + 1, 2), om = digits_at(s + k + 4, 2);

			if (oh < 0 || oh > 23 || om < 0 || om > 59)
				return -1;
			*out -= (s[k] == '+' ? 1 : -1) * ((int64_t)oh * 3600 + om * 60) * per_sec;
			return 0;
		}
		return -1;
	default:
		return -1;
	}
}

static const char *logical_format(enum logical l)
{
	switch (l) {
	case LT_DATE:
		return "YYYY-MM-DD";
	case LT_TIME_MILLIS:
		return "HH:MM:SS.sss";
	case LT_TIME_MICROS:
		return "HH:MM:SS.ssssss";
	case LT_TS_MILLIS:
		return "YYYY-MM-DDTHH:MM:SS.sssZ";
	case LT_TS_MICROS:
		return "YYYY-MM-DDTHH:MM:SS.ssssssZ";
	case LT_LOCAL_TS_MILLIS:
		return "YYYY-MM-DDTHH:MM:SS.sss";
	case LT_LOCAL_TS_MICROS:
		return "YYYY-MM-DDTHH:MM:SS.ssssss";
	default:
		return "?";
	}
}

/* Standard base64, padding optional; -1 on anything else. out holds
 * len / 4 * 3 + 3 bytes. */
static long base64_decode(const char *s, size_t len, uint8_t *out)
{
	uint32_t acc = 0;
	int bits = 0;
	long n = 0;

	while (len && s[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int v;

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	return n;
}

/* mag = mag * 10 + d, mag being *n little-endian bytes; a precision of at
 * most 2 * EDDY_AVRO_MAX_DECIMAL_BYTES digits keeps it within the buffer. */
static void mul10_add(uint8_t *mag, size_t *n, unsigned d)
{
	unsigned carry = d;

	for (size_t k = 0; k < *n; k++) {
		unsigned v = mag[k] * 10u + carry;

		mag[k] = (uint8_t)v;
		carry = v >> 8;
	}
	if (carry)
		mag[(*n)++] = (uint8_t)carry;
}

/* A decimal string into the two's complement big-endian unscaled value:
 * size bytes (fixed), or the fewest that hold it (size 0, bytes). Returns
 * the length, or -1 with the reason in e. */
static long decimal_parse(struct err *e, const struct node *n, const char *s, size_t len,
                          uint8_t *out, size_t size)
{
	uint8_t mag[EDDY_AVRO_MAX_DECIMAL_BYTES];
	size_t i = 0, int_digits = 0, frac_digits = 0, nmag = 0, sig = 0, nb;
	bool neg = false, any = false, point = false;

	if (i < len && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	for (; i < len; i++) {
		int d = s[i] - '0';

		if (s[i] == '.' && !point && int_digits) {
			point = true;
			continue;
		}
		if (d < 0 || d > 9)
			goto bad;
		if (point) {
			if (++frac_digits > (size_t)n->scale) {
				if (d)
					return eddy_avro_err_set(e,
					                         "\"%.*s\" has more than %d digits "
					                         "after the point (the scale)",
					                         (int)len, s, n->scale);
				continue;
			}
		} else {
			int_digits++;
		}
		if (d || sig)
			sig++;
		if (sig > (size_t)n->precision)
			return eddy_avro_err_set(e,
			                         "\"%.*s\" has more than %d digits (the precision)",
			                         (int)len, s, n->precision);
		any = true;
		mul10_add(mag, &nmag, (unsigned)d);
	}
	if (!any || (point && !frac_digits))
		goto bad;
	/* Scale the digits up to the schema's scale. */
	for (size_t f = frac_digits; f < (size_t)n->scale; f++) {
		if (nmag && ++sig > (size_t)n->precision)
			return eddy_avro_err_set(e,
			                         "\"%.*s\" has more than %d digits (the precision)",
			                         (int)len, s, n->precision);
		mul10_add(mag, &nmag, 0);
	}
	if (!nmag)
		neg = false;
	/* Two's complement of the little-endian magnitude, one byte longer
	 * than needed, then trimmed to the fewest bytes that keep the sign. */
	mag[nmag] = 0;
	nb = nmag + 1;
	if (neg) {
		unsigned carry = 1;

		for (size_t k = 0; k < nb; k++) {
			unsigned v = (uint8_t)~mag[k] + carry;

			mag[k] = (uint8_t)v;
			carry = v >> 8;
		}
	}
	while (nb > 1 && ((mag[nb - 1] == 0 && !(mag[nb - 2] & 0x80)) ||
	                  (mag[nb - 1] == 0xff && (mag[nb - 2] & 0x80))))
		nb--;
	if (size) {
		if (nb > size)
			return eddy_avro_err_set(e, "\"%.*s\" does not fit in %zu bytes", (int)len,
			                         s, size);
		memset(out, neg ? 0xff : 0, size - nb);
		for (size_t k = 0; k < nb; k++)
			out[size - 1 - k] = mag[k];
		return (long)size;
	}
	for (size_t k = 0; k < nb; k++)
		out[k] = mag[nb - 1 - k];
	return (long)nb;
bad:
	return eddy_avro_err_set(e, "\"%.*s\" is not a decimal number", (int)(len > 60 ? 60 : len),
	                         s);
}

static int parse_uuid(const char *s, size_t len, uint8_t *out)
{
	size_t k = 0;

	if (len != 36)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int v;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return -1;
			continue;
		}
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			return -1;
		if (out) {
			if (k % 2 == 0)
				out[k / 2] = (uint8_t)(v << 4);
			else
				out[k / 2] |= (uint8_t)v;
		}
		k++;
	}
	return 0;
}

static int set_value(struct err *e, const struct node *n, avro_value_t *v,
                     const struct eddy_json *j, int depth);

static int avro_fail(struct err *e)
{
	char msg[200];

	return eddy_avro_err_set(e, "avro-c: %s", eddy_avro_error_line(msg, sizeof(msg)));
}

static int set_bytes(struct err *e, const struct node *n, avro_value_t *v,
                     const struct eddy_json *j)
{
	uint8_t small[64], *b = small;
	size_t cap;
	long len;
	int rc;

	if (j->type != EDDY_JSON_STRING)
		return mismatch(e, n, j);
	if (n->logical == LT_UUID) {
		if (parse_uuid(j->u.s, j->len, small))
			return eddy_avro_err_set(e, "\"%.*s\" is not a UUID",
			                         (int)(j->len > 60 ? 60 : j->len), j->u.s);
		return avro_value_set_fixed(v, small, 16) ? avro_fail(e) : 0;
	}
	if (n->logical == LT_DECIMAL) {
		cap = n->type == AVRO_FIXED ? n->size : EDDY_AVRO_MAX_DECIMAL_BYTES + 1;
	} else {
		cap = j->len / 4 * 3 + 3;
	}
	if (cap > sizeof(small) && !(b = malloc(cap)))
		return eddy_avro_err_set(e, "out of memory");
	if (n->logical == LT_DECIMAL) {
		len = decimal_parse(e, n, j->u.s, j->len, b, n->type == AVRO_FIXED ? n->size : 0);
	} else {
		len = base64_decode(j->u.s, j->len, b);
		if (len < 0)
			eddy_avro_err_set(e, "expected base64 %s, got a string that is not base64",
			                  type_name(n));
		else if (n->type == AVRO_FIXED && (size_t)len != n->size)
			len = eddy_avro_err_set(e, "expected %zu bytes (fixed), got %ld", n->size,
			                        len);
	}
	if (len < 0)
		rc = -1;
	else if (n->type == AVRO_FIXED)
		rc = avro_value_set_fixed(v, b, (size_t)len) ? avro_fail(e) : 0;
	else
		rc = avro_value_set_bytes(v, b, (size_t)len) ? avro_fail(e) : 0;
	if (b != small)
		free(b);
	return rc;
}

/* An integer JSON value (or a double with no fraction) as int64. */
static bool json_int64(const struct eddy_json *j, int64_t *out)
{
	if (j->type == EDDY_JSON_INT) {
		*out = j->u.i;
		return true;
	}
	if (j->type == EDDY_JSON_DOUBLE && j->u.d == floor(j->u.d) &&
	    fabs(j->u.d) <= 9007199254740992.0) {
		*out = (int64_t)j->u.d;
		return true;
	}
	return false;
}

static int set_integer(struct err *e, const struct node *n, avro_value_t *v,
                       const struct eddy_json *j)
{
	int64_t x;

	if (n->logical && j->type == EDDY_JSON_STRING) {
		if (parse_logical(n, j->u.s, j->len, &x))
			return eddy_avro_err_set(e, "expected %s as \"%s\", got \"%.*s\"",
			                         type_name(n), logical_format(n->logical),
			                         (int)(j->len > 60 ? 60 : j->len), j->u.s);
	} else if (!json_int64(j, &x)) {
		return mismatch(e, n, j);
	}
	if (n->type == AVRO_INT64)
		return avro_value_set_long(v, x) ? avro_fail(e) : 0;
	if (x < INT32_MIN || x > INT32_MAX)
		return eddy_avro_err_set(e, "%lld is out of range for int", (long long)x);
	return avro_value_set_int(v, (int32_t)x) ? avro_fail(e) : 0;
}

static const struct eddy_json null_json = {.type = EDDY_JSON_NULL};

static int set_record(struct err *e, const struct node *n, avro_value_t *v,
                      const struct eddy_json *j, int depth)
{
	if (j->type != EDDY_JSON_OBJECT)
		return mismatch(e, n, j);
	for (uint32_t i = 0; i < j->len; i++) {
		const struct eddy_json_member *m = &j->u.members[i];

		if (avro_schema_record_field_get_index(n->schema, m->key) < 0) {
			eddy_avro_err_key(e, m->key, m->key_len);
			return eddy_avro_err_set(e, "not a field of record %s",
			                         avro_schema_name(n->schema));
		}
	}
	for (size_t i = 0; i < n->n; i++) {
		const char *name = avro_schema_record_field_name(n->schema, (int)i);
		const struct eddy_json *f = eddy_json_get(j, name, strlen(name));
		const struct node *kid = n->kids[i];
		avro_value_t field;

		if (avro_value_get_by_index(v, i, &field, NULL))
			return avro_fail(e);
		if (!f)
			f = n->defaults[i];
		/* An optional field may be left out: it is null. */
		if (!f && (kid->type == AVRO_NULL ||
		           (kid->type == AVRO_UNION && shallow_fits(kid, &null_json))))
			f = &null_json;
		if (!f)
			return eddy_avro_err_set(e, "missing field \"%s\"", name);
		if (set_value(e, kid, &field, f, depth + 1)) {
			eddy_avro_err_key(e, name, strlen(name));
			return -1;
		}
	}
	return 0;
}

static int set_container(struct err *e, const struct node *n, avro_value_t *v,
                         const struct eddy_json *j, int depth)
{
	avro_value_t child;

	if (n->type == AVRO_ARRAY ? j->type != EDDY_JSON_ARRAY : j->type != EDDY_JSON_OBJECT)
		return mismatch(e, n, j);
	for (uint32_t i = 0; i < j->len; i++) {
		const struct eddy_json *item =
		    n->type == AVRO_ARRAY ? &j->u.items[i] : &j->u.members[i].value;

		if (n->type == AVRO_ARRAY) {
			if (avro_value_append(v, &child, NULL))
				return avro_fail(e);
		} else {
			const struct eddy_json_member *m = &j->u.members[i];

			if (strlen(m->key) != m->key_len) {
				eddy_avro_err_key(e, m->key, m->key_len);
				return eddy_avro_err_set(e,
				                         "a map key cannot hold a NUL character");
			}
			if (avro_value_add(v, m->key, &child, NULL, NULL))
				return avro_fail(e);
		}
		if (set_value(e, n->kids[0], &child, item, depth + 1)) {
			if (n->type == AVRO_ARRAY)
				eddy_avro_err_index(e, i);
			else
				eddy_avro_err_key(e, j->u.members[i].key, j->u.members[i].key_len);
			return -1;
		}
	}
	return 0;
}

/* The first branch j fits; failing all, the error of the first branch of
 * j's JSON type, or the list of branches. */
static int set_union(struct err *e, const struct node *n, avro_value_t *v,
                     const struct eddy_json *j, int depth)
{
	struct err first, attempt;
	bool have = false;
	char list[200];
	size_t len = 0;

	eddy_avro_err_reset(&first);

	for (size_t i = 0; i < n->n; i++) {
		avro_value_t branch;

		if (avro_value_set_branch(v, (int)i, &branch))
			return avro_fail(e);
		/* A branch chosen before keeps its old content. */
		avro_value_reset(&branch);
		eddy_avro_err_reset(&attempt);
		if (set_value(&attempt, n->kids[i], &branch, j, depth + 1) == 0)
			return 0;
		if (!have && shallow_fits(n->kids[i], j)) {
			first = attempt;
			have = true;
		}
	}
	if (have) {
		*e = first;
		return -1;
	}
	list[0] = '\0';
	for (size_t i = 0; i < n->n && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? " or " : "",
		                        type_name(n->kids[i]));
	return eddy_avro_err_set(e, "expected %s, got %s", list,
	                         eddy_json_type_name((enum eddy_json_type)j->type));
}

static int set_value(struct err *e, const struct node *n, avro_value_t *v,
                     const struct eddy_json *j, int depth)
{
	if (depth > EDDY_AVRO_MAX_DEPTH)
		return eddy_avro_err_set(e, "nested deeper than %d", EDDY_AVRO_MAX_DEPTH);
	switch (n->type) {
	case AVRO_NULL:
		if (j->type != EDDY_JSON_NULL)
			return mismatch(e, n, j);
		return avro_value_set_null(v) ? avro_fail(e) : 0;
	case AVRO_BOOLEAN:
		if (j->type != EDDY_JSON_TRUE && j->type != EDDY_JSON_FALSE)
			return mismatch(e, n, j);
		return avro_value_set_boolean(v, j->type == EDDY_JSON_TRUE) ? avro_fail(e) : 0;
	case AVRO_INT32:
	case AVRO_INT64:
		return set_integer(e, n, v, j);
	case AVRO_FLOAT:
	case AVRO_DOUBLE: {
		double d;

		if (j->type == EDDY_JSON_INT)
			d = (double)j->u.i;
		else if (j->type == EDDY_JSON_DOUBLE)
			d = j->u.d;
		else
			return mismatch(e, n, j);
		if (n->type == AVRO_DOUBLE)
			return avro_value_set_double(v, d) ? avro_fail(e) : 0;
		if (fabs(d) > 3.4028234663852886e38)
			return eddy_avro_err_set(e, "%g is out of range for float", d);
		return avro_value_set_float(v, (float)d) ? avro_fail(e) : 0;
	}
	case AVRO_STRING:
		if (j->type != EDDY_JSON_STRING)
			return mismatch(e, n, j);
		if (n->logical == LT_UUID && parse_uuid(j->u.s, j->len, NULL))
			return eddy_avro_err_set(e, "\"%.*s\" is not a UUID",
			                         (int)(j->len > 60 ? 60 : j->len), j->u.s);
		/* avro-c's length counts a NUL after the text. */
		return avro_value_set_string_len(v, j->u.s, (size_t)j->len + 1) ? avro_fail(e) : 0;
	case AVRO_BYTES:
	case AVRO_FIXED:
		return set_bytes(e, n, v, j);
	case AVRO_ENUM: {
		int i;

		if (j->type != EDDY_JSON_STRING)
			return mismatch(e, n, j);
		i = avro_schema_enum_get_by_name(n->schema, j->u.s);
		if (i < 0 || strlen(j->u.s) != j->len)
			return eddy_avro_err_set(e, "\"%.*s\" is not a symbol of enum %s",
			                         (int)(j->len > 60 ? 60 : j->len), j->u.s,
			                         avro_schema_name(n->schema));
		return avro_value_set_enum(v, i) ? avro_fail(e) : 0;
	}
	case AVRO_RECORD:
		return set_record(e, n, v, j, depth);
	case AVRO_ARRAY:
	case AVRO_MAP:
		return set_container(e, n, v, j, depth);
	case AVRO_UNION:
		return set_union(e, n, v, j, depth);
	default:
		return eddy_avro_err_set(e, "unsupported Avro type %d", (int)n->type);
	}
}

int eddy_avro_from_json(struct eddy_avro_schema *s, const char *json, size_t len, void **out,
                        size_t *out_len, char *errstr, size_t errstr_size)
{
	struct eddy_json_doc *doc = eddy_json_doc_new();
	const struct eddy_json *root;
	avro_writer_t w = NULL;
	struct err e;
	char msg[256];
	size_t size = 0;
	char *buf = NULL;

	*out = NULL;
	*out_len = 0;
	eddy_avro_err_reset(&e);
	if (!doc) {
		eddy_avro_err_set(&e, "out of memory");
		goto err;
	}
	root = eddy_json_parse(doc, json, len, msg, sizeof(msg));
	if (!root) {
		eddy_avro_err_set(&e, "invalid JSON: %s", msg);
		goto err;
	}
	avro_value_reset(&s->value);
	if (set_value(&e, s->root, &s->value, root, 0))
		goto err;
	/* The exact size first, so the datum is written once. */
	if (avro_value_sizeof(&s->value, &size)) {
		avro_fail(&e);
		goto err;
	}
	buf = malloc(size ? size : 1);
	w = buf ? avro_writer_memory(buf, (int64_t)size) : NULL;
	if (!w) {
		eddy_avro_err_set(&e, "out of memory");
		goto err;
	}
	if (avro_value_write(w, &s->value) || avro_writer_tell(w) != (int64_t)size) {
		avro_fail(&e);
		goto err;
	}
	avro_writer_free(w);
	eddy_json_doc_destroy(doc);
	*out = buf;
	*out_len = size;
	return 0;
err:
	if (w)
		avro_writer_free(w);
	free(buf);
	eddy_json_doc_destroy(doc);
	eddy_avro_err_out(&e, errstr, errstr_size);
	return -1;
}
