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
  int closing;                 /* bq_http_close() called */
  struct bq_http_stats st;
  http_parser_settings settings;
  char addr[BQ_ADDR_STRLEN];   /* the bound address */
};

/* Bind and listen on addr.  Returns 0, or a negative libuv error with a
 * message in err; bq_http_close() must be called either way before the
 * loop ends. */
int bq_http_start(struct bq_http *h, uv_loop_t *loop,
                  const struct sockaddr *addr, const struct bq_log *log,
                  bq_http_handler handler, void *arg, char *err,
                  size_t errlen);

/* Stop listening and close every connection now.  Idempotent. */
void bq_http_close(struct bq_http *h);

/* Reason phrase of a status code ("Not Found"). */
const char *bq_http_reason(int status);

#endif /* BQ_HTTP_H */
