/*
 * opts.h -- option values shared by the burstq commands: the daemon's
 * address, counts, sizes and durations.
 *
 * Design: pure parsing functions that report errors as text, so every
 * command says "--name: 'value' is ..." the same way and tests can check
 * them.  Numbers follow common/units.h (sizes: powers of 1024, counts:
 * powers of 1000), as the daemon's do.  Main thread, start-up only
 * (address parsing may resolve a name).
 */
#ifndef BQ_OPTS_H
#define BQ_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define BQ_DEFAULT_HOST "127.0.0.1:7070"
#define BQ_DEFAULT_PORT 7070

/* The longest time a seconds option takes (about 23 days): its value in
 * milliseconds still fits an int, the type every timer here uses. */
#define BQ_OPT_SECONDS_MAX 2000000.0

/* The address to use: arg if not NULL, else $BURSTQ_HOST if set and not
 * empty, else BQ_DEFAULT_HOST.  Returns 0; -EINVAL (bad form), -ERANGE
 * (port 0 or above 65535) or -ENOENT (name does not resolve) with a message
 * in err. */
int bq_opt_host(const char *arg, struct sockaddr_storage *out, char *err,
                size_t errlen);

/* The -H string in effect: arg if not NULL, else $BURSTQ_HOST if set and
 * not empty, else BQ_DEFAULT_HOST (what bq_opt_host parses). */
const char *bq_opt_host_string(const char *arg);

/* The host part of a HOST:PORT string (the forms of common/addr.h) into
 * name: "[::1]:7070" gives "::1", "db1:7070" and "db1" give "db1",
 * ":7070" gives "".  Returns 0, or -ENAMETOOLONG when it does not fit
 * (name is then ""). */
int bq_opt_host_name(const char *s, char *name, size_t cap);

/* A count in [min, max]; a k, M or G suffix multiplies by 10^3, 10^6,
 * 10^9 ("2M" messages; bq_parse_count).  Returns 0 or -EINVAL with err
 * set. */
int bq_opt_count(const char *name, const char *s, uint64_t min, uint64_t max,
                 uint64_t *out, char *err, size_t errlen);

/* A size in bytes in [min, max]; a K, M or G suffix multiplies by 2^10,
 * 2^20, 2^30 ("64K" bytes; bq_parse_size).  Returns 0 or -EINVAL with err
 * set. */
int bq_opt_size(const char *name, const char *s, uint64_t min, uint64_t max,
                uint64_t *out, char *err, size_t errlen);

/* A duration in seconds, decimals allowed ("0.5"), in (0, max].  Returns 0
 * or -EINVAL with err set. */
int bq_opt_seconds(const char *name, const char *s, double max, double *out,
                   char *err, size_t errlen);

#endif /* BQ_OPTS_H */
