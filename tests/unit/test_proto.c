/*
 * test_proto.c -- unit tests of the protocol's words (common/proto.h):
 * classifying client lines in each state, token syntax, the AUTH line,
 * producer ids and the HELLO line, formatting every reply the daemon sends
 * and parsing every reply (each format -> parse round trip), with the
 * boundaries docs/protocol.md sets.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

/* The errors without an argument (ERR gap n: test_gap). */
static const int all_errs[] = {BQ_ERR_TOO_LONG, BQ_ERR_TOO_MANY,
                               BQ_ERR_DENIED,   BQ_ERR_AUTH,
                               BQ_ERR_IDLE,     BQ_ERR_HELLO,
                               BQ_ERR_FENCED};
#define NERRS (sizeof(all_errs) / sizeof(all_errs[0]))

static int classify(enum bq_proto_state st, const char *s,
                    struct bq_proto_line *l) {
  return bq_proto_classify(st, s, strlen(s), l);
}

static int parse(const char *s, struct bq_proto_reply *r) {
  return bq_proto_parse_reply(s, strlen(s), r);
}

/* ---- client lines ------------------------------------------------------ */

static void test_classify_messages(void **state) {
  /* In message state every line is a message, byte for byte. */
  static const char *const lines[] = {
      "",          "hello",      "AUTH tok",  "AUTH ",    "AUTH",
      "OK 1",      "ERR auth",   "HELLO 1",   "a\rb",     "AUTH a b"};
  struct bq_proto_line l;
  const char bin[] = {'x', '\0', '\n', (char)0xff, '\r'};
  size_t i;
  (void)state;
  for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
    assert_int_equal(classify(BQ_PROTO_MESSAGES, lines[i], &l), BQ_LINE_MSG);
    assert_int_equal(l.kind, BQ_LINE_MSG);
    assert_ptr_equal(l.arg, lines[i]);
    assert_int_equal(l.len, strlen(lines[i]));
  }
  assert_int_equal(bq_proto_classify(BQ_PROTO_MESSAGES, bin, sizeof(bin), &l),
                   BQ_LINE_MSG);
  assert_ptr_equal(l.arg, bin);
  assert_int_equal(l.len, sizeof(bin));
}

static void test_classify_auth(void **state) {
  static char line[BQ_PROTO_AUTH_LEN + BQ_PROTO_TOKEN_MAX + 2];
  struct bq_proto_line l;
  (void)state;
  assert_int_equal(classify(BQ_PROTO_EXPECT_AUTH, "AUTH s3cret-Tok_1", &l),
                   BQ_LINE_AUTH);
  assert_int_equal(l.kind, BQ_LINE_AUTH);
  assert_int_equal(l.len, 12);
  assert_memory_equal(l.arg, "s3cret-Tok_1", 12);
  assert_int_equal(classify(BQ_PROTO_EXPECT_AUTH, "AUTH x", &l), BQ_LINE_AUTH);
  assert_int_equal(l.len, 1);
  assert_int_equal(l.arg[0], 'x');
  /* The longest token, and one byte more. */
  memcpy(line, "AUTH ", 5);
  memset(line + 5, '~', BQ_PROTO_TOKEN_MAX + 1);
  assert_int_equal(bq_proto_classify(BQ_PROTO_EXPECT_AUTH, line,
                                     5 + BQ_PROTO_TOKEN_MAX, &l),
                   BQ_LINE_AUTH);
  assert_int_equal(l.len, BQ_PROTO_TOKEN_MAX);
  assert_ptr_equal(l.arg, line + 5);
  assert_int_equal(bq_proto_classify(BQ_PROTO_EXPECT_AUTH, line,
                                     5 + BQ_PROTO_TOKEN_MAX + 1, &l),
                   BQ_LINE_BAD);
}

static void test_classify_auth_bad(void **state) {
  /* In AUTH state anything but "AUTH <valid token>" is a protocol error. */
  static const char *const bad[] = {
      "",           "AUTH",        "AUTH ",       "AUTHtok",   "auth tok",
      "Auth tok",   " AUTH tok",   "AUTH  tok",   "AUTH tok ", "AUTH a b",
      "AUTH tok\r", "AUTH \rtok",  "AUTH t\tok",  "AUTH t\x7f", "AUTH t\x80",
      "AUTH t\xff", "hello",       "OK 1",        "AUT tok",   "AUTH\ttok"};
  struct bq_proto_line l;
  const char nul[] = "AUTH a\0b";
  size_t i;
  (void)state;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (classify(BQ_PROTO_EXPECT_AUTH, bad[i], &l) != BQ_LINE_BAD)
      fail_msg("accepted '%s' as an AUTH line", bad[i]);
    assert_int_equal(l.kind, BQ_LINE_BAD);
    assert_null(l.arg);
    assert_int_equal(l.len, 0);
  }
  assert_int_equal(bq_proto_classify(BQ_PROTO_EXPECT_AUTH, nul,
                                     sizeof(nul) - 1, &l),
                   BQ_LINE_BAD);
  /* A prefix of a line is not read past len. */
  assert_int_equal(bq_proto_classify(BQ_PROTO_EXPECT_AUTH, "AUTH tok", 5, &l),
                   BQ_LINE_BAD);
  assert_int_equal(bq_proto_classify(BQ_PROTO_EXPECT_AUTH, "AUTH tok", 4, &l),
                   BQ_LINE_BAD);
  assert_int_equal(bq_proto_classify(BQ_PROTO_EXPECT_AUTH, "AUTH tok", 6, &l),
                   BQ_LINE_AUTH);
  assert_int_equal(l.len, 1);
}

static void test_token_check(void **state) {
  static char big[BQ_PROTO_TOKEN_MAX + 1];
  size_t at = 99;
  int ch;
  (void)state;
  assert_int_equal(bq_proto_token_check("", 0, &at), BQ_TOKEN_EMPTY);
  assert_int_equal(bq_proto_token_check("a", 1, &at), BQ_TOKEN_OK);
  assert_int_equal(at, 99); /* untouched unless a bad byte */
  memset(big, '!', sizeof(big));
  assert_int_equal(bq_proto_token_check(big, BQ_PROTO_TOKEN_MAX, &at),
                   BQ_TOKEN_OK);
  assert_int_equal(bq_proto_token_check(big, BQ_PROTO_TOKEN_MAX + 1, &at),
                   BQ_TOKEN_TOO_LONG);
  /* The first bad byte is reported, wherever it is. */
  assert_int_equal(bq_proto_token_check("ab c d", 6, &at), BQ_TOKEN_BAD_BYTE);
  assert_int_equal(at, 2);
  assert_int_equal(bq_proto_token_check(" x", 2, &at), BQ_TOKEN_BAD_BYTE);
  assert_int_equal(at, 0);
  assert_int_equal(bq_proto_token_check("xy\n", 3, &at), BQ_TOKEN_BAD_BYTE);
  assert_int_equal(at, 2);
  assert_int_equal(bq_proto_token_check("x\0y", 3, NULL), BQ_TOKEN_BAD_BYTE);
  big[BQ_PROTO_TOKEN_MAX - 1] = '\x7f';
  assert_int_equal(bq_proto_token_check(big, BQ_PROTO_TOKEN_MAX, &at),
                   BQ_TOKEN_BAD_BYTE);
  assert_int_equal(at, BQ_PROTO_TOKEN_MAX - 1);
  /* Exactly 0x21..0x7e are token bytes. */
  for (ch = 0; ch < 256; ch++) {
    char c = (char)ch;
    int want = ch >= 0x21 && ch <= 0x7e ? BQ_TOKEN_OK : BQ_TOKEN_BAD_BYTE;
    if (bq_proto_token_check(&c, 1, NULL) != want) fail_msg("byte 0x%02x", ch);
  }
}

static void test_format_auth(void **state) {
  char buf[BQ_PROTO_AUTH_LINE_MAX + 8];
  static char big[BQ_PROTO_TOKEN_MAX + 1];
  struct bq_proto_line l;
  size_t n;
  (void)state;
  n = bq_proto_format_auth(buf, sizeof(buf), "tok", 3);
  assert_int_equal(n, 9);
  assert_memory_equal(buf, "AUTH tok\n", 9);
  /* Round trip: the line, less its "\n", classifies to the same token. */
  assert_int_equal(bq_proto_classify(BQ_PROTO_EXPECT_AUTH, buf, n - 1, &l),
                   BQ_LINE_AUTH);
  assert_int_equal(l.len, 3);
  assert_memory_equal(l.arg, "tok", 3);
  /* cap: exact fits, one less writes nothing. */
  memset(buf, '#', sizeof(buf));
  assert_int_equal(bq_proto_format_auth(buf, 8, "tok", 3), 0);
  assert_int_equal(buf[0], '#');
  assert_int_equal(bq_proto_format_auth(buf, 9, "tok", 3), 9);
  /* Invalid tokens are never formatted. */
  assert_int_equal(bq_proto_format_auth(buf, sizeof(buf), "", 0), 0);
  assert_int_equal(bq_proto_format_auth(buf, sizeof(buf), "a b", 3), 0);
  assert_int_equal(bq_proto_format_auth(buf, sizeof(buf), "a\n", 2), 0);
  memset(big, 'k', sizeof(big));
  assert_int_equal(bq_proto_format_auth(buf, sizeof(buf), big,
                                        BQ_PROTO_TOKEN_MAX + 1), 0);
  n = bq_proto_format_auth(buf, BQ_PROTO_AUTH_LINE_MAX, big,
                           BQ_PROTO_TOKEN_MAX);
  assert_int_equal(n, BQ_PROTO_AUTH_LINE_MAX);
  assert_int_equal(buf[n - 1], '\n');
  assert_int_equal(bq_proto_classify(BQ_PROTO_EXPECT_AUTH, buf, n - 1, &l),
                   BQ_LINE_AUTH);
  assert_int_equal(l.len, BQ_PROTO_TOKEN_MAX);
}

/* ---- the HELLO line and producer ids ----------------------------------- */

static void test_producer_check(void **state) {
  static char big[BQ_PROTO_PRODUCER_MAX + 1];
  int ch;
  (void)state;
  assert_int_equal(bq_proto_producer_check("web1-access", 11), 0);
  assert_int_equal(bq_proto_producer_check("a", 1), 0);
  assert_int_equal(bq_proto_producer_check("A.z_0:9-", 8), 0);
  assert_int_equal(bq_proto_producer_check("", 0), -EINVAL);
  memset(big, 'p', sizeof(big));
  assert_int_equal(bq_proto_producer_check(big, BQ_PROTO_PRODUCER_MAX), 0);
  assert_int_equal(bq_proto_producer_check(big, BQ_PROTO_PRODUCER_MAX + 1),
                   -EINVAL);
  assert_int_equal(bq_proto_producer_check("a\0b", 3), -EINVAL);
  /* Exactly [A-Za-z0-9._:-] are id bytes, wherever they are. */
  for (ch = 0; ch < 256; ch++) {
    char id[3] = {'x', (char)ch, 'y'};
    int want = ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
                ch == ':' || ch == '-')
                   ? 0
                   : -EINVAL;
    if (bq_proto_producer_check(id, 3) != want) fail_msg("byte 0x%02x", ch);
    if (bq_proto_producer_check(id + 1, 1) != want)
      fail_msg("byte 0x%02x alone", ch);
  }
}

static void test_classify_hello(void **state) {
  static char line[BQ_PROTO_HELLO_LINE_MAX + 8];
  struct bq_proto_line l;
  (void)state;
  assert_int_equal(classify(BQ_PROTO_EXPECT_HELLO, "HELLO web1-access", &l),
                   BQ_LINE_HELLO);
  assert_int_equal(l.kind, BQ_LINE_HELLO);
  assert_int_equal(l.len, 11);
  assert_memory_equal(l.arg, "web1-access", 11);
  assert_true(l.first_seq == 1); /* the default */
  assert_int_equal(classify(BQ_PROTO_EXPECT_HELLO, "HELLO p 1", &l),
                   BQ_LINE_HELLO);
  assert_int_equal(l.len, 1);
  assert_true(l.first_seq == 1);
  assert_int_equal(classify(BQ_PROTO_EXPECT_HELLO, "HELLO p:1.a_b-c 4097", &l),
                   BQ_LINE_HELLO);
  assert_int_equal(l.len, 9);
  assert_memory_equal(l.arg, "p:1.a_b-c", 9);
  assert_true(l.first_seq == 4097);
  assert_int_equal(
      classify(BQ_PROTO_EXPECT_HELLO, "HELLO p 9223372036854775807", &l),
      BQ_LINE_HELLO);
  assert_true(l.first_seq == (uint64_t)INT64_MAX);
  /* The longest id, and one byte more. */
  memcpy(line, "HELLO ", 6);
  memset(line + 6, 'i', BQ_PROTO_PRODUCER_MAX + 1);
  assert_int_equal(bq_proto_classify(BQ_PROTO_EXPECT_HELLO, line,
                                     6 + BQ_PROTO_PRODUCER_MAX, &l),
                   BQ_LINE_HELLO);
  assert_ptr_equal(l.arg, line + 6);
  assert_int_equal(l.len, BQ_PROTO_PRODUCER_MAX);
  assert_int_equal(bq_proto_classify(BQ_PROTO_EXPECT_HELLO, line,
                                     6 + BQ_PROTO_PRODUCER_MAX + 1, &l),
                   BQ_LINE_HELLO_BAD);
  /* A prefix of a line is not read past len. */
  assert_int_equal(bq_proto_classify(BQ_PROTO_EXPECT_HELLO, "HELLO p 12", 9, &l),
                   BQ_LINE_HELLO);
  assert_true(l.first_seq == 1);
  assert_int_equal(bq_proto_classify(BQ_PROTO_EXPECT_HELLO, "HELLO p 12", 8, &l),
                   BQ_LINE_HELLO_BAD);
  assert_int_equal(bq_proto_classify(BQ_PROTO_EXPECT_HELLO, "HELLO p", 6, &l),
                   BQ_LINE_HELLO_BAD);
  assert_int_equal(bq_proto_classify(BQ_PROTO_EXPECT_HELLO, "HELLO p", 5, &l),
                   BQ_LINE_HELLO_BAD);
  assert_int_equal(bq_proto_classify(BQ_PROTO_EXPECT_HELLO, "HELLO p", 4, &l),
                   BQ_LINE_MSG);
  assert_int_equal(l.len, 4);
}

static void test_classify_hello_bad(void **state) {
  /* "HELLO" or "HELLO ..." of any other syntax is a bad HELLO. */
  static const char *const bad[] = {
      "HELLO",        "HELLO ",         "HELLO  p",       "HELLO p ",
      "HELLO p  1",   "HELLO p 0",      "HELLO p 01",     "HELLO p +1",
      "HELLO p -1",   "HELLO p 1 2",    "HELLO p 1x",     "HELLO p x",
      "HELLO p/q",    "HELLO p\tq",     "HELLO p\r",      "HELLO \rp",
      "HELLO p\x80",  "HELLO p q r",    "HELLO p 9223372036854775808",
      "HELLO p 18446744073709551616",   "HELLO p 99999999999999999999",
      "HELLO  ",      "HELLO p\x7f",    "HELLO p,q",      "HELLO p 1\r"};
  /* Anything else is the connection's first message, byte for byte. */
  static const char *const msgs[] = {
      "",        "HELL",      "HELLOp",   "HELLO\tp", "hello p", "Hello p",
      " HELLO p", "xHELLO p", "AUTH tok", "OK 1",     "RESUME 1",
      "HELLOHELLO p"};
  struct bq_proto_line l;
  const char nul[] = "HELLO a\0b";
  size_t i;
  (void)state;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (classify(BQ_PROTO_EXPECT_HELLO, bad[i], &l) != BQ_LINE_HELLO_BAD)
      fail_msg("'%s' is not a bad HELLO", bad[i]);
    assert_int_equal(l.kind, BQ_LINE_HELLO_BAD);
    assert_null(l.arg);
    assert_int_equal(l.len, 0);
    assert_true(l.first_seq == 0);
  }
  assert_int_equal(bq_proto_classify(BQ_PROTO_EXPECT_HELLO, nul,
                                     sizeof(nul) - 1, &l),
                   BQ_LINE_HELLO_BAD);
  for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
    if (classify(BQ_PROTO_EXPECT_HELLO, msgs[i], &l) != BQ_LINE_MSG)
      fail_msg("'%s' is not a message", msgs[i]);
    assert_ptr_equal(l.arg, msgs[i]);
    assert_int_equal(l.len, strlen(msgs[i]));
    assert_true(l.first_seq == 0);
  }
  /* HELLO is a command only in its state. */
  assert_int_equal(classify(BQ_PROTO_MESSAGES, "HELLO p", &l), BQ_LINE_MSG);
  assert_int_equal(classify(BQ_PROTO_MESSAGES, "HELLO", &l), BQ_LINE_MSG);
  assert_int_equal(classify(BQ_PROTO_EXPECT_AUTH, "HELLO p", &l), BQ_LINE_BAD);
}

static void hello_roundtrip(const char *id, uint64_t seq) {
  char buf[BQ_PROTO_HELLO_LINE_MAX], want[BQ_PROTO_HELLO_LINE_MAX + 32];
  struct bq_proto_line l;
  size_t len = strlen(id), n;
  int w = seq == 0 ? snprintf(want, sizeof(want), "HELLO %s\n", id)
                   : snprintf(want, sizeof(want), "HELLO %s %" PRIu64 "\n",
                              id, seq);
  n = bq_proto_format_hello(buf, sizeof(buf), id, len, seq);
  assert_int_equal(n, (size_t)w);
  assert_memory_equal(buf, want, n);
  assert_int_equal(bq_proto_classify(BQ_PROTO_EXPECT_HELLO, buf, n - 1, &l),
                   BQ_LINE_HELLO);
  assert_int_equal(l.len, len);
  assert_memory_equal(l.arg, id, len);
  assert_true(l.first_seq == (seq == 0 ? 1 : seq));
  /* cap: exact fits, one less writes nothing. */
  assert_int_equal(bq_proto_format_hello(buf, n, id, len, seq), n);
  buf[0] = '#';
  assert_int_equal(bq_proto_format_hello(buf, n - 1, id, len, seq), 0);
  assert_int_equal(buf[0], '#');
}

static void test_format_hello(void **state) {
  static char big[BQ_PROTO_PRODUCER_MAX + 2];
  char buf[BQ_PROTO_HELLO_LINE_MAX + 8];
  (void)state;
  hello_roundtrip("p1", 0);
  hello_roundtrip("p1", 1);
  hello_roundtrip("web1-access", 100001);
  hello_roundtrip("x", (uint64_t)INT64_MAX);
  memset(big, 'q', BQ_PROTO_PRODUCER_MAX);
  hello_roundtrip(big, 0);
  hello_roundtrip(big, (uint64_t)INT64_MAX);
  assert_int_equal(bq_proto_format_hello(buf, sizeof(buf), big,
                                         BQ_PROTO_PRODUCER_MAX,
                                         (uint64_t)INT64_MAX),
                   BQ_PROTO_HELLO_LINE_MAX);
  /* Invalid ids and sequence numbers are never formatted. */
  big[BQ_PROTO_PRODUCER_MAX] = 'q';
  assert_int_equal(bq_proto_format_hello(buf, sizeof(buf), big,
                                         BQ_PROTO_PRODUCER_MAX + 1, 1), 0);
  assert_int_equal(bq_proto_format_hello(buf, sizeof(buf), "", 0, 1), 0);
  assert_int_equal(bq_proto_format_hello(buf, sizeof(buf), "a b", 3, 1), 0);
  assert_int_equal(bq_proto_format_hello(buf, sizeof(buf), "a\n", 2, 1), 0);
  assert_int_equal(bq_proto_format_hello(buf, sizeof(buf), "a", 1,
                                         (uint64_t)INT64_MAX + 1), 0);
  assert_int_equal(bq_proto_format_hello(buf, sizeof(buf), "a", 1,
                                         UINT64_MAX), 0);
}

/* ---- daemon replies ---------------------------------------------------- */

static void test_err_lines(void **state) {
  static const char *const want[] = {
      "ERR too-long\n", "ERR too-many-connections\n", "ERR denied\n",
      "ERR auth\n", "ERR idle\n", "ERR hello\n", "ERR fenced\n"};
  size_t i, len;
  (void)state;
  for (i = 0; i < NERRS; i++) {
    const char *line = bq_proto_err_line(all_errs[i], &len);
    struct bq_proto_reply r;
    assert_int_equal(len, strlen(want[i]));
    assert_memory_equal(line, want[i], len);
    assert_int_equal(strlen(bq_proto_err_name(all_errs[i])), len - 5);
    assert_memory_equal(bq_proto_err_name(all_errs[i]), want[i] + 4, len - 5);
    /* Round trip: the wire line, less its "\n", parses to its kind. */
    assert_int_equal(bq_proto_parse_reply(line, len - 1, &r), BQ_REPLY_ERR);
    assert_int_equal(r.err, all_errs[i]);
    assert_int_equal(strlen(r.reason), len - 5);
    assert_memory_equal(r.reason, line + 4, len - 5);
    /* ... and with CRLF too. */
    {
      char crlf[64];
      memcpy(crlf, line, len - 1);
      crlf[len - 1] = '\r';
      assert_int_equal(bq_proto_parse_reply(crlf, len, &r), BQ_REPLY_ERR);
      assert_int_equal(r.err, all_errs[i]);
    }
  }
  assert_string_equal(bq_proto_err_name(BQ_ERR_UNKNOWN), "unknown");
}

static void ok_roundtrip(uint64_t n) {
  char buf[BQ_PROTO_OK_MAX], want[64];
  struct bq_proto_reply r;
  size_t len = bq_proto_format_ok(buf, sizeof(buf), n);
  int w = snprintf(want, sizeof(want), "OK %" PRIu64 "\n", n);
  assert_int_equal(len, (size_t)w);
  assert_memory_equal(buf, want, len);
  assert_int_equal(bq_proto_parse_reply(buf, len - 1, &r), BQ_REPLY_OK);
  assert_true(r.n == n);
}

static void test_format_ok(void **state) {
  char buf[64];
  uint64_t n;
  (void)state;
  ok_roundtrip(0);
  ok_roundtrip(1);
  ok_roundtrip(9);
  ok_roundtrip(10);
  ok_roundtrip(4096);
  ok_roundtrip((uint64_t)INT64_MAX);
  ok_roundtrip((uint64_t)INT64_MAX - 1);
  for (n = 1; n < (uint64_t)INT64_MAX / 10; n *= 10) {
    ok_roundtrip(n - 1);
    ok_roundtrip(n);
    ok_roundtrip(n + 1);
  }
  assert_int_equal(bq_proto_format_ok(buf, sizeof(buf), (uint64_t)INT64_MAX),
                   BQ_PROTO_OK_MAX);
  /* cap: exact fits; one less writes nothing. */
  memset(buf, '#', sizeof(buf));
  assert_int_equal(bq_proto_format_ok(buf, 5, 17), 0);
  assert_int_equal(buf[0], '#');
  assert_int_equal(bq_proto_format_ok(buf, 0, 0), 0);
  assert_int_equal(bq_proto_format_ok(buf, 3, 0), 0);
  assert_int_equal(buf[0], '#');
  assert_int_equal(bq_proto_format_ok(buf, 6, 17), 6);
  assert_memory_equal(buf, "OK 17\n", 6);
  assert_int_equal(bq_proto_format_ok(buf, BQ_PROTO_OK_MAX - 1,
                                      (uint64_t)INT64_MAX), 0);
}

static void test_reply_ok(void **state) {
  struct bq_proto_reply r;
  (void)state;
  assert_int_equal(parse("OK 0", &r), BQ_REPLY_OK);
  assert_true(r.n == 0);
  assert_int_equal(parse("OK 4096", &r), BQ_REPLY_OK);
  assert_true(r.n == 4096);
  assert_int_equal(parse("OK 17\r", &r), BQ_REPLY_OK); /* CR tolerated */
  assert_true(r.n == 17);
  assert_int_equal(parse("OK 9223372036854775807", &r), BQ_REPLY_OK);
  assert_true(r.n == INT64_MAX);
  assert_int_equal(parse("OK 922337203685477580", &r), BQ_REPLY_OK);
  assert_true(r.n == INT64_MAX / 10);
}

static void test_reply_bad(void **state) {
  static const char *const bad[] = {
      "",        "OK",      "OK ",     "OK -1",   "OK +1",     "OK 01",
      "OK 00",   "OK 1 2",  "OK 1x",   "ok 1",    " OK 1",     "OK  1",
      "ERR",     "ERR ",    "err auth", "hello",  "OK 1\r\r",  "OK 1\n",
      "OK\t1",   "ERR\tauth", "OK 9223372036854775808",
      "OK 18446744073709551615", "OK 18446744073709551616",
      "OK 99999999999999999999", "OK 0000000000000000000001", "\r"};
  struct bq_proto_reply r;
  size_t i;
  (void)state;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (parse(bad[i], &r) != BQ_REPLY_BAD) fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(r.kind, BQ_REPLY_BAD);
  }
  /* A NUL inside the number, and a length that stops before the digits. */
  assert_int_equal(bq_proto_parse_reply("OK 1\0", 5, &r), BQ_REPLY_BAD);
  assert_int_equal(bq_proto_parse_reply("OK 12", 3, &r), BQ_REPLY_BAD);
  assert_int_equal(bq_proto_parse_reply("OK 12", 4, &r), BQ_REPLY_OK);
  assert_true(r.n == 1);
}

static void test_reply_err(void **state) {
  /* Unknown reasons are kept as text (the known ones: test_err_lines).
   * Pairs of line, reason. */
  static const char *const unknown[] = {
      "ERR busy", "busy", "ERR too-longer", "too-longer", "ERR too-lon",
      "too-lon", "ERR AUTH", "AUTH", "ERR auth ", "auth ", "ERR  auth",
      " auth", "ERR auth\r\r", "auth?", "ERR -", "-"};
  struct bq_proto_reply r;
  char longline[400];
  size_t i;
  (void)state;
  for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i += 2) {
    if (parse(unknown[i], &r) != BQ_REPLY_ERR)
      fail_msg("'%s' is not an ERR", unknown[i]);
    assert_int_equal(r.err, BQ_ERR_UNKNOWN);
    assert_string_equal(r.reason, unknown[i + 1]);
  }
  /* control bytes are not echoed to the terminal */
  assert_int_equal(bq_proto_parse_reply("ERR a\033b\0c", 9, &r), BQ_REPLY_ERR);
  assert_string_equal(r.reason, "a?b?c");
  assert_int_equal(parse("ERR a\x7f", &r), BQ_REPLY_ERR);
  assert_string_equal(r.reason, "a?");
  /* a long reason is cut, NUL-terminated */
  memcpy(longline, "ERR ", 4);
  memset(longline + 4, 'z', sizeof(longline) - 4);
  assert_int_equal(bq_proto_parse_reply(longline, sizeof(longline), &r),
                   BQ_REPLY_ERR);
  assert_int_equal(r.err, BQ_ERR_UNKNOWN);
  assert_int_equal(strlen(r.reason), sizeof(r.reason) - 1);
}

static void test_resume(void **state) {
  char buf[BQ_PROTO_RESUME_MAX + 8], want[64];
  static const uint64_t ns[] = {0, 1, 9, 10, 100000, (uint64_t)INT64_MAX};
  static const char *const bad[] = {
      "RESUME",   "RESUME ",   "RESUME -1",  "RESUME 01", "RESUME 1 ",
      "RESUME  1", "resume 1", "RESUME\t1",  "RESUME 1x", "RESUMES 1",
      "RESUME 9223372036854775808"};
  struct bq_proto_reply r;
  size_t i, n;
  (void)state;
  for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
    int w = snprintf(want, sizeof(want), "RESUME %" PRIu64 "\n", ns[i]);
    n = bq_proto_format_resume(buf, sizeof(buf), ns[i]);
    assert_int_equal(n, (size_t)w);
    assert_memory_equal(buf, want, n);
    assert_int_equal(bq_proto_parse_reply(buf, n - 1, &r), BQ_REPLY_RESUME);
    assert_true(r.n == ns[i]);
    buf[n - 1] = '\r'; /* CR tolerated */
    assert_int_equal(bq_proto_parse_reply(buf, n, &r), BQ_REPLY_RESUME);
    assert_true(r.n == ns[i]);
    assert_int_equal(bq_proto_format_resume(buf, n - 1, ns[i]), 0);
  }
  assert_int_equal(bq_proto_format_resume(buf, sizeof(buf), (uint64_t)INT64_MAX),
                   BQ_PROTO_RESUME_MAX);
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (parse(bad[i], &r) != BQ_REPLY_BAD) fail_msg("accepted '%s'", bad[i]);
}

static void test_gap(void **state) {
  char buf[BQ_PROTO_GAP_MAX + 8], want[64];
  static const uint64_t ns[] = {0, 1, 9, 10, 100000, (uint64_t)INT64_MAX};
  /* Not a gap with its n: an unknown error, the text kept. */
  static const char *const unknown[] = {
      "ERR gap",   "ERR gap ",  "ERR gap -1", "ERR gap 01", "ERR gap 1 ",
      "ERR gap  1", "ERR GAP 1", "ERR gap\t1", "ERR gaps 1",
      "ERR gap 9223372036854775808"};
  struct bq_proto_reply r;
  size_t i, n;
  (void)state;
  for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
    int w = snprintf(want, sizeof(want), "ERR gap %" PRIu64 "\n", ns[i]);
    n = bq_proto_format_gap(buf, sizeof(buf), ns[i]);
    assert_int_equal(n, (size_t)w);
    assert_memory_equal(buf, want, n);
    assert_int_equal(bq_proto_parse_reply(buf, n - 1, &r), BQ_REPLY_ERR);
    assert_int_equal(r.err, BQ_ERR_GAP);
    assert_true(r.n == ns[i]);
    assert_memory_equal(r.reason, want + 4, n - 5);
    assert_int_equal(strlen(r.reason), n - 5);
    assert_int_equal(bq_proto_format_gap(buf, n - 1, ns[i]), 0);
  }
  assert_int_equal(bq_proto_format_gap(buf, sizeof(buf), (uint64_t)INT64_MAX),
                   BQ_PROTO_GAP_MAX);
  assert_string_equal(bq_proto_err_name(BQ_ERR_GAP), "gap");
  for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
    if (parse(unknown[i], &r) != BQ_REPLY_ERR)
      fail_msg("'%s' is not an ERR", unknown[i]);
    if (r.err != BQ_ERR_UNKNOWN) fail_msg("'%s' is a known ERR", unknown[i]);
    assert_true(r.n == 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classify_messages),
      cmocka_unit_test(test_classify_auth),
      cmocka_unit_test(test_classify_auth_bad),
      cmocka_unit_test(test_token_check),
      cmocka_unit_test(test_format_auth),
      cmocka_unit_test(test_producer_check),
      cmocka_unit_test(test_classify_hello),
      cmocka_unit_test(test_classify_hello_bad),
      cmocka_unit_test(test_format_hello),
      cmocka_unit_test(test_err_lines),
      cmocka_unit_test(test_format_ok),
      cmocka_unit_test(test_reply_ok),
      cmocka_unit_test(test_reply_bad),
      cmocka_unit_test(test_reply_err),
      cmocka_unit_test(test_resume),
      cmocka_unit_test(test_gap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
