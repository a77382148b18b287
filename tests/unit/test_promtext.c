/*
 * test_promtext.c -- unit tests of the Prometheus text parser used by
 * `burstq stats` (client/promtext.h), including a round trip through the
 * daemon's own renderer (server/metrics.h).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "promtext.h"

static void parse_ok(struct bq_prom *p, const char *text) {
  char err[128] = "";
  int r = bq_prom_parse(p, text, strlen(text), err, sizeof(err));
  if (r != 0) fail_msg("parse failed: %s", err);
}

static void parse_bad(const char *text, const char *want_err) {
  struct bq_prom p;
  char err[128] = "";
  assert_int_equal(bq_prom_parse(&p, text, strlen(text), err, sizeof(err)),
                   -EINVAL);
  if (strcmp(err, want_err) != 0)
    fail_msg("for <%s>: error '%s', expected '%s'", text, err, want_err);
  assert_null(p.s);
  assert_int_equal(p.n, 0);
}

static void test_samples(void **state) {
  struct bq_prom p;
  double v;
  (void)state;
  parse_ok(&p,
           "# HELP a_total Things.\n"
           "# TYPE a_total counter\n"
           "a_total 42\n"
           "\n"
           "   # indented comment\n"
           "b{x=\"1\",y=\"two words\"} 3.5\r\n"
           "c{} -7e3 1700000000000\n"
           "d{esc=\"q\\\"b\\\\n\\n\",} +Inf\n"
           "e NaN\n"
           "f{le=\"-Inf\"}\t-Inf\n"
           "g:rule 0");
  assert_int_equal(p.n, 7);
  assert_int_equal(bq_prom_get(&p, "a_total", NULL, NULL, &v), 0);
  assert_true(v == 42);
  assert_int_equal(bq_prom_get(&p, "b", "y", "two words", &v), 0);
  assert_true(v == 3.5);
  assert_string_equal(bq_prom_label(&p.s[1], "x"), "1");
  assert_int_equal(bq_prom_get(&p, "b", "y", "two", &v), -ENOENT);
  assert_int_equal(bq_prom_get(&p, "c", NULL, NULL, &v), 0);
  assert_true(v == -7000);
  assert_int_equal(p.s[2].nlabels, 0);
  assert_string_equal(bq_prom_label(&p.s[3], "esc"), "q\"b\\n\n");
  assert_true(isinf(p.s[3].value) && p.s[3].value > 0);
  assert_true(isnan(p.s[4].value));
  assert_true(isinf(p.s[5].value) && p.s[5].value < 0);
  assert_int_equal(bq_prom_get(&p, "g:rule", NULL, NULL, &v), 0);
  assert_int_equal(bq_prom_get(&p, "nothing", NULL, NULL, &v), -ENOENT);
  bq_prom_free(&p);
  assert_null(p.s);

  parse_ok(&p, "");
  assert_int_equal(p.n, 0);
  bq_prom_free(&p);
}

static void test_errors(void **state) {
  (void)state;
  parse_bad("1abc 3\n", "line 1: bad metric name");
  parse_bad("ok 1\nx{a=\"1\" 2\n", "line 2: expected ',' or '}' after a label");
  parse_bad("x{a=1} 2\n", "line 1: expected a quoted label value");
  parse_bad("x{a=\"1} 2\n", "line 1: unterminated label value");
  parse_bad("x{a=\"\\t\"} 2\n", "line 1: bad escape in a label value");
  parse_bad("x{=\"1\"} 2\n", "line 1: bad label name");
  parse_bad("x{a \"1\"} 2\n", "line 1: expected '=' after a label name");
  parse_bad("x\n", "line 1: expected a space before the value");
  parse_bad("x abc\n", "line 1: bad value");
  parse_bad("x 0x10\n", "line 1: bad value");
  parse_bad("x 1 2.5\n", "line 1: bad timestamp");
  parse_bad("x 1 2 3\n", "line 1: junk after the value");
}

static void test_sum_and_quantile(void **state) {
  struct bq_prom p;
  double le[8], cum[8], q;
  size_t n;
  (void)state;
  /* Buckets out of order on purpose: the lookup sorts them. */
  parse_ok(&p,
           "r{reason=\"a\"} 2\nr{reason=\"b\"} 5\n"
           "h_bucket{le=\"+Inf\"} 100\n"
           "h_bucket{le=\"1\"} 50\n"
           "h_bucket{le=\"0.5\"} 10\n"
           "h_bucket{le=\"2\"} 90\n"
           "h_sum 120\nh_count 100\n");
  {
    size_t k;
    assert_true(bq_prom_sum(&p, "r", &k) == 7);
    assert_int_equal(k, 2);
    assert_true(bq_prom_sum(&p, "none", &k) == 0);
    assert_int_equal(k, 0);
  }
  n = bq_prom_buckets(&p, "h", le, cum, 8);
  assert_int_equal(n, 4);
  assert_true(le[0] == 0.5 && cum[0] == 10);
  assert_true(le[1] == 1 && cum[1] == 50);
  assert_true(le[2] == 2 && cum[2] == 90);
  assert_true(isinf(le[3]) && cum[3] == 100);
  /* rank 50 is the top of the (0.5, 1] bucket. */
  q = bq_prom_quantile(le, cum, n, 0.5);
  assert_true(fabs(q - 1.0) < 1e-9);
  /* rank 5 lies halfway into the first bucket, from 0. */
  q = bq_prom_quantile(le, cum, n, 0.05);
  assert_true(fabs(q - 0.25) < 1e-9);
  /* rank 70: (1, 2] holds 50..90, so 1 + 1 * 20/40. */
  q = bq_prom_quantile(le, cum, n, 0.7);
  assert_true(fabs(q - 1.5) < 1e-9);
  /* rank 99 is in +Inf: report the highest finite bound. */
  q = bq_prom_quantile(le, cum, n, 0.99);
  assert_true(q == 2);
  /* No observations, or no +Inf bucket: NaN. */
  {
    double z[4] = {0, 0, 0, 0};
    assert_true(isnan(bq_prom_quantile(le, z, n, 0.5)));
    assert_true(isnan(bq_prom_quantile(le, cum, 3, 0.5)));
    assert_true(isnan(bq_prom_quantile(le, cum, 0, 0.5)));
  }
  bq_prom_free(&p);
}

/* What the daemon renders, the client parses: every sample, every value. */
static void test_round_trip(void **state) {
  struct bq_metrics m;
  struct bq_metrics_snapshot s;
  struct bq_buf b;
  struct bq_prom p;
  double v, le[32], cum[32];
  size_t n;
  (void)state;
  assert_int_equal(bq_metrics_init(&m), 0);
  memset(&s, 0, sizeof(s));
  s.version = "0.1.0";
  s.backend = "sqlite 3.40.1";
  s.libuv_version = "weird \"quoted\\\" \n version";
  s.loop.st.received = 12345678901ULL;
  s.loop.st.committed = 12345678000ULL;
  s.loop.st.rejected = 9;
  s.loop.paused_ms = 2250;
  bq_metrics_batch(&m, 100, 1500);
  bq_metrics_batch(&m, 3000, 30000);
  bq_metrics_db_error(&m, -BQ_STORE_BUSY, "locked");
  bq_buf_init(&b);
  assert_int_equal(bq_metrics_render(&m, &s, &b), 0);
  parse_ok(&p, b.data);
  assert_int_equal(bq_prom_get(&p, "burstq_messages_received_total", NULL,
                               NULL, &v), 0);
  assert_true(v == 12345678901.0);
  assert_int_equal(bq_prom_get(&p, "burstq_messages_rejected_total", "reason",
                               "too_long", &v), 0);
  assert_true(v == 9);
  assert_int_equal(bq_prom_get(&p, "burstq_build_info", "libuv",
                               "weird \"quoted\\\" \n version", &v), 0);
  assert_true(v == 1);
  assert_int_equal(bq_prom_get(&p, "burstq_intake_paused_seconds_total", NULL,
                               NULL, &v), 0);
  assert_true(v == 2.25);
  assert_int_equal(bq_prom_get(&p, "burstq_db_errors_total", "kind",
                               "busy", &v), 0);
  assert_true(v == 1);
  n = bq_prom_buckets(&p, "burstq_commit_duration_seconds", le, cum, 32);
  assert_int_equal(n, m.commit.nb + 1);
  assert_true(cum[n - 1] == 2);
  assert_true(bq_prom_quantile(le, cum, n, 0.5) <= 0.0025);
  assert_int_equal(bq_prom_get(&p, "burstq_batch_records_sum", NULL, NULL, &v),
                   0);
  assert_true(v == 3100);
  bq_prom_free(&p);
  bq_buf_free(&b);
  bq_metrics_destroy(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_samples),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_sum_and_quantile),
      cmocka_unit_test(test_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
