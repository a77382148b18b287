/*
 * fuzz_frame.c -- libFuzzer target: the line framer (common/frame.c)
 * against a trivially correct reference.
 *
 * Input: byte 0 picks the limit (max = 1 + b0 % 96), bytes 1-2 seed the
 * split points, the rest is the stream.  When byte 2 is odd, the first line
 * has a limit of its own, first = 1 + (b2 >> 1) % 96, and the callback sets
 * max with bq_framer_set_max() once it has seen the first event (as the
 * daemon does after the AUTH line); otherwise first = max.  The stream is
 * fed to a bq_framer in chunks of pseudo-random sizes (sometimes all at
 * once, sometimes a byte at a time), then finished; the reference frames
 * the whole stream in one pass:
 *   each '\n'-terminated line, and a non-empty unterminated tail, minus
 *   one trailing '\r', is a message if at most first (for the first line)
 *   or max (for the others) bytes long, else one "too long" event.
 * The two event sequences (kind and exact bytes) must be identical, and the
 * framer must never hold more than its current limit + 1 bytes.  Any
 * difference aborts.
 *
 * Owns nothing beyond one call; single-threaded.  Also built, with the
 * normal compiler, into the replay driver (replay.c) that runs the corpus
 * as ctest tests.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An event log: kinds and payloads, concatenated. */
struct events {
  size_t n;
  size_t len, cap;
  unsigned char *buf; /* per event: kind, 8-byte length, bytes */
  struct bq_framer *f; /* the framer to set to max after the first event */
  size_t max;
};

static void ev_add(struct events *e, int kind, const char *p, size_t len) {
  size_t need = e->len + 1 + sizeof(size_t) + len;
  if (need > e->cap) {
    size_t cap = e->cap ? e->cap : 256;
    while (cap < need) cap *= 2;
    e->buf = realloc(e->buf, cap);
    if (e->buf == NULL) abort();
    e->cap = cap;
  }
  e->buf[e->len++] = (unsigned char)kind;
  memcpy(e->buf + e->len, &len, sizeof(len));
  e->len += sizeof(len);
  if (len) memcpy(e->buf + e->len, p, len);
  e->len += len;
  e->n++;
}

static int on_frame(void *arg, int kind, const char *p, size_t len) {
  struct events *e = arg;
  if (kind == BQ_FRAME_TOO_LONG && (p != NULL || len != 0)) abort();
  ev_add(e, kind, p, len);
  if (e->n == 1) bq_framer_set_max(e->f, e->max);
  return 0;
}

/* The reference: obviously right, no state across feeds. */
static void reference(const char *s, size_t n, size_t first, size_t max,
                      struct events *e) {
  size_t start = 0;
  for (size_t i = 0; i <= n; i++) {
    size_t len;
    if (i < n && s[i] != '\n') continue;
    len = i - start;
    if (i == n && len == 0) break; /* no unterminated tail */
    if (len > 0 && s[start + len - 1] == '\r') len--;
    if (len > (e->n == 0 ? first : max))
      ev_add(e, BQ_FRAME_TOO_LONG, NULL, 0);
    else
      ev_add(e, BQ_FRAME_MSG, s + start, len);
    start = i + 1;
  }
}

static uint32_t next_rand(uint32_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  return *x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct events got = {0, 0, 0, NULL, NULL, 0};
  struct events want = {0, 0, 0, NULL, NULL, 0};
  struct bq_framer f;
  const char *s;
  size_t n, max, first, off = 0;
  uint32_t rnd;
  int mode;

  if (size < 3) return 0;
  max = 1 + data[0] % 96;
  first = data[2] & 1 ? 1 + (size_t)(data[2] >> 1) % 96 : max;
  rnd = ((uint32_t)data[1] << 8 | data[2]) * 2654435761u + 1;
  mode = data[1] % 4; /* 0: one feed; 1: bytes; 2-3: random chunks */
  s = (const char *)data + 3;
  n = size - 3;

  bq_framer_init(&f, first);
  got.f = &f;
  got.max = max;
  while (off < n) {
    size_t chunk;
    if (mode == 0) chunk = n;
    else if (mode == 1) chunk = 1;
    else chunk = 1 + next_rand(&rnd) % (2 * max + 8);
    if (chunk > n - off) chunk = n - off;
    if (bq_framer_feed(&f, s + off, chunk, on_frame, &got) != 0) abort();
    if (bq_framer_pending(&f) > f.max + 1) abort();
    off += chunk;
  }
  if (bq_framer_finish(&f, on_frame, &got) != 0) abort();
  if (bq_framer_pending(&f) != 0) abort();

  reference(s, n, first, max, &want);
  if (got.n != want.n || got.len != want.len ||
      (got.len && memcmp(got.buf, want.buf, got.len) != 0)) {
    fprintf(stderr, "framer and reference differ: %zu vs %zu events "
            "(first %zu, max %zu, mode %d)\n", got.n, want.n, first, max, mode);
    abort();
  }
  bq_framer_free(&f);
  free(got.buf);
  free(want.buf);
  return 0;
}
