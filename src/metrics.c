/* metrics.c - a registry of labelled metrics and its Prometheus text
 * exposition (format 0.0.4). No Prometheus client library for C is kept in
 * Debian, and the format is small: HELP and TYPE lines, one sample a line,
 * label values escaped. */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The default buckets of a histogram: seconds, 100 µs to 10 s. */
static const double default_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                         0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

/* A double kept as its bits, so that it can be updated atomically. */
typedef _Atomic uint64_t atomic_double;

static double load_double(const atomic_double *a)
{
	uint64_t bits = atomic_load_explicit(a, memory_order_relaxed);
	double d;
	memcpy(&d, &bits, sizeof d);
	return d;
}

static void store_double(atomic_double *a, double d)
{
	uint64_t bits;
	memcpy(&bits, &d, sizeof bits);
	atomic_store_explicit(a, bits, memory_order_relaxed);
}

static void add_double(atomic_double *a, double v)
{
	uint64_t old = atomic_load_explicit(a, memory_order_relaxed), new;
	do {
		double d;
		memcpy(&d, &old, sizeof d);
		d += v;
		memcpy(&new, &d, sizeof new);
	} while (!atomic_compare_exchange_weak_explicit(a, &old, new, memory_order_relaxed,
	                                                memory_order_relaxed));
}

struct eddy_metric {
	struct eddy_metric_family *family;
	char **values;             /* one per label name, owned */
	atomic_double value;       /* counter, gauge; a histogram's sum */
	_Atomic uint64_t count;    /* a histogram's observations */
	_Atomic uint64_t *buckets; /* a histogram's count per bucket (not cumulative), owned */
};

struct eddy_metric_family {
	struct eddy_metrics *registry;
	char *name, *help;
	enum eddy_metric_type type;
	char *labels[EDDY_METRIC_MAX_LABELS];
	size_t n_labels;
	double bounds[EDDY_METRIC_MAX_BUCKETS];
	size_t n_bounds;
	struct eddy_metric **series; /* owned, in the order they were made */
	size_t n_series, cap_series;
};

struct eddy_metrics {
	pthread_mutex_t lock; /* the family and series arrays, not the values */
	struct eddy_metric_family **families;
	size_t n_families, cap_families;
};

struct eddy_metrics *eddy_metrics_new(void)
{
	struct eddy_metrics *m = calloc(1, sizeof *m);
	if (m && pthread_mutex_init(&m->lock, NULL) != 0) {
		free(m);
		return NULL;
	}
	return m;
}

static void series_free(struct eddy_metric *s)
{
	if (!s)
		return;
	for (size_t i = 0; s->values && i < s->family->n_labels; i++)
		free(s->values[i]);
	free(s->values);
	free(s->buckets);
	free(s);
}

static void family_free(struct eddy_metric_family *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_series; i++)
		series_free(f->series[i]);
	for (size_t i = 0; i < f->n_labels; i++)
		free(f->labels[i]);
	free(f->series);
	free(f->name);
	free(f->help);
	free(f);
}

void eddy_metrics_destroy(struct eddy_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_families; i++)
		family_free(m->families[i]);
	free(m->families);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; label names have no colon
 * and do not start with "__" (reserved). */
static int valid_name(const char *s, int label)
{
	if (!s || !*s || (label && s[0] == '_' && s[1] == '_'))
		return 0;
	for (const char *p = s; *p; p++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		         (!label && c == ':') || (p > s && c >= '0' && c <= '9');
		if (!ok)
			return 0;
	}
	return 1;
}

/* Whether f was registered with this type and these label names. */
static int same_family(const struct eddy_metric_family *f, enum eddy_metric_type type,
                       const char *const *labels)
{
	size_t n = 0;
	if (f->type != type)
		return 0;
	for (; labels && labels[n]; n++)
		if (n >= f->n_labels || strcmp(labels[n], f->labels[n]) != 0)
			return 0;
	return n == f->n_labels;
}

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 8;
	void *p = realloc(*arr, c * size);
	if (!p)
		return -1;
	*arr = p;
	*cap = c;
	return 0;
}

static struct eddy_metric *series_new(struct eddy_metric_family *f, const char *const *values)
{
	struct eddy_metric *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->family = f;
	if (f->n_labels && !(s->values = calloc(f->n_labels, sizeof *s->values)))
		goto fail;
	for (size_t i = 0; i < f->n_labels; i++)
		if (!(s->values[i] = strdup(values[i] ? values[i] : "")))
			goto fail;
	if (f->type == EDDY_METRIC_HISTOGRAM &&
	    !(s->buckets = calloc(f->n_bounds + 1, sizeof *s->buckets)))
		goto fail;
	if (grow((void **)&f->series, &f->cap_series, f->n_series, sizeof *f->series))
		goto fail;
	f->series[f->n_series++] = s;
	return s;
fail:
	series_free(s);
	return NULL;
}

static struct eddy_metric_family *family_new(const char *name, const char *help,
                                             enum eddy_metric_type type, const char *const *labels,
                                             const double *buckets, size_t n_buckets)
{
	struct eddy_metric_family *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->type = type;
	if (!(f->name = strdup(name)) || !(f->help = strdup(help ? help : "")))
		goto fail;
	for (; labels && labels[f->n_labels]; f->n_labels++) {
		const char *l = labels[f->n_labels];
		if (f->n_labels == EDDY_METRIC_MAX_LABELS || !valid_name(l, 1) ||
		    (type == EDDY_METRIC_HISTOGRAM && strcmp(l, "le") == 0) ||
		    !(f->labels[f->n_labels] = strdup(l)))
			goto fail;
	}
	if (type == EDDY_METRIC_HISTOGRAM) {
		if (!buckets) {
			buckets = default_buckets;
			n_buckets = sizeof default_buckets / sizeof default_buckets[0];
		}
		if (n_buckets > EDDY_METRIC_MAX_BUCKETS)
			goto fail;
		for (size_t i = 0; i < n_buckets; i++) {
			if (isnan(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
				goto fail;
			f->bounds[i] = buckets[i];
		}
		f->n_bounds = n_buckets;
	}
	if (f->n_labels == 0 && !series_new(f, NULL))
		goto fail;
	return f;
fail:
	family_free(f);
	return NULL;
}

struct eddy_metric_family *eddy_metrics_family(struct eddy_metrics *m, const char *name,
                                               const char *help, enum eddy_metric_type type,
                                               const char *const *labels, const double *buckets,
                                               size_t n_buckets)
{
	struct eddy_metric_family *f = NULL;

	if (!m || !valid_name(name, 0))
		return NULL;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_families; i++) {
		if (strcmp(m->families[i]->name, name) == 0) {
			f = same_family(m->families[i], type, labels) ? m->families[i] : NULL;
			goto out;
		}
	}
	if (grow((void **)&m->families, &m->cap_families, m->n_families, sizeof *m->families) ||
	    !(f = family_new(name, help, type, labels, buckets, n_buckets)))
		goto out;
	f->registry = m;
	m->families[m->n_families++] = f;
out:
	pthread_mutex_unlock(&m->lock);
	return f;
}

struct eddy_metric *eddy_metric_get(struct eddy_metric_family *f, const char *const *values)
{
	struct eddy_metric *s = NULL;

	if (!f)
		return NULL;
	pthread_mutex_lock(&f->registry->lock);
	for (size_t i = 0; i < f->n_series && !s; i++) {
		size_t j = 0;
		while (j < f->n_labels &&
		       strcmp(f->series[i]->values[j], values[j] ? values[j] : "") == 0)
			j++;
		if (j == f->n_labels)
			s = f->series[i];
	}
	if (!s)
		s = series_new(f, values);
	pthread_mutex_unlock(&f->registry->lock);
	return s;
}

struct eddy_metric *eddy_metric_only(struct eddy_metric_family *f)
{
	return f && f->n_labels == 0 ? f->series[0] : NULL;
}

void eddy_metric_add(struct eddy_metric *s, double v)
{
	if (!s || (s->family->type == EDDY_METRIC_COUNTER && !(v >= 0)))
		return;
	add_double(&s->value, v);
}

void eddy_metric_set(struct eddy_metric *s, double v)
{
	if (s && s->family->type == EDDY_METRIC_GAUGE)
		store_double(&s->value, v);
}

void eddy_metric_observe(struct eddy_metric *s, double v)
{
	const struct eddy_metric_family *f;
	size_t i = 0;

	if (!s || (f = s->family)->type != EDDY_METRIC_HISTOGRAM || isnan(v))
		return;
	while (i < f->n_bounds && v > f->bounds[i])
		i++;
	atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
	add_double(&s->value, v);
}

double eddy_metric_value(const struct eddy_metric *s)
{
	if (!s)
		return 0;
	if (s->family->type == EDDY_METRIC_HISTOGRAM)
		return (double)atomic_load_explicit(&s->count, memory_order_relaxed);
	return load_double(&s->value);
}

/* ---- exposition ---------------------------------------------------------- */

/* A sample value as Prometheus parses it: the shortest of %.15g and %.17g
 * that reads back the same, +Inf, -Inf, NaN. */
static void put_number(FILE *out, double v)
{
	char buf[32];

	if (isnan(v)) {
		fputs("NaN", out);
		return;
	}
	if (isinf(v)) {
		fputs(v > 0 ? "+Inf" : "-Inf", out);
		return;
	}
	snprintf(buf, sizeof buf, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, sizeof buf, "%.17g", v);
	fputs(buf, out);
}

/* HELP text escapes backslash and newline; label values also the quote. */
static void put_escaped(FILE *out, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else if (quote && *s == '"')
			fputs("\\\"", out);
		else
			fputc(*s, out);
	}
}

/* The label set of s, with le="bound" after it for a histogram bucket. */
static void put_labels(FILE *out, const struct eddy_metric *s, const char *le)
{
	const struct eddy_metric_family *f = s->family;

	if (f->n_labels == 0 && !le)
		return;
	fputc('{', out);
	for (size_t i = 0; i < f->n_labels; i++) {
		fprintf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
		put_escaped(out, s->values[i], 1);
		fputc('"', out);
	}
	if (le)
		fprintf(out, "%sle=\"%s\"", f->n_labels ? "," : "", le);
	fputc('}', out);
}

static void put_histogram(FILE *out, const struct eddy_metric *s)
{
	const struct eddy_metric_family *f = s->family;
	uint64_t cumulative = 0;
	char le[32];

	for (size_t i = 0; i <= f->n_bounds; i++) {
		cumulative += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
		if (i == f->n_bounds)
			snprintf(le, sizeof le, "+Inf");
		else if (snprintf(le, sizeof le, "%.15g", f->bounds[i]) > 0 &&
		         strtod(le, NULL) != f->bounds[i])
			snprintf(le, sizeof le, "%.17g", f->bounds[i]);
		fprintf(out, "%s_bucket", f->name);
		put_labels(out, s, le);
		fprintf(out, " %" PRIu64 "\n", cumulative);
	}
	/* The count is the +Inf bucket's, so a scrape between the bucket and
	 * the count update never shows them disagreeing. */
	fprintf(out, "%s_sum", f->name);
	put_labels(out, s, NULL);
	fputc(' ', out);
	put_number(out, load_double(&s->value));
	fprintf(out, "\n%s_count", f->name);
	put_labels(out, s, NULL);
	fprintf(out, " %" PRIu64 "\n", cumulative);
}

static void put_family(FILE *out, const struct eddy_metric_family *f)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};

	if (f->n_series == 0)
		return;
	fprintf(out, "# HELP %s ", f->name);
	put_escaped(out, f->help, 0);
	fprintf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
	for (size_t i = 0; i < f->n_series; i++) {
		const struct eddy_metric *s = f->series[i];
		if (f->type == EDDY_METRIC_HISTOGRAM) {
			put_histogram(out, s);
			continue;
		}
		fputs(f->name, out);
		put_labels(out, s, NULL);
		fputc(' ', out);
		put_number(out, load_double(&s->value));
		fputc('\n', out);
	}
}

char *eddy_metrics_render(struct eddy_metrics *m, size_t *len)
{
	char *text = NULL;
	size_t n = 0;
	FILE *out = open_memstream(&text, &n);

	if (!out)
		return NULL;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_families; i++)
		put_family(out, m->families[i]);
	pthread_mutex_unlock(&m->lock);
	if (fclose(out) != 0 || !text) {
		free(text);
		return NULL;
	}
	if (len)
		*len = n;
	return text;
}
