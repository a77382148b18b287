/*
 * units.h -- numbers with unit suffixes on the command lines of burstqd and
 * burstq.  One meaning per kind of quantity, everywhere:
 *   - sizes in bytes: K, M, G are powers of 1024 (64K = 65536); the letter
 *     may be lower case and may be followed by "iB" or "B" (64KiB, 64KB);
 *   - counts (messages, connections, threads, seconds): k (or K), M, G are
 *     powers of 1000 (2k = 2000, 1M = 1000000);
 *   - durations: s, m, h, d are seconds, minutes, hours, days (90s, 12h,
 *     30d); a bare number is seconds.
 * No sign, no spaces, no fractions, no other suffix.
 *
 * Design: pure, stateless functions (any thread); callers turn the result
 * into their own message with bq_units_error so that every option says
 * "--name: 'value' is ..." the same way.
 */
#ifndef BQ_UNITS_H
#define BQ_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* The rule above, for --help texts (two lines, each ending in "\n"). */
#define BQ_UNITS_HELP                                                        \
  "Sizes in bytes take K, M or G for powers of 1024 (64K is 65536; KiB and\n" \
  "KB work too); counts take k, M or G for powers of 1000 (2k is 2000).\n"

/* A size in bytes such as "65536", "64K", "64KiB", "16M", "1G" into *out,
 * requiring min <= value <= max.  Returns 0, -EINVAL (not a size) or
 * -ERANGE (overflow, or outside [min, max]); *out is untouched on error. */
int bq_parse_size(const char *s, size_t min, size_t max, size_t *out);

/* A count such as "100", "5k", "2M", "3G" into *out, requiring
 * min <= value <= max.  Returns as bq_parse_size. */
int bq_parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* A duration such as "90", "90s", "15m", "12h", "30d" into *out, in
 * seconds, requiring min <= value <= max.  Returns as bq_parse_size. */
int bq_parse_duration(const char *s, uint64_t min, uint64_t max,
                      uint64_t *out);

/* The message for r (a negative return of the parsers above) about option
 * --name given arg: "--name: 'arg' is not a number" or "--name: 'arg' is
 * out of range (min to max)". */
void bq_units_error(int r, const char *name, const char *arg, uint64_t min,
                    uint64_t max, char *err, size_t errlen);

#endif /* BQ_UNITS_H */
