/*
 * session.h -- what the client's commands do alike around a connection to
 * burstqd: connect within a bound (send, stats), load the token whose
 * "AUTH <token>" line goes first on every connection (send, bench), tally
 * the daemon's replies (send, bench), and explain an authentication
 * outcome (send, bench) in the same words.
 *
 * Design: plain functions over caller-owned structs; no thread of its own.
 * send calls them on the main thread, bench on its loop thread (a
 * bq_session_replies is the bench's, touched by that thread only).  The
 * replies themselves are read by common/proto.h; this file decides what
 * they mean to a client: an ack, a rejected line, a refusal (the daemon
 * drops us), or a line that is not the protocol.
 */
#ifndef BQ_SESSION_H
#define BQ_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "token.h"

/* A TCP connection to ss on a non-blocking socket (close-on-exec; with
 * TCP_NODELAY when nodelay), established within timeout_ms (> 0).
 * Returns the socket, or a negative errno (-ETIMEDOUT when the bound
 * passed). */
int bq_session_connect(const struct sockaddr_storage *ss, int timeout_ms,
                       int nodelay);

/* Load the token file path (NULL: no token, t->len stays 0) into t for
 * `burstq CMD`.  A warning about the file goes to stderr; on an error the
 * reason goes to stderr and the result is -1 (t->len is 0), else 0.
 * Nothing printed holds the token. */
int bq_session_load_token(const char *cmd, const char *path,
                          struct bq_token *t);

/* What one reply line is to the client. */
enum bq_session_event {
  BQ_SESSION_ACK = 0,      /* "OK n" */
  BQ_SESSION_REJECTED = 1, /* "ERR too-long": one of our lines was skipped */
  BQ_SESSION_REFUSED = 2,  /* any other "ERR": the daemon drops us */
  BQ_SESSION_BAD = 3       /* not a reply of the protocol */
};

/* The replies of one connection (send) or of a whole run (bench). */
struct bq_session_replies {
  uint64_t rejected;       /* ERR too-long lines */
  uint64_t refused;        /* other ERR lines */
  uint64_t bad;            /* lines that are not replies, or over-long */
  int refusal;             /* the first refusal: enum bq_proto_err */
  char refusal_text[160];  /* the first refusal, "ERR <reason>" */
  char bad_text[81];       /* the first bad line, cut to 80 bytes ("" if
                              the first was an over-long line) */
};

/* Take one framed reply (the arguments of a bq_frame_cb) into s and return
 * its enum bq_session_event; for BQ_SESSION_ACK, *n is the n of "OK n".
 * The texts keep the first of their kind. */
int bq_session_reply(struct bq_session_replies *s, int frame_kind,
                     const char *data, size_t len, uint64_t *n);

/* The daemon at where refused `burstq CMD` with ERR auth: say so on
 * stderr, and what to do (with_token: a token was sent). */
void bq_session_auth_failed(const char *cmd, const char *where,
                            int with_token);

/* The daemon at where acked more messages than were sent on conns
 * connections (0: the command's only one): it wants no token and stored
 * the AUTH line as a message.  Warn on stderr. */
void bq_session_auth_stored(const char *cmd, const char *where,
                            unsigned conns);

#endif /* BQ_SESSION_H */
