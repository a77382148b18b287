/*
 * test_units.c -- unit tests of the number parsers (common/units.h): sizes
 * in bytes (K, M, G = powers of 1024), counts (k, M, G = powers of 1000)
 * and their shared error messages.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "units.h"

/* Parse s as a size or a count; the helpers below check the outcome. */
enum kind { SIZE, COUNT };

static int parse(enum kind k, const char *s, uint64_t min, uint64_t max,
                 uint64_t *v) {
  size_t z = (size_t)*v;
  int r;
  if (k == COUNT) return bq_parse_count(s, min, max, v);
  r = bq_parse_size(s, (size_t)min, (size_t)max, &z);
  *v = z;
  return r;
}

/* s parses to want. */
static void ok(enum kind k, const char *s, uint64_t min, uint64_t max,
               uint64_t want) {
  uint64_t v = 12345;
  int r = parse(k, s, min, max, &v);
  if (r != 0 || v != want)
    print_error("'%s': r %d v %llu want %llu\n", s, r, (unsigned long long)v,
                (unsigned long long)want);
  assert_int_equal(r, 0);
  assert_int_equal(v, want);
}

/* s is refused with want, and the output is untouched. */
static void bad(enum kind k, const char *s, uint64_t min, uint64_t max,
                int want) {
  uint64_t v = 12345;
  int r = parse(k, s, min, max, &v);
  if (r != want) print_error("'%s': r %d want %d\n", s ? s : "NULL", r, want);
  assert_int_equal(r, want);
  assert_int_equal(v, 12345);
}

#define size_ok(...) ok(SIZE, __VA_ARGS__)
#define size_bad(...) bad(SIZE, __VA_ARGS__)
#define count_ok(...) ok(COUNT, __VA_ARGS__)
#define count_bad(...) bad(COUNT, __VA_ARGS__)

/* Neither a size nor a count. */
static const char *const junk[] = {NULL, "", "K", "k", "abc", "12x",
                                   "-1", "+1", " 1", "1 ", "1 K", "1.5K",
                                   "1.5k", "1KK", "1kk", "1T", "0x10"};
#define NJUNK (sizeof(junk) / sizeof(junk[0]))

/* ---- sizes ------------------------------------------------------------------------ */

static void test_parse_size(void **state) {
  const size_t big = SIZE_MAX;
  (void)state;
  size_ok("0", 0, big, 0);
  size_ok("65536", 0, big, 65536);
  size_ok("64K", 0, big, 65536);
  size_ok("64k", 0, big, 65536);
  size_ok("16M", 0, big, (size_t)16 << 20);
  size_ok("16m", 0, big, (size_t)16 << 20);
  size_ok("1G", 0, big, (size_t)1 << 30);
  size_ok("3g", 0, big, (size_t)3 << 30);
  size_ok("1KiB", 0, big, 1024);
  size_ok("2MiB", 0, big, (size_t)2 << 20);
  size_ok("1GiB", 0, big, (size_t)1 << 30);
  size_ok("1KB", 0, big, 1024);
  size_ok("0K", 0, big, 0);
  size_ok("007", 0, big, 7);
  /* bounds are inclusive */
  size_ok("1", 1, 64, 1);
  size_ok("64", 1, 64, 64);
  size_ok("1K", 1024, 1024, 1024);
  size_bad("0", 1, 64, -ERANGE);
  size_bad("65", 1, 64, -ERANGE);
  size_bad("1K", 1, 1023, -ERANGE);
  size_bad("1023", 1024, 2048, -ERANGE);
  size_bad("2049", 1024, 2048, -ERANGE);
  /* overflow */
  size_bad("18446744073709551616", 0, big, -ERANGE);
  size_bad("99999999999999999999999", 0, big, -ERANGE);
  size_bad("17179869184G", 0, big, -ERANGE); /* 2^64 */
  size_bad("18014398509481984K", 0, big, -ERANGE); /* 2^64 */
  /* junk */
  for (size_t i = 0; i < NJUNK; i++) size_bad(junk[i], 0, big, -EINVAL);
  size_bad("1Ki", 0, big, -EINVAL);
  size_bad("1KiBx", 0, big, -EINVAL);
  size_bad("1iB", 0, big, -EINVAL);
  size_bad("1B", 0, big, -EINVAL);
}

/* ---- counts ---------------------------------------------------------------------- */

static void test_parse_count(void **state) {
  const uint64_t big = UINT64_MAX;
  (void)state;
  count_ok("0", 0, big, 0);
  count_ok("100", 0, big, 100);
  count_ok("5k", 0, big, 5000);
  count_ok("5K", 0, big, 5000);
  count_ok("2M", 0, big, 2000000);
  count_ok("3G", 0, big, UINT64_C(3000000000));
  count_ok("0k", 0, big, 0);
  count_ok("18446744073709551615", 0, big, UINT64_MAX);
  /* bounds are inclusive */
  count_ok("1", 1, 64, 1);
  count_ok("64", 1, 64, 64);
  count_ok("1k", 1000, 1000, 1000);
  count_bad("0", 1, 64, -ERANGE);
  count_bad("65", 1, 64, -ERANGE);
  count_bad("1k", 1, 999, -ERANGE);
  /* overflow */
  count_bad("18446744073709551616", 0, big, -ERANGE);
  count_bad("18446744073709552k", 0, big, -ERANGE);
  count_bad("18446744074G", 0, big, -ERANGE);
  /* junk, and the suffixes that only sizes take */
  for (size_t i = 0; i < NJUNK; i++) count_bad(junk[i], 0, big, -EINVAL);
  count_bad("1m", 0, big, -EINVAL);
  count_bad("1g", 0, big, -EINVAL);
  count_bad("1KiB", 0, big, -EINVAL);
  count_bad("1KB", 0, big, -EINVAL);
}

/* ---- durations ------------------------------------------------------------------ */

static void dur_is(const char *s, uint64_t min, uint64_t max, int want_r,
                   uint64_t want) {
  uint64_t v = 12345;
  assert_int_equal(bq_parse_duration(s, min, max, &v), want_r);
  assert_int_equal(v, want_r == 0 ? want : 12345);
}

static void test_parse_duration(void **state) {
  const uint64_t big = UINT64_MAX;
  (void)state;
  dur_is("0", 0, big, 0, 0);
  dur_is("90", 0, big, 0, 90);
  dur_is("90s", 0, big, 0, 90);
  dur_is("15m", 0, big, 0, 900);
  dur_is("12h", 0, big, 0, 43200);
  dur_is("30d", 0, big, 0, 2592000);
  /* bounds are inclusive, in seconds */
  dur_is("1m", 60, 60, 0, 60);
  dur_is("59s", 60, 120, -ERANGE, 0);
  dur_is("3m", 60, 120, -ERANGE, 0);
  dur_is("213503982334601d", 0, big, 0, UINT64_C(213503982334601) * 86400);
  dur_is("213503982334602d", 0, big, -ERANGE, 0);
  dur_is("18446744073709551616", 0, big, -ERANGE, 0);
  dur_is("123456789012345678901234567890", 0, big, -ERANGE, 0);
  for (size_t i = 0; i < NJUNK; i++) dur_is(junk[i], 0, big, -EINVAL, 0);
  dur_is("s", 0, big, -EINVAL, 0);
  dur_is("1k", 0, big, -EINVAL, 0);
  dur_is("1ks", 0, big, -EINVAL, 0);
  dur_is("1w", 0, big, -EINVAL, 0);
  dur_is("1h30m", 0, big, -EINVAL, 0);
  dur_is("1.5h", 0, big, -EINVAL, 0);
  dur_is("1 h", 0, big, -EINVAL, 0);
  dur_is("-1s", 0, big, -EINVAL, 0);
  dur_is("this is a long piece of junk text", 0, big, -EINVAL, 0);
}

/* One meaning per kind: the same text is 1024-based as a size and
 * 1000-based as a count. */
static void test_kinds(void **state) {
  static const struct {
    const char *s;
    size_t size;
    uint64_t count;
  } cases[] = {{"1K", 1024, 1000},
               {"1k", 1024, 1000},
               {"64K", 65536, 64000},
               {"2M", (size_t)2 << 20, 2000000},
               {"1G", (size_t)1 << 30, 1000000000},
               {"7", 7, 7}};
  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    size_t z = 0;
    uint64_t n = 0;
    assert_int_equal(bq_parse_size(cases[i].s, 0, SIZE_MAX, &z), 0);
    assert_int_equal(bq_parse_count(cases[i].s, 0, UINT64_MAX, &n), 0);
    assert_int_equal(z, cases[i].size);
    assert_int_equal(n, cases[i].count);
  }
}

static void test_units_error(void **state) {
  char err[128];
  (void)state;
  bq_units_error(-ERANGE, "workers", "65", 1, 64, err, sizeof(err));
  assert_string_equal(err, "--workers: '65' is out of range (1 to 64)");
  bq_units_error(-EINVAL, "queue-bytes", "16X", 1024, 1 << 20, err,
                 sizeof(err));
  assert_string_equal(err, "--queue-bytes: '16X' is not a number");
  bq_units_error(-EINVAL, "n", NULL, 0, 9, err, sizeof(err));
  assert_string_equal(err, "--n: '' is not a number");
  /* a short buffer is cut, and terminated */
  memset(err, 'z', sizeof(err));
  bq_units_error(-ERANGE, "workers", "65", 1, 64, err, 8);
  assert_string_equal(err, "--worke");
  assert_int_equal(err[8], 'z');
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_size),
      cmocka_unit_test(test_parse_count),
      cmocka_unit_test(test_parse_duration),
      cmocka_unit_test(test_kinds),
      cmocka_unit_test(test_units_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
