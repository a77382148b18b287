/*
 * promhist.h -- a Prometheus histogram of non-negative integers with fixed
 * bucket bounds, recorded with atomics and rendered in the text format.
 *
 * Design: not common/hist.h's struct bq_hist (the client's log-bucketed
 * latency histogram owned by one thread): this must render the exact
 * bounds a dashboard queries and be read while written.  Counts are C11
 * atomics updated with relaxed fetch-adds and read with relaxed loads: the
 * atomics make a concurrent read defined and untorn; no lock is taken.
 * The rendered _count is the sum of the bucket counts rendered, so the two
 * always agree; _sum may be one observation ahead or behind, which
 * Prometheus tolerates.  Threads: any; burstqd has one writer per
 * histogram (metrics.h, waits.h say which) and the loop thread renders.
 */
#ifndef BQ_PROMHIST_H
#define BQ_PROMHIST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define BQ_PROM_HIST_MAX 17 /* finite buckets of a histogram, at most */

struct bq_prom_hist {
  size_t nb;                             /* finite buckets */
  uint64_t bound[BQ_PROM_HIST_MAX];      /* inclusive upper bounds, ascending */
  double scale;                          /* rendered value = recorded * scale */
  _Atomic uint64_t count[BQ_PROM_HIST_MAX + 1]; /* per bucket; [nb] is +Inf */
  _Atomic uint64_t sum;
};

/* Make h empty with the nb (<= BQ_PROM_HIST_MAX) ascending bounds given,
 * rendered in the recorded unit times scale (1e-6: microseconds shown as
 * seconds). */
void bq_prom_hist_init(struct bq_prom_hist *h, const uint64_t *bounds,
                       size_t nb, double scale);

/* Record a value in h (any thread). */
void bq_prom_hist_observe(struct bq_prom_hist *h, uint64_t v);

/* Observations so far (the sum of the bucket counts). */
uint64_t bq_prom_hist_count(struct bq_prom_hist *h);

/* Append h as histogram `name` with its HELP text to b: HELP, TYPE,
 * cumulative _bucket lines (le in the rendered unit, then +Inf), _sum,
 * _count. */
void bq_prom_hist_render(struct bq_buf *b, const char *name, const char *help,
                         struct bq_prom_hist *h);

#endif /* BQ_PROMHIST_H */
