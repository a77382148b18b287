/*
 * promhist.c -- see promhist.h.  Owns nothing but the struct it is given.
 */
#include "promhist.h"

#include <assert.h>
#include <inttypes.h>

void bq_prom_hist_init(struct bq_prom_hist *h, const uint64_t *bounds,
                       size_t nb, double scale) {
  assert(nb <= BQ_PROM_HIST_MAX);
  h->nb = nb;
  for (size_t i = 0; i < nb; i++) {
    assert(i == 0 || bounds[i] > bounds[i - 1]);
    h->bound[i] = bounds[i];
  }
  h->scale = scale;
  for (size_t i = 0; i <= BQ_PROM_HIST_MAX; i++) atomic_init(&h->count[i], 0);
  atomic_init(&h->sum, 0);
}

void bq_prom_hist_observe(struct bq_prom_hist *h, uint64_t v) {
  size_t i = 0;
  while (i < h->nb && v > h->bound[i]) i++;
  atomic_fetch_add_explicit(&h->count[i], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

uint64_t bq_prom_hist_count(struct bq_prom_hist *h) {
  uint64_t n = 0;
  for (size_t i = 0; i <= h->nb; i++)
    n += atomic_load_explicit(&h->count[i], memory_order_relaxed);
  return n;
}

void bq_prom_hist_render(struct bq_buf *b, const char *name, const char *help,
                         struct bq_prom_hist *h) {
  uint64_t cum = 0, sum;
  bq_buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  for (size_t i = 0; i <= h->nb; i++) {
    cum += atomic_load_explicit(&h->count[i], memory_order_relaxed);
    if (i < h->nb)
      bq_buf_printf(b, "%s_bucket{le=\"%.6g\"} %" PRIu64 "\n", name,
                    (double)h->bound[i] * h->scale, cum);
    else
      bq_buf_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
  }
  sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
  if (h->scale == 1.0)
    bq_buf_printf(b, "%s_sum %" PRIu64 "\n", name, sum);
  else
    bq_buf_printf(b, "%s_sum %.6f\n", name, (double)sum * h->scale);
  bq_buf_printf(b, "%s_count %" PRIu64 "\n", name, cum);
}
