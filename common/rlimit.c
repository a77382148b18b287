/*
 * rlimit.c -- see rlimit.h.  Main thread, start-up only.
 */
#include "rlimit.h"

#include <errno.h>
#include <stdio.h>

int bq_nofile_raise(rlim_t want, rlim_t *was, rlim_t *now) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -errno;
  *was = rl.rlim_cur;
  if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < want) {
    rl.rlim_cur = rl.rlim_max;
    /* A refusal leaves the old limit, which the re-read reports. */
    (void)setrlimit(RLIMIT_NOFILE, &rl);
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = *was;
  }
  *now = rl.rlim_cur;
  return 0;
}

int bq_nofile_fits(unsigned long long n, rlim_t lim) {
  return lim == RLIM_INFINITY || n + BQ_NOFILE_RESERVE <= lim;
}

int bq_max_map_count(unsigned long long *n) {
  FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
  unsigned long long v;
  int ok;
  if (f == NULL) return -errno;
  ok = fscanf(f, "%llu", &v) == 1;
  fclose(f);
  if (!ok) return -EINVAL;
  *n = v;
  return 0;
}
