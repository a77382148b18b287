/*
 * bench.c -- burstq bench: a load generator on libuv that counts what the
 * daemon *committed* (its "OK n" acks), measures ack latency, and can prove
 * with --db that every message is in the database once, in order.
 *
 * Design: one loop thread owns everything: the bench context, C
 * connections (struct bconn, each with one uv_tcp_t, one write in flight at
 * a time from its own buffer of many lines, and a ring of write batches for
 * latency), and one timer (pacing, --duration, --timeout, progress line).
 * A connection sends its share, half-closes, and is done at the daemon's
 * EOF after the final ack.  Paced (--rate), the load is a batch every
 * BQ_PACE_NS (1 ms) on a fixed grid from t0 (pace.h).  A connection writes
 * on the pacer's tick, everything due by then in one write, and again at
 * once when a write completes only if that write could not hold all that
 * was due (the sender is behind): at most one write per connection per
 * tick while it keeps up, whatever the rate, so that the client's own
 * system calls stay few beside the daemon's.  On Linux the pacer is a
 * timerfd armed on the grid itself (absolute CLOCK_MONOTONIC, the clock of
 * uv_hrtime), watched by a uv_poll_t; elsewhere a uv_timer (ms resolution,
 * up to a tick late) paces.  The uv_timer also runs --duration, --timeout
 * and the progress line.  Ack latency of a message = time of the first
 * "OK n" covering it minus the time it was handed to uv_write or, paced,
 * its grid point if that is earlier (so a late tick or a stall counts, the
 * pacer's own 1 ms batching does not); it is recorded in a log-bucketed
 * histogram (common/hist.h).
 * Handles are closed through uv_close; the connection array is freed once
 * the loop has run dry, i.e. after every close callback.
 *
 * With a token (--token-file, session.h) each connection first writes the
 * line "AUTH <token>" from the options (its own uv_write_t, areq; libuv
 * keeps writes in order), which is never counted as a message.
 *
 * With --producers each connection is a producer of its own,
 * bench-RUN-CONN (benchmsg.h): "HELLO <id> 1" follows the AUTH line (its
 * own uv_write_t, hreq), and the messages follow at once without waiting
 * for RESUME (the daemon holds them until it has answered).  A fresh id
 * must get "RESUME 0"; its acks then count its messages as without it.
 *
 * With --tls each connection has an engine (common/tls.h, set up through
 * session.h): the handshake starts at connect, the AUTH line and the
 * messages go into the engine once it is done, and every piece of
 * ciphertext it makes goes out as its own uv_write from a buffer of its
 * own (struct twrite, freed by its callback).  The batch's write (one at
 * a time, as without TLS) is the one that carries its ciphertext; a
 * handshake that fails before any reply counts as a connect error with
 * the engine's reason.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#ifdef __linux__
#include <sys/timerfd.h>
#include <time.h>
#endif
#include <unistd.h>
#include <uv.h>

#include "addr.h"
#include "benchmsg.h"
#include "commands.h"
#include "dbcheck.h"
#include "frame.h"
#include "hist.h"
#include "log.h"
#include "opts.h"
#include "pace.h"
#include "proto.h"
#include "rlimit.h"
#include "session.h"
#include "token.h"
#include "verdict.h"

#define WBUF_BYTES (256u * 1024u) /* one write: ~2500 lines of 100 bytes */
#define TICK_PACED_MS 1 /* the uv_timer's period where it paces */
#define TICK_IDLE_MS 100
#define PROGRESS_NS 500000000ull

static const char bench_help[] =
    "usage: burstq bench [-H HOST:PORT] [-c CONNS] [-n TOTAL] [-s SIZE]\n"
    "                    [--rate MSGS/S | --burst K --pause-ms P]\n"
    "                    [--duration S] [--db PATH] [--json] [--timeout S]\n"
    "                    [--token-file FILE] [--producers]\n"
    "                    [--tls [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]]\n"
    "       burstq bench --check-only --run-id HEX -c CONNS -n TOTAL -s SIZE\n"
    "                    --db PATH [--producers]\n"
    "\n"
    "Open CONNS connections to burstqd and send TOTAL messages of SIZE bytes\n"
    "between them, as fast as the daemon takes them (or paced), then wait\n"
    "for every final \"OK n\".  Each message carries its run id, connection\n"
    "and sequence number (\"bq:RUN:CONN:SEQ:xxx...\").  The report gives\n"
    "msgs/s and MB/s (payload bytes, 10^6) for sending (handed to the\n"
    "kernel) and for committing (acked by the daemon), ack latency\n"
    "percentiles, errors, and whether sent == committed.  On a terminal a\n"
    "progress line shows sent, acked, rate and messages in flight.\n"
    "\n"
    "Ack latency is the time from handing a message to the socket to the\n"
    "first \"OK n\" that covers it.  With --rate the load is a batch of\n"
    "rate/1000 messages every millisecond, on a fixed grid from the start,\n"
    "and latency counts from the batch's grid time, so a late tick or a\n"
    "stall cannot hide.  Unpaced, it is mostly time spent queued: use\n"
    "--rate for the latency at a given load.\n"
    "\n"
    "Options:\n"
    "  -H, --host HOST:PORT  the daemon  [$BURSTQ_HOST, else 127.0.0.1:7070]\n"
    "  -c, --conns N         parallel connections  [4]\n"
    "  -n, --messages N      messages in all (k, M, G suffixes: 2M)  [100k]\n"
    "  -s, --size BYTES      payload bytes per message, at least the header\n"
    "                        (about 20)  [100]\n"
    "  -r, --rate N          messages per second in all, spread over the\n"
    "                        connections (latency at a given load)  [as fast\n"
    "                        as possible]\n"
    "      --burst K         each connection sends K messages at once ...\n"
    "      --pause-ms P      ... then pauses P ms, and again (bursty load)\n"
    "  -d, --duration S      stop sending after S seconds (with -n: whichever\n"
    "                        comes first; alone: no message limit)\n"
    "      --db PATH         afterwards, read the daemon's database and check\n"
    "                        that every message of this run is there exactly\n"
    "                        once and in order per connection; report\n"
    "                        missing ranges, duplicates and misordered rows\n"
    "      --json            also print the report as one JSON object on the\n"
    "                        last line (the report includes this client's\n"
    "                        own CPU time as a share of one core, and how\n"
    "                        long it was runnable without a core)\n"
    "  -t, --timeout S       give up when nothing moves for S seconds  [60]\n"
    "      --sink            the peer is not burstqd but a sink such as\n"
    "                        `nc -l 7070 >/dev/null`: measure only this\n"
    "                        client's sending rate, expect no acks\n"
    "      --run-id HEX      use this run id (8 hex digits) instead of a\n"
    "                        random one\n"
    "      --check-only      send nothing: check --db for run --run-id, as\n"
    "                        sent with the same -c, -n and -s\n"
    "  -T, --token-file FILE the daemon wants \"AUTH <token>\" first (its\n"
    "                        --auth-token-file): send the first line of FILE\n"
    "                        as the token on every connection; it is not a\n"
    "                        message and is never printed; keep FILE mode 600\n"
    "                        [$BURSTQ_TOKEN_FILE, else no token]\n"
    "      --producers       each connection is an exactly-once producer:\n"
    "                        \"HELLO bench-RUN-CONN 1\" first (a fresh id, so\n"
    "                        RESUME 0); with --db, also check that each row\n"
    "                        has its producer and pseq, once\n"
    BQ_SESSION_TLS_HELP
    "  -h, --help            show this help\n"
    "\n"
    "Examples:\n"
    "  burstq bench -c 4 -n 2M -s 100               peak committed rate\n"
    "  burstq bench -c 64 -n 1M --db burstq.db      64 conns, then check rows\n"
    "  burstq bench -c 4 --rate 200k -d 10          latency at 200k msgs/s\n"
    "  burstq bench -c 16 --burst 5000 --pause-ms 200 -d 30\n"
    "                                               bursty producers\n"
    "  burstq bench -T /etc/burstq/token -n 1M --db burstq.db\n"
    "                                               a daemon with a token\n"
    "  burstq bench --tls --tls-ca ca.pem -H localhost:7443 -c 4 -n 1M\n"
    "                                               over TLS\n"
    "  nc -l 7070 >/dev/null & burstq bench --sink -c 1 -n 5M\n"
    "                                               this client's own speed\n"
    "\n"
    "Exit status: 0 all committed (and, with --db, all checked); 1 sent !=\n"
    "committed, rejected lines, or the database check failed; 2 usage\n"
    "(also an unreadable --tls-* file); 3 cannot connect (also a failed TLS\n"
    "handshake, with the reason); 4 refused by the daemon (ERR too-many-connections,\n"
    "ERR denied, ERR auth: no or wrong --token-file, ERR idle); 5 timeout;\n"
    "6 connection lost.\n";

/* One uv_write's messages, first_seq..last_seq, handed to uv_write at
 * t_ns.  Message seq's latency starts at t_ns or, paced, at its grid point
 * (pace_tick_of) if that is earlier. */
struct batch {
  uint64_t first_seq, last_seq;
  uint64_t t_ns;
};

struct bench;

struct bconn {
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t wreq;
  uv_shutdown_t sreq;
  uv_write_t areq; /* the AUTH line */
  uv_write_t hreq; /* the HELLO line (--producers) */
  char hello[BQ_PROTO_HELLO_LINE_MAX];
  size_t hello_len;
  struct bench *b;
  uint32_t id;          /* 1.. */
  uint64_t target;      /* messages to send (UINT64_MAX: until --duration) */
  uint64_t next_seq;    /* next message to generate */
  uint64_t sent;        /* messages whose write completed */
  uint64_t acked;       /* newest OK n */
  uint64_t lat_done;    /* messages whose latency is recorded */
  uint64_t rejected;    /* its lines the daemon rejected (ERR too-long) */
  uint64_t wmsgs;       /* messages in the write in flight */
  uint64_t burst_left;  /* of the current burst */
  uint64_t burst_at_ns; /* next burst starts */
  struct batch *ring;
  size_t rcap, rhead, rlen;
  char *wbuf;
  size_t wcap;
  int connected, writing, shut, done, closing, write_failed;
  int behind;           /* paced: the last write held less than was due */
  int any_reply;        /* a reply line came */
  int resumed;          /* --producers: RESUME came */
  struct bq_tls *tls;   /* --tls, else NULL */
  struct bq_framer framer;
  char rbuf[16384];
};

/* One piece of TLS ciphertext on its way (data: it carries the batch the
 * connection's on_write completes). */
struct twrite {
  uv_write_t req;
  struct bconn *c;
  int data;
  char buf[];
};

struct bench_opts {
  struct sockaddr_storage addr;
  char where[BQ_ADDR_STRLEN];
  uint32_t conns;
  uint64_t messages; /* UINT64_MAX: no limit (--duration) */
  size_t size;
  uint64_t rate;     /* 0: unpaced */
  uint64_t burst;    /* 0: no bursts */
  uint64_t pause_ms;
  double duration;   /* 0: none */
  double timeout;    /* 0: none */
  const char *db;
  int json, sink, check_only, have_run, producers;
  uint32_t run;
  const char *token_file; /* NULL: no token */
  struct bq_token token;  /* "AUTH <token>\n" when token.len > 0 */
  struct bq_session_tls tls;
  struct bq_tls_ctx *tls_ctx; /* --tls, else NULL */
};

struct bench {
  struct bench_opts o;
  uv_loop_t loop;
  uv_timer_t tick;
  uv_poll_t pace;  /* Linux, --rate: the grid timerfd pace_fd */
  int pace_fd;     /* -1: none (the uv_timer paces) */
  struct bconn *c;
  struct bq_hist lat;
  uint64_t t0, t_sent, t_committed, last_activity, last_progress;
  uint64_t progress_acked; /* acked at the last progress line */
  uint64_t sent, acked, bytes_sent;
  uint32_t ndone, nconnected, nsent_all;
  uint64_t connect_errors, lost;
  struct bq_session_replies replies; /* of all connections */
  int stop, timed_out, progress, tick_closing, pace_closing;
  char reason[400];
};

/* ---- connections ------------------------------------------------------- */

static void on_conn_closed(uv_handle_t *h) {
  struct bconn *c = h->data;
  if (c->tls != NULL) bq_tls_free(c->tls);
  c->tls = NULL;
  bq_framer_free(&c->framer);
  free(c->wbuf);
  free(c->ring);
  c->wbuf = NULL;
  c->ring = NULL;
}

/* The timerfd is closed once libuv no longer watches it. */
static void on_pace_closed(uv_handle_t *h) {
  struct bench *b = h->data;
  close(b->pace_fd);
  b->pace_fd = -1;
}

static void all_done_check(struct bench *b) {
  if (b->ndone < b->o.conns) return;
  if (b->t_committed == 0) b->t_committed = uv_hrtime();
  if (!b->tick_closing) {
    b->tick_closing = 1;
    uv_timer_stop(&b->tick);
    uv_close((uv_handle_t *)&b->tick, NULL);
  }
  if (b->pace_fd >= 0 && !b->pace_closing) {
    b->pace_closing = 1;
    uv_poll_stop(&b->pace);
    uv_close((uv_handle_t *)&b->pace, on_pace_closed);
  }
}

/* Finish c (once): close its handle; lost = it ended before its final ack. */
static void conn_finish(struct bconn *c, int lost) {
  struct bench *b = c->b;
  if (c->done) return;
  c->done = 1;
  if (lost) b->lost++;
  b->ndone++;
  if (!c->closing) {
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
  }
  all_done_check(b);
}

static int ring_push(struct bconn *c, const struct batch *bt) {
  if (c->rlen == c->rcap) {
    size_t ncap = c->rcap ? c->rcap * 2 : 64, i;
    struct batch *nr = malloc(ncap * sizeof(*nr));
    if (nr == NULL) return -ENOMEM;
    for (i = 0; i < c->rlen; i++) nr[i] = c->ring[(c->rhead + i) % c->rcap];
    free(c->ring);
    c->ring = nr;
    c->rcap = ncap;
    c->rhead = 0;
  }
  c->ring[(c->rhead + c->rlen) % c->rcap] = *bt;
  c->rlen++;
  return 0;
}

/* Messages 1..n of c are committed: record the latency of the new ones. */
static void acked_upto(struct bconn *c, uint64_t n, uint64_t now) {
  struct bench *b = c->b;
  if (n <= c->acked) return;
  b->acked += n - c->acked;
  c->acked = n;
  b->last_activity = now;
  while (c->rlen > 0 && c->lat_done < n) {
    struct batch *bt = &c->ring[c->rhead];
    uint64_t upto = bt->last_seq < n ? bt->last_seq : n;
    if (upto > c->lat_done && b->o.rate == 0) {
      /* unpaced: one start time for the whole batch, one add */
      bq_hist_add(&b->lat, now > bt->t_ns ? now - bt->t_ns : 0,
                  upto - c->lat_done);
      c->lat_done = upto;
    }
    while (c->lat_done < upto) { /* paced: one add per grid point */
      uint64_t k = bq_pace_tick_of(b->o.rate, b->o.conns, c->lat_done + 1);
      uint64_t last = bq_pace_due(b->o.rate, b->o.conns, k); /* k's last */
      uint64_t t0 = b->t0 + k * BQ_PACE_NS;
      if (last > upto) last = upto;
      if (t0 > bt->t_ns) t0 = bt->t_ns;
      bq_hist_add(&b->lat, now > t0 ? now - t0 : 0, last - c->lat_done);
      c->lat_done = last;
    }
    if (upto == bt->last_seq) {
      c->rhead = (c->rhead + 1) % c->rcap;
      c->rlen--;
    }
  }
}

static int on_reply(void *arg, int kind, const char *data, size_t len) {
  struct bconn *c = arg;
  struct bench *b = c->b;
  uint64_t n;
  c->any_reply = 1;
  switch (bq_session_reply(&b->replies, kind, data, len, &n)) {
    case BQ_SESSION_ACK:
      acked_upto(c, n, uv_hrtime());
      break;
    case BQ_SESSION_REJECTED:
      c->rejected++;
      break;
    case BQ_SESSION_RESUME:
      /* A fresh producer has nothing committed; anything else (a second
       * RESUME, one without --producers, n > 0) is not what we sent. */
      if (b->o.producers && !c->resumed && n == 0) {
        c->resumed = 1;
        break;
      }
      if (b->replies.bad++ == 0)
        snprintf(b->reason, sizeof(b->reason), "unexpected reply 'RESUME %"
                 PRIu64 "'", n);
      break;
    case BQ_SESSION_REFUSED:
      if (b->replies.refused == 1)
        snprintf(b->reason, sizeof(b->reason), "%s", b->replies.refusal_text);
      /* Refused (ERR auth, ERR too-many-connections, ...): the daemon
       * discards anything more, so stop here rather than send the rest
       * into its discard (closing cancels a write in flight). */
      conn_finish(c, 0);
      break;
    default:
      if (b->replies.bad == 1 && kind == BQ_FRAME_MSG)
        snprintf(b->reason, sizeof(b->reason), "unexpected reply '%.60s'",
                 b->replies.bad_text);
      break;
  }
  return 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  struct bconn *c = h->data;
  (void)hint;
  buf->base = c->rbuf;
  buf->len = sizeof(c->rbuf);
}

static void tls_input(struct bconn *c, const char *data, size_t len);

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct bconn *c = s->data;
  if (nread > 0 && c->tls != NULL) {
    tls_input(c, buf->base, (size_t)nread);
    return;
  }
  if (nread > 0) {
    bq_framer_feed(&c->framer, buf->base, (size_t)nread, on_reply, c);
    return;
  }
  if (nread == 0) return;
  if (c->tls != NULL && !c->any_reply && !bq_tls_handshake_done(c->tls)) {
    /* Closed during the handshake: a connect error, with the reason. */
    struct bench *b = c->b;
    char why[256];
    bq_session_tls_reason(c->tls, 0, 0, b->o.tls.cert != NULL, why,
                          sizeof(why));
    if (b->connect_errors++ == 0)
      snprintf(b->reason, sizeof(b->reason), "cannot connect to %s: %s",
               b->o.where, why);
    conn_finish(c, 0);
    return;
  }
  if (nread == UV_EOF) bq_framer_finish(&c->framer, on_reply, c);
  /* The daemon closed: done, and lost unless all was sent and answered
   * (acked, or rejected as too long; more acks than messages is not a
   * loss: the verdict and the AUTH-line warning deal with it). */
  if (!c->any_reply && c->tls == NULL && c->sent > 0 &&
      c->b->reason[0] == '\0')
    /* A TLS listener closes on plaintext without a reply. */
    snprintf(c->b->reason, sizeof(c->b->reason),
             "%s closed a connection without any reply (if it is a "
             "--listen ...,tls listener, use --tls)", c->b->o.where);
  conn_finish(c, !(nread == UV_EOF && c->shut &&
                   c->acked + c->rejected >= c->sent &&
                   c->sent == c->next_seq - 1));
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  struct bconn *c = req->data;
  if (c->b->o.sink) {
    conn_finish(c, status < 0 && status != UV_ECANCELED);
    return;
  }
  /* Wait for the final ack (or the reason of a failure) and the daemon's
   * EOF, or a read error, in on_read. */
}

static void pump(struct bconn *c);

static void batch_written(struct bconn *c, int status) {
  struct bench *b = c->b;
  uint64_t now = uv_hrtime();
  c->writing = 0;
  if (status < 0) {
    /* The daemon went away or refused us: keep reading, its reason (an
     * ERR line) may still be on the way; the read side ends the conn. */
    c->write_failed = 1;
    return;
  }
  c->sent += c->wmsgs;
  b->sent += c->wmsgs;
  b->bytes_sent += c->wmsgs * b->o.size;
  b->last_activity = now;
  if (b->o.burst) {
    c->burst_left -= c->wmsgs;
    if (c->burst_left == 0) c->burst_at_ns = now + b->o.pause_ms * 1000000ull;
  }
  c->wmsgs = 0;
  /* Paced and caught up: the next write waits for the tick. */
  if (b->o.rate && !c->behind) return;
  pump(c);
}

static void on_write(uv_write_t *req, int status) {
  batch_written(req->data, status);
}

static void on_twrite(uv_write_t *req, int status) {
  struct twrite *w = req->data;
  struct bconn *c = w->c;
  int data = w->data;
  free(w);
  if (data)
    batch_written(c, status);
  else if (status < 0)
    c->write_failed = 1; /* the read side ends the conn */
}

/* --tls: send what the engine has made, as one write (data: it carries
 * the batch in flight).  Returns 0 or a negative libuv error. */
static int tls_flush(struct bconn *c, int data) {
  size_t n = bq_tls_pending_out(c->tls);
  struct twrite *w;
  uv_buf_t buf;
  int r;
  if (n == 0 && !data) return 0;
  w = malloc(sizeof(*w) + (n ? n : 1));
  if (w == NULL) return UV_ENOMEM;
  w->c = c;
  w->data = data;
  w->req.data = w;
  n = bq_tls_take_out(c->tls, w->buf, n);
  buf = uv_buf_init(w->buf, (unsigned)n);
  r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_twrite);
  if (r < 0) free(w);
  return r;
}

/* Messages c may generate now under --rate / --burst / --duration. */
static uint64_t allowance(struct bconn *c, uint64_t now) {
  struct bench *b = c->b;
  uint64_t generated = c->next_seq - 1;
  uint64_t left = c->target - generated;
  if (b->stop) return 0;
  if (b->o.rate) {
    uint64_t due =
        bq_pace_due(b->o.rate, b->o.conns, (now - b->t0) / BQ_PACE_NS);
    uint64_t a = due > generated ? due - generated : 0;
    if (a < left) left = a;
  }
  if (b->o.burst) {
    if (c->burst_left == 0) {
      if (now < c->burst_at_ns) return 0;
      c->burst_left = b->o.burst;
    }
    if (c->burst_left < left) left = c->burst_left;
  }
  return left;
}

/* Send what c may send now, or half-close when it has sent everything. */
static void pump(struct bconn *c) {
  struct bench *b = c->b;
  uint64_t now, n, cap;
  struct batch bt;
  uv_buf_t buf;
  int r;
  if (c->writing || c->shut || c->done || !c->connected || c->write_failed)
    return;
  if (c->tls != NULL && !bq_tls_handshake_done(c->tls)) return;
  if (b->stop || c->next_seq - 1 == c->target) {
    c->shut = 1;
    if (++b->nsent_all == b->o.conns) b->t_sent = uv_hrtime();
    if (c->tls != NULL) { /* close_notify, then the TCP half-close */
      bq_tls_shutdown(c->tls);
      if (tls_flush(c, 0) < 0) {
        c->write_failed = 1;
        return;
      }
    }
    r = uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown);
    if (r < 0) c->write_failed = 1; /* the read side ends the conn */
    return;
  }
  now = uv_hrtime();
  n = allowance(c, now);
  if (n == 0) return; /* the timer will call again */
  cap = c->wcap / (b->o.size + 1);
  c->behind = n > cap;
  if (n > cap) n = cap;
  bt.first_seq = c->next_seq;
  bt.last_seq = c->next_seq + n - 1;
  bt.t_ns = now;
  bq_benchmsg_format_run(c->wbuf, b->o.size, b->o.run, c->id, c->next_seq,
                         (size_t)n);
  c->next_seq += n;
  c->wmsgs = n;
  if (!b->o.sink && ring_push(c, &bt) < 0) {
    fprintf(stderr, "burstq bench: out of memory\n");
    abort();
  }
  buf = uv_buf_init(c->wbuf, (unsigned)(n * (b->o.size + 1)));
  c->writing = 1;
  if (c->tls != NULL) {
    r = bq_tls_write(c->tls, buf.base, buf.len);
    if (r >= 0) r = tls_flush(c, 1);
  } else {
    r = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
  }
  if (r < 0) {
    c->writing = 0;
    c->write_failed = 1; /* the read side ends the conn */
  }
}

static void on_auth_write(uv_write_t *req, int status) {
  struct bconn *c = req->data;
  /* Like on_write: the read side ends the conn with the daemon's reason. */
  if (status < 0) c->write_failed = 1;
}

static void on_connect(uv_connect_t *req, int status) {
  struct bconn *c = req->data;
  struct bench *b = c->b;
  if (status < 0) {
    if (status == UV_ECANCELED) return;
    if (b->connect_errors++ == 0)
      snprintf(b->reason, sizeof(b->reason), "cannot connect to %s: %s",
               b->o.where, uv_strerror(status));
    conn_finish(c, 0);
    return;
  }
  c->connected = 1;
  b->nconnected++;
  b->last_activity = uv_hrtime();
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (c->tls != NULL) { /* the ClientHello; the rest once it is done */
    if (bq_tls_connect(c->tls) < 0 || tls_flush(c, 0) < 0)
      c->write_failed = 1; /* the read side ends the conn */
    return;
  }
  if (b->o.token.len > 0) {
    uv_buf_t buf = uv_buf_init(b->o.token.line, (unsigned)b->o.token.len);
    if (uv_write(&c->areq, (uv_stream_t *)&c->tcp, &buf, 1,
                 on_auth_write) < 0) {
      c->write_failed = 1; /* the read side ends the conn */
      return;
    }
  }
  if (c->hello_len > 0) {
    uv_buf_t buf = uv_buf_init(c->hello, (unsigned)c->hello_len);
    if (uv_write(&c->hreq, (uv_stream_t *)&c->tcp, &buf, 1,
                 on_auth_write) < 0) {
      c->write_failed = 1; /* the read side ends the conn */
      return;
    }
  }
  pump(c);
}

/* --tls: the handshake is done: the AUTH line, then the messages. */
static void tls_ready(struct bconn *c) {
  struct bench *b = c->b;
  if (b->o.token.len > 0 &&
      bq_tls_write(c->tls, b->o.token.line, b->o.token.len) < 0)
    c->write_failed = 1;
  if (c->hello_len > 0 && bq_tls_write(c->tls, c->hello, c->hello_len) < 0)
    c->write_failed = 1;
  pump(c);
}

/* --tls: ciphertext from the daemon. */
static void tls_input(struct bconn *c, const char *data, size_t len) {
  struct bench *b = c->b;
  int was_done = bq_tls_handshake_done(c->tls);
  int r = bq_session_tls_input(c->tls, data, len, &c->framer, on_reply, c);
  char why[256];
  if (c->done) return; /* refused while reading (on_reply) */
  if (r < 0) {
    bq_session_tls_reason(c->tls, r, was_done, b->o.tls.cert != NULL, why,
                          sizeof(why));
    if (!c->any_reply) { /* refused before any answer: cannot connect */
      if (b->connect_errors++ == 0)
        snprintf(b->reason, sizeof(b->reason), "cannot connect to %s: %s",
                 b->o.where, why);
      /* Our alert, if any, goes out before the close (best effort). */
      (void)tls_flush(c, 0);
      conn_finish(c, 0);
    } else {
      if (b->reason[0] == '\0')
        snprintf(b->reason, sizeof(b->reason), "%s: %s", b->o.where, why);
      conn_finish(c, 1);
    }
    return;
  }
  if (tls_flush(c, 0) < 0) c->write_failed = 1;
  if (r == BQ_SESSION_TLS_CLOSED) {
    /* The daemon's close_notify: the end, as an EOF. */
    conn_finish(c, !(c->shut && c->acked + c->rejected >= c->sent &&
                     c->sent == c->next_seq - 1));
    return;
  }
  if (!was_done && bq_tls_handshake_done(c->tls)) tls_ready(c);
}

/* ---- the timer: pacing, duration, timeout, progress ------------------- */

static void fmt_count(char *out, size_t n, double v) {
  if (v >= 1e9) snprintf(out, n, "%.2fG", v / 1e9);
  else if (v >= 1e6) snprintf(out, n, "%.2fM", v / 1e6);
  else if (v >= 1e4) snprintf(out, n, "%.1fk", v / 1e3);
  else snprintf(out, n, "%.0f", v);
}

/* One progress line (terminals only): elapsed time, sent, acked, the
 * committed rate over the last interval, messages in flight. */
static void show_progress(struct bench *b, uint64_t now) {
  static const char *const spin = "|/-\\";
  char s[16], a[16], r[16], f[16];
  double el = (double)(now - b->t0) / 1e9;
  double dt = (double)(now - b->last_progress) / 1e9;
  fmt_count(s, sizeof(s), (double)b->sent);
  fmt_count(a, sizeof(a), (double)b->acked);
  fmt_count(r, sizeof(r),
            dt > 0 ? (double)(b->acked - b->progress_acked) / dt : 0);
  fmt_count(f, sizeof(f),
            (double)(b->sent - (b->acked < b->sent ? b->acked : b->sent)));
  printf("\r%c %5.1fs  sent %-8s acked %-8s %s msgs/s  in flight %-8s "
         "conns %u/%u \033[K",
         spin[(now / PROGRESS_NS) % 4], el, s, a, r, f, b->nconnected,
         b->o.conns);
  fflush(stdout);
  b->progress_acked = b->acked;
  b->last_progress = now;
}

/* --duration: stop generating once it has passed. */
static void duration_check(struct bench *b, uint64_t now) {
  if (b->o.duration > 0 && !b->stop &&
      (double)(now - b->t0) / 1e9 >= b->o.duration)
    b->stop = 1;
}

static void on_tick(uv_timer_t *t) {
  struct bench *b = t->data;
  uint64_t now = uv_hrtime();
  uint32_t i;
  duration_check(b, now);
  if (b->o.timeout > 0 &&
      (double)(now - b->last_activity) / 1e9 >= b->o.timeout) {
    b->timed_out = 1;
    for (i = 0; i < b->o.conns; i++) conn_finish(&b->c[i], 0);
    return;
  }
  for (i = 0; i < b->o.conns; i++) pump(&b->c[i]);
  if (b->progress && now - b->last_progress >= PROGRESS_NS)
    show_progress(b, now);
}

#ifdef __linux__
/* The grid timerfd fired (once or more: what is due is computed from the
 * clock, not counted): every connection sends what is due. */
static void on_pace(uv_poll_t *h, int status, int events) {
  struct bench *b = h->data;
  uint64_t expirations;
  ssize_t n;
  uint32_t i;
  (void)events;
  if (status < 0) { /* the uv_timer paces from now on, ms late */
    uv_poll_stop(h);
    if (!b->tick_closing)
      uv_timer_start(&b->tick, on_tick, TICK_PACED_MS, TICK_PACED_MS);
    return;
  }
  n = read(b->pace_fd, &expirations, sizeof(expirations)); /* re-arm */
  (void)n;
  duration_check(b, uv_hrtime());
  for (i = 0; i < b->o.conns; i++) pump(&b->c[i]);
}

/* Arm the grid timerfd at t0 + k * BQ_PACE_NS, k = 1, 2, ...  Returns 0, or
 * -1 (no timerfd: the uv_timer paces). */
static int pace_start(struct bench *b) {
  struct itimerspec its;
  uint64_t first = b->t0 + BQ_PACE_NS;
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) return -1;
  memset(&its, 0, sizeof(its));
  its.it_value.tv_sec = (time_t)(first / 1000000000ull);
  its.it_value.tv_nsec = (long)(first % 1000000000ull);
  its.it_interval.tv_nsec = (long)BQ_PACE_NS;
  if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) < 0 ||
      uv_poll_init(&b->loop, &b->pace, fd) < 0) {
    close(fd);
    return -1;
  }
  b->pace.data = b;
  b->pace_fd = fd;
  uv_poll_start(&b->pace, UV_READABLE, on_pace);
  return 0;
}
#else
static int pace_start(struct bench *b) {
  (void)b;
  return -1;
}
#endif

/* ---- options ----------------------------------------------------------- */

enum {
  OPT_BURST = 256,
  OPT_PAUSE,
  OPT_DB,
  OPT_JSON,
  OPT_SINK,
  OPT_RUNID,
  OPT_CHECK,
  OPT_PRODUCERS
};

static int usage_err(const char *msg) {
  fprintf(stderr, "burstq bench: %s\nTry 'burstq help bench'.\n", msg);
  return BQ_EXIT_USAGE;
}

/* Parse argv into *o.  Returns -1 to go on, else an exit status. */
static int parse_opts(struct bench_opts *o, int argc, char **argv) {
  static const struct option longopts[] = {
      {"host", required_argument, NULL, 'H'},
      {"conns", required_argument, NULL, 'c'},
      {"messages", required_argument, NULL, 'n'},
      {"size", required_argument, NULL, 's'},
      {"rate", required_argument, NULL, 'r'},
      {"burst", required_argument, NULL, OPT_BURST},
      {"pause-ms", required_argument, NULL, OPT_PAUSE},
      {"duration", required_argument, NULL, 'd'},
      {"timeout", required_argument, NULL, 't'},
      {"db", required_argument, NULL, OPT_DB},
      {"json", no_argument, NULL, OPT_JSON},
      {"sink", no_argument, NULL, OPT_SINK},
      {"run-id", required_argument, NULL, OPT_RUNID},
      {"check-only", no_argument, NULL, OPT_CHECK},
      {"producers", no_argument, NULL, OPT_PRODUCERS},
      {"token-file", required_argument, NULL, 'T'},
      {"help", no_argument, NULL, 'h'},
      BQ_SESSION_TLS_LONGOPTS,
      {NULL, 0, NULL, 0}};
  const char *host = NULL;
  char err[256];
  uint64_t v;
  int opt, have_n = 0, have_pause = 0, r;

  memset(o, 0, sizeof(*o));
  o->conns = 4;
  o->messages = 100000;
  o->size = 100;
  o->timeout = 60;
  optind = 0;
  opterr = 0;
  while ((opt = getopt_long(argc, argv, "H:c:n:s:r:d:t:T:h", longopts, NULL)) !=
         -1) {
    if (bq_session_tls_opt(&o->tls, opt, optarg)) continue;
    switch (opt) {
      case 'H': host = optarg; break;
      case 'c':
        if (bq_opt_count("conns", optarg, 1, 10000, &v, err, sizeof(err)) < 0)
          return usage_err(err);
        o->conns = (uint32_t)v;
        break;
      case 'n':
        if (bq_opt_count("messages", optarg, 1, UINT64_C(1) << 40, &v, err,
                         sizeof(err)) < 0)
          return usage_err(err);
        o->messages = v;
        have_n = 1;
        break;
      case 's':
        if (bq_opt_size("size", optarg, 1, 64u << 20, &v, err,
                         sizeof(err)) < 0)
          return usage_err(err);
        o->size = (size_t)v;
        break;
      case 'r':
        if (bq_opt_count("rate", optarg, 1, UINT64_C(1) << 40, &o->rate, err,
                         sizeof(err)) < 0)
          return usage_err(err);
        break;
      case OPT_BURST:
        if (bq_opt_count("burst", optarg, 1, UINT64_C(1) << 32, &o->burst,
                         err, sizeof(err)) < 0)
          return usage_err(err);
        break;
      case OPT_PAUSE:
        if (bq_opt_count("pause-ms", optarg, 0, 3600000, &o->pause_ms, err,
                         sizeof(err)) < 0)
          return usage_err(err);
        have_pause = 1;
        break;
      case 'd':
        if (bq_opt_seconds("duration", optarg, 86400.0, &o->duration, err,
                           sizeof(err)) < 0)
          return usage_err(err);
        break;
      case 't':
        if (strcmp(optarg, "0") == 0) o->timeout = 0;
        else if (bq_opt_seconds("timeout", optarg, 86400.0, &o->timeout, err,
                                sizeof(err)) < 0)
          return usage_err(err);
        break;
      case OPT_DB: o->db = optarg; break;
      case 'T': o->token_file = optarg; break;
      case OPT_JSON: o->json = 1; break;
      case OPT_SINK: o->sink = 1; break;
      case OPT_CHECK: o->check_only = 1; break;
      case OPT_PRODUCERS: o->producers = 1; break;
      case OPT_RUNID: {
        char *end;
        unsigned long x;
        errno = 0;
        x = strtoul(optarg, &end, 16);
        if (errno || *end || end == optarg || strlen(optarg) > 8)
          return usage_err("--run-id: expected up to 8 hex digits");
        o->run = (uint32_t)x;
        o->have_run = 1;
        break;
      }
      case 'h':
        fputs(bench_help, stdout);
        return BQ_EXIT_OK;
      default:
        if (optopt >= BQ_SESSION_OPT_TLS_CA)
          snprintf(err, sizeof(err), "%s needs a value", argv[optind - 1]);
        else if (optopt && optopt < 256 && strchr("HcnsrdtT", optopt))
          snprintf(err, sizeof(err), "-%c needs a value", optopt);
        else
          snprintf(err, sizeof(err), "unknown option '%s'", argv[optind - 1]);
        return usage_err(err);
    }
  }
  if (optind < argc) {
    snprintf(err, sizeof(err), "unexpected argument '%s'", argv[optind]);
    return usage_err(err);
  }
  if (o->rate && o->burst)
    return usage_err("--rate and --burst do not combine: choose one load shape");
  if (o->burst && !have_pause)
    return usage_err("--burst K needs --pause-ms P");
  if (have_pause && !o->burst)
    return usage_err("--pause-ms P needs --burst K");
  if (o->sink && o->producers)
    return usage_err("--sink and --producers do not combine (a sink "
                     "answers no HELLO)");
  if (o->sink && o->db)
    return usage_err("--sink and --db do not combine (a sink stores nothing)");
  if (o->check_only && (!o->db || !o->have_run))
    return usage_err("--check-only needs --db PATH and --run-id HEX");
  if (o->check_only && o->duration > 0)
    return usage_err("--check-only cannot know what --duration sent");
  if (bq_session_tls_check(&o->tls, host, err, sizeof(err)) < 0)
    return usage_err(err);
  if (o->tls.on && o->sink)
    return usage_err("--sink and --tls do not combine (a sink does not "
                     "speak TLS)");
  if (o->duration > 0 && !have_n) o->messages = UINT64_MAX;
  if (o->messages != UINT64_MAX && o->messages < o->conns) {
    snprintf(err, sizeof(err),
             "-n %" PRIu64 " is fewer messages than -c %u connections",
             o->messages, o->conns);
    return usage_err(err);
  }
  {
    uint64_t per = o->messages == UINT64_MAX
                       ? UINT64_C(999999999999)
                       : o->messages / o->conns + 1;
    size_t need = bq_benchmsg_header_len(o->conns, per);
    if (o->size < need) {
      snprintf(err, sizeof(err),
               "-s %zu is too small: messages carry \"bq:RUN:CONN:SEQ:\", "
               "%zu bytes here",
               o->size, need);
      return usage_err(err);
    }
  }
  r = bq_opt_host(host, &o->addr, err, sizeof(err));
  if (r < 0) {
    fprintf(stderr, "burstq bench: %s\n", err);
    return r == -ENOENT ? BQ_EXIT_CONNECT : BQ_EXIT_USAGE;
  }
  bq_addr_format((struct sockaddr *)&o->addr, o->where, sizeof(o->where));
  o->token_file = bq_token_path(o->token_file);
  if (!o->check_only &&
      bq_session_load_token("bench", o->token_file, &o->token) < 0)
    return BQ_EXIT_USAGE;
  if (!o->check_only && o->tls.on &&
      bq_session_tls_ctx("bench", &o->tls, &o->tls_ctx) < 0) {
    bq_token_clear(&o->token);
    return BQ_EXIT_USAGE;
  }
  if (!o->have_run)
    o->run = (uint32_t)((uint64_t)bq_unix_us() * 2654435761u) ^
             (uint32_t)getpid() * 40503u;
  return -1;
}

/* ---- report ------------------------------------------------------------ */

static double rate_of(uint64_t n, uint64_t ns) {
  return ns ? (double)n * 1e9 / (double)ns : 0.0;
}

static double tv_s(const struct timeval *tv) {
  return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* Seconds this (single-threaded) process has been runnable without a core:
 * the second field of /proc/self/schedstat (Linux, with schedstats), or -1
 * where it cannot be read. */
static double run_delay_s(void) {
  unsigned long long on_cpu, delay;
  FILE *f = fopen("/proc/self/schedstat", "r");
  int n;
  if (f == NULL) return -1.0;
  n = fscanf(f, "%llu %llu", &on_cpu, &delay);
  fclose(f);
  return n == 2 ? (double)delay / 1e9 : -1.0;
}

int bq_cmd_bench(int argc, char **argv) {
  struct bench *b;
  struct bq_dbcheck chk;
  struct bq_bench_outcome vo;
  uint64_t *sent_per = NULL, committed = 0, t_end;
  double send_s = 0, commit_s = 0;
  /* our own CPU over the run (getrusage): user, system, share of wall */
  struct rusage ru0, ru1;
  double cpu_user = 0, cpu_sys = 0, cpu_share = 0, delay0 = -1, delay = -1;
  char err[256], pm[64] = "";
  int r, status = BQ_EXIT_OK, checked = 0;
  uint32_t i, auth_stored = 0;
  const double ms = 1e6;

  memset(&vo, 0, sizeof(vo));
  b = calloc(1, sizeof(*b));
  if (b == NULL) return BQ_EXIT_USAGE;
  r = parse_opts(&b->o, argc, argv);
  if (r >= 0) {
    free(b);
    return r;
  }
  sent_per = calloc(b->o.conns, sizeof(*sent_per));
  if (sent_per == NULL) {
    free(b);
    return BQ_EXIT_USAGE;
  }

  if (b->o.check_only) {
    for (i = 0; i < b->o.conns; i++)
      sent_per[i] = b->o.messages / b->o.conns + (i < b->o.messages % b->o.conns);
    goto check;
  }

  {
    /* Many connections need descriptors: raise the soft limit as far as
     * the hard one allows, and say so if it still falls short. */
    rlim_t was, now;
    if (bq_nofile_raise((rlim_t)b->o.conns + BQ_NOFILE_RESERVE, &was,
                        &now) == 0 &&
        !bq_nofile_fits(b->o.conns, now))
      fprintf(stderr,
              "burstq bench: warning: -c %u exceeds the open-file limit "
              "%llu (raise it with ulimit -n); connections past it will "
              "fail\n",
              b->o.conns, (unsigned long long)now);
  }
  /* libuv writes with write(2): a daemon that resets the connection must
   * give EPIPE (a lost connection, exit 6, with the report), not kill us. */
  signal(SIGPIPE, SIG_IGN);
  bq_hist_init(&b->lat);
  b->pace_fd = -1;
  uv_loop_init(&b->loop);
  uv_timer_init(&b->loop, &b->tick);
  b->tick.data = b;
  b->progress = !b->o.json && isatty(1);
  b->c = calloc(b->o.conns, sizeof(*b->c));
  if (b->c == NULL) {
    fprintf(stderr, "burstq bench: out of memory\n");
    return BQ_EXIT_USAGE;
  }
  getrusage(RUSAGE_SELF, &ru0);
  delay0 = run_delay_s();
  b->t0 = b->last_activity = b->last_progress = uv_hrtime();
  for (i = 0; i < b->o.conns; i++) {
    struct bconn *c = &b->c[i];
    c->b = b;
    c->id = i + 1;
    c->next_seq = 1;
    c->target = b->o.messages == UINT64_MAX
                    ? UINT64_MAX
                    : b->o.messages / b->o.conns + (i < b->o.messages % b->o.conns);
    c->wcap = WBUF_BYTES > b->o.size + 1 ? WBUF_BYTES : b->o.size + 1;
    c->wbuf = malloc(c->wcap);
    if (c->wbuf == NULL) {
      fprintf(stderr, "burstq bench: out of memory\n");
      abort();
    }
    bq_framer_init(&c->framer, 1024);
    if (b->o.tls_ctx != NULL && bq_tls_new(&c->tls, b->o.tls_ctx) < 0) {
      fprintf(stderr, "burstq bench: out of memory\n");
      abort();
    }
    uv_tcp_init(&b->loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    c->wreq.data = c;
    c->areq.data = c;
    c->hreq.data = c;
    if (b->o.producers) {
      char id[BQ_BENCHMSG_PRODUCER_MAX];
      bq_benchmsg_producer(id, b->o.run, c->id);
      c->hello_len = bq_proto_format_hello(c->hello, sizeof(c->hello), id,
                                           strlen(id), 1);
    }
    c->sreq.data = c;
    r = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&b->o.addr,
                       on_connect);
    if (r < 0) {
      if (b->connect_errors++ == 0)
        snprintf(b->reason, sizeof(b->reason), "cannot connect to %s: %s",
                 b->o.where, uv_strerror(r));
      conn_finish(c, 0);
    }
  }
  /* Paced, the first tick must come as soon as the others: messages fall
   * due from t0, and any not sent by then wait for a tick (a first tick at
   * 100 ms once put up to 100 ms into the latency of every run's first
   * 100 ms of messages). */
  if (!b->tick_closing) {
    uint64_t tick_ms = (b->o.rate || b->o.burst) ? TICK_PACED_MS : TICK_IDLE_MS;
    if (b->o.rate && pace_start(b) == 0) tick_ms = TICK_IDLE_MS;
    uv_timer_start(&b->tick, on_tick, tick_ms, tick_ms);
  }
  uv_run(&b->loop, UV_RUN_DEFAULT);
  uv_loop_close(&b->loop);
  t_end = uv_hrtime();
  getrusage(RUSAGE_SELF, &ru1);
  delay = run_delay_s();
  delay = delay0 >= 0 && delay >= delay0 ? delay - delay0 : -1;
  cpu_user = tv_s(&ru1.ru_utime) - tv_s(&ru0.ru_utime);
  cpu_sys = tv_s(&ru1.ru_stime) - tv_s(&ru0.ru_stime);
  cpu_share = t_end > b->t0 ? (cpu_user + cpu_sys) / ((double)(t_end - b->t0) / 1e9)
                           : 0.0;
  if (b->progress) {
    printf("\r\033[K");
    fflush(stdout);
  }
  for (i = 0; i < b->o.conns; i++) {
    sent_per[i] = b->c[i].sent;
    committed += b->c[i].acked;
    /* One ack more than sent: the daemon runs without --auth-token-file
     * and stored the AUTH line as a message. */
    if (b->o.token.len > 0 && b->c[i].acked > b->c[i].sent) auth_stored++;
  }
  if (auth_stored > 0)
    bq_session_auth_stored("bench", b->o.where, auth_stored);
  free(b->c);
  if (b->t_sent == 0) b->t_sent = t_end;
  if (b->t_committed == 0) b->t_committed = t_end;
  send_s = (double)(b->t_sent - b->t0) / 1e9;
  commit_s = (double)(b->t_committed - b->t0) / 1e9;

  printf("burstq bench: run %08x, %u connection%s to %s, %zu-byte messages%s%s\n",
         b->o.run, b->o.conns, b->o.conns == 1 ? "" : "s", b->o.where,
         b->o.size, b->o.sink ? " (sink: no acks expected)" : "",
         b->o.producers ? " (producers: HELLO on each)" : "");
  if (b->o.rate) printf("load: paced at %" PRIu64 " msgs/s\n", b->o.rate);
  if (b->o.burst)
    printf("load: bursts of %" PRIu64 " per connection, %" PRIu64
           " ms pauses\n", b->o.burst, b->o.pause_ms);
  printf("sent       %12" PRIu64 " msgs in %8.3f s: %10.0f msgs/s %8.1f MB/s\n",
         b->sent, send_s, rate_of(b->sent, b->t_sent - b->t0),
         rate_of(b->bytes_sent, b->t_sent - b->t0) / 1e6);
  if (!b->o.sink) {
    printf("committed  %12" PRIu64 " msgs in %8.3f s: %10.0f msgs/s %8.1f MB/s\n",
           committed, commit_s, rate_of(committed, b->t_committed - b->t0),
           rate_of(committed * b->o.size, b->t_committed - b->t0) / 1e6);
    printf("ack latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f"
           "  (%" PRIu64 " msgs)\n",
           (double)bq_hist_quantile(&b->lat, 0.5) / ms,
           (double)bq_hist_quantile(&b->lat, 0.9) / ms,
           (double)bq_hist_quantile(&b->lat, 0.99) / ms,
           (double)bq_hist_quantile(&b->lat, 0.999) / ms,
           (double)b->lat.max / ms, b->lat.count);
  }
  printf("client cpu: user %.3f s, sys %.3f s: %.0f%% of one core over "
         "the run",
         cpu_user, cpu_sys, 100.0 * cpu_share);
  if (delay >= 0) printf("; runnable without a core %.3f s", delay);
  printf("\n");
  if (!b->o.sink && !b->o.rate && !b->o.burst)
    printf("(unpaced: latency is mostly queueing; --rate measures it at a "
           "set load)\n");
  printf("errors: %" PRIu64 " (connect %" PRIu64 ", refused %" PRIu64
         ", rejected lines %" PRIu64 ", lost connections %" PRIu64
         ", bad replies %" PRIu64 ", timeout %d)%s%s\n",
         b->connect_errors + b->replies.refused + b->replies.rejected +
             b->lost + b->replies.bad + (uint64_t)b->timed_out,
         b->connect_errors, b->replies.refused, b->replies.rejected, b->lost,
         b->replies.bad,
         b->timed_out, b->reason[0] ? ": " : "", b->reason);
  if (!b->o.sink)
    printf("sent == committed: %s\n",
           b->sent == committed ? "yes" : "NO");

  vo.sent = b->sent;
  vo.committed = committed;
  vo.rejected = b->replies.rejected;
  vo.connect_errors = b->connect_errors;
  vo.refused = b->replies.refused;
  vo.lost = b->lost;
  vo.bad_replies = b->replies.bad;
  vo.timed_out = b->timed_out;
  vo.sink = b->o.sink;

check:
  if (b->o.db) {
    r = (b->o.producers ? bq_dbcheck_producer_run : bq_dbcheck_run)(
        b->o.db, b->o.run, b->o.conns, sent_per, b->o.size, &chk, err,
        sizeof(err));
    vo.db_checked = 1;
    if (b->o.producers)
      snprintf(pm, sizeof(pm), ", producer/pseq mismatch %" PRIu64,
               r < 0 ? 0 : chk.producer_mismatch);
    if (r < 0) {
      fprintf(stderr, "burstq bench: cannot check the database: %s\n", err);
    } else {
      checked = 1;
      printf("db check (%s): %s: %" PRIu64 " of %" PRIu64
             " messages found; missing %" PRIu64 ", duplicated %" PRIu64
             ", misordered %" PRIu64 ", split %" PRIu64 ", seq mismatch %"
             PRIu64 ", foreign %" PRIu64 "%s%s%s\n",
             b->o.db, chk.ok ? "ok" : "FAILED", chk.rows, chk.expected,
             chk.missing, chk.duplicates, chk.misordered, chk.split,
             chk.seq_mismatch, chk.foreign, pm, chk.gaps[0] ? "; missing: " : "",
             chk.gaps);
      vo.db_ok = chk.ok;
    }
  }
  status = bq_bench_verdict(&vo);
  if (status == BQ_EXIT_REFUSED && b->replies.refusal == BQ_ERR_AUTH)
    bq_session_auth_failed("bench", b->o.where, b->o.token_file != NULL);
  else if (status == BQ_EXIT_CONNECT && b->reason[0])
    fprintf(stderr, "burstq bench: %s\n", b->reason);

  if (b->o.json) {
    printf("{\"run\":\"%08x\",\"host\":\"%s\",\"conns\":%u,\"size\":%zu,"
           "\"producers\":%s,",
           b->o.run, b->o.where, b->o.conns, b->o.size,
           b->o.producers ? "true" : "false");
    if (!b->o.check_only) {
      printf("\"rate\":%" PRIu64 ",\"burst\":%" PRIu64 ",\"pause_ms\":%" PRIu64
             ",\"sink\":%s,\"sent\":%" PRIu64 ",\"committed\":%" PRIu64
             ",\"send_s\":%.6f,\"send_msgs_per_s\":%.0f,\"send_mb_per_s\":%.3f,"
             "\"commit_s\":%.6f,\"commit_msgs_per_s\":%.0f,"
             "\"commit_mb_per_s\":%.3f,",
             b->o.rate, b->o.burst, b->o.pause_ms, b->o.sink ? "true" : "false",
             b->sent, committed, send_s, rate_of(b->sent, b->t_sent - b->t0),
             rate_of(b->bytes_sent, b->t_sent - b->t0) / 1e6, commit_s,
             rate_of(committed, b->t_committed - b->t0),
             rate_of(committed * b->o.size, b->t_committed - b->t0) / 1e6);
      printf("\"latency_ms\":{\"count\":%" PRIu64 ",\"p50\":%.3f,\"p90\":%.3f,"
             "\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,\"mean\":%.3f},",
             b->lat.count, (double)bq_hist_quantile(&b->lat, 0.5) / ms,
             (double)bq_hist_quantile(&b->lat, 0.9) / ms,
             (double)bq_hist_quantile(&b->lat, 0.99) / ms,
             (double)bq_hist_quantile(&b->lat, 0.999) / ms,
             (double)b->lat.max / ms, bq_hist_mean(&b->lat) / ms);
      printf("\"client_cpu\":{\"user_s\":%.3f,\"sys_s\":%.3f,"
             "\"share\":%.4f,",
             cpu_user, cpu_sys, cpu_share);
      if (delay >= 0) printf("\"run_delay_s\":%.3f},", delay);
      else printf("\"run_delay_s\":null},");
      printf("\"errors\":{\"connect\":%" PRIu64 ",\"refused\":%" PRIu64
             ",\"rejected\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"bad_replies\":%"
             PRIu64 ",\"timeout\":%s},\"sent_eq_committed\":%s,",
             b->connect_errors, b->replies.refused, b->replies.rejected,
             b->lost, b->replies.bad, b->timed_out ? "true" : "false",
             b->sent == committed ? "true" : "false");
    }
    if (checked)
      printf("\"db\":{\"ok\":%s,\"expected\":%" PRIu64 ",\"rows\":%" PRIu64
             ",\"missing\":%" PRIu64 ",\"duplicates\":%" PRIu64
             ",\"misordered\":%" PRIu64 ",\"split\":%" PRIu64
             ",\"seq_mismatch\":%" PRIu64 ",\"foreign\":%" PRIu64
             ",\"producer_mismatch\":%" PRIu64 "},",
             chk.ok ? "true" : "false", chk.expected, chk.rows, chk.missing,
             chk.duplicates, chk.misordered, chk.split, chk.seq_mismatch,
             chk.foreign, chk.producer_mismatch);
    else
      printf("\"db\":null,");
    printf("\"exit\":%d}\n", status);
  }
  free(sent_per);
  bq_token_clear(&b->o.token);
  if (b->o.tls_ctx != NULL) bq_tls_ctx_free(b->o.tls_ctx);
  free(b);
  return status;
}
