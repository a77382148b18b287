/*
 * conn.c -- one client connection: framing its lines into records, writing
 * its acks and errors, and closing it without losing anything.
 *
 * Owns struct bq_conn (server_int.h), from admission (listener.c) to free.  Loop thread only.  A conn is freed when
 * both its handle is closed and no queued record points at it (inflight ==
 * 0), whichever happens last: that is what lets workers carry the conn
 * pointer as an opaque token.
 *
 * Output is one write at a time from c->wbuf.  While it is in flight, newer
 * acks only raise c->committed and owed errors only raise c->err_pending;
 * the next write says it all.  A client that never reads thus costs a few
 * counters, never a growing buffer.
 *
 * A connection of a syslog listener (c->listener->kind) frames with the
 * syslog framer (syslog.h) instead of the line framer and never writes a
 * byte: refusals, authentication failures and idle timeouts close it
 * without a word, a message over --max-message is stored cut to it
 * (BQ_REC_F_TRUNCATED) instead of refused, and a bad octet count closes
 * it.  Its end is the acked one's without the acks: at EOF, once all it
 * sent is committed, the CLOSE record is queued and our side shut down.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto.h"
#include "server_int.h"


/* Most bytes read and dropped after our half-close before closing anyway. */
#define DISCARD_MAX ((uint64_t)1 << 20)

static void on_close(uv_handle_t *h);
static void close_now(struct bq_conn *c);

/* 1 for a connection of a syslog listener. */
static int is_syslog(const struct bq_conn *c) {
  return c->listener->kind == BQ_LISTEN_SYSLOG;
}

/* Release the framer's buffer (either kind); it is never fed again. */
static void framer_free(struct bq_conn *c) {
  if (is_syslog(c))
    bq_sysframer_free(&c->sysframer);
  else
    bq_framer_free(&c->framer);
}

static void free_conn(struct bq_conn *c) {
  struct bq_server *srv = c->srv;
  assert(c->closed && c->inflight == 0 && !c->touched);
  framer_free(c);
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

/* The idle list: every open connection, least recently active first, so
 * that the sweep looks only at connections that may have expired, and a
 * resume after a pause reads the longest-waiting ones first. */
static void idle_unlink(struct bq_conn *c) {
  struct bq_server *srv = c->srv;
  if (c->idle_prev) c->idle_prev->idle_next = c->idle_next;
  else if (srv->idle_head == c) srv->idle_head = c->idle_next;
  else return; /* not on the list */
  if (c->idle_next) c->idle_next->idle_prev = c->idle_prev;
  else srv->idle_tail = c->idle_prev;
  c->idle_prev = c->idle_next = NULL;
}

/* c showed a sign of life at now_ms: move it to the tail. */
static void idle_touch(struct bq_conn *c, uint64_t now_ms) {
  struct bq_server *srv = c->srv;
  c->active_ms = now_ms;
  if (srv->idle_tail == c) return;
  idle_unlink(c);
  c->idle_prev = srv->idle_tail;
  if (srv->idle_tail) srv->idle_tail->idle_next = c;
  else srv->idle_head = c;
  srv->idle_tail = c;
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
  r->flags = 0;
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
  /* A connection that never passed AUTH was never recorded as open. */
  if (c->close_recorded || !c->opened) return;
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
  uint64_t truncated; /* syslog messages cut to --max-message */
  int bad;            /* syslog: a framing error (BQ_SYSFRAME_BAD) */
  uint64_t payload; /* bytes of the messages' payloads */
};

/* Queue c's OPEN record: it exists in the database from here on.  Its
 * data is the peer, '\0', and the listener's name (record.h). */
static void record_open(struct bq_conn *c) {
  char data[sizeof(c->peer) + sizeof(c->listener->name)];
  size_t peer = strlen(c->peer), name = strlen(c->listener->name);
  assert(!c->opened);
  c->opened = 1;
  memcpy(data, c->peer, peer + 1);
  memcpy(data + peer + 1, c->listener->name, name);
  push_event(c, BQ_REC_OPEN, bq_unix_us(), data, peer + 1 + name);
}

/* The framer's callback: what each line means is proto.h's to say; this
 * acts on it. */
static int on_frame(void *arg, int kind, const char *data, size_t len) {
  struct build *b = arg;
  struct bq_conn *c = b->c;
  struct bq_proto_line line;
  struct bq_rec *r;

  if (kind == BQ_FRAME_TOO_LONG) {
    if (!c->authed) return -EACCES; /* no AUTH line is that long */
    b->too_long++;
    return 0;
  }
  switch (bq_proto_classify(c->authed ? BQ_PROTO_MESSAGES
                                      : BQ_PROTO_EXPECT_AUTH,
                            data, len, &line)) {
    case BQ_LINE_MSG:
      break;
    case BQ_LINE_AUTH:
      if (!bq_auth_check_token(c->srv->auth, line.arg, line.len))
        return -EACCES;
      c->authed = 1;
      /* The AUTH line had a limit of its own; messages have
       * --max-message. */
      bq_framer_set_max(&c->framer, c->srv->cfg->max_message);
      record_open(c);
      return 0;
    default: /* BQ_LINE_BAD: not what this state expects */
      return -EACCES;
  }
  r = new_rec(c, BQ_REC_MSG, b->ts, line.arg, line.len);
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

/* The syslog framer's callback: a message (whole or cut to --max-message)
 * becomes a record flagged for the store to parse; the first frame is the
 * AUTH line when a token is required. */
static int on_sysframe(void *arg, int kind, const char *data, size_t len) {
  struct build *b = arg;
  struct bq_conn *c = b->c;
  struct bq_proto_line line;
  struct bq_rec *r;

  if (kind == BQ_SYSFRAME_BAD) {
    b->bad = 1;
    return 0;
  }
  if (!c->authed) {
    if (kind != BQ_SYSFRAME_MSG ||
        bq_proto_classify(BQ_PROTO_EXPECT_AUTH, data, len, &line) !=
            BQ_LINE_AUTH ||
        !bq_auth_check_token(c->srv->auth, line.arg, line.len))
      return -EACCES;
    c->authed = 1;
    bq_sysframer_set_max(&c->sysframer, c->srv->cfg->max_message);
    record_open(c);
    return 0;
  }
  r = new_rec(c, BQ_REC_MSG, b->ts, data, len);
  if (r == NULL) return -ENOMEM;
  r->flags = BQ_REC_F_SYSLOG;
  if (kind == BQ_SYSFRAME_TRUNCATED) {
    r->flags |= BQ_REC_F_TRUNCATED;
    b->truncated++;
  }
  r->seq = ++c->seq;
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
  if (b->truncated > 0) {
    uint64_t supp;
    srv->st.truncated += b->truncated;
    if (bq_ratelimit_allow(&srv->trunc_rl, bq_now_ms(), &supp))
      bq_log_info(srv->log,
                  "conn %" PRId64 " (%s): stored a syslog message cut to "
                  "--max-message %zu bytes (%" PRIu64 " truncated in all)",
                  c->id, c->peer, srv->cfg->max_message, srv->st.truncated);
  }
}

/* Count (and at debug level report) an unterminated line that will never
 * be a message because the connection ends without finishing it. */
static void drop_partial(struct bq_conn *c, const char *why) {
  size_t n = is_syslog(c) ? bq_sysframer_pending(&c->sysframer)
                          : bq_framer_pending(&c->framer);
  if (n == 0) return;
  c->srv->st.partial_dropped++;
  bq_log_debug(c->srv->log,
               "conn %" PRId64 " (%s): dropping %zu bytes of an "
               "unterminated line (%s)",
               c->id, c->peer, n, why);
}

static void say_and_close(struct bq_conn *c, enum bq_proto_err e);
static void on_write(uv_write_t *req, int status);
static void stop_reading(struct bq_conn *c);
static void framing_error(struct bq_conn *c);

/* The first line was not "AUTH <token>": "ERR auth", then close.  The
 * line itself is never logged (it may hold a near-miss of the token). */
static void auth_failed(struct bq_conn *c, const char *why) {
  struct bq_server *srv = c->srv;
  const char *line;
  uint64_t supp;
  size_t len;
  srv->st.auth_failed++;
  if (bq_ratelimit_allow(&srv->auth_rl, bq_now_ms(), &supp))
    bq_log_warn(srv->log,
                "conn %" PRId64 " (%s): authentication failed (%s); "
                "%" PRIu64 " failed in all",
                c->id, c->peer, why, srv->st.auth_failed);
  framer_free(c);
  stop_reading(c);
  if (is_syslog(c)) { /* without a word */
    bq_conn_abort(c);
    return;
  }
  if (c->writing || c->ending || c->closing) {
    say_and_close(c, BQ_ERR_AUTH);
    return;
  }
  /* An orderly close, so that the client reads the line even if it is
   * still sending: write it, then half-close and discard what follows
   * (bounded by DISCARD_MAX) until the client closes. */
  c->rejected = 1;
  line = bq_proto_err_line(BQ_ERR_AUTH, &len);
  assert(len <= sizeof(c->wbuf));
  memcpy(c->wbuf, line, len);
  uv_buf_t b = uv_buf_init(c->wbuf, (unsigned)len);
  if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
    bq_conn_abort(c);
    return;
  }
  c->writing = 1;
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

/* 1 when c's input ended in a reset (or another abort, such as a keepalive
 * timeout), not in a FIN; asked when libuv reports end of input.
 *
 * libuv says UV_EOF not only for a FIN: when epoll reports EPOLLHUP after a
 * short read, it reports end of input without reading again.  On Linux a
 * reset that arrives with the data, or while we are not reading, gives just
 * that: the read returns the queued data, and only the next one would have
 * failed with ECONNRESET.  The kernel still knows: the socket has a pending
 * error (ECONNRESET; EPIPE if a FIN came before the reset), or, when a
 * failed write of ours has already taken that error, it is in state CLOSE,
 * which a FIN alone never leads to while our side is open (CLOSE_WAIT).
 * A FIN followed by a reset counts as a reset too: the EPIPE that would
 * tell it apart is gone once a write has taken it, and when in doubt the
 * partial line must be dropped (a torn message is never stored). */
static int input_reset(struct bq_conn *c) {
  uv_os_fd_t fd;
  int err = 0;
  socklen_t len = sizeof(err);
  struct tcp_info ti;

  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0) return 1;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
    return 1;
  len = sizeof(ti);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return 1;
  return ti.tcpi_state == TCP_CLOSE;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct bq_conn *c = bq_container_of(s, struct bq_conn, tcp);
  struct build b;
  int r;

  if (nread == 0) return;
  /* Only a FIN finishes an unterminated last line; a reset drops it. */
  if (nread == UV_EOF && input_reset(c)) nread = UV_ECONNRESET;
  if (nread > 0) {
    idle_touch(c, bq_now_ms());
    build_init(&b, c);
    if (is_syslog(c))
      r = bq_sysframer_feed(&c->sysframer, buf->base, (size_t)nread,
                            on_sysframe, &b);
    else
      r = bq_framer_feed(&c->framer, buf->base, (size_t)nread, on_frame,
                         &b);
    build_push(&b);
    if (r == -EACCES) {
      auth_failed(c, "wrong AUTH line");
      return;
    }
    if (b.bad) {
      framing_error(c);
      return;
    }
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
    if (is_syslog(c))
      r = bq_sysframer_finish(&c->sysframer, on_sysframe, &b);
    else
      r = bq_framer_finish(&c->framer, on_frame, &b);
    build_push(&b);
    if (b.bad) {
      /* An octet-counted frame cut short by the end of input: like an
       * unterminated line on a reset, never a message. */
      c->srv->st.partial_dropped++;
      bq_log_debug(c->srv->log,
                   "conn %" PRId64 " (%s): dropping an unfinished "
                   "octet-counted frame at end of input",
                   c->id, c->peer);
      if (r == -EPROTO) r = 0;
    }
    if (r == -EACCES || !c->authed) {
      auth_failed(c, r == -EACCES ? "wrong AUTH line" : "no AUTH line");
      return;
    }
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
  c->srv->st.conn_errors++;
  drop_partial(c, "connection reset");
  bq_conn_abort(c);
}

/* A syslog connection sent a bad octet count: its stream cannot be
 * resynchronised, so it is closed (what was framed before is kept). */
static void framing_error(struct bq_conn *c) {
  struct bq_server *srv = c->srv;
  uint64_t supp;
  srv->st.framing_errors++;
  if (bq_ratelimit_allow(&srv->framing_rl, bq_now_ms(), &supp))
    bq_log_warn(srv->log,
                "conn %" PRId64 " (%s): bad octet count in a syslog frame "
                "(RFC 6587); closing it (%" PRIu64 " framing errors in all)",
                c->id, c->peer, srv->st.framing_errors);
  bq_conn_abort(c);
}

/* Discarding reads after our shutdown, so that closing does not reset the
 * connection before the peer has read its final ack. */
static void on_read_discard(uv_stream_t *s, ssize_t nread,
                            const uv_buf_t *buf) {
  struct bq_conn *c = bq_container_of(s, struct bq_conn, tcp);
  (void)buf;
  if (nread > 0) c->discarded += (uint64_t)nread;
  /* A peer that keeps sending after we said our last word gets a reset
   * once it has sent DISCARD_MAX more bytes. */
  if (nread < 0 || c->discarded > DISCARD_MAX) close_now(c);
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
    c->srv->st.conn_errors++;
    drop_partial(c, "write failed");
    bq_conn_abort(c);
    return;
  }
  bq_conn_flush(c);
}

/* 1 when nothing more will be framed for c and all of it is durable. */
static int all_done(const struct bq_conn *c) {
  if (c->srv->state >= BQ_CLOSING || c->rejected) return 1;
  return c->eof && c->committed == c->seq;
}

void bq_conn_flush(struct bq_conn *c) {
  const struct bq_config *cfg = c->srv->cfg;
  size_t n = 0, elen;
  const char *eline = bq_proto_err_line(BQ_ERR_TOO_LONG, &elen);
  int done;
  uv_buf_t buf;

  if (c->writing || c->ending || c->closing) return;
  if (is_syslog(c)) { /* nothing is ever written */
    if (all_done(c)) begin_end(c);
    return;
  }
  /* Owed errors first, leaving room for the ack. */
  while (c->err_pending > 0 &&
         n + elen + BQ_PROTO_OK_MAX <= sizeof(c->wbuf)) {
    memcpy(c->wbuf + n, eline, elen);
    n += elen;
    c->err_pending--;
  }
  done = c->err_pending == 0 && all_done(c);
  /* The final ack repeats nothing: it is owed only if it says something
   * new, or if the connection had no ack at all (then it is "OK 0"). */
  if (cfg->ack && c->authed && (c->committed > c->acked ||
                   (done && !c->final_sent && c->acked == 0))) {
    size_t w = bq_proto_format_ok(c->wbuf + n, sizeof(c->wbuf) - n,
                                  (uint64_t)c->committed);
    assert(w > 0);
    n += w;
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

void bq_conn_resume_all(struct bq_server *srv) {
  /* The idle list is ordered by the last read.  A failed resume closes its
   * connection (unlinking only it), whose CLOSE record may fill the queue
   * again: then the rest stay paused. */
  for (struct bq_conn *c = srv->idle_head, *next; c != NULL && !srv->paused;
       c = next) {
    next = c->idle_next;
    bq_conn_resume(c);
  }
}

void bq_conn_stop_intake(struct bq_conn *c, int64_t now_us) {
  stop_reading(c);
  drop_partial(c, "shutdown");
  framer_free(c);
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
  idle_unlink(c);
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
  framer_free(c);
  if (c->inflight == 0 && !c->touched) free_conn(c);
}

static void on_refused_close(uv_handle_t *h) {
  struct bq_conn *c = bq_container_of(h, struct bq_conn, tcp);
  struct bq_server *srv = c->srv;
  free(c);
  srv->nalive--;
  bq_server_conn_freed(srv);
}

/* Tell a connection why it is being closed (one ERR line).  Closing a
 * socket with unread input makes the kernel send a reset, which can destroy
 * the error line before the client reads it; so first discard what the
 * client has already sent, then write, then send FIN.  The caller closes.
 * Best effort: a write already in flight, or a full send buffer, means the
 * line is not sent. */
static void refuse_with(struct bq_conn *c, const char *line, size_t len) {
  uv_buf_t b = uv_buf_init((char *)line, (unsigned)len);
  uv_os_fd_t fd;
  char junk[4096];
  int i;

  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
    for (i = 0; i < 16; i++)
      if (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) <= 0) break;
  }
  if (!c->writing) uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) shutdown(fd, SHUT_WR);
}

/* An open connection: its ERR line (none on a syslog listener), then close
 * it now (any partial line is dropped; its CLOSE record is queued if it was
 * recorded as open). */
static void say_and_close(struct bq_conn *c, enum bq_proto_err e) {
  size_t len;
  const char *line;
  if (c->closing) return;
  if (!is_syslog(c)) {
    line = bq_proto_err_line(e, &len);
    refuse_with(c, line, len);
  }
  bq_conn_abort(c);
}

void bq_conn_sweep_idle(struct bq_server *srv, uint64_t now_ms) {
  uint64_t limit = (uint64_t)srv->cfg->idle_timeout * 1000;
  while (srv->idle_head != NULL) {
    struct bq_conn *c = srv->idle_head;
    /* Time spent paused by us is not the client's silence: nobody is idle
     * for longer than since the last pause ended. */
    uint64_t since = c->active_ms > srv->resumed_ms ? c->active_ms
                                                    : srv->resumed_ms;
    if (now_ms - since < limit) break; /* the rest are younger */
    if (c->ending) { /* final ack sent, waiting for the peer to close */
      close_now(c);
      continue;
    }
    if (c->eof || c->inflight > 0 || c->committed < c->seq) {
      /* Waiting for us (commits, acks): not idle.  Look again later. */
      idle_touch(c, now_ms);
      continue;
    }
    srv->st.idle_closed++;
    bq_log_debug(srv->log,
                 "conn %" PRId64 " (%s): idle for %u s; closing it",
                 c->id, c->peer, srv->cfg->idle_timeout);
    drop_partial(c, "idle timeout");
    say_and_close(c, BQ_ERR_IDLE);
  }
}

struct bq_conn *bq_conn_new(struct bq_server *srv) {
  struct bq_conn *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    bq_log_error(srv->log, "out of memory accepting a connection");
    abort();
  }
  c->srv = srv;
  uv_tcp_init(srv->loop, &c->tcp);
  srv->nalive++;
  return c;
}

void bq_conn_refuse(struct bq_conn *c, int e) {
  if (e >= 0) {
    size_t len;
    const char *line = bq_proto_err_line((enum bq_proto_err)e, &len);
    refuse_with(c, line, len);
  }
  uv_close((uv_handle_t *)&c->tcp, on_refused_close);
}

void bq_conn_start(struct bq_conn *c) {
  struct bq_server *srv = c->srv;
  size_t max = srv->cfg->max_message;
  c->id = ++srv->next_conn_id;
  /* Until it passes, the first line is an AUTH line, not a message: it may
   * be as long as the longest token needs, whatever --max-message is. */
  if (srv->auth != NULL && max < BQ_AUTH_LINE_MAX) max = BQ_AUTH_LINE_MAX;
  if (is_syslog(c))
    bq_sysframer_init(&c->sysframer, max);
  else
    bq_framer_init(&c->framer, max);
  c->next = srv->conns;
  if (srv->conns) srv->conns->prev = c;
  srv->conns = c;
  srv->nconns++;
  srv->st.accepted++;
  uv_tcp_nodelay(&c->tcp, 1); /* acks are tiny and wanted now */
  /* Find peers that vanished without FIN or RST (a cable pulled). */
  uv_tcp_keepalive(&c->tcp, 1, 60);
  bq_log_debug(srv->log, "conn %" PRId64 " from %s", c->id, c->peer);
  idle_touch(c, bq_now_ms());
  /* With --auth-token-file the connection is recorded only once its AUTH
   * line passed (on_frame). */
  c->authed = srv->auth == NULL;
  if (c->authed) record_open(c);
  if (!srv->paused) bq_conn_resume(c);
}
