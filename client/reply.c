/*
 * reply.c -- see reply.h.  Stateless.
 */
#include "reply.h"

#include <string.h>

int bq_reply_parse(const char *line, size_t len, struct bq_reply *r) {
  size_t i;
  memset(r, 0, sizeof(*r));
  if (len > 0 && line[len - 1] == '\r') len--;
  if (len >= 4 && memcmp(line, "OK ", 3) == 0) {
    uint64_t n = 0;
    if (line[3] == '0' && len > 4) return r->kind = BQ_REPLY_BAD;
    for (i = 3; i < len; i++) {
      if (line[i] < '0' || line[i] > '9') return r->kind = BQ_REPLY_BAD;
      if (n > (UINT64_C(1) << 62) / 5) return r->kind = BQ_REPLY_BAD;
      n = n * 10 + (uint64_t)(line[i] - '0');
    }
    if (n >> 63) return r->kind = BQ_REPLY_BAD;
    r->n = n;
    return r->kind = BQ_REPLY_OK;
  }
  if (len >= 5 && memcmp(line, "ERR ", 4) == 0) {
    size_t m = len - 4;
    if (m == 8 && memcmp(line + 4, "too-long", 8) == 0)
      return r->kind = BQ_REPLY_TOO_LONG;
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
