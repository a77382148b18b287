/*
 * rlimit.h -- kernel limits a program sizes itself against: the open-file
 * limit, for programs that hold many sockets (burstqd's connections,
 * burstq bench's), the limit on memory mappings, for burstqd's record
 * memory (server/slab.h maps it in 2 MiB slabs), and the memory the
 * process can count on (the machine's, its cgroup's limit, ulimit -v), for
 * the size of burstqd's queue.
 *
 * Design: one call each at start-up, on the main thread, before the
 * sockets are opened or the memory mapped; the caller decides what to say
 * about the outcome.
 */
#ifndef BQ_RLIMIT_H
#define BQ_RLIMIT_H

#include <stdint.h>
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

/* The smallest memory limit of the cgroup this process is in and of each
 * of its ancestors up to the hierarchy's mount: memory.limit_in_bytes on
 * cgroup v1's memory hierarchy, memory.max on cgroup v2 ("max": none),
 * the smaller of the two when both are mounted; a limit of 2^62 bytes or
 * more (v1's way of saying none) counts as none.  The cgroup paths come
 * from /proc/self/cgroup and the mounts from /proc/self/mountinfo; every
 * file is read under root ("" for this system; tests pass a directory laid
 * out like one).  Returns 0 with the limit in *bytes, or -ENOENT when no
 * limit is set or none can be read (*bytes untouched). */
int bq_cgroup_memory_limit(const char *root, uint64_t *bytes);

/* Which limit bq_memory_limit() found to be the smallest. */
enum bq_mem_bound {
  BQ_MEM_PHYSICAL,      /* the machine's memory */
  BQ_MEM_CGROUP,        /* the cgroup's limit (containers, systemd's
                           MemoryMax=) */
  BQ_MEM_ADDRESS_SPACE  /* RLIMIT_AS: ulimit -v, systemd's LimitAS= */
};

/* The memory this process can count on: the smallest of the machine's
 * physical memory, bq_cgroup_memory_limit("") and the soft RLIMIT_AS, into
 * *bytes, and which one it is into *bound.  Returns 0, or -errno when not
 * even the machine's memory can be read (nothing written). */
int bq_memory_limit(uint64_t *bytes, enum bq_mem_bound *bound);

#endif /* BQ_RLIMIT_H */
