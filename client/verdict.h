/*
 * verdict.h -- from what happened on the wire to an exit status
 * (commands.h): the decision apart from the socket code, so that every
 * combination is unit-tested.  Pure functions, any thread.
 */
#ifndef BQ_VERDICT_H
#define BQ_VERDICT_H

#include <stdint.h>

/* What one `burstq send` connection saw. */
struct bq_send_outcome {
  uint64_t sent;      /* messages written in full */
  uint64_t committed; /* the newest "OK n" */
  uint64_t rejected;  /* "ERR too-long" lines */
  int refused;        /* another "ERR reason" (the daemon refused us) */
  int bad_reply;      /* a line that is no burstq reply */
  int timed_out;      /* --timeout passed without progress */
  int io_error;       /* a read or write failed (reset, ...) */
  int all_sent;       /* the whole input was written and half-closed */
  int got_ok;         /* at least one "OK n" arrived */
};

/* Precedence: refused (4), bad reply (6), timeout (5), lost (6: an I/O
 * error, input not all sent, no final ack, or fewer committed + rejected
 * than sent), rejected lines (1), else 0. */
int bq_send_verdict(const struct bq_send_outcome *o);

/* What a `burstq bench` run saw, in sum. */
struct bq_bench_outcome {
  uint64_t sent, committed, rejected;
  uint64_t connect_errors, refused, lost, bad_replies;
  int timed_out;
  int sink;       /* no acks expected */
  int db_checked; /* --db given */
  int db_ok;      /* the check ran and found everything (with db_checked) */
};

/* Precedence: connect (3), refused (4), timeout (5), lost or bad replies
 * (6), sent != committed or rejected lines (1, not for a sink), a failed
 * or impossible database check (1), else 0. */
int bq_bench_verdict(const struct bq_bench_outcome *o);

#endif /* BQ_VERDICT_H */
