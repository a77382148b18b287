/*
 * buf.c -- see buf.h.  No shared state.
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bq_buf_init(struct bq_buf *b) {
  b->data = NULL;
  b->len = b->cap = 0;
  b->failed = 0;
}

void bq_buf_free(struct bq_buf *b) {
  free(b->data);
  bq_buf_init(b);
}

/* Make room for extra more bytes plus a NUL.  Returns 0 or -1. */
static int reserve(struct bq_buf *b, size_t extra) {
  size_t want, ncap;
  char *p;
  if (b->failed) return -1;
  if (extra > ((size_t)-1) / 2 - b->len) goto oom;
  want = b->len + extra + 1;
  if (want <= b->cap) return 0;
  ncap = b->cap ? b->cap : 256;
  while (ncap < want) ncap *= 2;
  p = realloc(b->data, ncap);
  if (p == NULL) goto oom;
  b->data = p;
  b->cap = ncap;
  return 0;
oom:
  b->failed = 1;
  return -1;
}

void bq_buf_add(struct bq_buf *b, const char *s, size_t len) {
  if (reserve(b, len) < 0) return;
  memcpy(b->data + b->len, s, len);
  b->len += len;
  b->data[b->len] = '\0';
}

void bq_buf_printf(struct bq_buf *b, const char *fmt, ...) {
  va_list ap;
  int n;
  char small[256];

  va_start(ap, fmt);
  n = vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->failed = 1;
    return;
  }
  if ((size_t)n < sizeof(small)) {
    bq_buf_add(b, small, (size_t)n);
    return;
  }
  if (reserve(b, (size_t)n) < 0) return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}
