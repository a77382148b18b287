/*
 * auth.h -- the shared-secret handshake (--auth-token-file).
 *
 * Design: the token is read once at start-up from a file that only its
 * owner may read, kept in this struct (owned by main, read-only after
 * loading) and compared on the loop thread against each connection's first
 * line, "AUTH <token>", in time that does not depend on where the first
 * differing byte is.  The token is never printed: nothing here logs, and
 * error messages name the file, never its contents.
 *
 * Token file format: the first line is the token (a trailing "\n" or
 * "\r\n" is removed; anything after the first line is ignored).  Its
 * syntax, and the AUTH line itself, are the protocol's (common/proto.h):
 * 1..BQ_AUTH_MAX printable ASCII bytes without spaces.
 */
#ifndef BQ_AUTH_H
#define BQ_AUTH_H

#include <stddef.h>

#include "proto.h"

#define BQ_AUTH_MAX BQ_PROTO_TOKEN_MAX

/* The longest first line that can pass: "AUTH " and the longest token.  It
 * is not a message, so --max-message does not limit it. */
#define BQ_AUTH_LINE_MAX (BQ_PROTO_AUTH_LEN + BQ_PROTO_TOKEN_MAX)

struct bq_auth {
  size_t len;                  /* token bytes; 0 = authentication off */
  char token[BQ_AUTH_MAX];     /* not NUL-terminated on purpose */
};

/* Load the token from path.  Refuses (returns a negative errno, with a
 * one-line reason in err that never contains the token) a file that cannot
 * be opened, is not a regular file, is readable or writable by group or
 * others (-EPERM), is empty or has an empty first line (-EINVAL), or whose
 * token is too long or holds spaces or control bytes (-EINVAL). */
int bq_auth_load(struct bq_auth *a, const char *path, char *err,
                 size_t errlen);

/* 1 when tok (len bytes: the token of a BQ_LINE_AUTH line, see
 * bq_proto_classify) is the token, else 0.  The time taken depends only on
 * a->len and len, never on the contents.  With authentication off
 * (a->len == 0) returns 1. */
int bq_auth_check_token(const struct bq_auth *a, const char *tok, size_t len);

/* 1 when line (len bytes, the connection's first line with its line
 * terminator already removed) is exactly "AUTH " followed by the token,
 * else 0: bq_proto_classify in BQ_PROTO_EXPECT_AUTH, then
 * bq_auth_check_token.  The time taken depends only on a->len, len and
 * whether the line has the syntax of an AUTH line, never on how much of
 * the token it matches.  With authentication off (a->len == 0) returns 1. */
int bq_auth_check(const struct bq_auth *a, const char *line, size_t len);

/* Forget the token (overwrite it). */
void bq_auth_clear(struct bq_auth *a);

#endif /* BQ_AUTH_H */
