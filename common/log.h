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
 * A struct bq_ratelimit belongs to exactly one thread (or is guarded by the
 * caller's lock); it lets one line through per interval and counts the rest.
 */
#ifndef BQ_LOG_H
#define BQ_LOG_H

#include <stdint.h>
#include <stdio.h>

enum bq_log_level {
  BQ_LOG_ERROR = 0,
  BQ_LOG_WARN = 1,
  BQ_LOG_INFO = 2,
  BQ_LOG_DEBUG = 3
};

struct bq_log {
  FILE *out;        /* where lines go (stderr in the daemon) */
  const char *prog; /* program name printed on each line */
  int level;        /* lines above this level are dropped */
};

/* Initialise *log.  prog must outlive the logger. */
void bq_log_init(struct bq_log *log, const char *prog, int level, FILE *out);

/* Parse "error", "warn", "info" or "debug" into *level.  Returns 0, or
 * -EINVAL for anything else (and leaves *level untouched). */
int bq_log_level_parse(const char *s, int *level);

/* Name of a level ("error", ...). */
const char *bq_log_level_name(int level);

/* Write one line "TIMESTAMP prog[pid] level: message\n" if level is enabled.
 * fmt must not end in a newline. */
void bq_logf(const struct bq_log *log, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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
