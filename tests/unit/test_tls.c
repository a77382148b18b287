/*
 * test_tls.c -- unit tests of the TLS engine (common/tls.h): a client and
 * a server bq_tls talking in memory, with certificates from
 * tests/tls/mkcerts.sh made in a private temp directory.  Handshakes, data
 * both ways split at odd sizes, close_notify, every way a handshake is
 * refused (untrusted CA, expired, wrong name, mutual TLS), plaintext where
 * TLS belongs, key file permissions, and a context dropped while its
 * connections live on.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "tls.h"
#include "tmpdir.h"

static char dir[256];

/* DIR/name, in one of a few rotating static buffers. */
static const char *path(const char *name) {
  static char bufs[8][512];
  static int i;
  char *p = bufs[i++ % 8];
  snprintf(p, sizeof(bufs[0]), "%s/%s", dir, name);
  return p;
}

static int setup(void **state) {
  char cmd[1024];
  (void)state;
  if (tmpdir_make(dir, sizeof(dir), "tls") != 0) return -1;
  snprintf(cmd, sizeof(cmd), "%s %s", BQ_MKCERTS, dir);
  return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return tmpdir_remove(dir);
}

static struct bq_tls_ctx *server_ctx(const char *cert, const char *key,
                                     const char *ca) {
  struct bq_tls_ctx_opts o = {1, path(cert), path(key), ca ? path(ca) : NULL,
                              NULL};
  struct bq_tls_ctx *c;
  char err[512];
  int r = bq_tls_ctx_new(&c, &o, err, sizeof(err));
  if (r != 0) fail_msg("server ctx: %d %s", r, err);
  return c;
}

static struct bq_tls_ctx *client_ctx(const char *ca, const char *name,
                                     const char *cert, const char *key) {
  struct bq_tls_ctx_opts o = {0, cert ? path(cert) : NULL,
                              key ? path(key) : NULL, path(ca), name};
  struct bq_tls_ctx *c;
  char err[512];
  int r = bq_tls_ctx_new(&c, &o, err, sizeof(err));
  if (r != 0) fail_msg("client ctx: %d %s", r, err);
  return c;
}

/* One end of a connection in memory: its plaintext received so far and
 * the first error (or BQ_TLS_EOF) its reads returned. */
struct side {
  struct bq_tls *t;
  char *got;
  size_t len, cap;
  int rc;
};

static void side_new(struct side *s, struct bq_tls_ctx *c) {
  memset(s, 0, sizeof(*s));
  assert_int_equal(bq_tls_new(&s->t, c), 0);
}

static void side_free(struct side *s) {
  bq_tls_free(s->t);
  free(s->got);
}

/* Ciphertext moves in chunks of these sizes, in turn. */
static const size_t chunks[] = {1, 2, 3, 5, 17, 100, 1000, 4093, 16385, 7};
static size_t chunk_i;

/* Move x's output to y; 1 if anything moved. */
static int move(struct side *x, struct side *y) {
  char buf[16385];
  int moved = 0;
  while (bq_tls_pending_out(x->t) > 0) {
    size_t want = chunks[chunk_i++ % (sizeof(chunks) / sizeof(chunks[0]))];
    size_t n = bq_tls_take_out(x->t, buf, want);
    assert_true(n > 0 && n <= want);
    assert_int_equal(bq_tls_feed(y->t, buf, n), 0);
    moved = 1;
  }
  return moved;
}

/* Read x until it needs more input or ends; 1 if plaintext came. */
static int drain(struct side *x) {
  int any = 0;
  if (x->rc != 0) return 0;
  for (;;) {
    char buf[3001]; /* odd, so records split across reads */
    int r = bq_tls_read(x->t, buf, sizeof(buf));
    if (r <= 0) {
      x->rc = r;
      return any;
    }
    assert_true((size_t)r <= sizeof(buf));
    if (x->len + (size_t)r > x->cap) {
      x->cap = x->cap ? 2 * x->cap : 65536;
      while (x->cap < x->len + (size_t)r) x->cap *= 2;
      x->got = realloc(x->got, x->cap);
      assert_non_null(x->got);
    }
    memcpy(x->got + x->len, buf, (size_t)r);
    x->len += (size_t)r;
    any = 1;
  }
}

/* Run both ends until nothing moves any more. */
static void pump(struct side *c, struct side *s) {
  for (int i = 0; i < 100000; i++) {
    int progress = move(c, s) | move(s, c);
    progress |= drain(s) | drain(c);
    progress |= bq_tls_pending_out(c->t) > 0 || bq_tls_pending_out(s->t) > 0;
    if (!progress) return;
  }
  fail_msg("pump: no end");
}

/* A connection from client context cc to server context sc, handshake
 * run as far as it goes. */
static void connect_pair(struct side *c, struct side *s, struct bq_tls_ctx *cc,
                         struct bq_tls_ctx *sc) {
  side_new(c, cc);
  side_new(s, sc);
  assert_int_equal(bq_tls_connect(c->t), 0);
  assert_true(bq_tls_pending_out(c->t) > 0);
  pump(c, s);
}

static char *pattern(size_t n, unsigned seed) {
  char *p = malloc(n);
  assert_non_null(p);
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    p[i] = (char)(seed >> 16);
  }
  return p;
}

/* Write p[0..n) to x in pieces of odd sizes. */
static void write_all(struct side *x, const char *p, size_t n) {
  size_t off = 0, k = 1;
  while (off < n) {
    size_t m = k < n - off ? k : n - off;
    assert_int_equal(bq_tls_write(x->t, p + off, m), (int)m);
    off += m;
    k = k * 3 + 1;
    if (k > 70000) k = 1;
  }
}

static void expect_up(struct side *c, struct side *s) {
  if (c->rc != 0 || s->rc != 0)
    fail_msg("handshake: client %d '%s', server %d '%s'", c->rc,
             bq_tls_error(c->t), s->rc, bq_tls_error(s->t));
  assert_true(bq_tls_handshake_done(c->t));
  assert_true(bq_tls_handshake_done(s->t));
  assert_string_equal(bq_tls_error(c->t), "");
  assert_string_equal(bq_tls_error(s->t), "");
}

/* Large data both ways, then close_notify both ways. */
static void exchange(struct side *c, struct side *s) {
  size_t nc = 1000003, ns = 300007;
  char *pc = pattern(nc, 1), *ps = pattern(ns, 2);
  size_t c0 = c->len, s0 = s->len;
  write_all(c, pc, nc);
  write_all(s, ps, ns);
  pump(c, s);
  assert_int_equal(s->len - s0, nc);
  assert_memory_equal(s->got + s0, pc, nc);
  assert_int_equal(c->len - c0, ns);
  assert_memory_equal(c->got + c0, ps, ns);
  free(pc);
  free(ps);
}

static void test_handshake_data_eof(void **state) {
  const char *names[] = {"127.0.0.1", "localhost", NULL};
  (void)state;
  for (int i = 0; i < 3; i++) {
    struct bq_tls_ctx *sc = server_ctx("server.pem", "server.key", NULL);
    struct bq_tls_ctx *cc = client_ctx("ca.pem", names[i], NULL, NULL);
    struct side c, s;
    char subj[256];
    connect_pair(&c, &s, cc, sc);
    expect_up(&c, &s);
    bq_tls_peer_subject(c.t, subj, sizeof(subj));
    assert_string_equal(subj, "CN=localhost");
    bq_tls_peer_subject(s.t, subj, sizeof(subj)); /* no client CA: none */
    assert_string_equal(subj, "");
    bq_tls_peer_subject(c.t, subj, 5); /* truncated */
    assert_string_equal(subj, "CN=l");
    exchange(&c, &s);
    /* The client closes; the server still answers, then closes. */
    bq_tls_shutdown(c.t);
    assert_int_equal(bq_tls_write(c.t, "x", 1), -EPIPE);
    pump(&c, &s);
    assert_int_equal(s.rc, BQ_TLS_EOF);
    assert_int_equal(bq_tls_read(s.t, (char[8]){0}, 8), BQ_TLS_EOF);
    assert_int_equal(bq_tls_write(s.t, "OK 1\n", 5), 5);
    bq_tls_shutdown(s.t);
    bq_tls_shutdown(s.t); /* a second call does nothing */
    c.rc = 0;
    pump(&c, &s);
    assert_int_equal(c.rc, BQ_TLS_EOF);
    assert_int_equal(c.len, 300007 + 5);
    assert_memory_equal(c.got + 300007, "OK 1\n", 5);
    side_free(&c);
    side_free(&s);
    bq_tls_ctx_free(cc);
    bq_tls_ctx_free(sc);
  }
}

/* burstq send's pattern: connect, write, shut down, all before the first
 * byte comes back; the lines go after the handshake, then close_notify. */
static void test_write_before_handshake(void **state) {
  struct bq_tls_ctx *sc = server_ctx("server.pem", "server.key", NULL);
  struct bq_tls_ctx *cc = client_ctx("ca.pem", "localhost", NULL, NULL);
  struct side c, s;
  (void)state;
  side_new(&c, cc);
  side_new(&s, sc);
  assert_int_equal(bq_tls_connect(c.t), 0);
  assert_int_equal(bq_tls_write(c.t, "one\n", 4), 4);
  assert_int_equal(bq_tls_write(c.t, "two\n", 4), 4);
  assert_int_equal(bq_tls_write(c.t, "", 0), 0);
  bq_tls_shutdown(c.t);
  assert_int_equal(bq_tls_write(c.t, "three\n", 6), -EPIPE);
  assert_false(bq_tls_handshake_done(c.t));
  pump(&c, &s);
  assert_true(bq_tls_handshake_done(c.t));
  assert_true(bq_tls_handshake_done(s.t));
  assert_int_equal(c.rc, 0);
  assert_int_equal(s.rc, BQ_TLS_EOF);
  assert_int_equal(s.len, 8);
  assert_memory_equal(s.got, "one\ntwo\n", 8);
  /* The server may write before its handshake is done, too. */
  side_free(&c);
  side_free(&s);
  side_new(&c, cc);
  side_new(&s, sc);
  assert_int_equal(bq_tls_write(s.t, "hello\n", 6), 6);
  assert_int_equal(bq_tls_connect(c.t), 0);
  pump(&c, &s);
  expect_up(&c, &s);
  assert_int_equal(c.len, 6);
  assert_memory_equal(c.got, "hello\n", 6);
  side_free(&c);
  side_free(&s);
  bq_tls_ctx_free(cc);
  bq_tls_ctx_free(sc);
}

/* The handshake fails on the client with a reason containing want; the
 * server fails as well (it got an alert, or the connection just stopped). */
static void expect_client_refuses(const char *cert, const char *key,
                                  const char *name, const char *want) {
  struct bq_tls_ctx *sc = server_ctx(cert, key, NULL);
  struct bq_tls_ctx *cc = client_ctx("ca.pem", name, NULL, NULL);
  struct side c, s;
  char subj[64];
  connect_pair(&c, &s, cc, sc);
  assert_int_equal(c.rc, BQ_TLS_EHANDSHAKE);
  if (strstr(bq_tls_error(c.t), want) == NULL)
    fail_msg("client error '%s' lacks '%s'", bq_tls_error(c.t), want);
  print_message("client: %s\nserver: %s\n", bq_tls_error(c.t),
                bq_tls_error(s.t));
  assert_false(bq_tls_handshake_done(c.t));
  assert_int_equal(s.rc, BQ_TLS_EHANDSHAKE);
  assert_true(strlen(bq_tls_error(s.t)) > 0);
  assert_false(bq_tls_handshake_done(s.t));
  /* Every later call says the same. */
  assert_int_equal(bq_tls_read(c.t, subj, sizeof(subj)), BQ_TLS_EHANDSHAKE);
  assert_int_equal(bq_tls_write(c.t, "x", 1), BQ_TLS_EHANDSHAKE);
  bq_tls_peer_subject(c.t, subj, sizeof(subj));
  assert_string_equal(subj, "");
  bq_tls_shutdown(c.t);
  side_free(&c);
  side_free(&s);
  bq_tls_ctx_free(cc);
  bq_tls_ctx_free(sc);
}

static void test_wrong_ca(void **state) {
  (void)state;
  expect_client_refuses("other.pem", "other.key", "localhost",
                        "unable to get local issuer certificate");
}

static void test_expired(void **state) {
  (void)state;
  expect_client_refuses("expired.pem", "expired.key", "localhost",
                        "certificate has expired");
}

static void test_name_mismatch(void **state) {
  (void)state;
  expect_client_refuses("server.pem", "server.key", "example.com",
                        "hostname mismatch");
  expect_client_refuses("server.pem", "server.key", "127.0.0.2",
                        "IP address mismatch");
}

/* Without a name, the chain alone is checked. */
static void test_no_name(void **state) {
  struct bq_tls_ctx *sc = server_ctx("server.pem", "server.key", NULL);
  struct bq_tls_ctx *cc = client_ctx("ca.pem", NULL, NULL, NULL);
  struct side c, s;
  (void)state;
  connect_pair(&c, &s, cc, sc);
  expect_up(&c, &s);
  side_free(&c);
  side_free(&s);
  bq_tls_ctx_free(cc);
  bq_tls_ctx_free(sc);
}

static void test_mutual(void **state) {
  struct bq_tls_ctx *sc = server_ctx("server.pem", "server.key", "ca.pem");
  struct bq_tls_ctx *good = client_ctx("ca.pem", "localhost", "client.pem",
                                       "client.key");
  struct bq_tls_ctx *none = client_ctx("ca.pem", "localhost", NULL, NULL);
  struct bq_tls_ctx *wrong = client_ctx("ca.pem", "localhost", "other.pem",
                                        "other.key");
  struct side c, s;
  char subj[256];
  (void)state;

  connect_pair(&c, &s, good, sc);
  expect_up(&c, &s);
  bq_tls_peer_subject(s.t, subj, sizeof(subj));
  assert_string_equal(subj, "CN=burstq-client");
  bq_tls_peer_subject(c.t, subj, sizeof(subj));
  assert_string_equal(subj, "CN=localhost");
  exchange(&c, &s);
  side_free(&c);
  side_free(&s);

  /* No certificate: refused.  The client (TLS 1.3) learns it from the
   * server's alert, before any data came: a handshake failure too. */
  connect_pair(&c, &s, none, sc);
  assert_int_equal(s.rc, BQ_TLS_EHANDSHAKE);
  if (strstr(bq_tls_error(s.t), "did not return a certificate") == NULL)
    fail_msg("server error '%s'", bq_tls_error(s.t));
  assert_int_equal(c.rc, BQ_TLS_EHANDSHAKE);
  if (strstr(bq_tls_error(c.t), "certificate required") == NULL)
    fail_msg("client error '%s'", bq_tls_error(c.t));
  bq_tls_peer_subject(s.t, subj, sizeof(subj));
  assert_string_equal(subj, "");
  side_free(&c);
  side_free(&s);

  /* A certificate from another CA: refused. */
  connect_pair(&c, &s, wrong, sc);
  assert_int_equal(s.rc, BQ_TLS_EHANDSHAKE);
  if (strstr(bq_tls_error(s.t), "unable to get local issuer certificate") ==
      NULL)
    fail_msg("server error '%s'", bq_tls_error(s.t));
  assert_int_equal(c.rc, BQ_TLS_EHANDSHAKE);
  side_free(&c);
  side_free(&s);

  bq_tls_ctx_free(good);
  bq_tls_ctx_free(none);
  bq_tls_ctx_free(wrong);
  bq_tls_ctx_free(sc);
}

static void test_plaintext(void **state) {
  struct bq_tls_ctx *sc = server_ctx("server.pem", "server.key", NULL);
  struct bq_tls_ctx *cc = client_ctx("ca.pem", "localhost", NULL, NULL);
  const char *inputs[] = {"hello world\n", "G", "AUTH x\n", "\x16\x04",
                          "\x16\x03\x09"};
  struct side c, s;
  char buf[64];
  (void)state;
  for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
    side_new(&s, sc);
    assert_int_equal(bq_tls_feed(s.t, inputs[i], strlen(inputs[i])), 0);
    assert_int_equal(bq_tls_read(s.t, buf, sizeof(buf)), BQ_TLS_EPROTO);
    assert_non_null(strstr(bq_tls_error(s.t), "not TLS"));
    assert_int_equal(bq_tls_read(s.t, buf, sizeof(buf)), BQ_TLS_EPROTO);
    side_free(&s);
  }
  /* A plaintext server's reply to a ClientHello. */
  side_new(&c, cc);
  assert_int_equal(bq_tls_connect(c.t), 0);
  assert_int_equal(bq_tls_feed(c.t, "ERR unknown\n", 12), 0);
  assert_int_equal(bq_tls_read(c.t, buf, sizeof(buf)), BQ_TLS_EPROTO);
  assert_non_null(strstr(bq_tls_error(c.t), "not TLS"));
  side_free(&c);
  /* A TLS record header, then garbage: a handshake failure. */
  side_new(&s, sc);
  assert_int_equal(bq_tls_feed(s.t, "\x16\x03\x01\x00\x05zzzzz", 10), 0);
  assert_int_equal(bq_tls_read(s.t, buf, sizeof(buf)), BQ_TLS_EHANDSHAKE);
  assert_true(strlen(bq_tls_error(s.t)) > 0);
  side_free(&s);
  /* A damaged record after the handshake: a protocol error. */
  connect_pair(&c, &s, cc, sc);
  expect_up(&c, &s);
  assert_int_equal(bq_tls_write(c.t, "data\n", 5), 5);
  {
    char rec[256];
    size_t n = bq_tls_take_out(c.t, rec, sizeof(rec));
    assert_true(n > 10 && n < sizeof(rec));
    rec[n - 1] ^= 1;
    assert_int_equal(bq_tls_feed(s.t, rec, n), 0);
  }
  assert_int_equal(bq_tls_read(s.t, buf, sizeof(buf)), BQ_TLS_EPROTO);
  assert_true(strlen(bq_tls_error(s.t)) > 0);
  side_free(&c);
  side_free(&s);
  bq_tls_ctx_free(cc);
  bq_tls_ctx_free(sc);
}

static void test_looks_like_hello(void **state) {
  struct bq_tls_ctx *cc = client_ctx("ca.pem", "localhost", NULL, NULL);
  struct bq_tls *t;
  char hello[4096];
  size_t n;
  (void)state;
  assert_int_equal(bq_tls_new(&t, cc), 0);
  assert_int_equal(bq_tls_connect(t), 0);
  n = bq_tls_take_out(t, hello, sizeof(hello));
  assert_true(n > 6 && n < sizeof(hello));
  assert_true(bq_tls_looks_like_hello(hello, n));
  assert_true(bq_tls_looks_like_hello(hello, 3));
  assert_true(bq_tls_looks_like_hello(hello, 6));
  assert_false(bq_tls_looks_like_hello(hello, 2));
  assert_false(bq_tls_looks_like_hello("", 0));
  assert_false(bq_tls_looks_like_hello("GET / HTTP/1.1\r\n", 16));
  assert_false(bq_tls_looks_like_hello("hello\n", 6));
  assert_false(bq_tls_looks_like_hello("\x16\x02\x01", 3));
  assert_false(bq_tls_looks_like_hello("\x16\x03\x05", 3));
  assert_false(bq_tls_looks_like_hello("\x16\x03\x01\x00\x05\x02", 6));
  assert_true(bq_tls_looks_like_hello("\x16\x03\x01\x00\x05\x01", 6));
  bq_tls_free(t);
  bq_tls_ctx_free(cc);
}

static int ctx_err(const char *cert, const char *key, const char *ca,
                   int server, char *err, size_t errlen) {
  struct bq_tls_ctx_opts o = {server, cert, key, ca, NULL};
  struct bq_tls_ctx *c = (struct bq_tls_ctx *)&o; /* must become NULL */
  int r = bq_tls_ctx_new(&c, &o, err, errlen);
  if (r == 0) {
    bq_tls_ctx_free(c);
  } else {
    assert_null(c);
    assert_true(strlen(err) > 0);
    assert_null(strchr(err, '\n'));
    assert_null(strstr(err, "PRIVATE KEY"));
  }
  return r;
}

static void test_ctx_errors(void **state) {
  char err[512], key[512], garbage[512];
  FILE *f;
  size_t n;
  char pem[4096];
  (void)state;

  /* The key, readable by group or others: refused. */
  f = fopen(path("server.key"), "rb");
  assert_non_null(f);
  n = fread(pem, 1, sizeof(pem), f);
  fclose(f);
  snprintf(key, sizeof(key), "%s", tmpdir_put(dir, "k640", pem, n, 0640));
  assert_int_equal(ctx_err(path("server.pem"), key, NULL, 1, err, sizeof(err)),
                   -EPERM);
  assert_non_null(strstr(err, "chmod 600"));
  assert_non_null(strstr(err, key));
  snprintf(key, sizeof(key), "%s", tmpdir_put(dir, "k604", pem, n, 0604));
  assert_int_equal(ctx_err(path("server.pem"), key, NULL, 1, err, sizeof(err)),
                   -EPERM);
  /* ... also for a client's key. */
  assert_int_equal(ctx_err(path("server.pem"), key, NULL, 0, err, sizeof(err)),
                   -EPERM);
  snprintf(key, sizeof(key), "%s", tmpdir_put(dir, "k600", pem, n, 0600));
  assert_int_equal(ctx_err(path("server.pem"), key, NULL, 1, err, sizeof(err)),
                   0);

  /* Missing files. */
  assert_int_equal(ctx_err(path("nope.pem"), key, NULL, 1, err, sizeof(err)),
                   -ENOENT);
  assert_non_null(strstr(err, "nope.pem"));
  assert_int_equal(
      ctx_err(path("server.pem"), path("nope.key"), NULL, 1, err, sizeof(err)),
      -ENOENT);
  assert_int_equal(ctx_err(path("server.pem"), key, path("nope-ca.pem"), 1, err,
                           sizeof(err)),
                   -ENOENT);

  /* Not PEM; a key that is not the certificate's. */
  snprintf(garbage, sizeof(garbage), "%s",
           tmpdir_put(dir, "garbage", "not pem\n", 8, 0600));
  assert_int_equal(ctx_err(garbage, key, NULL, 1, err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "garbage"));
  assert_int_equal(
      ctx_err(path("server.pem"), garbage, NULL, 1, err, sizeof(err)), -EINVAL);
  assert_int_equal(
      ctx_err(path("server.pem"), key, garbage, 1, err, sizeof(err)), -EINVAL);
  assert_int_equal(ctx_err(path("server.pem"), path("client.key"), NULL, 1, err,
                           sizeof(err)),
                   -EINVAL);
  if (strstr(err, "mismatch") == NULL) fail_msg("'%s'", err);

  /* A server needs both; a client both or neither. */
  assert_int_equal(ctx_err(NULL, NULL, NULL, 1, err, sizeof(err)), -EINVAL);
  assert_int_equal(ctx_err(path("client.pem"), NULL, NULL, 0, err, sizeof(err)),
                   -EINVAL);
  assert_int_equal(ctx_err(NULL, NULL, path("ca.pem"), 0, err, sizeof(err)), 0);
  /* A tiny error buffer still gets a terminated message. */
  assert_int_equal(ctx_err(path("nope.pem"), key, NULL, 1, err, 8), -ENOENT);
  assert_int_equal(strlen(err), 7);
}

/* SIGHUP: a new server context; the old one's last user is its
 * connection, which works on until freed. */
static void test_reload(void **state) {
  struct bq_tls_ctx *old = server_ctx("server.pem", "server.key", NULL);
  struct bq_tls_ctx *cc = client_ctx("ca.pem", "localhost", NULL, NULL);
  struct bq_tls_ctx *cur;
  struct side c1, s1, c2, s2;
  (void)state;
  connect_pair(&c1, &s1, cc, old);
  expect_up(&c1, &s1);
  cur = server_ctx("server.pem", "server.key", NULL);
  bq_tls_ctx_free(old); /* the daemon drops its reference */
  connect_pair(&c2, &s2, cc, cur);
  expect_up(&c2, &s2);
  exchange(&c1, &s1);
  exchange(&c2, &s2);
  side_free(&s1); /* the old context goes with this */
  exchange(&c2, &s2);
  side_free(&c1);
  side_free(&c2);
  side_free(&s2);
  bq_tls_ctx_free(cur);
  bq_tls_ctx_free(cc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake_data_eof),
      cmocka_unit_test(test_write_before_handshake),
      cmocka_unit_test(test_wrong_ca),
      cmocka_unit_test(test_expired),
      cmocka_unit_test(test_name_mismatch),
      cmocka_unit_test(test_no_name),
      cmocka_unit_test(test_mutual),
      cmocka_unit_test(test_plaintext),
      cmocka_unit_test(test_looks_like_hello),
      cmocka_unit_test(test_ctx_errors),
      cmocka_unit_test(test_reload),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
