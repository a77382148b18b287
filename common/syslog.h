/*
 * syslog.h -- syslog over TCP: the framer of a syslog listener (RFC 6587)
 * and the parser of a message's header (RFC 5424, RFC 3164).
 *
 * Design: pure functions and a pure state machine, no I/O, no threads, so
 * both can be tested (and fuzzed) byte by byte.  One bq_sysframer per
 * syslog connection, touched only by the thread that reads that connection
 * (the event-loop thread).  bq_syslog_parse() keeps no state and allocates
 * nothing: any thread (the store's workers call it).
 *
 * Framing (RFC 6587), decided at the start of every frame, as rsyslog does:
 *  - a frame that starts with '1'..'9' is octet-counted: MSG-LEN SP
 *    SYSLOG-MSG, MSG-LEN decimal, 1 to 9 digits (so at least 1, no leading
 *    zero); the message is exactly the next MSG-LEN bytes, whatever they
 *    are ('\n' included), and the next frame starts right after it;
 *  - any other first byte starts a newline frame ("non-transparent
 *    framing"): the bytes up to '\n', one trailing '\r' stripped;
 *  - a frame whose message is empty (a '\n' between frames, keep-alive
 *    empty lines, a lone "\r\n") is skipped and reported to nobody;
 *  - a message longer than max bytes is reported once, as
 *    BQ_SYSFRAME_TRUNCATED with its first max bytes, as soon as that is
 *    known; the rest of it is skipped silently (octet-counted: exactly
 *    MSG-LEN - max more bytes; newline: up to and including the '\n');
 *  - a bad octet count (a digit then neither a digit nor SP, or a tenth
 *    digit) is BQ_SYSFRAME_BAD: the stream cannot be resynchronised, the
 *    framer is dead from then on and the caller closes the connection.
 *
 * Memory: a framer holds at most max + 1 bytes of a pending partial frame
 * (a newline frame may still lose a '\r').  As in frame.h, the buffer is
 * allocated when a frame first spans feeds and kept afterwards only if it
 * is at most 4 KiB; a frame that lies entirely within one feed is handed to
 * the callback in place, without a copy.
 */
#ifndef BQ_SYSLOG_H
#define BQ_SYSLOG_H

#include <stddef.h>

#include "frame.h" /* bq_frame_cb */

/* ---- framing --------------------------------------------------------------- */

enum bq_sysframe_kind {
  BQ_SYSFRAME_MSG = 0,       /* data/len: one whole message */
  BQ_SYSFRAME_TRUNCATED = 1, /* data/len: the first max bytes of a longer one */
  BQ_SYSFRAME_BAD = 2        /* a framing error; data NULL, len 0 */
};

/* Per connection.  The fields are private to syslog.c (public only so that
 * a connection can embed the framer). */
struct bq_sysframer {
  char *buf;       /* pending partial frame, NULL when none is allocated */
  size_t len;      /* bytes in buf */
  size_t cap;      /* bytes allocated for buf */
  size_t max;      /* largest message delivered whole */
  int state;       /* where in a frame the next byte falls (syslog.c) */
  unsigned digits; /* octet-counted: digits of MSG-LEN read so far */
  size_t count;    /* octet-counted: MSG-LEN (so far, while reading it) */
  size_t remain;   /* octet-counted: bytes of the message still to come */
  size_t keep;     /* octet-counted: bytes of it to deliver, min(MSG-LEN, max) */
};

/* Initialise f for messages of at most max bytes (max >= 1). */
void bq_sysframer_init(struct bq_sysframer *f, size_t max);

/* Free f's buffer.  f may be initialised again afterwards. */
void bq_sysframer_free(struct bq_sysframer *f);

/* Feed len bytes.  cb(arg, kind, data, len) is called once per message,
 * truncated message or framing error, in input order; data is valid only
 * during the call.  MSG: a whole message.  TRUNCATED: its first max bytes
 * (the rest is skipped silently).  BAD: data NULL, len 0; the framer is then
 * dead: this feed and every later one return -EPROTO without calling cb, and
 * the caller closes the connection.  A nonzero return from cb (other than
 * for BAD) stops framing: feed returns that value, the rest of that feed is
 * dropped and the caller should close (an octet-counted stream is out of
 * step from there).  Returns 0, that value, -EPROTO, or -ENOMEM if the
 * partial-frame buffer could not grow (the messages before it were
 * delivered; the framer is dead from then on, as after BAD). */
int bq_sysframer_feed(struct bq_sysframer *f, const char *data, size_t len,
                      bq_frame_cb cb, void *arg);

/* End of input.  An unterminated newline frame is a message (MSG, or
 * TRUNCATED if over max; nothing if it is empty after stripping a '\r'),
 * as in frame.h; an incomplete octet-counted frame (in its MSG-LEN, or
 * fewer than min(MSG-LEN, max) bytes of its message) is dropped and
 * reported as BAD.  A message already delivered as TRUNCATED whose skipped
 * rest is cut short is not reported again.  Then f is reset to its initial
 * state (its limit kept).  Returns 0, cb's nonzero value (MSG/TRUNCATED),
 * or -EPROTO (BAD now, or the framer was already dead; cb is not called
 * in that last case). */
int bq_sysframer_finish(struct bq_sysframer *f, bq_frame_cb cb, void *arg);

/* Bytes of an unfinished frame received and not yet delivered or skipped:
 * its MSG-LEN prefix and the part of its message held (0 between frames,
 * while skipping the rest of a truncated message, and when dead). */
size_t bq_sysframer_pending(const struct bq_sysframer *f);

/* Change the limit to max bytes (max >= 1) for every frame not yet begun,
 * as bq_framer_set_max(): meant to be called between frames, from the
 * callback or while bq_sysframer_pending() is 0.  An octet-counted frame
 * keeps the limit it had when its MSG-LEN was read. */
void bq_sysframer_set_max(struct bq_sysframer *f, size_t max);

/* ---- the header of one message --------------------------------------------- */

/* Field limits (RFC 5424 section 6; the same for RFC 3164, whose TAG is
 * stored as app_name and PID as procid).  A field over its limit is not
 * that field: an RFC 5424 header with one is not RFC 5424; an RFC 3164
 * field over it is left absent.  BQ_SYSLOG_TIME_MAX bounds a timestamp
 * (RFC 3339 needs at most 32 bytes with microseconds; senders with
 * nanoseconds need 35). */
#define BQ_SYSLOG_TIME_MAX 48
#define BQ_SYSLOG_HOSTNAME_MAX 255
#define BQ_SYSLOG_APP_NAME_MAX 48
#define BQ_SYSLOG_PROCID_MAX 128
#define BQ_SYSLOG_MSGID_MAX 32

struct bq_syslog_hdr {
  int format;             /* 0 none, 5424, 3164 */
  int facility, severity; /* -1 when absent (format 0) */
  /* Slices into the message, NULL (and length 0) when absent or NILVALUE. */
  const char *log_time, *hostname, *app_name, *procid, *msgid;
  size_t log_time_len, hostname_len, app_name_len, procid_len, msgid_len;
};

/* Parse the header of one message msg[0..len) (len may be 0; msg may then
 * be NULL).  Never fails: out->format is 0 when the message is neither
 * form, with every field absent.  Reads only msg[0..len).
 *
 * Both forms start with PRI, "<N>" with N of 1 to 3 digits and at most 191:
 * facility = N / 8, severity = N % 8.  Without a valid PRI: format 0.
 *
 * RFC 5424 (format 5424): PRI "1" SP TIMESTAMP SP HOSTNAME SP APP-NAME SP
 * PROCID SP MSGID, then SP or the end (STRUCTURED-DATA and MSG are not
 * looked at).  Each field is NILVALUE "-" (absent) or 1 to its limit of
 * printable US-ASCII (33..126); a TIMESTAMP that is not "-" starts with a
 * date, "YYYY-MM-DDT".
 *
 * RFC 3164 (format 3164): any other message with a valid PRI; what follows
 * is read as liberally as rsyslog's pmrfc3164 does, each part optional:
 *  - TIMESTAMP: "Mmm dd hh:mm:ss" (day " d", "dd" or "d") or an RFC 3339
 *    one ("YYYY-MM-DDT...", as rsyslog's RSYSLOG_ForwardFormat sends),
 *    followed by SP or the end, perhaps after one SP (HP ProCurve);
 *  - HOSTNAME, only after a TIMESTAMP: letters, digits, '.', '_', '-',
 *    ending in a letter or digit, followed by SP or the end (so a TAG such
 *    as "sshd[1]:" or "user:" right after the timestamp is not taken for
 *    a host);
 *  - TAG: "TAG:" or "TAG[PID]" (then ':', SP or the end): app_name = TAG
 *    (printable, no ':', '[' or ']'), procid = PID (printable, no ']').
 *    A word not so terminated is the start of MSG, not a TAG.
 */
void bq_syslog_parse(const char *msg, size_t len, struct bq_syslog_hdr *out);

#endif /* BQ_SYSLOG_H */
