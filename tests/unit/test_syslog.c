/*
 * test_syslog.c -- unit tests of the syslog framer and header parser
 * (common/syslog.h).
 *
 * Framer: every stream is checked fed whole, cut at every single offset,
 * cut at every pair of offsets and a byte at a time; what reaches the
 * callback (kind and exact bytes), the return codes of feed and finish and
 * the memory bound must be the same every time.  Parser: each field against
 * the message as written, and every slice must lie inside the message
 * (which is an exact-size heap copy, so a read past it is an ASan report in
 * the sanitizer builds).
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

#include "syslog.h"

/* ---- a callback that records what it is given ------------------------- */

struct got {
  int kind;
  size_t len;
  char *data; /* copy, NULL for BAD */
};

struct sink {
  struct got *v;
  size_t n, cap;
  int bad_args;   /* BAD with data/len, MSG/TRUNCATED with NULL or empty */
  size_t stop_at; /* return stop_rc from the call that makes n == stop_at */
  int stop_rc;
  struct bq_sysframer *f; /* if set_after: set its max to it after event 1 */
  size_t set_after;
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
  if (kind == BQ_SYSFRAME_BAD) {
    if (data != NULL || len != 0) s->bad_args++;
  } else if (kind == BQ_SYSFRAME_MSG || kind == BQ_SYSFRAME_TRUNCATED) {
    if (data == NULL || len == 0) {
      s->bad_args++;
    } else {
      g->data = malloc(len);
      assert_non_null(g->data);
      memcpy(g->data, data, len);
    }
  } else {
    s->bad_args++;
  }
  if (s->f != NULL && s->n == 1) bq_sysframer_set_max(s->f, s->set_after);
  if (s->stop_at != 0 && s->n == s->stop_at) return s->stop_rc;
  return 0;
}

/* ---- expected output ---------------------------------------------------- */

struct exp {
  int kind;
  const char *data;
  size_t len;
};

#define MSG(lit) {BQ_SYSFRAME_MSG, (lit), sizeof(lit) - 1}
#define TRUNC(lit) {BQ_SYSFRAME_TRUNCATED, (lit), sizeof(lit) - 1}
#define BAD {BQ_SYSFRAME_BAD, NULL, 0}

static void check_sink(const struct sink *s, const struct exp *e, size_t ne,
                       const char *what) {
  if (s->n != ne || s->bad_args != 0)
    print_error("%s: got %zu callbacks (bad args %d), want %zu\n", what, s->n,
                s->bad_args, ne);
  assert_int_equal(s->bad_args, 0);
  assert_int_equal(s->n, ne);
  for (size_t i = 0; i < ne; i++) {
    if (s->v[i].kind != e[i].kind || s->v[i].len != e[i].len ||
        (e[i].len && memcmp(s->v[i].data, e[i].data, e[i].len) != 0))
      print_error("%s: event %zu differs (kind %d len %zu, want kind %d "
                  "len %zu)\n",
                  what, i, s->v[i].kind, s->v[i].len, e[i].kind, e[i].len);
    assert_int_equal(s->v[i].kind, e[i].kind);
    assert_int_equal(s->v[i].len, e[i].len);
    if (e[i].len > 0) assert_memory_equal(s->v[i].data, e[i].data, e[i].len);
  }
}

static void check_bounds(const struct bq_sysframer *f) {
  assert_true(f->len <= f->max + 1);
  assert_true(f->cap <= f->max + 1);
  assert_true(f->len <= f->cap);
}

/* One case: a stream, its limit, the events it must give, and whether it
 * ends in BAD (then the feed that sees it, every later one and finish
 * return -EPROTO; otherwise every feed and finish return 0). */
struct scase {
  const char *in;
  size_t len;
  size_t max;
  const struct exp *e;
  size_t ne;
  int bad;
};

/* Feed c->in cut at the sorted offsets cuts[0..ncuts), then finish. */
static void run_cuts(const struct scase *c, const size_t *cuts, size_t ncuts,
                     const char *what) {
  struct bq_sysframer f;
  struct sink s;
  size_t from = 0;
  int dead = 0;
  sink_init(&s);
  bq_sysframer_init(&f, c->max);
  for (size_t i = 0; i <= ncuts; i++) {
    size_t to = i < ncuts ? cuts[i] : c->len;
    int r;
    assert_true(to >= from && to <= c->len);
    r = bq_sysframer_feed(&f, c->in + from, to - from, sink_cb, &s);
    if (dead) {
      assert_int_equal(r, -EPROTO);
    } else if (r != 0) {
      assert_true(c->bad);
      assert_int_equal(r, -EPROTO);
      dead = 1;
    }
    check_bounds(&f);
    from = to;
  }
  {
    size_t before = s.n;
    int r = bq_sysframer_finish(&f, sink_cb, &s);
    if (c->bad) {
      assert_int_equal(r, -EPROTO);
      if (dead) assert_int_equal(s.n, before); /* no second BAD */
    } else {
      assert_int_equal(r, 0);
    }
  }
  assert_int_equal(bq_sysframer_pending(&f), 0);
  check_sink(&s, c->e, c->ne, what);
  bq_sysframer_free(&f);
  sink_free(&s);
}

/* Whole, every cut, every pair of cuts (short streams), a byte at a time. */
static void run_case(const struct scase *c) {
  size_t cuts[2];
  run_cuts(c, NULL, 0, "whole");
  for (size_t i = 0; i <= c->len; i++) {
    cuts[0] = i;
    run_cuts(c, cuts, 1, "one cut");
  }
  if (c->len <= 160) {
    for (size_t i = 0; i <= c->len; i++)
      for (size_t j = i; j <= c->len; j++) {
        cuts[0] = i;
        cuts[1] = j;
        run_cuts(c, cuts, 2, "two cuts");
      }
  }
  {
    size_t *all = malloc((c->len + 1) * sizeof(*all));
    assert_non_null(all);
    for (size_t i = 0; i < c->len; i++) all[i] = i + 1;
    run_cuts(c, all, c->len, "bytewise");
    free(all);
  }
}

#define CASE(in, max, exps, bad)                                              \
  {(in), sizeof(in) - 1, (max), (exps), sizeof(exps) / sizeof((exps)[0]),     \
   (bad)}

/* ---- framing ------------------------------------------------------------ */

static void test_newline_frames(void **state) {
  static const char in[] = "<13>a\n<14>bc\r\nmid\rdle\r\n\r\r\n0 zero\n"
                           "tail\r";
  static const struct exp e[] = {MSG("<13>a"), MSG("<14>bc"), MSG("mid\rdle"),
                                 MSG("\r"),    MSG("0 zero"), MSG("tail")};
  struct scase c = CASE(in, 64, e, 0);
  (void)state;
  run_case(&c);
}

static void test_octet_frames(void **state) {
  /* Back to back, a '\n' inside a message, a stray LF between frames. */
  static const char in[] = "5 hello3 abc4 a\nb\n\n13 <13>1 - - - x";
  static const struct exp e[] = {MSG("hello"), MSG("abc"), MSG("a\nb\n"),
                                 MSG("<13>1 - - - x")};
  struct scase c = CASE(in, 64, e, 0);
  (void)state;
  run_case(&c);
}

static void test_mixed_frames(void **state) {
  static const struct exp e[] = {MSG("hello"), MSG("<13>x"), MSG("a\rb"),
                                 MSG("line\r\n\r"), MSG("plain"), MSG("z")};
  /* "7 line\r\n" takes the next '\r' too: octet counts are exact. */
  static const char in2[] = "5 hello<13>x\n3 a\rb\r\n\r\n7 line\r\n\rplain\n"
                            "1 z\n\n\n";
  struct scase c = CASE(in2, 64, e, 0);
  (void)state;
  run_case(&c);
}

static void test_keepalives(void **state) {
  static const char in[] = "\n\n\r\n\n<1>x\n\n\r\n";
  static const struct exp e[] = {MSG("<1>x")};
  static const char only[] = "\n\r\n\n\r";
  struct scase c = CASE(in, 16, e, 0);
  struct scase c2 = {only, sizeof(only) - 1, 16, NULL, 0, 0};
  (void)state;
  run_case(&c);
  run_case(&c2);
}

static void test_truncate_newline(void **state) {
  /* max 4: over by one, exactly max with CRLF, max + 1 with CRLF, a '\r'
   * inside at max + 1, far over, and an unterminated long tail. */
  static const char in[] = "abcdef\nab\nabcd\r\nabcde\r\nabcd\rX\n"
                           "abcd\r\r\nxyz\nlongtail";
  static const struct exp e[] = {TRUNC("abcd"), MSG("ab"),   MSG("abcd"),
                                 TRUNC("abcd"), TRUNC("abcd"), TRUNC("abcd"),
                                 MSG("xyz"),    TRUNC("long")};
  struct scase c = CASE(in, 4, e, 0);
  (void)state;
  run_case(&c);
}

static void test_truncate_octets(void **state) {
  static const char in[] = "6 abcdef4 wxyz5 12345\n9 a\nb\nc\nd\ne";
  static const struct exp e[] = {TRUNC("abcd"), MSG("wxyz"), TRUNC("1234"),
                                 TRUNC("a\nb\n")};
  struct scase c = CASE(in, 4, e, 0);
  (void)state;
  run_case(&c);
}

static void test_max_edges(void **state) {
  /* max 4: an unterminated "abcd\r" at the end is "abcd". */
  static const char in[] = "abcd\n4 abcd5 abcde";
  static const struct exp e[] = {MSG("abcd"), MSG("abcd"), TRUNC("abcd")};
  static const char in2[] = "xy\nabcd\r";
  static const struct exp e2[] = {MSG("xy"), MSG("abcd")};
  static const char in3[] = "1 a1 b";
  static const struct exp e3[] = {MSG("a"), MSG("b")};
  struct scase c = CASE(in, 4, e, 0);
  struct scase c2 = CASE(in2, 4, e2, 0);
  struct scase c3 = CASE(in3, 1, e3, 0);
  (void)state;
  run_case(&c);
  run_case(&c2);
  run_case(&c3);
}

static void test_bad_counts(void **state) {
  static const char not_sp[] = "3 abc12x hello\nnever\n";
  static const char ten[] = "1234567890 x";
  static const char lf[] = "3 abc7\nmore\n";
  static const char tab[] = "5\thello";
  static const struct exp e1[] = {MSG("abc"), BAD};
  static const struct exp e2[] = {BAD};
  struct scase c1 = CASE(not_sp, 64, e1, 1);
  struct scase c2 = CASE(ten, 64, e2, 1);
  struct scase c3 = CASE(lf, 64, e1, 1);
  struct scase c4 = CASE(tab, 64, e2, 1);
  (void)state;
  run_case(&c1);
  run_case(&c2);
  run_case(&c3);
  run_case(&c4);
}

static void test_nine_digits(void **state) {
  /* The largest count is accepted; the frame is then incomplete. */
  static const char in[] = "<1>\n999999999 abc";
  static const struct exp e[] = {MSG("<1>"), TRUNC("abc")};
  static const char in2[] = "<1>\n999999999 ab";
  static const struct exp e2[] = {MSG("<1>"), BAD};
  struct scase c = CASE(in, 3, e, 0);
  struct scase c2 = CASE(in2, 3, e2, 1);
  (void)state;
  run_case(&c);  /* truncated, then EOF in the skipped rest: silent */
  run_case(&c2); /* EOF before max bytes of it: BAD */
}

static void test_finish_partial(void **state) {
  static const char count[] = "5 hello12";
  static const char body[] = "5 hello5 hel";
  static const char line[] = "5 helloabc";
  static const struct exp e1[] = {MSG("hello"), BAD};
  static const struct exp e3[] = {MSG("hello"), MSG("abc")};
  struct scase c1 = CASE(count, 64, e1, 1);
  struct scase c2 = CASE(body, 64, e1, 1);
  struct scase c3 = CASE(line, 64, e3, 0);
  (void)state;
  run_case(&c1);
  run_case(&c2);
  run_case(&c3);
}

static void test_pending(void **state) {
  struct bq_sysframer f;
  struct sink s;
  (void)state;
  sink_init(&s);
  bq_sysframer_init(&f, 4);
  assert_int_equal(bq_sysframer_pending(&f), 0);
  assert_int_equal(bq_sysframer_feed(&f, "\n12", 3, sink_cb, &s), 0);
  assert_int_equal(bq_sysframer_pending(&f), 2);
  assert_int_equal(bq_sysframer_feed(&f, " ab", 3, sink_cb, &s), 0);
  assert_int_equal(bq_sysframer_pending(&f), 5);
  assert_int_equal(bq_sysframer_feed(&f, "cd", 2, sink_cb, &s), 0);
  assert_int_equal(s.n, 1); /* truncated: "abcd", 8 more to skip */
  assert_int_equal(bq_sysframer_pending(&f), 0);
  assert_int_equal(bq_sysframer_feed(&f, "12345678xy", 10, sink_cb, &s), 0);
  assert_int_equal(bq_sysframer_pending(&f), 2);
  assert_int_equal(bq_sysframer_feed(&f, "zzz", 3, sink_cb, &s), 0);
  assert_int_equal(bq_sysframer_pending(&f), 0); /* skipping the line */
  assert_int_equal(s.n, 2);
  assert_int_equal(bq_sysframer_finish(&f, sink_cb, &s), 0);
  assert_int_equal(s.n, 2);
  {
    static const struct exp e[] = {TRUNC("abcd"), TRUNC("xyzz")};
    check_sink(&s, e, 2, "pending");
  }
  bq_sysframer_free(&f);
  sink_free(&s);
}

static void test_callback_stops(void **state) {
  struct bq_sysframer f;
  struct sink s;
  static const char in[] = "1 a1 b\nc\n";
  (void)state;
  sink_init(&s);
  s.stop_at = 1;
  s.stop_rc = -ECANCELED;
  bq_sysframer_init(&f, 8);
  assert_int_equal(bq_sysframer_feed(&f, in, sizeof(in) - 1, sink_cb, &s),
                   -ECANCELED);
  assert_int_equal(s.n, 1);
  /* Still usable: the next feed frames from where it stopped. */
  assert_int_equal(bq_sysframer_feed(&f, "x\n", 2, sink_cb, &s), 0);
  assert_int_equal(s.n, 2);
  assert_int_equal(s.v[1].len, 1);
  assert_memory_equal(s.v[1].data, "x", 1);
  bq_sysframer_free(&f);
  sink_free(&s);
}

static void test_dead_after_bad(void **state) {
  struct bq_sysframer f;
  struct sink s;
  (void)state;
  sink_init(&s);
  s.stop_at = 1;
  s.stop_rc = -ECANCELED; /* BAD's return value is ignored */
  bq_sysframer_init(&f, 8);
  assert_int_equal(bq_sysframer_feed(&f, "3x", 2, sink_cb, &s), -EPROTO);
  assert_int_equal(bq_sysframer_feed(&f, "hello\n", 6, sink_cb, &s), -EPROTO);
  assert_int_equal(bq_sysframer_pending(&f), 0);
  assert_int_equal(bq_sysframer_finish(&f, sink_cb, &s), -EPROTO);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.v[0].kind, BQ_SYSFRAME_BAD);
  /* finish resets it: usable again. */
  assert_int_equal(bq_sysframer_feed(&f, "ok\n", 3, sink_cb, &s), 0);
  assert_int_equal(s.n, 2);
  bq_sysframer_free(&f);
  sink_free(&s);
}

static void test_set_max_after_first(void **state) {
  /* As after an AUTH line: the first frame has a limit of its own. */
  static const char in[] = "abcdef\nabcdef\n8 12345678";
  static const struct exp e[] = {TRUNC("abc"), MSG("abcdef"),
                                 MSG("12345678")};
  size_t len = sizeof(in) - 1;
  (void)state;
  for (size_t cut = 0; cut <= len; cut++) {
    struct bq_sysframer f;
    struct sink s;
    sink_init(&s);
    bq_sysframer_init(&f, 3);
    s.f = &f;
    s.set_after = 10;
    assert_int_equal(bq_sysframer_feed(&f, in, cut, sink_cb, &s), 0);
    check_bounds(&f);
    assert_int_equal(bq_sysframer_feed(&f, in + cut, len - cut, sink_cb, &s),
                     0);
    check_bounds(&f);
    assert_int_equal(bq_sysframer_finish(&f, sink_cb, &s), 0);
    check_sink(&s, e, 3, "set_max");
    bq_sysframer_free(&f);
    sink_free(&s);
  }
}

static void test_large_split(void **state) {
  /* A 9000-byte octet-counted message and a 9000-byte line, each split in
   * two feeds: the buffer grows past KEEP_CAP and is freed afterwards. */
  size_t n = 9000, len;
  char *in = malloc(2 * n + 32);
  struct bq_sysframer f;
  struct sink s;
  (void)state;
  assert_non_null(in);
  len = (size_t)sprintf(in, "%zu ", n);
  for (size_t i = 0; i < n; i++) in[len++] = (char)('a' + i % 26);
  for (size_t i = 0; i < n; i++) in[len++] = (char)('A' + i % 26);
  in[len++] = '\n';
  sink_init(&s);
  bq_sysframer_init(&f, 10000);
  assert_int_equal(bq_sysframer_feed(&f, in, 3000, sink_cb, &s), 0);
  assert_int_equal(bq_sysframer_pending(&f), 3000);
  assert_int_equal(bq_sysframer_feed(&f, in + 3000, 9500, sink_cb, &s), 0);
  assert_int_equal(bq_sysframer_feed(&f, in + 12500, len - 12500, sink_cb, &s),
                   0);
  assert_int_equal(s.n, 2);
  assert_null(f.buf); /* over 4 KiB: not kept */
  assert_int_equal(s.v[0].len, n);
  assert_memory_equal(s.v[0].data, in + 5, n);
  assert_int_equal(s.v[1].len, n);
  assert_memory_equal(s.v[1].data, in + 5 + n, n);
  assert_int_equal(bq_sysframer_finish(&f, sink_cb, &s), 0);
  bq_sysframer_free(&f);
  sink_free(&s);
  free(in);
}

/* ---- the header parser -------------------------------------------------- */

/* Parse an exact-size heap copy of lit; check every slice lies inside. */
static void parse(const char *lit, size_t len, struct bq_syslog_hdr *h,
                  char **copy) {
  char *m = len ? malloc(len) : NULL;
  if (len) {
    assert_non_null(m);
    memcpy(m, lit, len);
  }
  bq_syslog_parse(m, len, h);
  {
    const char *s[] = {h->log_time, h->hostname, h->app_name, h->procid,
                       h->msgid};
    size_t l[] = {h->log_time_len, h->hostname_len, h->app_name_len,
                  h->procid_len, h->msgid_len};
    for (size_t i = 0; i < 5; i++) {
      if (s[i] == NULL) {
        assert_int_equal(l[i], 0);
      } else {
        assert_true(l[i] >= 1);
        assert_true(s[i] >= m && s[i] + l[i] <= m + len);
      }
    }
  }
  if (h->format == 0) {
    assert_int_equal(h->facility, -1);
    assert_int_equal(h->severity, -1);
  }
  *copy = m;
}

static void expect_field(const char *got, size_t glen, const char *want) {
  if (want == NULL) {
    assert_null(got);
    assert_int_equal(glen, 0);
  } else {
    assert_non_null(got);
    if (glen != strlen(want) || memcmp(got, want, glen) != 0)
      print_error("field \"%.*s\", want \"%s\"\n", (int)glen, got, want);
    assert_int_equal(glen, strlen(want));
    assert_memory_equal(got, want, glen);
  }
}

static void check_parse(const char *msg, int format, int fac, int sev,
                        const char *time, const char *host, const char *app,
                        const char *procid, const char *msgid) {
  struct bq_syslog_hdr h;
  char *m;
  parse(msg, strlen(msg), &h, &m);
  if (h.format != format) print_error("format %d for: %s\n", h.format, msg);
  assert_int_equal(h.format, format);
  assert_int_equal(h.facility, fac);
  assert_int_equal(h.severity, sev);
  expect_field(h.log_time, h.log_time_len, time);
  expect_field(h.hostname, h.hostname_len, host);
  expect_field(h.app_name, h.app_name_len, app);
  expect_field(h.procid, h.procid_len, procid);
  expect_field(h.msgid, h.msgid_len, msgid);
  free(m);
}

static void test_parse_5424(void **state) {
  (void)state;
  /* RFC 5424 section 6.5, examples 1 to 4. */
  check_parse("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - "
              "ID47 - BOM'su root' failed for lonvick on /dev/pts/8",
              5424, 4, 2, "2003-10-11T22:14:15.003Z", "mymachine.example.com",
              "su", NULL, "ID47");
  check_parse("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 "
              "- - %% It's time to make the do-nuts.",
              5424, 20, 5, "2003-08-24T05:14:15.000003-07:00", "192.0.2.1",
              "myproc", "8710", NULL);
  check_parse("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog "
              "- ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" "
              "eventID=\"1011\"] BOMAn application event log entry...",
              5424, 20, 5, "2003-10-11T22:14:15.003Z", "mymachine.example.com",
              "evntslog", NULL, "ID47");
  check_parse("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog "
              "- ID47 [exampleSDID@32473 iut=\"3\"][examplePriority@32473 "
              "class=\"high\"]",
              5424, 20, 5, "2003-10-11T22:14:15.003Z", "mymachine.example.com",
              "evntslog", NULL, "ID47");
  /* util-linux logger --rfc5424 (its default over the network). */
  check_parse("<13>1 2023-12-03T10:00:00.123456+01:00 myhost user - - "
              "[timeQuality tzKnown=\"1\" isSynced=\"1\" "
              "syncAccuracy=\"88000\"] hello",
              5424, 1, 5, "2023-12-03T10:00:00.123456+01:00", "myhost", "user",
              NULL, NULL);
  /* Every field NILVALUE; the header alone, ending after MSGID. */
  check_parse("<0>1 - - - - - -", 5424, 0, 0, NULL, NULL, NULL, NULL, NULL);
  check_parse("<191>1 - h a p m", 5424, 23, 7, NULL, "h", "a", "p", "m");
  /* "-x" is a value, not NILVALUE. */
  check_parse("<14>1 - -h -a -p -m -", 5424, 1, 6, NULL, "-h", "-a", "-p",
              "-m");
}

/* A 5424 message whose field n (0 host, 1 app, 2 procid, 3 msgid) is len
 * bytes: 5424 at the limit, 3164 (no fields) one over it. */
static void check_limit(int n, size_t limit) {
  for (size_t len = limit; len <= limit + 1; len++) {
    char buf[600], *v;
    const char *w[4] = {"h", "a", "p", "m"};
    size_t k;
    struct bq_syslog_hdr h;
    char *m;
    v = malloc(len + 1);
    assert_non_null(v);
    memset(v, 'x', len);
    v[len] = '\0';
    w[n] = v;
    k = (size_t)snprintf(buf, sizeof(buf), "<13>1 2023-01-01T00:00:00Z %s %s %s %s -",
                         w[0], w[1], w[2], w[3]);
    assert_true(k < sizeof(buf));
    parse(buf, k, &h, &m);
    if (len == limit) {
      const char *s[4] = {h.hostname, h.app_name, h.procid, h.msgid};
      size_t l[4] = {h.hostname_len, h.app_name_len, h.procid_len,
                     h.msgid_len};
      assert_int_equal(h.format, 5424);
      assert_non_null(s[n]);
      assert_int_equal(l[n], limit);
    } else {
      assert_int_equal(h.format, 3164);
      assert_null(h.hostname);
      assert_null(h.app_name);
      assert_null(h.procid);
      assert_null(h.msgid);
    }
    assert_int_equal(h.facility, 1);
    assert_int_equal(h.severity, 5);
    free(m);
    free(v);
  }
}

static void test_parse_5424_limits(void **state) {
  (void)state;
  check_limit(0, BQ_SYSLOG_HOSTNAME_MAX);
  check_limit(1, BQ_SYSLOG_APP_NAME_MAX);
  check_limit(2, BQ_SYSLOG_PROCID_MAX);
  check_limit(3, BQ_SYSLOG_MSGID_MAX);
}

static void test_parse_5424_invalid(void **state) {
  (void)state;
  /* Not 5424 (a field missing, a double SP, a version 2, a timestamp that
   * is no date): read as 3164, which finds no header fields in them. */
  check_parse("<13>1 - h a p", 3164, 1, 5, NULL, NULL, NULL, NULL, NULL);
  check_parse("<13>1 -  h a p m", 3164, 1, 5, NULL, NULL, NULL, NULL, NULL);
  check_parse("<13>2 - h a p m", 3164, 1, 5, NULL, NULL, NULL, NULL, NULL);
  check_parse("<13>1 yesterday h a p m", 3164, 1, 5, NULL, NULL, NULL, NULL,
              NULL);
  check_parse("<13>1 - h\ta p m", 3164, 1, 5, NULL, NULL, NULL, NULL, NULL);
}

static void test_parse_3164(void **state) {
  (void)state;
  /* util-linux logger --rfc3164. */
  check_parse("<13>Dec  3 10:00:00 host user: msg", 3164, 1, 5,
              "Dec  3 10:00:00", "host", "user", NULL, NULL);
  /* rsyslog omfwd, RSYSLOG_TraditionalForwardFormat. */
  check_parse("<38>Jan 15 08:01:02 web1.example.com sshd[4321]: Accepted "
              "publickey for root",
              3164, 4, 6, "Jan 15 08:01:02", "web1.example.com", "sshd", "4321",
              NULL);
  /* rsyslog RSYSLOG_ForwardFormat: an RFC 3339 timestamp. */
  check_parse("<30>2023-12-03T10:00:00.123+01:00 host systemd[1]: Started.",
              3164, 3, 6, "2023-12-03T10:00:00.123+01:00", "host", "systemd",
              "1", NULL);
  /* RFC 3164 section 5.4's example. */
  check_parse("<34>Oct 11 22:14:15 mymachine su: 'su root' failed", 3164, 4, 2,
              "Oct 11 22:14:15", "mymachine", "su", NULL, NULL);
  /* No hostname (BSD syslogd to a local relay): the TAG follows. */
  check_parse("<13>Dec  3 10:00:00 user: msg", 3164, 1, 5, "Dec  3 10:00:00",
              NULL, "user", NULL, NULL);
  check_parse("<86>Feb  1 00:00:00 CRON[99]: (root) CMD", 3164, 10, 6,
              "Feb  1 00:00:00", NULL, "CRON", "99", NULL);
  /* A one-digit day, a leading SP (HP ProCurve), a path as TAG. */
  check_parse("<13>Dec 3 10:00:00 h t: m", 3164, 1, 5, "Dec 3 10:00:00", "h",
              "t", NULL, NULL);
  check_parse("<13> Dec  3 10:00:00 h /usr/sbin/cron[12]: m", 3164, 1, 5,
              "Dec  3 10:00:00", "h", "/usr/sbin/cron", "12", NULL);
  /* TAG[PID] without a colon; the header only. */
  check_parse("<13>Dec  3 10:00:00 h app[7] m", 3164, 1, 5, "Dec  3 10:00:00",
              "h", "app", "7", NULL);
  check_parse("<13>Dec  3 10:00:00 h", 3164, 1, 5, "Dec  3 10:00:00", "h",
              NULL, NULL, NULL);
  check_parse("<13>Dec  3 10:00:00", 3164, 1, 5, "Dec  3 10:00:00", NULL, NULL,
              NULL, NULL);
  /* No timestamp: only a TAG is looked for. */
  check_parse("<13>user: hi", 3164, 1, 5, NULL, NULL, "user", NULL, NULL);
  check_parse("<13>hello world", 3164, 1, 5, NULL, NULL, NULL, NULL, NULL);
  check_parse("<13>", 3164, 1, 5, NULL, NULL, NULL, NULL, NULL);
  /* A word not ended by ':' or '[PID]' is MSG, not a TAG. */
  check_parse("<13>Dec  3 10:00:00 h just words", 3164, 1, 5,
              "Dec  3 10:00:00", "h", NULL, NULL, NULL);
  /* Not timestamps: day 0 or 32, hour 24, a month that is none. */
  check_parse("<13>Dec 32 10:00:00 h t: m", 3164, 1, 5, NULL, NULL, NULL, NULL,
              NULL);
  check_parse("<13>Dec  0 10:00:00 h t: m", 3164, 1, 5, NULL, NULL, NULL, NULL,
              NULL);
  check_parse("<13>Dec  3 24:00:00 h t: m", 3164, 1, 5, NULL, NULL, NULL, NULL,
              NULL);
  check_parse("<13>Foo  3 10:00:00 h t: m", 3164, 1, 5, NULL, NULL, NULL, NULL,
              NULL);
  /* Bad PID or TAG: absent. */
  check_parse("<13>Dec  3 10:00:00 h t[]: m", 3164, 1, 5, "Dec  3 10:00:00",
              "h", NULL, NULL, NULL);
  check_parse("<13>Dec  3 10:00:00 h t[1 m", 3164, 1, 5, "Dec  3 10:00:00",
              "h", NULL, NULL, NULL);
  check_parse("<13>Dec  3 10:00:00 h t[1]x m", 3164, 1, 5, "Dec  3 10:00:00",
              "h", NULL, NULL, NULL);
  check_parse("<13>Dec  3 10:00:00 h "
              "a23456789012345678901234567890123456789012345678: m",
              3164, 1, 5, "Dec  3 10:00:00", "h",
              "a23456789012345678901234567890123456789012345678", NULL, NULL);
  check_parse("<13>Dec  3 10:00:00 h "
              "a234567890123456789012345678901234567890123456789: m",
              3164, 1, 5, "Dec  3 10:00:00", "h", NULL, NULL, NULL);
}

static void test_parse_pri(void **state) {
  (void)state;
  check_parse("<0>x: m", 3164, 0, 0, NULL, NULL, "x", NULL, NULL);
  check_parse("<191>x: m", 3164, 23, 7, NULL, NULL, "x", NULL, NULL);
  check_parse("<007>x: m", 3164, 0, 7, NULL, NULL, "x", NULL, NULL);
  check_parse("<192>x: m", 0, -1, -1, NULL, NULL, NULL, NULL, NULL);
  check_parse("<999>x", 0, -1, -1, NULL, NULL, NULL, NULL, NULL);
  check_parse("<1000>x", 0, -1, -1, NULL, NULL, NULL, NULL, NULL);
  check_parse("<>x", 0, -1, -1, NULL, NULL, NULL, NULL, NULL);
  check_parse("<-1>x", 0, -1, -1, NULL, NULL, NULL, NULL, NULL);
  check_parse("<13", 0, -1, -1, NULL, NULL, NULL, NULL, NULL);
  check_parse("<", 0, -1, -1, NULL, NULL, NULL, NULL, NULL);
  check_parse("13>x", 0, -1, -1, NULL, NULL, NULL, NULL, NULL);
  check_parse("Dec  3 10:00:00 host user: msg", 0, -1, -1, NULL, NULL, NULL,
              NULL, NULL);
  check_parse("", 0, -1, -1, NULL, NULL, NULL, NULL, NULL);
}

static void test_parse_prefixes(void **state) {
  /* Every prefix of a few messages: slices stay inside the prefix (the
   * copy is exact-size) and the shorter header never invents a field. */
  static const char *msgs[] = {
      "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - "
      "ID47 [x@1 a=\"b\"] msg",
      "<38>Jan 15 08:01:02 web1 sshd[4321]: Accepted",
      "<30>2023-12-03T10:00:00.123+01:00 host systemd[1]: Started.",
  };
  (void)state;
  for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
    size_t n = strlen(msgs[i]);
    for (size_t len = 0; len <= n; len++) {
      struct bq_syslog_hdr h;
      char *m;
      parse(msgs[i], len, &h, &m);
      free(m);
    }
  }
}

static void test_parse_garbage(void **state) {
  /* Random bytes, and random bytes after a valid PRI and after "<13>1 ":
   * no crash, slices inside, limits kept. */
  uint64_t x = 0x9e3779b97f4a7c15u;
  (void)state;
  for (int round = 0; round < 20000; round++) {
    char buf[96];
    size_t len, pre = 0;
    struct bq_syslog_hdr h;
    char *m;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    len = (size_t)(x % sizeof(buf));
    if (round % 3 == 1) {
      pre = 4;
      memcpy(buf, "<13>", 4);
    } else if (round % 3 == 2) {
      pre = 6;
      memcpy(buf, "<13>1 ", 6);
    }
    if (len < pre) len = pre;
    for (size_t i = pre; i < len; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      /* Mostly a syslog-ish alphabet, so that fields are found at all. */
      buf[i] = (x & 3) ? " -:[]<>0123456789Dec TZ.a"[(x >> 8) % 25]
                       : (char)(x >> 16);
    }
    parse(buf, len, &h, &m);
    assert_true(h.log_time_len <= BQ_SYSLOG_TIME_MAX);
    assert_true(h.hostname_len <= BQ_SYSLOG_HOSTNAME_MAX);
    assert_true(h.app_name_len <= BQ_SYSLOG_APP_NAME_MAX);
    assert_true(h.procid_len <= BQ_SYSLOG_PROCID_MAX);
    assert_true(h.msgid_len <= BQ_SYSLOG_MSGID_MAX);
    if (pre) assert_int_not_equal(h.format, 0);
    free(m);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_newline_frames),
      cmocka_unit_test(test_octet_frames),
      cmocka_unit_test(test_mixed_frames),
      cmocka_unit_test(test_keepalives),
      cmocka_unit_test(test_truncate_newline),
      cmocka_unit_test(test_truncate_octets),
      cmocka_unit_test(test_max_edges),
      cmocka_unit_test(test_bad_counts),
      cmocka_unit_test(test_nine_digits),
      cmocka_unit_test(test_finish_partial),
      cmocka_unit_test(test_pending),
      cmocka_unit_test(test_callback_stops),
      cmocka_unit_test(test_dead_after_bad),
      cmocka_unit_test(test_set_max_after_first),
      cmocka_unit_test(test_large_split),
      cmocka_unit_test(test_parse_5424),
      cmocka_unit_test(test_parse_5424_limits),
      cmocka_unit_test(test_parse_5424_invalid),
      cmocka_unit_test(test_parse_3164),
      cmocka_unit_test(test_parse_pri),
      cmocka_unit_test(test_parse_prefixes),
      cmocka_unit_test(test_parse_garbage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
