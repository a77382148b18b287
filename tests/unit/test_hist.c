/*
 * test_hist.c -- unit tests of the latency histogram (common/hist.h).
 *
 * What is checked: buckets tile the whole 64-bit range without gaps or
 * overlaps; every value lands in the bucket whose range holds it; a
 * bucket is at most 1/32 of its lower bound wide; quantiles are never
 * below the true value and at most ~3% above it (checked against an exact
 * sort); min, max, count, mean and merge are exact; empty and extreme
 * inputs behave.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hist.h"

static struct bq_hist *new_hist(void) {
  struct bq_hist *h = malloc(sizeof(*h));
  assert_non_null(h);
  bq_hist_init(h);
  return h;
}

static void test_buckets_tile_the_range(void **state) {
  uint64_t lo, hi, prev_hi = 0;
  unsigned i;
  (void)state;
  for (i = 0; i < BQ_HIST_BUCKETS; i++) {
    bq_hist_bucket_range(i, &lo, &hi);
    if (i == 0) assert_int_equal(lo, 0);
    else assert_true(lo == prev_hi + 1);
    assert_true(hi >= lo);
    if (lo >= 32) assert_true((hi - lo + 1) * 32 <= lo);
    assert_int_equal(bq_hist_bucket(lo), i);
    assert_int_equal(bq_hist_bucket(hi), i);
    prev_hi = hi;
  }
  assert_true(prev_hi == UINT64_MAX);
}

static void test_values_land_in_their_bucket(void **state) {
  uint64_t lo, hi, v;
  int k;
  (void)state;
  srand(7);
  for (k = 0; k < 100000; k++) {
    v = ((uint64_t)rand() << 33) ^ ((uint64_t)rand() << 11) ^ (uint64_t)rand();
    v >>= rand() % 64;
    bq_hist_bucket_range(bq_hist_bucket(v), &lo, &hi);
    assert_true(lo <= v && v <= hi);
  }
}

static void test_empty(void **state) {
  struct bq_hist *h = new_hist();
  (void)state;
  assert_int_equal(h->count, 0);
  assert_int_equal(bq_hist_quantile(h, 0.5), 0);
  assert_int_equal(bq_hist_quantile(h, 1.0), 0);
  assert_true(bq_hist_mean(h) == 0.0);
  bq_hist_add(h, 123, 0); /* n = 0 records nothing */
  assert_int_equal(h->count, 0);
  free(h);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Quantiles against the exact answer from a sorted copy. */
static void test_quantiles_bound_the_truth(void **state) {
  enum { N = 50001 };
  static const double qs[] = {0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999};
  struct bq_hist *h = new_hist();
  uint64_t *v = malloc(N * sizeof(*v));
  double sum = 0;
  size_t i, j;
  (void)state;
  assert_non_null(v);
  srand(42);
  for (i = 0; i < N; i++) {
    /* latency-like: mostly 10 us .. 10 ms, some outliers up to seconds */
    uint64_t x = 10000u + (uint64_t)rand() % 10000000u;
    if (i % 997 == 0) x *= 300;
    v[i] = x;
    sum += (double)x;
    bq_hist_add(h, x, 1);
  }
  qsort(v, N, sizeof(*v), cmp_u64);
  assert_int_equal(h->count, N);
  assert_true(h->min == v[0]);
  assert_true(h->max == v[N - 1]);
  assert_true(bq_hist_quantile(h, 0.0) == v[0]);
  assert_true(bq_hist_quantile(h, 1.0) == v[N - 1]);
  assert_true(bq_hist_mean(h) > sum / N * 0.999999 &&
              bq_hist_mean(h) < sum / N * 1.000001);
  for (j = 0; j < sizeof(qs) / sizeof(qs[0]); j++) {
    size_t rank = (size_t)(qs[j] * N);
    uint64_t truth, got;
    if ((double)rank < qs[j] * N) rank++;
    truth = v[rank - 1];
    got = bq_hist_quantile(h, qs[j]);
    assert_true(got >= truth);
    assert_true((double)got <= (double)truth * (1.0 + 1.0 / 32.0) + 1.0);
  }
  free(v);
  free(h);
}

static void test_exact_small_values(void **state) {
  struct bq_hist *h = new_hist();
  (void)state;
  bq_hist_add(h, 1, 50);
  bq_hist_add(h, 2, 49);
  bq_hist_add(h, 30, 1);
  assert_int_equal(bq_hist_quantile(h, 0.5), 1);
  assert_int_equal(bq_hist_quantile(h, 0.51), 2);
  assert_int_equal(bq_hist_quantile(h, 0.99), 2);
  assert_int_equal(bq_hist_quantile(h, 0.995), 30);
  assert_int_equal(h->max, 30);
  free(h);
}

/* The quantile never exceeds the recorded maximum, even when the bucket
 * that holds it is wide. */
static void test_quantile_clamped_to_max(void **state) {
  struct bq_hist *h = new_hist();
  (void)state;
  bq_hist_add(h, 1000001, 10);
  assert_true(bq_hist_quantile(h, 0.5) == 1000001);
  bq_hist_add(h, UINT64_MAX, 1);
  assert_true(bq_hist_quantile(h, 1.0) == UINT64_MAX);
  assert_true(bq_hist_quantile(h, 0.99) == UINT64_MAX);
  free(h);
}

static void test_merge(void **state) {
  struct bq_hist *a = new_hist(), *b = new_hist(), *all = new_hist();
  uint64_t i;
  (void)state;
  for (i = 1; i <= 1000; i++) {
    bq_hist_add(i % 2 ? a : b, i * 1000, 1);
    bq_hist_add(all, i * 1000, 1);
  }
  bq_hist_merge(a, b);
  assert_int_equal(a->count, 1000);
  assert_true(a->min == 1000 && a->max == 1000000);
  assert_memory_equal(a->buckets, all->buckets, sizeof(a->buckets));
  assert_true(bq_hist_quantile(a, 0.9) == bq_hist_quantile(all, 0.9));
  bq_hist_init(b);
  bq_hist_merge(a, b); /* merging an empty one changes nothing */
  assert_true(a->min == 1000 && a->count == 1000);
  free(a);
  free(b);
  free(all);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buckets_tile_the_range),
      cmocka_unit_test(test_values_land_in_their_bucket),
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_quantiles_bound_the_truth),
      cmocka_unit_test(test_exact_small_values),
      cmocka_unit_test(test_quantile_clamped_to_max),
      cmocka_unit_test(test_merge),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
