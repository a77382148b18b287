/*
 * log.c -- see log.h.  Touched by every thread; holds no mutable state of
 * its own beyond what the caller passes in.
 */

#include "log.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void bq_log_init(struct bq_log *log, const char *prog, int level, FILE *out) {
  assert(log != NULL && prog != NULL && out != NULL);
  assert(level >= BQ_LOG_ERROR && level <= BQ_LOG_DEBUG);
  log->out = out;
  log->prog = prog;
  log->level = level;
  log->format = BQ_LOG_TEXT;
}

int bq_log_level_parse(const char *s, int *level) {
  for (int i = BQ_LOG_ERROR; i <= BQ_LOG_DEBUG; i++) {
    if (strcmp(s, level_names[i]) == 0) {
      *level = i;
      return 0;
    }
  }
  return -EINVAL;
}

const char *bq_log_level_name(int level) {
  if (level < BQ_LOG_ERROR || level > BQ_LOG_DEBUG) return "?";
  return level_names[level];
}

int bq_log_format_parse(const char *s, int *format) {
  if (strcmp(s, "text") == 0) *format = BQ_LOG_TEXT;
  else if (strcmp(s, "json") == 0) *format = BQ_LOG_JSON;
  else return -EINVAL;
  return 0;
}

void bq_log_set_format(struct bq_log *log, int format) {
  assert(format == BQ_LOG_TEXT || format == BQ_LOG_JSON);
  log->format = format;
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0 if the
 * bytes there are not one (overlong, surrogate, beyond U+10FFFF, cut). */
static size_t utf8_len(const unsigned char *s, size_t len) {
  size_t n, i;
  uint32_t cp;
  if (s[0] < 0x80) return 1;
  if (s[0] >= 0xc2 && s[0] <= 0xdf) { n = 2; cp = s[0] & 0x1fu; }
  else if (s[0] >= 0xe0 && s[0] <= 0xef) { n = 3; cp = s[0] & 0x0fu; }
  else if (s[0] >= 0xf0 && s[0] <= 0xf4) { n = 4; cp = s[0] & 0x07u; }
  else return 0;
  if (len < n) return 0;
  for (i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3fu);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

size_t bq_json_escape(char *out, size_t outlen, const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t o = 0, i = 0;
  assert(outlen >= 1);
  while (i < len) {
    char tmp[8];
    const char *rep = tmp;
    size_t rlen, adv = 1;
    unsigned char ch = p[i];
    switch (ch) {
      case '"': rep = "\\\""; rlen = 2; break;
      case '\\': rep = "\\\\"; rlen = 2; break;
      case '\n': rep = "\\n"; rlen = 2; break;
      case '\r': rep = "\\r"; rlen = 2; break;
      case '\t': rep = "\\t"; rlen = 2; break;
      case '\b': rep = "\\b"; rlen = 2; break;
      case '\f': rep = "\\f"; rlen = 2; break;
      default:
        if (ch < 0x20 || ch == 0x7f) {
          snprintf(tmp, sizeof(tmp), "\\u%04x", ch);
          rlen = 6;
        } else if (ch < 0x80) {
          tmp[0] = (char)ch;
          rlen = 1;
        } else if ((adv = utf8_len(p + i, len - i)) > 0) {
          rep = s + i;
          rlen = adv;
        } else {
          rep = "\\ufffd";
          rlen = 6;
          adv = 1;
        }
    }
    if (o + rlen >= outlen) break;
    memcpy(out + o, rep, rlen);
    o += rlen;
    i += adv;
  }
  out[o] = '\0';
  return o;
}

/* Append a formatted string to line (size cap, length *n), clamping. */
static void put(char *line, size_t cap, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put(char *line, size_t cap, size_t *n, const char *fmt, ...) {
  va_list ap;
  int r;
  if (*n >= cap - 1) return;
  va_start(ap, fmt);
  r = vsnprintf(line + *n, cap - *n, fmt, ap);
  va_end(ap);
  if (r > 0) *n += (size_t)r;
  if (*n > cap - 1) *n = cap - 1;
}

/* Append s JSON-escaped (without quotes), at most max bytes of escapes. */
static void put_json(char *line, size_t cap, size_t *n, const char *s,
                     size_t max) {
  size_t room = cap - *n;
  if (room > max + 1) room = max + 1;
  if (*n >= cap - 1) return;
  *n += bq_json_escape(line + *n, room, s, strlen(s));
}

/* Bounds that keep every JSON line whole: the message is at most 1023
 * bytes, each escaping to at most 6; at most MAX_FIELDS fields of at most
 * FIELD_MAX escaped bytes each. */
#define MAX_FIELDS 16
#define FIELD_MAX 512
#define TEXT_LINE_MAX 1024

static void vlog(const struct bq_log *log, int level,
                 const struct bq_log_field *f, size_t nf, const char *fmt,
                 va_list ap) {
  char msg[1024];
  char line[6 * 1024 + MAX_FIELDS * (2 * FIELD_MAX + 32) + 256];
  char ts[64];
  struct timespec tv;
  struct tm tm;
  size_t n = 0, i, cap = sizeof(line) - 1; /* room for the \n */
  int r;

  assert(nf <= MAX_FIELDS);
  clock_gettime(CLOCK_REALTIME, &tv);
  gmtime_r(&tv.tv_sec, &tm);
  i = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + i, sizeof(ts) - i, ".%03ldZ", tv.tv_nsec / 1000000L);
  r = vsnprintf(msg, sizeof(msg), fmt, ap);
  if (r < 0) msg[0] = '\0';
  if (log->format == BQ_LOG_JSON) {
    put(line, cap, &n, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts,
        bq_log_level_name(level));
    put_json(line, cap, &n, msg, 6 * sizeof(msg));
    put(line, cap, &n, "\",\"fields\":{\"prog\":\"");
    put_json(line, cap, &n, log->prog, FIELD_MAX);
    put(line, cap, &n, "\",\"pid\":%ld", (long)getpid());
    for (i = 0; i < nf; i++) {
      put(line, cap, &n, ",\"");
      put_json(line, cap, &n, f[i].key, FIELD_MAX);
      if (f[i].str != NULL) {
        put(line, cap, &n, "\":\"");
        put_json(line, cap, &n, f[i].str, FIELD_MAX);
        put(line, cap, &n, "\"");
      } else {
        put(line, cap, &n, "\":%" PRId64, f[i].num);
      }
    }
    put(line, cap, &n, "}}");
    assert(n < cap); /* the bounds above hold */
  } else {
    cap = TEXT_LINE_MAX - 1; /* text lines, \n included, stay this short */
    put(line, cap, &n, "%s %s[%ld] %s: %s", ts, log->prog, (long)getpid(),
        bq_log_level_name(level), msg);
    for (i = 0; i < nf; i++) {
      if (f[i].str != NULL)
        put(line, cap, &n, " %s=%s", f[i].key, f[i].str);
      else
        put(line, cap, &n, " %s=%" PRId64, f[i].key, f[i].num);
    }
  }
  line[n++] = '\n';
  fwrite(line, 1, n, log->out);
  fflush(log->out);
}

void bq_logf(const struct bq_log *log, int level, const char *fmt, ...) {
  va_list ap;
  if (log == NULL || level > log->level) return;
  va_start(ap, fmt);
  vlog(log, level, NULL, 0, fmt, ap);
  va_end(ap);
}

void bq_log_fields(const struct bq_log *log, int level,
                   const struct bq_log_field *fields, size_t nfields,
                   const char *fmt, ...) {
  va_list ap;
  if (log == NULL || level > log->level) return;
  va_start(ap, fmt);
  vlog(log, level, fields, nfields, fmt, ap);
  va_end(ap);
}

uint64_t bq_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t bq_unix_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void bq_ratelimit_init(struct bq_ratelimit *rl, uint64_t interval_ms) {
  rl->interval_ms = interval_ms;
  rl->next_ms = 0;
  rl->suppressed = 0;
}

int bq_ratelimit_allow(struct bq_ratelimit *rl, uint64_t now_ms,
                       uint64_t *suppressed) {
  if (now_ms < rl->next_ms) {
    rl->suppressed++;
    return 0;
  }
  rl->next_ms = now_ms + rl->interval_ms;
  if (suppressed != NULL) *suppressed = rl->suppressed;
  rl->suppressed = 0;
  return 1;
}
