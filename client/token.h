/*
 * token.h -- the client side of the daemon's shared-secret handshake
 * (burstqd --auth-token-file; docs/protocol.md, "Authentication"): read
 * the token from a file and hold the line "AUTH <token>\n" that `burstq
 * send` and `burstq bench` write first on every connection.
 *
 * Design: one small struct owned by the command that loaded it (main
 * thread at start-up; bench's loop thread only reads it afterwards).  The
 * token is never printed: error and warning texts name the file, never its
 * contents, and bq_token_clear overwrites it.  The file format is the
 * daemon's (server/auth.h): the first line is the token, a trailing "\n"
 * or "\r\n" is removed, the rest of the file is ignored; the token's
 * syntax (1..BQ_TOKEN_MAX printable ASCII bytes without spaces) and the
 * AUTH line are the protocol's (common/proto.h).  Unlike the daemon, the client
 * only warns about a file that group or others can read (the secret may
 * already be out, but refusing would not take it back), and it accepts
 * pipes and devices (--token-file <(pass show burstq)), reading them only
 * up to the end of the first line.  When the file is standard input
 * (--token-file /dev/stdin), the line is read from fd 0 itself, so that
 * what follows it on stdin, and only that, is left for the messages.
 */
#ifndef BQ_TOKEN_H
#define BQ_TOKEN_H

#include <stddef.h>

#include "proto.h"

#define BQ_TOKEN_MAX BQ_PROTO_TOKEN_MAX /* the daemon's BQ_AUTH_MAX */

struct bq_token {
  size_t len;                         /* bytes of line; 0 = no token */
  char line[BQ_PROTO_AUTH_LINE_MAX];  /* "AUTH " token "\n", not terminated */
};

/* The token file to use: arg if not NULL, else $BURSTQ_TOKEN_FILE if set
 * and not empty, else NULL (no authentication). */
const char *bq_token_path(const char *arg);

/* Load the token from path into t (t->line = "AUTH <token>\n").  Returns 0,
 * with warn set to a one-line warning (or "" if none) when a regular file
 * is readable by group or others.  Returns a negative errno with a
 * one-line reason in err that never holds the token: -errno when the file
 * cannot be opened or read (-EISDIR for a directory), -EINVAL when the
 * path is empty, the first line is empty, longer than BQ_TOKEN_MAX, or
 * holds a space or a byte outside printable ASCII.  On error t->len is 0
 * and nothing of the token is left in t. */
int bq_token_load(struct bq_token *t, const char *path, char *warn,
                  size_t warnlen, char *err, size_t errlen);

/* Forget the token (overwrite it). */
void bq_token_clear(struct bq_token *t);

#endif /* BQ_TOKEN_H */
