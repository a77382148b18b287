/*
 * frame.c -- see frame.h.  Owns nothing but the per-connection partial-line
 * buffer; runs on whichever thread reads the connection (the loop thread).
 *
 * Invariants (between calls): len <= max + 1 (the largest line that may
 * still shrink to max by losing its '\r'); skipping implies len == 0.
 */
#include "frame.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Partial-frame buffers larger than this are freed once the frame is done,
 * so that an idle connection does not keep a big buffer alive. */
#define KEEP_CAP 4096

int bq_frame_buf_append(char **buf, size_t *len, size_t *cap, size_t max,
                        const char *p, size_t n) {
  assert(*len + n <= max + 1);
  if (*len + n > *cap) {
    size_t c = *cap ? *cap : 256;
    char *nb;
    while (c < *len + n) c *= 2;
    if (c > max + 1) c = max + 1;
    nb = realloc(*buf, c);
    if (nb == NULL) return -ENOMEM;
    *buf = nb;
    *cap = c;
  }
  memcpy(*buf + *len, p, n);
  *len += n;
  return 0;
}

void bq_frame_buf_reset(char **buf, size_t *len, size_t *cap, size_t max) {
  *len = 0;
  if (*cap > KEEP_CAP || *cap > max + 1) {
    free(*buf);
    *buf = NULL;
    *cap = 0;
  }
}

void bq_framer_init(struct bq_framer *f, size_t max) {
  assert(max >= 1);
  f->buf = NULL;
  f->len = 0;
  f->cap = 0;
  f->max = max;
  f->skipping = 0;
}

void bq_framer_set_max(struct bq_framer *f, size_t max) {
  assert(max >= 1);
  f->max = max;
  /* Keep cap <= max + 1.  A buffer still holding the line being delivered
   * (len > 0: set from the callback) goes in reset_partial() instead. */
  if (f->len == 0 && f->cap > max + 1) {
    free(f->buf);
    f->buf = NULL;
    f->cap = 0;
  }
}

void bq_framer_free(struct bq_framer *f) {
  free(f->buf);
  f->buf = NULL;
  f->len = 0;
  f->cap = 0;
  f->skipping = 0;
}

size_t bq_framer_pending(const struct bq_framer *f) { return f->len; }

/* Append n bytes to the partial line; the caller has checked the limit. */
static int append(struct bq_framer *f, const char *p, size_t n) {
  return bq_frame_buf_append(&f->buf, &f->len, &f->cap, f->max, p, n);
}

static void reset_partial(struct bq_framer *f) {
  bq_frame_buf_reset(&f->buf, &f->len, &f->cap, f->max);
}

/* Emit a complete line p[0..n) (terminator removed), or reject it. */
static int emit_line(struct bq_framer *f, const char *p, size_t n,
                     bq_frame_cb cb, void *arg) {
  if (n > 0 && p[n - 1] == '\r') n--;
  if (n > f->max) return cb(arg, BQ_FRAME_TOO_LONG, NULL, 0);
  return cb(arg, BQ_FRAME_MSG, p, n);
}

int bq_framer_feed(struct bq_framer *f, const char *data, size_t len,
                   bq_frame_cb cb, void *arg) {
  const char *p = data;
  const char *end = data + len;
  int r;

  assert(f->skipping == 0 || f->len == 0);
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t chunk = (size_t)((nl ? nl : end) - p);

    if (f->skipping) {
      if (nl == NULL) return 0; /* all of it belongs to the long line */
      f->skipping = 0;
      p = nl + 1;
      continue;
    }
    if (f->len + chunk > f->max + 1) {
      /* Over the limit even if the line ends in "\r": reject it now. */
      reset_partial(f);
      if (nl == NULL) {
        f->skipping = 1;
        p = end;
      } else {
        p = nl + 1;
      }
      r = cb(arg, BQ_FRAME_TOO_LONG, NULL, 0);
      if (r < 0) return r;
      continue;
    }
    if (nl == NULL) { /* an unterminated tail: keep it for the next feed */
      return append(f, p, chunk);
    }
    if (f->len == 0) { /* whole line in this feed: no copy */
      r = emit_line(f, p, chunk, cb, arg);
    } else {
      r = append(f, p, chunk);
      if (r < 0) return r;
      r = emit_line(f, f->buf, f->len, cb, arg);
      reset_partial(f);
    }
    p = nl + 1;
    if (r < 0) return r;
  }
  return 0;
}

int bq_framer_finish(struct bq_framer *f, bq_frame_cb cb, void *arg) {
  int r = 0;
  if (!f->skipping && f->len > 0) r = emit_line(f, f->buf, f->len, cb, arg);
  bq_framer_free(f);
  return r;
}
