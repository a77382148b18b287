/*
 * test_log.c -- unit tests of --log-format (common/log.h): JSON escaping
 * and the shape of text and JSON lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

static void esc(const char *in, size_t len, const char *want) {
  char out[256];
  size_t n = bq_json_escape(out, sizeof(out), in, len);
  assert_string_equal(out, want);
  assert_int_equal(n, strlen(want));
}

static void test_escape(void **state) {
  (void)state;
  esc("plain text", 10, "plain text");
  esc("a\"b\\c", 5, "a\\\"b\\\\c");
  esc("l1\nl2\r\t\b\f", 9, "l1\\nl2\\r\\t\\b\\f");
  esc("\x01\x1f\x7f", 3, "\\u0001\\u001f\\u007f");
  esc("nul\0in", 6, "nul\\u0000in"); /* length, not NUL, ends the input */
  esc("", 0, "");
  /* Valid UTF-8 passes through: 2, 3 and 4 bytes. */
  esc("n\xc3\xa4me \xe2\x82\xac \xf0\x9f\x98\x80", 14,
      "n\xc3\xa4me \xe2\x82\xac \xf0\x9f\x98\x80");
  /* Invalid bytes become U+FFFD, one per byte; good bytes around stay. */
  esc("a\xffz", 3, "a\\ufffdz");
  esc("\xc3", 1, "\\ufffd");                 /* cut sequence */
  esc("\xc3(", 2, "\\ufffd(");               /* bad continuation */
  esc("\xc0\xaf", 2, "\\ufffd\\ufffd");      /* overlong '/' */
  esc("\xed\xa0\x80", 3, "\\ufffd\\ufffd\\ufffd"); /* surrogate */
  esc("\xf4\x90\x80\x80", 4, "\\ufffd\\ufffd\\ufffd\\ufffd"); /* > U+10FFFF */
}

static void test_escape_bounds(void **state) {
  char out[8];
  (void)state;
  /* Stops before an escape that would not fit; always terminated. */
  assert_int_equal(bq_json_escape(out, sizeof(out), "abcdefghij", 10), 7);
  assert_string_equal(out, "abcdefg");
  assert_int_equal(bq_json_escape(out, sizeof(out), "abcdef\"", 7), 6);
  assert_string_equal(out, "abcdef");
  assert_int_equal(bq_json_escape(out, 7, "a\x01", 2), 1);
  assert_string_equal(out, "a");
  assert_int_equal(bq_json_escape(out, 1, "abc", 3), 0);
  assert_string_equal(out, "");
  /* A multi-byte character is never split. */
  assert_int_equal(bq_json_escape(out, 4, "ab\xe2\x82\xac", 5), 2);
  assert_string_equal(out, "ab");
}

/* Log one line at info into a memory stream and return it. */
static char *capture(int format, const struct bq_log_field *f, size_t nf,
                     const char *msg) {
  struct bq_log log;
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  assert_non_null(out);
  bq_log_init(&log, "burstqd", BQ_LOG_INFO, out);
  bq_log_set_format(&log, format);
  if (f) bq_log_fields(&log, BQ_LOG_INFO, f, nf, "%s", msg);
  else bq_log_info(&log, "%s", msg);
  bq_log_debug(&log, "not shown at info");
  assert_int_equal(fclose(out), 0);
  return buf;
}

static void test_lines(void **state) {
  const struct bq_log_field f[] = {{"peer", "127.0.0.1:5\"", 0},
                                   {"conn", NULL, -42}};
  char *s;
  (void)state;
  assert_int_equal(bq_log_format_parse("json", &(int){0}), 0);
  {
    int fmt = 7;
    assert_int_equal(bq_log_format_parse("xml", &fmt), -22);
    assert_int_equal(fmt, 7);
    assert_int_equal(bq_log_format_parse("text", &fmt), 0);
    assert_int_equal(fmt, BQ_LOG_TEXT);
  }

  s = capture(BQ_LOG_JSON, NULL, 0, "say \"hi\"\n");
  /* {"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ","level":"info","msg":...} */
  assert_int_equal(strncmp(s, "{\"ts\":\"", 7), 0);
  assert_int_equal(s[7 + 10], 'T');
  assert_int_equal(s[7 + 23], 'Z');
  assert_non_null(strstr(s, "\",\"level\":\"info\",\"msg\":\"say \\\"hi\\\"\\n\","
                            "\"fields\":{\"prog\":\"burstqd\",\"pid\":"));
  assert_int_equal(strcmp(s + strlen(s) - 3, "}}\n"), 0);
  assert_null(strstr(s, "not shown")); /* one line only */
  assert_int_equal(strchr(s, '\n') - s, (long)strlen(s) - 1);
  free(s);

  s = capture(BQ_LOG_JSON, f, 2, "with fields");
  assert_non_null(
      strstr(s, ",\"peer\":\"127.0.0.1:5\\\"\",\"conn\":-42}}\n"));
  free(s);

  s = capture(BQ_LOG_TEXT, f, 2, "with fields");
  assert_non_null(strstr(s, "Z burstqd["));
  assert_non_null(strstr(s, "] info: with fields peer=127.0.0.1:5\" conn=-42\n"));
  free(s);

  /* A message longer than the line limit is cut but the JSON stays whole. */
  {
    char big[3000];
    memset(big, '"', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    s = capture(BQ_LOG_JSON, NULL, 0, big);
    assert_int_equal(strcmp(s + strlen(s) - 3, "}}\n"), 0);
    assert_non_null(strstr(s, "\\\"\",\"fields\":{"));
    free(s);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_escape),
      cmocka_unit_test(test_escape_bounds),
      cmocka_unit_test(test_lines),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
