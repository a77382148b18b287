/*
 * fuzz_addr.c -- libFuzzer target: HOST:PORT parsing and printing
 * (common/addr.c) and size parsing (bq_parse_size, server/config.c).
 *
 * Input: byte 0 picks the default port (odd: none, -1) and the bounds for
 * bq_parse_size; the rest, cut at its first NUL, is the string.
 * Properties (any violation aborts):
 *  - bq_addr_parse returns 0, -EINVAL, -ERANGE or -ENOENT and never reads
 *    past the string; on success the address is IPv4 or IPv6,
 *    bq_addr_format prints it in fewer than BQ_ADDR_STRLEN bytes, and
 *    parsing that text again gives the same family, port and address (a
 *    round trip);
 *  - bq_parse_size returns 0 with min <= value <= max, or -EINVAL/-ERANGE.
 * Host names resolve through stub_resolver.c (only "localhost").
 * Single-threaded; also built into the replay driver (replay.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_addr(const struct sockaddr_storage *a,
                      const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) abort();
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    if (x->sin_port != y->sin_port ||
        x->sin_addr.s_addr != y->sin_addr.s_addr)
      abort();
  } else {
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    if (x->sin6_port != y->sin6_port ||
        memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) != 0)
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t bounds[][2] = {
      {0, SIZE_MAX}, {1, 64}, {1024, (size_t)1 << 40}, {65536, (size_t)1 << 50}};
  struct sockaddr_storage ss, again;
  char text[BQ_ADDR_STRLEN + 16];
  char *s;
  size_t v = 0, lo, hi;
  int dp, r;

  if (size < 1) return 0;
  dp = (data[0] & 1) ? -1 : (int)(data[0] >> 1) * 517;
  lo = bounds[(data[0] >> 1) & 3][0];
  hi = bounds[(data[0] >> 1) & 3][1];
  s = malloc(size); /* the rest plus a NUL: ASan sees any over-read */
  if (s == NULL) return 0;
  memcpy(s, data + 1, size - 1);
  s[size - 1] = '\0';

  r = bq_addr_parse(s, dp, &ss);
  if (r != 0 && r != -EINVAL && r != -ERANGE && r != -ENOENT) abort();
  if (r == 0) {
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) abort();
    memset(text, 'Z', sizeof(text));
    if (bq_addr_format((const struct sockaddr *)&ss, text, BQ_ADDR_STRLEN) != 0)
      abort();
    if (memchr(text, '\0', BQ_ADDR_STRLEN) == NULL) abort();
    if (bq_addr_parse(text, -1, &again) != 0) abort();
    same_addr(&ss, &again);
  }

  r = bq_parse_size(s, lo, hi, &v);
  if (r == 0 && (v < lo || v > hi)) abort();
  if (r != 0 && r != -EINVAL && r != -ERANGE) abort();
  free(s);
  return 0;
}
