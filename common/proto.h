/*
 * proto.h -- the burstq line protocol (docs/protocol.md) as pure functions:
 * what a line a client sends means, the one spelling of every reply the
 * daemon writes, and the reading of those replies.
 *
 * Design: no I/O, no allocation, no state of its own, so that both ends use
 * one definition (the daemon: server/conn.c, server/auth.c; the client:
 * client/token.c, send.c, bench.c, stats.c) and it can be unit-tested and
 * fuzzed byte by byte.  Any thread.  Lines are taken as the framer
 * (frame.h) hands them out: without their "\n", one trailing "\r" already
 * removed.  Every length is a byte count; nothing here needs NUL
 * terminators on its input.
 *
 * States.  What a line means depends on where the connection is, so that
 * a command is recognised only where it is expected and a line that is a
 * message stays one:
 *  - BQ_PROTO_EXPECT_AUTH: the daemon requires a token (--auth-token-file)
 *    and the connection has not yet passed.  The line must be
 *    "AUTH <token>" with a token of valid syntax (bq_proto_token_check);
 *    anything else is BQ_LINE_BAD, a protocol error (the daemon answers
 *    ERR auth and closes).  Whether the token is the right one is for
 *    server/auth.h to say.
 *  - BQ_PROTO_EXPECT_HELLO: the first line after AUTH (or the first line,
 *    without auth) on an acked listener of a daemon with producers on
 *    (docs/protocol.md, "Producers: exactly once").  "HELLO <id>" or
 *    "HELLO <id> <first-seq>" is BQ_LINE_HELLO; a line that is exactly
 *    "HELLO" or starts with "HELLO " but is not of that syntax is
 *    BQ_LINE_HELLO_BAD (the daemon answers ERR hello and closes); any
 *    other line is BQ_LINE_MSG, the connection's first message.
 *  - BQ_PROTO_MESSAGES: every line is a message, byte for byte, including
 *    one that starts with "AUTH " (a daemon without a token stores it) or
 *    "HELLO " (only the first line is ever a HELLO).
 * A future command is added as a state in which it is expected (and a
 * line kind), never by reading a line differently in BQ_PROTO_MESSAGES.
 * A line that the framer rejected as too long never reaches classify: in
 * BQ_PROTO_EXPECT_AUTH the caller treats it as BQ_LINE_BAD, in
 * BQ_PROTO_EXPECT_HELLO as a message rejected for its length (no HELLO is
 * that long).
 */
#ifndef BQ_PROTO_H
#define BQ_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* ---- client lines ------------------------------------------------------ */

enum bq_proto_state {
  BQ_PROTO_EXPECT_AUTH = 0, /* the first line must be "AUTH <token>" */
  BQ_PROTO_MESSAGES = 1,    /* every line is a message */
  BQ_PROTO_EXPECT_HELLO = 2 /* the first line may be "HELLO <id> [<seq>]" */
};

enum bq_line_kind {
  BQ_LINE_MSG = 0,  /* a message: arg/len is the whole line */
  BQ_LINE_AUTH = 1, /* "AUTH <token>": arg/len is the token */
  BQ_LINE_BAD = 2,  /* not what this state expects: arg NULL, len 0 */
  BQ_LINE_HELLO = 3, /* "HELLO <id> [<first-seq>]": arg/len is the id,
                        first_seq the sequence number (1 when absent) */
  BQ_LINE_HELLO_BAD = 4 /* "HELLO" or "HELLO ..." of invalid syntax:
                           arg NULL, len 0 */
};

/* A classified line.  arg points into the classified line. */
struct bq_proto_line {
  int kind;           /* enum bq_line_kind */
  const char *arg;    /* the message, the token, the producer id, or NULL */
  size_t len;
  uint64_t first_seq; /* BQ_LINE_HELLO: 1..INT64_MAX; otherwise 0 */
};

/* Classify line (len bytes) in state st into *out; returns out->kind.
 * Reads only line[0..len).  The time it takes depends on len and on the
 * line's syntax, never on any secret (it sees none). */
int bq_proto_classify(enum bq_proto_state st, const char *line, size_t len,
                      struct bq_proto_line *out);

/* ---- the AUTH line and token syntax ------------------------------------ */

#define BQ_PROTO_AUTH "AUTH "   /* the prefix of the AUTH line */
#define BQ_PROTO_AUTH_LEN 5     /* strlen(BQ_PROTO_AUTH) */
#define BQ_PROTO_TOKEN_MAX 1024 /* longest token, in bytes */
/* The longest AUTH line on the wire, "AUTH " token "\n". */
#define BQ_PROTO_AUTH_LINE_MAX (BQ_PROTO_AUTH_LEN + BQ_PROTO_TOKEN_MAX + 1)

enum bq_token_verdict {
  BQ_TOKEN_OK = 0,       /* 1..BQ_PROTO_TOKEN_MAX bytes 0x21..0x7e */
  BQ_TOKEN_EMPTY = 1,    /* len 0 */
  BQ_TOKEN_TOO_LONG = 2, /* len > BQ_PROTO_TOKEN_MAX */
  BQ_TOKEN_BAD_BYTE = 3  /* a space, control or non-ASCII byte at *at */
};

/* Check a token's syntax: 1..BQ_PROTO_TOKEN_MAX printable ASCII bytes
 * without spaces.  Returns an enum bq_token_verdict; for
 * BQ_TOKEN_BAD_BYTE, *at (if at is not NULL) is the offset of the first
 * bad byte.  An over-long token is not scanned.  Otherwise every byte is
 * looked at, whatever it holds, so the time depends only on len. */
int bq_proto_token_check(const char *tok, size_t len, size_t *at);

/* Write the line "AUTH <token>\n" for tok (len bytes) into buf.  Returns
 * its length, or 0 (nothing written) when the token's syntax is not valid
 * or cap is too small (BQ_PROTO_AUTH_LINE_MAX always suffices). */
size_t bq_proto_format_auth(char *buf, size_t cap, const char *tok,
                            size_t len);

/* ---- the HELLO line and producer ids ----------------------------------- */

#define BQ_PROTO_HELLO "HELLO "  /* the prefix of the HELLO line */
#define BQ_PROTO_HELLO_LEN 6     /* strlen(BQ_PROTO_HELLO) */
#define BQ_PROTO_PRODUCER_MAX 128 /* longest producer id, in bytes */
/* The longest HELLO line on the wire: "HELLO " id " " 19 digits "\n". */
#define BQ_PROTO_HELLO_LINE_MAX \
  (BQ_PROTO_HELLO_LEN + BQ_PROTO_PRODUCER_MAX + 1 + 19 + 1)

/* 0 when id (len bytes) is a valid producer id: 1..BQ_PROTO_PRODUCER_MAX
 * bytes of [A-Za-z0-9._:-]; else -EINVAL. */
int bq_proto_producer_check(const char *id, size_t len);

/* Write the line "HELLO <id>\n" (first_seq 0) or "HELLO <id> <first_seq>\n"
 * (first_seq 1..INT64_MAX) for id (len bytes) into buf.  Returns its
 * length, or 0 (nothing written) when the id is not valid, first_seq is
 * above INT64_MAX, or cap is too small (BQ_PROTO_HELLO_LINE_MAX always
 * suffices). */
size_t bq_proto_format_hello(char *buf, size_t cap, const char *id,
                             size_t len, uint64_t first_seq);

/* ---- daemon replies ---------------------------------------------------- */

/* Every "ERR <reason>" the daemon sends (docs/protocol.md, "Errors"). */
enum bq_proto_err {
  BQ_ERR_TOO_LONG = 0,  /* "ERR too-long": one line was rejected */
  BQ_ERR_TOO_MANY = 1,  /* "ERR too-many-connections" */
  BQ_ERR_DENIED = 2,    /* "ERR denied" (--allow) */
  BQ_ERR_AUTH = 3,      /* "ERR auth" (--auth-token-file) */
  BQ_ERR_IDLE = 4,      /* "ERR idle" (--idle-timeout) */
  BQ_ERR_HELLO = 5,     /* "ERR hello": a HELLO line of invalid syntax */
  BQ_ERR_FENCED = 6,    /* "ERR fenced": a newer HELLO took the producer */
  BQ_ERR_GAP = 7,       /* "ERR gap <n>": first-seq > n + 1; n in .n */
  BQ_ERR_UNKNOWN = 8    /* parsing only: a reason this client does not know */
};

/* The wire line of error e, "ERR <reason>\n" (static storage), and its
 * length in *len.  e must be a known error without an argument (not
 * BQ_ERR_GAP: bq_proto_format_gap; not BQ_ERR_UNKNOWN). */
const char *bq_proto_err_line(enum bq_proto_err e, size_t *len);

/* The reason word of e ("too-long", ...), or "unknown". */
const char *bq_proto_err_name(enum bq_proto_err e);

/* The longest "OK <n>\n": 3 + 19 digits + 1. */
#define BQ_PROTO_OK_MAX 23

/* Write "OK <n>\n" (n in decimal, n <= INT64_MAX) into buf.  Returns its
 * length, or 0 (nothing written) when cap is too small; BQ_PROTO_OK_MAX
 * always suffices. */
size_t bq_proto_format_ok(char *buf, size_t cap, uint64_t n);

/* The longest "RESUME <n>\n": 7 + 19 digits + 1. */
#define BQ_PROTO_RESUME_MAX 27

/* Write "RESUME <n>\n" (n <= INT64_MAX) into buf: the daemon's answer to
 * a HELLO, n = how many of the producer's messages are committed.
 * Returns its length, or 0 when cap is too small; BQ_PROTO_RESUME_MAX
 * always suffices. */
size_t bq_proto_format_resume(char *buf, size_t cap, uint64_t n);

/* The longest "ERR gap <n>\n": 8 + 19 digits + 1. */
#define BQ_PROTO_GAP_MAX 28

/* Write "ERR gap <n>\n" (n <= INT64_MAX: the producer's committed count)
 * into buf.  Returns its length, or 0 when cap is too small;
 * BQ_PROTO_GAP_MAX always suffices. */
size_t bq_proto_format_gap(char *buf, size_t cap, uint64_t n);

enum bq_reply_kind {
  BQ_REPLY_OK = 0,    /* "OK n": n is in .n */
  BQ_REPLY_ERR = 1,   /* "ERR reason": .err, and the text in .reason */
  BQ_REPLY_BAD = 2,   /* not a reply of the protocol */
  BQ_REPLY_RESUME = 3 /* "RESUME n": n is in .n */
};

struct bq_proto_reply {
  int kind;          /* enum bq_reply_kind */
  int err;           /* BQ_REPLY_ERR: enum bq_proto_err */
  uint64_t n;        /* BQ_REPLY_OK, BQ_REPLY_RESUME; BQ_ERR_GAP's n */
  char reason[128];  /* BQ_REPLY_ERR: the text after "ERR ", cut to fit,
                        control bytes replaced by '?', NUL-terminated */
};

/* Parse one reply line (without its "\n"; one trailing "\r" is ignored)
 * into *r and return r->kind.  "OK n" and "RESUME n" need a decimal n
 * without sign or leading zeros (except "0") that fits in 63 bits;
 * "ERR reason" needs a non-empty reason, and a reason that is none of the
 * daemon's gets BQ_ERR_UNKNOWN ("gap <n>" is BQ_ERR_GAP only with n of
 * the same syntax as OK's).  Reads only line[0..len). */
int bq_proto_parse_reply(const char *line, size_t len,
                         struct bq_proto_reply *r);

#endif /* BQ_PROTO_H */
