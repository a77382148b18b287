/*
 * frame.h -- the line framer: bytes in, messages out.
 *
 * Design: a pure state machine with no I/O and no threads, so it can be
 * tested (and fuzzed) byte by byte.  One framer per connection, touched only
 * by the thread that reads that connection (the event-loop thread).
 *
 * Rules (docs/protocol.md):
 *  - a message is the bytes before a '\n'; one trailing '\r' is stripped;
 *  - a message may arrive split over any number of feeds;
 *  - at end of input, a non-empty unterminated remainder is a message;
 *  - a line whose payload (after stripping) is longer than max bytes is
 *    reported once as BQ_FRAME_TOO_LONG as soon as that is known, and the
 *    rest of it, up to and including its '\n', is skipped; the next line is
 *    framed normally.
 *
 * Memory: a framer holds at most max + 1 bytes of a pending partial line.
 * The buffer is allocated when a line first spans feeds; once that line is
 * done it is kept if it is at most 4 KiB (the common case of lines split by
 * reads), else freed.  A line that lies entirely within one feed is handed
 * to the callback in place, without a copy.
 */
#ifndef BQ_FRAME_H
#define BQ_FRAME_H

#include <stddef.h>

enum bq_frame_kind {
  BQ_FRAME_MSG = 0,     /* data/len is one message payload */
  BQ_FRAME_TOO_LONG = 1 /* a line was over the limit; data is NULL, len 0 */
};

/* Called once per framed message or rejected line, in input order.  data is
 * valid only during the call.  Return 0 to go on, or a negative errno to stop
 * framing; bq_framer_feed() then returns that value (the framer remains usable
 * but the rest of that feed is dropped). */
typedef int (*bq_frame_cb)(void *arg, int kind, const char *data, size_t len);

struct bq_framer {
  char *buf;    /* pending partial line, NULL when none is allocated */
  size_t len;   /* bytes in buf */
  size_t cap;   /* bytes allocated for buf */
  size_t max;   /* largest accepted payload */
  int skipping; /* inside an over-long line, dropping bytes until '\n' */
};

/* Initialise f for payloads of at most max bytes (max >= 1). */
void bq_framer_init(struct bq_framer *f, size_t max);

/* The buffer of a frame that spans feeds, shared by this framer and the
 * syslog framer (syslog.h), over a framer's own three fields: *buf holds
 * *len bytes in *cap allocated, never more than max + 1.
 *
 * bq_frame_buf_append: add n bytes from p (the caller has checked that
 * *len + n <= max + 1), growing the buffer by doubling from 256 bytes.
 * Returns 0, or -ENOMEM with the buffer unchanged.
 * bq_frame_buf_reset: the frame is done: empty the buffer, and free it when
 * it grew past 4 KiB (an idle connection keeps no big buffer) or past
 * max + 1 (the limit was lowered meanwhile). */
int bq_frame_buf_append(char **buf, size_t *len, size_t *cap, size_t max,
                        const char *p, size_t n);
void bq_frame_buf_reset(char **buf, size_t *len, size_t *cap, size_t max);

/* Change the limit to max bytes (max >= 1) for every line not yet delivered.
 * Meant to be called between lines: from the callback (the new limit then
 * applies from the next line on) or while bq_framer_pending() is 0.  This
 * is how a first line can have a limit of its own. */
void bq_framer_set_max(struct bq_framer *f, size_t max);

/* Free f's buffer.  f may be initialised again afterwards. */
void bq_framer_free(struct bq_framer *f);

/* Feed len bytes.  Returns 0, -ENOMEM if the partial-line buffer could not
 * grow (the messages before it were delivered; the unterminated tail that
 * did not fit is dropped, so the caller should close the connection), or
 * the first negative value returned by cb. */
int bq_framer_feed(struct bq_framer *f, const char *data, size_t len,
                   bq_frame_cb cb, void *arg);

/* End of input: emit the unterminated remainder, if any, as a message, then
 * reset f to its initial state.  Returns 0 or cb's negative value. */
int bq_framer_finish(struct bq_framer *f, bq_frame_cb cb, void *arg);

/* Bytes of an unterminated line currently held (0 while skipping). */
size_t bq_framer_pending(const struct bq_framer *f);

#endif /* BQ_FRAME_H */
