/*
 * log.c -- see log.h.  Touched by every thread; holds no mutable state of
 * its own beyond what the caller passes in.
 */

#include "log.h"

#include <assert.h>
#include <errno.h>
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

void bq_logf(const struct bq_log *log, int level, const char *fmt, ...) {
  char line[1024];
  struct timespec ts;
  struct tm tm;
  size_t n;
  int r;
  va_list ap;

  if (log == NULL || level > log->level) return;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
  r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s[%ld] %s: ",
               ts.tv_nsec / 1000000L, log->prog, (long)getpid(),
               bq_log_level_name(level));
  if (r > 0) n += (size_t)r;
  if (n >= sizeof(line)) n = sizeof(line) - 1;
  va_start(ap, fmt);
  r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
  va_end(ap);
  if (r > 0) n += (size_t)r;
  if (n > sizeof(line) - 2) n = sizeof(line) - 2; /* truncated: keep the \n */
  line[n++] = '\n';
  fwrite(line, 1, n, log->out);
  fflush(log->out);
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
