/*
 * fuzz_config.c -- libFuzzer target: burstqd's command line
 * (bq_config_parse in server/config.c, and through it common/addr.c and
 * the size parser).
 *
 * Input: the arguments after "burstqd", separated by NUL bytes (at most
 * 64).  Properties (any violation aborts):
 *  - the result is BQ_CONFIG_OK, _EXIT or _ERR; with _ERR the message is a
 *    non-empty, NUL-terminated string inside its buffer;
 *  - with _OK every field is in its documented range: workers 1-64,
 *    1 <= batch_max <= queue_capacity, queue_bytes >= 1 KiB, max_message
 *    1 B - 1 GiB, sync off/normal/full, ack on/off, an IPv4 or IPv6 listen
 *    address whose text fits its buffer, a non-empty --db path, and
 *    max_db_size 0 or >= 64 KiB, retain_size 0 or >= 64 KiB, retain_age
 *    at most 100 years.
 * --help and --version print to /dev/null.  Host names resolve through
 * stub_resolver.c.  Single-threaded (getopt has global state); also built
 * into the replay driver (replay.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "log.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static FILE *devnull;
  char *argv[MAX_ARGS + 2];
  char *copy, err[512];
  struct bq_config c;
  int argc = 1, r;
  size_t i, start = 0;

  if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
    abort();
  copy = malloc(size + 1);
  if (copy == NULL) return 0;
  memcpy(copy, data, size);
  copy[size] = '\0';
  argv[0] = (char *)"burstqd";
  for (i = 0; i <= size && argc <= MAX_ARGS; i++) {
    if (i < size && copy[i] != '\0') continue;
    if (i > start || i < size) argv[argc++] = copy + start;
    start = i + 1;
  }
  argv[argc] = NULL;

  bq_config_defaults(&c);
  memset(err, 'Z', sizeof(err));
  r = bq_config_parse(&c, argc, argv, devnull, err, sizeof(err));
  if (r == BQ_CONFIG_ERR) {
    if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0') abort();
  } else if (r == BQ_CONFIG_OK) {
    if (c.workers < 1 || c.workers > 64) abort();
    if (c.batch_max < 1 || c.batch_max > c.queue_capacity) abort();
    if (c.queue_bytes < 1024 || c.max_message < 1 ||
        c.max_message > ((size_t)1 << 30))
      abort();
    if (c.sync < BQ_SYNC_OFF || c.sync > BQ_SYNC_FULL) abort();
    if (c.ack != 0 && c.ack != 1) abort();
    if (c.log_level < BQ_LOG_ERROR || c.log_level > BQ_LOG_DEBUG) abort();
    if (c.nlisten < 1 || c.nlisten > BQ_LISTEN_MAX) abort();
    for (size_t j = 0; j < c.nlisten; j++) {
      const struct bq_listen *l = &c.listen[j];
      if (l->addr.ss_family != AF_INET && l->addr.ss_family != AF_INET6)
        abort();
      if (memchr(l->text, '\0', sizeof(l->text)) == NULL) abort();
      if (l->kind != BQ_LISTEN_ACKED && l->kind != BQ_LISTEN_SYSLOG) abort();
    }
    if (c.db_path == NULL || c.db_path[0] == '\0') abort();
    if (c.max_db_size != 0 && c.max_db_size < 64 * 1024) abort();
    if (c.retain_size != 0 && c.retain_size < 64 * 1024) abort();
    if (c.retain_age > (size_t)100 * 366 * 86400) abort();
  } else if (r != BQ_CONFIG_EXIT) {
    abort();
  }
  free(copy);
  return 0;
}
