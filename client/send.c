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
#include "session.h"
#include "token.h"
#include "verdict.h"

#define SEND_BUF (256u * 1024u)

static const char send_help[] =
    "usage: burstq send [-H HOST:PORT] [--timeout S] [--token-file FILE]\n"
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
    "  -h, --help            show this help\n"
    "\n"
    "Examples:\n"
    "  burstq send 'disk full on db1' 'disk ok on db1'\n"
    "  tail -n 1000 app.log | burstq send -H ingest.example.com:7070\n"
    "  burstq send --timeout 5 < events.txt && rm events.txt\n"
    "  burstq send --token-file ~/.config/burstq/token 'deploy done'\n"
    "\n"
    "Exit status: 0 every message committed; 1 the daemon rejected lines\n"
    "(ERR too-long: longer than its --max-message); 2 usage; 3 cannot\n"
    "connect; 4 refused by the daemon (ERR too-many-connections, ERR\n"
    "denied, ERR auth: no or wrong --token-file, ERR idle);\n"
    "5 timeout; 6 connection lost, or the daemon stopped, before everything\n"
    "was committed (send the rest again).\n";

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
};

static int on_reply(void *arg, int kind, const char *data, size_t len) {
  struct send_ctx *c = arg;
  uint64_t n;
  if (bq_session_reply(&c->replies, kind, data, len, &n) == BQ_SESSION_ACK) {
    if (n > c->committed) c->committed = n;
    c->got_ok = 1;
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
  char rb[4096];
  for (;;) {
    ssize_t n = recv(c->fd, rb, sizeof(rb), 0);
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

/* The poll loop.  Returns 0 when the daemon closed the connection, or
 * -ETIMEDOUT. */
static int run(struct send_ctx *c, int timeout_ms) {
  uint64_t last_progress = bq_now_ms();
  while (!c->eof) {
    struct pollfd p[2];
    int np = 1, wait_ms = -1, r;
    uint64_t before_bytes = c->bytes_written, before_ok = c->committed;

    if (c->from_stdin && !c->in_eof && c->pos == c->len && !c->write_failed) {
      p[1].fd = 0;
      p[1].events = POLLIN;
      p[1].revents = 0;
      np = 2;
    }
    if (c->pos == c->len && (c->in_eof || c->write_failed) && !c->shut) {
      shutdown(c->fd, SHUT_WR);
      c->shut = 1;
    }
    p[0].fd = c->fd;
    p[0].events = POLLIN;
    if (c->pos < c->len && !c->write_failed) p[0].events |= POLLOUT;
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
    if ((p[0].revents & (POLLOUT | POLLERR)) && c->pos < c->len &&
        !c->write_failed) {
      ssize_t n = send(c->fd, c->buf + c->pos, c->len - c->pos, MSG_NOSIGNAL);
      if (n > 0) {
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
      {NULL, 0, NULL, 0}};
  struct sockaddr_storage ss;
  struct send_ctx c;
  struct bq_send_outcome out;
  const char *host = NULL, *token_file = NULL;
  struct bq_token tok;
  char err[512], where[BQ_ADDR_STRLEN];
  double timeout_s = 60.0;
  size_t auth_len;
  int opt, r, i, timeout_ms, v;

  optind = 0; /* each command parses from scratch (GNU getopt) */
  opterr = 0;
  while ((opt = getopt_long(argc, argv, "+H:t:T:h", longopts, NULL)) != -1) {
    switch (opt) {
      case 'H':
        host = optarg;
        break;
      case 't':
        if (strcmp(optarg, "0") == 0) {
          timeout_s = 0;
        } else if (bq_opt_seconds("timeout", optarg, 86400.0 * 365, &timeout_s,
                                  err, sizeof(err)) < 0) {
          fprintf(stderr, "burstq send: %s\n", err);
          return BQ_EXIT_USAGE;
        }
        break;
      case 'T':
        token_file = optarg;
        break;
      case 'h':
        fputs(send_help, stdout);
        return BQ_EXIT_OK;
      default:
        if (optopt && strchr("HtT", optopt))
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
  r = bq_opt_host(host, &ss, err, sizeof(err));
  if (r < 0) {
    fprintf(stderr, "burstq send: %s\n", err);
    return r == -ENOENT ? BQ_EXIT_CONNECT : BQ_EXIT_USAGE;
  }
  bq_addr_format((struct sockaddr *)&ss, where, sizeof(where));
  memset(&tok, 0, sizeof(tok));
  token_file = bq_token_path(token_file);
  if (bq_session_load_token("send", token_file, &tok) < 0)
    return BQ_EXIT_USAGE;
  timeout_ms = timeout_s > 0 ? (int)(timeout_s * 1000.0 + 0.5) : 0;
  if (timeout_s > 0 && timeout_ms < 1) timeout_ms = 1;

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
      return BQ_EXIT_USAGE;
    }
    /* The AUTH line goes out before stdin is read (run() reads only into
     * an empty buffer). */
    memcpy(c.buf, tok.line, tok.len);
    c.len = tok.len;
  }
  c.auth_left = auth_len = tok.len;
  bq_token_clear(&tok);

  c.fd = bq_session_connect(&ss, timeout_ms > 0 ? timeout_ms : 60000, 1);
  if (c.fd < 0) {
    fprintf(stderr, "burstq send: cannot connect to %s: %s\n", where,
            strerror(-c.fd));
    memset(c.buf, 0, auth_len);
    free(c.buf);
    bq_framer_free(&c.framer);
    return BQ_EXIT_CONNECT;
  }
  r = run(&c, timeout_ms);
  close(c.fd);
  memset(c.buf, 0, auth_len); /* the AUTH line may still be in there */
  free(c.buf);
  bq_framer_free(&c.framer);
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
            "committed: %" PRIu64 " of %" PRIu64 " messages committed%s\n",
            where, c.committed, c.sent,
            out.all_sent ? "" : " (the rest of the input was not sent)");
  else if (v == BQ_EXIT_REJECTED)
    fprintf(stderr,
            "burstq send: %" PRIu64 " line%s rejected by the daemon (ERR "
            "too-long: longer than its --max-message)\n",
            c.replies.rejected, c.replies.rejected == 1 ? "" : "s");
  return v;
}
