/*
 * conn.c -- one client connection: framing its lines into records, writing
 * its acks and errors, and closing it without losing anything.
 *
 * Owns struct bq_conn (server_int.h), from admission (listener.c) to free.  Loop thread only.  A conn is freed when
 * both its handle is closed and no queued record points at it (inflight ==
 * 0), whichever happens last: that is what lets workers carry the conn
 * pointer as an opaque token.
 *
 * Output is one write at a time from c->wbuf, tried synchronously first
 * (uv_try_write) and handed to uv_write only for what the socket did not
 * take at once.  While a uv_write is in flight, newer
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
 *
 * A connection of a tls listener (c->tls) speaks TLS through tls.h's
 * engine over memory: each read's ciphertext is fed to it and every byte
 * of plaintext it yields goes through the framer as a plaintext read's
 * would (all of one read, even when the queue fills, as the plaintext
 * path frames a whole read: plaintext left inside the engine would wait
 * for a read that may never come).  Output is the plaintext path's, put
 * through bq_tls_write at flush time, and whatever ciphertext the engine
 * has (handshake records, alerts, close_notify) is written from c->tout,
 * still one write at a time.  The handshake's records are written on
 * syslog listeners too: "never a byte out" is about the protocol, and
 * without them there is no TLS.  The ciphertext waiting in the engine is
 * bounded by TLS_OUT_MAX: a peer that makes us owe more without reading
 * it (renegotiation is off in TLS 1.3, but key updates answer) is
 * closed.  The connection is recorded (OPEN) only once the handshake is
 * done, with the client certificate's subject under mutual TLS.  At most
 * --tls-max-handshakes are in progress at once; each must finish within
 * BQ_TLS_HANDSHAKE_MS (or --idle-timeout, if shorter).  A failed
 * handshake is counted and logged (rate-limited) with OpenSSL's reason,
 * its alert sent as best it can be, then closed; the first bytes of a
 * TLS connection that are not a ClientHello ("plaintext to a TLS port"),
 * and a ClientHello as the first bytes on a plaintext listener, are
 * counted, logged and closed without a reply.  The end: the peer's
 * close_notify ends its input as a FIN does, and completes an
 * unterminated last line; a FIN without close_notify ends it too, but its
 * partial line is dropped (it may have been cut by an attacker); a reset
 * drops it, as on plaintext.  Our end is the final ack, close_notify,
 * then FIN.
 *
 * Producers (exactly once, docs/protocol.md).  On an acked listener with
 * --producers on, the first line after AUTH is classified in
 * BQ_PROTO_EXPECT_HELLO (pstate P_EXPECT).  A HELLO attaches the
 * connection to its id's entry in srv->producers (producer.h) as its
 * latest connection (cur).  A connection that was cur before is fenced:
 * it stops reading, its held lines and partial line are dropped, and once
 * nothing of it is in flight it is detached and ends with "ERR fenced"
 * (after its due acks).  An earlier connection that closed with records
 * in flight counts as draining until it is freed.  Only when no earlier
 * connection of the id is draining is the HELLO record queued (P_HELLO):
 * its completion then carries the committed count n that includes every
 * record any earlier connection queued, whatever the backend's
 * concurrency (store.h).  Until then (P_WAIT, P_HELLO) lines are framed
 * but held on the connection, not queued, and reading stops once
 * HELD_MAX bytes are held.  On the completion: a first-seq past n + 1 ends
 * the connection with "ERR gap n" (held lines dropped); otherwise
 * "RESUME n" is owed (P_LIVE), held lines numbered <= n are dropped as
 * duplicates and the rest queued with producer and pseq.  A stored line's
 * pseq is base + seq (base = n), so acks say "OK base + committed".  A
 * line over --max-message ends a producer's connection ("ERR too-long"
 * after the acks): skipping it would leave a hole in the numbering.
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

#include "producer.h"
#include "proto.h"
#include "refuse.h"
#include "server_int.h"

/* pstate: where a connection is in the producers' protocol. */
enum {
  P_NONE = 0,   /* not a producer's: every line a message */
  P_EXPECT = 1, /* the first line (after AUTH) may be a HELLO */
  P_WAIT = 2,   /* HELLO seen; earlier connections of the id draining */
  P_HELLO = 3,  /* the HELLO record queued, its completion awaited */
  P_LIVE = 4,   /* answered: RESUME owed or written */
  P_FENCED = 5  /* a newer HELLO took the id: ending */
};

/* Most bytes of lines a producer's connection holds before its RESUME;
 * above it reading stops until the RESUME. */
#define HELD_MAX ((size_t)256 << 10)


/* Most bytes read and dropped after our half-close before closing anyway. */
#define DISCARD_MAX ((uint64_t)1 << 20)

/* Most ciphertext a TLS connection may owe its peer (the handshake's
 * flight with a long chain is well below). */
#define TLS_OUT_MAX ((size_t)256 << 10)

/* c->tout is kept between writes up to this size, freed when larger. */
#define TLS_OUT_KEEP ((size_t)16 << 10)

static void on_close(uv_handle_t *h);
static void close_now(struct bq_conn *c);
static void detach(struct bq_conn *c);
static void held_free(struct bq_conn *c);

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
  detach(c);
  held_free(c);
  framer_free(c);
  bq_tls_free(c->tls);
  free(c->tout);
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
  r->producer = 0;
  r->pseq = 0;
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
 * data is the peer, '\0', the listener's name, and, when the TLS client
 * sent a certificate, '\0' and its subject (record.h). */
static void record_open(struct bq_conn *c) {
  char data[sizeof(c->peer) + sizeof(c->listener->name) + 1024];
  size_t peer = strlen(c->peer), name = strlen(c->listener->name), n;
  assert(!c->opened);
  c->opened = 1;
  memcpy(data, c->peer, peer + 1);
  memcpy(data + peer + 1, c->listener->name, name);
  n = peer + 1 + name;
  if (c->tls != NULL) {
    char *subject = data + n + 1;
    bq_tls_peer_subject(c->tls, subject, sizeof(data) - n - 1);
    if (subject[0] != '\0') {
      data[n] = '\0';
      n += 1 + strlen(subject);
    }
  }
  push_event(c, BQ_REC_OPEN, bq_unix_us(), data, n);
}

/* The first framed line of a connection that must authenticate (either
 * framer): 0 when it is "AUTH <token>" with the right token (the
 * connection is recorded from here on), else -EACCES. */
static int authenticate(struct bq_conn *c, const char *data, size_t len) {
  struct bq_proto_line line;
  if (bq_proto_classify(BQ_PROTO_EXPECT_AUTH, data, len, &line) !=
          BQ_LINE_AUTH ||
      !bq_auth_check_token(c->srv->auth, line.arg, line.len))
    return -EACCES;
  c->authed = 1;
  /* The AUTH line had a limit of its own; messages have --max-message. */
  if (is_syslog(c))
    bq_sysframer_set_max(&c->sysframer, c->srv->cfg->max_message);
  else
    bq_framer_set_max(&c->framer, c->srv->cfg->max_message);
  record_open(c);
  return 0;
}

/* Append one message of c (flags: BQ_REC_F_*) to the build.  Returns 0 or
 * -ENOMEM. */
static int build_add(struct build *b, const char *data, size_t len,
                     uint8_t flags) {
  struct bq_rec *r = new_rec(b->c, BQ_REC_MSG, b->ts, data, len);
  if (r == NULL) return -ENOMEM;
  r->flags = flags;
  r->seq = ++b->c->seq;
  if (b->last) b->last->next = r;
  else b->first = r;
  b->last = r;
  b->n++;
  b->bytes += bq_rec_cost(r);
  b->payload += len;
  return 0;
}

/* ---- producers ------------------------------------------------------------ */

static void stop_reading(struct bq_conn *c);
static void drop_partial(struct bq_conn *c, const char *why);
static void build_init(struct build *b, struct bq_conn *c);
static void build_push(struct build *b);

/* Drop the lines c holds (never queued, never acknowledged). */
static void held_free(struct bq_conn *c) {
  if (c->held != NULL) bq_rec_free_chain(c->held);
  c->held = NULL;
  c->held_tailp = &c->held;
  c->held_bytes = 0;
}

/* Queue c's HELLO record: no earlier connection of its id has a record in
 * flight, so the count it reads back is final.  Not once the queue is
 * closed (shutdown): c is then never answered. */
static void push_hello(struct bq_conn *c) {
  assert(c->pstate == P_WAIT && c->prod->cur == c && c->prod->draining == 0);
  if (c->srv->queue_closed) return;
  c->pstate = P_HELLO;
  push_event(c, BQ_REC_HELLO, bq_unix_us(), c->prod->name, c->prod->len);
}

/* Detach c from its producer's entry, if attached; the entry's waiting
 * connection may go on (its HELLO is queued), and an entry without
 * connections is freed. */
static void detach(struct bq_conn *c) {
  struct bq_producer *p = c->prod;
  if (p == NULL) return;
  c->prod = NULL;
  if (c->pdraining) {
    c->pdraining = 0;
    assert(p->draining > 0);
    p->draining--;
  } else if (p->cur == c) {
    p->cur = NULL;
  }
  if (p->draining == 0 && p->cur != NULL && p->cur->pstate == P_WAIT)
    push_hello(p->cur);
  bq_producers_put(&c->srv->producers, p);
}

/* A fenced connection has nothing in flight: detach it (the newer one
 * goes on) and end it with "ERR fenced" after its due acks. */
static void fence_done(struct bq_conn *c) {
  assert(c->pstate == P_FENCED && c->inflight == 0);
  detach(c);
  c->final_err = BQ_ERR_FENCED + 1;
  bq_conn_flush(c);
}

/* A newer HELLO for c's id: c stops reading, drops what it holds and its
 * partial line, and ends once all it queued is committed (the caller
 * calls fence_done when nothing is in flight: the entry has its new cur
 * first, so that detaching c does not free it). */
static void fence(struct bq_conn *c) {
  struct bq_producer *p = c->prod;
  struct bq_server *srv = c->srv;
  uint64_t supp;
  assert(p != NULL && p->cur == c && !c->pdraining);
  p->cur = NULL;
  p->draining++;
  c->pdraining = 1;
  c->pstate = P_FENCED;
  stop_reading(c);
  held_free(c);
  drop_partial(c, "fenced");
  framer_free(c);
  srv->st.fenced++;
  if (bq_ratelimit_allow(&srv->prod_rl, bq_now_ms(), &supp))
    bq_log_info(srv->log,
                "conn %" PRId64 " (%s): fenced: producer '%.*s' said HELLO "
                "on another connection (%" PRIu64 " fenced in all)",
                c->id, c->peer, (int)p->len, p->name, srv->st.fenced);
}

/* c said "HELLO <id> [<first-seq>]" (line l): attach it to the id, fence
 * the id's earlier connection, and queue the HELLO record when nothing of
 * the id is in flight.  Returns 0 or -ENOMEM. */
static int hello(struct bq_conn *c, const struct bq_proto_line *l) {
  struct bq_server *srv = c->srv;
  struct bq_producer *p = bq_producers_get(&srv->producers, l->arg, l->len);
  struct bq_conn *old;
  if (p == NULL) return -ENOMEM;
  srv->st.hellos++;
  c->prod = p;
  c->first_seq = l->first_seq;
  c->pstate = P_WAIT;
  c->held = NULL;
  c->held_tailp = &c->held;
  bq_log_debug(srv->log, "conn %" PRId64 " (%s): HELLO %.*s %" PRIu64, c->id,
               c->peer, (int)l->len, l->arg, l->first_seq);
  old = p->cur;
  if (old != NULL) fence(old);
  p->cur = c;
  if (old != NULL && old->inflight == 0) fence_done(old); /* may push ours */
  if (c->pstate == P_WAIT && p->draining == 0) push_hello(c);
  return 0;
}

/* The store answered c's HELLO: the producer is row id with n messages
 * committed.  Refuse a gap, or go live: RESUME owed, held lines queued
 * (those numbered <= n dropped as already stored). */
static void hello_done(struct bq_conn *c, int64_t id, int64_t n) {
  struct bq_server *srv = c->srv;
  struct build b;
  uint64_t supp;
  if (c->pstate != P_HELLO || c->closing) return; /* fenced or gone */
  c->prod_id = id;
  c->base = n;
  if (c->first_seq > (uint64_t)n + 1) {
    srv->st.gaps_refused++;
    if (bq_ratelimit_allow(&srv->prod_rl, bq_now_ms(), &supp))
      bq_log_info(srv->log,
                  "conn %" PRId64 " (%s): refused HELLO %.*s %" PRIu64
                  ": the producer has %" PRId64 " messages committed (a gap; "
                  "%" PRIu64 " refused in all)",
                  c->id, c->peer, (int)c->prod->len, c->prod->name,
                  c->first_seq, n, srv->st.gaps_refused);
    held_free(c);
    detach(c);
    c->pstate = P_NONE;
    c->final_err = BQ_ERR_GAP + 1;
    stop_reading(c);
    return;
  }
  c->pstate = P_LIVE;
  c->resume_owed = 1;
  c->pseq = (int64_t)c->first_seq - 1;
  srv->st.resumes++;
  build_init(&b, c);
  for (struct bq_rec *r = c->held, *next; r != NULL; r = next) {
    int64_t pseq = ++c->pseq;
    next = r->next;
    r->next = NULL;
    if (pseq <= n || srv->queue_closed) {
      if (pseq <= n) srv->st.dup_skipped++;
      bq_rec_free_chain(r);
      continue;
    }
    r->seq = ++c->seq;
    r->producer = id;
    r->pseq = pseq;
    assert(pseq == c->base + r->seq);
    if (b.last) b.last->next = r;
    else b.first = r;
    b.last = r;
    b.n++;
    b.bytes += bq_rec_cost(r);
    b.payload += r->len;
  }
  c->held = NULL;
  held_free(c);
  build_push(&b);
  if (!srv->paused) bq_conn_resume(c);
}

/* A line of a producer's connection: held until the RESUME, then
 * numbered; a line numbered <= n is acknowledged, not stored again.
 * Returns 0 or -ENOMEM. */
static int producer_line(struct build *b, const char *data, size_t len) {
  struct bq_conn *c = b->c;
  struct bq_rec *r;
  int64_t pseq;
  if (c->pstate != P_LIVE) {
    assert(c->pstate == P_WAIT || c->pstate == P_HELLO);
    r = new_rec(c, BQ_REC_MSG, b->ts, data, len);
    if (r == NULL) return -ENOMEM;
    *c->held_tailp = r;
    c->held_tailp = &r->next;
    c->held_bytes += bq_rec_cost(r);
    return 0;
  }
  pseq = ++c->pseq;
  if (pseq <= c->base) {
    c->srv->st.dup_skipped++;
    return 0;
  }
  if (build_add(b, data, len, 0) < 0) return -ENOMEM;
  b->last->producer = c->prod_id;
  b->last->pseq = pseq;
  assert(pseq == c->base + b->last->seq);
  return 0;
}

/* The framer's callback: what each line means is proto.h's to say; this
 * acts on it.  Returns 0, or stops the framer with -EACCES (authentication
 * failed), -EPROTO (a bad HELLO), -EMSGSIZE (a producer's line over
 * --max-message) or -ENOMEM. */
static int on_frame(void *arg, int kind, const char *data, size_t len) {
  struct build *b = arg;
  struct bq_conn *c = b->c;
  struct bq_proto_line line;

  if (kind == BQ_FRAME_TOO_LONG) {
    if (!c->authed) return -EACCES; /* no AUTH line is that long */
    if (c->pstate == P_EXPECT) c->pstate = P_NONE; /* no HELLO either */
    if (c->pstate != P_NONE) return -EMSGSIZE;
    b->too_long++;
    return 0;
  }
  if (!c->authed) return authenticate(c, data, len);
  if (c->pstate == P_EXPECT) {
    kind = bq_proto_classify(BQ_PROTO_EXPECT_HELLO, data, len, &line);
    if (kind == BQ_LINE_HELLO_BAD) return -EPROTO;
    if (kind == BQ_LINE_HELLO) return hello(c, &line);
    c->pstate = P_NONE;
  } else {
    kind = bq_proto_classify(BQ_PROTO_MESSAGES, data, len, &line);
  }
  assert(kind == BQ_LINE_MSG);
  if (c->pstate != P_NONE) return producer_line(b, line.arg, line.len);
  return build_add(b, line.arg, line.len, 0);
}

/* The syslog framer's callback: a message (whole or cut to --max-message)
 * becomes a record flagged for the store to parse; the first frame is the
 * AUTH line when a token is required. */
static int on_sysframe(void *arg, int kind, const char *data, size_t len) {
  struct build *b = arg;
  struct bq_conn *c = b->c;

  if (kind == BQ_SYSFRAME_BAD) {
    b->bad = 1;
    return 0;
  }
  if (!c->authed)
    return kind == BQ_SYSFRAME_MSG ? authenticate(c, data, len) : -EACCES;
  if (kind == BQ_SYSFRAME_TRUNCATED) {
    b->truncated++;
    return build_add(b, data, len, BQ_REC_F_SYSLOG | BQ_REC_F_TRUNCATED);
  }
  return build_add(b, data, len, BQ_REC_F_SYSLOG);
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

/* ---- TLS ------------------------------------------------------------------ */

/* The handshake list: connections of tls listeners whose handshake is in
 * progress, in accept order (so the oldest deadline is at the head). */
static void hs_enter(struct bq_conn *c) {
  struct bq_server *srv = c->srv;
  assert(!c->on_hs_list);
  c->on_hs_list = 1;
  c->hs_start_ms = bq_now_ms();
  c->hs_prev = srv->hs_tail;
  c->hs_next = NULL;
  if (srv->hs_tail) srv->hs_tail->hs_next = c;
  else srv->hs_head = c;
  srv->hs_tail = c;
  srv->tls_handshaking++;
}

static void hs_leave(struct bq_conn *c) {
  struct bq_server *srv = c->srv;
  if (!c->on_hs_list) return;
  c->on_hs_list = 0;
  if (c->hs_prev) c->hs_prev->hs_next = c->hs_next;
  else srv->hs_head = c->hs_next;
  if (c->hs_next) c->hs_next->hs_prev = c->hs_prev;
  else srv->hs_tail = c->hs_prev;
  c->hs_prev = c->hs_next = NULL;
  assert(srv->tls_handshaking > 0);
  srv->tls_handshaking--;
}

/* Write the ciphertext the engine holds for c, if any, from c->tout.
 * Returns 1 when a write started, 0 when there was nothing to write, -1
 * when c was closed instead. */
static int tls_send(struct bq_conn *c) {
  size_t n = bq_tls_pending_out(c->tls);
  uv_buf_t buf;
  if (n == 0) return 0;
  if (n > TLS_OUT_MAX) {
    bq_log_warn(c->srv->log,
                "conn %" PRId64 " (%s): %zu bytes of TLS output owed to a "
                "peer that does not read them; closing it",
                c->id, c->peer, n);
    c->srv->st.conn_errors++;
    drop_partial(c, "TLS output not read");
    bq_conn_abort(c);
    return -1;
  }
  if (n > c->tout_cap) {
    char *p = realloc(c->tout, n);
    if (p == NULL) {
      bq_log_error(c->srv->log, "conn %" PRId64 " (%s): out of memory for "
                   "TLS output; closing it", c->id, c->peer);
      bq_conn_abort(c);
      return -1;
    }
    c->tout = p;
    c->tout_cap = n;
  }
  n = bq_tls_take_out(c->tls, c->tout, n);
  buf = uv_buf_init(c->tout, (unsigned)n);
  if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1, on_write) != 0) {
    bq_conn_abort(c);
    return -1;
  }
  c->writing = 1;
  return 1;
}

/* refuse.h for a TLS connection about to be closed: line (an ERR line, or
 * NULL) and close_notify once the handshake is done, or whatever the
 * engine holds (a failed handshake's alert), in one best-effort write,
 * then FIN.  Nothing when a write is in flight.  The caller closes. */
static void tls_refuse(struct bq_conn *c, const char *line, size_t len) {
  size_t n = 0;
  char *out = c->srv->plainbuf;
  if (!c->writing && !c->closing) {
    if (c->tls_done && !c->tls_shut) {
      if (line != NULL) (void)bq_tls_write(c->tls, line, len);
      c->tls_shut = 1;
      bq_tls_shutdown(c->tls);
    }
    n = bq_tls_take_out(c->tls, out, sizeof(c->srv->plainbuf));
  }
  bq_refuse_line(&c->tcp, n > 0 ? out : NULL, n);
}

/* Plaintext sent to a tls listener (plain_to_tls), or a TLS ClientHello
 * to a plaintext one: counted, logged, closed without a reply (neither
 * side would understand the other's). */
static void wrong_protocol(struct bq_conn *c, int plain_to_tls) {
  struct bq_server *srv = c->srv;
  uint64_t supp, n;
  if (plain_to_tls) n = ++srv->st.tls_plaintext_refused;
  else n = ++srv->st.tls_on_plain_refused;
  if (bq_ratelimit_allow(plain_to_tls ? &srv->plain_on_tls_rl
                                       : &srv->tls_on_plain_rl,
                         bq_now_ms(), &supp)) {
    if (plain_to_tls)
      bq_log_warn(srv->log,
                  "conn %" PRId64 " (%s): refused: plaintext sent to the "
                  "TLS listener %s (the client must use TLS); %" PRIu64
                  " refused in all",
                  c->id, c->peer, c->listener->name, n);
    else
      bq_log_warn(srv->log,
                  "conn %" PRId64 " (%s): refused: a TLS ClientHello sent to "
                  "the plaintext listener %s (TLS needs --listen "
                  "HOST:PORT,tls); %" PRIu64 " refused in all",
                  c->id, c->peer, c->listener->name, n);
  }
  stop_reading(c);
  bq_refuse_line(&c->tcp, NULL, 0);
  bq_conn_abort(c);
}

/* The handshake failed (why: OpenSSL's reason, or ours): counted, logged
 * with the peer, the alert sent as best it can be, closed. */
static void handshake_failed(struct bq_conn *c, const char *why) {
  struct bq_server *srv = c->srv;
  static const char dup[] = "TLS handshake failed: ";
  uint64_t supp;
  if (strncmp(why, dup, sizeof(dup) - 1) == 0) why += sizeof(dup) - 1;
  srv->st.tls_handshake_failures++;
  if (bq_ratelimit_allow(&srv->tls_rl, bq_now_ms(), &supp))
    bq_log_warn(srv->log,
                "conn %" PRId64 " (%s): TLS handshake failed on %s: %s; "
                "%" PRIu64 " failed in all",
                c->id, c->peer, c->listener->name, why,
                srv->st.tls_handshake_failures);
  stop_reading(c);
  tls_refuse(c, NULL, 0);
  bq_conn_abort(c);
}

/* The handshake was not done in time: counted and closed. */
static void handshake_timeout(struct bq_conn *c, uint64_t limit_ms) {
  struct bq_server *srv = c->srv;
  uint64_t supp;
  srv->st.tls_handshake_timeouts++;
  if (bq_ratelimit_allow(&srv->tls_rl, bq_now_ms(), &supp))
    bq_log_warn(srv->log,
                "conn %" PRId64 " (%s): TLS handshake not done within %"
                PRIu64 " ms on %s; closing it (%" PRIu64 " timed out in all)",
                c->id, c->peer, limit_ms, c->listener->name,
                srv->st.tls_handshake_timeouts);
  stop_reading(c);
  tls_refuse(c, NULL, 0);
  bq_conn_abort(c);
}

/* The handshake is done: the connection's life as a plaintext one's
 * begins (its OPEN record now, with the certificate's subject, unless an
 * AUTH line must come first). */
static void handshake_done(struct bq_conn *c) {
  char subject[256];
  c->tls_done = 1;
  hs_leave(c);
  c->srv->st.tls_handshakes++;
  if (c->authed) record_open(c);
  if (c->srv->log->level >= BQ_LOG_DEBUG) {
    bq_tls_peer_subject(c->tls, subject, sizeof(subject));
    bq_log_debug(c->srv->log, "conn %" PRId64 " (%s): TLS handshake done%s%s",
                 c->id, c->peer, subject[0] ? "; client " : "", subject);
  }
}

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
  if (c->ending || c->closing || (c->writing && c->tls == NULL)) {
    say_and_close(c, BQ_ERR_AUTH);
    return;
  }
  if (c->tls != NULL) {
    /* The line goes through the engine (after a write in flight, if any);
     * flush sends it, then close_notify and FIN: rejected, all is done. */
    c->rejected = 1;
    line = bq_proto_err_line(BQ_ERR_AUTH, &len);
    if (bq_tls_write(c->tls, line, len) < 0) {
      bq_conn_abort(c);
      return;
    }
    bq_conn_flush(c);
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

/* The framer stopped at a line on_frame refused (r): a bad HELLO ends c
 * with "ERR hello", a producer's line over --max-message with "ERR
 * too-long" (after what came before it is committed and acked).  Returns 1
 * when r was one of those, else 0. */
static int line_refused(struct bq_conn *c, int r) {
  struct bq_server *srv = c->srv;
  uint64_t supp;
  if (is_syslog(c) || (r != -EPROTO && r != -EMSGSIZE)) return 0;
  if (r == -EPROTO) {
    srv->st.bad_hellos++;
    c->pstate = P_NONE;
  } else {
    srv->st.rejected++;
  }
  if (bq_ratelimit_allow(&srv->prod_rl, bq_now_ms(), &supp))
    bq_log_info(srv->log,
                "conn %" PRId64 " (%s): %s; ending the connection",
                c->id, c->peer,
                r == -EPROTO ? "a first line of invalid HELLO syntax"
                             : "a producer's line over --max-message");
  c->final_err = (r == -EPROTO ? BQ_ERR_HELLO : BQ_ERR_TOO_LONG) + 1;
  stop_reading(c);
  bq_conn_flush(c);
  return 1;
}

/* Frame len bytes of c's input (plaintext).  Returns 0, or -1 when c was
 * rejected or closed instead: feed it nothing more. */
static int frame_input(struct bq_conn *c, const char *data, size_t len) {
  struct build b;
  int r;
  build_init(&b, c);
  if (is_syslog(c))
    r = bq_sysframer_feed(&c->sysframer, data, len, on_sysframe, &b);
  else
    r = bq_framer_feed(&c->framer, data, len, on_frame, &b);
  build_push(&b);
  if (r == -EACCES) {
    auth_failed(c, "wrong AUTH line");
    return -1;
  }
  if (line_refused(c, r)) return -1;
  if (c->held_bytes >= HELD_MAX) stop_reading(c); /* until the RESUME */
  if (b.bad) {
    framing_error(c);
    return -1;
  }
  if (r < 0) {
    bq_log_error(c->srv->log,
                 "conn %" PRId64 " (%s): out of memory framing; closing it",
                 c->id, c->peer);
    bq_conn_abort(c);
    return -1;
  }
  return 0;
}

/* The peer finished sending.  finish: an unterminated last line (or
 * octet-counted frame) is finished as a message, as after a FIN; else it
 * is dropped (TLS input that ended without close_notify may have been
 * cut short by someone else).  Then what is owed is written and c ends
 * once all of it is committed. */
static void end_of_input(struct bq_conn *c, int finish) {
  struct build b;
  int r = 0;
  build_init(&b, c);
  if (finish && c->pstate >= P_WAIT && c->pstate <= P_LIVE)
    /* A producer's line counts only whole: one cut short by a killed
     * sender would otherwise take its number, and the resend skip it. */
    drop_partial(c, "a producer's unterminated last line");
  else if (!finish)
    drop_partial(c, "TLS input ended without close_notify");
  else if (is_syslog(c))
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
  if (line_refused(c, r)) return;
  bq_log_debug(c->srv->log, "conn %" PRId64 " (%s): end of input after %"
               PRId64 " messages", c->id, c->peer, c->seq);
  if (r < 0) {
    bq_conn_abort(c);
    return;
  }
  bq_conn_flush(c);
}

/* Decrypt everything c's engine can yield now and frame it.  Returns 0,
 * or -1 when c was closed (or rejected) instead. */
static int tls_drain(struct bq_conn *c) {
  struct bq_server *srv = c->srv;
  for (;;) {
    int n = bq_tls_read(c->tls, srv->plainbuf, sizeof(srv->plainbuf));
    /* Before its first plaintext: the OPEN record precedes messages. */
    if (!c->tls_done && bq_tls_handshake_done(c->tls)) handshake_done(c);
    if (n > 0) {
      if (frame_input(c, srv->plainbuf, (size_t)n) < 0) return -1;
      continue;
    }
    if (n == 0) return 0;
    if (n == BQ_TLS_EOF) {
      c->tls_eof = 1;
      return 0;
    }
    if (n == -ENOMEM) {
      bq_log_error(srv->log, "conn %" PRId64 " (%s): out of memory in TLS; "
                   "closing it", c->id, c->peer);
      bq_conn_abort(c);
      return -1;
    }
    if (!c->tls_done) {
      handshake_failed(c, bq_tls_error(c->tls));
      return -1;
    }
    /* A bad record after the handshake: like a reset, what was framed is
     * kept and a partial line is not a message. */
    bq_log_info(srv->log, "conn %" PRId64 " (%s): TLS error: %s; closing it",
                c->id, c->peer, bq_tls_error(c->tls));
    srv->st.conn_errors++;
    drop_partial(c, "TLS error");
    stop_reading(c);
    tls_refuse(c, NULL, 0);
    bq_conn_abort(c);
    return -1;
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct bq_conn *c = bq_container_of(s, struct bq_conn, tcp);

  if (nread == 0) return;
  /* Only a FIN finishes an unterminated last line; a reset drops it. */
  if (nread == UV_EOF && input_reset(c)) nread = UV_ECONNRESET;
  if (nread > 0) {
    idle_touch(c, bq_now_ms());
    if (!c->tls_seen) {
      /* The first bytes tell whether the peer speaks the listener's
       * protocol: a TLS ClientHello or not (3 bytes suffice). */
      c->tls_seen = 1;
      if (c->tls != NULL && nread >= 3 &&
          !bq_tls_looks_like_hello(buf->base, (size_t)nread)) {
        wrong_protocol(c, 1);
        return;
      }
      if (c->tls == NULL &&
          bq_tls_looks_like_hello(buf->base, (size_t)nread)) {
        wrong_protocol(c, 0);
        return;
      }
    }
    if (c->tls == NULL) {
      (void)frame_input(c, buf->base, (size_t)nread);
      return;
    }
    if (bq_tls_feed(c->tls, buf->base, (size_t)nread) < 0) {
      bq_log_error(c->srv->log, "conn %" PRId64 " (%s): out of memory in "
                   "TLS; closing it", c->id, c->peer);
      bq_conn_abort(c);
      return;
    }
    if (tls_drain(c) < 0) return;
    if (c->tls_eof) {
      end_of_input(c, 1);
      return;
    }
    bq_conn_flush(c); /* the handshake's records, acks */
    return;
  }
  if (nread == UV_EOF) {
    if (c->tls != NULL && !c->tls_done) {
      if (c->tls_seen)
        handshake_failed(c, "the peer closed the connection during the "
                            "handshake");
      else
        bq_conn_abort(c); /* connected and left: a port probe */
      return;
    }
    end_of_input(c, c->tls == NULL);
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
  if (c->tout_cap > TLS_OUT_KEEP) { /* a handshake's flight, say */
    free(c->tout);
    c->tout = NULL;
    c->tout_cap = 0;
  }
  bq_conn_flush(c);
}

/* 1 when nothing more will be framed for c and all of it is durable. */
static int all_done(const struct bq_conn *c) {
  if (c->srv->state >= BQ_CLOSING || c->rejected) return 1;
  if (c->pstate == P_WAIT || c->pstate == P_HELLO) return 0; /* no RESUME */
  if (c->final_err) return c->committed == c->seq;
  return c->eof && c->committed == c->seq;
}

/* An OK covering message acked + 1 (read at c->unacked_ts_us, on the wall
 * clock like every ts_us) is about to be written: record the delay. */
static void ack_delay(struct bq_conn *c) {
  int64_t now;
  if (c->unacked_ts_us == 0) return; /* no message in it (OK 0) */
  if (c->srv->waits) {
    now = bq_unix_us();
    bq_prom_hist_observe(&c->srv->waits->ack_delay,
                         now > c->unacked_ts_us
                             ? (uint64_t)(now - c->unacked_ts_us)
                             : 0);
  }
  c->unacked_ts_us = 0;
}

/* What c is owed, written into c->wbuf (*np bytes): owed errors, then
 * the ack.  Returns 1 when this is all c will ever be owed (then, once it
 * is written, c ends). */
static int compose(struct bq_conn *c, size_t *np) {
  const struct bq_config *cfg = c->srv->cfg;
  size_t n = 0, elen;
  const char *eline = bq_proto_err_line(BQ_ERR_TOO_LONG, &elen);
  int done;

  *np = 0;
  if (is_syslog(c)) return all_done(c); /* nothing is ever written */
  /* A producer's first reply is its RESUME: nothing before it. */
  if (c->pstate == P_WAIT || c->pstate == P_HELLO) return all_done(c);
  if (c->resume_owed) {
    n = bq_proto_format_resume(c->wbuf, sizeof(c->wbuf), (uint64_t)c->base);
    assert(n > 0);
    c->resume_owed = 0;
  }
  /* Owed errors first, leaving room for the ack and a last ERR. */
  while (c->err_pending > 0 && n + elen + BQ_PROTO_OK_MAX +
                                       BQ_PROTO_GAP_MAX <= sizeof(c->wbuf)) {
    memcpy(c->wbuf + n, eline, elen);
    n += elen;
    c->err_pending--;
  }
  done = c->err_pending == 0 && all_done(c);
  /* The final ack repeats nothing: it is owed only if it says something
   * new, or if the connection had no ack at all (then it is "OK 0", or a
   * producer's "OK n"); a connection refused with a last ERR gets only
   * news.  A producer's acks count in its numbering: base + committed. */
  if (cfg->ack && c->authed &&
      (c->committed > c->acked ||
       (done && !c->final_sent && c->acked == 0 && !c->final_err))) {
    size_t w = bq_proto_format_ok(c->wbuf + n, sizeof(c->wbuf) - n,
                                  (uint64_t)(c->base + c->committed));
    assert(w > 0);
    n += w;
    c->acked = c->committed;
    c->srv->st.acks++;
    ack_delay(c);
    if (done) c->final_sent = 1;
  }
  if (done && c->final_err) {
    size_t w;
    if (c->final_err == BQ_ERR_GAP + 1) {
      w = bq_proto_format_gap(c->wbuf + n, sizeof(c->wbuf) - n,
                              (uint64_t)c->base);
    } else {
      const char *line =
          bq_proto_err_line((enum bq_proto_err)(c->final_err - 1), &w);
      assert(n + w <= sizeof(c->wbuf));
      memcpy(c->wbuf + n, line, w);
    }
    assert(w > 0);
    n += w;
    c->final_err = 0;
    c->final_sent = 1;
    c->rejected = 1; /* said: nothing more, then close */
  }
  *np = n;
  return done;
}

/* bq_conn_flush for a TLS connection: the plaintext through the engine,
 * close_notify after the last of it, then the ciphertext out. */
static void tls_flush(struct bq_conn *c) {
  size_t n;
  int done;
  if (!c->tls_done) {
    /* Only the handshake's records go out before it is done; shutdown
     * does not wait for it. */
    if (c->srv->state >= BQ_CLOSING) {
      bq_conn_abort(c);
      return;
    }
    (void)tls_send(c);
    return;
  }
  done = compose(c, &n);
  if (n > 0 && bq_tls_write(c->tls, c->wbuf, n) < 0) {
    bq_log_debug(c->srv->log, "conn %" PRId64 " (%s): TLS write failed: %s",
                 c->id, c->peer, bq_tls_error(c->tls));
    c->srv->st.conn_errors++;
    drop_partial(c, "TLS write failed");
    bq_conn_abort(c);
    return;
  }
  if (done && !c->tls_shut) {
    c->tls_shut = 1;
    bq_tls_shutdown(c->tls);
  }
  if (tls_send(c) != 0) return; /* writing, or closed */
  if (done) begin_end(c);
}

void bq_conn_flush(struct bq_conn *c) {
  size_t n;
  int done;
  uv_buf_t buf;

  if (c->writing || c->ending || c->closing) return;
  if (c->tls != NULL) {
    tls_flush(c);
    return;
  }
  /* Each compose is written straight into the socket when it takes all
   * of it (the common case: a few bytes into an empty send buffer), which
   * spares the request, its callback on the next loop iteration and
   * libuv's epoll_ctl when it stops watching for POLLOUT; then what is
   * still owed (errors that did not fit) is composed at once, as on_write
   * would have.  Whatever the socket did not take, and any error, go
   * through uv_write, whose callback reports them. */
  for (;;) {
    int w;
    done = compose(c, &n);
    if (n == 0) break;
    buf = uv_buf_init(c->wbuf, (unsigned)n);
    w = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
    if (w == (int)n) continue;
    if (w > 0) buf = uv_buf_init(c->wbuf + w, (unsigned)(n - (size_t)w));
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
  /* Completions of c come in its order, so the first with a message after
   * an OK holds message acked + 1, the oldest the next OK covers. */
  if (c->unacked_ts_us == 0 && e->first_ts_us != 0)
    c->unacked_ts_us = e->first_ts_us;
  c->srv->st.committed += e->nmsg;
  if (e->producer != 0) hello_done(c, e->producer, e->hello_n);
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
  if (c->pstate == P_FENCED && c->prod != NULL && c->inflight == 0) {
    fence_done(c); /* flushes */
    return;
  }
  bq_conn_flush(c);
}

void bq_conn_pause(struct bq_conn *c) { stop_reading(c); }

void bq_conn_resume(struct bq_conn *c) {
  if (c->reading || c->eof || c->ending || c->closing) return;
  /* A producer's connection ending, fenced, or holding enough. */
  if (c->final_err || c->rejected || c->pstate == P_FENCED ||
      c->held_bytes >= HELD_MAX)
    return;
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
  held_free(c); /* never queued: the producer resends them */
  record_close(c, now_us);
}

void bq_conn_finish(struct bq_conn *c) {
  if (c->ending || c->closing) return;
  bq_conn_flush(c);
}

/* c closes: its held lines go; as its id's latest connection it drains
 * (a newer HELLO waits for its records) or, with nothing in flight,
 * detaches.  A fenced or draining one stays counted until it is freed. */
static void producer_closed(struct bq_conn *c) {
  struct bq_producer *p = c->prod;
  held_free(c);
  if (p == NULL || c->pdraining) return;
  if (p->cur == c && c->inflight > 0) {
    p->cur = NULL;
    p->draining++;
    c->pdraining = 1;
    return;
  }
  detach(c);
}

static void close_now(struct bq_conn *c) {
  if (c->closing) return;
  c->closing = 1;
  producer_closed(c);
  stop_reading(c);
  unlink_conn(c);
  idle_unlink(c);
  hs_leave(c);
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
  /* Its engine (and context reference) is not needed while records
   * still name it. */
  bq_tls_free(c->tls);
  c->tls = NULL;
  if (c->inflight == 0 && !c->touched) free_conn(c);
}

static void on_refused_close(uv_handle_t *h) {
  struct bq_conn *c = bq_container_of(h, struct bq_conn, tcp);
  struct bq_server *srv = c->srv;
  bq_tls_free(c->tls);
  free(c);
  srv->nalive--;
  bq_server_conn_freed(srv);
}

/* Tell a connection why it is being closed (one ERR line, refuse.h), then
 * half-close it; the caller closes.  A write already in flight means the
 * line is not sent: it must not land in the middle of an ack. */
static void refuse_with(struct bq_conn *c, const char *line, size_t len) {
  bq_refuse_line(&c->tcp, c->writing ? NULL : line, len);
}

/* An open connection: its ERR line (none on a syslog listener), then close
 * it now (any partial line is dropped; its CLOSE record is queued if it was
 * recorded as open). */
static void say_and_close(struct bq_conn *c, enum bq_proto_err e) {
  size_t len;
  const char *line;
  if (c->closing) return;
  line = is_syslog(c) ? NULL : bq_proto_err_line(e, &len);
  if (c->tls != NULL)
    tls_refuse(c, line, line != NULL ? len : 0);
  else if (line != NULL)
    refuse_with(c, line, len);
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
    if (c->tls != NULL && !c->tls_done) { /* --idle-timeout bounds it */
      handshake_timeout(c, limit);
      continue;
    }
    if (c->eof || c->inflight > 0 || c->committed < c->seq ||
        c->pstate == P_WAIT || c->final_err) {
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

void bq_conn_sweep_handshakes(struct bq_server *srv, uint64_t now_ms) {
  uint64_t limit = BQ_TLS_HANDSHAKE_MS;
  if (srv->cfg->idle_timeout > 0 &&
      (uint64_t)srv->cfg->idle_timeout * 1000 < limit)
    limit = (uint64_t)srv->cfg->idle_timeout * 1000;
  /* In accept order: the first one not yet due ends the sweep. */
  while (srv->hs_head != NULL && now_ms - srv->hs_head->hs_start_ms >= limit)
    handshake_timeout(srv->hs_head, limit);
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
  uint64_t supp;
  if (c->listener->tls) {
    /* Handshakes cost CPU: at most --tls-max-handshakes at once. */
    if (srv->tls_handshaking >= srv->cfg->tls_handshakes_max) {
      srv->st.tls_handshake_limited++;
      if (bq_ratelimit_allow(&srv->tls_limit_rl, bq_now_ms(), &supp))
        bq_log_warn(srv->log,
                    "refused a TLS connection from %s to %s: %zu handshakes "
                    "in progress (--tls-max-handshakes); %" PRIu64
                    " refused in all",
                    c->peer, c->listener->name, srv->tls_handshaking,
                    srv->st.tls_handshake_limited);
      bq_conn_refuse(c, BQ_CONN_SILENT);
      return;
    }
    if (bq_tls_new(&c->tls, srv->tls_ctx) < 0) {
      bq_log_error(srv->log, "out of memory starting TLS for %s", c->peer);
      bq_conn_refuse(c, BQ_CONN_SILENT);
      return;
    }
  }
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
   * line passed (on_frame); on a tls listener not before the handshake is
   * done (handshake_done). */
  c->authed = srv->auth == NULL;
  if (!is_syslog(c) && srv->cfg->producers) c->pstate = P_EXPECT;
  if (c->tls != NULL)
    hs_enter(c);
  else if (c->authed)
    record_open(c);
  if (!srv->paused) bq_conn_resume(c);
}
