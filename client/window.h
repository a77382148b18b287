/*
 * window.h -- the window of `burstq send --producer`: the input lines the
 * daemon has not yet committed, held so that they can be sent again on a
 * new connection (docs/protocol.md, "Producers: exactly once").
 *
 * Design: lines are numbered in input order from 1 (the producer's
 * sequence numbers, pseq).  The window holds the lines base..next-1, each
 * stored with its "\n", in one byte buffer, plus the stream position just
 * past each line.  Positions are absolute (bytes pushed since the start,
 * skipped lines excluded), so compacting the buffer moves no position and
 * a sender keeps "how far this connection has written" as one number.
 * Both bounds are fixed at init: bytes (the --window size) and lines, and
 * push refuses a line that does not fit (the caller stops reading input
 * until acks free room).  An ack beyond the lines pushed so far (a RESUME
 * of an earlier run that sent more of the same input) moves base past
 * next: the lines up to it are skipped as they are read.  Pure data, no
 * I/O; main thread of burstq send only.
 */
#ifndef BQ_WINDOW_H
#define BQ_WINDOW_H

#include <stddef.h>
#include <stdint.h>

struct bq_window {
  char *data;          /* bytes of the lines, data[dstart..dend) */
  size_t cap;          /* bytes */
  size_t dstart, dend;
  uint64_t *ends;      /* ring: absolute position just past line base+i */
  size_t max_lines;    /* ring size */
  size_t head, count;  /* ring index of line base; lines held */
  uint64_t base;       /* pseq of the first line held (or to be held) */
  uint64_t next;       /* pseq the next line read gets */
  uint64_t abs_start;  /* absolute position of data[dstart] */
  uint64_t skipped;    /* lines read that were already committed */
};

/* Set w up for at most cap_bytes bytes (lines with their "\n") and
 * max_lines lines, numbering the first line 1.  Returns 0 or -ENOMEM;
 * -EINVAL when a bound is 0. */
int bq_window_init(struct bq_window *w, size_t cap_bytes, size_t max_lines);

/* Free what init allocated (w may be zeroed, or freed before). */
void bq_window_free(struct bq_window *w);

/* The next input line, len bytes without its "\n" (one is added).
 * Returns 1 when it was already committed (its pseq is below base: it is
 * counted in skipped and dropped), 0 when it was stored, -ENOBUFS when it
 * does not fit now (retry after an ack), -EMSGSIZE when it never can
 * (len + 1 > the byte bound). */
int bq_window_push(struct bq_window *w, const char *line, size_t len);

/* Whether a line of len bytes would be stored now (or skipped): push
 * would not return -ENOBUFS. */
int bq_window_fits(const struct bq_window *w, size_t len);

/* Lines 1..n are committed: drop those held.  n below base changes
 * nothing; n at or beyond next empties the window and makes the lines up
 * to n be skipped when they are pushed.  Returns how many lines were
 * dropped. */
uint64_t bq_window_ack(struct bq_window *w, uint64_t n);

/* Absolute stream positions: [start, end) are the bytes held. */
static inline uint64_t bq_window_start(const struct bq_window *w) {
  return w->abs_start;
}
static inline uint64_t bq_window_end(const struct bq_window *w) {
  return w->abs_start + (w->dend - w->dstart);
}

/* The bytes held from absolute position pos (start <= pos <= end) to the
 * end: *p and the count returned. */
size_t bq_window_bytes(const struct bq_window *w, uint64_t pos,
                       const char **p);

/* How many lines held end at or before absolute position pos: those a
 * connection that wrote up to pos has sent in full, counted from base. */
uint64_t bq_window_lines_before(const struct bq_window *w, uint64_t pos);

/* The first pseq not committed yet, as a HELLO's first-seq: base. */
static inline uint64_t bq_window_first(const struct bq_window *w) {
  return w->base;
}

/* Lines held. */
static inline size_t bq_window_count(const struct bq_window *w) {
  return w->count;
}

#endif /* BQ_WINDOW_H */
