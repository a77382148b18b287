/*
 * hist.c -- see hist.h.  Owns nothing but the struct it is given; no
 * thread of its own.
 *
 * Bucket i < 32 holds exactly the value i.  For v >= 32 with highest set
 * bit e (5 <= e <= 63), the bucket is (e - 4) * 32 + the 5 bits below the
 * top bit: 32 buckets per power of two, each 2^(e-5) wide.
 */
#include "hist.h"

#include <assert.h>
#include <string.h>

void bq_hist_init(struct bq_hist *h) {
  memset(h, 0, sizeof(*h));
  h->min = UINT64_MAX;
}

unsigned bq_hist_bucket(uint64_t v) {
  unsigned e;
  if (v < BQ_HIST_SUB) return (unsigned)v;
  e = 63u - (unsigned)__builtin_clzll(v);
  assert(e >= BQ_HIST_SUB_BITS);
  return (e - BQ_HIST_SUB_BITS + 1u) * BQ_HIST_SUB +
         (unsigned)((v >> (e - BQ_HIST_SUB_BITS)) & (BQ_HIST_SUB - 1u));
}

void bq_hist_bucket_range(unsigned i, uint64_t *lo, uint64_t *hi) {
  unsigned e, sub;
  assert(i < BQ_HIST_BUCKETS);
  if (i < BQ_HIST_SUB) {
    *lo = *hi = i;
    return;
  }
  e = i / BQ_HIST_SUB + BQ_HIST_SUB_BITS - 1u;
  sub = i % BQ_HIST_SUB;
  *lo = ((uint64_t)(BQ_HIST_SUB + sub)) << (e - BQ_HIST_SUB_BITS);
  *hi = *lo + ((uint64_t)1 << (e - BQ_HIST_SUB_BITS)) - 1u;
}

void bq_hist_add(struct bq_hist *h, uint64_t v, uint64_t n) {
  if (n == 0) return;
  h->buckets[bq_hist_bucket(v)] += n;
  h->count += n;
  h->sum += (double)v * (double)n;
  if (v < h->min) h->min = v;
  if (v > h->max) h->max = v;
}

void bq_hist_merge(struct bq_hist *dst, const struct bq_hist *src) {
  unsigned i;
  if (src->count == 0) return;
  for (i = 0; i < BQ_HIST_BUCKETS; i++) dst->buckets[i] += src->buckets[i];
  dst->count += src->count;
  dst->sum += src->sum;
  if (src->min < dst->min) dst->min = src->min;
  if (src->max > dst->max) dst->max = src->max;
}

uint64_t bq_hist_quantile(const struct bq_hist *h, double q) {
  uint64_t rank, seen = 0, lo, hi;
  unsigned i;
  if (h->count == 0) return 0;
  if (q <= 0.0) return h->min;
  if (q >= 1.0) return h->max;
  rank = (uint64_t)(q * (double)h->count); /* ceil, without libm */
  if ((double)rank < q * (double)h->count) rank++;
  if (rank < 1) rank = 1;
  for (i = 0; i < BQ_HIST_BUCKETS; i++) {
    seen += h->buckets[i];
    if (seen >= rank) {
      bq_hist_bucket_range(i, &lo, &hi);
      if (hi > h->max) hi = h->max;
      if (hi < h->min) hi = h->min;
      return hi;
    }
  }
  return h->max; /* not reached: the buckets add up to count */
}

double bq_hist_mean(const struct bq_hist *h) {
  return h->count ? h->sum / (double)h->count : 0.0;
}
