/*
 * pace.c -- the schedule of `burstq bench --rate` (pace.h).  Pure integer
 * arithmetic, any thread.
 */
#include "pace.h"

#include <assert.h>

uint64_t bq_pace_due(uint64_t rate, uint32_t conns, uint64_t k) {
  assert(rate >= 1 && conns >= 1);
  return rate * k / ((uint64_t)conns * BQ_PACE_PER_S) + 1;
}

/* floor(rate * k / d) + 1 >= seq  <=>  rate * k >= (seq - 1) * d, so the
 * least such k is ceil((seq - 1) * d / rate). */
uint64_t bq_pace_tick_of(uint64_t rate, uint32_t conns, uint64_t seq) {
  uint64_t d = (uint64_t)conns * BQ_PACE_PER_S;
  assert(rate >= 1 && conns >= 1 && seq >= 1);
  return ((seq - 1) * d + rate - 1) / rate;
}
