/*
 * buf.h -- a growable byte buffer for building text (HTTP responses,
 * Prometheus exposition).
 *
 * Design: a plain value owned by one thread at a time; nothing shared.  An
 * allocation failure is sticky: the buffer remembers it (failed = 1), later
 * appends do nothing, and the owner checks once at the end, so builders need
 * not check every call.
 */
#ifndef BQ_BUF_H
#define BQ_BUF_H

#include <stddef.h>

struct bq_buf {
  char *data;  /* NUL-terminated while len < cap; NULL until the first append */
  size_t len;
  size_t cap;
  int failed;  /* an append ran out of memory: the content is incomplete */
};

/* An empty buffer (no allocation). */
void bq_buf_init(struct bq_buf *b);

/* Release the memory; b is empty again. */
void bq_buf_free(struct bq_buf *b);

/* Append len bytes / a formatted string. */
void bq_buf_add(struct bq_buf *b, const char *s, size_t len);
void bq_buf_printf(struct bq_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* BQ_BUF_H */
