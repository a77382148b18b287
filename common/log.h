/*
 * log.h -- leveled logging to a stream, and a rate limiter for noisy events.
 *
 * Design: a struct bq_log is a small value owned by whoever starts the
 * program (main) and passed by pointer to every module that logs; there is no
 * global logger.  bq_logf() may be called from any thread at the same time:
 * each line is formatted into a local buffer and written with one fwrite(),
 * which stdio locks, so lines never interleave.  The level is read-only after
 * bq_log_init().
 *
 * Two formats (--log-format): text, "TIMESTAMP prog[pid] level: message
 * key=value...", for people; and json, one object per line,
 * {"ts":...,"level":...,"msg":...,"fields":{"prog":...,"pid":...,...}},
 * for collectors.  Both carry the same information; messages never contain
 * payloads at info level or above (only counts, ids and addresses).
 *
 * A struct bq_ratelimit belongs to exactly one thread (or is guarded by the
 * caller's lock); it lets one line through per interval and counts the rest.
 */
#ifndef BQ_LOG_H
#define BQ_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum bq_log_level {
  BQ_LOG_ERROR = 0,
  BQ_LOG_WARN = 1,
  BQ_LOG_INFO = 2,
  BQ_LOG_DEBUG = 3
};

enum bq_log_format { BQ_LOG_TEXT = 0, BQ_LOG_JSON = 1 };

struct bq_log {
  FILE *out;        /* where lines go (stderr in the daemon) */
  const char *prog; /* program name printed on each line */
  int level;        /* lines above this level are dropped */
  int format;       /* enum bq_log_format; text after bq_log_init() */
};

/* A structured field for bq_log_fields(): str is printed as a JSON string,
 * or, when str is NULL, num as a JSON number. */
struct bq_log_field {
  const char *key;
  const char *str;
  int64_t num;
};

/* Initialise *log.  prog must outlive the logger. */
void bq_log_init(struct bq_log *log, const char *prog, int level, FILE *out);

/* Parse "error", "warn", "info" or "debug" into *level.  Returns 0, or
 * -EINVAL for anything else (and leaves *level untouched). */
int bq_log_level_parse(const char *s, int *level);

/* Parse "text" or "json" into *format.  Returns 0 or -EINVAL. */
int bq_log_format_parse(const char *s, int *format);

/* Choose the output format (before any other thread logs). */
void bq_log_set_format(struct bq_log *log, int format);

/* Name of a level ("error", ...). */
const char *bq_log_level_name(int level);

/* Write one line "TIMESTAMP prog[pid] level: message\n" if level is enabled.
 * fmt must not end in a newline. */
void bq_logf(const struct bq_log *log, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like bq_logf, with structured fields after the message: " key=value" in
 * text, members of "fields" in json. */
void bq_log_fields(const struct bq_log *log, int level,
                   const struct bq_log_field *fields, size_t nfields,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Write s (len bytes, any bytes) into out (size outlen, >= 1) as the body
 * of a JSON string: quote, backslash and control characters escaped,
 * valid UTF-8 kept, each invalid byte replaced by U+FFFD.  Stops before a
 * character that would not fit; always NUL-terminates.  Returns the length
 * written. */
size_t bq_json_escape(char *out, size_t outlen, const char *s, size_t len);

#define bq_log_error(log, ...) bq_logf((log), BQ_LOG_ERROR, __VA_ARGS__)
#define bq_log_warn(log, ...) bq_logf((log), BQ_LOG_WARN, __VA_ARGS__)
#define bq_log_info(log, ...) bq_logf((log), BQ_LOG_INFO, __VA_ARGS__)
#define bq_log_debug(log, ...) bq_logf((log), BQ_LOG_DEBUG, __VA_ARGS__)

/* Monotonic clock in milliseconds (CLOCK_MONOTONIC). */
uint64_t bq_now_ms(void);

/* Wall clock in Unix microseconds (CLOCK_REALTIME). */
int64_t bq_unix_us(void);

struct bq_ratelimit {
  uint64_t interval_ms; /* at most one line per interval */
  uint64_t next_ms;     /* earliest time of the next allowed line */
  uint64_t suppressed;  /* events refused since the last allowed one */
};

/* Initialise a limiter that allows one event per interval_ms. */
void bq_ratelimit_init(struct bq_ratelimit *rl, uint64_t interval_ms);

/* Returns 1 when the caller may log the event at now_ms, storing in
 * *suppressed how many events were refused since the last allowed one (and
 * resetting that count); returns 0 and counts the event otherwise. */
int bq_ratelimit_allow(struct bq_ratelimit *rl, uint64_t now_ms,
                       uint64_t *suppressed);

#endif /* BQ_LOG_H */
