/*
 * fuzz_syslog.c -- libFuzzer target: the syslog framer (common/syslog.c)
 * against a trivially correct reference, and the header parser on every
 * message it frames.
 *
 * Input: byte 0 picks the limit (max = 1 + b0 % 64), bytes 1-2 seed the
 * split points, the rest is the stream.  When byte 2 is odd, the first
 * message has a limit of its own, first = 1 + (b2 >> 1) % 64, and the
 * callback sets max with bq_sysframer_set_max() once it has seen the first
 * event (as the daemon does after the AUTH line); otherwise first = max.
 * The stream is fed to a bq_sysframer in chunks of pseudo-random sizes
 * (sometimes all at once, sometimes a byte at a time), then finished; the
 * reference reads the whole stream a byte at a time, keeping every frame
 * whole, and decides each frame when it ends:
 *   between frames, '\n' is skipped; '1'..'9' starts MSG-LEN, any other
 *   byte a line.  MSG-LEN: digits (a tenth one: BAD), then SP (anything
 *   else: BAD), then exactly MSG-LEN bytes.  A line: up to '\n', one
 *   trailing '\r' dropped, nothing if then empty.  A message over the
 *   limit (first for the first event, max after it) is TRUNCATED to its
 *   first limit bytes, else a MSG.  At the end: an unterminated line is
 *   framed as one; in MSG-LEN, BAD; inside an octet-counted message, BAD
 *   unless it is over the limit and at least limit bytes of it came (then
 *   it is TRUNCATED).  Nothing follows BAD.
 * The two event sequences (kind and exact bytes) must be identical, feed
 * must return -EPROTO exactly when its bytes held BAD and finish exactly
 * when the sequence ends in BAD, and the framer must never hold more than
 * its limit + 1 bytes.  Each message is then parsed from an exact-size heap
 * copy (ASan catches a read past it): slices lie inside the message, obey
 * their limits, and the facts syslog.h promises about each format hold.
 * Any difference aborts.
 *
 * Owns nothing beyond one call; single-threaded.  Also built, with the
 * normal compiler, into the replay driver (replay.c) that runs the corpus
 * as ctest tests.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "syslog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An event log: kinds and payloads, concatenated. */
struct events {
  size_t n;
  size_t len, cap;
  unsigned char *buf;     /* per event: kind, 8-byte length, bytes */
  int last;               /* kind of the last event, -1 before any */
  struct bq_sysframer *f; /* the framer to set to max after the first event */
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
  e->last = kind;
}

static int printable(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126) return 0;
  return 1;
}

/* A slice: NULL with length 0, or 1..max bytes inside m[0..len). */
static void check_slice(const char *m, size_t len, const char *s, size_t n,
                        size_t max) {
  if (s == NULL) {
    if (n != 0) abort();
    return;
  }
  if (n < 1 || n > max || s < m || n > len || s - m > (ptrdiff_t)(len - n))
    abort();
}

/* Parse an exact-size copy of p[0..len) and check what syslog.h promises. */
static void check_parse(const char *p, size_t len) {
  struct bq_syslog_hdr h;
  char *m = len ? malloc(len) : NULL;
  if (len) {
    if (m == NULL) abort();
    memcpy(m, p, len);
  }
  memset(&h, 0x5a, sizeof(h)); /* everything must be set */
  bq_syslog_parse(m, len, &h);
  check_slice(m, len, h.log_time, h.log_time_len, BQ_SYSLOG_TIME_MAX);
  check_slice(m, len, h.hostname, h.hostname_len, BQ_SYSLOG_HOSTNAME_MAX);
  check_slice(m, len, h.app_name, h.app_name_len, BQ_SYSLOG_APP_NAME_MAX);
  check_slice(m, len, h.procid, h.procid_len, BQ_SYSLOG_PROCID_MAX);
  check_slice(m, len, h.msgid, h.msgid_len, BQ_SYSLOG_MSGID_MAX);
  if (h.format == 0) {
    if (h.facility != -1 || h.severity != -1 || h.log_time || h.hostname ||
        h.app_name || h.procid || h.msgid)
      abort();
  } else if (h.format == 5424 || h.format == 3164) {
    if (h.facility < 0 || h.facility > 23 || h.severity < 0 || h.severity > 7)
      abort();
    if (len < 3 || m[0] != '<') abort();
    /* Every field but a 3164 timestamp is printable US-ASCII. */
    if ((h.format == 5424 && !printable(h.log_time, h.log_time_len)) ||
        !printable(h.hostname, h.hostname_len) ||
        !printable(h.app_name, h.app_name_len) ||
        !printable(h.procid, h.procid_len) || !printable(h.msgid, h.msgid_len))
      abort();
    if (h.format == 3164 && h.msgid != NULL) abort();
    /* NILVALUE is never a 5424 slice. */
    if (h.format == 5424 &&
        ((h.hostname_len == 1 && h.hostname[0] == '-') ||
         (h.app_name_len == 1 && h.app_name[0] == '-') ||
         (h.procid_len == 1 && h.procid[0] == '-') ||
         (h.msgid_len == 1 && h.msgid[0] == '-') ||
         (h.log_time_len == 1 && h.log_time[0] == '-')))
      abort();
  } else {
    abort();
  }
  free(m);
}

static int on_frame(void *arg, int kind, const char *p, size_t len) {
  struct events *e = arg;
  if (kind == BQ_SYSFRAME_BAD) {
    if (p != NULL || len != 0) abort();
  } else if (kind == BQ_SYSFRAME_MSG || kind == BQ_SYSFRAME_TRUNCATED) {
    if (p == NULL || len == 0) abort();
    check_parse(p, len);
  } else {
    abort();
  }
  if (e->last == BQ_SYSFRAME_BAD) abort(); /* nothing after BAD */
  ev_add(e, kind, p, len);
  if (e->n == 1) bq_sysframer_set_max(e->f, e->max);
  return 0;
}

/* ---- the reference ------------------------------------------------------ */

enum { R_START, R_COUNT, R_BODY, R_LINE };

struct ref {
  struct events *e;
  size_t first, max;
  char *buf; /* the whole frame so far */
  size_t len, cap;
};

static size_t ref_limit(const struct ref *r) {
  return r->e->n == 0 ? r->first : r->max;
}

static void ref_push(struct ref *r, char c) {
  if (r->len == r->cap) {
    r->cap = r->cap ? 2 * r->cap : 64;
    r->buf = realloc(r->buf, r->cap);
    if (r->buf == NULL) abort();
  }
  r->buf[r->len++] = c;
}

/* A message of n bytes from the buffer: whole or truncated. */
static void ref_message(struct ref *r, size_t n) {
  size_t lim = ref_limit(r);
  if (n > lim)
    ev_add(r->e, BQ_SYSFRAME_TRUNCATED, r->buf, lim);
  else
    ev_add(r->e, BQ_SYSFRAME_MSG, r->buf, n);
}

static void ref_line(struct ref *r) {
  size_t n = r->len;
  if (n > 0 && r->buf[n - 1] == '\r') n--;
  if (n > 0) ref_message(r, n);
  r->len = 0;
}

static void reference(const char *s, size_t n, size_t first, size_t max,
                      struct events *e) {
  struct ref r = {e, first, max, NULL, 0, 0};
  int state = R_START;
  size_t count = 0, digits = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (state == R_START) {
      if (c == '\n') continue;
      if (c >= '1' && c <= '9') {
        state = R_COUNT;
        count = (size_t)(c - '0');
        digits = 1;
      } else {
        state = R_LINE;
        ref_push(&r, c);
      }
    } else if (state == R_COUNT) {
      if (c >= '0' && c <= '9' && digits < 9) {
        count = count * 10 + (size_t)(c - '0');
        digits++;
      } else if (c == ' ') {
        state = R_BODY;
        r.len = 0;
      } else {
        ev_add(e, BQ_SYSFRAME_BAD, NULL, 0);
        free(r.buf);
        return;
      }
    } else if (state == R_BODY) {
      ref_push(&r, c);
      if (r.len == count) {
        ref_message(&r, count);
        r.len = 0;
        state = R_START;
      }
    } else { /* R_LINE */
      if (c == '\n') {
        ref_line(&r);
        state = R_START;
      } else {
        ref_push(&r, c);
      }
    }
  }
  if (state == R_COUNT) {
    ev_add(e, BQ_SYSFRAME_BAD, NULL, 0);
  } else if (state == R_BODY) {
    size_t lim = ref_limit(&r);
    if (count > lim && r.len >= lim)
      ref_message(&r, count);
    else
      ev_add(e, BQ_SYSFRAME_BAD, NULL, 0);
  } else if (state == R_LINE) {
    ref_line(&r);
  }
  free(r.buf);
}

static uint32_t next_rand(uint32_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  return *x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct events got = {0, 0, 0, NULL, -1, NULL, 0};
  struct events want = {0, 0, 0, NULL, -1, NULL, 0};
  struct bq_sysframer f;
  const char *s;
  size_t n, max, first, off = 0;
  uint32_t rnd;
  int mode, dead = 0, r;

  if (size < 3) {
    check_parse((const char *)data, size);
    return 0;
  }
  max = 1 + data[0] % 64;
  first = data[2] & 1 ? 1 + (size_t)(data[2] >> 1) % 64 : max;
  rnd = ((uint32_t)data[1] << 8 | data[2]) * 2654435761u + 1;
  mode = data[1] % 4; /* 0: one feed; 1: bytes; 2-3: random chunks */
  s = (const char *)data + 3;
  n = size - 3;

  /* The whole stream as one message, too. */
  check_parse(s, n);

  bq_sysframer_init(&f, first);
  got.f = &f;
  got.max = max;
  while (off < n) {
    size_t chunk;
    size_t before = got.n;
    if (mode == 0) chunk = n;
    else if (mode == 1) chunk = 1;
    else chunk = 1 + next_rand(&rnd) % (2 * max + 8);
    if (chunk > n - off) chunk = n - off;
    r = bq_sysframer_feed(&f, s + off, chunk, on_frame, &got);
    if (dead) {
      if (r != -EPROTO || got.n != before) abort();
    } else if (r == -EPROTO) {
      if (got.n == before || got.last != BQ_SYSFRAME_BAD) abort();
      dead = 1;
    } else if (r != 0) {
      abort();
    }
    if (f.len > f.max + 1 || f.cap > f.max + 1 ||
        bq_sysframer_pending(&f) > f.max + 1 + 10)
      abort();
    off += chunk;
  }
  r = bq_sysframer_finish(&f, on_frame, &got);
  if (r != (got.last == BQ_SYSFRAME_BAD ? -EPROTO : 0)) abort();
  if (bq_sysframer_pending(&f) != 0 || f.buf != NULL) abort();

  reference(s, n, first, max, &want);
  if (got.n != want.n || got.len != want.len ||
      (got.len && memcmp(got.buf, want.buf, got.len) != 0)) {
    fprintf(stderr, "framer and reference differ: %zu vs %zu events "
            "(first %zu, max %zu, mode %d)\n", got.n, want.n, first, max, mode);
    abort();
  }
  bq_sysframer_free(&f);
  free(got.buf);
  free(want.buf);
  return 0;
}
