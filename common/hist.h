/*
 * hist.h -- a log-bucketed histogram of non-negative integer values (for
 * example latencies in nanoseconds), with quantiles.
 *
 * Design: a fixed array of counters, no allocation.  Values below 32 get a
 * bucket each; above, each power of two is split into 32 equal buckets, so
 * a reported quantile is at most 1/32 (about 3%) above the true value and
 * never below it.  The exact minimum, maximum and sum are kept too.  A
 * histogram belongs to one thread (or to its caller's lock); two histograms
 * combine with bq_hist_merge(), so threads can each keep one.
 */
#ifndef BQ_HIST_H
#define BQ_HIST_H

#include <stdint.h>

#define BQ_HIST_SUB_BITS 5
#define BQ_HIST_SUB (1u << BQ_HIST_SUB_BITS)          /* 32 */
#define BQ_HIST_BUCKETS ((64u - BQ_HIST_SUB_BITS + 1u) * BQ_HIST_SUB)

struct bq_hist {
  uint64_t count;  /* values recorded */
  uint64_t min;    /* smallest value (UINT64_MAX when empty) */
  uint64_t max;    /* largest value (0 when empty) */
  double sum;      /* sum of values, for the mean */
  uint64_t buckets[BQ_HIST_BUCKETS];
};

/* Make h empty. */
void bq_hist_init(struct bq_hist *h);

/* Record value v, n times (n may be 0: nothing happens). */
void bq_hist_add(struct bq_hist *h, uint64_t v, uint64_t n);

/* Add every value of src to dst. */
void bq_hist_merge(struct bq_hist *dst, const struct bq_hist *src);

/* The q-quantile (0 <= q <= 1): the upper bound of the bucket holding the
 * ceil(q * count)-th smallest value, but never above max.  q = 0 gives
 * min, q = 1 gives max; 0 for an empty histogram. */
uint64_t bq_hist_quantile(const struct bq_hist *h, double q);

/* Mean of the recorded values, 0 when empty. */
double bq_hist_mean(const struct bq_hist *h);

/* Bucket index of v and the inclusive range [lo, hi] of bucket i (exposed
 * for tests). */
unsigned bq_hist_bucket(uint64_t v);
void bq_hist_bucket_range(unsigned i, uint64_t *lo, uint64_t *hi);

#endif /* BQ_HIST_H */
