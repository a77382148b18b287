/*
 * benchmsg.c -- see benchmsg.h.  Stateless; the formatter is on the bench's
 * hot path, so it writes digits by hand instead of calling snprintf.
 */
#include "benchmsg.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char hexd[] = "0123456789abcdef";

static size_t digits(uint64_t v) {
  size_t n = 1;
  while (v >= 10) {
    v /= 10;
    n++;
  }
  return n;
}

size_t bq_benchmsg_header_len(uint32_t conn, uint64_t seq) {
  return BQ_BENCHMSG_PREFIX + digits(conn) + 1 + digits(seq) + 1;
}

void bq_benchmsg_prefix(char *dst, uint32_t run) {
  int i;
  dst[0] = 'b';
  dst[1] = 'q';
  dst[2] = ':';
  for (i = 0; i < 8; i++) dst[3 + i] = hexd[(run >> (28 - 4 * i)) & 15u];
  dst[11] = ':';
}

static char *put_dec(char *p, uint64_t v) {
  size_t n = digits(v), i;
  for (i = n; i > 0; i--) {
    p[i - 1] = (char)('0' + v % 10);
    v /= 10;
  }
  return p + n;
}

void bq_benchmsg_format(char *dst, size_t size, uint32_t run, uint32_t conn,
                        uint64_t seq) {
  char *p = dst;
  size_t h = bq_benchmsg_header_len(conn, seq);
  assert(size >= h);
  bq_benchmsg_prefix(p, run);
  p = put_dec(p + BQ_BENCHMSG_PREFIX, conn);
  *p++ = ':';
  p = put_dec(p, seq);
  *p++ = ':';
  memset(p, 'x', size - h);
  dst[size] = '\n';
}

/* Add one to the decimal number p[0..n), n >= 1.  Returns 0, or -1 when
 * it was all nines (p is then all zeros: the number needs one more
 * digit, and the caller writes the message anew). */
static int inc_dec(char *p, size_t n) {
  size_t i = n;
  while (i > 0 && p[i - 1] == '9') p[--i] = '0';
  if (i == 0) return -1;
  p[i - 1]++;
  return 0;
}

void bq_benchmsg_format_run(char *dst, size_t size, uint32_t run,
                            uint32_t conn, uint64_t seq, size_t count) {
  size_t line = size + 1, at, sdig;
  char *prev;
  if (count == 0) return;
  bq_benchmsg_format(dst, size, run, conn, seq);
  /* The sequence number's digits start after "bq:RRRRRRRR:C:". */
  at = BQ_BENCHMSG_PREFIX + digits(conn) + 1;
  sdig = digits(seq);
  for (size_t i = 1; i < count; i++) {
    prev = dst;
    dst += line;
    memcpy(dst, prev, line);
    if (inc_dec(dst + at, sdig) < 0) { /* 99..9 + 1: a digit longer */
      sdig++;
      bq_benchmsg_format(dst, size, run, conn, seq + i);
    }
  }
}

static int get_dec(const char **pp, const char *end, uint64_t *v) {
  const char *p = *pp;
  uint64_t x = 0;
  if (p >= end || *p < '0' || *p > '9' || (*p == '0')) return -1;
  while (p < end && *p >= '0' && *p <= '9') {
    if (x > (UINT64_MAX - 9) / 10) return -1;
    x = x * 10 + (uint64_t)(*p - '0');
    p++;
  }
  *pp = p;
  *v = x;
  return 0;
}

int bq_benchmsg_parse(const char *p, size_t len, uint32_t *run, uint32_t *conn,
                      uint64_t *seq) {
  const char *end = p + len;
  uint32_t r = 0;
  uint64_t c, s;
  int i;
  if (len < BQ_BENCHMSG_PREFIX || p[0] != 'b' || p[1] != 'q' || p[2] != ':' ||
      p[11] != ':')
    return -1;
  for (i = 0; i < 8; i++) {
    const char *d = memchr(hexd, p[3 + i], 16);
    if (d == NULL || p[3 + i] == '\0') return -1;
    r = (r << 4) | (uint32_t)(d - hexd);
  }
  p += BQ_BENCHMSG_PREFIX;
  if (get_dec(&p, end, &c) < 0 || c > UINT32_MAX || p >= end || *p != ':')
    return -1;
  p++;
  if (get_dec(&p, end, &s) < 0 || p >= end || *p != ':') return -1;
  *run = r;
  *conn = (uint32_t)c;
  *seq = s;
  return 0;
}

void bq_benchmsg_producer(char *dst, uint32_t run, uint32_t conn) {
  snprintf(dst, BQ_BENCHMSG_PRODUCER_MAX, "bench-%08" PRIx32 "-%" PRIu32, run,
           conn);
}
