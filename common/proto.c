/*
 * proto.c -- see proto.h.  Stateless: the reply texts are constant tables,
 * everything else works on the caller's buffers.
 */
#include "proto.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

/* Indexed by enum bq_proto_err; the wire lines keep their "\n". */
static const struct {
  const char *name;
  const char *line;
  size_t len; /* of line */
} errs[] = {
#define E(name) {name, "ERR " name "\n", sizeof("ERR " name "\n") - 1}
    [BQ_ERR_TOO_LONG] = E("too-long"),
    [BQ_ERR_TOO_MANY] = E("too-many-connections"),
    [BQ_ERR_DENIED] = E("denied"),
    [BQ_ERR_AUTH] = E("auth"),
    [BQ_ERR_IDLE] = E("idle"),
    [BQ_ERR_HELLO] = E("hello"),
    [BQ_ERR_FENCED] = E("fenced"),
    /* takes an argument: bq_proto_format_gap writes the line */
    [BQ_ERR_GAP] = {"gap", NULL, 0},
#undef E
};
#define NERRS (sizeof(errs) / sizeof(errs[0]))

/* Parse p[0..len) as a decimal without sign or leading zeros (except "0")
 * that fits in 63 bits into *n.  Returns 0, or -EINVAL. */
static int parse_u63(const char *p, size_t len, uint64_t *n) {
  uint64_t v = 0;
  size_t i;
  if (len == 0 || (p[0] == '0' && len > 1)) return -EINVAL;
  for (i = 0; i < len; i++) {
    if (p[i] < '0' || p[i] > '9') return -EINVAL;
    /* v * 10 + 9 still fits in 64 bits; the 63-bit test comes last. */
    if (v > (UINT64_C(1) << 62) / 5) return -EINVAL;
    v = v * 10 + (uint64_t)(p[i] - '0');
  }
  if (v >> 63) return -EINVAL;
  *n = v;
  return 0;
}

/* Write prefix (plen bytes), n in decimal (n <= INT64_MAX) and "\n" into
 * buf.  Returns the length, or 0 (nothing written) when cap is too small. */
static size_t format_num(char *buf, size_t cap, const char *prefix,
                         size_t plen, uint64_t n) {
  char digits[20];
  size_t nd = 0, len;
  assert(n <= (uint64_t)INT64_MAX);
  do {
    digits[nd++] = (char)('0' + n % 10);
    n /= 10;
  } while (n != 0);
  len = plen + nd + 1;
  if (cap < len) return 0;
  memcpy(buf, prefix, plen);
  for (size_t i = 0; i < nd; i++) buf[plen + i] = digits[nd - 1 - i];
  buf[len - 1] = '\n';
  return len;
}

/* Classify a line of BQ_PROTO_EXPECT_HELLO that is "HELLO" or starts with
 * "HELLO ". */
static int classify_hello(const char *line, size_t len,
                          struct bq_proto_line *out) {
  const char *id = line + BQ_PROTO_HELLO_LEN, *sp;
  size_t rest = len - BQ_PROTO_HELLO_LEN, idlen;
  uint64_t seq = 1;
  assert(len >= BQ_PROTO_HELLO_LEN);
  sp = memchr(id, ' ', rest);
  idlen = sp != NULL ? (size_t)(sp - id) : rest;
  if (bq_proto_producer_check(id, idlen) < 0) goto bad;
  if (sp != NULL &&
      (parse_u63(sp + 1, rest - idlen - 1, &seq) < 0 || seq == 0))
    goto bad;
  out->kind = BQ_LINE_HELLO;
  out->arg = id;
  out->len = idlen;
  out->first_seq = seq;
  return BQ_LINE_HELLO;
bad:
  out->kind = BQ_LINE_HELLO_BAD;
  out->arg = NULL;
  out->len = 0;
  return BQ_LINE_HELLO_BAD;
}

int bq_proto_classify(enum bq_proto_state st, const char *line, size_t len,
                      struct bq_proto_line *out) {
  out->first_seq = 0;
  if (st == BQ_PROTO_EXPECT_HELLO &&
      ((len == BQ_PROTO_HELLO_LEN - 1 &&
        memcmp(line, BQ_PROTO_HELLO, len) == 0) ||
       (len >= BQ_PROTO_HELLO_LEN &&
        memcmp(line, BQ_PROTO_HELLO, BQ_PROTO_HELLO_LEN) == 0))) {
    if (len == BQ_PROTO_HELLO_LEN - 1) { /* exactly "HELLO" */
      out->kind = BQ_LINE_HELLO_BAD;
      out->arg = NULL;
      out->len = 0;
      return BQ_LINE_HELLO_BAD;
    }
    return classify_hello(line, len, out);
  }
  if (st == BQ_PROTO_MESSAGES || st == BQ_PROTO_EXPECT_HELLO) {
    out->kind = BQ_LINE_MSG;
    out->arg = line;
    out->len = len;
    return BQ_LINE_MSG;
  }
  assert(st == BQ_PROTO_EXPECT_AUTH);
  if (len >= BQ_PROTO_AUTH_LEN &&
      memcmp(line, BQ_PROTO_AUTH, BQ_PROTO_AUTH_LEN) == 0 &&
      bq_proto_token_check(line + BQ_PROTO_AUTH_LEN, len - BQ_PROTO_AUTH_LEN,
                           NULL) == BQ_TOKEN_OK) {
    out->kind = BQ_LINE_AUTH;
    out->arg = line + BQ_PROTO_AUTH_LEN;
    out->len = len - BQ_PROTO_AUTH_LEN;
    return BQ_LINE_AUTH;
  }
  out->kind = BQ_LINE_BAD;
  out->arg = NULL;
  out->len = 0;
  return BQ_LINE_BAD;
}

int bq_proto_token_check(const char *tok, size_t len, size_t *at) {
  size_t i, first = len;
  if (len == 0) return BQ_TOKEN_EMPTY;
  if (len > BQ_PROTO_TOKEN_MAX) return BQ_TOKEN_TOO_LONG;
  /* No early exit: the loop's time is the same for every token of len. */
  for (i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)tok[i];
    /* all ones when ch is the first bad byte, else zero */
    size_t mask = (size_t)0 - ((size_t)(ch < 0x21 || ch > 0x7e) &
                               (size_t)(first == len));
    first = (first & ~mask) | (i & mask);
  }
  if (first == len) return BQ_TOKEN_OK;
  if (at != NULL) *at = first;
  return BQ_TOKEN_BAD_BYTE;
}

size_t bq_proto_format_auth(char *buf, size_t cap, const char *tok,
                            size_t len) {
  if (bq_proto_token_check(tok, len, NULL) != BQ_TOKEN_OK) return 0;
  if (cap < BQ_PROTO_AUTH_LEN + len + 1) return 0;
  memcpy(buf, BQ_PROTO_AUTH, BQ_PROTO_AUTH_LEN);
  memcpy(buf + BQ_PROTO_AUTH_LEN, tok, len);
  buf[BQ_PROTO_AUTH_LEN + len] = '\n';
  return BQ_PROTO_AUTH_LEN + len + 1;
}

const char *bq_proto_err_line(enum bq_proto_err e, size_t *len) {
  assert((size_t)e < NERRS && errs[e].line != NULL);
  *len = errs[e].len;
  return errs[e].line;
}

const char *bq_proto_err_name(enum bq_proto_err e) {
  return (size_t)e < NERRS ? errs[e].name : "unknown";
}

size_t bq_proto_format_ok(char *buf, size_t cap, uint64_t n) {
  return format_num(buf, cap, "OK ", 3, n);
}

size_t bq_proto_format_resume(char *buf, size_t cap, uint64_t n) {
  return format_num(buf, cap, "RESUME ", 7, n);
}

size_t bq_proto_format_gap(char *buf, size_t cap, uint64_t n) {
  return format_num(buf, cap, "ERR gap ", 8, n);
}

int bq_proto_producer_check(const char *id, size_t len) {
  size_t i;
  if (len == 0 || len > BQ_PROTO_PRODUCER_MAX) return -EINVAL;
  for (i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)id[i];
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
          (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == ':' ||
          ch == '-'))
      return -EINVAL;
  }
  return 0;
}

size_t bq_proto_format_hello(char *buf, size_t cap, const char *id,
                             size_t len, uint64_t first_seq) {
  size_t n = BQ_PROTO_HELLO_LEN + len, k;
  char tail[BQ_PROTO_OK_MAX];
  if (bq_proto_producer_check(id, len) < 0) return 0;
  if (first_seq > (uint64_t)INT64_MAX) return 0;
  if (first_seq == 0) {
    tail[0] = '\n';
    k = 1;
  } else {
    k = format_num(tail, sizeof(tail), " ", 1, first_seq);
    assert(k > 0);
  }
  if (cap < n + k) return 0;
  memcpy(buf, BQ_PROTO_HELLO, BQ_PROTO_HELLO_LEN);
  memcpy(buf + BQ_PROTO_HELLO_LEN, id, len);
  memcpy(buf + n, tail, k);
  return n + k;
}

int bq_proto_parse_reply(const char *line, size_t len,
                         struct bq_proto_reply *r) {
  size_t i;
  memset(r, 0, sizeof(*r));
  r->err = BQ_ERR_UNKNOWN;
  if (len > 0 && line[len - 1] == '\r') len--;
  if (len >= 3 && memcmp(line, "OK ", 3) == 0)
    return r->kind = parse_u63(line + 3, len - 3, &r->n) == 0 ? BQ_REPLY_OK
                                                               : BQ_REPLY_BAD;
  if (len >= 7 && memcmp(line, "RESUME ", 7) == 0)
    return r->kind = parse_u63(line + 7, len - 7, &r->n) == 0
                         ? BQ_REPLY_RESUME
                         : BQ_REPLY_BAD;
  if (len >= 5 && memcmp(line, "ERR ", 4) == 0) {
    size_t m = len - 4;
    for (i = 0; i < NERRS; i++) {
      if (errs[i].line == NULL) continue;
      /* errs[i].len counts "ERR " and "\n" */
      if (m == errs[i].len - 5 && memcmp(line + 4, errs[i].name, m) == 0) {
        r->err = (int)i;
        break;
      }
    }
    if (m > 4 && memcmp(line + 4, "gap ", 4) == 0 &&
        parse_u63(line + 8, m - 4, &r->n) == 0)
      r->err = BQ_ERR_GAP;
    if (m >= sizeof(r->reason)) m = sizeof(r->reason) - 1;
    for (i = 0; i < m; i++) {
      unsigned char ch = (unsigned char)line[4 + i];
      r->reason[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    r->reason[m] = '\0';
    return r->kind = BQ_REPLY_ERR;
  }
  return r->kind = BQ_REPLY_BAD;
}
