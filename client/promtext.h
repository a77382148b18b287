/*
 * promtext.h -- a parser for the Prometheus text exposition format
 * (version 0.0.4), enough to read any exporter's /metrics: samples with
 * optional labels and timestamps, comments, escaped label values, NaN and
 * +/-Inf; plus the lookups `burstq stats` needs (one sample, a sum over
 * label sets, histogram buckets and quantiles).
 *
 * Design: parsing copies everything it keeps into one struct bq_prom that
 * owns its memory; lookups are linear scans (an exposition has a few
 * hundred samples).  No shared state; any thread may use its own bq_prom.
 */
#ifndef BQ_PROMTEXT_H
#define BQ_PROMTEXT_H

#include <stddef.h>

struct bq_prom_label {
  char *name;
  char *value;  /* unescaped */
};

struct bq_prom_sample {
  char *name;
  struct bq_prom_label *labels;
  size_t nlabels;
  double value;
};

struct bq_prom {
  struct bq_prom_sample *s;
  size_t n, cap;
};

/* Parse len bytes of text into p (which must be zeroed or freed).  Returns
 * 0, -EINVAL with "line N: what" in err for malformed input, or -ENOMEM.
 * On error p holds nothing (it is freed). */
int bq_prom_parse(struct bq_prom *p, const char *text, size_t len, char *err,
                  size_t errlen);

void bq_prom_free(struct bq_prom *p);

/* The value of the first sample called name that has label=value (or any
 * labels when label is NULL) into *out.  Returns 0 or -ENOENT. */
int bq_prom_get(const struct bq_prom *p, const char *name, const char *label,
                const char *value, double *out);

/* Sum of every sample called name, whatever its labels (0 if none); *n, if
 * not NULL, gets how many there were. */
double bq_prom_sum(const struct bq_prom *p, const char *name, size_t *n);

/* A label's value in a sample, or NULL. */
const char *bq_prom_label(const struct bq_prom_sample *s, const char *name);

/* The buckets of histogram `name` (samples name_bucket), sorted by le,
 * into le[] and cum[] (cumulative counts), at most max of them.  Returns
 * how many (0 if none; +Inf is included as INFINITY). */
size_t bq_prom_buckets(const struct bq_prom *p, const char *name, double *le,
                       double *cum, size_t max);

/* The q-quantile (0..1) estimated from cumulative buckets as Prometheus's
 * histogram_quantile() does: linear within the bucket, the lower bound of
 * the first bucket taken as 0, and a quantile landing in +Inf reported as
 * the highest finite bound.  Returns NaN when there are no observations. */
double bq_prom_quantile(const double *le, const double *cum, size_t n,
                        double q);

#endif /* BQ_PROMTEXT_H */
