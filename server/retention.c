/*
 * retention.c -- see retention.h: the limits' arithmetic and the passes'
 * numbers.  Writer-token holder records, loop thread renders.
 */
#include "retention.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>

int bq_retain_on(const struct bq_retain_limits *l) {
  return l != NULL && (l->age_us > 0 || l->bytes > 0 || l->rows > 0);
}

uint64_t bq_retain_budget(uint64_t batch_msgs) {
  uint64_t b = batch_msgs > UINT64_MAX / 2 ? UINT64_MAX : batch_msgs * 2;
  return b < BQ_RETAIN_MIN_BUDGET ? BQ_RETAIN_MIN_BUDGET : b;
}

void bq_retain_stats_init(struct bq_retain_stats *s) {
  atomic_init(&s->passes, 0);
  atomic_init(&s->rows, 0);
  atomic_init(&s->bytes, 0);
  atomic_init(&s->conns, 0);
  atomic_init(&s->oldest_us, 0);
  atomic_init(&s->lag_rows, 0);
}

void bq_retain_record(struct bq_retain_stats *s,
                      const struct bq_retain_pass *p) {
  assert(p->oldest_us >= 0);
  if (p->rows > 0 || p->conns > 0)
    atomic_fetch_add_explicit(&s->passes, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->rows, p->rows, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->bytes, p->bytes, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->conns, p->conns, memory_order_relaxed);
  atomic_store_explicit(&s->oldest_us, p->oldest_us, memory_order_relaxed);
  atomic_store_explicit(&s->lag_rows, p->lag_rows, memory_order_relaxed);
}

static void metric(struct bq_buf *b, const char *name, const char *type,
                   const char *help, const char *fmt_value) {
  bq_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", name, help, name,
                type, name, fmt_value);
}

void bq_retain_render(const struct bq_retain_stats *s,
                      const struct bq_retain_limits *l, int64_t now_us,
                      struct bq_buf *out) {
  char v[32];
  int64_t oldest, age_us = 0;
  uint64_t lag_us = 0;

  if (!bq_retain_on(l)) return;
  oldest = atomic_load_explicit(&s->oldest_us, memory_order_relaxed);
  if (oldest > 0 && now_us > oldest) age_us = now_us - oldest;
  if (l->age_us > 0 && (uint64_t)age_us > l->age_us)
    lag_us = (uint64_t)age_us - l->age_us;
#define U64(name, type, help, val)                                   \
  snprintf(v, sizeof(v), "%" PRIu64, (uint64_t)(val));               \
  metric(out, name, type, help, v);
  U64("burstq_retention_deleted_rows_total", "counter",
      "Messages deleted by retention (--retain-*).",
      atomic_load_explicit(&s->rows, memory_order_relaxed))
  U64("burstq_retention_deleted_bytes_total", "counter",
      "Payload bytes of the messages deleted by retention.",
      atomic_load_explicit(&s->bytes, memory_order_relaxed))
  U64("burstq_retention_deleted_connections_total", "counter",
      "Closed connections rows deleted by retention (no messages left).",
      atomic_load_explicit(&s->conns, memory_order_relaxed))
  U64("burstq_retention_lag_rows", "gauge",
      "Messages over --retain-rows/--retain-size left by the last pass "
      "(its budget); 0 when retention keeps up.",
      atomic_load_explicit(&s->lag_rows, memory_order_relaxed))
#undef U64
  snprintf(v, sizeof(v), "%.3f", (double)age_us / 1e6);
  metric(out, "burstq_retention_oldest_age_seconds", "gauge",
         "Age of the oldest stored message as of the last pass (0: none "
         "yet).",
         v);
  snprintf(v, sizeof(v), "%.3f", (double)lag_us / 1e6);
  metric(out, "burstq_retention_lag_seconds", "gauge",
         "How much older than --retain-age the oldest stored message is "
         "(0 when within it, or without --retain-age).",
         v);
}
