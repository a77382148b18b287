#define _GNU_SOURCE
/*
 * flush_floor.c -- the disk's share of the ack latency at --sync full: how
 * long a paced stream of small appends waits for fdatasync on this disk,
 * with nothing else running.
 *
 *   flush_floor DIR RATE SECONDS BYTES
 *
 * A writer thread writes BYTES at RATE times a second, on a fixed grid,
 * into a file in DIR (made and removed here), one write after the other
 * through a 64 MiB region that was written and flushed first: in place,
 * as SQLite reuses a WAL that has rewound, so a flush carries data and no
 * change of the file's size.  A flusher thread, as burstqd's syncer does,
 * fdatasync()s whatever has been written whenever it is idle: one flush
 * covers every write made before it began.  A write's latency runs from
 * its grid time to the end of the first flush that covers it, so a write
 * that waits behind a slow flush counts that wait, as a commit's ack
 * would.  Prints one JSON object on stdout: rate, bytes, writes, flushes,
 * p50, p99, p999 and max (ms).  Exit status 0; 2 for bad arguments; 1 when
 * the file cannot be made, written or flushed (with the reason on stderr).
 *
 * make bench prints it beside the --sync full rows of the latency table
 * (tests/bench/pipeline.sh), at the rate of the daemon's commits in that
 * run: no daemon can ack faster than the disk flushes.  Design: the two
 * threads share a mutex and a condition variable; each write's grid time
 * is fixed before the run, and its latency is filled in by the flusher.
 * Not a test: nothing here is registered with ctest.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REGION ((long long)64 << 20)

static int fd = -1;
static long n_writes;      /* writes in the run */
static double rate, t0;    /* grid: write i is due at t0 + i / rate */
static size_t bytes;
static double *lat_ms;     /* per write, filled in by the flusher */
static long flushes;       /* flusher only */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long written;       /* writes done (under mu) */
static int failed;         /* an I/O error (under mu) */

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_until(double when) {
  double d = when - now();
  if (d > 0) {
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    nanosleep(&ts, NULL);
  }
}

static void fail(const char *what) {
  fprintf(stderr, "flush_floor: %s: %s\n", what, strerror(errno));
  pthread_mutex_lock(&mu);
  failed = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static void *writer(void *arg) {
  char *buf = malloc(bytes);
  (void)arg;
  if (buf == NULL) {
    fail("out of memory");
    return NULL;
  }
  memset(buf, 'x', bytes);
  for (long i = 0; i < n_writes; i++) {
    long long off = ((long long)i * (long long)bytes) % (REGION - (long long)bytes);
    sleep_until(t0 + (double)i / rate);
    if (pwrite(fd, buf, bytes, off) != (ssize_t)bytes) {
      fail("write");
      break;
    }
    pthread_mutex_lock(&mu);
    written = i + 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
  }
  free(buf);
  return NULL;
}

static void *flusher(void *arg) {
  long done = 0;
  (void)arg;
  while (done < n_writes) {
    long upto;
    int bad;
    double end;
    pthread_mutex_lock(&mu);
    while (written == done && !failed) pthread_cond_wait(&cv, &mu);
    upto = written;
    bad = failed;
    pthread_mutex_unlock(&mu);
    if (bad) break;
    if (fdatasync(fd) != 0) {
      fail("fdatasync");
      break;
    }
    end = now();
    flushes++;
    for (; done < upto; done++)
      lat_ms[done] = (end - (t0 + (double)done / rate)) * 1e3;
  }
  return NULL;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double p) {
  long i = (long)(p * (double)n_writes);
  return lat_ms[i < n_writes ? i : n_writes - 1];
}

int main(int argc, char **argv) {
  char path[4096], *end_rate, *end_secs, *end_bytes;
  double secs;
  pthread_t w, f;
  static char zero[1 << 20];

  if (argc != 5) {
    fprintf(stderr, "usage: flush_floor DIR RATE SECONDS BYTES\n");
    return 2;
  }
  rate = strtod(argv[2], &end_rate);
  secs = strtod(argv[3], &end_secs);
  bytes = (size_t)strtoul(argv[4], &end_bytes, 10);
  if (*end_rate != '\0' || *end_secs != '\0' || *end_bytes != '\0' ||
      argv[4][0] == '-' || !(rate > 0) || !(secs > 0) || bytes == 0 ||
      bytes > (size_t)REGION / 2 || rate * secs > 1e8) {
    fprintf(stderr, "flush_floor: RATE and SECONDS must be positive "
                    "numbers, BYTES a whole number from 1 to 32 MiB, "
                    "RATE x SECONDS at most 1e8\n");
    return 2;
  }
  n_writes = (long)(rate * secs);
  if (n_writes < 1) n_writes = 1;
  lat_ms = calloc((size_t)n_writes, sizeof(*lat_ms));
  snprintf(path, sizeof(path), "%s/flush_floor.XXXXXX", argv[1]);
  fd = mkstemp(path);
  if (lat_ms == NULL || fd < 0) {
    fprintf(stderr, "flush_floor: cannot make %s: %s\n", path,
            strerror(errno));
    return 1;
  }
  for (long long o = 0; o < REGION; o += (long long)sizeof(zero))
    if (write(fd, zero, sizeof(zero)) != (ssize_t)sizeof(zero)) {
      fprintf(stderr, "flush_floor: cannot fill %s: %s\n", path,
              strerror(errno));
      unlink(path);
      return 1;
    }
  if (fsync(fd) != 0) {
    fprintf(stderr, "flush_floor: cannot flush %s: %s\n", path,
            strerror(errno));
    unlink(path);
    return 1;
  }
  t0 = now() + 0.01;
  pthread_create(&f, NULL, flusher, NULL);
  pthread_create(&w, NULL, writer, NULL);
  pthread_join(w, NULL);
  pthread_join(f, NULL);
  unlink(path);
  close(fd);
  if (failed) return 1;
  qsort(lat_ms, (size_t)n_writes, sizeof(*lat_ms), cmp);
  printf("{\"rate\": %.0f, \"bytes\": %zu, \"writes\": %ld, \"flushes\": %ld, "
         "\"p50\": %.3f, \"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f}\n",
         rate, bytes, n_writes, flushes, pct(0.5), pct(0.99), pct(0.999),
         lat_ms[n_writes - 1]);
  free(lat_ms);
  return 0;
}
