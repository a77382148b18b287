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
 *
 * With --tls the same connection carries TLS (common/tls.h, an engine
 * over memory buffers): the options, the client context and the step
 * "ciphertext in, replies out" live here, once for send (poll loop),
 * bench (libuv) and stats (blocking HTTP); each command moves the
 * ciphertext over its own socket.  The server's name (the host of -H) is
 * verified by default.
 */
#ifndef BQ_SESSION_H
#define BQ_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "frame.h"
#include "tls.h"
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
  BQ_SESSION_BAD = 3,      /* not a reply of the protocol */
  BQ_SESSION_RESUME = 4    /* "RESUME n", the answer to a HELLO */
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
 * its enum bq_session_event; for BQ_SESSION_ACK and BQ_SESSION_RESUME, *n
 * is the n of "OK n", "RESUME n" (which the caller judges: only a HELLO
 * is answered with it).
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

/* ---- TLS ---------------------------------------------------------- */

/* The TLS options of a command (all of them plain pointers into argv or
 * the environment, but name). */
struct bq_session_tls {
  int on;                 /* --tls */
  const char *ca;         /* --tls-ca, else $BURSTQ_TLS_CA; NULL: the
                             system's trust store */
  const char *cert, *key; /* --tls-cert, --tls-key: both or neither */
  char name[256];         /* the name to verify: the host of -H */
};

/* getopt_long codes of the TLS options (beyond any command's own). */
enum {
  BQ_SESSION_OPT_TLS = 0x1000,
  BQ_SESSION_OPT_TLS_CA,
  BQ_SESSION_OPT_TLS_CERT,
  BQ_SESSION_OPT_TLS_KEY
};

/* The entries of a command's struct option array. */
#define BQ_SESSION_TLS_LONGOPTS                                        \
  {"tls", no_argument, NULL, BQ_SESSION_OPT_TLS},                      \
      {"tls-ca", required_argument, NULL, BQ_SESSION_OPT_TLS_CA},      \
      {"tls-cert", required_argument, NULL, BQ_SESSION_OPT_TLS_CERT},  \
      {"tls-key", required_argument, NULL, BQ_SESSION_OPT_TLS_KEY}

/* Their lines in a command's --help (options column of 22). */
#define BQ_SESSION_TLS_HELP                                                 \
  "      --tls             speak TLS to a --listen HOST:PORT,tls listener;\n" \
  "                        the daemon's certificate must be valid for the\n" \
  "                        host of -H (a name or an IP address) and signed\n" \
  "                        by a trusted CA\n"                                  \
  "      --tls-ca FILE     with --tls: trust the CA certificates (PEM) in\n" \
  "                        FILE  [$BURSTQ_TLS_CA, else the system's]\n"       \
  "      --tls-cert FILE   with --tls: present this client certificate\n"   \
  "      --tls-key FILE    (PEM) and key, for a daemon started with\n"      \
  "                        --tls-client-ca; keep the key mode 600\n"

/* Take one getopt_long result: 1 if opt was a TLS option (its value
 * kept in t), else 0. */
int bq_session_tls_opt(struct bq_session_tls *t, int opt, const char *arg);

/* After the options: check them (--tls-ca, --tls-cert, --tls-key need
 * --tls; --tls-cert and --tls-key go together), take $BURSTQ_TLS_CA when
 * --tls comes without --tls-ca, and set t->name to the host of the -H
 * string host (NULL: $BURSTQ_HOST, else BQ_DEFAULT_HOST, as bq_opt_host).
 * Returns 0 or -EINVAL with a one-line reason in err. */
int bq_session_tls_check(struct bq_session_tls *t, const char *host,
                         char *err, size_t errlen);

/* The client context for t (t->on).  Returns 0, or -1 after printing the
 * reason as "burstq CMD: ..." on stderr. */
int bq_session_tls_ctx(const char *cmd, const struct bq_session_tls *t,
                       struct bq_tls_ctx **out);

/* What bq_session_tls_input found. */
enum {
  BQ_SESSION_TLS_MORE = 0, /* all input taken; more may come */
  BQ_SESSION_TLS_CLOSED = 1 /* the daemon's close_notify: no more replies */
};

/* Ciphertext len bytes from the daemon: feed them to t, and the
 * plaintext that comes out (replies) to the framer f with cb/arg.
 * Returns BQ_SESSION_TLS_MORE, BQ_SESSION_TLS_CLOSED, or a negative
 * error of bq_tls_read (the reason in bq_tls_error(t)); -ENOMEM.  Output
 * it makes (handshake records, alerts) waits in bq_tls_pending_out for
 * the caller to send. */
int bq_session_tls_input(struct bq_tls *t, const char *data, size_t len,
                         struct bq_framer *f, bq_frame_cb cb, void *arg);

/* Why a TLS connection to where failed, one line into buf: err is the
 * negative result of bq_session_tls_input (0: the daemon closed the TCP
 * connection), handshake_done whether bq_tls_handshake_done was true,
 * have_cert whether --tls-cert was given. */
void bq_session_tls_reason(const struct bq_tls *t, int err,
                           int handshake_done, int have_cert, char *buf,
                           size_t cap);

#endif /* BQ_SESSION_H */
