/*
 * produce.h -- `burstq send --producer ID`: send lines as one producer's
 * numbered messages, exactly once, across lost connections and daemon
 * restarts (docs/protocol.md, "Producers: exactly once").
 *
 * Design: the input's line k is the producer's message k.  Each
 * connection starts with [AUTH <token>] HELLO <id> <first>, where first is
 * the oldest line not known to be committed; the daemon's RESUME n says
 * lines 1..n are committed, and the window (window.h) is sent from n + 1.
 * OK n drops lines as they commit; input is read only while the window
 * has room, so a pipe is held in bounded memory and never re-read.  A
 * lost, refused or silent connection is closed and the next one made
 * after a backoff (20 ms doubling to 1 s), for as long as
 * --give-up-after allows.  With --tls each connection carries its own
 * engine (common/tls.h, through session.h), as in send.c: plaintext goes
 * into it once the handshake is done, ciphertext out of it to the socket,
 * and the end is close_notify, then the TCP half-close; a handshake that
 * fails is final (exit 3).  Main thread of burstq only; owns its socket,
 * window and input buffers.
 */
#ifndef BQ_PRODUCE_H
#define BQ_PRODUCE_H

#include <stddef.h>
#include <sys/socket.h>

#include "tls.h"

/* The default --window: bytes of unacked lines held (and /64 lines). */
#define BQ_PRODUCE_WINDOW_DEFAULT ((size_t)64 << 20)
#define BQ_PRODUCE_WINDOW_MIN ((size_t)64 << 10)

struct bq_produce_opts {
  const struct sockaddr_storage *ss; /* the daemon */
  const char *where;                 /* its address, for messages */
  const char *id;                    /* the producer id (checked) */
  const char *auth;                  /* "AUTH <token>\n", or NULL */
  size_t auth_len;
  char **msgs;     /* the messages (no newline in any), or NULL: stdin */
  int nmsgs;
  int in_fd;       /* with msgs NULL: where lines come from (0) */
  int timeout_ms;  /* a connection without progress this long is dropped
                      and made again; 0: never */
  int give_up_ms;  /* stop retrying after failing this long; 0: never */
  size_t window;   /* bytes of unacked lines held */
  struct bq_tls_ctx *tls; /* --tls: the client context, else NULL */
  int have_cert;   /* --tls-cert given (for the reasons of failures) */
};

/* Run it; print the outcome on stdout ("sent N, committed N, ...") and
 * any failure on stderr.  Returns the exit status (commands.h): 0 only
 * when every line is committed. */
int bq_produce(const struct bq_produce_opts *o);

#endif /* BQ_PRODUCE_H */
