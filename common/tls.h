/*
 * tls.h -- TLS over memory: an OpenSSL 3 engine with no sockets.
 *
 * Design: one bq_tls per connection wraps an SSL and two memory BIOs.
 * Ciphertext read from the network goes in with bq_tls_feed(), plaintext
 * comes out of bq_tls_read(); plaintext to send goes in with
 * bq_tls_write(), and the ciphertext to write to the network (handshake
 * records, data, alerts) comes out of bq_tls_take_out().  Nothing here
 * does I/O, blocks or starts a thread, so the same engine serves a libuv
 * loop (the daemon, burstq bench) and a poll() loop (burstq send) alike.
 * After every feed/read/write/connect/shutdown the caller sends whatever
 * bq_tls_pending_out() reports.
 *
 * A bq_tls_ctx wraps an SSL_CTX: the role (server or client), the
 * certificate and key, the CA and the verify mode.  Contexts are
 * refcounted: each bq_tls holds a reference, so the daemon can build a new
 * server context on SIGHUP and drop its own reference to the old one while
 * the connections made with it keep working.
 *
 * Threads: a bq_tls is used by one thread at a time (its connection's).
 * A context may be shared by connections on several threads (the count is
 * atomic; OpenSSL's SSL_CTX is thread-safe once built).  OpenSSL's error
 * queue is per thread; every call here leaves it empty.
 *
 * Policy: TLS 1.2 minimum, OpenSSL's default ciphers, no session
 * resumption (every connection does a full handshake).  A client verifies
 * the server's chain (against the CA file or the system trust store) and,
 * when given, its name (DNS name or IP address).  A server given a CA
 * requires a client certificate that chains to it.
 */
#ifndef BQ_TLS_H
#define BQ_TLS_H

#include <stddef.h>

/* Results of bq_tls_read() (and bq_tls_write() after a failure) besides
 * byte counts and -errno values; far from every errno. */
enum {
  BQ_TLS_EOF = -20001,        /* the peer sent close_notify */
  BQ_TLS_EHANDSHAKE = -20002, /* the handshake failed: bq_tls_error() says why */
  BQ_TLS_EPROTO = -20003      /* not TLS at all, or a bad record afterwards */
};

struct bq_tls_ctx; /* wraps SSL_CTX: role, cert+key, CA, verify mode */
struct bq_tls;     /* wraps SSL + its two memory BIOs */

struct bq_tls_ctx_opts {
  int server;             /* 1: server role */
  const char *cert, *key; /* PEM files (server: required; client: optional,
                             both or neither, for mutual TLS).  cert may
                             hold a chain: the leaf first. */
  const char *ca;         /* PEM CA file: server: --tls-client-ca (require
                             and verify client certs); client: --tls-ca
                             (NULL: the system's default trust store) */
  const char *verify_name; /* client: the server name (DNS name or IP
                              address) to verify; NULL: the chain only */
};

/* Build a context (reference count 1).  A key file that group or others
 * can access is refused (-EPERM, "chmod 600" in the reason), as the AUTH
 * token file is; a missing file is its -errno; a file OpenSSL cannot use
 * (not PEM, key not matching the certificate) is -EINVAL; a missing cert
 * or key for a server -EINVAL; out of memory -ENOMEM.  On failure *out is
 * NULL and err (errlen bytes, always terminated when errlen > 0) holds a
 * one-line reason naming the file, with OpenSSL's error text, never key
 * material. */
int bq_tls_ctx_new(struct bq_tls_ctx **out, const struct bq_tls_ctx_opts *o,
                   char *err, size_t errlen);

/* Drop one reference; the last one frees the context.  NULL is ignored. */
void bq_tls_ctx_free(struct bq_tls_ctx *c);

/* A new connection on context c (which it references until bq_tls_free):
 * a server waits for a ClientHello; a client starts with bq_tls_connect().
 * 0 or -ENOMEM (*out NULL). */
int bq_tls_new(struct bq_tls **out, struct bq_tls_ctx *c);

/* Free t and drop its context reference.  NULL is ignored.  Sends
 * nothing: call bq_tls_shutdown() and send the output first for a clean
 * close. */
void bq_tls_free(struct bq_tls *t);

/* Ciphertext received from the peer, copied into t.  0 or -ENOMEM.
 * Buffered without limit: the caller feeds what it read, then reads.
 * After an error or the peer's close_notify, the bytes are dropped. */
int bq_tls_feed(struct bq_tls *t, const char *data, size_t len);

/* Decrypt up to cap plaintext bytes into buf, driving the handshake as
 * needed.  Returns:
 *   > 0            bytes of plaintext (call again: more may be buffered);
 *   0              nothing now: more input is needed (the handshake may
 *                  have produced output: check bq_tls_pending_out());
 *   BQ_TLS_EOF     the peer sent close_notify (and every later call);
 *   BQ_TLS_EHANDSHAKE  the handshake failed (bad or untrusted certificate,
 *                  name mismatch, no client certificate, no common
 *                  protocol, an alert from the peer before any data came);
 *   BQ_TLS_EPROTO  the peer's first bytes are not a TLS record (plaintext
 *                  sent to a TLS port, or a plaintext server's reply), or
 *                  a bad record after the handshake;
 *   -ENOMEM.
 * After an error every later call returns the same error, and
 * bq_tls_error() says why in one line.  The output may then hold an alert
 * for the peer: sending it is courteous, not required. */
int bq_tls_read(struct bq_tls *t, char *buf, size_t cap);

/* Encrypt len bytes for sending.  Before the handshake is done the bytes
 * are held and encrypted as soon as it is (by bq_tls_read()); so a client
 * may connect, write and shut down at once.  Returns len, the error that
 * ended the connection (as bq_tls_read()), -EPIPE after bq_tls_shutdown(),
 * or -ENOMEM. */
int bq_tls_write(struct bq_tls *t, const char *data, size_t len);

/* Ciphertext waiting to be sent to the peer: its size, and take up to cap
 * bytes of it into buf (returns the number taken; the rest stays). */
size_t bq_tls_pending_out(const struct bq_tls *t);
size_t bq_tls_take_out(struct bq_tls *t, char *buf, size_t cap);

/* Client: start the handshake (the ClientHello goes to the output).
 * 0, or an error as bq_tls_read() returns. */
int bq_tls_connect(struct bq_tls *t);

/* Queue a close_notify after everything written so far (once the
 * handshake is done, if it is not yet).  Reading goes on: the peer's
 * remaining data, then BQ_TLS_EOF.  A second call, or one after a
 * failure, does nothing. */
void bq_tls_shutdown(struct bq_tls *t);

/* 1 once the handshake has completed (and not failed since), else 0. */
int bq_tls_handshake_done(const struct bq_tls *t);

/* The peer certificate's subject (RFC 2253, e.g. "CN=burstq-client"),
 * or "" when the peer sent none; truncated to cap - 1 bytes.  A server
 * without a client CA asks for no certificate. */
void bq_tls_peer_subject(const struct bq_tls *t, char *buf, size_t cap);

/* Why the last call failed, one line; "" when nothing failed. */
const char *bq_tls_error(const struct bq_tls *t);

/* 1 if these first bytes of a connection look like a TLS ClientHello: a
 * handshake record (0x16), version 3.x (0x03 0x00..0x04), and, when len
 * >= 6, a client_hello message (type 1).  Needs len >= 3, else 0.  Lets a
 * plaintext listener refuse TLS with a clear log line, and a TLS listener
 * say "plaintext sent to a TLS port". */
int bq_tls_looks_like_hello(const char *data, size_t len);

#endif /* BQ_TLS_H */
