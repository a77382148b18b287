/*
 * window.c -- see window.h.  Owns the window's two buffers; no other
 * state.
 */
#include "window.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int bq_window_init(struct bq_window *w, size_t cap_bytes, size_t max_lines) {
  memset(w, 0, sizeof(*w));
  if (cap_bytes == 0 || max_lines == 0) return -EINVAL;
  w->data = malloc(cap_bytes);
  w->ends = malloc(max_lines * sizeof(*w->ends));
  if (w->data == NULL || w->ends == NULL) {
    bq_window_free(w);
    return -ENOMEM;
  }
  w->cap = cap_bytes;
  w->max_lines = max_lines;
  w->base = w->next = 1;
  return 0;
}

void bq_window_free(struct bq_window *w) {
  free(w->data);
  free(w->ends);
  w->data = NULL;
  w->ends = NULL;
  w->cap = w->max_lines = 0;
}

int bq_window_fits(const struct bq_window *w, size_t len) {
  if (w->next < w->base) return 1; /* skipped, never stored */
  if (len >= w->cap || w->count == w->max_lines) return 0;
  return (w->dend - w->dstart) + len + 1 <= w->cap;
}

int bq_window_push(struct bq_window *w, const char *line, size_t len) {
  assert(w->data != NULL);
  if (w->next < w->base) { /* committed by an earlier connection or run */
    assert(w->count == 0);
    w->next++;
    w->skipped++;
    return 1;
  }
  assert(w->next == w->base + w->count);
  if (len >= w->cap) return -EMSGSIZE;
  if (!bq_window_fits(w, len)) return -ENOBUFS;
  if (w->cap - w->dend < len + 1) { /* room only once compacted */
    memmove(w->data, w->data + w->dstart, w->dend - w->dstart);
    w->dend -= w->dstart;
    w->dstart = 0;
  }
  assert(w->cap - w->dend >= len + 1);
  memcpy(w->data + w->dend, line, len);
  w->data[w->dend + len] = '\n';
  w->dend += len + 1;
  w->ends[(w->head + w->count) % w->max_lines] = bq_window_end(w);
  w->count++;
  w->next++;
  return 0;
}

uint64_t bq_window_ack(struct bq_window *w, uint64_t n) {
  uint64_t k;
  if (n < w->base) return 0;
  k = n - w->base + 1;
  if (k >= w->count) { /* everything held, and maybe lines not yet read */
    k = w->count;
    w->abs_start = bq_window_end(w);
    w->dstart = w->dend = 0;
    w->head = 0;
    w->count = 0;
  } else {
    uint64_t at = w->ends[(w->head + k - 1) % w->max_lines];
    assert(at > w->abs_start && at < bq_window_end(w));
    w->dstart += (size_t)(at - w->abs_start);
    w->abs_start = at;
    w->head = (w->head + (size_t)k) % w->max_lines;
    w->count -= (size_t)k;
  }
  w->base = n + 1;
  assert(w->count == 0 || w->next == w->base + w->count);
  return k;
}

size_t bq_window_bytes(const struct bq_window *w, uint64_t pos,
                       const char **p) {
  assert(pos >= w->abs_start && pos <= bq_window_end(w));
  *p = w->data + w->dstart + (size_t)(pos - w->abs_start);
  return (size_t)(bq_window_end(w) - pos);
}

uint64_t bq_window_lines_before(const struct bq_window *w, uint64_t pos) {
  size_t lo = 0, hi = w->count; /* ends[lo..hi) is increasing */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (w->ends[(w->head + mid) % w->max_lines] <= pos)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}
