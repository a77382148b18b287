/*
 * thread.c -- see thread.h.  Any thread.
 */
#include "thread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef NDEBUG
_Thread_local char bq_thread_self;
#endif

void bq_thread_fail(const char *call, int rc) {
  fprintf(stderr, "fatal: %s: %s\n", call, strerror(rc));
  abort();
}

int bq_mutex_init(struct bq_mutex *m) {
  int rc = pthread_mutex_init(&m->mu, NULL);
  if (rc != 0) return -rc;
#ifndef NDEBUG
  atomic_init(&m->owner, NULL);
#endif
  return 0;
}

void bq_mutex_destroy(struct bq_mutex *m) {
  int rc;
  assert(!bq_mutex_held(m));
  rc = pthread_mutex_destroy(&m->mu);
  if (rc != 0) bq_thread_fail("pthread_mutex_destroy", rc);
}

int bq_cond_init(pthread_cond_t *cv) {
  int rc = pthread_cond_init(cv, NULL);
  return -rc;
}

void bq_cond_destroy(pthread_cond_t *cv) {
  int rc = pthread_cond_destroy(cv);
  if (rc != 0) bq_thread_fail("pthread_cond_destroy", rc);
}

void bq_thread_join(pthread_t t) {
  int rc = pthread_join(t, NULL);
  if (rc != 0) bq_thread_fail("pthread_join", rc);
}
