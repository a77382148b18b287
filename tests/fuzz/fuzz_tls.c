/*
 * fuzz_tls.c -- libFuzzer target: arbitrary bytes from a "client" into a
 * server-side bq_tls (common/tls.h), read all the while.
 *
 * Input: byte 0 picks how the stream is cut (0: one feed; 1: a byte at a
 * time; else chunks of pseudo-random sizes seeded by bytes 0-1), byte 1
 * the read buffer size (1 + b1 * 61), and when byte 0 is odd the server
 * writes a line before its handshake is done (held plaintext); the rest is
 * the stream.  After every feed the server reads until it needs more input
 * or ends, and its output is taken, as a daemon would send it; at the end
 * it shuts down and is freed.  Checked (any breach aborts): reads return
 * 1..cap bytes, 0, BQ_TLS_EOF, BQ_TLS_EHANDSHAKE, BQ_TLS_EPROTO or
 * -ENOMEM, an error sticks (every later read returns it) and comes with a
 * one-line reason; a stream whose first byte cannot start a TLS record is
 * BQ_TLS_EPROTO; take_out yields exactly what pending_out reported;
 * bq_tls_looks_like_hello() only accepts a handshake record header.
 * Leaks and memory errors are ASan's.
 *
 * The server's certificate and key are test data made once with openssl
 * (a self-signed P-256 certificate, CN=burstq fuzz, valid until 2126),
 * written to a private temp directory on the first call to build the
 * context, then removed; the context lives as long as the process.
 *
 * Single-threaded.  Also built, with the normal compiler, into the replay
 * driver (replay.c) that runs the corpus as ctest tests.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgnq77/UZbeB6G6o/s\n"
    "OyYlskZeAS/aI3ifBX4APv3rEqOhRANCAASHX6GeeoX28ev+MOB+alo0YWOkmBG5\n"
    "TpP9zCxDpuJPh4UvvPR1rGQFZsuFHGaHPCY0sSBUHaZu8VZNLS1mEE55\n"
    "-----END PRIVATE KEY-----\n";

static const char cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBgjCCASmgAwIBAgIUM+C4A8PUVmcZ7zA841KXwNPRoVQwCgYIKoZIzj0EAwIw\n"
    "FjEUMBIGA1UEAwwLYnVyc3RxIGZ1enowIBcNMjYxMjAzMTEzNDE5WhgPMjEyNjEx\n"
    "MDkxMTM0MTlaMBYxFDASBgNVBAMMC2J1cnN0cSBmdXp6MFkwEwYHKoZIzj0CAQYI\n"
    "KoZIzj0DAQcDQgAEh1+hnnqF9vHr/jDgfmpaNGFjpJgRuU6T/cwsQ6biT4eFL7z0\n"
    "daxkBWbLhRxmhzwmNLEgVB2mbvFWTS0tZhBOeaNTMFEwHQYDVR0OBBYEFPu2WLf7\n"
    "VQGPmp91UGknsnyT4hoyMB8GA1UdIwQYMBaAFPu2WLf7VQGPmp91UGknsnyT4hoy\n"
    "MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgAYBpJnEDZHE2BB5O\n"
    "48b9m25ZRJymq52ae2Yx7Fv0TLYCICtvItriv3D45AZeKbtylZ2yxA9TUV9ZhOE5\n"
    "+qDvifnC\n"
    "-----END CERTIFICATE-----\n";

static void put(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) abort();
  if (chmod(path, 0600) != 0) abort();
}

static struct bq_tls_ctx *server_ctx(void) {
  static struct bq_tls_ctx *ctx;
  char dir[512], cert[600], key[600], err[512];
  const char *tmp = getenv("TMPDIR");
  struct bq_tls_ctx_opts o = {1, cert, key, NULL, NULL};
  if (ctx != NULL) return ctx;
  snprintf(dir, sizeof(dir), "%s/burstq-fuzz-tls-XXXXXX",
           tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(dir) == NULL) abort();
  snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
  snprintf(key, sizeof(key), "%s/key.pem", dir);
  put(cert, cert_pem);
  put(key, key_pem);
  if (bq_tls_ctx_new(&ctx, &o, err, sizeof(err)) != 0) {
    fprintf(stderr, "fuzz_tls: %s\n", err);
    abort();
  }
  unlink(cert);
  unlink(key);
  rmdir(dir);
  return ctx;
}

static uint32_t next_rand(uint32_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  return *x;
}

/* Take all of t's output, checking the count pending_out announced. */
static void take_all(struct bq_tls *t) {
  char buf[4096];
  size_t want = bq_tls_pending_out(t), got = 0, n;
  while ((n = bq_tls_take_out(t, buf, sizeof(buf))) > 0) got += n;
  if (got != want || bq_tls_pending_out(t) != 0) abort();
}

static int valid_result(int r, size_t cap) {
  return (r > 0 && (size_t)r <= cap) || r == 0 || r == BQ_TLS_EOF ||
         r == BQ_TLS_EHANDSHAKE || r == BQ_TLS_EPROTO || r == -ENOMEM;
}

/* Read until t needs more input or ends; returns the last result. */
static int read_all(struct bq_tls *t, char *buf, size_t cap, int sticky) {
  for (;;) {
    int r = bq_tls_read(t, buf, cap);
    if (!valid_result(r, cap)) abort();
    if (sticky < 0 && r != sticky) abort(); /* an end stays an end */
    if (r < 0 && r != BQ_TLS_EOF) {
      const char *e = bq_tls_error(t);
      if (e[0] == '\0' || strchr(e, '\n') != NULL) abort();
    }
    if (r <= 0) return r;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct bq_tls *t;
  const char *s;
  char *buf;
  size_t n, cap, off = 0;
  uint32_t rnd;
  int mode, last = 0;

  if (bq_tls_looks_like_hello((const char *)data, size) &&
      (size < 3 || data[0] != 0x16 || data[1] != 0x03))
    abort();
  if (size < 2) return 0;
  mode = data[0] % 4;
  cap = 1 + (size_t)data[1] * 61;
  rnd = ((uint32_t)data[0] << 8 | data[1]) * 2654435761u + 1;
  s = (const char *)data + 2;
  n = size - 2;

  if (bq_tls_new(&t, server_ctx()) != 0) abort();
  buf = malloc(cap);
  if (buf == NULL) abort();
  if (data[0] & 1 && bq_tls_write(t, "OK 0\n", 5) != 5) abort();
  while (off < n) {
    size_t chunk;
    if (mode == 0) chunk = n;
    else if (mode == 1) chunk = 1;
    else chunk = 1 + next_rand(&rnd) % 600;
    if (chunk > n - off) chunk = n - off;
    if (bq_tls_feed(t, s + off, chunk) != 0) abort();
    off += chunk;
    last = read_all(t, buf, cap, last);
    take_all(t);
  }
  if (n > 0 && s[0] != 0x16 && s[0] != 0x15 && last != BQ_TLS_EPROTO) abort();
  bq_tls_shutdown(t);
  take_all(t);
  bq_tls_free(t);
  free(buf);
  return 0;
}
