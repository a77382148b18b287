/*
 * test_counters.c -- every counter of server/counters.h is documented:
 * its metric (and label) in docs/metrics.md's metrics table, its key in
 * the table of the `stopped:` line.  argv[1] is docs/metrics.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "counters.h"

static char *doc;

struct row {
  const char *key, *metric, *label;
};

static const struct row rows[] = {
#define BQ_X_ROW(field, key, metric, label, help) {key, metric, label},
    BQ_LOOP_COUNTERS(BQ_X_ROW)
#undef BQ_X_ROW
};

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  char *buf;
  long n;
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)n + 1);
  if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fclose(f);
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* "`needle`" somewhere in the document. */
static int documented(const char *needle) {
  char want[256];
  snprintf(want, sizeof(want), "`%s`", needle);
  return strstr(doc, want) != NULL;
}

static void test_metrics_documented(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    if (!documented(rows[i].metric))
      fail_msg("%s is not in docs/metrics.md", rows[i].metric);
    if (rows[i].label[0] != '\0') {
      /* reason="too_long" -> `too_long` in the labels column */
      char value[128];
      const char *q = strchr(rows[i].label, '"');
      size_t n;
      assert_non_null(q);
      n = strcspn(q + 1, "\"");
      assert_true(n < sizeof(value));
      memcpy(value, q + 1, n);
      value[n] = '\0';
      if (!documented(value))
        fail_msg("label value %s of %s is not in docs/metrics.md", value,
                 rows[i].metric);
    }
  }
}

static void test_summary_keys_documented(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    char key[128];
    snprintf(key, sizeof(key), "%s=", rows[i].key);
    if (!documented(key))
      fail_msg("stopped: key %s is not in docs/metrics.md", key);
  }
}

/* Keys are unique, and members of one metric family are adjacent. */
static void test_list_shape(void **state) {
  size_t n = sizeof(rows) / sizeof(rows[0]);
  (void)state;
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++) {
      assert_string_not_equal(rows[i].key, rows[j].key);
      if (strcmp(rows[i].metric, rows[j].metric) == 0) {
        for (size_t k = i + 1; k < j; k++)
          assert_string_equal(rows[k].metric, rows[i].metric);
        assert_string_not_equal(rows[i].label, rows[j].label);
        assert_true(rows[i].label[0] != '\0');
      }
    }
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_metrics_documented),
      cmocka_unit_test(test_summary_keys_documented),
      cmocka_unit_test(test_list_shape),
  };
  if (argc != 2 || (doc = slurp(argv[1])) == NULL) {
    fprintf(stderr, "usage: test_counters docs/metrics.md\n");
    return 2;
  }
  int r = cmocka_run_group_tests(tests, NULL, NULL);
  free(doc);
  return r;
}
