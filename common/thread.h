/*
 * thread.h -- checked mutexes and condition variables over pthreads.
 *
 * Design: a pthread lock or wait that fails means the program is already
 * broken (a mutex destroyed while held, unlocked by a thread that does not
 * hold it, memory overwritten): there is nothing to recover and carrying on
 * would corrupt what the lock guards.  So every lock, unlock, wait, signal,
 * broadcast, destroy and join here aborts with a message naming the call on
 * stderr when pthreads reports an error, as libuv's uv_mutex_lock() does.
 * Only the two initialisers return an error (0 or -errno), because their
 * callers can fail cleanly: they run at start-up and may run out of memory.
 *
 * Lock-held assertions: pthreads cannot say whether the calling thread holds
 * a mutex, so a debug build (NDEBUG undefined) records the holder in the
 * struct bq_mutex itself: owner is the address of a thread-local byte of the
 * holding thread (unique among live threads, and plain C11), or NULL.  Only
 * the holder writes it, after locking and before unlocking (and around a
 * condition wait), so for the calling thread bq_mutex_held() is exact; it is
 * atomic only so that other threads' loads are defined.  A `*_locked`
 * helper states its precondition with assert(bq_mutex_held(&x->mu)).
 * Release builds (NDEBUG) keep no owner: struct bq_mutex is exactly a
 * pthread_mutex_t, the wrappers are inline calls plus a branch on the
 * result, and bq_mutex_held() does not exist (use it inside assert() only).
 *
 * Threads: any; a struct bq_mutex is shared like the pthread_mutex_t it
 * wraps.  Init and destroy are the owner's business, as with pthreads.
 */
#ifndef BQ_THREAD_H
#define BQ_THREAD_H

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>
#ifndef NDEBUG
#include <stdatomic.h>
#include <stddef.h>
#endif

struct bq_mutex {
  pthread_mutex_t mu;
#ifndef NDEBUG
  _Atomic(const void *) owner; /* BQ_THREAD_SELF of the holder, or NULL */
#endif
};

/* Print "fatal: CALL: strerror(rc)" on stderr and abort(). */
_Noreturn void bq_thread_fail(const char *call, int rc);

/* Initialise m (a default, non-recursive mutex).  Returns 0 or -errno. */
int bq_mutex_init(struct bq_mutex *m);

/* Destroy m, which no thread may hold. */
void bq_mutex_destroy(struct bq_mutex *m);

/* Initialise cv (default attributes).  Returns 0 or -errno. */
int bq_cond_init(pthread_cond_t *cv);
void bq_cond_destroy(pthread_cond_t *cv);

/* Wait for thread t to end (its result is not wanted). */
void bq_thread_join(pthread_t t);

#ifndef NDEBUG
extern _Thread_local char bq_thread_self;
#define BQ_THREAD_SELF ((const void *)&bq_thread_self)

/* 1 if the calling thread holds m.  Debug builds only: for assert(). */
static inline int bq_mutex_held(const struct bq_mutex *m) {
  return atomic_load_explicit((_Atomic(const void *) *)&m->owner,
                              memory_order_relaxed) == BQ_THREAD_SELF;
}
#endif

static inline void bq_mutex_lock(struct bq_mutex *m) {
  int rc;
  assert(!bq_mutex_held(m)); /* not recursive: this would deadlock */
  rc = pthread_mutex_lock(&m->mu);
  if (rc != 0) bq_thread_fail("pthread_mutex_lock", rc);
#ifndef NDEBUG
  atomic_store_explicit(&m->owner, BQ_THREAD_SELF, memory_order_relaxed);
#endif
}

static inline void bq_mutex_unlock(struct bq_mutex *m) {
  int rc;
  assert(bq_mutex_held(m));
#ifndef NDEBUG
  atomic_store_explicit(&m->owner, NULL, memory_order_relaxed);
#endif
  rc = pthread_mutex_unlock(&m->mu);
  if (rc != 0) bq_thread_fail("pthread_mutex_unlock", rc);
}

/* Wait on cv, which releases m meanwhile; the caller holds m. */
static inline void bq_cond_wait(pthread_cond_t *cv, struct bq_mutex *m) {
  int rc;
  assert(bq_mutex_held(m));
#ifndef NDEBUG
  atomic_store_explicit(&m->owner, NULL, memory_order_relaxed);
#endif
  rc = pthread_cond_wait(cv, &m->mu);
  if (rc != 0) bq_thread_fail("pthread_cond_wait", rc);
#ifndef NDEBUG
  atomic_store_explicit(&m->owner, BQ_THREAD_SELF, memory_order_relaxed);
#endif
}

/* As bq_cond_wait, but until the CLOCK_REALTIME time abs at the latest.
 * Returns 1 if that time passed (m held again either way), else 0. */
static inline int bq_cond_timedwait(pthread_cond_t *cv, struct bq_mutex *m,
                                    const struct timespec *abs) {
  int rc;
  assert(bq_mutex_held(m));
#ifndef NDEBUG
  atomic_store_explicit(&m->owner, NULL, memory_order_relaxed);
#endif
  rc = pthread_cond_timedwait(cv, &m->mu, abs);
  if (rc != 0 && rc != ETIMEDOUT)
    bq_thread_fail("pthread_cond_timedwait", rc);
#ifndef NDEBUG
  atomic_store_explicit(&m->owner, BQ_THREAD_SELF, memory_order_relaxed);
#endif
  return rc == ETIMEDOUT;
}

static inline void bq_cond_signal(pthread_cond_t *cv) {
  int rc = pthread_cond_signal(cv);
  if (rc != 0) bq_thread_fail("pthread_cond_signal", rc);
}

static inline void bq_cond_broadcast(pthread_cond_t *cv) {
  int rc = pthread_cond_broadcast(cv);
  if (rc != 0) bq_thread_fail("pthread_cond_broadcast", rc);
}

#endif /* BQ_THREAD_H */
