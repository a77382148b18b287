/*
 * verdict.h -- from what happened on the wire to an exit status
 * (commands.h): the decision apart from the socket code, so that every
 * combination is unit-tested.  Pure functions, any thread.
 */
#ifndef BQ_VERDICT_H
#define BQ_VERDICT_H

#include <stdint.h>

#include "proto.h"

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

/* What `burstq send --producer` does with one reply of the daemon. */
enum bq_producer_action {
  BQ_PRODUCER_ACK = 0,    /* "OK n": lines 1..n are committed */
  BQ_PRODUCER_RESUME = 1, /* "RESUME n": the same, then send from n + 1 */
  BQ_PRODUCER_RETRY = 2,  /* this connection is of no more use: close it
                             and connect again (*code: the exit status if
                             --give-up-after runs out) */
  BQ_PRODUCER_STOP = 3    /* give up now with exit status *code */
};

/* The action for reply r (NULL: a line that is no reply, or an over-long
 * one) on a connection that is still waiting for its RESUME
 * (awaiting_resume) or not.  *code is set for RETRY and STOP:
 *  - RESUME while waiting for it, OK n after it: ACK, RESUME;
 *  - OK while waiting for RESUME: the daemon stored the HELLO line as a
 *    message (--producers off, or a daemon without producers): STOP 4;
 *    a second RESUME, or no reply at all: STOP 6;
 *  - ERR too-many-connections: RETRY 4; ERR idle: RETRY 6;
 *  - ERR fenced (another sender took the id), ERR auth, ERR denied,
 *    ERR hello, an unknown ERR: STOP 4;
 *  - ERR gap n (the daemon has fewer lines than it acknowledged): STOP 6;
 *  - ERR too-long: a line was not stored, and the lines after it would
 *    not have the numbers this client gives them: STOP 1. */
int bq_producer_action(const struct bq_proto_reply *r, int awaiting_resume,
                       int *code);

/* The wait before reconnecting after prev_ms (0: the first failure of an
 * outage): 20 ms, then doubling up to 1000 ms. */
unsigned bq_producer_backoff(unsigned prev_ms);

#endif /* BQ_VERDICT_H */
