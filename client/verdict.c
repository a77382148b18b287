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
