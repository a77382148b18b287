/*
 * test_pool.c -- the worker pool (pool.h) against a fake store: what a
 * store's settle op (store.h) is promised.  A commit that leaves work owed
 * has its completion posted (its acks may go out) before settle runs, and
 * settle runs with the writer token held, so no other worker appends
 * until it returns.
 *
 * With a store that defers durability (caps.deferred_sync, store.h): a
 * completion is posted only after a sync() that began after its commit,
 * in commit order; the writer commits once while a sync runs, and then
 * waits for the next sync to begin; the workers' farewells come after
 * every completion; a failed sync stops the process with status 1 and
 * posts nothing.
 *
 * Threads: the test's main thread plays the loop (it takes completions);
 * the pool's workers (and syncer) call the fake store, whose state is
 * under fx.mu.
 */
#include <sys/wait.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>

#include "pool.h"
#include "queue.h"
#include "record.h"
#include "store.h"

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int appends;       /* append() calls so far */
  int owed;          /* the next settle_owed() answer */
  int settling;      /* settle() is running */
  int settles;       /* settle() calls so far */
  int release;       /* the test lets settle() return */
  int syncing;       /* sync() is running */
  int syncs;         /* sync() calls so far */
  int sync_gate;     /* sync() calls the test lets return */
  int sync_fail;     /* sync() fails */
  int durable;       /* appends made durable: those before the start of
                        the last sync() that returned */
} fx;

static int fake_append(struct bq_store *s, struct bq_rec *batch, char *err,
                       size_t errlen) {
  (void)s, (void)batch, (void)err, (void)errlen;
  pthread_mutex_lock(&fx.mu);
  fx.appends++;
  fx.owed = fx.appends == 1; /* only the first commit owes work */
  pthread_mutex_unlock(&fx.mu);
  return 0;
}

static uint64_t fake_size(struct bq_store *s) {
  (void)s;
  return 0;
}

static int fake_close(struct bq_store *s, char *err, size_t errlen) {
  (void)s, (void)err, (void)errlen;
  return 0;
}

static int fake_settle_owed(struct bq_store *s) {
  int owed;
  (void)s;
  pthread_mutex_lock(&fx.mu);
  owed = fx.owed;
  pthread_mutex_unlock(&fx.mu);
  return owed;
}

static void fake_settle(struct bq_store *s) {
  (void)s;
  pthread_mutex_lock(&fx.mu);
  if (fx.owed) {
    fx.owed = 0;
    fx.settling = 1;
    pthread_cond_broadcast(&fx.cv);
    while (!fx.release) pthread_cond_wait(&fx.cv, &fx.mu);
    fx.settling = 0;
    fx.settles++;
  }
  pthread_mutex_unlock(&fx.mu);
}

static const struct bq_store_ops fake_ops = {
    .append = fake_append,
    .size = fake_size,
    .close = fake_close,
    .settle_owed = fake_settle_owed,
    .settle = fake_settle};

static int fake_sync(struct bq_store *s, char *err, size_t errlen) {
  int covers;
  (void)s;
  pthread_mutex_lock(&fx.mu);
  covers = fx.appends;
  fx.syncing = 1;
  pthread_cond_broadcast(&fx.cv);
  while (fx.syncs >= fx.sync_gate) pthread_cond_wait(&fx.cv, &fx.mu);
  fx.syncing = 0;
  fx.syncs++;
  if (!fx.sync_fail) fx.durable = covers;
  pthread_mutex_unlock(&fx.mu);
  if (fx.sync_fail) {
    snprintf(err, errlen, "injected");
    return -BQ_STORE_IO;
  }
  return 0;
}

static const struct bq_store_ops deferred_ops = {
    .append = fake_append,
    .size = fake_size,
    .close = fake_close,
    .sync = fake_sync};

static struct bq_rec *msg(struct bq_conn *conn, int64_t seq) {
  struct bq_rec *r = calloc(1, sizeof(*r) + 1);
  assert_non_null(r);
  r->conn = conn;
  r->type = BQ_REC_MSG;
  r->conn_id = 1;
  r->seq = seq;
  r->ts_us = 1;
  r->len = 1;
  r->data[0] = 'x';
  return r;
}

/* Poll (up to a minute) until f() holds; any machine is fast enough. */
static int wait_for(int (*f)(void)) {
  for (int i = 0; i < 60000; i++) {
    if (f()) return 1;
    usleep(1000);
  }
  return 0;
}

static int is_settling(void) {
  int v;
  pthread_mutex_lock(&fx.mu);
  v = fx.settling;
  pthread_mutex_unlock(&fx.mu);
  return v;
}

static int two_appends(void) {
  int v;
  pthread_mutex_lock(&fx.mu);
  v = fx.appends == 2;
  pthread_mutex_unlock(&fx.mu);
  return v;
}

static void test_settle_after_post_under_token(void **state) {
  struct bq_queue q;
  struct bq_pool p;
  struct bq_store store;
  struct bq_pool_deps deps;
  struct bq_done *d;
  uv_loop_t loop;
  uv_async_t wake;
  char conn_token; /* stands for a connection: only its address counts */
  struct bq_conn *conn = (struct bq_conn *)(void *)&conn_token;
  struct bq_rec *a = msg(conn, 1), *b = msg(conn, 2);
  (void)state;

  memset(&fx, 0, sizeof(fx));
  pthread_mutex_init(&fx.mu, NULL);
  pthread_cond_init(&fx.cv, NULL);
  memset(&store, 0, sizeof(store));
  store.ops = &fake_ops;
  store.backend = "fake";
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_int_equal(uv_async_init(&loop, &wake, NULL), 0);
  assert_int_equal(bq_queue_init(&q, 1000, 1 << 20), 0);
  memset(&deps, 0, sizeof(deps));
  deps.queue = &q;
  deps.store = &store;
  deps.wake = &wake;
  deps.nworkers = 2;
  deps.batch_max = 1;
  assert_int_equal(bq_pool_start(&p, &deps), 0);

  bq_queue_push(&q, a, a, 1, bq_rec_cost(a));
  /* The first commit owes work: its completion is posted first ... */
  assert_true(wait_for(is_settling));
  d = bq_pool_take_done(&p);
  assert_non_null(d);
  assert_int_equal(d->n, 1);
  assert_true(d->e[0].conn == conn && d->e[0].seq == 1 && d->e[0].nmsg == 1);
  assert_null(d->next);
  free(d);
  /* ... and settle holds the token: the other worker appends nothing. */
  bq_queue_push(&q, b, b, 1, bq_rec_cost(b));
  usleep(200000);
  pthread_mutex_lock(&fx.mu);
  assert_int_equal(fx.appends, 1);
  fx.release = 1;
  pthread_cond_broadcast(&fx.cv);
  pthread_mutex_unlock(&fx.mu);
  assert_true(wait_for(two_appends));

  /* Both workers leave once the queue is closed, each with a farewell
   * (the loop takes them before joining, as server.c does). */
  bq_queue_close(&q);
  for (int i = 0, exited = 0; exited < 2; i++) {
    assert_true(i < 60000);
    for (d = bq_pool_take_done(&p); d != NULL;) {
      struct bq_done *next = d->next;
      exited += d->exited;
      free(d);
      d = next;
    }
    usleep(1000);
  }
  bq_pool_join(&p);
  assert_int_equal(fx.settles, 1);
  bq_queue_destroy(&q);
  uv_close((uv_handle_t *)&wake, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  pthread_cond_destroy(&fx.cv);
  pthread_mutex_destroy(&fx.mu);
}

static int is_syncing(void) {
  int v;
  pthread_mutex_lock(&fx.mu);
  v = fx.syncing;
  pthread_mutex_unlock(&fx.mu);
  return v;
}

struct deferred_fx {
  struct bq_queue q;
  struct bq_pool p;
  struct bq_store store;
  uv_loop_t loop;
  uv_async_t wake;
};

static void deferred_start(struct deferred_fx *t) {
  struct bq_pool_deps deps;
  memset(&fx, 0, sizeof(fx));
  pthread_mutex_init(&fx.mu, NULL);
  pthread_cond_init(&fx.cv, NULL);
  memset(&t->store, 0, sizeof(t->store));
  t->store.ops = &deferred_ops;
  t->store.backend = "fake";
  t->store.caps.deferred_sync = 1;
  assert_int_equal(uv_loop_init(&t->loop), 0);
  assert_int_equal(uv_async_init(&t->loop, &t->wake, NULL), 0);
  assert_int_equal(bq_queue_init(&t->q, 1000, 1 << 20), 0);
  memset(&deps, 0, sizeof(deps));
  deps.queue = &t->q;
  deps.store = &t->store;
  deps.wake = &t->wake;
  deps.nworkers = 1;
  deps.batch_max = 1; /* one record per commit: seq i is append i */
  assert_int_equal(bq_pool_start(&t->p, &deps), 0);
}

/* Take what is posted; check each completion against what is durable and
 * against the order; count messages and farewells. */
static void take_checked(struct deferred_fx *t, int64_t *last_seq,
                         int *exited) {
  struct bq_done *d = bq_pool_take_done(&t->p);
  while (d != NULL) {
    struct bq_done *next = d->next;
    if (d->exited) {
      (*exited)++;
    } else {
      assert_int_equal(*exited, 0); /* farewells come last */
      assert_int_equal(d->n, 1);
      pthread_mutex_lock(&fx.mu);
      assert_true(d->e[0].seq <= fx.durable);
      pthread_mutex_unlock(&fx.mu);
      assert_int_equal(d->e[0].seq, *last_seq + 1);
      *last_seq = d->e[0].seq;
    }
    free(d);
    d = next;
  }
}

static void test_deferred_sync_posts_after_flush(void **state) {
  struct deferred_fx t;
  char conn_token;
  struct bq_conn *conn = (struct bq_conn *)(void *)&conn_token;
  int64_t last = 0;
  int exited = 0;
  (void)state;

  deferred_start(&t);
  for (int64_t i = 1; i <= 3; i++) {
    struct bq_rec *r = msg(conn, i);
    bq_queue_push(&t.q, r, r, 1, bq_rec_cost(r));
    if (i == 1) assert_true(wait_for(is_syncing));
  }
  /* The writer commits 2 while the flush of 1 is held, and then lets 3
   * wait in the queue for the flush that will cover 2: one commit at most
   * waits for a flush to begin.  Nothing is posted before a flush
   * returns. */
  assert_true(wait_for(two_appends));
  usleep(200000);
  pthread_mutex_lock(&fx.mu);
  assert_int_equal(fx.appends, 2);
  pthread_mutex_unlock(&fx.mu);
  assert_null(bq_pool_take_done(&t.p));
  pthread_mutex_lock(&fx.mu);
  fx.sync_gate = 1000;
  pthread_cond_broadcast(&fx.cv);
  pthread_mutex_unlock(&fx.mu);
  bq_queue_close(&t.q);
  for (int i = 0; exited < 1; i++) {
    assert_true(i < 60000);
    take_checked(&t, &last, &exited);
    usleep(1000);
  }
  assert_int_equal(last, 3);
  bq_pool_join(&t.p);
  assert_int_equal(fx.appends, 3);
  assert_int_equal(fx.syncs, 3);
  assert_int_equal(t.p.syncs, fx.syncs);
  bq_queue_destroy(&t.q);
  uv_close((uv_handle_t *)&t.wake, NULL);
  uv_run(&t.loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&t.loop), 0);
  pthread_cond_destroy(&fx.cv);
  pthread_mutex_destroy(&fx.mu);
}

/* A failed flush: the process exits with status 1 and posts nothing (run
 * in a child, forked before any thread starts). */
static void test_deferred_sync_failure_exits(void **state) {
  int status;
  pid_t pid;
  (void)state;
  fflush(NULL);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct deferred_fx t;
    char conn_token;
    struct bq_conn *conn = (struct bq_conn *)(void *)&conn_token;
    struct bq_rec *r = msg(conn, 1);
    deferred_start(&t);
    fx.sync_fail = 1;
    fx.sync_gate = 1000;
    bq_queue_push(&t.q, r, r, 1, bq_rec_cost(r));
    for (int i = 0; i < 60000; i++) {
      struct bq_done *d = bq_pool_take_done(&t.p);
      if (d != NULL) _exit(3); /* posted despite the failed flush */
      usleep(1000);
    }
    _exit(2); /* still running a minute later */
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_settle_after_post_under_token),
      cmocka_unit_test(test_deferred_sync_posts_after_flush),
      cmocka_unit_test(test_deferred_sync_failure_exits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
