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
 *  - bq_proto_token_check: the verdict and first bad offset of the
 *    reference;
 *  - bq_proto_parse_reply: the reference's kind, n, error kind and reason;
 *    an accepted reply is canonical, so formatting it again
 *    (bq_proto_format_ok, bq_proto_err_line) gives back the line, less
 *    one trailing "\r", plus "\n";
 *  - format -> parse round trip of "OK n" for n from the first 8 bytes.
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

static const char *const names[] = {"too-long", "too-many-connections",
                                    "denied", "auth", "idle"};

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

/* "OK n" by the book: digits only, no leading zero, at most INT64_MAX
 * (compared as decimal text).  Returns 1 and *n, or 0. */
static int ref_ok(const char *p, size_t len, uint64_t *n) {
  static const char max[] = "9223372036854775807";
  size_t i;
  if (len < 4 || memcmp(p, "OK ", 3) != 0) return 0;
  p += 3;
  len -= 3;
  for (i = 0; i < len; i++)
    if (p[i] < '0' || p[i] > '9') return 0;
  if (len > 1 && p[0] == '0') return 0;
  if (len > sizeof(max) - 1) return 0;
  if (len == sizeof(max) - 1 && memcmp(p, max, len) > 0) return 0;
  *n = 0;
  for (i = 0; i < len; i++) *n = *n * 10 + (uint64_t)(p[i] - '0');
  return 1;
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
}

static void check_token(const char *t, size_t len) {
  size_t at = (size_t)-1, ref_at = (size_t)-2;
  int want = ref_token(t, len, &ref_at);
  char out[BQ_PROTO_AUTH_LINE_MAX];
  CHECK(bq_proto_token_check(t, len, &at) == want);
  if (want == BQ_TOKEN_BAD_BYTE) CHECK(at == ref_at);
  if (want != BQ_TOKEN_OK)
    CHECK(bq_proto_format_auth(out, sizeof(out), t, len) == 0);
}

static void check_reply(const char *line, size_t len) {
  struct bq_proto_reply r;
  size_t m = len, i;
  uint64_t n = 0;
  int kind = bq_proto_parse_reply(line, len, &r);

  CHECK(kind == r.kind);
  if (m > 0 && line[m - 1] == '\r') m--;
  if (ref_ok(line, m, &n)) {
    char out[BQ_PROTO_OK_MAX];
    size_t k;
    CHECK(kind == BQ_REPLY_OK && r.n == n);
    k = bq_proto_format_ok(out, sizeof(out), n);
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
    CHECK(r.err == err);
    CHECK(strlen(r.reason) == cut);
    for (i = 0; i < cut; i++) {
      unsigned char c = (unsigned char)line[4 + i];
      CHECK(r.reason[i] == ((c < 0x20 || c == 0x7f) ? '?' : (char)c));
    }
    if (err != BQ_ERR_UNKNOWN) {
      size_t k;
      const char *w = bq_proto_err_line(err, &k);
      CHECK(k == m + 1 && memcmp(w, line, m) == 0 && w[m] == '\n');
    }
    return;
  }
  CHECK(kind == BQ_REPLY_BAD);
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
