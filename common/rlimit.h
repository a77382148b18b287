/*
 * rlimit.h -- kernel limits a program sizes itself against: the open-file
 * limit, for programs that hold many sockets (burstqd's connections,
 * burstq bench's), and the limit on memory mappings, for burstqd's record
 * memory (server/slab.h maps it in 2 MiB slabs).
 *
 * Design: one call each at start-up, on the main thread, before the
 * sockets are opened or the memory mapped; the caller decides what to say
 * about the outcome.
 */
#ifndef BQ_RLIMIT_H
#define BQ_RLIMIT_H

#include <sys/resource.h>

/* Descriptors a program needs besides its sockets (database, WAL, log,
 * listeners, loop internals): n sockets fit when n + this <= the limit. */
#define BQ_NOFILE_RESERVE 32

/* If the soft RLIMIT_NOFILE is below want (RLIM_INFINITY: below the hard
 * limit), raise it to the hard limit.  *was and *now receive the soft limit
 * before and after (RLIM_INFINITY when unlimited); *now == *was when
 * nothing changed or the kernel refused.  Returns 0, or -errno when the
 * limit cannot be read (then nothing was changed or written). */
int bq_nofile_raise(rlim_t want, rlim_t *was, rlim_t *now);

/* Whether n sockets, plus BQ_NOFILE_RESERVE, fit under the soft limit
 * lim. */
int bq_nofile_fits(unsigned long long n, rlim_t lim);

/* Mappings a program has besides its record memory (shared libraries,
 * thread stacks, allocator arenas, SQLite's): n record mappings fit when
 * n + this <= vm.max_map_count. */
#define BQ_MAPS_RESERVE 1024

/* The kernel's limit on a process's memory mappings (vm.max_map_count,
 * read from /proc/sys/vm/max_map_count) into *n.  Returns 0, or -errno
 * when it cannot be read (*n untouched). */
int bq_max_map_count(unsigned long long *n);

#endif /* BQ_RLIMIT_H */
