/*
 * fuzz_proto.c -- libFuzzer target: the protocol's words (common/proto.c),
 * which read untrusted lines on both ends (client lines in the daemon,
 * replies in the client), against trivially correct references.
 *
 * Input: the whole input is one line (as the framer hands it out: any
 * bytes, no "\n" appended), copied into a buffer of exactly its size so
 * that ASan sees any read past it.  Checked on it:
 *  - classify in message state: a message, the whole line, in place;
 *  - classify in AUTH state: BQ_LINE_AUTH exactly when the line is "AUTH "
 *    and a token of 1..BQ_PROTO_TOKEN_MAX bytes 0x21..0x7e, the token as a
 *    slice of the line; then bq_proto_format_auth(token) is the line plus
 *    "\n";
 *  - classify in HELLO state: BQ_LINE_HELLO exactly when the line is
 *    "HELLO " id, optionally " " first-seq (1..INT64_MAX, canonical
 *    decimal), the id a slice of the line; then bq_proto_format_hello
 *    gives back the line plus "\n"; BQ_LINE_HELLO_BAD for any other line
 *    that is "HELLO" or starts with "HELLO "; else the whole line as a
 *    message;
 *  - bq_proto_token_check, bq_proto_producer_check: the verdict (and first
 *    bad offset) of the reference;
 *  - bq_proto_parse_reply: the reference's kind, n, error kind and reason;
 *    an accepted reply is canonical, so formatting it again
 *    (bq_proto_format_ok, _resume, _gap, bq_proto_err_line) gives back the
 *    line, less one trailing "\r", plus "\n";
 *  - format -> parse round trip of "OK n", "RESUME n" and "ERR gap n" for
 *    n from the first 8 bytes.
 * Any difference aborts.
 *
 * Owns nothing beyond one call; single-threaded.  Also built, with the
 * normal compiler, into the replay driver (replay.c) that runs the corpus
 * as ctest tests.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Indexed by enum bq_proto_err; "gap" takes an argument (ref_num). */
static const char *const names[] = {"too-long", "too-many-connections",
                                    "denied",   "auth",
                                    "idle",     "hello",
                                    "fenced"};

#define CHECK(x) \
  do {           \
    if (!(x)) abort(); \
  } while (0)

static int ref_token(const char *t, size_t len, size_t *at) {
  size_t i;
  if (len == 0) return BQ_TOKEN_EMPTY;
  if (len > 1024) return BQ_TOKEN_TOO_LONG;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)t[i];
    if (c < 0x21 || c > 0x7e) {
      *at = i;
      return BQ_TOKEN_BAD_BYTE;
    }
  }
  return BQ_TOKEN_OK;
}

static int ref_producer(const char *p, size_t len) {
  size_t i;
  if (len == 0 || len > 128) return 0;
  for (i = 0; i < len; i++)
    if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                "0123456789._:-",
                p[i]) ||
        p[i] == '\0')
      return 0;
  return 1;
}

/* prefix n by the book: digits only, at least one, no leading zero, at
 * most INT64_MAX (compared as decimal text).  Returns 1 and *n, or 0. */
static int ref_num(const char *prefix, const char *p, size_t len,
                   uint64_t *n) {
  static const char max[] = "9223372036854775807";
  size_t i, plen = strlen(prefix);
  if (len < plen + 1 || memcmp(p, prefix, plen) != 0) return 0;
  p += plen;
  len -= plen;
  for (i = 0; i < len; i++)
    if (p[i] < '0' || p[i] > '9') return 0;
  if (len > 1 && p[0] == '0') return 0;
  if (len > sizeof(max) - 1) return 0;
  if (len == sizeof(max) - 1 && memcmp(p, max, len) > 0) return 0;
  *n = 0;
  for (i = 0; i < len; i++) *n = *n * 10 + (uint64_t)(p[i] - '0');
  return 1;
}

static void check_classify_hello(const char *line, size_t len) {
  struct bq_proto_line l;
  size_t idlen = 0;
  uint64_t seq = 0;
  int kind = bq_proto_classify(BQ_PROTO_EXPECT_HELLO, line, len, &l);
  int is_cmd = (len == 5 && memcmp(line, "HELLO", 5) == 0) ||
               (len >= 6 && memcmp(line, "HELLO ", 6) == 0);
  int ok = 0;
  CHECK(kind == l.kind);
  if (is_cmd && len > 6) {
    while (6 + idlen < len && line[6 + idlen] != ' ') idlen++;
    if (ref_producer(line + 6, idlen)) {
      if (6 + idlen == len) {
        ok = 1;
        seq = 1;
      } else {
        ok = ref_num(" ", line + 6 + idlen, len - 6 - idlen, &seq) &&
             seq != 0;
      }
    }
  }
  if (ok) {
    char out[BQ_PROTO_HELLO_LINE_MAX];
    size_t n;
    CHECK(kind == BQ_LINE_HELLO && l.arg == line + 6 && l.len == idlen &&
          l.first_seq == seq);
    /* canonical: the explicit form when the line had a first-seq */
    n = bq_proto_format_hello(out, sizeof(out), l.arg, l.len,
                              6 + idlen == len ? 0 : seq);
    CHECK(n == len + 1 && memcmp(out, line, len) == 0 && out[len] == '\n');
  } else if (is_cmd) {
    CHECK(kind == BQ_LINE_HELLO_BAD && l.arg == NULL && l.len == 0 &&
          l.first_seq == 0);
  } else {
    CHECK(kind == BQ_LINE_MSG && l.arg == line && l.len == len &&
          l.first_seq == 0);
  }
}

static void check_classify(const char *line, size_t len) {
  struct bq_proto_line l;
  size_t at = 0;
  int is_auth;

  CHECK(bq_proto_classify(BQ_PROTO_MESSAGES, line, len, &l) == BQ_LINE_MSG);
  CHECK(l.kind == BQ_LINE_MSG && l.arg == line && l.len == len);

  is_auth = len >= 5 && memcmp(line, "AUTH ", 5) == 0 &&
            ref_token(line + 5, len - 5, &at) == BQ_TOKEN_OK;
  CHECK(bq_proto_classify(BQ_PROTO_EXPECT_AUTH, line, len, &l) == l.kind);
  if (is_auth) {
    char out[BQ_PROTO_AUTH_LINE_MAX];
    size_t n;
    CHECK(l.kind == BQ_LINE_AUTH && l.arg == line + 5 && l.len == len - 5);
    n = bq_proto_format_auth(out, sizeof(out), l.arg, l.len);
    CHECK(n == len + 1 && memcmp(out, line, len) == 0 && out[len] == '\n');
  } else {
    CHECK(l.kind == BQ_LINE_BAD && l.arg == NULL && l.len == 0);
  }
  check_classify_hello(line, len);
}

static void check_token(const char *t, size_t len) {
  size_t at = (size_t)-1, ref_at = (size_t)-2;
  int want = ref_token(t, len, &ref_at);
  char out[BQ_PROTO_AUTH_LINE_MAX];
  CHECK(bq_proto_token_check(t, len, &at) == want);
  if (want == BQ_TOKEN_BAD_BYTE) CHECK(at == ref_at);
  if (want != BQ_TOKEN_OK)
    CHECK(bq_proto_format_auth(out, sizeof(out), t, len) == 0);
  CHECK((bq_proto_producer_check(t, len) == 0) == ref_producer(t, len));
}

static void check_reply(const char *line, size_t len) {
  struct bq_proto_reply r;
  size_t m = len, i;
  uint64_t n = 0;
  int kind = bq_proto_parse_reply(line, len, &r);

  CHECK(kind == r.kind);
  if (m > 0 && line[m - 1] == '\r') m--;
  if (ref_num("OK ", line, m, &n)) {
    char out[BQ_PROTO_OK_MAX];
    size_t k;
    CHECK(kind == BQ_REPLY_OK && r.n == n);
    k = bq_proto_format_ok(out, sizeof(out), n);
    CHECK(k == m + 1 && memcmp(out, line, m) == 0 && out[m] == '\n');
    return;
  }
  if (ref_num("RESUME ", line, m, &n)) {
    char out[BQ_PROTO_RESUME_MAX];
    size_t k;
    CHECK(kind == BQ_REPLY_RESUME && r.n == n);
    k = bq_proto_format_resume(out, sizeof(out), n);
    CHECK(k == m + 1 && memcmp(out, line, m) == 0 && out[m] == '\n');
    return;
  }
  if (m >= 5 && memcmp(line, "ERR ", 4) == 0) {
    int err = BQ_ERR_UNKNOWN;
    size_t cut = m - 4 < sizeof(r.reason) ? m - 4 : sizeof(r.reason) - 1;
    CHECK(kind == BQ_REPLY_ERR);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
      if (strlen(names[i]) == m - 4 && memcmp(line + 4, names[i], m - 4) == 0)
        err = (int)i;
    if (ref_num("ERR gap ", line, m, &n)) {
      char out[BQ_PROTO_GAP_MAX];
      size_t k;
      err = BQ_ERR_GAP;
      CHECK(r.n == n);
      k = bq_proto_format_gap(out, sizeof(out), n);
      CHECK(k == m + 1 && memcmp(out, line, m) == 0 && out[m] == '\n');
    } else {
      CHECK(r.n == 0);
    }
    CHECK(r.err == err);
    CHECK(strlen(r.reason) == cut);
    for (i = 0; i < cut; i++) {
      unsigned char c = (unsigned char)line[4 + i];
      CHECK(r.reason[i] == ((c < 0x20 || c == 0x7f) ? '?' : (char)c));
    }
    if (err != BQ_ERR_UNKNOWN && err != BQ_ERR_GAP) {
      size_t k;
      const char *w = bq_proto_err_line(err, &k);
      CHECK(k == m + 1 && memcmp(w, line, m) == 0 && w[m] == '\n');
    }
    return;
  }
  CHECK(kind == BQ_REPLY_BAD && r.n == 0);
}

static void check_ok_roundtrip(const uint8_t *data, size_t size) {
  struct bq_proto_reply r;
  char out[BQ_PROTO_OK_MAX];
  uint64_t n = 0;
  size_t i, k;
  for (i = 0; i < size && i < 8; i++) n = n << 8 | data[i];
  n &= (uint64_t)INT64_MAX;
  k = bq_proto_format_ok(out, sizeof(out), n);
  CHECK(k >= 5 && out[k - 1] == '\n');
  CHECK(bq_proto_format_ok(out, k - 1, n) == 0);
  CHECK(bq_proto_parse_reply(out, k - 1, &r) == BQ_REPLY_OK && r.n == n);
  {
    char res[BQ_PROTO_RESUME_MAX], gap[BQ_PROTO_GAP_MAX];
    k = bq_proto_format_resume(res, sizeof(res), n);
    CHECK(k >= 9 && res[k - 1] == '\n');
    CHECK(bq_proto_format_resume(res, k - 1, n) == 0);
    CHECK(bq_proto_parse_reply(res, k - 1, &r) == BQ_REPLY_RESUME &&
          r.n == n);
    k = bq_proto_format_gap(gap, sizeof(gap), n);
    CHECK(k >= 10 && gap[k - 1] == '\n');
    CHECK(bq_proto_format_gap(gap, k - 1, n) == 0);
    CHECK(bq_proto_parse_reply(gap, k - 1, &r) == BQ_REPLY_ERR &&
          r.err == BQ_ERR_GAP && r.n == n);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* An exact-size copy: a read past the line is a heap overflow. */
  char *line = malloc(size ? size : 1);
  if (line == NULL) abort();
  if (size) memcpy(line, data, size);
  else line[0] = '\0'; /* never read: size is 0 */
  check_classify(line, size);
  check_token(line, size);
  check_reply(line, size);
  check_ok_roundtrip(data, size);
  free(line);
  return 0;
}
