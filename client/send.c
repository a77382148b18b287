/*
 * send.c -- burstq send: send messages (arguments or stdin lines) on one
 * connection, half-close, and wait for the daemon's final "OK n".
 *
 * Design: one blocking-free poll() loop over the socket and stdin, with one
 * output buffer: read input while the buffer is empty, write it out, read
 * replies all along (so a long input never deadlocks against unread acks),
 * half-close when input and buffer are done, and stop at the daemon's EOF.
 * The outcome is decided from what was written and replied (session.h)
 * and mapped to the shared exit codes (commands.h).  Main thread only; owns the
 * socket, the buffer and the reply framer.
 *
 * With a token (--token-file, session.h) the buffer starts with the line
 * "AUTH <token>": it goes out before any input is read, and its bytes are
 * skipped when counting messages (auth_left), so it is never a message.
 *
 * With --tls the loop is the same with an engine (common/tls.h, through
 * session.h) between the buffer and the socket: plaintext goes into the
 * engine only once the handshake is done and its previous ciphertext is
 * sent (so the engine never holds more than one chunk), ciphertext waits
 * in cbuf for the socket, and replies come out of the engine into the
 * framer.  The end of input is a close_notify, then the TCP half-close.
 * A handshake that fails (verification, the daemon's refusal of our
 * certificate) before any reply is "cannot connect" with the reason.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "commands.h"
#include "frame.h"
#include "log.h"
#include "opts.h"
#include "produce.h"
#include "proto.h"
#include "session.h"
#include "token.h"
#include "verdict.h"

#define SEND_BUF (256u * 1024u)
#define TLS_CHUNK (64u * 1024u)  /* plaintext into the engine at a time */
#define TLS_CBUF (80u * 1024u)   /* ciphertext out: a chunk and records */

static const char send_help[] =
    "usage: burstq send [-H HOST:PORT] [--timeout S] [--token-file FILE]\n"
    "                   [--tls [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]]\n"
    "                   [--producer ID [--give-up-after S] [--window SIZE]]\n"
    "                   [--] [MSG...]\n"
    "\n"
    "Send each MSG as one message, or each line of standard input when no\n"
    "MSG is given (an unterminated last line counts, as for the daemon).\n"
    "Then half-close and wait until the daemon answers with its final\n"
    "\"OK n\"; print \"sent N, committed N\" on stdout.\n"
    "\n"
    "Options (the first MSG ends the options; use -- before a MSG that\n"
    "starts with '-'):\n"
    "  -H, --host HOST:PORT  the daemon  [$BURSTQ_HOST, else 127.0.0.1:7070]\n"
    "  -t, --timeout S       give up when the daemon has neither taken\n"
    "                        bytes nor acknowledged messages for S seconds;\n"
    "                        0 waits forever  [60]\n"
    "  -T, --token-file FILE the daemon wants \"AUTH <token>\" first (its\n"
    "                        --auth-token-file): send the first line of FILE\n"
    "                        as the token; it is not a message and is never\n"
    "                        printed; keep FILE mode 600\n"
    "                        [$BURSTQ_TOKEN_FILE, else no token]\n"
    BQ_SESSION_TLS_HELP
    "  -p, --producer ID     send exactly once, as producer ID (1-128 bytes\n"
    "                        of A-Z a-z 0-9 . _ : -): line k of the input is\n"
    "                        the producer's message k, stored once however\n"
    "                        often it is sent; a lost connection, a refused\n"
    "                        one or a restarted daemon is retried (backoff\n"
    "                        up to 1 s) from the first line not committed;\n"
    "                        a connection without progress for --timeout S\n"
    "                        is made again\n"
    "      --give-up-after S with --producer: stop retrying after S seconds\n"
    "                        of failed attempts  [0: never]\n"
    "      --window SIZE     with --producer: hold at most SIZE bytes (and\n"
    "                        SIZE/64 lines) of uncommitted input; reading\n"
    "                        waits while it is full  [64M]\n"
    "  -h, --help            show this help\n"
    "\n"
    "Examples:\n"
    "  burstq send 'disk full on db1' 'disk ok on db1'\n"
    "  tail -n 1000 app.log | burstq send -H ingest.example.com:7070\n"
    "  burstq send --timeout 5 < events.txt && rm events.txt\n"
    "  burstq send --token-file ~/.config/burstq/token 'deploy done'\n"
    "  burstq send --tls --tls-ca ca.pem -H ingest.example.com:7443 'hi'\n"
    "  burstq send --producer web1-access < access.log   (again: no duplicates)\n"
    "\n"
    "Exit status: 0 every message committed; 1 the daemon rejected lines\n"
    "(ERR too-long: longer than its --max-message); 2 usage (also an\n"
    "unreadable --tls-* file); 3 cannot connect (also a failed TLS\n"
    "handshake: the reason, such as \"certificate verify failed\", is\n"
    "printed); 4 refused by the daemon (ERR too-many-connections, ERR\n"
    "denied, ERR auth: no or wrong --token-file, ERR idle);\n"
    "5 timeout; 6 connection lost, or the daemon stopped, before everything\n"
    "was committed (send the rest again).\n"
    "With --producer: 0 every line committed; 1 ERR too-long (nothing more\n"
    "is sent); 3, 4 (ERR too-many-connections), 5 or 6 once --give-up-after\n"
    "ran out (the last failure's); 4 also ERR fenced (another sender took\n"
    "the producer ID), ERR auth, ERR denied, or a daemon with --producers\n"
    "off; 6 also ERR gap (the daemon lost lines it had acknowledged).\n"
    "Sending the same input again with the same ID is always safe.\n";

struct send_ctx {
  int fd;
  /* input */
  int from_stdin;
  int in_eof;
  char last_byte; /* last byte written, to count an unterminated line */
  uint64_t bytes_written;
  size_t auth_left; /* bytes of the leading AUTH line not yet written */
  char *buf;
  size_t len, pos;
  /* outcome */
  uint64_t sent;      /* messages fully written */
  uint64_t committed; /* newest OK n */
  int got_ok;
  struct bq_session_replies replies;
  int write_failed;
  int shut;
  int eof;
  int reset; /* read failed (ECONNRESET, ...) */
  struct bq_framer framer;
  int any_reply; /* a reply line came */
  int hello_taken; /* the daemon answered our first line with RESUME */
  /* --tls: NULL without */
  struct bq_tls *tls;
  char *cbuf;    /* ciphertext to send: cbuf[cpos..clen) */
  size_t clen, cpos;
  int tls_closed; /* close_notify queued */
  int tls_err;    /* the failure of bq_session_tls_input/bq_tls_write */
};

static int on_reply(void *arg, int kind, const char *data, size_t len) {
  struct send_ctx *c = arg;
  uint64_t n;
  int ev;
  c->any_reply = 1;
  ev = bq_session_reply(&c->replies, kind, data, len, &n);
  if (ev == BQ_SESSION_ACK) {
    if (n > c->committed) c->committed = n;
    c->got_ok = 1;
  } else if (ev == BQ_SESSION_RESUME) {
    /* Our first line was "HELLO <id>": the daemon took it as a producer's
     * (docs/protocol.md); the acks no longer count our lines. */
    c->hello_taken = 1;
    if (c->replies.bad++ == 0)
      snprintf(c->replies.bad_text, sizeof(c->replies.bad_text),
               "RESUME %" PRIu64, n);
  }
  return 0;
}

static void count_written(struct send_ctx *c, const char *p, size_t n) {
  const char *end = p + n, *nl;
  if (c->auth_left > 0) { /* the AUTH line is not a message */
    size_t k = n < c->auth_left ? n : c->auth_left;
    c->auth_left -= k;
    p += k;
    c->bytes_written += k;
    n -= k;
  }
  while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
    c->sent++;
    p = nl + 1;
  }
  c->bytes_written += n;
  if (n) c->last_byte = end[-1];
}

static void read_replies(struct send_ctx *c) {
  char rb[16384];
  for (;;) {
    ssize_t n = recv(c->fd, rb, sizeof(rb), 0);
    if (n > 0 && c->tls != NULL) {
      int r = bq_session_tls_input(c->tls, rb, (size_t)n, &c->framer,
                                   on_reply, c);
      if (r == BQ_SESSION_TLS_MORE) continue;
      if (r < 0) c->tls_err = r;
      c->eof = 1; /* close_notify, or a TLS failure: nothing more */
      return;
    }
    if (n > 0) {
      bq_framer_feed(&c->framer, rb, (size_t)n, on_reply, c);
      continue;
    }
    if (n == 0) {
      bq_framer_finish(&c->framer, on_reply, c);
      c->eof = 1;
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      c->eof = 1;
      c->reset = 1;
    }
    return;
  }
}

/* --tls: refill cbuf from the engine when it is empty: first what the
 * engine has to send (handshake records), else the next chunk of
 * plaintext (once the handshake is done), and at the end of input the
 * close_notify. */
static void tls_fill(struct send_ctx *c) {
  if (c->cpos < c->clen) return;
  c->cpos = c->clen = 0;
  if (c->write_failed) { /* nothing goes out any more */
    while (bq_tls_take_out(c->tls, c->cbuf, TLS_CBUF) > 0) {
    }
    return;
  }
  if (bq_tls_pending_out(c->tls) == 0 && bq_tls_handshake_done(c->tls) &&
      c->pos < c->len) {
    size_t n = c->len - c->pos < TLS_CHUNK ? c->len - c->pos : TLS_CHUNK;
    int r = bq_tls_write(c->tls, c->buf + c->pos, n);
    if (r < 0) {
      c->tls_err = r;
      c->write_failed = 1;
      return;
    }
    count_written(c, c->buf + c->pos, (size_t)r);
    c->pos += (size_t)r;
  }
  if (c->pos == c->len && c->in_eof && !c->tls_closed &&
      bq_tls_handshake_done(c->tls)) {
    bq_tls_shutdown(c->tls);
    c->tls_closed = 1;
  }
  c->clen = bq_tls_take_out(c->tls, c->cbuf, TLS_CBUF);
}

/* Bytes waiting for the socket, plain or TLS. */
static int have_output(const struct send_ctx *c) {
  if (c->write_failed) return 0;
  if (c->tls == NULL) return c->pos < c->len;
  return c->cpos < c->clen;
}

/* All input is out (or can no longer go out): time for the half-close. */
static int output_done(const struct send_ctx *c) {
  if (c->write_failed) return 1;
  if (c->tls == NULL) return c->pos == c->len && c->in_eof;
  return c->tls_closed && c->cpos == c->clen &&
         bq_tls_pending_out(c->tls) == 0;
}

/* The poll loop.  Returns 0 when the daemon closed the connection, or
 * -ETIMEDOUT. */
static int run(struct send_ctx *c, int timeout_ms) {
  uint64_t last_progress = bq_now_ms();
  while (!c->eof) {
    struct pollfd p[2];
    int np = 1, wait_ms = -1, r;
    uint64_t before_bytes = c->bytes_written, before_ok = c->committed;

    if (c->tls != NULL) tls_fill(c);
    if (c->from_stdin && !c->in_eof && c->pos == c->len && !c->write_failed) {
      p[1].fd = 0;
      p[1].events = POLLIN;
      p[1].revents = 0;
      np = 2;
    }
    if (c->pos == c->len && output_done(c) && !c->shut) {
      shutdown(c->fd, SHUT_WR);
      c->shut = 1;
    }
    p[0].fd = c->fd;
    p[0].events = POLLIN;
    if (have_output(c)) p[0].events |= POLLOUT;
    p[0].revents = 0;
    if (timeout_ms > 0) {
      uint64_t now = bq_now_ms(), end = last_progress + (uint64_t)timeout_ms;
      if (now >= end && np == 1) return -ETIMEDOUT;
      wait_ms = now >= end ? 0 : (int)(end - now);
    }
    r = poll(p, (nfds_t)np, np == 2 ? -1 : wait_ms); /* input may be slow */
    if (r < 0 && errno != EINTR) return -errno;
    if (r <= 0) continue;
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) read_replies(c);
    if (c->replies.refused && !c->write_failed) {
      /* Refused (ERR auth, ...): the daemon discards what follows, so
       * stop sending, half-close, and wait for its EOF. */
      c->write_failed = 1;
      c->pos = c->len = 0;
    }
    if ((p[0].revents & (POLLOUT | POLLERR)) && have_output(c)) {
      const char *from = c->tls ? c->cbuf + c->cpos : c->buf + c->pos;
      size_t avail = c->tls ? c->clen - c->cpos : c->len - c->pos;
      ssize_t n = send(c->fd, from, avail, MSG_NOSIGNAL);
      if (n > 0 && c->tls != NULL) {
        c->cpos += (size_t)n;
        last_progress = bq_now_ms(); /* the handshake moves too */
      } else if (n > 0) {
        count_written(c, c->buf + c->pos, (size_t)n);
        c->pos += (size_t)n;
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                 errno != EINTR) {
        c->write_failed = 1; /* keep reading: the reason may be on its way */
      }
    }
    if (np == 2 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = read(0, c->buf, SEND_BUF);
      if (n > 0) {
        c->len = (size_t)n;
        c->pos = 0;
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        c->in_eof = 1;
        c->len = c->pos = 0;
      }
      last_progress = bq_now_ms(); /* waiting for input is not the daemon's fault */
    }
    if (c->bytes_written != before_bytes || c->committed != before_ok)
      last_progress = bq_now_ms();
  }
  return 0;
}

int bq_cmd_send(int argc, char **argv) {
  static const struct option longopts[] = {
      {"host", required_argument, NULL, 'H'},
      {"timeout", required_argument, NULL, 't'},
      {"token-file", required_argument, NULL, 'T'},
      {"help", no_argument, NULL, 'h'},
      {"producer", required_argument, NULL, 'p'},
      {"give-up-after", required_argument, NULL, 'G'},
      {"window", required_argument, NULL, 'W'},
      BQ_SESSION_TLS_LONGOPTS,
      {NULL, 0, NULL, 0}};
  struct sockaddr_storage ss;
  struct bq_session_tls tlso;
  struct bq_tls_ctx *tctx = NULL;
  struct send_ctx c;
  struct bq_send_outcome out;
  const char *host = NULL, *token_file = NULL, *producer = NULL;
  double give_up_s = 0;
  uint64_t window = BQ_PRODUCE_WINDOW_DEFAULT;
  int producer_opts = 0; /* --give-up-after or --window given */
  struct bq_token tok;
  char err[512], where[BQ_ADDR_STRLEN];
  double timeout_s = 60.0;
  size_t auth_len;
  int opt, r, i, timeout_ms, v;

  optind = 0; /* each command parses from scratch (GNU getopt) */
  opterr = 0;
  memset(&tlso, 0, sizeof(tlso));
  while ((opt = getopt_long(argc, argv, "+H:t:T:p:h", longopts, NULL)) != -1) {
    if (bq_session_tls_opt(&tlso, opt, optarg)) continue;
    switch (opt) {
      case 'H':
        host = optarg;
        break;
      case 't':
        if (strcmp(optarg, "0") == 0) {
          timeout_s = 0;
        } else if (bq_opt_seconds("timeout", optarg, BQ_OPT_SECONDS_MAX, &timeout_s,
                                  err, sizeof(err)) < 0) {
          fprintf(stderr, "burstq send: %s\n", err);
          return BQ_EXIT_USAGE;
        }
        break;
      case 'T':
        token_file = optarg;
        break;
      case 'p':
        if (bq_proto_producer_check(optarg, strlen(optarg)) < 0) {
          fprintf(stderr,
                  "burstq send: --producer: '%s' is not a producer id (1 to "
                  "%d bytes of A-Z a-z 0-9 . _ : -)\n",
                  optarg, BQ_PROTO_PRODUCER_MAX);
          return BQ_EXIT_USAGE;
        }
        producer = optarg;
        break;
      case 'G':
        producer_opts = 1;
        if (strcmp(optarg, "0") == 0) {
          give_up_s = 0;
        } else if (bq_opt_seconds("give-up-after", optarg, BQ_OPT_SECONDS_MAX,
                                  &give_up_s, err, sizeof(err)) < 0) {
          fprintf(stderr, "burstq send: %s\n", err);
          return BQ_EXIT_USAGE;
        }
        break;
      case 'W':
        producer_opts = 1;
        if (bq_opt_size("window", optarg, BQ_PRODUCE_WINDOW_MIN,
                        (uint64_t)1 << 40, &window, err, sizeof(err)) < 0) {
          fprintf(stderr, "burstq send: %s\n", err);
          return BQ_EXIT_USAGE;
        }
        break;
      case 'h':
        fputs(send_help, stdout);
        return BQ_EXIT_OK;
      default:
        if (optopt >= BQ_SESSION_OPT_TLS_CA)
          fprintf(stderr, "burstq send: %s needs a value\n", argv[optind - 1]);
        else if (optopt == 'G' || optopt == 'W')
          fprintf(stderr, "burstq send: %s needs a value\n", argv[optind - 1]);
        else if (optopt && optopt < 256 && strchr("HtTp", optopt))
          fprintf(stderr, "burstq send: -%c needs a value\n", optopt);
        else
          fprintf(stderr, "burstq send: unknown option '%s'\n",
                  argv[optind - 1]);
        fprintf(stderr, "Try 'burstq help send'.\n");
        return BQ_EXIT_USAGE;
    }
  }
  for (i = optind; i < argc; i++) {
    if (strchr(argv[i], '\n') != NULL) {
      fprintf(stderr,
              "burstq send: message %d contains a newline; a message is one "
              "line (send several MSG arguments, or lines on stdin)\n",
              i - optind + 1);
      return BQ_EXIT_USAGE;
    }
  }
  if (producer_opts && producer == NULL) {
    fprintf(stderr, "burstq send: --give-up-after and --window need "
            "--producer\nTry 'burstq help send'.\n");
    return BQ_EXIT_USAGE;
  }
  r = bq_opt_host(host, &ss, err, sizeof(err));
  if (r < 0) {
    fprintf(stderr, "burstq send: %s\n", err);
    return r == -ENOENT ? BQ_EXIT_CONNECT : BQ_EXIT_USAGE;
  }
  bq_addr_format((struct sockaddr *)&ss, where, sizeof(where));
  if (bq_session_tls_check(&tlso, host, err, sizeof(err)) < 0) {
    fprintf(stderr, "burstq send: %s\nTry 'burstq help send'.\n", err);
    return BQ_EXIT_USAGE;
  }
  if (tlso.on && bq_session_tls_ctx("send", &tlso, &tctx) < 0)
    return BQ_EXIT_USAGE;
  memset(&tok, 0, sizeof(tok));
  token_file = bq_token_path(token_file);
  if (bq_session_load_token("send", token_file, &tok) < 0) {
    bq_tls_ctx_free(tctx);
    return BQ_EXIT_USAGE;
  }
  timeout_ms = timeout_s > 0 ? (int)(timeout_s * 1000.0 + 0.5) : 0;
  if (timeout_s > 0 && timeout_ms < 1) timeout_ms = 1;
  if (producer != NULL) {
    struct bq_produce_opts po;
    memset(&po, 0, sizeof(po));
    po.ss = &ss;
    po.where = where;
    po.id = producer;
    po.auth = tok.len > 0 ? tok.line : NULL;
    po.auth_len = tok.len;
    po.msgs = optind < argc ? argv + optind : NULL;
    po.nmsgs = argc - optind;
    po.in_fd = 0;
    po.timeout_ms = timeout_ms;
    po.give_up_ms = (int)(give_up_s * 1000.0 + 0.5);
    if (give_up_s > 0 && po.give_up_ms < 1) po.give_up_ms = 1;
    po.window = (size_t)window;
    po.tls = tctx;
    po.have_cert = tlso.cert != NULL;
    v = bq_produce(&po);
    bq_token_clear(&tok);
    bq_tls_ctx_free(tctx);
    return v;
  }

  memset(&c, 0, sizeof(c));
  c.last_byte = '\n';
  bq_framer_init(&c.framer, 1024);
  if (optind < argc) {
    size_t total = tok.len, off = tok.len;
    for (i = optind; i < argc; i++) total += strlen(argv[i]) + 1;
    c.buf = malloc(total);
    if (c.buf == NULL) {
      fprintf(stderr, "burstq send: out of memory\n");
      bq_token_clear(&tok);
      bq_tls_ctx_free(tctx);
      return BQ_EXIT_USAGE;
    }
    memcpy(c.buf, tok.line, tok.len);
    for (i = optind; i < argc; i++) {
      size_t l = strlen(argv[i]);
      memcpy(c.buf + off, argv[i], l);
      c.buf[off + l] = '\n';
      off += l + 1;
    }
    c.len = total;
    c.in_eof = 1;
  } else {
    c.from_stdin = 1;
    c.buf = malloc(SEND_BUF);
    if (c.buf == NULL) {
      fprintf(stderr, "burstq send: out of memory\n");
      bq_token_clear(&tok);
      bq_tls_ctx_free(tctx);
      return BQ_EXIT_USAGE;
    }
    /* The AUTH line goes out before stdin is read (run() reads only into
     * an empty buffer). */
    memcpy(c.buf, tok.line, tok.len);
    c.len = tok.len;
  }
  c.auth_left = auth_len = tok.len;
  bq_token_clear(&tok);

  if (tctx != NULL) {
    c.cbuf = malloc(TLS_CBUF);
    if (c.cbuf == NULL || bq_tls_new(&c.tls, tctx) < 0 ||
        bq_tls_connect(c.tls) < 0) {
      fprintf(stderr, "burstq send: cannot start TLS: %s\n",
              c.tls ? bq_tls_error(c.tls) : "out of memory");
      r = BQ_EXIT_USAGE;
      goto out;
    }
  }
  c.fd = bq_session_connect(&ss, timeout_ms > 0 ? timeout_ms : 60000, 1);
  if (c.fd < 0) {
    fprintf(stderr, "burstq send: cannot connect to %s: %s\n", where,
            strerror(-c.fd));
    r = BQ_EXIT_CONNECT;
    goto out;
  }
  r = run(&c, timeout_ms);
  if (c.tls != NULL && !c.any_reply &&
      (c.tls_err < 0 || !bq_tls_handshake_done(c.tls))) {
    /* The TLS handshake failed, or the daemon refused our certificate
     * before answering anything: nothing was committed. */
    char why[512];
    size_t n = bq_tls_take_out(c.tls, c.cbuf, TLS_CBUF);
    if (n > 0 && !c.write_failed) /* our alert, if any: best effort */
      (void)send(c.fd, c.cbuf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    bq_session_tls_reason(c.tls, c.tls_err, bq_tls_handshake_done(c.tls),
                          tlso.cert != NULL, why, sizeof(why));
    if (r == -ETIMEDOUT)
      snprintf(why, sizeof(why), "no TLS handshake within %g s", timeout_s);
    fprintf(stderr, "burstq send: cannot connect to %s: %s\n", where, why);
    close(c.fd);
    r = BQ_EXIT_CONNECT;
    goto out;
  }
  if (c.tls != NULL && c.tls_err < 0) {
    char why[512];
    bq_session_tls_reason(c.tls, c.tls_err, 1, tlso.cert != NULL, why,
                          sizeof(why));
    fprintf(stderr, "burstq send: %s: %s\n", where, why);
    c.reset = 1;
  }
  close(c.fd);
  memset(c.buf, 0, auth_len); /* the AUTH line may still be in there */
  free(c.buf);
  bq_framer_free(&c.framer);
  bq_tls_free(c.tls);
  free(c.cbuf);
  bq_tls_ctx_free(tctx);
  /* The daemon counts an unterminated last line once the input ends. */
  if (c.shut && c.pos == c.len && !c.write_failed && c.last_byte != '\n')
    c.sent++;

  printf("sent %" PRIu64 ", committed %" PRIu64 "\n", c.sent, c.committed);
  out.sent = c.sent;
  out.committed = c.committed;
  out.rejected = c.replies.rejected;
  out.refused = c.replies.refused > 0;
  out.bad_reply = c.replies.bad > 0;
  out.timed_out = r == -ETIMEDOUT;
  out.io_error = (r < 0 && r != -ETIMEDOUT) || c.reset || c.write_failed;
  out.all_sent = c.in_eof && c.shut && !c.write_failed;
  out.got_ok = c.got_ok;
  v = bq_send_verdict(&out);
  if (auth_len > 0 && c.committed > c.sent)
    /* The daemon acked one message more than we sent: it runs without
     * --auth-token-file and stored the AUTH line as a message. */
    bq_session_auth_stored("send", where, 0);
  if (v == BQ_EXIT_REFUSED && c.replies.refusal == BQ_ERR_AUTH)
    bq_session_auth_failed("send", where, token_file != NULL);
  else if (v == BQ_EXIT_REFUSED)
    fprintf(stderr, "burstq send: refused by the daemon at %s: %s\n", where,
            c.replies.refusal_text);
  else if (v == BQ_EXIT_LOST && c.hello_taken)
    fprintf(stderr,
            "burstq send: %s took the first line as a producer's HELLO (it "
            "answered '%s'): the lines after it were numbered as that "
            "producer's, and any it had already were skipped, not stored; "
            "send with --producer ID, or with another first line\n",
            where, c.replies.bad_text);
  else if (v == BQ_EXIT_LOST && c.replies.bad)
    fprintf(stderr,
            "burstq send: %s does not speak the burstq protocol (it said "
            "'%s')\n", where, c.replies.bad_text);
  else if (v == BQ_EXIT_TIMEOUT)
    fprintf(stderr,
            "burstq send: timeout: no progress from the daemon for %g s; "
            "%" PRIu64 " of %" PRIu64 " messages committed\n",
            timeout_s, c.committed, c.sent);
  else if (v == BQ_EXIT_LOST)
    fprintf(stderr,
            "burstq send: connection to %s lost before everything was "
            "committed: %" PRIu64 " of %" PRIu64 " messages committed%s%s\n",
            where, c.committed, c.sent,
            out.all_sent ? "" : " (the rest of the input was not sent)",
            /* A TLS listener closes on plaintext without a reply. */
            !c.any_reply && !tlso.on
                ? " (it answered nothing: if it is a --listen ...,tls "
                  "listener, use --tls)"
                : "");
  else if (v == BQ_EXIT_REJECTED)
    fprintf(stderr,
            "burstq send: %" PRIu64 " line%s rejected by the daemon (ERR "
            "too-long: longer than its --max-message)\n",
            c.replies.rejected, c.replies.rejected == 1 ? "" : "s");
  return v;

out: /* before the exchange: r is the exit status */
  memset(c.buf, 0, auth_len);
  free(c.buf);
  bq_framer_free(&c.framer);
  bq_tls_free(c.tls);
  free(c.cbuf);
  bq_tls_ctx_free(tctx);
  return r;
}
