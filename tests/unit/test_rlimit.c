/*
 * test_rlimit.c -- unit tests of the open-file limit helper
 * (common/rlimit.h).  The process raises its own soft limit to its hard
 * one, which any process may do; nothing else is changed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "rlimit.h"

static void test_fits(void **state) {
  (void)state;
  assert_true(bq_nofile_fits(0, BQ_NOFILE_RESERVE));
  assert_true(bq_nofile_fits(100, 100 + BQ_NOFILE_RESERVE));
  assert_false(bq_nofile_fits(101, 100 + BQ_NOFILE_RESERVE));
  assert_false(bq_nofile_fits(1, BQ_NOFILE_RESERVE));
  assert_true(bq_nofile_fits(1000000000ULL, RLIM_INFINITY));
}

static void test_raise(void **state) {
  struct rlimit rl;
  rlim_t was = 1, now = 1;
  (void)state;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);

  /* Already enough: nothing changes. */
  assert_int_equal(bq_nofile_raise(0, &was, &now), 0);
  assert_true(was == rl.rlim_cur);
  assert_true(now == rl.rlim_cur);

  /* As high as allowed: the soft limit becomes the hard one (raising up to
   * the hard limit needs no privilege), and the report says so. */
  assert_int_equal(bq_nofile_raise(RLIM_INFINITY, &was, &now), 0);
  assert_true(was == rl.rlim_cur);
  {
    struct rlimit after;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &after), 0);
    assert_true(now == after.rlim_cur);
    assert_true(after.rlim_max == rl.rlim_max);
    if (rl.rlim_max != RLIM_INFINITY) assert_true(now == rl.rlim_max);
  }

  /* Again: at the hard limit, nothing more to do. */
  {
    rlim_t before = now;
    assert_int_equal(bq_nofile_raise(RLIM_INFINITY, &was, &now), 0);
    assert_true(was == before && now == before);
  }
}

/* bq_max_map_count reads what /proc/sys/vm/max_map_count says. */
static void test_max_map_count(void **state) {
  unsigned long long n = 0, want = 0;
  FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
  (void)state;
  if (f == NULL) {
    assert_int_equal(bq_max_map_count(&n), -errno);
    assert_true(n == 0);
    return;
  }
  assert_int_equal(fscanf(f, "%llu", &want), 1);
  fclose(f);
  assert_int_equal(bq_max_map_count(&n), 0);
  assert_true(n == want && n > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fits),
      cmocka_unit_test(test_raise),
      cmocka_unit_test(test_max_map_count),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
