/* metrics.h - counters, gauges and histograms with labels, rendered in the
 * Prometheus text exposition format 0.0.4. The pipeline's thread updates
 * them and the HTTP thread renders them: values are atomics, and the set of
 * families and series is guarded by one mutex that updates never take. */
#ifndef EDDY_METRICS_H
#define EDDY_METRICS_H

#include <stddef.h>

enum eddy_metric_type {
	EDDY_METRIC_COUNTER,
	EDDY_METRIC_GAUGE,
	EDDY_METRIC_HISTOGRAM,
};

struct eddy_metrics;       /* a registry */
struct eddy_metric_family; /* one metric name: help, type, label names */
struct eddy_metric;        /* one series: a family's metric with label values */

#define EDDY_METRIC_MAX_LABELS 8
#define EDDY_METRIC_MAX_BUCKETS 24

struct eddy_metrics *eddy_metrics_new(void);
/* Frees the registry with every family and series in it. */
void eddy_metrics_destroy(struct eddy_metrics *m);

/* Registers the family name, or finds it when it was registered before with
 * the same type and label names. labels: NULL-terminated label names (NULL
 * for none); buckets: a histogram's upper bounds, ascending (+Inf is
 * implied), NULL for the default ones. A family without labels has its one
 * series from the start, so it is rendered (as 0) before any update. NULL
 * for a name or label name Prometheus does not accept, a clash with the
 * earlier registration, or no memory. Borrowed until m is destroyed. */
struct eddy_metric_family *eddy_metrics_family(struct eddy_metrics *m, const char *name,
                                               const char *help, enum eddy_metric_type type,
                                               const char *const *labels, const double *buckets,
                                               size_t n_buckets);

/* The series of f with these label values (one per label name, any UTF-8),
 * created at zero on first use; NULL without memory. Borrowed until the
 * registry is destroyed: keep it rather than look it up per event. */
struct eddy_metric *eddy_metric_get(struct eddy_metric_family *f, const char *const *values);
/* The series of a family without labels. */
struct eddy_metric *eddy_metric_only(struct eddy_metric_family *f);

/* Updates; each is a no-op on NULL, so a series that could not be made
 * costs a metric, never an event. Counters only go up (add ignores v < 0). */
void eddy_metric_add(struct eddy_metric *s, double v);
#define eddy_metric_inc(s) eddy_metric_add((s), 1.0)
void eddy_metric_set(struct eddy_metric *s, double v);     /* gauges */
void eddy_metric_observe(struct eddy_metric *s, double v); /* histograms */
/* A counter's or gauge's value, a histogram's count. */
double eddy_metric_value(const struct eddy_metric *s);

/* Every family with at least one series, in the order they were
 * registered, as exposition text: a NUL-terminated malloc'ed buffer (the
 * caller frees it) and its length in *len. NULL without memory. */
char *eddy_metrics_render(struct eddy_metrics *m, size_t *len);

#endif
