/*
 * conn.c -- one client connection: framing its lines into records, writing
 * its acks and errors, and closing it without losing anything.
 *
 * Owns struct bq_conn (server.h).  Loop thread only.  A conn is freed when
 * both its handle is closed and no queued record points at it (inflight ==
 * 0), whichever happens last: that is what lets workers carry the conn
 * pointer as an opaque token.
 *
 * Output is one write at a time from c->wbuf.  While it is in flight, newer
 * acks only raise c->committed and owed errors only raise c->err_pending;
 * the next write says it all.  A client that never reads thus costs a few
 * counters, never a growing buffer.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server.h"

static const char err_too_long[] = "ERR too-long\n";
static const char err_too_many[] = "ERR too-many-connections\n";

static void on_close(uv_handle_t *h);
static void close_now(struct bq_conn *c);

static void free_conn(struct bq_conn *c) {
  struct bq_server *srv = c->srv;
  assert(c->closed && c->inflight == 0 && !c->touched);
  bq_framer_free(&c->framer);
  free(c);
  assert(srv->nalive > 0);
  srv->nalive--;
  bq_server_conn_freed(srv);
}

static void unlink_conn(struct bq_conn *c) {
  struct bq_server *srv = c->srv;
  if (c->prev) c->prev->next = c->next;
  else srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  assert(srv->nconns > 0);
  srv->nconns--;
}

static struct bq_rec *new_rec(struct bq_conn *c, int type, int64_t ts,
                              const char *data, size_t len) {
  struct bq_rec *r = bq_rec_alloc(&c->srv->slabs, len);
  if (r == NULL) return NULL;
  r->next = NULL;
  r->conn = c;
  r->conn_id = c->id;
  r->seq = 0;
  r->ts_us = ts;
  r->len = (uint32_t)len;
  r->type = (uint8_t)type;
  if (len) memcpy(r->data, data, len);
  return r;
}

/* Queue a connection event (OPEN/CLOSE).  These are pushed even over the
 * bounds: there is at most two per connection.  Out of memory here would
 * lose the event, so it is fatal, as any tiny allocation failure is. */
static void push_event(struct bq_conn *c, int type, int64_t ts,
                       const char *data, size_t len) {
  struct bq_rec *r = new_rec(c, type, ts, data, len);
  if (r == NULL) {
    bq_log_error(c->srv->log, "out of memory queueing a connection event");
    abort();
  }
  c->inflight++;
  bq_server_push(c->srv, r, r, 1, bq_rec_cost(r));
}

/* Queue c's CLOSE record once.  Shutdown records every connection's close
 * before it closes the queue, so afterwards this is a no-op. */
static void record_close(struct bq_conn *c, int64_t now_us) {
  if (c->close_recorded) return;
  assert(!c->srv->queue_closed);
  c->close_recorded = 1;
  push_event(c, BQ_REC_CLOSE, now_us, NULL, 0);
}

/* Messages framed from one read, linked before a single push. */
struct build {
  struct bq_conn *c;
  struct bq_rec *first, *last;
  size_t n, bytes;
  int64_t ts;
  uint64_t too_long;
  uint64_t payload; /* bytes of the messages' payloads */
};

static int on_frame(void *arg, int kind, const char *data, size_t len) {
  struct build *b = arg;
  struct bq_rec *r;
  if (kind == BQ_FRAME_TOO_LONG) {
    b->too_long++;
    return 0;
  }
  r = new_rec(b->c, BQ_REC_MSG, b->ts, data, len);
  if (r == NULL) return -ENOMEM;
  r->seq = ++b->c->seq;
  if (b->last) b->last->next = r;
  else b->first = r;
  b->last = r;
  b->n++;
  b->bytes += bq_rec_cost(r);
  b->payload += len;
  return 0;
}

static void build_init(struct build *b, struct bq_conn *c) {
  memset(b, 0, sizeof(*b));
  b->c = c;
  b->ts = bq_unix_us();
}

static void build_push(struct build *b) {
  struct bq_conn *c = b->c;
  struct bq_server *srv = c->srv;
  if (b->n > 0) {
    c->inflight += b->n;
    srv->st.received += b->n;
    srv->st.received_bytes += b->payload;
    bq_server_push(srv, b->first, b->last, b->n, b->bytes);
  }
  if (b->too_long > 0) {
    uint64_t supp;
    c->err_pending += b->too_long;
    srv->st.rejected += b->too_long;
    if (bq_ratelimit_allow(&srv->reject_rl, bq_now_ms(), &supp))
      bq_log_info(srv->log,
                  "conn %" PRId64 " (%s): rejected a line over %zu bytes "
                  "(%" PRIu64 " rejected in all)",
                  c->id, c->peer, srv->cfg->max_message, srv->st.rejected);
    bq_conn_flush(c);
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct bq_conn *c = bq_container_of(h, struct bq_conn, tcp);
  (void)suggested;
  /* One read is processed at a time, and framing copies what it keeps. */
  buf->base = c->srv->readbuf;
  buf->len = sizeof(c->srv->readbuf);
}

static void stop_reading(struct bq_conn *c) {
  if (c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct bq_conn *c = bq_container_of(s, struct bq_conn, tcp);
  struct build b;
  int r;

  if (nread == 0) return;
  if (nread > 0) {
    build_init(&b, c);
    r = bq_framer_feed(&c->framer, buf->base, (size_t)nread, on_frame, &b);
    build_push(&b);
    if (r < 0) {
      bq_log_error(c->srv->log,
                   "conn %" PRId64 " (%s): out of memory framing; closing it",
                   c->id, c->peer);
      bq_conn_abort(c);
    }
    return;
  }
  if (nread == UV_EOF) {
    build_init(&b, c);
    r = bq_framer_finish(&c->framer, on_frame, &b);
    build_push(&b);
    stop_reading(c);
    c->eof = 1;
    bq_log_debug(c->srv->log, "conn %" PRId64 " (%s): end of input after %"
                 PRId64 " messages", c->id, c->peer, c->seq);
    if (r < 0) {
      bq_conn_abort(c);
      return;
    }
    bq_conn_flush(c);
    return;
  }
  /* A reset or other error: what was framed is kept; a partial line is not
   * a message (the client never finished it). */
  bq_log_debug(c->srv->log, "conn %" PRId64 " (%s): read error: %s", c->id,
               c->peer, uv_strerror((int)nread));
  bq_conn_abort(c);
}

/* Discarding reads after our shutdown, so that closing does not reset the
 * connection before the peer has read its final ack. */
static void on_read_discard(uv_stream_t *s, ssize_t nread,
                            const uv_buf_t *buf) {
  struct bq_conn *c = bq_container_of(s, struct bq_conn, tcp);
  (void)buf;
  if (nread < 0) close_now(c);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  struct bq_conn *c = bq_container_of(req, struct bq_conn, sreq);
  if (c->closing) return;
  if (status < 0 || c->eof) {
    close_now(c);
    return;
  }
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read_discard) == 0)
    c->reading = 1;
  else
    close_now(c);
}

/* Everything is said: half-close our side, then close. */
static void begin_end(struct bq_conn *c) {
  assert(!c->writing && !c->ending && !c->closing);
  c->ending = 1;
  record_close(c, bq_unix_us());
  stop_reading(c);
  if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
    close_now(c);
}

static void on_write(uv_write_t *req, int status) {
  struct bq_conn *c = bq_container_of(req, struct bq_conn, wreq);
  c->writing = 0;
  if (c->closing) return;
  if (status < 0) {
    bq_log_debug(c->srv->log, "conn %" PRId64 " (%s): write failed: %s",
                 c->id, c->peer, uv_strerror(status));
    bq_conn_abort(c);
    return;
  }
  bq_conn_flush(c);
}

/* 1 when nothing more will be framed for c and all of it is durable. */
static int all_done(const struct bq_conn *c) {
  if (c->srv->state >= BQ_CLOSING) return 1;
  return c->eof && c->committed == c->seq;
}

void bq_conn_flush(struct bq_conn *c) {
  const struct bq_config *cfg = c->srv->cfg;
  size_t n = 0;
  int done;
  uv_buf_t buf;

  if (c->writing || c->ending || c->closing) return;
  while (c->err_pending > 0 &&
         n + sizeof(err_too_long) + 32 <= sizeof(c->wbuf)) {
    memcpy(c->wbuf + n, err_too_long, sizeof(err_too_long) - 1);
    n += sizeof(err_too_long) - 1;
    c->err_pending--;
  }
  done = c->err_pending == 0 && all_done(c);
  /* The final ack repeats nothing: it is owed only if it says something
   * new, or if the connection had no ack at all (then it is "OK 0"). */
  if (cfg->ack && (c->committed > c->acked ||
                   (done && !c->final_sent && c->acked == 0))) {
    int w = snprintf(c->wbuf + n, sizeof(c->wbuf) - n, "OK %" PRId64 "\n",
                     c->committed);
    assert(w > 0 && (size_t)w < sizeof(c->wbuf) - n);
    n += (size_t)w;
    c->acked = c->committed;
    c->srv->st.acks++;
    if (done) c->final_sent = 1;
  }
  if (n > 0) {
    buf = uv_buf_init(c->wbuf, (unsigned)n);
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1, on_write) != 0) {
      bq_conn_abort(c);
      return;
    }
    c->writing = 1;
    return;
  }
  if (done) begin_end(c);
}

void bq_conn_completed(struct bq_conn *c, const struct bq_done_entry *e,
                       struct bq_conn **touched) {
  assert(c == e->conn && c->inflight >= e->nrec);
  c->inflight -= e->nrec;
  if (e->seq > c->committed) c->committed = e->seq;
  c->srv->st.committed += e->nmsg;
  if (!c->touched) {
    c->touched = 1;
    c->touched_next = *touched;
    *touched = c;
  }
}

void bq_conn_settle(struct bq_conn *c) {
  assert(c->touched);
  c->touched = 0;
  if (c->closed) {
    if (c->inflight == 0) free_conn(c);
    return;
  }
  bq_conn_flush(c);
}

void bq_conn_pause(struct bq_conn *c) { stop_reading(c); }

void bq_conn_resume(struct bq_conn *c) {
  if (c->reading || c->eof || c->ending || c->closing) return;
  if (c->srv->state != BQ_RUNNING) return;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
    c->reading = 1;
  else
    bq_conn_abort(c);
}

void bq_conn_stop_intake(struct bq_conn *c, int64_t now_us) {
  stop_reading(c);
  if (bq_framer_pending(&c->framer) > 0)
    bq_log_debug(c->srv->log,
                 "conn %" PRId64 " (%s): dropping %zu bytes of an "
                 "unterminated line at shutdown",
                 c->id, c->peer, bq_framer_pending(&c->framer));
  bq_framer_free(&c->framer);
  record_close(c, now_us);
}

void bq_conn_finish(struct bq_conn *c) {
  if (c->ending || c->closing) return;
  bq_conn_flush(c);
}

static void close_now(struct bq_conn *c) {
  if (c->closing) return;
  c->closing = 1;
  stop_reading(c);
  unlink_conn(c);
  uv_close((uv_handle_t *)&c->tcp, on_close);
}

void bq_conn_abort(struct bq_conn *c) {
  if (c->closing) return;
  record_close(c, bq_unix_us());
  close_now(c);
}

void bq_conn_abort_all(struct bq_server *srv) {
  while (srv->conns != NULL) close_now(srv->conns);
}

static void on_close(uv_handle_t *h) {
  struct bq_conn *c = bq_container_of(h, struct bq_conn, tcp);
  c->closed = 1;
  bq_framer_free(&c->framer);
  if (c->inflight == 0 && !c->touched) free_conn(c);
}

static void on_refused_close(uv_handle_t *h) {
  struct bq_conn *c = bq_container_of(h, struct bq_conn, tcp);
  struct bq_server *srv = c->srv;
  free(c);
  srv->nalive--;
  bq_server_conn_freed(srv);
}

/* Tell a connection over the limit why it is refused.  Closing a socket
 * with unread input makes the kernel send a reset, which can destroy the
 * error line before the client reads it; so first discard what the client
 * has already sent, then write, then send FIN.  The caller closes. */
static void refuse(struct bq_conn *c) {
  uv_buf_t b = uv_buf_init((char *)err_too_many, sizeof(err_too_many) - 1);
  uv_os_fd_t fd;
  char junk[4096];
  int i;

  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
    for (i = 0; i < 16; i++)
      if (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) <= 0) break;
  }
  uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) shutdown(fd, SHUT_WR);
}

void bq_conn_accept(struct bq_server *srv) {
  struct bq_conn *c;
  struct sockaddr_storage ss;
  int len = (int)sizeof(ss);
  uint64_t supp;
  int r;

  c = calloc(1, sizeof(*c));
  if (c == NULL) {
    bq_log_error(srv->log, "out of memory accepting a connection");
    abort();
  }
  c->srv = srv;
  uv_tcp_init(srv->loop, &c->tcp);
  srv->nalive++;
  r = uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)&c->tcp);
  if (r != 0) {
    if (bq_ratelimit_allow(&srv->accept_rl, bq_now_ms(), &supp))
      bq_log_warn(srv->log, "accept failed: %s", uv_strerror(r));
    uv_close((uv_handle_t *)&c->tcp, on_refused_close);
    return;
  }
  if (srv->nconns >= srv->cfg->max_connections) {
    srv->st.refused++;
    refuse(c);
    if (bq_ratelimit_allow(&srv->refuse_rl, bq_now_ms(), &supp))
      bq_log_warn(srv->log,
                  "refused a connection: %zu open (--max-connections); "
                  "%" PRIu64 " refused in all",
                  srv->nconns, srv->st.refused);
    uv_close((uv_handle_t *)&c->tcp, on_refused_close);
    return;
  }
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0 ||
      bq_addr_format((struct sockaddr *)&ss, c->peer, sizeof(c->peer)) != 0)
    snprintf(c->peer, sizeof(c->peer), "?");
  c->id = ++srv->next_conn_id;
  bq_framer_init(&c->framer, srv->cfg->max_message);
  c->next = srv->conns;
  if (srv->conns) srv->conns->prev = c;
  srv->conns = c;
  srv->nconns++;
  srv->st.accepted++;
  uv_tcp_nodelay(&c->tcp, 1); /* acks are tiny and wanted now */
  /* Find peers that vanished without FIN or RST (a cable pulled). */
  uv_tcp_keepalive(&c->tcp, 1, 60);
  bq_log_debug(srv->log, "conn %" PRId64 " from %s", c->id, c->peer);
  push_event(c, BQ_REC_OPEN, bq_unix_us(), c->peer, strlen(c->peer));
  if (!srv->paused) bq_conn_resume(c);
}
