/*
 * reply.h -- what burstqd says back, one line at a time (docs/protocol.md):
 * "OK <n>" (n messages of this connection are committed) or "ERR <reason>".
 *
 * Design: a pure function over one line (no I/O), so the client's reading
 * of the protocol is unit-tested; the lines themselves are cut with the
 * common framer.  Any thread.
 */
#ifndef BQ_REPLY_H
#define BQ_REPLY_H

#include <stddef.h>
#include <stdint.h>

enum bq_reply_kind {
  BQ_REPLY_OK = 0,       /* "OK n": n is in .n */
  BQ_REPLY_TOO_LONG = 1, /* "ERR too-long": one line was rejected */
  BQ_REPLY_ERR = 2,      /* any other "ERR reason": the daemon refuses us */
  BQ_REPLY_BAD = 3       /* not a reply of the protocol */
};

struct bq_reply {
  int kind;
  uint64_t n;        /* for BQ_REPLY_OK */
  char reason[128];  /* for BQ_REPLY_ERR: the text after "ERR ", cut to fit
                        and with control bytes replaced by '?' */
};

/* Parse one reply line (without its '\n'; a trailing '\r' is ignored) into
 * *r and return r->kind.  "OK n" needs a decimal n without sign or leading
 * zeros (except "0") that fits in 63 bits. */
int bq_reply_parse(const char *line, size_t len, struct bq_reply *r);

#endif /* BQ_REPLY_H */
