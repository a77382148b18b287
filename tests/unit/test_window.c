/*
 * test_window.c -- unit tests of the window of `burstq send --producer`
 * (client/window.h): numbering, both bounds, acks that drop lines, acks
 * beyond what was read (lines skipped as they come), compaction keeping
 * positions, and the bytes a new connection resends.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "window.h"

static int push(struct bq_window *w, const char *s) {
  return bq_window_push(w, s, strlen(s));
}

/* The bytes held from pos, as a string (static buffer). */
static const char *from(const struct bq_window *w, uint64_t pos) {
  static char out[256];
  const char *p;
  size_t n = bq_window_bytes(w, pos, &p);
  assert_true(n < sizeof(out));
  memcpy(out, p, n);
  out[n] = '\0';
  return out;
}

static void test_window_basic(void **state) {
  struct bq_window w;
  (void)state;
  assert_int_equal(bq_window_init(&w, 0, 4), -EINVAL);
  assert_int_equal(bq_window_init(&w, 64, 0), -EINVAL);
  assert_int_equal(bq_window_init(&w, 64, 8), 0);
  assert_true(bq_window_first(&w) == 1);
  assert_int_equal(push(&w, "a"), 0);
  assert_int_equal(push(&w, ""), 0); /* an empty line is a line */
  assert_int_equal(push(&w, "ccc"), 0);
  assert_int_equal(bq_window_count(&w), 3);
  assert_true(w.next == 4);
  assert_true(bq_window_start(&w) == 0 && bq_window_end(&w) == 7);
  assert_string_equal(from(&w, 0), "a\n\nccc\n");
  assert_true(bq_window_lines_before(&w, 0) == 0);
  assert_true(bq_window_lines_before(&w, 1) == 0);
  assert_true(bq_window_lines_before(&w, 2) == 1);
  assert_true(bq_window_lines_before(&w, 3) == 2);
  assert_true(bq_window_lines_before(&w, 7) == 3);
  /* An ack below base changes nothing; an ack drops a prefix. */
  assert_true(bq_window_ack(&w, 0) == 0);
  assert_true(bq_window_ack(&w, 2) == 2);
  assert_true(bq_window_first(&w) == 3);
  assert_int_equal(bq_window_count(&w), 1);
  assert_true(bq_window_start(&w) == 3);
  assert_string_equal(from(&w, 3), "ccc\n");
  assert_true(bq_window_ack(&w, 2) == 0); /* acks may repeat */
  assert_true(bq_window_ack(&w, 3) == 1);
  assert_int_equal(bq_window_count(&w), 0);
  assert_true(bq_window_first(&w) == 4 && w.next == 4);
  assert_true(bq_window_start(&w) == 7 && bq_window_end(&w) == 7);
  assert_string_equal(from(&w, 7), "");
  assert_int_equal(push(&w, "d"), 0);
  assert_string_equal(from(&w, 7), "d\n");
  bq_window_free(&w);
  bq_window_free(&w); /* twice is harmless */
}

static void test_window_bounds(void **state) {
  struct bq_window w;
  char big[16];
  (void)state;
  assert_int_equal(bq_window_init(&w, 10, 3), 0);
  memset(big, 'x', sizeof(big));
  /* A line that can never fit: 10 bytes and its "\n". */
  assert_int_equal(bq_window_push(&w, big, 10), -EMSGSIZE);
  assert_false(bq_window_fits(&w, 10));
  assert_true(bq_window_fits(&w, 9));
  assert_int_equal(bq_window_push(&w, big, 9), 0); /* exactly full */
  assert_false(bq_window_fits(&w, 0));
  assert_int_equal(push(&w, ""), -ENOBUFS);
  assert_true(w.next == 2); /* a refused line takes no number */
  assert_true(bq_window_ack(&w, 1) == 1);
  /* The line bound. */
  assert_int_equal(push(&w, "a"), 0);
  assert_int_equal(push(&w, "b"), 0);
  assert_int_equal(push(&w, "c"), 0);
  assert_false(bq_window_fits(&w, 0));
  assert_int_equal(push(&w, "d"), -ENOBUFS);
  assert_true(bq_window_ack(&w, 2) == 1);
  assert_int_equal(push(&w, "d"), 0);
  assert_string_equal(from(&w, bq_window_start(&w)), "b\nc\nd\n");
  bq_window_free(&w);
}

/* Room that exists only once the dropped prefix is squeezed out: the
 * bytes move, their positions do not. */
static void test_window_compaction(void **state) {
  struct bq_window w;
  uint64_t pos;
  (void)state;
  assert_int_equal(bq_window_init(&w, 12, 100), 0);
  assert_int_equal(push(&w, "aaaa"), 0); /* 1: 0..5 */
  assert_int_equal(push(&w, "bbbb"), 0); /* 2: 5..10 */
  assert_int_equal(push(&w, "ccc"), -ENOBUFS);
  assert_true(bq_window_ack(&w, 1) == 1);
  pos = bq_window_start(&w);
  assert_true(pos == 5);
  assert_true(bq_window_fits(&w, 6));
  assert_int_equal(push(&w, "cccccc"), 0); /* 3: 10..17, compacted */
  assert_true(w.dstart == 0);
  assert_true(bq_window_start(&w) == 5 && bq_window_end(&w) == 17);
  assert_string_equal(from(&w, 5), "bbbb\ncccccc\n");
  assert_string_equal(from(&w, 12), "cccc\n"); /* mid-line */
  assert_true(bq_window_lines_before(&w, 10) == 1);
  assert_true(bq_window_lines_before(&w, 16) == 1);
  assert_true(bq_window_lines_before(&w, 17) == 2);
  assert_true(bq_window_ack(&w, 2) == 1);
  assert_string_equal(from(&w, 10), "cccccc\n");
  bq_window_free(&w);
}

/* The ring of line ends wraps many times. */
static void test_window_wrap(void **state) {
  struct bq_window w;
  char line[32];
  uint64_t i, total = 0;
  (void)state;
  assert_int_equal(bq_window_init(&w, 64, 5), 0);
  for (i = 1; i <= 1000; i++) {
    int n = snprintf(line, sizeof(line), "%llu", (unsigned long long)i);
    if (!bq_window_fits(&w, (size_t)n)) bq_window_ack(&w, i - 3);
    assert_int_equal(bq_window_push(&w, line, (size_t)n), 0);
    total += (uint64_t)n + 1;
    assert_true(bq_window_end(&w) == total);
    assert_true(w.next == i + 1);
  }
  assert_true(bq_window_count(&w) <= 5);
  snprintf(line, sizeof(line), "%llu\n",
           (unsigned long long)bq_window_first(&w));
  assert_memory_equal(from(&w, bq_window_start(&w)), line, strlen(line));
  total = bq_window_count(&w);
  assert_true(bq_window_ack(&w, 1000) == total);
  assert_int_equal(bq_window_count(&w), 0);
  bq_window_free(&w);
}

/* RESUME n beyond what was read: the lines up to n are skipped as they
 * are pushed, and numbering goes on from there. */
static void test_window_skip(void **state) {
  struct bq_window w;
  (void)state;
  assert_int_equal(bq_window_init(&w, 64, 8), 0);
  assert_int_equal(push(&w, "1"), 0);
  assert_true(bq_window_ack(&w, 3) == 1);
  assert_true(bq_window_first(&w) == 4 && w.next == 2);
  assert_true(bq_window_fits(&w, 1000)); /* skipped lines take no room */
  assert_int_equal(push(&w, "2"), 1);
  assert_int_equal(push(&w, "3"), 1);
  assert_true(w.skipped == 2);
  assert_int_equal(push(&w, "4"), 0);
  assert_int_equal(bq_window_count(&w), 1);
  assert_string_equal(from(&w, bq_window_start(&w)), "4\n");
  /* An ack of lines already skipped changes nothing. */
  assert_true(bq_window_ack(&w, 2) == 0);
  assert_true(bq_window_first(&w) == 4);
  /* Before anything was read at all. */
  bq_window_free(&w);
  assert_int_equal(bq_window_init(&w, 64, 8), 0);
  assert_true(bq_window_ack(&w, 2) == 0);
  assert_true(bq_window_first(&w) == 3);
  assert_int_equal(push(&w, "a"), 1);
  assert_int_equal(push(&w, "b"), 1);
  assert_int_equal(push(&w, "c"), 0);
  assert_true(w.skipped == 2 && w.next == 4);
  bq_window_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_window_basic),
      cmocka_unit_test(test_window_bounds),
      cmocka_unit_test(test_window_compaction),
      cmocka_unit_test(test_window_wrap),
      cmocka_unit_test(test_window_skip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
