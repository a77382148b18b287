/*
 * http.h -- a small, bounded HTTP/1.1 server on a libuv loop, for burstqd's
 * /metrics, /healthz and /readyz.
 *
 * Design: the socket code lives here; parsing is libhttp-parser's (Node's
 * former parser, packaged by Debian as libhttp-parser-dev): a callback state
 * machine that never allocates and is fed whatever bytes arrive, which fits
 * a libuv loop directly.  libmicrohttpd does not fit: it wants its own
 * threads or its own select/poll loop beside ours, so scrapes would read the
 * loop's counters from another thread (locks on the hot path) or need a
 * second event loop to integrate.  This file only frames requests
 * and writes responses; what a path means is the handler's business.
 *
 * Threads: everything here runs on the loop thread that called
 * bq_http_start().  Handles are embedded in their structs; a connection is
 * freed when both its handles (socket and timer) have closed.
 *
 * Bounds, all fixed: at most BQ_HTTP_MAX_CONNS connections (more get a 503
 * and are closed); a request (line, headers and any body) of at most
 * BQ_HTTP_MAX_REQUEST bytes (431 for headers, 413 for a body, then close);
 * a connection gets BQ_HTTP_TIMEOUT_MS to deliver each request and read its
 * response, after which it is closed (408 if a request was under way).
 * Keep-alive is honoured (HTTP/1.1 by default, HTTP/1.0 only with
 * "Connection: keep-alive"); pipelined requests are answered in order, one
 * response in flight at a time.  Bad syntax gets 400 and a close; methods
 * other than GET and HEAD get 405 with "Allow: GET, HEAD".
 *
 * TLS (--metrics HOST:PORT,tls): with a struct bq_http_tls every
 * connection speaks HTTPS through tls.h's engine over memory, driven on
 * this loop as conn.c drives the ,tls listeners: each read's ciphertext is
 * fed to the engine, the plaintext it yields goes to the parser as a
 * plain read's would (never while a write is in flight: input then waits
 * in the engine, and reading stops), and a response is encrypted whole
 * and written as one ciphertext write; the end is close_notify, then FIN.
 * The context is asked for at each accept, so a SIGHUP reload applies to
 * new connections while open ones keep theirs.  Bounds: at most
 * max_handshakes in progress (more are closed at once), each within the
 * connection's BQ_HTTP_TIMEOUT_MS.  A failed handshake, one timed out or
 * refused over the limit, and plaintext sent to the port (answered with a
 * plaintext 400 naming https, then closed) are counted in struct
 * bq_http_stats and logged, rate-limited.
 */
#ifndef BQ_HTTP_H
#define BQ_HTTP_H

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "buf.h"
#include "log.h"

#define BQ_HTTP_MAX_CONNS 64
#define BQ_HTTP_MAX_REQUEST 8192
#define BQ_HTTP_TIMEOUT_MS 10000
#define BQ_HTTP_TIMEOUT_TEXT "10 s" /* BQ_HTTP_TIMEOUT_MS, for people */

/* What the handler fills in.  body starts empty; for HEAD it is built all
 * the same (for Content-Length) and not sent. */
struct bq_http_response {
  int status;                /* 200 by default */
  const char *content_type;  /* "text/plain; charset=utf-8" by default */
  struct bq_buf body;
};

/* Called for each well-formed GET or HEAD request; path excludes the
 * query string.  Runs on the loop thread; must not block. */
typedef void (*bq_http_handler)(void *arg, const char *path,
                                struct bq_http_response *res);

struct bq_http_stats {
  uint64_t requests;   /* responses written, any status */
  uint64_t bad;        /* 400, 405, 408, 413, 431 */
  uint64_t refused;    /* connections over BQ_HTTP_MAX_CONNS */
  /* With TLS only: */
  uint64_t tls_handshakes;   /* completed */
  uint64_t tls_failed;       /* failed (OpenSSL's reason is logged) */
  uint64_t tls_timeouts;     /* not done within BQ_HTTP_TIMEOUT_MS */
  uint64_t tls_limited;      /* closed: max_handshakes in progress */
  uint64_t tls_plaintext;    /* plaintext sent to the port */
};

struct bq_tls_ctx;

/* TLS for bq_http_start (NULL: plain HTTP). */
struct bq_http_tls {
  /* The server context for a new connection (it takes its own
   * reference); asked at each accept.  NULL closes the connection. */
  struct bq_tls_ctx *(*ctx)(void *arg);
  void *arg;
  size_t max_handshakes;  /* in progress at once (>= 1) */
};

struct bq_http_conn;

struct bq_http {
  uv_loop_t *loop;
  uv_tcp_t listener;
  const struct bq_log *log;
  bq_http_handler handler;
  void *arg;
  struct bq_http_conn *conns;  /* open connections */
  size_t nconns;
  int listening;               /* listener initialised and not closed */
  int tls_on;                  /* connections speak TLS (tls) */
  struct bq_http_tls tls;
  size_t handshaking;          /* TLS handshakes in progress */
  struct bq_ratelimit tls_rl;  /* TLS failures' log lines */
  int closing;                 /* bq_http_close() called */
  struct bq_http_stats st;
  http_parser_settings settings;
  char addr[BQ_ADDR_STRLEN];   /* the bound address */
  char cbuf[16384];            /* ciphertext of one read (TLS) */
};

/* Bind and listen on addr; with tls (copied; NULL for plain HTTP) every
 * connection speaks HTTPS.  Returns 0, or a negative libuv error with a
 * message in err; bq_http_close() must be called either way before the
 * loop ends. */
int bq_http_start(struct bq_http *h, uv_loop_t *loop,
                  const struct sockaddr *addr, const struct bq_log *log,
                  const struct bq_http_tls *tls, bq_http_handler handler,
                  void *arg, char *err, size_t errlen);

/* Stop listening and close every connection now.  Idempotent. */
void bq_http_close(struct bq_http *h);

/* Reason phrase of a status code ("Not Found"). */
const char *bq_http_reason(int status);

#endif /* BQ_HTTP_H */
