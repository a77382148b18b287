/*
 * test_frame.c -- unit tests of the line framer (common/frame.h).
 *
 * Every test compares what the framer hands to its callback with a list of
 * expected messages, byte for byte, however the input is cut into feeds.
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

#include "frame.h"

/* ---- a callback that records what it is given ------------------------- */

struct got {
  int kind;
  size_t len;
  char *data; /* copy, NULL for BQ_FRAME_TOO_LONG */
};

struct sink {
  struct got *v;
  size_t n, cap;
  size_t stop_at; /* return stop_rc from the call that makes n == stop_at */
  int stop_rc;
  int bad_args;   /* TOO_LONG with data/len, or MSG with NULL data */
};

static void sink_init(struct sink *s) { memset(s, 0, sizeof(*s)); }

static void sink_free(struct sink *s) {
  for (size_t i = 0; i < s->n; i++) free(s->v[i].data);
  free(s->v);
  memset(s, 0, sizeof(*s));
}

static int sink_cb(void *arg, int kind, const char *data, size_t len) {
  struct sink *s = arg;
  struct got *g;
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 16;
    s->v = realloc(s->v, s->cap * sizeof(*s->v));
    assert_non_null(s->v);
  }
  g = &s->v[s->n++];
  g->kind = kind;
  g->len = len;
  g->data = NULL;
  if (kind == BQ_FRAME_TOO_LONG) {
    if (data != NULL || len != 0) s->bad_args++;
  } else if (kind == BQ_FRAME_MSG) {
    if (data == NULL) {
      s->bad_args++;
    } else {
      g->data = malloc(len + 1);
      assert_non_null(g->data);
      memcpy(g->data, data, len);
    }
  } else {
    s->bad_args++;
  }
  if (s->stop_at != 0 && s->n == s->stop_at) return s->stop_rc;
  return 0;
}

/* ---- expected output ---------------------------------------------------- */

struct exp {
  int kind;
  const char *data;
  size_t len;
};

#define MSG(lit) {BQ_FRAME_MSG, (lit), sizeof(lit) - 1}
#define LONG {BQ_FRAME_TOO_LONG, NULL, 0}

static void check_sink(const struct sink *s, const struct exp *e, size_t ne,
                       const char *what) {
  if (s->n != ne || s->bad_args != 0)
    print_error("%s: got %zu callbacks (bad args %d), want %zu\n", what, s->n,
                s->bad_args, ne);
  assert_int_equal(s->bad_args, 0);
  assert_int_equal(s->n, ne);
  for (size_t i = 0; i < ne; i++) {
    if (s->v[i].kind != e[i].kind || s->v[i].len != e[i].len ||
        (e[i].kind == BQ_FRAME_MSG &&
         memcmp(s->v[i].data, e[i].data, e[i].len) != 0))
      print_error("%s: message %zu differs (kind %d len %zu, want kind %d "
                  "len %zu)\n",
                  what, i, s->v[i].kind, s->v[i].len, e[i].kind, e[i].len);
    assert_int_equal(s->v[i].kind, e[i].kind);
    assert_int_equal(s->v[i].len, e[i].len);
    if (e[i].kind == BQ_FRAME_MSG && e[i].len > 0)
      assert_memory_equal(s->v[i].data, e[i].data, e[i].len);
  }
}

/* Check the documented memory bound after a feed. */
static void check_bounds(const struct bq_framer *f) {
  assert_true(f->len <= f->max + 1);
  assert_true(f->cap <= f->max + 1);
  assert_true(f->len <= f->cap);
  if (f->skipping) assert_int_equal(bq_framer_pending(f), 0);
  assert_int_equal(bq_framer_pending(f), f->len);
}

/* Feed in[0..len) cut at the sorted offsets cuts[0..ncuts), then finish. */
static void run_cuts(const char *in, size_t len, size_t max,
                     const size_t *cuts, size_t ncuts, struct sink *s) {
  struct bq_framer f;
  size_t from = 0;
  bq_framer_init(&f, max);
  for (size_t i = 0; i <= ncuts; i++) {
    size_t to = i < ncuts ? cuts[i] : len;
    assert_true(to >= from && to <= len);
    assert_int_equal(bq_framer_feed(&f, in + from, to - from, sink_cb, s), 0);
    check_bounds(&f);
    from = to;
  }
  assert_int_equal(bq_framer_finish(&f, sink_cb, s), 0);
  assert_int_equal(bq_framer_pending(&f), 0);
  bq_framer_free(&f);
}

static void run_bytewise(const char *in, size_t len, size_t max,
                         struct sink *s) {
  struct bq_framer f;
  bq_framer_init(&f, max);
  for (size_t i = 0; i < len; i++) {
    assert_int_equal(bq_framer_feed(&f, in + i, 1, sink_cb, s), 0);
    check_bounds(&f);
  }
  assert_int_equal(bq_framer_finish(&f, sink_cb, s), 0);
  bq_framer_free(&f);
}

static uint64_t rng_next(uint64_t *st) {
  uint64_t x = *st;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *st = x;
  return x;
}

/* ---- the fixed input ---------------------------------------------------- */

#define FIXED_MAX 8

/* String pieces are kept apart so that no hex escape swallows a digit. */
static const char fixed_in[] =
    "hello\n"
    "world\r\n"
    "\n"
    "\r\n"
    "mid\rdle\r\n"
    "bin\0" "\xff\x01" "\x80\n"
    "12345678\r\n"       /* exactly max, CRLF */
    "1234567\r\r\n"      /* max, the first \r is payload */
    "123456789\n"        /* max + 1 */
    "12345678\r\r\n"     /* max + 1 after stripping one \r */
    "abcdefghijklmnopqrstuvwxyz0123456789\n" /* far over */
    "\r\r\n"             /* payload "\r" */
    "after\r\n"
    "\0\n"               /* a lone NUL */
    "tail\r";            /* EOF remainder with a trailing \r */

static const struct exp fixed_exp[] = {
    MSG("hello"),
    MSG("world"),
    MSG(""),
    MSG(""),
    MSG("mid\rdle"),
    MSG("bin\0" "\xff\x01" "\x80"),
    MSG("12345678"),
    MSG("1234567\r"),
    LONG,
    LONG,
    LONG,
    MSG("\r"),
    MSG("after"),
    MSG("\0"),
    MSG("tail"),
};
#define FIXED_LEN (sizeof(fixed_in) - 1)
#define FIXED_NEXP (sizeof(fixed_exp) / sizeof(fixed_exp[0]))

static void test_fixed_whole(void **state) {
  struct sink s;
  (void)state;
  sink_init(&s);
  run_cuts(fixed_in, FIXED_LEN, FIXED_MAX, NULL, 0, &s);
  check_sink(&s, fixed_exp, FIXED_NEXP, "whole");
  sink_free(&s);
}

static void test_fixed_every_split(void **state) {
  (void)state;
  for (size_t i = 0; i <= FIXED_LEN; i++) {
    struct sink s;
    sink_init(&s);
    run_cuts(fixed_in, FIXED_LEN, FIXED_MAX, &i, 1, &s);
    check_sink(&s, fixed_exp, FIXED_NEXP, "one split");
    sink_free(&s);
  }
}

static void test_fixed_every_pair_of_splits(void **state) {
  (void)state;
  for (size_t i = 0; i <= FIXED_LEN; i++) {
    for (size_t j = i; j <= FIXED_LEN; j++) {
      size_t cuts[2] = {i, j};
      struct sink s;
      sink_init(&s);
      run_cuts(fixed_in, FIXED_LEN, FIXED_MAX, cuts, 2, &s);
      check_sink(&s, fixed_exp, FIXED_NEXP, "two splits");
      sink_free(&s);
    }
  }
}

static void test_fixed_bytewise(void **state) {
  struct sink s;
  (void)state;
  sink_init(&s);
  run_bytewise(fixed_in, FIXED_LEN, FIXED_MAX, &s);
  check_sink(&s, fixed_exp, FIXED_NEXP, "bytewise");
  sink_free(&s);
}

static void test_fixed_random_chunks(void **state) {
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  (void)state;
  for (int round = 0; round < 2000; round++) {
    size_t cuts[FIXED_LEN + 1], n = 0, at = 0;
    struct sink s;
    for (;;) {
      at += (size_t)(rng_next(&rng) % 12);
      if (at > FIXED_LEN) break;
      cuts[n++] = at; /* repeated offsets give empty feeds */
    }
    sink_init(&s);
    run_cuts(fixed_in, FIXED_LEN, FIXED_MAX, cuts, n, &s);
    check_sink(&s, fixed_exp, FIXED_NEXP, "random chunks");
    sink_free(&s);
  }
}

/* With a large limit the over-long lines of the fixed input are messages. */
static void test_fixed_large_max(void **state) {
  static const struct exp e[] = {
      MSG("hello"),     MSG("world"),
      MSG(""),          MSG(""),
      MSG("mid\rdle"),  MSG("bin\0" "\xff\x01" "\x80"),
      MSG("12345678"),  MSG("1234567\r"),
      MSG("123456789"), MSG("12345678\r"),
      MSG("abcdefghijklmnopqrstuvwxyz0123456789"),
      MSG("\r"),        MSG("after"),
      MSG("\0"),        MSG("tail"),
  };
  (void)state;
  for (size_t i = 0; i <= FIXED_LEN; i++) {
    struct sink s;
    sink_init(&s);
    run_cuts(fixed_in, FIXED_LEN, 65536, &i, 1, &s);
    check_sink(&s, e, sizeof(e) / sizeof(e[0]), "large max");
    sink_free(&s);
  }
}

/* A line inside one feed is passed in place; such feeds allocate nothing. */
static void test_in_place_without_allocation(void **state) {
  static const char in[] = "one\ntwo\r\n\nthree\n";
  struct bq_framer f;
  struct sink s;
  (void)state;
  sink_init(&s);
  bq_framer_init(&f, 100);
  assert_int_equal(bq_framer_feed(&f, in, sizeof(in) - 1, sink_cb, &s), 0);
  assert_null(f.buf);
  assert_int_equal(f.cap, 0);
  assert_int_equal(s.n, 4);
  bq_framer_free(&f);
  sink_free(&s);
}

struct where {
  const char *lo, *hi;
  int outside;
  int calls;
};

static int where_cb(void *arg, int kind, const char *data, size_t len) {
  struct where *w = arg;
  w->calls++;
  if (kind != BQ_FRAME_MSG || data < w->lo || data + len > w->hi) w->outside++;
  return 0;
}

static void test_in_place_pointers(void **state) {
  static const char in[] = "one\ntwo\r\n\nthree\n";
  struct where w = {in, in + sizeof(in) - 1, 0, 0};
  struct bq_framer f;
  (void)state;
  bq_framer_init(&f, 100);
  assert_int_equal(bq_framer_feed(&f, in, sizeof(in) - 1, where_cb, &w), 0);
  assert_int_equal(w.calls, 4);
  assert_int_equal(w.outside, 0);
  assert_int_equal(bq_framer_finish(&f, where_cb, &w), 0);
  assert_int_equal(w.calls, 4);
}

/* ---- CRLF, empty lines, EOF -------------------------------------------- */

static void feed_all(struct bq_framer *f, const char *in, size_t len,
                     struct sink *s) {
  assert_int_equal(bq_framer_feed(f, in, len, sink_cb, s), 0);
}

static void test_crlf(void **state) {
  static const char in[] = "a\r\n"
                           "b\r\r\n"
                           "\rc\n"
                           "d\re\r\n"
                           "\r\n"
                           "f\n";
  static const struct exp e[] = {MSG("a"),   MSG("b\r"), MSG("\rc"),
                                 MSG("d\re"), MSG(""),    MSG("f")};
  struct bq_framer f;
  struct sink s;
  (void)state;
  sink_init(&s);
  bq_framer_init(&f, 64);
  feed_all(&f, in, sizeof(in) - 1, &s);
  assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
  check_sink(&s, e, sizeof(e) / sizeof(e[0]), "crlf");
  sink_free(&s);
}

static void test_empty_lines(void **state) {
  static const struct exp e[] = {MSG(""), MSG(""), MSG(""), MSG("x"),
                                 MSG("")};
  struct bq_framer f;
  struct sink s;
  (void)state;
  sink_init(&s);
  bq_framer_init(&f, 1);
  feed_all(&f, "\n\n\r\nx\n\n", 7, &s);
  assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
  check_sink(&s, e, sizeof(e) / sizeof(e[0]), "empty lines");
  sink_free(&s);
}

static void test_empty_input(void **state) {
  struct bq_framer f;
  struct sink s;
  (void)state;
  sink_init(&s);
  bq_framer_init(&f, 16);
  assert_int_equal(bq_framer_feed(&f, "", 0, sink_cb, &s), 0);
  assert_int_equal(bq_framer_feed(&f, "x", 0, sink_cb, &s), 0);
  assert_int_equal(bq_framer_pending(&f), 0);
  assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
  assert_int_equal(s.n, 0);
  /* finish on a fresh framer, and finish twice */
  bq_framer_init(&f, 16);
  assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
  assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
  assert_int_equal(s.n, 0);
  sink_free(&s);
}

static void test_finish_remainder(void **state) {
  struct bq_framer f;
  struct sink s;
  (void)state;

  /* without \r, over two feeds */
  {
    static const struct exp e[] = {MSG("a"), MSG("bc")};
    sink_init(&s);
    bq_framer_init(&f, 16);
    feed_all(&f, "a\nb", 3, &s);
    feed_all(&f, "c", 1, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(bq_framer_pending(&f), 2);
    assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
    check_sink(&s, e, 2, "finish plain");
    assert_int_equal(bq_framer_pending(&f), 0);
    /* finish reset the framer: a second finish emits nothing */
    assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
    assert_int_equal(s.n, 2);
    sink_free(&s);
  }
  /* with a trailing \r */
  {
    static const struct exp e[] = {MSG("xy")};
    sink_init(&s);
    bq_framer_init(&f, 16);
    feed_all(&f, "xy\r", 3, &s);
    assert_int_equal(s.n, 0);
    assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
    check_sink(&s, e, 1, "finish cr");
    sink_free(&s);
  }
  /* a \r inside the remainder is kept */
  {
    static const struct exp e[] = {MSG("x\ry")};
    sink_init(&s);
    bq_framer_init(&f, 16);
    feed_all(&f, "x\ry", 3, &s);
    assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
    check_sink(&s, e, 1, "finish inner cr");
    sink_free(&s);
  }
  /* nothing after the last \n: nothing at EOF */
  {
    static const struct exp e[] = {MSG("done")};
    sink_init(&s);
    bq_framer_init(&f, 16);
    feed_all(&f, "done\n", 5, &s);
    assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
    check_sink(&s, e, 1, "finish nothing");
    sink_free(&s);
  }
  /* the framer can be used again after finish */
  {
    static const struct exp e[] = {MSG("1"), MSG("2"), MSG("3")};
    sink_init(&s);
    bq_framer_init(&f, 16);
    feed_all(&f, "1", 1, &s);
    assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
    bq_framer_init(&f, 16);
    feed_all(&f, "2\n3", 3, &s);
    assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
    check_sink(&s, e, 3, "reuse");
    sink_free(&s);
  }
}

/* ---- the length limit ---------------------------------------------------- */

static size_t next_len(size_t max) { return max < 4 ? max : 4; }

/* payload of plen bytes (never '\n' or '\r'), then "\r" if cr, then "\n" and
 * a short next line if terminated. */
static char *make_line(size_t plen, int cr, int terminated, size_t max,
                       size_t *len) {
  char *b = malloc(plen + 8);
  size_t n = 0;
  assert_non_null(b);
  for (size_t i = 0; i < plen; i++) b[n++] = (char)('a' + (i * 7) % 26);
  if (cr) b[n++] = '\r';
  if (terminated) { /* the next line: "next" cut to the limit */
    b[n++] = '\n';
    memcpy(b + n, "next", next_len(max));
    n += next_len(max);
    b[n++] = '\n';
  }
  *len = n;
  return b;
}

static void check_limit_result(const struct sink *s, const char *in,
                               size_t plen, int cr, size_t max,
                               int terminated) {
  struct exp e[2];
  size_t ne = 0;
  /* With no payload, no '\r' and no '\n' there was no input at all.  A lone
   * "\r" at EOF is a non-empty remainder: an empty message. */
  if (plen > 0 || cr || terminated) {
    if (plen <= max) {
      e[ne].kind = BQ_FRAME_MSG;
      e[ne].data = in;
      e[ne].len = plen;
    } else {
      e[ne].kind = BQ_FRAME_TOO_LONG;
      e[ne].data = NULL;
      e[ne].len = 0;
    }
    ne++;
  }
  if (terminated) {
    e[ne].kind = BQ_FRAME_MSG;
    e[ne].data = "next";
    e[ne].len = next_len(max);
    ne++;
  }
  {
    char what[96];
    snprintf(what, sizeof(what), "limit max=%zu plen=%zu cr=%d terminated=%d",
             max, plen, cr, terminated);
    check_sink(s, e, ne, what);
  }
}

static void limit_case(size_t max, size_t plen, int cr, int terminated) {
  size_t len;
  char *in = make_line(plen, cr, terminated, max, &len);
  struct sink s;

  /* whole */
  sink_init(&s);
  run_cuts(in, len, max, NULL, 0, &s);
  check_limit_result(&s, in, plen, cr, max, terminated);
  sink_free(&s);

  /* byte by byte */
  sink_init(&s);
  run_bytewise(in, len, max, &s);
  check_limit_result(&s, in, plen, cr, max, terminated);
  sink_free(&s);

  /* one split: every offset for small lines, the interesting ones else */
  for (size_t i = 0; i <= len; i++) {
    if (len > 700 && !(i < 4 || (i > 250 && i < 262) || i + 4 > len ||
                       (i + 4 > plen && i < plen + 4) ||
                       (i > 4090 && i < 4100)))
      continue;
    sink_init(&s);
    run_cuts(in, len, max, &i, 1, &s);
    check_limit_result(&s, in, plen, cr, max, terminated);
    sink_free(&s);
  }
  free(in);
}

static void test_limit_sizes(void **state) {
  static const size_t maxes[] = {1,   2,    3,    16,   255,  256,
                                 257, 300,  4095, 4096, 4097, 5000};
  (void)state;
  for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++) {
    size_t max = maxes[m];
    for (size_t plen = max - 1; plen <= max + 1; plen++)
      for (int cr = 0; cr <= 1; cr++)
        for (int term = 0; term <= 1; term++) limit_case(max, plen, cr, term);
  }
}

/* A payload of exactly max bytes whose last byte is '\r', then CRLF. */
static void test_limit_payload_ending_in_cr(void **state) {
  static const char in[] = "ab\r\r\nabc\r\r\nz\n";
  static const struct exp e[] = {MSG("ab\r"), LONG, MSG("z")};
  (void)state;
  for (size_t i = 0; i <= sizeof(in) - 1; i++) {
    struct sink s;
    sink_init(&s);
    run_cuts(in, sizeof(in) - 1, 3, &i, 1, &s);
    check_sink(&s, e, 3, "payload ending in cr");
    sink_free(&s);
  }
}

/* A long line over many feeds: one TOO_LONG, reported before its end, and
 * the next line intact. */
static void test_too_long_spanning_feeds(void **state) {
  static const struct exp e[] = {MSG("short"), LONG, MSG("next"),
                                 MSG("last")};
  char chunk[10];
  struct bq_framer f;
  struct sink s;
  (void)state;
  memset(chunk, 'x', sizeof(chunk));
  sink_init(&s);
  bq_framer_init(&f, 10);
  feed_all(&f, "short\nxx", 8, &s);
  assert_int_equal(s.n, 1);
  for (int i = 0; i < 100; i++) {
    feed_all(&f, chunk, sizeof(chunk), &s);
    check_bounds(&f);
    /* 10 + 2 bytes without '\r' are over max 10: known to be too long */
    assert_int_equal(s.n, 2);
    assert_int_equal(s.v[1].kind, BQ_FRAME_TOO_LONG);
    assert_int_equal(bq_framer_pending(&f), 0);
  }
  feed_all(&f, "\r", 1, &s);
  feed_all(&f, "\nnext\n", 6, &s);
  feed_all(&f, "last\n", 5, &s);
  assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
  check_sink(&s, e, 4, "spanning");
  sink_free(&s);
}

/* The '\n' of a long line arrives alone, and at the start of a feed. */
static void test_too_long_newline_alone(void **state) {
  static const struct exp e[] = {LONG, MSG("ok"), LONG, MSG("ok2")};
  struct bq_framer f;
  struct sink s;
  (void)state;
  sink_init(&s);
  bq_framer_init(&f, 4);
  feed_all(&f, "123456", 6, &s);
  feed_all(&f, "\n", 1, &s);
  feed_all(&f, "ok\n", 3, &s);
  feed_all(&f, "12345678", 8, &s);
  feed_all(&f, "\nok2\n", 5, &s);
  assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
  check_sink(&s, e, 4, "newline alone");
  sink_free(&s);
}

/* A too-long unterminated line at EOF is reported once and nothing else is
 * emitted, however it was fed. */
static void test_too_long_at_eof(void **state) {
  static const struct exp e[] = {MSG("a"), LONG};
  static const char *tails[] = {"12345", "123456", "1234567890123",
                                "12345\r", "123456\r"};
  (void)state;
  for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
    char in[64];
    size_t len = (size_t)snprintf(in, sizeof(in), "a\n%s", tails[t]);
    for (size_t i = 0; i <= len; i++) {
      struct sink s;
      sink_init(&s);
      run_cuts(in, len, 4, &i, 1, &s);
      check_sink(&s, e, 2, "too long at eof");
      sink_free(&s);
    }
    {
      struct sink s;
      sink_init(&s);
      run_bytewise(in, len, 4, &s);
      check_sink(&s, e, 2, "too long at eof, bytewise");
      sink_free(&s);
    }
  }
}

/* ---- binary -------------------------------------------------------------- */

static void test_binary_exact(void **state) {
  char in[2 * 256 + 8];
  size_t n = 0, plen;
  struct exp e[3];
  (void)state;
  /* every byte value except '\n', ending in a non-'\r' byte */
  for (int c = 0; c < 256; c++)
    if (c != '\n' && c != '\r') in[n++] = (char)c;
  in[n++] = '\r'; /* a '\r' inside */
  in[n++] = 0;
  plen = n;
  in[n++] = '\n';
  memcpy(in + n, "\0\0\0\n", 4);
  n += 4;
  memcpy(in + n, "\xff\xfe\r", 3); /* unterminated, with a final '\r' */
  n += 3;
  e[0].kind = BQ_FRAME_MSG;
  e[0].data = in;
  e[0].len = plen;
  e[1].kind = BQ_FRAME_MSG;
  e[1].data = "\0\0\0";
  e[1].len = 3;
  e[2].kind = BQ_FRAME_MSG;
  e[2].data = "\xff\xfe";
  e[2].len = 2;
  for (size_t i = 0; i <= n; i++) {
    struct sink s;
    sink_init(&s);
    run_cuts(in, n, 300, &i, 1, &s);
    check_sink(&s, e, 3, "binary");
    sink_free(&s);
  }
  {
    struct sink s;
    sink_init(&s);
    run_bytewise(in, n, 300, &s);
    check_sink(&s, e, 3, "binary bytewise");
    sink_free(&s);
  }
}

/* ---- the callback stops framing ----------------------------------------- */

static void test_callback_stop_in_place(void **state) {
  static const struct exp e[] = {MSG("a"), MSG("d")};
  struct bq_framer f;
  struct sink s;
  (void)state;
  sink_init(&s);
  s.stop_at = 1;
  s.stop_rc = -42;
  bq_framer_init(&f, 16);
  assert_int_equal(bq_framer_feed(&f, "a\nb\nc\n", 6, sink_cb, &s), -42);
  assert_int_equal(s.n, 1);
  assert_int_equal(bq_framer_pending(&f), 0);
  /* still usable; the rest of that feed was dropped */
  assert_int_equal(bq_framer_feed(&f, "d\n", 2, sink_cb, &s), 0);
  assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
  check_sink(&s, e, 2, "stop in place");
  sink_free(&s);
}

static void test_callback_stop_buffered(void **state) {
  static const struct exp e[] = {MSG("ab"), MSG("e")};
  struct bq_framer f;
  struct sink s;
  (void)state;
  sink_init(&s);
  s.stop_at = 1;
  s.stop_rc = -EPIPE;
  bq_framer_init(&f, 16);
  assert_int_equal(bq_framer_feed(&f, "a", 1, sink_cb, &s), 0);
  assert_int_equal(bq_framer_feed(&f, "b\nc\nd", 5, sink_cb, &s), -EPIPE);
  assert_int_equal(s.n, 1);
  assert_int_equal(bq_framer_pending(&f), 0);
  assert_int_equal(bq_framer_feed(&f, "e\n", 2, sink_cb, &s), 0);
  assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
  check_sink(&s, e, 2, "stop buffered");
  sink_free(&s);
}

static void test_callback_stop_too_long(void **state) {
  struct bq_framer f;
  struct sink s;
  (void)state;

  /* terminated long line */
  {
    static const struct exp e[] = {LONG, MSG("y")};
    sink_init(&s);
    s.stop_at = 1;
    s.stop_rc = -1;
    bq_framer_init(&f, 2);
    assert_int_equal(bq_framer_feed(&f, "abcdef\nx\n", 9, sink_cb, &s), -1);
    assert_int_equal(s.n, 1);
    assert_int_equal(bq_framer_feed(&f, "y\n", 2, sink_cb, &s), 0);
    assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
    check_sink(&s, e, 2, "stop too long");
    sink_free(&s);
  }
  /* unterminated long line: its rest is still skipped afterwards */
  {
    static const struct exp e[] = {LONG, MSG("z")};
    sink_init(&s);
    s.stop_at = 1;
    s.stop_rc = -7;
    bq_framer_init(&f, 2);
    assert_int_equal(bq_framer_feed(&f, "abcdef", 6, sink_cb, &s), -7);
    assert_int_equal(bq_framer_feed(&f, "gh\nz\n", 5, sink_cb, &s), 0);
    assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
    check_sink(&s, e, 2, "stop too long unterminated");
    sink_free(&s);
  }
}

static void test_callback_stop_finish(void **state) {
  struct bq_framer f;
  struct sink s;
  (void)state;
  sink_init(&s);
  s.stop_at = 1;
  s.stop_rc = -ECONNRESET;
  bq_framer_init(&f, 16);
  assert_int_equal(bq_framer_feed(&f, "tail", 4, sink_cb, &s), 0);
  assert_int_equal(bq_framer_finish(&f, sink_cb, &s), -ECONNRESET);
  assert_int_equal(s.n, 1);
  assert_int_equal(bq_framer_pending(&f), 0);
  sink_free(&s);
}

/* ---- pending ------------------------------------------------------------- */

static void test_pending(void **state) {
  struct bq_framer f;
  struct sink s;
  (void)state;
  sink_init(&s);
  bq_framer_init(&f, 8);
  assert_int_equal(bq_framer_pending(&f), 0);
  feed_all(&f, "abc", 3, &s);
  assert_int_equal(bq_framer_pending(&f), 3);
  feed_all(&f, "de", 2, &s);
  assert_int_equal(bq_framer_pending(&f), 5);
  feed_all(&f, "\r", 1, &s);
  assert_int_equal(bq_framer_pending(&f), 6);
  feed_all(&f, "\n", 1, &s);
  assert_int_equal(bq_framer_pending(&f), 0);
  assert_int_equal(s.n, 1);
  feed_all(&f, "x\ny", 3, &s);
  assert_int_equal(bq_framer_pending(&f), 1);
  feed_all(&f, "123456789012", 12, &s); /* now too long: skipping */
  assert_int_equal(bq_framer_pending(&f), 0);
  feed_all(&f, "more", 4, &s);
  assert_int_equal(bq_framer_pending(&f), 0);
  feed_all(&f, "\nq", 2, &s);
  assert_int_equal(bq_framer_pending(&f), 1);
  assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
  assert_int_equal(bq_framer_pending(&f), 0);
  {
    static const struct exp e[] = {MSG("abcde"), MSG("x"), LONG, MSG("q")};
    check_sink(&s, e, 4, "pending");
  }
  sink_free(&s);
}

/* ---- a limit of its own for the first line (bq_framer_set_max) ---------- */

/* A sink whose callback sets the framer's limit to max after the first line,
 * as the daemon does once the AUTH line has passed. */
struct switcher {
  struct sink s;
  struct bq_framer *f;
  size_t max;
};

static int switch_cb(void *arg, int kind, const char *data, size_t len) {
  struct switcher *w = arg;
  int r = sink_cb(&w->s, kind, data, len);
  if (w->s.n == 1) bq_framer_set_max(w->f, w->max);
  return r;
}

/* Frame in[0..len) with limit first for the first line and max after it:
 * whole, at every split, and a byte at a time. */
static void check_switch(const char *in, size_t len, size_t first,
                         size_t max, const struct exp *e, size_t ne,
                         const char *what) {
  for (size_t cut = 0; cut <= len + 1; cut++) {
    struct bq_framer f;
    struct switcher w;
    size_t from = 0;
    memset(&w, 0, sizeof(w));
    w.f = &f;
    w.max = max;
    bq_framer_init(&f, first);
    while (from < len) {
      /* cut <= len: one split there; cut == len + 1: bytewise */
      size_t to = cut == len + 1 ? from + 1 : (from < cut ? cut : len);
      assert_int_equal(bq_framer_feed(&f, in + from, to - from, switch_cb, &w),
                       0);
      check_bounds(&f);
      from = to;
    }
    assert_int_equal(bq_framer_finish(&f, switch_cb, &w), 0);
    check_sink(&w.s, e, ne, what);
    assert_int_equal(f.max, w.s.n > 0 ? max : first);
    bq_framer_free(&f);
    sink_free(&w.s);
  }
}

static void test_set_max_lower_after_first(void **state) {
  (void)state;
  /* The first line may be longer than later ones; a later line that long is
   * rejected, also when it ends at EOF. */
  {
    static const char in[] = "AUTH 0123456789abcdef\r\nabcd\nabcde\r\n\nxyzw";
    static const struct exp e[] = {MSG("AUTH 0123456789abcdef"), MSG("abcd"),
                                   LONG, MSG(""), MSG("xyzw")};
    check_switch(in, sizeof(in) - 1, 32, 4, e, 5, "lowered");
  }
  {
    static const char in[] = "AUTH 0123456789abcdef\nabcde";
    static const struct exp e[] = {MSG("AUTH 0123456789abcdef"), LONG};
    check_switch(in, sizeof(in) - 1, 32, 4, e, 2, "lowered, long tail");
  }
  /* A first line over its own limit is rejected by that limit. */
  {
    static const char in[] = "AUTH 0123456789abcdefXXXXXXXXXXXXXXX\nab\n";
    static const struct exp e[] = {LONG, MSG("ab")};
    check_switch(in, sizeof(in) - 1, 32, 4, e, 2, "first too long");
  }
}

static void test_set_max_raise_after_first(void **state) {
  static const char in[] = "abc\n0123456789\n01234567890\nq";
  static const struct exp e[] = {MSG("abc"), MSG("0123456789"), LONG,
                                 MSG("q")};
  (void)state;
  check_switch(in, sizeof(in) - 1, 4, 10, e, 4, "raised");
}

/* Between lines, outside any callback: a buffer too big for the new limit
 * goes at once. */
static void test_set_max_between_feeds(void **state) {
  static const struct exp e[] = {MSG("0123456789"), LONG, MSG("ab")};
  struct bq_framer f;
  struct sink s;
  (void)state;
  sink_init(&s);
  bq_framer_init(&f, 16);
  feed_all(&f, "01234", 5, &s);
  feed_all(&f, "56789\n", 6, &s); /* through the buffer */
  assert_int_equal(bq_framer_pending(&f), 0);
  assert_true(f.cap > 3);
  bq_framer_set_max(&f, 2);
  check_bounds(&f);
  feed_all(&f, "abc\na", 5, &s);
  feed_all(&f, "b\n", 2, &s);
  check_bounds(&f);
  assert_int_equal(bq_framer_finish(&f, sink_cb, &s), 0);
  check_sink(&s, e, 3, "between feeds");
  sink_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixed_whole),
      cmocka_unit_test(test_fixed_every_split),
      cmocka_unit_test(test_fixed_every_pair_of_splits),
      cmocka_unit_test(test_fixed_bytewise),
      cmocka_unit_test(test_fixed_random_chunks),
      cmocka_unit_test(test_fixed_large_max),
      cmocka_unit_test(test_in_place_without_allocation),
      cmocka_unit_test(test_in_place_pointers),
      cmocka_unit_test(test_crlf),
      cmocka_unit_test(test_empty_lines),
      cmocka_unit_test(test_empty_input),
      cmocka_unit_test(test_finish_remainder),
      cmocka_unit_test(test_limit_sizes),
      cmocka_unit_test(test_limit_payload_ending_in_cr),
      cmocka_unit_test(test_too_long_spanning_feeds),
      cmocka_unit_test(test_too_long_newline_alone),
      cmocka_unit_test(test_too_long_at_eof),
      cmocka_unit_test(test_binary_exact),
      cmocka_unit_test(test_callback_stop_in_place),
      cmocka_unit_test(test_callback_stop_buffered),
      cmocka_unit_test(test_callback_stop_too_long),
      cmocka_unit_test(test_callback_stop_finish),
      cmocka_unit_test(test_pending),
      cmocka_unit_test(test_set_max_lower_after_first),
      cmocka_unit_test(test_set_max_raise_after_first),
      cmocka_unit_test(test_set_max_between_feeds),
  };
  /* BQ_UNIT_FILTER=test_x* runs only the matching tests. */
  if (getenv("BQ_UNIT_FILTER") != NULL)
    cmocka_set_test_filter(getenv("BQ_UNIT_FILTER"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}
