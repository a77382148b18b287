/*
 * tls.c -- see tls.h.  Owns each connection's SSL, its two memory BIOs
 * (rbio: the peer's ciphertext not yet processed; wbio: ciphertext for the
 * peer not yet taken) and the plaintext written before the handshake is
 * done; and each context's SSL_CTX.  No I/O: OpenSSL only ever sees the
 * memory BIOs, which never block (an empty rbio reads as "retry").
 *
 * Invariants (between calls): failed != 0 means the connection is over
 * and every call returns failed; hold_len > 0 only while !done (held
 * plaintext is encrypted the moment the handshake completes); head_len <= 3
 * and, once head_ok, the peer's first bytes were those of a TLS record.
 * Every function leaves this thread's OpenSSL error queue empty.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Largest key file read (a PEM key is a few KiB at most). */
#define KEY_FILE_MAX (1 << 20)

struct bq_tls_ctx {
  SSL_CTX *ssl;
  atomic_int refs;
  int server;
  char *verify_name; /* client: checked on every connection; or NULL */
};

struct bq_tls {
  struct bq_tls_ctx *ctx; /* referenced */
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by ssl */
  char *hold;       /* plaintext written before the handshake was done */
  size_t hold_len, hold_cap;
  unsigned char head[3]; /* the peer's first bytes, to tell TLS from not */
  size_t head_len;
  int head_ok;  /* head is a whole, plausible TLS record header */
  int done;     /* the handshake completed */
  int got_data; /* application data came from the peer */
  int shut;     /* bq_tls_shutdown() was called */
  int shut_sent; /* close_notify is in wbio */
  int eof;      /* the peer's close_notify came */
  int failed;   /* 0, or the error every call now returns */
  char err[256];
};

/* ---- error text ---------------------------------------------------------- */

/* OpenSSL's text for the oldest error on the queue (usually the cause; the
 * later ones say where it surfaced), then an empty queue.  "" when none. */
static void ssl_reason(char *buf, size_t len) {
  unsigned long e = ERR_get_error();
  buf[0] = '\0';
  if (e != 0) {
    const char *r = ERR_reason_error_string(e);
    if (r != NULL)
      snprintf(buf, len, "%s", r);
    else
      ERR_error_string_n(e, buf, len);
  }
  ERR_clear_error();
}

/* "what: OpenSSL's reason" into err, or just what when there is none. */
static void set_err(char *err, size_t errlen, const char *what) {
  char r[200];
  ssl_reason(r, sizeof(r));
  if (errlen == 0) return;
  if (r[0])
    snprintf(err, errlen, "%s: %s", what, r);
  else
    snprintf(err, errlen, "%s", what);
}

/* ---- contexts ------------------------------------------------------------ */

/* A PEM passphrase callback that supplies none: an encrypted key fails to
 * load instead of prompting on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf;
  (void)size;
  (void)rwflag;
  (void)u;
  return -1;
}

/* 0 when path exists and is a regular file, else -errno with a reason. */
static int check_file(const char *path, const char *what, char *err,
                      size_t errlen) {
  struct stat st;
  if (stat(path, &st) != 0) {
    int e = errno;
    snprintf(err, errlen, "cannot open %s %s: %s", what, path, strerror(e));
    return -e;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "%s %s is not a regular file", what, path);
    return -EINVAL;
  }
  return 0;
}

/* Load the private key at path into ctx: refused when group or others may
 * access it; read into memory from the descriptor that was checked. */
static int load_key(SSL_CTX *ctx, const char *path, const char *cert,
                    char *err, size_t errlen) {
  struct stat st;
  char *buf;
  size_t n = 0;
  int fd, e;
  BIO *mem;
  EVP_PKEY *pkey;

  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    e = errno;
    snprintf(err, errlen, "cannot open TLS key %s: %s", path, strerror(e));
    return -e;
  }
  if (fstat(fd, &st) != 0) {
    e = errno;
    close(fd);
    snprintf(err, errlen, "cannot stat TLS key %s: %s", path, strerror(e));
    return -e;
  }
  if (!S_ISREG(st.st_mode) || st.st_size > KEY_FILE_MAX) {
    close(fd);
    snprintf(err, errlen, "TLS key %s is not a regular file of at most %d bytes",
             path, KEY_FILE_MAX);
    return -EINVAL;
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    close(fd);
    snprintf(err, errlen,
             "TLS key %s is accessible by group or others (mode %04o); "
             "run: chmod 600 %s",
             path, (unsigned)(st.st_mode & 07777), path);
    return -EPERM;
  }
  buf = malloc((size_t)st.st_size + 1);
  if (buf == NULL) {
    close(fd);
    snprintf(err, errlen, "out of memory reading TLS key %s", path);
    return -ENOMEM;
  }
  while (n < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      e = errno;
      close(fd);
      OPENSSL_cleanse(buf, n);
      free(buf);
      snprintf(err, errlen, "cannot read TLS key %s: %s", path, strerror(e));
      return -e;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  mem = BIO_new_mem_buf(buf, (int)n);
  pkey = mem ? PEM_read_bio_PrivateKey(mem, NULL, no_passphrase, NULL) : NULL;
  BIO_free(mem);
  OPENSSL_cleanse(buf, n);
  free(buf);
  if (pkey == NULL) {
    char what[PATH_MAX + 64];
    snprintf(what, sizeof(what), "cannot load TLS key %s (an unencrypted PEM key)",
             path);
    set_err(err, errlen, what);
    return -EINVAL;
  }
  if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1) {
    char what[2 * PATH_MAX + 64];
    EVP_PKEY_free(pkey);
    /* Usually "key values mismatch". */
    snprintf(what, sizeof(what), "cannot use TLS key %s with certificate %s",
             path, cert);
    set_err(err, errlen, what);
    return -EINVAL;
  }
  EVP_PKEY_free(pkey);
  return 0;
}

/* Certificate (chain) and key into ctx, and check that they match. */
static int load_pair(SSL_CTX *ctx, const char *cert, const char *key,
                     char *err, size_t errlen) {
  char what[2 * PATH_MAX + 64];
  int r = check_file(cert, "TLS certificate", err, errlen);
  if (r != 0) return r;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
    snprintf(what, sizeof(what), "cannot load TLS certificate %s (PEM)", cert);
    set_err(err, errlen, what);
    return -EINVAL;
  }
  r = load_key(ctx, key, cert, err, errlen);
  if (r != 0) return r;
  if (SSL_CTX_check_private_key(ctx) != 1) {
    snprintf(what, sizeof(what), "TLS key %s does not match certificate %s",
             key, cert);
    set_err(err, errlen, what);
    return -EINVAL;
  }
  return 0;
}

static int ctx_setup(struct bq_tls_ctx *c, const struct bq_tls_ctx_opts *o,
                     char *err, size_t errlen) {
  SSL_CTX *s = c->ssl;
  char what[PATH_MAX + 64];
  int r;

  if (SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION) != 1) {
    set_err(err, errlen, "cannot set the minimum TLS version");
    return -EINVAL;
  }
  /* No resumption (no cache, no tickets): nothing to keep consistent over
   * a reload; and no renegotiation, which a client could use to make the
   * server work. */
  SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(s, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  if (o->server) SSL_CTX_set_num_tickets(s, 0);
  /* Idle connections give their read/write buffers back. */
  SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);

  if (o->cert != NULL) {
    r = load_pair(s, o->cert, o->key, err, errlen);
    if (r != 0) return r;
  }
  if (o->ca != NULL) {
    r = check_file(o->ca, "TLS CA file", err, errlen);
    if (r != 0) return r;
    if (SSL_CTX_load_verify_locations(s, o->ca, NULL) != 1) {
      snprintf(what, sizeof(what), "cannot load TLS CA file %s (PEM)", o->ca);
      set_err(err, errlen, what);
      return -EINVAL;
    }
  } else if (!o->server && SSL_CTX_set_default_verify_paths(s) != 1) {
    set_err(err, errlen, "cannot load the system's trusted CAs");
    return -EINVAL;
  }
  if (o->server && o->ca != NULL) {
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->ca);
    if (names == NULL) {
      snprintf(what, sizeof(what), "no CA certificate in %s", o->ca);
      set_err(err, errlen, what);
      return -EINVAL;
    }
    SSL_CTX_set_client_CA_list(s, names); /* takes names */
    SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       NULL);
  } else if (!o->server) {
    SSL_CTX_set_verify(s, SSL_VERIFY_PEER, NULL);
  } else {
    SSL_CTX_set_verify(s, SSL_VERIFY_NONE, NULL);
  }
  return 0;
}

int bq_tls_ctx_new(struct bq_tls_ctx **out, const struct bq_tls_ctx_opts *o,
                   char *err, size_t errlen) {
  struct bq_tls_ctx *c;
  char dummy[1];
  int r;

  assert(out != NULL && o != NULL);
  *out = NULL;
  if (errlen == 0) {
    err = dummy;
    errlen = sizeof(dummy);
  }
  err[0] = '\0';
  if ((o->cert == NULL) != (o->key == NULL) ||
      (o->server && o->cert == NULL)) {
    snprintf(err, errlen, "%s",
             o->server ? "a TLS server needs a certificate and a key"
                       : "a TLS client certificate needs its key, and a key "
                         "its certificate");
    return -EINVAL;
  }
  ERR_clear_error();
  c = calloc(1, sizeof(*c));
  if (c == NULL) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  c->server = o->server ? 1 : 0;
  atomic_init(&c->refs, 1);
  if (!o->server && o->verify_name != NULL) {
    c->verify_name = strdup(o->verify_name);
    if (c->verify_name == NULL) {
      free(c);
      snprintf(err, errlen, "out of memory");
      return -ENOMEM;
    }
  }
  c->ssl = SSL_CTX_new(o->server ? TLS_server_method() : TLS_client_method());
  if (c->ssl == NULL) {
    set_err(err, errlen, "cannot create a TLS context");
    free(c->verify_name);
    free(c);
    return -ENOMEM;
  }
  r = ctx_setup(c, o, err, errlen);
  if (r != 0) {
    SSL_CTX_free(c->ssl);
    free(c->verify_name);
    free(c);
    ERR_clear_error();
    return r;
  }
  *out = c;
  return 0;
}

void bq_tls_ctx_free(struct bq_tls_ctx *c) {
  int before;
  if (c == NULL) return;
  before = atomic_fetch_sub(&c->refs, 1);
  assert(before >= 1);
  if (before != 1) return;
  SSL_CTX_free(c->ssl);
  free(c->verify_name);
  free(c);
}

/* ---- connections --------------------------------------------------------- */

int bq_tls_new(struct bq_tls **out, struct bq_tls_ctx *c) {
  struct bq_tls *t;
  assert(out != NULL && c != NULL);
  *out = NULL;
  t = calloc(1, sizeof(*t));
  if (t == NULL) return -ENOMEM;
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  t->ssl = t->rbio && t->wbio ? SSL_new(c->ssl) : NULL;
  if (t->ssl == NULL) {
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    goto nomem;
  }
  SSL_set_bio(t->ssl, t->rbio, t->wbio); /* ssl owns both now */
  if (c->server) {
    SSL_set_accept_state(t->ssl);
  } else {
    SSL_set_connect_state(t->ssl);
    if (c->verify_name != NULL) {
      unsigned char ip[16];
      int is_ip = inet_pton(AF_INET, c->verify_name, ip) == 1 ||
                  inet_pton(AF_INET6, c->verify_name, ip) == 1;
      /* SSL_set1_host takes an IP address as one (SAN IP entries). */
      if (SSL_set1_host(t->ssl, c->verify_name) != 1 ||
          /* SNI is for names only (RFC 6066). */
          (!is_ip && SSL_set_tlsext_host_name(t->ssl, c->verify_name) != 1)) {
        SSL_free(t->ssl);
        goto nomem;
      }
    }
  }
  atomic_fetch_add(&c->refs, 1);
  t->ctx = c;
  *out = t;
  return 0;

nomem:
  free(t);
  ERR_clear_error();
  return -ENOMEM;
}

void bq_tls_free(struct bq_tls *t) {
  if (t == NULL) return;
  SSL_free(t->ssl); /* frees rbio and wbio */
  if (t->hold != NULL) OPENSSL_cleanse(t->hold, t->hold_len);
  free(t->hold);
  bq_tls_ctx_free(t->ctx);
  free(t);
}

/* End the connection with code; why is the reason (OpenSSL's text is
 * appended when it has any).  Returns code. */
static int fail(struct bq_tls *t, int code, const char *why) {
  assert(code < 0);
  set_err(t->err, sizeof(t->err), why);
  t->failed = code;
  if (t->hold != NULL) OPENSSL_cleanse(t->hold, t->hold_len);
  free(t->hold);
  t->hold = NULL;
  t->hold_len = t->hold_cap = 0;
  return code;
}

int bq_tls_feed(struct bq_tls *t, const char *data, size_t len) {
  assert(t != NULL && (data != NULL || len == 0));
  if (t->failed || t->eof) return 0; /* nobody will read it */
  if (t->head_len < sizeof(t->head)) {
    /* Copied, not consumed: the bytes also go to OpenSSL below. */
    size_t k = sizeof(t->head) - t->head_len;
    if (k > len) k = len;
    memcpy(t->head + t->head_len, data, k);
    t->head_len += k;
  }
  while (len > 0) {
    int n = len > INT_MAX ? INT_MAX : (int)len;
    int w = BIO_write(t->rbio, data, n);
    if (w <= 0) {
      ERR_clear_error();
      return -ENOMEM;
    }
    data += w;
    len -= (size_t)w;
  }
  return 0;
}

/* The peer's first bytes must begin a TLS record: a handshake (0x16) or
 * an alert (0x15), version 3.0 to 3.4.  Checked before OpenSSL sees them,
 * so that "not TLS at all" is told apart from a failed handshake. */
static int check_head(struct bq_tls *t) {
  const unsigned char *h = t->head;
  if (t->head_ok || t->head_len == 0) return 0;
  if ((h[0] != 0x16 && h[0] != 0x15) || (t->head_len >= 2 && h[1] != 0x03) ||
      (t->head_len >= 3 && h[2] > 0x04)) {
    ERR_clear_error();
    return fail(t, BQ_TLS_EPROTO,
                t->ctx->server
                    ? "not TLS: the client's first bytes are not a TLS "
                      "record (plaintext sent to a TLS port?)"
                    : "not TLS: the server's first bytes are not a TLS "
                      "record (a plaintext port?)");
  }
  if (t->head_len == sizeof(t->head)) t->head_ok = 1;
  return 0;
}

/* A failed SSL call (ret its return value): 0 when it only wants more
 * input (or the peer's close_notify came: eof), else the connection fails
 * with an error as tls.h lists them. */
static int ssl_result(struct bq_tls *t, int ret) {
  int e = SSL_get_error(t->ssl, ret);
  unsigned long first;
  long v;
  int alert;
  char why[160];

  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    return 0;
  }
  if (e == SSL_ERROR_ZERO_RETURN) {
    ERR_clear_error();
    t->eof = 1;
    return BQ_TLS_EOF;
  }
  first = ERR_peek_error();
  /* Reasons SSL_AD_REASON_OFFSET + n are alert n received from the peer. */
  alert = ERR_GET_LIB(first) == ERR_LIB_SSL &&
          ERR_GET_REASON(first) >= SSL_AD_REASON_OFFSET;
  if (e == SSL_ERROR_SSL && !t->done) {
    v = SSL_get_verify_result(t->ssl);
    if (v != X509_V_OK) {
      snprintf(why, sizeof(why),
               "TLS handshake failed: certificate verify failed: %s",
               X509_verify_cert_error_string(v));
      ERR_clear_error();
      return fail(t, BQ_TLS_EHANDSHAKE, why);
    }
  }
  /* In TLS 1.3 a client's handshake is over before the server has
   * checked its certificate: a refusal comes as an alert after it. */
  if (!t->done || (alert && !t->got_data))
    return fail(t, BQ_TLS_EHANDSHAKE, "TLS handshake failed");
  return fail(t, BQ_TLS_EPROTO, "TLS error");
}

static int encrypt(struct bq_tls *t, const char *data, size_t len) {
  size_t n = 0;
  if (len == 0) return 0;
  ERR_clear_error();
  if (SSL_write_ex(t->ssl, data, len, &n) != 1) {
    int r = ssl_result(t, 0);
    /* A memory wbio never asks to retry; a closed connection does fail. */
    return r < 0 ? r : fail(t, BQ_TLS_EPROTO, "TLS write failed");
  }
  assert(n == len);
  return 0;
}

static void send_close_notify(struct bq_tls *t) {
  assert(t->done && t->hold_len == 0 && !t->shut_sent);
  t->shut_sent = 1;
  ERR_clear_error();
  (void)SSL_shutdown(t->ssl); /* 0: sent; 1: and the peer's came; <0: over */
  ERR_clear_error();
}

/* Run the handshake if it is not done.  0 (done, or more input needed),
 * or an error. */
static int drive(struct bq_tls *t) {
  int r;
  if (t->done) return 0;
  r = check_head(t);
  if (r != 0) return r;
  ERR_clear_error();
  r = SSL_do_handshake(t->ssl);
  if (r != 1) {
    r = ssl_result(t, r);
    /* close_notify during the handshake: the peer gave up. */
    if (r == BQ_TLS_EOF)
      return fail(t, BQ_TLS_EHANDSHAKE,
                  "TLS handshake failed: the peer closed the connection");
    return r;
  }
  t->done = 1;
  if (t->hold_len > 0) {
    r = encrypt(t, t->hold, t->hold_len);
    if (r != 0) return r;
    OPENSSL_cleanse(t->hold, t->hold_len);
    free(t->hold);
    t->hold = NULL;
    t->hold_len = t->hold_cap = 0;
  }
  if (t->shut && !t->shut_sent) send_close_notify(t);
  return 0;
}

int bq_tls_connect(struct bq_tls *t) {
  assert(t != NULL && !t->ctx->server);
  if (t->failed) return t->failed;
  return drive(t);
}

int bq_tls_read(struct bq_tls *t, char *buf, size_t cap) {
  size_t n = 0;
  int r;
  assert(t != NULL && (buf != NULL || cap == 0));
  if (t->failed) return t->failed;
  if (t->eof) return BQ_TLS_EOF;
  r = drive(t);
  if (r != 0 || !t->done) return r;
  if (cap == 0) return 0;
  if (cap > INT_MAX) cap = INT_MAX;
  ERR_clear_error();
  if (SSL_read_ex(t->ssl, buf, cap, &n) == 1) {
    assert(n > 0 && n <= cap);
    t->got_data = 1;
    return (int)n;
  }
  return ssl_result(t, 0);
}

int bq_tls_write(struct bq_tls *t, const char *data, size_t len) {
  int r;
  assert(t != NULL && (data != NULL || len == 0) && len <= INT_MAX);
  if (t->failed) return t->failed;
  if (t->shut) return -EPIPE;
  if (t->done) {
    r = encrypt(t, data, len);
    return r < 0 ? r : (int)len;
  }
  if (t->hold_len + len > t->hold_cap) {
    size_t cap = t->hold_cap ? t->hold_cap : 4096;
    char *nb;
    while (cap < t->hold_len + len) cap *= 2;
    nb = malloc(cap);
    if (nb == NULL) return -ENOMEM;
    if (t->hold_len) memcpy(nb, t->hold, t->hold_len);
    if (t->hold != NULL) OPENSSL_cleanse(t->hold, t->hold_len);
    free(t->hold);
    t->hold = nb;
    t->hold_cap = cap;
  }
  if (len) memcpy(t->hold + t->hold_len, data, len);
  t->hold_len += len;
  return (int)len;
}

size_t bq_tls_pending_out(const struct bq_tls *t) {
  assert(t != NULL);
  return BIO_ctrl_pending(t->wbio);
}

size_t bq_tls_take_out(struct bq_tls *t, char *buf, size_t cap) {
  int n;
  assert(t != NULL && (buf != NULL || cap == 0));
  if (cap == 0 || BIO_ctrl_pending(t->wbio) == 0) return 0;
  n = BIO_read(t->wbio, buf, cap > INT_MAX ? INT_MAX : (int)cap);
  ERR_clear_error();
  return n > 0 ? (size_t)n : 0;
}

void bq_tls_shutdown(struct bq_tls *t) {
  assert(t != NULL);
  if (t->failed || t->shut) return;
  t->shut = 1;
  if (t->done) send_close_notify(t);
}

int bq_tls_handshake_done(const struct bq_tls *t) {
  assert(t != NULL);
  return t->done && !t->failed;
}

void bq_tls_peer_subject(const struct bq_tls *t, char *buf, size_t cap) {
  X509 *peer;
  BIO *mem;
  int n;
  assert(t != NULL && buf != NULL && cap > 0);
  buf[0] = '\0';
  if (!t->done || t->failed) return;
  peer = SSL_get0_peer_certificate(t->ssl);
  if (peer == NULL) return;
  mem = BIO_new(BIO_s_mem());
  if (mem == NULL) {
    ERR_clear_error();
    return;
  }
  if (X509_NAME_print_ex(mem, X509_get_subject_name(peer), 0,
                         XN_FLAG_RFC2253) >= 0) {
    n = BIO_read(mem, buf, cap - 1 > INT_MAX ? INT_MAX : (int)(cap - 1));
    buf[n > 0 ? n : 0] = '\0';
  }
  BIO_free(mem);
  ERR_clear_error();
}

const char *bq_tls_error(const struct bq_tls *t) {
  assert(t != NULL);
  return t->err;
}

int bq_tls_looks_like_hello(const char *data, size_t len) {
  const unsigned char *p = (const unsigned char *)data;
  if (len < 3) return 0;
  if (p[0] != 0x16 || p[1] != 0x03 || p[2] > 0x04) return 0;
  return len < 6 || p[5] == 0x01;
}
