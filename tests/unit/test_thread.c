/*
 * test_thread.c -- unit tests of the checked pthread wrappers
 * (common/thread.h): the lock-held record of debug builds, which follows
 * the holder through a condition wait, and the abort with a message on a
 * failed call.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "thread.h"

struct shared {
  struct bq_mutex mu;
  pthread_cond_t cv;
  int stage;     /* under mu */
  int held_seen; /* what the other thread's bq_mutex_held() said */
};

static void *other(void *arg) {
  struct shared *s = arg;
#ifndef NDEBUG
  /* The main thread holds mu until it waits (stage 0 -> 1 below). */
  s->held_seen = bq_mutex_held(&s->mu);
#endif
  bq_mutex_lock(&s->mu);
  s->stage = 1;
  bq_cond_signal(&s->cv);
  bq_mutex_unlock(&s->mu);
  return NULL;
}

static void test_lock_and_wait(void **state) {
  struct shared s;
  pthread_t t;
  (void)state;
  memset(&s, 0, sizeof(s));
  s.held_seen = -1;
  assert_int_equal(bq_mutex_init(&s.mu), 0);
  assert_int_equal(bq_cond_init(&s.cv), 0);
#ifndef NDEBUG
  assert_false(bq_mutex_held(&s.mu));
#endif
  bq_mutex_lock(&s.mu);
#ifndef NDEBUG
  assert_true(bq_mutex_held(&s.mu));
#endif
  assert_int_equal(pthread_create(&t, NULL, other, &s), 0);
  while (s.stage == 0) bq_cond_wait(&s.cv, &s.mu);
#ifndef NDEBUG
  assert_true(bq_mutex_held(&s.mu)); /* back with the waiter */
#endif
  bq_mutex_unlock(&s.mu);
#ifndef NDEBUG
  assert_false(bq_mutex_held(&s.mu));
#endif
  bq_thread_join(t);
#ifndef NDEBUG
  assert_int_equal(s.held_seen, 0); /* held, but not by that thread */
#endif
  bq_cond_destroy(&s.cv);
  bq_mutex_destroy(&s.mu);
}

/* A failed call: its name and error on stderr, then SIGABRT. */
static void test_fail_aborts(void **state) {
  int fds[2], status;
  char buf[256];
  ssize_t n, got = 0;
  pid_t pid;
  (void)state;
  assert_int_equal(pipe(fds), 0);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    bq_thread_fail("pthread_mutex_lock", EINVAL);
  }
  close(fds[1]);
  while ((n = read(fds[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
    got += n;
  close(fds[0]);
  buf[got] = '\0';
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGABRT);
  assert_string_equal(buf, "fatal: pthread_mutex_lock: Invalid argument\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lock_and_wait),
      cmocka_unit_test(test_fail_aborts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
