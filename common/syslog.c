/*
 * syslog.c -- see syslog.h.  Owns nothing but each framer's partial-frame
 * buffer; the framer runs on the thread that reads its connection (the loop
 * thread), the parser on any thread.
 *
 * Framer states (f->state), between calls:
 *  - S_START: between frames; len == 0.
 *  - S_COUNT: reading MSG-LEN: 1 <= digits <= 9, count is its value so far;
 *    len == 0.
 *  - S_OCTETS: reading the message of an octet-counted frame:
 *    1 <= keep <= remain + len, keep == min(count, limit), len < keep.
 *  - S_SKIP_OCTETS: skipping the remain > 0 bytes after a truncated
 *    octet-counted message; len == 0.
 *  - S_LINE: inside a newline frame; 1 <= len <= max + 1 (the largest line
 *    that may still shrink to max by losing its '\r'; only a later
 *    bq_sysframer_set_max() can leave more), or len == 0 when its first byte
 *    has not yet been stored.
 *  - S_SKIP_LINE: skipping the rest of a truncated newline frame up to its
 *    '\n'; len == 0.
 *  - S_DEAD: after BAD or -ENOMEM; len == 0, no buffer.
 *
 * The parser reads through at() only, which returns -1 past the end: no
 * index it computes can read outside msg[0..len).
 */
#include "syslog.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { S_START, S_COUNT, S_OCTETS, S_SKIP_OCTETS, S_LINE, S_SKIP_LINE, S_DEAD };

/* MSG-LEN has at most this many digits (RFC 6587 sets no bound; rsyslog
 * stops near 2e8; 9 digits fit any size_t). */
#define COUNT_DIGITS 9

void bq_sysframer_init(struct bq_sysframer *f, size_t max) {
  assert(f != NULL);
  assert(max >= 1);
  memset(f, 0, sizeof(*f));
  f->buf = NULL;
  f->max = max;
  f->state = S_START;
}

void bq_sysframer_set_max(struct bq_sysframer *f, size_t max) {
  assert(max >= 1);
  f->max = max;
  /* Keep cap <= max + 1 between frames; a buffer still holding the frame
   * being delivered (set from the callback) goes in reset_partial(). */
  if (f->len == 0 && f->cap > max + 1) {
    free(f->buf);
    f->buf = NULL;
    f->cap = 0;
  }
}

void bq_sysframer_free(struct bq_sysframer *f) {
  free(f->buf);
  f->buf = NULL;
  f->len = 0;
  f->cap = 0;
}

size_t bq_sysframer_pending(const struct bq_sysframer *f) {
  switch (f->state) {
  case S_COUNT:
    return f->digits;
  case S_OCTETS:
    return f->digits + 1 + f->len;
  case S_LINE:
    return f->len;
  default:
    return 0;
  }
}

/* Append n bytes to the partial frame; the caller has checked the limit
 * (at most max + 1 bytes are ever held, see the states above). */
static int append(struct bq_sysframer *f, const char *p, size_t n) {
  assert(n > 0);
  return bq_frame_buf_append(&f->buf, &f->len, &f->cap, f->max, p, n);
}

static void reset_partial(struct bq_sysframer *f) {
  bq_frame_buf_reset(&f->buf, &f->len, &f->cap, f->max);
}

/* The framer is dead: free what it holds. */
static void make_dead(struct bq_sysframer *f) {
  bq_sysframer_free(f);
  f->state = S_DEAD;
}

/* A framing error: report it once, then be dead. */
static int bad(struct bq_sysframer *f, bq_frame_cb cb, void *arg) {
  make_dead(f);
  (void)cb(arg, BQ_SYSFRAME_BAD, NULL, 0);
  return -EPROTO;
}

/* Deliver a message p[0..n) as kind, then drop the held copy (p may be
 * f->buf: the callback sees it before the reset).  The state is already
 * the next one, so the framer is consistent if the callback stops. */
static int deliver(struct bq_sysframer *f, int kind, const char *p, size_t n,
                   bq_frame_cb cb, void *arg) {
  int r;
  assert(kind == BQ_SYSFRAME_MSG || kind == BQ_SYSFRAME_TRUNCATED);
  assert(p != NULL && n >= 1);
  r = cb(arg, kind, p, n);
  reset_partial(f);
  return r;
}

/* The octet-counted message, keep bytes of it, is complete (held, or all
 * at p when nothing is held): deliver it. */
static int octets_done(struct bq_sysframer *f, const char *p, bq_frame_cb cb,
                       void *arg) {
  int kind = f->remain > 0 ? BQ_SYSFRAME_TRUNCATED : BQ_SYSFRAME_MSG;
  const char *m = f->len ? f->buf : p;
  assert(f->len == 0 || f->len == f->keep);
  f->state = f->remain > 0 ? S_SKIP_OCTETS : S_START;
  return deliver(f, kind, m, f->keep, cb, arg);
}

/* An over-long newline frame: deliver the first max bytes of held + p[0..n)
 * (there are more than max in all) as TRUNCATED. */
static int line_truncated(struct bq_sysframer *f, const char *p, size_t n,
                          bq_frame_cb cb, void *arg) {
  const char *m;
  (void)n; /* only asserted: the callers know there are more than max */
  assert(f->len + n > f->max);
  if (f->len == 0) {
    m = p;
  } else {
    if (f->len < f->max) {
      int r = append(f, p, f->max - f->len);
      if (r < 0) {
        make_dead(f);
        return r;
      }
    }
    m = f->buf;
  }
  return deliver(f, BQ_SYSFRAME_TRUNCATED, m, f->max, cb, arg);
}

/* Last byte of held + p[0..n) (n + len >= 1). */
static char last_byte(const struct bq_sysframer *f, const char *p, size_t n) {
  assert(n + f->len >= 1);
  return n ? p[n - 1] : f->buf[f->len - 1];
}

int bq_sysframer_feed(struct bq_sysframer *f, const char *data, size_t len,
                      bq_frame_cb cb, void *arg) {
  const char *p = data;
  const char *end = data + len;
  int r;

  assert(len == 0 || data != NULL);
  if (f->state == S_DEAD) return -EPROTO;
  while (p < end) {
    size_t avail = (size_t)(end - p);
    switch (f->state) {
    case S_START:
      assert(f->len == 0);
      if (*p == '\n') { /* between frames: a keep-alive or a stray LF */
        p++;
      } else if (*p >= '1' && *p <= '9') {
        f->state = S_COUNT;
        f->digits = 1;
        f->count = (size_t)(*p - '0');
        p++;
      } else {
        f->state = S_LINE; /* this byte is the line's first */
      }
      break;

    case S_COUNT:
      assert(f->digits >= 1 && f->digits <= COUNT_DIGITS);
      if (*p >= '0' && *p <= '9') {
        if (f->digits == COUNT_DIGITS) return bad(f, cb, arg);
        f->count = f->count * 10 + (size_t)(*p - '0');
        f->digits++;
        p++;
      } else if (*p == ' ') {
        assert(f->count >= 1);
        f->state = S_OCTETS;
        f->remain = f->count;
        f->keep = f->count < f->max ? f->count : f->max;
        p++;
      } else {
        return bad(f, cb, arg);
      }
      break;

    case S_OCTETS: {
      size_t want = f->keep - f->len; /* bytes still to hold */
      assert(f->len < f->keep && f->remain >= want);
      if (f->len == 0 && avail >= want) { /* all in this feed: no copy */
        const char *m = p;
        p += want;
        f->remain -= want;
        r = octets_done(f, m, cb, arg);
      } else {
        size_t take = avail < want ? avail : want;
        r = append(f, p, take);
        if (r < 0) {
          make_dead(f);
          return r;
        }
        p += take;
        f->remain -= take;
        if (f->len < f->keep) return 0; /* the feed is used up */
        r = octets_done(f, NULL, cb, arg);
      }
      if (r != 0) return r;
      break;
    }

    case S_SKIP_OCTETS: {
      size_t n = avail < f->remain ? avail : f->remain;
      assert(f->remain > 0);
      p += n;
      f->remain -= n;
      if (f->remain == 0) f->state = S_START;
      break;
    }

    case S_SKIP_LINE: {
      const char *nl = memchr(p, '\n', avail);
      if (nl == NULL) return 0; /* all of it belongs to the long line */
      f->state = S_START;
      p = nl + 1;
      break;
    }

    case S_LINE: {
      const char *nl = memchr(p, '\n', avail);
      size_t chunk = (size_t)((nl ? nl : end) - p);
      size_t total = f->len + chunk;
      if (nl != NULL) {
        size_t pl = total;
        if (pl > 0 && last_byte(f, p, chunk) == '\r') pl--;
        f->state = S_START;
        if (pl == 0) { /* an empty line: skipped */
          reset_partial(f);
          r = 0;
        } else if (pl > f->max) {
          r = line_truncated(f, p, chunk, cb, arg);
        } else if (f->len == 0) { /* whole line in this feed: no copy */
          r = deliver(f, BQ_SYSFRAME_MSG, p, pl, cb, arg);
        } else {
          if (chunk > 0) {
            r = append(f, p, chunk);
            if (r < 0) {
              make_dead(f);
              return r;
            }
          }
          r = deliver(f, BQ_SYSFRAME_MSG, f->buf, pl, cb, arg);
        }
        p = nl + 1;
        if (r != 0) return r;
      } else if (total > f->max + 1 ||
                 (total == f->max + 1 && last_byte(f, p, chunk) != '\r')) {
        /* Over the limit even if the line ends in "\r\n": truncate now. */
        f->state = S_SKIP_LINE;
        r = line_truncated(f, p, chunk, cb, arg);
        p = end;
        if (r != 0) return r;
      } else { /* an unterminated tail: keep it for the next feed */
        assert(chunk > 0);
        r = append(f, p, chunk);
        if (r < 0) {
          make_dead(f);
          return r;
        }
        return 0;
      }
      break;
    }

    default:
      assert(0 && "bad sysframer state");
      return -EPROTO;
    }
  }
  return 0;
}

int bq_sysframer_finish(struct bq_sysframer *f, bq_frame_cb cb, void *arg) {
  int r = 0;
  switch (f->state) {
  case S_DEAD:
    r = -EPROTO;
    break;
  case S_COUNT:
  case S_OCTETS:
    r = bad(f, cb, arg);
    break;
  case S_LINE:
    if (f->len > 0) {
      size_t pl = f->len;
      if (f->buf[pl - 1] == '\r') pl--;
      f->state = S_START;
      if (pl > f->max)
        r = line_truncated(f, NULL, 0, cb, arg);
      else if (pl > 0)
        r = deliver(f, BQ_SYSFRAME_MSG, f->buf, pl, cb, arg);
    }
    break;
  default: /* between frames, or skipping the rest of a delivered one */
    break;
  }
  bq_sysframer_free(f);
  f->state = S_START;
  f->digits = 0;
  f->count = f->remain = f->keep = 0;
  return r;
}

/* ---- the header parser ------------------------------------------------------ */

/* msg[k], or -1 past the end: the parser's only way to read the message. */
static int at(const char *m, size_t len, size_t k) {
  return k < len ? (unsigned char)m[k] : -1;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_alnum(int c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
/* PRINTUSASCII (RFC 5424): %d33-126. */
static int is_print(int c) { return c >= 33 && c <= 126; }

/* Is msg[k] SP or the end of the message? */
static int sp_or_end(const char *m, size_t len, size_t k) {
  return k >= len || m[k] == ' ';
}

/* Length of the run of printable bytes at k. */
static size_t token(const char *m, size_t len, size_t k) {
  size_t j = k;
  while (is_print(at(m, len, j))) j++;
  return j - k;
}

/* "<N>" at 0, N of 1 to 3 digits, N <= 191: sets *pri, returns the length
 * of PRI (3 to 5), or 0. */
static size_t parse_pri(const char *m, size_t len, int *pri) {
  size_t k = 1;
  int v = 0;
  if (at(m, len, 0) != '<') return 0;
  while (k <= 3 && is_digit(at(m, len, k))) v = v * 10 + (at(m, len, k++) - '0');
  if (k == 1 || at(m, len, k) != '>' || v > 191) return 0;
  *pri = v;
  return k + 1;
}

/* "YYYY-MM-DDT" at k. */
static int date_at(const char *m, size_t len, size_t k) {
  static const char shape[] = "dddd-dd-ddT";
  for (size_t i = 0; i < sizeof(shape) - 1; i++) {
    int c = at(m, len, k + i);
    if (shape[i] == 'd' ? !is_digit(c) : c != shape[i]) return 0;
  }
  return 1;
}

/* Two digits at k, their value at most hi. */
static int two_digits(const char *m, size_t len, size_t k, int hi) {
  int a = at(m, len, k), b = at(m, len, k + 1);
  return is_digit(a) && is_digit(b) && (a - '0') * 10 + (b - '0') <= hi;
}

/* An RFC 3164 timestamp "Mmm dd hh:mm:ss" at k (day " d", "dd" or "d"),
 * followed by SP or the end: returns its length (15 or 14), or 0. */
static size_t ts3164(const char *m, size_t len, size_t k) {
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  size_t d, day = 0;
  int known = 0;
  for (size_t i = 0; i < 12 && !known; i++)
    known = at(m, len, k) == months[3 * i] &&
            at(m, len, k + 1) == months[3 * i + 1] &&
            at(m, len, k + 2) == months[3 * i + 2];
  if (!known || at(m, len, k + 3) != ' ') return 0;
  d = k + 4;
  if (at(m, len, d) == ' ' && is_digit(at(m, len, d + 1))) {
    day = (size_t)(at(m, len, d + 1) - '0');
    d += 2;
  } else if (is_digit(at(m, len, d)) && is_digit(at(m, len, d + 1))) {
    day = (size_t)((at(m, len, d) - '0') * 10 + (at(m, len, d + 1) - '0'));
    d += 2;
  } else if (is_digit(at(m, len, d)) && at(m, len, d + 1) == ' ') {
    day = (size_t)(at(m, len, d) - '0');
    d += 1;
  } else {
    return 0;
  }
  if (day < 1 || day > 31 || at(m, len, d) != ' ') return 0;
  d++;
  if (!two_digits(m, len, d, 23) || at(m, len, d + 2) != ':' ||
      !two_digits(m, len, d + 3, 59) || at(m, len, d + 5) != ':' ||
      !two_digits(m, len, d + 6, 60) || !sp_or_end(m, len, d + 8))
    return 0;
  return d + 8 - k;
}

/* An RFC 3339 timestamp at k ("YYYY-MM-DDT" and printable bytes, at most
 * BQ_SYSLOG_TIME_MAX), followed by SP or the end: its length, or 0. */
static size_t ts3339(const char *m, size_t len, size_t k) {
  size_t n;
  if (!date_at(m, len, k)) return 0;
  n = token(m, len, k);
  if (n > BQ_SYSLOG_TIME_MAX || !sp_or_end(m, len, k + n)) return 0;
  return n;
}

/* One RFC 5424 header field at *k: NILVALUE or 1..max printable bytes,
 * followed by SP (or, if last, SP or the end).  Sets the slice (NULL for
 * NILVALUE), moves *k past the field and its SP; returns 0 if invalid. */
static int field5424(const char *m, size_t len, size_t *k, size_t max,
                     int last, const char **s, size_t *slen) {
  size_t n = token(m, len, *k);
  if (n == 0 || n > max) return 0;
  if (last ? !sp_or_end(m, len, *k + n) : at(m, len, *k + n) != ' ') return 0;
  if (n == 1 && m[*k] == '-') {
    *s = NULL;
    *slen = 0;
  } else {
    *s = m + *k;
    *slen = n;
  }
  *k += n + 1; /* may pass len by one after the last field; not read again */
  return 1;
}

/* PRI "1" SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID (SP|end)
 * from k (just after PRI).  Fills h's slices only if all of it is valid. */
static int parse5424(const char *m, size_t len, size_t k,
                     struct bq_syslog_hdr *h) {
  struct bq_syslog_hdr t = *h;
  if (at(m, len, k) != '1' || at(m, len, k + 1) != ' ') return 0;
  k += 2;
  if (at(m, len, k) != '-' && !date_at(m, len, k)) return 0;
  if (!field5424(m, len, &k, BQ_SYSLOG_TIME_MAX, 0, &t.log_time,
                 &t.log_time_len) ||
      !field5424(m, len, &k, BQ_SYSLOG_HOSTNAME_MAX, 0, &t.hostname,
                 &t.hostname_len) ||
      !field5424(m, len, &k, BQ_SYSLOG_APP_NAME_MAX, 0, &t.app_name,
                 &t.app_name_len) ||
      !field5424(m, len, &k, BQ_SYSLOG_PROCID_MAX, 0, &t.procid,
                 &t.procid_len) ||
      !field5424(m, len, &k, BQ_SYSLOG_MSGID_MAX, 1, &t.msgid, &t.msgid_len))
    return 0;
  t.format = 5424;
  *h = t;
  return 1;
}

/* The liberal RFC 3164 reading from k (just after PRI); see syslog.h. */
static void parse3164(const char *m, size_t len, size_t k,
                      struct bq_syslog_hdr *h) {
  size_t n, tag, pid = 0, pidlen = 0;
  int c;

  h->format = 3164;
  /* TIMESTAMP, perhaps after one SP. */
  n = ts3164(m, len, k);
  if (n == 0) n = ts3339(m, len, k);
  if (n == 0 && at(m, len, k) == ' ') {
    n = ts3164(m, len, k + 1);
    if (n > 0) k++;
  }
  if (n > 0) {
    h->log_time = m + k;
    h->log_time_len = n;
    k += n + 1; /* past its SP, or one past the end */
    /* HOSTNAME: [A-Za-z0-9._-]+ ending in an alnum, then SP or the end. */
    n = 0;
    while ((c = at(m, len, k + n)) != -1 &&
           (is_alnum(c) || c == '.' || c == '_' || c == '-'))
      n++;
    if (n > 0 && n <= BQ_SYSLOG_HOSTNAME_MAX && is_alnum(at(m, len, k + n - 1)) &&
        sp_or_end(m, len, k + n)) {
      h->hostname = m + k;
      h->hostname_len = n;
      k += n + 1;
    }
  }
  /* TAG: "TAG:" or "TAG[PID]" then ':', SP or the end. */
  tag = 0;
  while ((c = at(m, len, k + tag)) != -1 && is_print(c) && c != ':' &&
         c != '[' && c != ']')
    tag++;
  if (tag == 0 || tag > BQ_SYSLOG_APP_NAME_MAX) return;
  c = at(m, len, k + tag);
  if (c == '[') {
    pid = k + tag + 1;
    while ((c = at(m, len, pid + pidlen)) != -1 && is_print(c) && c != ']')
      pidlen++;
    if (c != ']' || pidlen == 0 || pidlen > BQ_SYSLOG_PROCID_MAX) return;
    c = at(m, len, pid + pidlen + 1);
    if (c != ':' && c != ' ' && c != -1) return;
  } else if (c != ':') {
    return;
  }
  h->app_name = m + k;
  h->app_name_len = tag;
  if (pidlen > 0) {
    h->procid = m + pid;
    h->procid_len = pidlen;
  }
}

void bq_syslog_parse(const char *msg, size_t len, struct bq_syslog_hdr *out) {
  size_t k;
  int pri = -1;

  assert(out != NULL);
  assert(len == 0 || msg != NULL);
  memset(out, 0, sizeof(*out));
  out->log_time = out->hostname = out->app_name = out->procid = out->msgid =
      NULL;
  out->facility = out->severity = -1;
  k = parse_pri(msg, len, &pri);
  if (k == 0) return; /* format 0 */
  assert(pri >= 0 && pri <= 191 && k <= len);
  out->facility = pri / 8;
  out->severity = pri % 8;
  if (!parse5424(msg, len, k, out)) parse3164(msg, len, k, out);
  assert(out->format == 5424 || out->format == 3164);
}
