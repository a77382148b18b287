/*
 * verdict.c -- see verdict.h.  Stateless.
 */
#include "verdict.h"

#include "commands.h"

int bq_send_verdict(const struct bq_send_outcome *o) {
  if (o->refused) return BQ_EXIT_REFUSED;
  if (o->bad_reply) return BQ_EXIT_LOST;
  if (o->timed_out) return BQ_EXIT_TIMEOUT;
  if (o->io_error || !o->all_sent || !o->got_ok ||
      o->committed + o->rejected < o->sent)
    return BQ_EXIT_LOST;
  if (o->rejected > 0) return BQ_EXIT_REJECTED;
  return BQ_EXIT_OK;
}

int bq_bench_verdict(const struct bq_bench_outcome *o) {
  if (o->connect_errors) return BQ_EXIT_CONNECT;
  if (o->refused) return BQ_EXIT_REFUSED;
  if (o->timed_out) return BQ_EXIT_TIMEOUT;
  if (o->lost || o->bad_replies) return BQ_EXIT_LOST;
  if (!o->sink && (o->sent != o->committed || o->rejected))
    return BQ_EXIT_REJECTED;
  if (o->db_checked && !o->db_ok) return BQ_EXIT_REJECTED;
  return BQ_EXIT_OK;
}

int bq_producer_action(const struct bq_proto_reply *r, int awaiting_resume,
                       int *code) {
  *code = BQ_EXIT_OK;
  if (r == NULL || r->kind == BQ_REPLY_BAD) {
    *code = BQ_EXIT_LOST;
    return BQ_PRODUCER_STOP;
  }
  if (r->kind == BQ_REPLY_RESUME) {
    if (awaiting_resume) return BQ_PRODUCER_RESUME;
    *code = BQ_EXIT_LOST;
    return BQ_PRODUCER_STOP;
  }
  if (r->kind == BQ_REPLY_OK) {
    if (!awaiting_resume) return BQ_PRODUCER_ACK;
    *code = BQ_EXIT_REFUSED;
    return BQ_PRODUCER_STOP;
  }
  switch (r->err) {
    case BQ_ERR_TOO_MANY:
      *code = BQ_EXIT_REFUSED;
      return BQ_PRODUCER_RETRY;
    case BQ_ERR_IDLE:
      *code = BQ_EXIT_LOST;
      return BQ_PRODUCER_RETRY;
    case BQ_ERR_GAP:
      *code = BQ_EXIT_LOST;
      return BQ_PRODUCER_STOP;
    case BQ_ERR_TOO_LONG:
      *code = BQ_EXIT_REJECTED;
      return BQ_PRODUCER_STOP;
    default: /* fenced, auth, denied, hello, unknown */
      *code = BQ_EXIT_REFUSED;
      return BQ_PRODUCER_STOP;
  }
}

unsigned bq_producer_backoff(unsigned prev_ms) {
  if (prev_ms == 0) return 20;
  return prev_ms >= 500 ? 1000 : prev_ms * 2;
}
