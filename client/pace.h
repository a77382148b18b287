/*
 * pace.h -- the schedule of `burstq bench --rate`: a batch every
 * BQ_PACE_NS on a fixed grid from the run's start.
 *
 * At grid point k (k * BQ_PACE_NS after the start) each of the run's
 * connections has rate * k / (conns * BQ_PACE_PER_S) + 1 messages due:
 * message 1 at the start, then rate / 1000 in all per millisecond, spread
 * evenly over the connections, in integers so that no rounding drifts
 * over a long run.  A paced message's latency starts at its grid point
 * (bq_pace_tick_of): the sender never writes it earlier, and a late tick
 * or a stall that holds the sender back counts.  Pure functions, any
 * thread.
 */
#ifndef BQ_PACE_H
#define BQ_PACE_H

#include <stdint.h>

#define BQ_PACE_NS 1000000ull /* the grid: one batch a millisecond */
#define BQ_PACE_PER_S (1000000000ull / BQ_PACE_NS)

/* Messages of one connection due at grid point k (0 at the start).  Needs rate >= 1,
 * conns >= 1 and rate * k < 2^64 (10^8 msgs/s for over five years). */
uint64_t bq_pace_due(uint64_t rate, uint32_t conns, uint64_t k);

/* The grid point at which message seq (>= 1) of a connection falls due:
 * the least k with bq_pace_due(rate, conns, k) >= seq.  Needs
 * (seq - 1) * conns * BQ_PACE_PER_S + rate < 2^64. */
uint64_t bq_pace_tick_of(uint64_t rate, uint32_t conns, uint64_t seq);

#endif
