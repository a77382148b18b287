/*
 * opts.c -- see opts.h.  Stateless.
 */
#include "opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "units.h"

const char *bq_opt_host_string(const char *arg) {
  const char *s = arg;
  if (s == NULL) s = getenv("BURSTQ_HOST");
  if (s == NULL || *s == '\0') s = BQ_DEFAULT_HOST;
  return s;
}

int bq_opt_host_name(const char *s, char *name, size_t cap) {
  const char *end, *colon = strrchr(s, ':');
  size_t n;
  if (s[0] == '[') { /* [v6]:port or [v6] */
    s++;
    end = strchr(s, ']');
    if (end == NULL) end = s + strlen(s);
  } else if (colon != NULL && strchr(s, ':') == colon) { /* host:port */
    end = colon;
  } else { /* host alone, or a bare IPv6 address */
    end = s + strlen(s);
  }
  n = (size_t)(end - s);
  if (cap == 0) return -ENAMETOOLONG;
  if (n >= cap) {
    name[0] = '\0';
    return -ENAMETOOLONG;
  }
  memcpy(name, s, n);
  name[n] = '\0';
  return 0;
}

int bq_opt_host(const char *arg, struct sockaddr_storage *out, char *err,
                size_t errlen) {
  const char *s = bq_opt_host_string(arg);
  int r;
  r = bq_addr_parse(s, BQ_DEFAULT_PORT, out);
  /* Port 0 is for listening (the kernel picks one); nothing answers there. */
  if (r == 0 && bq_addr_port(out) == 0) r = -ERANGE;
  if (r == -ERANGE)
    snprintf(err, errlen, "the port in '%s' is out of range (1 to 65535)", s);
  else if (r == -ENOENT)
    snprintf(err, errlen, "cannot resolve the host in '%s'", s);
  else if (r < 0)
    snprintf(err, errlen,
             "'%s' is not HOST:PORT (for example 127.0.0.1:7070, "
             "[::1]:7070, localhost)", s);
  return r;
}

int bq_opt_count(const char *name, const char *s, uint64_t min, uint64_t max,
                 uint64_t *out, char *err, size_t errlen) {
  int r = bq_parse_count(s, min, max, out);
  if (r < 0) {
    bq_units_error(r, name, s, min, max, err, errlen);
    return -EINVAL;
  }
  return 0;
}

int bq_opt_size(const char *name, const char *s, uint64_t min, uint64_t max,
                uint64_t *out, char *err, size_t errlen) {
  size_t v;
  int r = bq_parse_size(s, (size_t)min, (size_t)max, &v);
  if (r < 0) {
    bq_units_error(r, name, s, min, max, err, errlen);
    return -EINVAL;
  }
  *out = v;
  return 0;
}

int bq_opt_seconds(const char *name, const char *s, double max, double *out,
                   char *err, size_t errlen) {
  char *end;
  double v;
  if (s == NULL || ((*s < '0' || *s > '9') && *s != '.')) goto bad;
  errno = 0;
  v = strtod(s, &end);
  if (errno != 0 || *end != '\0' || end == s) goto bad;
  if (!(v > 0.0) || v > max) {
    snprintf(err, errlen, "--%s: '%s' is out of range (more than 0, at most %.15g "
             "seconds)", name, s, max);
    return -EINVAL;
  }
  *out = v;
  return 0;
bad:
  snprintf(err, errlen, "--%s: '%s' is not a number of seconds", name,
           s ? s : "");
  return -EINVAL;
}
