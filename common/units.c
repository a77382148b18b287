/*
 * units.c -- see units.h.  Stateless.
 */
#include "units.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A suffix letter and the power of the base it stands for. */
struct suffix {
  char letter;
  unsigned power;
};

static const struct suffix size_suffixes[] = {
    {'k', 1}, {'K', 1}, {'m', 2}, {'M', 2}, {'g', 3}, {'G', 3}, {0, 0}};
static const struct suffix count_suffixes[] = {
    {'k', 1}, {'K', 1}, {'M', 2}, {'G', 3}, {0, 0}};

/* Digits, then at most one suffix from sfx (times base^power); bytes: the
 * suffix may be followed by "iB" or "B". */
static int parse_scaled(const char *s, const struct suffix *sfx,
                        uint64_t base, int bytes, uint64_t min, uint64_t max,
                        uint64_t *out) {
  char *end;
  unsigned long long v;
  uint64_t mult = 1;

  if (s == NULL || *s < '0' || *s > '9') return -EINVAL;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0) return -ERANGE;
  if (*end != '\0') {
    for (; sfx->letter != 0 && sfx->letter != *end; sfx++) {
    }
    if (sfx->letter == 0) return -EINVAL;
    for (unsigned i = 0; i < sfx->power; i++) mult *= base;
    end++;
    if (bytes && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
      end += strlen(end);
    if (*end != '\0') return -EINVAL;
  }
  if (v > UINT64_MAX / mult) return -ERANGE;
  v *= mult;
  if (v < min || v > max) return -ERANGE;
  *out = (uint64_t)v;
  return 0;
}

int bq_parse_size(const char *s, size_t min, size_t max, size_t *out) {
  uint64_t v;
  int r = parse_scaled(s, size_suffixes, 1024, 1, min, max, &v);
  if (r == 0) *out = (size_t)v;
  return r;
}

int bq_parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  return parse_scaled(s, count_suffixes, 1000, 0, min, max, out);
}

int bq_parse_duration(const char *s, uint64_t min, uint64_t max,
                      uint64_t *out) {
  static const struct {
    char letter;
    uint64_t seconds;
  } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
  char digits[24];
  size_t n = s != NULL ? strlen(s) : 0;
  uint64_t v, mult = 1;
  int r;

  if (n == 0) return -EINVAL;
  if (n >= sizeof(digits)) /* more digits than any uint64_t, or junk */
    return strspn(s, "0123456789") >= sizeof(digits) - 1 ? -ERANGE : -EINVAL;
  memcpy(digits, s, n + 1);
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    if (digits[n - 1] == units[i].letter) {
      mult = units[i].seconds;
      digits[--n] = '\0';
      break;
    }
  }
  /* digits only (no k/M/G: "1k" of seconds would read as a count) */
  if (n == 0 || strspn(digits, "0123456789") != n) return -EINVAL;
  r = parse_scaled(digits, count_suffixes, 1, 0, 0, UINT64_MAX, &v);
  if (r < 0) return r;
  if (v > UINT64_MAX / mult) return -ERANGE;
  v *= mult;
  if (v < min || v > max) return -ERANGE;
  *out = v;
  return 0;
}

void bq_units_error(int r, const char *name, const char *arg, uint64_t min,
                    uint64_t max, char *err, size_t errlen) {
  if (r == -ERANGE)
    snprintf(err, errlen, "--%s: '%s' is out of range (%llu to %llu)", name,
             arg != NULL ? arg : "", (unsigned long long)min,
             (unsigned long long)max);
  else
    snprintf(err, errlen, "--%s: '%s' is not a number", name,
             arg != NULL ? arg : "");
}
