/*
 * proto.c -- see proto.h.  Stateless: the reply texts are constant tables,
 * everything else works on the caller's buffers.
 */
#include "proto.h"

#include <assert.h>
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
#undef E
};
#define NERRS (sizeof(errs) / sizeof(errs[0]))

int bq_proto_classify(enum bq_proto_state st, const char *line, size_t len,
                      struct bq_proto_line *out) {
  if (st == BQ_PROTO_MESSAGES) {
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
  assert((size_t)e < NERRS);
  *len = errs[e].len;
  return errs[e].line;
}

const char *bq_proto_err_name(enum bq_proto_err e) {
  return (size_t)e < NERRS ? errs[e].name : "unknown";
}

size_t bq_proto_format_ok(char *buf, size_t cap, uint64_t n) {
  char digits[20];
  size_t nd = 0, len;
  assert(n <= (uint64_t)INT64_MAX);
  do {
    digits[nd++] = (char)('0' + n % 10);
    n /= 10;
  } while (n != 0);
  len = 3 + nd + 1;
  if (cap < len) return 0;
  buf[0] = 'O';
  buf[1] = 'K';
  buf[2] = ' ';
  for (size_t i = 0; i < nd; i++) buf[3 + i] = digits[nd - 1 - i];
  buf[len - 1] = '\n';
  return len;
}

int bq_proto_parse_reply(const char *line, size_t len,
                         struct bq_proto_reply *r) {
  size_t i;
  memset(r, 0, sizeof(*r));
  r->err = BQ_ERR_UNKNOWN;
  if (len > 0 && line[len - 1] == '\r') len--;
  if (len >= 4 && memcmp(line, "OK ", 3) == 0) {
    uint64_t n = 0;
    if (line[3] == '0' && len > 4) return r->kind = BQ_REPLY_BAD;
    for (i = 3; i < len; i++) {
      if (line[i] < '0' || line[i] > '9') return r->kind = BQ_REPLY_BAD;
      /* n * 10 + 9 still fits in 64 bits; the 63-bit test comes last. */
      if (n > (UINT64_C(1) << 62) / 5) return r->kind = BQ_REPLY_BAD;
      n = n * 10 + (uint64_t)(line[i] - '0');
    }
    if (n >> 63) return r->kind = BQ_REPLY_BAD;
    r->n = n;
    return r->kind = BQ_REPLY_OK;
  }
  if (len >= 5 && memcmp(line, "ERR ", 4) == 0) {
    size_t m = len - 4;
    for (i = 0; i < NERRS; i++) {
      /* errs[i].len counts "ERR " and "\n" */
      if (m == errs[i].len - 5 && memcmp(line + 4, errs[i].name, m) == 0) {
        r->err = (int)i;
        break;
      }
    }
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
