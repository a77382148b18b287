/*
 * http.c -- see http.h.  Loop thread only.
 *
 * Life of a connection: accepted -> reading; bytes go to the parser as
 * they come -> a complete request pauses the parser and stops reading ->
 * the response is written (one at a time) -> keep-alive: unpause, parse any
 * pipelined bytes already read, read again; otherwise half-close, discard
 * input until the peer closes (so a reset cannot destroy the response),
 * close.  A timer bounds every phase.
 *
 * With TLS (http.h) the same life runs over the engine: tls_pump() is the
 * one place plaintext comes out of it (into inbuf, then feed()), and
 * tls_send() the one place ciphertext goes out (from tout).  A connection
 * is counted as handshaking (h->handshaking) from accept to its
 * handshake's end.
 */
#include "http.h"
#include "refuse.h"
#include "tls.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define URL_MAX 2048
#define LINGER_MS 2000 /* after our half-close, for the peer to close */

struct bq_http_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t wreq;
  uv_shutdown_t sreq;
  struct bq_http *h;
  struct bq_http_conn *prev, *next;
  http_parser parser;
  size_t req_bytes;          /* bytes of the current request so far */
  size_t urllen;
  size_t npending;           /* pipelined bytes at the start of inbuf */
  int handles;               /* handles not yet closed: tcp, timer */
  int err_status;            /* set by a callback that aborts the parse */
  unsigned headers_done : 1; /* the current request's headers are in */
  unsigned reading : 1;
  unsigned writing : 1;
  unsigned keep_alive : 1;   /* after the response in flight */
  unsigned ending : 1;       /* half-closed: discarding until the peer closes */
  unsigned eof : 1;          /* the peer half-closed */
  unsigned closing : 1;
  /* TLS (h->tls_on; tls NULL otherwise): */
  unsigned tls_seen : 1;     /* the first bytes were looked at */
  unsigned tls_done : 1;     /* the handshake completed */
  unsigned hs_counted : 1;   /* counted in h->handshaking */
  unsigned resp_write : 1;   /* the write in flight carries a response */
  struct bq_tls *tls;
  char *tout;                /* ciphertext of the write in flight */
  char peer[BQ_ADDR_STRLEN]; /* for log lines: taken at accept (a peer
                                that has gone has no name any more) */
  struct bq_buf body;        /* the response in flight */
  char hdr[320];
  char url[URL_MAX];
  char inbuf[BQ_HTTP_MAX_REQUEST];
};

#define conn_of(ptr, member) \
  ((struct bq_http_conn *)((char *)(ptr)-offsetof(struct bq_http_conn, member)))

const char *bq_http_reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

static void on_handle_closed(uv_handle_t *hd) {
  struct bq_http_conn *c = hd->data;
  assert(c->handles > 0);
  if (--c->handles == 0) {
    bq_buf_free(&c->body);
    bq_tls_free(c->tls);
    free(c->tout);
    free(c);
  }
}

/* c's handshake is over (done, or the connection is): no longer counted
 * against max_handshakes. */
static void hs_leave(struct bq_http_conn *c) {
  if (!c->hs_counted) return;
  c->hs_counted = 0;
  assert(c->h->handshaking > 0);
  c->h->handshaking--;
}

static void close_conn(struct bq_http_conn *c) {
  struct bq_http *h = c->h;
  if (c->closing) return;
  c->closing = 1;
  hs_leave(c);
  if (c->prev) c->prev->next = c->next;
  else h->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  assert(h->nconns > 0);
  h->nconns--;
  c->tcp.data = c;
  c->timer.data = c;
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void stop_reading(struct bq_http_conn *c) {
  if (c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

static void on_timeout(uv_timer_t *t);
static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static int feed(struct bq_http_conn *c, size_t len);
static void on_write(uv_write_t *req, int status);
static void tls_pump(struct bq_http_conn *c);

static void arm_timer(struct bq_http_conn *c, uint64_t ms) {
  uv_timer_start(&c->timer, on_timeout, ms, 0);
}

static void start_reading(struct bq_http_conn *c) {
  if (c->reading || c->closing) return;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
    close_conn(c);
    return;
  }
  c->reading = 1;
}

/* TLS: write the ciphertext the engine holds, if any, from c->tout.
 * Returns 1 when a write started, 0 when there was nothing to write, -1
 * when c was closed instead. */
static int tls_send(struct bq_http_conn *c) {
  size_t n = bq_tls_pending_out(c->tls);
  uv_buf_t b;
  if (n == 0) return 0;
  assert(!c->writing && c->tout == NULL);
  c->tout = malloc(n);
  if (c->tout == NULL) {
    close_conn(c);
    return -1;
  }
  n = bq_tls_take_out(c->tls, c->tout, n);
  b = uv_buf_init(c->tout, (unsigned)n);
  if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
    close_conn(c);
    return -1;
  }
  c->writing = 1;
  return 1;
}

/* ---- after the response ------------------------------------------------ */

static void on_read_discard(uv_stream_t *s, ssize_t nread,
                            const uv_buf_t *buf) {
  struct bq_http_conn *c = conn_of(s, tcp);
  (void)buf;
  if (nread < 0) close_conn(c);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  struct bq_http_conn *c = conn_of(req, sreq);
  if (c->closing) return;
  if (status < 0 || c->eof) {
    close_conn(c);
    return;
  }
  c->npending = 0;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read_discard) != 0)
    close_conn(c);
  else
    c->reading = 1;
}

/* No more responses: half-close, and close when the peer does. */
static void end_conn(struct bq_http_conn *c) {
  if (c->ending || c->closing) return;
  c->ending = 1;
  stop_reading(c);
  arm_timer(c, LINGER_MS);
  if (c->tls != NULL) { /* close_notify first; the FIN follows it */
    bq_tls_shutdown(c->tls);
    if (tls_send(c) < 0) return;
  }
  if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
    close_conn(c);
}

/* Ready for the next request: parse what is pipelined, else read. */
static void next_request(struct bq_http_conn *c) {
  size_t n = c->npending;
  c->req_bytes = 0;
  c->urllen = 0;
  c->headers_done = 0;
  c->err_status = 0;
  arm_timer(c, BQ_HTTP_TIMEOUT_MS);
  http_parser_pause(&c->parser, 0);
  c->npending = 0;
  if (n > 0 && feed(c, n) != 0) return;
  if (c->tls != NULL) { /* the engine may hold the next request */
    tls_pump(c);
    return;
  }
  if (c->eof) {
    close_conn(c); /* nothing more will come, and nothing is owed */
    return;
  }
  start_reading(c);
}

static void on_write(uv_write_t *req, int status) {
  struct bq_http_conn *c = conn_of(req, wreq);
  c->writing = 0;
  free(c->tout);
  c->tout = NULL;
  if (c->closing) return;
  bq_buf_free(&c->body);
  if (status < 0) {
    close_conn(c);
    return;
  }
  if (c->tls != NULL && !c->resp_write) {
    /* Handshake records, or the close_notify of end_conn. */
    if (!c->ending) tls_pump(c);
    return;
  }
  c->resp_write = 0;
  if (!c->keep_alive || c->h->closing) {
    end_conn(c);
    return;
  }
  next_request(c);
}

/* Write a response (headers, and the body unless head).  keep_alive 0
 * ends the connection after it. */
static void send_response(struct bq_http_conn *c, int status,
                          const char *ctype, struct bq_buf *body, int head,
                          int keep_alive) {
  uv_buf_t bufs[2];
  unsigned nb = 1;
  int n;
  char date[64];
  time_t now = time(NULL);
  struct tm tm;

  assert(!c->writing);
  stop_reading(c);
  arm_timer(c, BQ_HTTP_TIMEOUT_MS); /* the response gets a full period */
  c->h->st.requests++;
  if (status >= 400 && status != 404 && status != 503) c->h->st.bad++;
  c->keep_alive = keep_alive ? 1 : 0;
  c->body = *body;
  bq_buf_init(body);
  /* RFC 9110: a server with a clock sends Date (IMF-fixdate, C locale). */
  gmtime_r(&now, &tm);
  strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  n = snprintf(c->hdr, sizeof(c->hdr),
               "HTTP/1.1 %d %s\r\n"
               "Date: %s\r\n"
               "Content-Type: %s\r\n"
               "Content-Length: %zu\r\n"
               "Cache-Control: no-store\r\n"
               "%s"
               "Connection: %s\r\n\r\n",
               status, bq_http_reason(status), date, ctype, c->body.len,
               status == 405 ? "Allow: GET, HEAD\r\n" : "",
               keep_alive ? "keep-alive" : "close");
  assert(n > 0 && (size_t)n < sizeof(c->hdr));
  bufs[0] = uv_buf_init(c->hdr, (unsigned)n);
  if (!head && c->body.len > 0) {
    bufs[1] = uv_buf_init(c->body.data, (unsigned)c->body.len);
    nb = 2;
  }
  if (c->tls != NULL) { /* the whole response, encrypted, in one write */
    for (unsigned i = 0; i < nb; i++)
      if (bq_tls_write(c->tls, bufs[i].base, bufs[i].len) < 0) {
        close_conn(c);
        return;
      }
    bq_buf_free(&c->body);
    c->resp_write = 1;
    if (tls_send(c) == 0) close_conn(c); /* cannot be: it wrote */
    return;
  }
  if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, nb, on_write) != 0) {
    close_conn(c);
    return;
  }
  c->writing = 1;
}

/* An error response with a one-line text body. */
static void send_error(struct bq_http_conn *c, int status, int keep_alive) {
  struct bq_buf b;
  bq_buf_init(&b);
  bq_buf_printf(&b, "%s\n", bq_http_reason(status));
  if (b.failed) {
    bq_buf_free(&b);
    close_conn(c);
    return;
  }
  bq_log_debug(c->h->log, "metrics http: %d %s", status,
               bq_http_reason(status));
  send_response(c, status, "text/plain; charset=utf-8", &b,
                c->parser.method == HTTP_HEAD, keep_alive);
}

/* A complete request: route it and answer. */
static void respond(struct bq_http_conn *c) {
  struct http_parser_url u;
  struct bq_http_response res;
  char path[URL_MAX + 1];
  int method = (int)c->parser.method;
  int keep = http_should_keep_alive(&c->parser) && !c->parser.upgrade &&
             !c->eof && !c->h->closing;

  if (method != HTTP_GET && method != HTTP_HEAD) {
    send_error(c, 405, keep);
    return;
  }
  http_parser_url_init(&u);
  if (c->urllen == 0 ||
      http_parser_parse_url(c->url, c->urllen, 0, &u) != 0 ||
      !(u.field_set & (1 << UF_PATH))) {
    send_error(c, 400, 0);
    return;
  }
  memcpy(path, c->url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
  path[u.field_data[UF_PATH].len] = '\0';
  res.status = 200;
  res.content_type = "text/plain; charset=utf-8";
  bq_buf_init(&res.body);
  c->h->handler(c->h->arg, path, &res);
  if (res.body.failed) {
    bq_buf_free(&res.body);
    send_error(c, 500, 0);
    return;
  }
  send_response(c, res.status, res.content_type, &res.body,
                method == HTTP_HEAD, keep);
}

/* Parse len bytes at the start of inbuf.  Returns 1 when a response is
 * now in flight or the connection is going (stop feeding), 0 when more
 * bytes are needed. */
static int feed(struct bq_http_conn *c, size_t len) {
  size_t parsed = http_parser_execute(&c->parser, &c->h->settings, c->inbuf,
                                      len);
  enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);

  c->req_bytes += parsed;
  if (e == HPE_OK && parsed != len && !c->parser.upgrade) e = HPE_UNKNOWN;
  if (e != HPE_OK && e != HPE_PAUSED) {
    send_error(c, c->err_status ? c->err_status : 400, 0);
    return 1;
  }
  /* The callbacks bound everything up to the last header value or body
   * byte; this covers the final CRLFs and stray blank lines. */
  if (c->req_bytes > BQ_HTTP_MAX_REQUEST + 4) {
    send_error(c, c->headers_done ? 413 : 431, 0);
    return 1;
  }
  if (e == HPE_PAUSED) {
    /* A complete request; keep what follows it for later. */
    c->npending = len - parsed;
    memmove(c->inbuf, c->inbuf + parsed, c->npending);
    respond(c);
    return 1;
  }
  if (c->parser.upgrade) { /* never completes: refuse */
    send_error(c, 400, 0);
    return 1;
  }
  return 0;
}

/* ---- parser callbacks ---------------------------------------------------- */

static struct bq_http_conn *pconn(http_parser *p) {
  return conn_of(p, parser);
}

static int bounded(http_parser *p, const char *at, size_t len);

static int cb_url(http_parser *p, const char *at, size_t len) {
  struct bq_http_conn *c = pconn(p);
  if (bounded(p, at, len) != 0) return 1;
  if (c->urllen + len > URL_MAX) {
    c->err_status = 414;
    return 1;
  }
  memcpy(c->url + c->urllen, at, len);
  c->urllen += len;
  return 0;
}

/* Bound the request: at is inside the buffer being parsed (always
 * c->inbuf), so at + len - inbuf is how far this execute has come, and
 * req_bytes what earlier ones parsed of the same request. */
static int bounded(http_parser *p, const char *at, size_t len) {
  struct bq_http_conn *c = pconn(p);
  size_t upto = c->req_bytes + (size_t)(at + len - c->inbuf);
  if (upto > BQ_HTTP_MAX_REQUEST) {
    c->err_status = c->headers_done ? 413 : 431;
    return 1;
  }
  return 0;
}

static int cb_header_field(http_parser *p, const char *at, size_t len) {
  return bounded(p, at, len);
}

static int cb_body(http_parser *p, const char *at, size_t len) {
  return bounded(p, at, len);
}

static int cb_headers_complete(http_parser *p) {
  pconn(p)->headers_done = 1;
  return 0;
}

static int cb_message_complete(http_parser *p) {
  http_parser_pause(p, 1);
  return 0;
}

/* ---- socket ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf) {
  struct bq_http_conn *c = conn_of(hd, tcp);
  (void)suggested;
  if (c->tls != NULL) { /* ciphertext: fed to the engine at once */
    buf->base = c->h->cbuf;
    buf->len = sizeof(c->h->cbuf);
    return;
  }
  assert(c->npending == 0 || c->ending);
  buf->base = c->inbuf;
  buf->len = sizeof(c->inbuf);
}

/* ---- TLS ----------------------------------------------------------------- */

/* A TLS connection ends before its handshake did: counted (in *counter)
 * and logged with the peer and why, rate-limited; reply (a plaintext
 * line) or whatever the engine holds (an alert) sent as best it can be,
 * then closed. */
static void tls_refuse(struct bq_http_conn *c, uint64_t *counter,
                       const char *why, const char *reply) {
  struct bq_http *h = c->h;
  uint64_t supp;
  size_t n = 0;
  (*counter)++;
  if (bq_ratelimit_allow(&h->tls_rl, bq_now_ms(), &supp))
    bq_log_warn(h->log,
                "metrics https: %s: %s (%" PRIu64 " TLS failures in all)",
                c->peer, why,
                h->st.tls_failed + h->st.tls_timeouts + h->st.tls_limited +
                    h->st.tls_plaintext);
  stop_reading(c);
  if (reply != NULL)
    bq_refuse_line(&c->tcp, reply, strlen(reply));
  else if (!c->writing) {
    n = bq_tls_take_out(c->tls, h->cbuf, sizeof(h->cbuf));
    bq_refuse_line(&c->tcp, n > 0 ? h->cbuf : NULL, n);
  }
  close_conn(c);
}

/* Plaintext sent to the TLS port: a plaintext 400 that says so. */
static void plaintext_refused(struct bq_http_conn *c) {
  static const char reply[] =
      "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
      "Content-Length: 52\r\nConnection: close\r\n\r\n"
      "plain HTTP sent to a TLS port: use https:// instead\n";
  tls_refuse(c, &c->h->st.tls_plaintext,
             "refused plaintext HTTP sent to the TLS port (the client must "
             "use https://)",
             reply);
}

static void handshake_done(struct bq_http_conn *c) {
  c->tls_done = 1;
  hs_leave(c);
  c->h->st.tls_handshakes++;
}

/* Take plaintext out of the engine into the parser until a response is
 * in flight, more input is needed (then send the engine's output and
 * read), or the connection ends.  Not while a write is in flight: on_write
 * pumps again. */
static void tls_pump(struct bq_http_conn *c) {
  for (;;) {
    char why[300];
    int n;
    if (c->closing || c->ending) return;
    if (c->writing) {
      stop_reading(c);
      return;
    }
    assert(c->npending == 0); /* inbuf is free */
    n = bq_tls_read(c->tls, c->inbuf, sizeof(c->inbuf));
    if (!c->tls_done && bq_tls_handshake_done(c->tls)) handshake_done(c);
    if (n > 0) {
      if (feed(c, (size_t)n) != 0) return;
      continue;
    }
    if (n == 0) {
      if (tls_send(c) != 0) return; /* handshake records; on_write pumps */
      if (c->eof) {
        close_conn(c);
        return;
      }
      start_reading(c);
      return;
    }
    if (n == BQ_TLS_EOF) { /* close_notify: the client is done */
      close_conn(c);
      return;
    }
    if (n == BQ_TLS_EPROTO && !c->tls_done) {
      plaintext_refused(c);
      return;
    }
    if (!c->tls_done) {
      snprintf(why, sizeof(why), "%s", bq_tls_error(c->tls));
      tls_refuse(c, &c->h->st.tls_failed, why, NULL);
      return;
    }
    close_conn(c); /* a bad record after the handshake, or no memory */
    return;
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct bq_http_conn *c = conn_of(s, tcp);
  if (nread == 0) return;
  if (nread < 0) {
    stop_reading(c);
    c->eof = 1;
    if (c->tls != NULL && c->tls_seen && !c->tls_done) {
      tls_refuse(c, &c->h->st.tls_failed,
                 "TLS handshake failed: the client closed the connection",
                 NULL);
      return;
    }
    /* A request cut short gets nothing; an idle connection just closes. */
    close_conn(c);
    return;
  }
  if (c->tls == NULL) {
    feed(c, (size_t)nread);
    return;
  }
  if (!c->tls_seen) {
    c->tls_seen = 1;
    if (nread >= 3 && !bq_tls_looks_like_hello(buf->base, (size_t)nread)) {
      plaintext_refused(c);
      return;
    }
  }
  if (bq_tls_feed(c->tls, buf->base, (size_t)nread) < 0) {
    close_conn(c);
    return;
  }
  tls_pump(c);
}

static void on_timeout(uv_timer_t *t) {
  struct bq_http_conn *c = conn_of(t, timer);
  if (c->tls != NULL && !c->tls_done && !c->closing) {
    tls_refuse(c, &c->h->st.tls_timeouts,
               "TLS handshake not done within " BQ_HTTP_TIMEOUT_TEXT
               "; closing it",
               NULL);
    return;
  }
  if (!c->writing && !c->ending && c->req_bytes > 0) {
    send_error(c, 408, 0);
    /* The 408 gets one more period, then the connection goes. */
    arm_timer(c, LINGER_MS);
    return;
  }
  close_conn(c);
}

static void on_refused_closed(uv_handle_t *hd) { free(hd); }

static void on_connection(uv_stream_t *l, int status) {
  struct bq_http *h = (struct bq_http *)((char *)l - offsetof(struct bq_http,
                                                             listener));
  struct bq_http_conn *c;

  if (status < 0 || h->closing) return;
  if (h->tls_on && h->handshaking >= h->tls.max_handshakes) {
    /* Handshakes cost CPU: closed at once, without a word. */
    uint64_t supp;
    uv_tcp_t *t = malloc(sizeof(*t));
    if (t == NULL) return;
    uv_tcp_init(h->loop, t);
    if (uv_accept(l, (uv_stream_t *)t) == 0) bq_refuse_line(t, NULL, 0);
    h->st.tls_limited++;
    if (bq_ratelimit_allow(&h->tls_rl, bq_now_ms(), &supp))
      bq_log_warn(h->log,
                  "metrics https: refused a connection: %zu TLS handshakes "
                  "in progress (--tls-max-handshakes); %" PRIu64
                  " refused in all",
                  h->handshaking, h->st.tls_limited);
    uv_close((uv_handle_t *)t, on_refused_closed);
    return;
  }
  if (h->nconns >= BQ_HTTP_MAX_CONNS) {
    static const char busy[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
        "Content-Length: 29\r\nConnection: close\r\n\r\n"
        "too many metrics connections\n";
    uv_tcp_t *t = malloc(sizeof(*t));
    if (t == NULL) return;
    uv_tcp_init(h->loop, t);
    /* A TLS client would not understand the plaintext 503. */
    if (uv_accept(l, (uv_stream_t *)t) == 0)
      bq_refuse_line(t, h->tls_on ? NULL : busy, sizeof(busy) - 1);
    h->st.refused++;
    uv_close((uv_handle_t *)t, on_refused_closed);
    return;
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL) return; /* the connection waits in the backlog */
  c->h = h;
  bq_buf_init(&c->body);
  uv_tcp_init(h->loop, &c->tcp);
  uv_timer_init(h->loop, &c->timer);
  c->handles = 2;
  c->next = h->conns;
  if (h->conns) h->conns->prev = c;
  h->conns = c;
  h->nconns++;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
    close_conn(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  if (h->tls_on) {
    struct bq_tls_ctx *ctx = h->tls.ctx(h->tls.arg);
    struct sockaddr_storage ss;
    int sl = (int)sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) != 0 ||
        bq_addr_format((struct sockaddr *)&ss, c->peer, sizeof(c->peer)) != 0)
      snprintf(c->peer, sizeof(c->peer), "?");
    if (ctx == NULL || bq_tls_new(&c->tls, ctx) < 0) {
      close_conn(c);
      return;
    }
    c->hs_counted = 1;
    h->handshaking++;
  }
  http_parser_init(&c->parser, HTTP_REQUEST);
  arm_timer(c, BQ_HTTP_TIMEOUT_MS);
  start_reading(c);
}

int bq_http_start(struct bq_http *h, uv_loop_t *loop,
                  const struct sockaddr *addr, const struct bq_log *log,
                  const struct bq_http_tls *tls, bq_http_handler handler,
                  void *arg, char *err, size_t errlen) {
  struct sockaddr_storage ss;
  int len = (int)sizeof(ss);
  int r;

  memset(h, 0, sizeof(*h));
  h->loop = loop;
  h->log = log;
  h->handler = handler;
  h->arg = arg;
  if (tls != NULL) {
    assert(tls->ctx != NULL && tls->max_handshakes >= 1);
    h->tls_on = 1;
    h->tls = *tls;
  }
  bq_ratelimit_init(&h->tls_rl, 5000);
  http_parser_settings_init(&h->settings);
  h->settings.on_url = cb_url;
  h->settings.on_header_field = cb_header_field;
  h->settings.on_header_value = cb_header_field;
  h->settings.on_body = cb_body;
  h->settings.on_headers_complete = cb_headers_complete;
  h->settings.on_message_complete = cb_message_complete;
  uv_tcp_init(loop, &h->listener);
  h->listening = 1;
  r = uv_tcp_bind(&h->listener, addr, 0);
  if (r == 0) r = uv_listen((uv_stream_t *)&h->listener, 64, on_connection);
  if (r == 0)
    r = uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &len);
  if (r != 0) {
    char a[BQ_ADDR_STRLEN];
    if (bq_addr_format(addr, a, sizeof(a)) != 0) snprintf(a, sizeof(a), "?");
    snprintf(err, errlen, "cannot listen on %s for --metrics: %s", a,
             uv_strerror(r));
    return r;
  }
  bq_addr_format((struct sockaddr *)&ss, h->addr, sizeof(h->addr));
  return 0;
}

void bq_http_close(struct bq_http *h) {
  if (h->closing) return;
  h->closing = 1;
  if (h->listening) {
    h->listening = 0;
    uv_close((uv_handle_t *)&h->listener, NULL);
  }
  while (h->conns != NULL) close_conn(h->conns);
}
