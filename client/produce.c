/*
 * produce.c -- see produce.h.
 *
 * One poll() loop per connection over the socket and the input: input is
 * cut into lines into the window while it has room; the connection's
 * first bytes (AUTH, HELLO) go out, nothing else until RESUME; then the
 * window's bytes from the connection's write position; replies move the
 * window's base.  When input and window are done the connection is
 * half-closed and read to its end.  Any other end of a connection (EOF,
 * reset, write error, --timeout, ERR too-many-connections, ERR idle)
 * leaves the lines in the window for the next one.  The decisions on
 * replies are verdict.h's bq_producer_action (unit-tested).
 */
#include "produce.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "commands.h"
#include "frame.h"
#include "log.h"
#include "proto.h"
#include "session.h"
#include "verdict.h"
#include "window.h"

#define CHUNK (256u * 1024u) /* input read at a time */
#define PRE_MAX (BQ_PROTO_AUTH_LINE_MAX + BQ_PROTO_HELLO_LINE_MAX)
#define CLOSE_WAIT_MS 10000  /* reading a finished connection to its end */
#define TLS_CHUNK (64u * 1024u) /* plaintext into the engine at a time */
#define TLS_CBUF (80u * 1024u)  /* ciphertext out: a chunk and records */

struct prod {
  const struct bq_produce_opts *o;
  struct bq_window w;
  /* input: chunk[cpos..clen) not yet cut; part: a line begun in an
   * earlier chunk */
  char *chunk;
  size_t clen, cpos;
  int in_eof;
  char *part;
  size_t plen;
  /* the connection */
  int fd;
  int awaiting; /* RESUME not yet read */
  int shut;     /* no more to send: half-close (after close_notify) */
  int tcp_shut; /* shutdown(SHUT_WR) done */
  int ended;    /* EOF, reset or write error */
  int renumber; /* RESUME n was beyond first-seq - 1: HELLO again */
  char pre[PRE_MAX];
  size_t pre_len, pre_pos;
  uint64_t wpos; /* window position written on this connection */
  uint64_t out_bytes; /* bytes the socket took (progress) */
  struct bq_framer framer;
  /* --tls: the engine (NULL without), ciphertext tbuf[tpos..tlen) */
  struct bq_tls *tls;
  char *tbuf;
  size_t tlen, tpos;
  int tls_closed; /* close_notify made */
  /* outcome */
  uint64_t committed;   /* the highest pseq the daemon said is committed */
  uint64_t connections; /* connections that got their RESUME */
  uint64_t prior;       /* the first RESUME's n: committed before us */
  int stop;             /* exit status decided by a reply (-1: none) */
  int retry;            /* this connection is done: connect again */
  int fail_code;        /* exit status if retrying runs out */
  char why[256];        /* why the last connection ended or stopped */
  struct bq_session_replies replies;
};

static int input_done(const struct prod *p) {
  return p->in_eof && p->cpos == p->clen && p->plen == 0;
}

static int all_done(const struct prod *p) {
  return input_done(p) && bq_window_count(&p->w) == 0;
}

static void set_why(struct prod *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_why(struct prod *p, int code, const char *fmt, ...) {
  va_list ap;
  if (p->stop >= 0 || p->retry) return; /* a reply said why already */
  p->fail_code = code;
  va_start(ap, fmt);
  vsnprintf(p->why, sizeof(p->why), fmt, ap);
  va_end(ap);
}

/* A line that can never fit the window: fatal. */
static int too_long(struct prod *p, size_t len) {
  p->stop = BQ_EXIT_USAGE;
  snprintf(p->why, sizeof(p->why),
           "line %" PRIu64 " is %zu bytes, more than --window (%zu bytes)",
           p->w.next, len, p->w.cap);
  return -1;
}

/* Cut input into the window while it has room.  Returns 0, or -1 when a
 * line can never fit (p->stop set). */
static int fill(struct prod *p) {
  while (p->cpos < p->clen) {
    const char *s = p->chunk + p->cpos;
    size_t avail = p->clen - p->cpos;
    const char *nl = memchr(s, '\n', avail);
    size_t len = nl ? (size_t)(nl - s) : avail;
    int r;
    if (p->plen + len >= p->w.cap) return too_long(p, p->plen + len);
    if (nl == NULL) { /* the rest begins a line */
      memcpy(p->part + p->plen, s, len);
      p->plen += len;
      p->cpos = p->clen;
      break;
    }
    if (!bq_window_fits(&p->w, p->plen + len)) return 0;
    if (p->plen > 0) {
      memcpy(p->part + p->plen, s, len);
      r = bq_window_push(&p->w, p->part, p->plen + len);
      p->plen = 0;
    } else {
      r = bq_window_push(&p->w, s, len);
    }
    assert(r >= 0);
    (void)r;
    p->cpos += len + 1;
  }
  /* The daemon takes an unterminated last line as a message: so do we
   * (it goes out with a "\n"). */
  if (p->in_eof && p->cpos == p->clen && p->plen > 0 &&
      bq_window_fits(&p->w, p->plen)) {
    int r = bq_window_push(&p->w, p->part, p->plen);
    assert(r >= 0);
    (void)r;
    p->plen = 0;
  }
  return 0;
}

/* Read the next input chunk (the previous one is cut). */
static void read_input(struct prod *p) {
  ssize_t n;
  assert(p->cpos == p->clen && !p->in_eof);
  n = read(p->o->in_fd, p->chunk, CHUNK);
  if (n > 0) {
    p->clen = (size_t)n;
    p->cpos = 0;
  } else if (n == 0) {
    p->in_eof = 1;
  } else if (errno != EINTR && errno != EAGAIN) {
    p->stop = BQ_EXIT_LOST;
    snprintf(p->why, sizeof(p->why), "cannot read standard input: %s",
             strerror(errno));
  }
}

static int want_input(const struct prod *p) {
  return p->o->msgs == NULL && !p->in_eof && p->cpos == p->clen &&
         p->stop < 0;
}

static int on_reply(void *arg, int kind, const char *data, size_t len) {
  struct prod *p = arg;
  struct bq_proto_reply r;
  int code, act;
  uint64_t unused;
  memset(&r, 0, sizeof(r));
  if (p->stop >= 0 || p->retry) return 0; /* the rest does not matter */
  /* The tally keeps the first refusal's and bad line's text. */
  (void)bq_session_reply(&p->replies, kind, data, len, &unused);
  if (kind != BQ_FRAME_MSG) {
    act = bq_producer_action(NULL, p->awaiting, &code);
  } else {
    bq_proto_parse_reply(data, len, &r);
    act = bq_producer_action(&r, p->awaiting, &code);
  }
  switch (act) {
    case BQ_PRODUCER_RESUME:
      p->awaiting = 0;
      p->connections++;
      /* The lines that follow the HELLO are numbered from its first-seq,
       * the window's base.  RESUME n beyond base - 1 (the acks of lines
       * base..n were lost with the last connection, or an earlier run
       * sent more of this input) leaves two ways: send lines base..n
       * again for the daemon to skip, or drop them and start a
       * connection with HELLO n + 1.  The second sends nothing twice. */
      if (r.n >= bq_window_first(&p->w)) p->renumber = 1;
      /* The first RESUME of a run above 0: this id had messages before
       * (a resend, or else new data under a used id: say so). */
      if (p->connections == 1 && r.n > 0) p->prior = r.n;
      /* fall through */
    case BQ_PRODUCER_ACK:
      if (r.n > p->committed) p->committed = r.n;
      bq_window_ack(&p->w, r.n);
      if (p->wpos < bq_window_start(&p->w) || act == BQ_PRODUCER_RESUME)
        p->wpos = bq_window_start(&p->w);
      return 0;
    case BQ_PRODUCER_RETRY:
      set_why(p, code, "%s said '%s'", p->o->where, p->replies.refusal_text);
      p->retry = 1;
      return 0;
    default:
      p->stop = code;
      if (kind != BQ_FRAME_MSG || r.kind == BQ_REPLY_BAD)
        snprintf(p->why, sizeof(p->why),
                 "%s does not speak the burstq protocol (it said '%s')",
                 p->o->where, p->replies.bad_text);
      else if (r.kind == BQ_REPLY_OK)
        snprintf(p->why, sizeof(p->why),
                 "%s answered HELLO with 'OK %" PRIu64 "', not RESUME: it "
                 "does not take producers (burstqd --producers off, or "
                 "older) and stored the HELLO line as a message",
                 p->o->where, r.n);
      else if (r.kind == BQ_REPLY_RESUME)
        snprintf(p->why, sizeof(p->why),
                 "%s sent a second RESUME on one connection", p->o->where);
      else if (r.err == BQ_ERR_FENCED)
        snprintf(p->why, sizeof(p->why),
                 "another sender took producer '%s' (ERR fenced): its "
                 "HELLO reached %s after ours; only one may send",
                 p->o->id, p->o->where);
      else if (r.err == BQ_ERR_GAP)
        snprintf(p->why, sizeof(p->why),
                 "%s has only %" PRIu64 " messages of producer '%s' "
                 "committed but had acknowledged %" PRIu64 " (ERR gap): "
                 "its database was replaced or restored; send the input "
                 "again from its first line to fill the gap",
                 p->o->where, r.n, p->o->id, p->w.base - 1);
      else if (r.err == BQ_ERR_TOO_LONG)
        snprintf(p->why, sizeof(p->why),
                 "line %" PRIu64 " is longer than the --max-message of %s "
                 "(ERR too-long): it is not stored, nor anything after it "
                 "(the numbers must not skip it); raise the daemon's "
                 "--max-message or shorten the line, then send again",
                 bq_window_first(&p->w), p->o->where);
      else if (r.err == BQ_ERR_AUTH)
        snprintf(p->why, sizeof(p->why),
                 "authentication failed (ERR auth) at %s: %s", p->o->where,
                 p->o->auth ? "it did not accept the token (is it the "
                              "daemon's --auth-token-file?)"
                            : "it requires a token: use --token-file FILE "
                              "or $BURSTQ_TOKEN_FILE");
      else
        snprintf(p->why, sizeof(p->why), "refused by the daemon at %s: %s",
                 p->o->where, p->replies.refusal_text);
      return 0;
  }
}

/* --tls: the engine failed (err < 0: bq_session_tls_input's or
 * bq_tls_write's result).  Before RESUME it is the handshake (the
 * certificate, the daemon's refusal of ours): final, exit 3; later the
 * connection is lost. */
static void tls_failed(struct prod *p, int err) {
  char why[200];
  bq_session_tls_reason(p->tls, err, bq_tls_handshake_done(p->tls),
                        p->o->have_cert, why, sizeof(why));
  p->ended = 1;
  if (p->awaiting && err < 0) {
    p->stop = BQ_EXIT_CONNECT;
    snprintf(p->why, sizeof(p->why), "cannot connect to %s: %s",
             p->o->where, why);
  } else {
    set_why(p, BQ_EXIT_LOST, "%s: %s", p->o->where, why);
  }
}

static void read_replies(struct prod *p) {
  char rb[16384];
  for (;;) {
    ssize_t n = recv(p->fd, rb, sizeof(rb), 0);
    if (n > 0 && p->tls != NULL) {
      int r = bq_session_tls_input(p->tls, rb, (size_t)n, &p->framer,
                                   on_reply, p);
      if (r == BQ_SESSION_TLS_MORE) continue;
      if (r < 0) {
        tls_failed(p, r);
      } else { /* close_notify */
        p->ended = 1;
        if (!all_done(p))
          set_why(p, BQ_EXIT_LOST, "%s closed the connection", p->o->where);
      }
      return;
    }
    if (n > 0) {
      bq_framer_feed(&p->framer, rb, (size_t)n, on_reply, p);
      continue;
    }
    if (n == 0 && p->tls != NULL && !bq_tls_handshake_done(p->tls)) {
      tls_failed(p, 0); /* closed during the handshake: retried */
      return;
    }
    if (n == 0) {
      bq_framer_finish(&p->framer, on_reply, p);
      p->ended = 1;
      if (!all_done(p))
        set_why(p, BQ_EXIT_LOST, "%s closed the connection", p->o->where);
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      p->ended = 1;
      set_why(p, BQ_EXIT_LOST, "connection to %s lost: %s", p->o->where,
              strerror(errno));
    }
    return;
  }
}

/* Start a connection on fd: its first bytes, the state of a new one. */
static void begin(struct prod *p, int fd) {
  size_t n;
  p->fd = fd;
  p->awaiting = 1;
  p->shut = p->tcp_shut = p->ended = p->retry = p->renumber = 0;
  p->tlen = p->tpos = 0;
  p->tls_closed = 0;
  if (p->o->tls != NULL &&
      (bq_tls_new(&p->tls, p->o->tls) < 0 || bq_tls_connect(p->tls) < 0)) {
    p->stop = BQ_EXIT_USAGE;
    snprintf(p->why, sizeof(p->why), "cannot start TLS: %s",
             p->tls ? bq_tls_error(p->tls) : "out of memory");
  }
  p->pre_len = p->pre_pos = 0;
  if (p->o->auth != NULL) {
    memcpy(p->pre, p->o->auth, p->o->auth_len);
    p->pre_len = p->o->auth_len;
  }
  n = bq_proto_format_hello(p->pre + p->pre_len, sizeof(p->pre) - p->pre_len,
                            p->o->id, strlen(p->o->id),
                            bq_window_first(&p->w));
  assert(n > 0);
  p->pre_len += n;
  p->wpos = bq_window_start(&p->w);
  bq_framer_free(&p->framer);
  bq_framer_init(&p->framer, 1024);
}

static void end_conn(struct prod *p) {
  if (p->fd >= 0) close(p->fd);
  p->fd = -1;
  bq_tls_free(p->tls);
  p->tls = NULL;
}

/* n bytes of plaintext out went: the HELLO part first, then the window. */
static void took(struct prod *p, size_t n) {
  if (p->pre_pos < p->pre_len)
    p->pre_pos += n;
  else
    p->wpos += n;
}

/* --tls: when the ciphertext buffer is empty, refill it from the engine:
 * handshake records, else the next piece of plaintext pt (ptlen bytes)
 * once the handshake is done, else close_notify once nothing is left. */
static void tls_refill(struct prod *p, const char *pt, size_t ptlen) {
  if (p->tpos < p->tlen) return;
  p->tpos = p->tlen = 0;
  if (bq_tls_pending_out(p->tls) == 0 && bq_tls_handshake_done(p->tls)) {
    if (ptlen > 0) {
      int r = bq_tls_write(p->tls, pt, ptlen < TLS_CHUNK ? ptlen : TLS_CHUNK);
      if (r < 0) {
        tls_failed(p, r);
        return;
      }
      took(p, (size_t)r);
    } else if (p->shut && !p->tls_closed) {
      bq_tls_shutdown(p->tls);
      p->tls_closed = 1;
    }
  }
  p->tlen = bq_tls_take_out(p->tls, p->tbuf, TLS_CBUF);
}

/* Run the connection until it ends (0: p->why says how; connect again
 * unless all_done) or a reply decides the exit status (p->stop). */
static void run_conn(struct prod *p) {
  uint64_t last_progress = bq_now_ms();
  int timeout_ms = p->o->timeout_ms;
  for (;;) {
    struct pollfd pf[2];
    int np = 1, wait_ms = -1, r;
    uint64_t before_w, before_c, now;
    size_t avail = 0;
    const char *out = NULL;

    if (fill(p) < 0 || p->stop >= 0) return;
    if (!p->awaiting && !p->shut &&
        (p->renumber || (input_done(p) && p->wpos == bq_window_end(&p->w))))
      p->shut = 1;
    if (p->pre_pos < p->pre_len) {
      out = p->pre + p->pre_pos;
      avail = p->pre_len - p->pre_pos;
    } else if (!p->awaiting && !p->shut) {
      avail = bq_window_bytes(&p->w, p->wpos, &out);
    }
    if (p->tls != NULL) { /* the socket takes ciphertext instead */
      tls_refill(p, out, avail);
      if (p->stop >= 0 || p->ended) return;
      out = p->tbuf + p->tpos;
      avail = p->tlen - p->tpos;
    }
    if (p->shut && !p->tcp_shut &&
        (p->tls == NULL || (p->tls_closed && avail == 0))) {
      shutdown(p->fd, SHUT_WR);
      p->tcp_shut = 1;
    }
    pf[0].fd = p->fd;
    pf[0].events = (short)(POLLIN | (avail > 0 ? POLLOUT : 0));
    pf[0].revents = 0;
    if (want_input(p)) {
      pf[1].fd = p->o->in_fd;
      pf[1].events = POLLIN;
      pf[1].revents = 0;
      np = 2;
    }
    now = bq_now_ms();
    if (p->shut && (all_done(p) || p->renumber)) { /* wait for EOF */
      if (now >= last_progress + CLOSE_WAIT_MS) return;
      wait_ms = (int)(last_progress + CLOSE_WAIT_MS - now);
    } else if (timeout_ms > 0) {
      if (now >= last_progress + (uint64_t)timeout_ms) {
        set_why(p, BQ_EXIT_TIMEOUT,
                "no progress from %s for %g s", p->o->where,
                timeout_ms / 1000.0);
        return;
      }
      wait_ms = (int)(last_progress + (uint64_t)timeout_ms - now);
    }
    r = poll(pf, (nfds_t)np, wait_ms);
    if (r < 0 && errno != EINTR) {
      set_why(p, BQ_EXIT_LOST, "poll: %s", strerror(errno));
      return;
    }
    if (r <= 0) continue;
    before_w = p->out_bytes;
    before_c = p->committed;
    if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) read_replies(p);
    if (p->stop >= 0 || p->retry) return;
    if (!p->ended && (pf[0].revents & POLLOUT) && avail > 0) {
      ssize_t n = send(p->fd, out, avail, MSG_NOSIGNAL);
      if (n > 0) {
        p->out_bytes += (uint64_t)n;
        if (p->tls != NULL)
          p->tpos += (size_t)n;
        else
          took(p, (size_t)n);
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                 errno != EINTR) {
        /* The reason (ERR fenced, ...) may be waiting: read it first. */
        set_why(p, BQ_EXIT_LOST, "connection to %s lost: %s", p->o->where,
                strerror(errno));
        read_replies(p);
        p->ended = 1;
      }
    }
    if (np == 2 && (pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
      read_input(p);
    if (p->stop >= 0) return;
    if (p->ended) return;
    if (p->out_bytes != before_w || p->committed != before_c)
      last_progress = bq_now_ms();
  }
}

/* Wait ms before the next attempt, reading input meanwhile. */
static void backoff_wait(struct prod *p, unsigned ms) {
  uint64_t end = bq_now_ms() + ms;
  for (;;) {
    struct pollfd pf = {p->o->in_fd, POLLIN, 0};
    uint64_t now = bq_now_ms();
    int in;
    if (now >= end || p->stop >= 0) return;
    if (fill(p) < 0) return;
    in = want_input(p);
    if (poll(&pf, in ? 1 : 0, (int)(end - now)) > 0 && in) read_input(p);
  }
}

int bq_produce(const struct bq_produce_opts *o) {
  struct prod p;
  unsigned backoff = 0;
  uint64_t outage = 0; /* when the current run of failures began */
  size_t total = 0;
  int i, rc;

  memset(&p, 0, sizeof(p));
  p.o = o;
  p.fd = -1;
  p.stop = -1;
  bq_framer_init(&p.framer, 1024);
  if (bq_window_init(&p.w, o->window, o->window / 64) < 0) goto oom;
  p.part = malloc(o->window);
  if (p.part == NULL) goto oom;
  if (o->tls != NULL && (p.tbuf = malloc(TLS_CBUF)) == NULL) goto oom;
  if (o->msgs != NULL) { /* the arguments, as one chunk of lines */
    for (i = 0; i < o->nmsgs; i++) total += strlen(o->msgs[i]) + 1;
    p.chunk = malloc(total + 1);
    if (p.chunk == NULL) goto oom;
    for (i = 0; i < o->nmsgs; i++) {
      size_t l = strlen(o->msgs[i]);
      memcpy(p.chunk + p.clen, o->msgs[i], l);
      p.chunk[p.clen + l] = '\n';
      p.clen += l + 1;
    }
    p.in_eof = 1;
  } else {
    p.chunk = malloc(CHUNK);
    if (p.chunk == NULL) goto oom;
  }

  for (;;) {
    int fd, ctimeout;
    uint64_t now;
    if (fill(&p) < 0 || p.stop >= 0) break;
    now = bq_now_ms();
    if (outage != 0 && o->give_up_ms > 0 &&
        now >= outage + (uint64_t)o->give_up_ms) {
      char why[sizeof(p.why)];
      int k;
      memcpy(why, p.why, sizeof(why));
      k = snprintf(p.why, sizeof(p.why),
                   "giving up after %g s (--give-up-after): ",
                   o->give_up_ms / 1000.0);
      if (k > 0 && (size_t)k < sizeof(p.why)) { /* the reason, cut to fit */
        size_t n = strnlen(why, sizeof(p.why) - (size_t)k - 1);
        memcpy(p.why + k, why, n);
        p.why[(size_t)k + n] = '\0';
      }
      p.stop = p.fail_code;
      break;
    }
    ctimeout = o->timeout_ms > 0 ? o->timeout_ms : 60000;
    if (outage != 0 && o->give_up_ms > 0 &&
        outage + (uint64_t)o->give_up_ms - now < (uint64_t)ctimeout)
      ctimeout = (int)(outage + (uint64_t)o->give_up_ms - now);
    fd = bq_session_connect(o->ss, ctimeout > 0 ? ctimeout : 1, 1);
    if (fd < 0) {
      set_why(&p, BQ_EXIT_CONNECT, "cannot connect to %s: %s", o->where,
              strerror(-fd));
    } else {
      uint64_t before = p.connections;
      begin(&p, fd);
      run_conn(&p);
      if (p.stop >= 0) break;
      if (all_done(&p)) break;
      end_conn(&p);
      p.retry = 0; /* its reason stays in p.why */
      if (p.connections != before) { /* it worked for a while */
        outage = 0;
        backoff = 0;
      }
      if (p.renumber) continue; /* no failure: HELLO from n + 1 */
    }
    if (outage == 0) {
      outage = bq_now_ms();
      fprintf(stderr,
              "burstq send: %s; %" PRIu64 " lines committed; connecting "
              "again\n", p.why, p.committed);
    }
    backoff = bq_producer_backoff(backoff);
    backoff_wait(&p, backoff);
  }
  end_conn(&p);

  rc = p.stop >= 0 ? p.stop : BQ_EXIT_OK;
  /* Lines read, and of those the committed ones (skipped lines were
   * committed before they were read). */
  {
    uint64_t lines = p.w.next - 1;
    uint64_t done = p.w.base - 1 < lines ? p.w.base - 1 : lines;
    if (p.connections == 0)
      printf("sent %" PRIu64 ", committed %" PRIu64 " (producer %s: no "
             "connection)\n", lines, done, o->id);
    else
      printf("sent %" PRIu64 ", committed %" PRIu64 " (producer %s at %"
             PRIu64 "; %" PRIu64 " connection%s)\n", lines, done, o->id,
             p.committed, p.connections, p.connections == 1 ? "" : "s");
    if (p.prior > 0 && lines > 0)
      fprintf(stderr,
              "burstq send: note: producer %s already had %" PRIu64
              " messages: the first %" PRIu64 " lines of this input were "
              "taken as those and not stored again (a resend; new data "
              "needs a new --producer ID)\n",
              o->id, p.prior, p.prior < lines ? p.prior : lines);
  }
  if (rc != BQ_EXIT_OK) fprintf(stderr, "burstq send: %s\n", p.why);
  goto out;
oom:
  fprintf(stderr, "burstq send: out of memory (--window %zu)\n", o->window);
  rc = BQ_EXIT_USAGE;
out:
  bq_framer_free(&p.framer);
  bq_window_free(&p.w);
  free(p.part);
  free(p.chunk);
  free(p.tbuf);
  return rc;
}
