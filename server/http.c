/*
 * http.c -- see http.h.  Loop thread only.
 *
 * Life of a connection: accepted -> reading; bytes go to the parser as
 * they come -> a complete request pauses the parser and stops reading ->
 * the response is written (one at a time) -> keep-alive: unpause, parse any
 * pipelined bytes already read, read again; otherwise half-close, discard
 * input until the peer closes (so a reset cannot destroy the response),
 * close.  A timer bounds every phase.
 */
#include "http.h"
#include "refuse.h"

#include <assert.h>
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
    free(c);
  }
}

static void close_conn(struct bq_http_conn *c) {
  struct bq_http *h = c->h;
  if (c->closing) return;
  c->closing = 1;
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
  if (c->eof) {
    close_conn(c); /* nothing more will come, and nothing is owed */
    return;
  }
  start_reading(c);
}

static void on_write(uv_write_t *req, int status) {
  struct bq_http_conn *c = conn_of(req, wreq);
  c->writing = 0;
  if (c->closing) return;
  bq_buf_free(&c->body);
  if (status < 0) {
    close_conn(c);
    return;
  }
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
  assert(c->npending == 0 || c->ending);
  buf->base = c->inbuf;
  buf->len = sizeof(c->inbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct bq_http_conn *c = conn_of(s, tcp);
  (void)buf;
  if (nread == 0) return;
  if (nread < 0) {
    stop_reading(c);
    c->eof = 1;
    /* A request cut short gets nothing; an idle connection just closes. */
    close_conn(c);
    return;
  }
  feed(c, (size_t)nread);
}

static void on_timeout(uv_timer_t *t) {
  struct bq_http_conn *c = conn_of(t, timer);
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
  if (h->nconns >= BQ_HTTP_MAX_CONNS) {
    static const char busy[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
        "Content-Length: 29\r\nConnection: close\r\n\r\n"
        "too many metrics connections\n";
    uv_tcp_t *t = malloc(sizeof(*t));
    if (t == NULL) return;
    uv_tcp_init(h->loop, t);
    if (uv_accept(l, (uv_stream_t *)t) == 0)
      bq_refuse_line(t, busy, sizeof(busy) - 1);
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
  http_parser_init(&c->parser, HTTP_REQUEST);
  arm_timer(c, BQ_HTTP_TIMEOUT_MS);
  start_reading(c);
}

int bq_http_start(struct bq_http *h, uv_loop_t *loop,
                  const struct sockaddr *addr, const struct bq_log *log,
                  bq_http_handler handler, void *arg, char *err,
                  size_t errlen) {
  struct sockaddr_storage ss;
  int len = (int)sizeof(ss);
  int r;

  memset(h, 0, sizeof(*h));
  h->loop = loop;
  h->log = log;
  h->handler = handler;
  h->arg = arg;
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
