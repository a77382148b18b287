/*
 * test_slab.c -- unit tests of the record allocator (server/slab.h).
 *
 * What is checked: records are aligned and hold their bytes intact while
 * neighbours are written; big records bypass the slabs; a slab is freed
 * only when its last record goes, whichever thread releases it and in
 * whatever grouping; nothing leaks (the ASan build's leak checker runs over
 * these tests in CI).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "slab.h"

static void fill(struct bq_rec *r, size_t len, unsigned seed) {
  r->len = (uint32_t)len;
  r->seq = (int64_t)seed;
  r->next = NULL;
  for (size_t i = 0; i < len; i++) r->data[i] = (char)(seed * 131u + i);
}

static int intact(const struct bq_rec *r) {
  unsigned seed = (unsigned)r->seq;
  for (size_t i = 0; i < r->len; i++)
    if (r->data[i] != (char)(seed * 131u + i)) return 0;
  return 1;
}

/* Many records of mixed sizes: aligned, intact, counted in slabs. */
static void test_carve_and_free(void **state) {
  enum { N = 20000 };
  struct bq_slab_pool p;
  struct bq_rec *first = NULL, *last = NULL;
  size_t bytes = 0;
  (void)state;
  bq_slab_pool_init(&p);
  for (unsigned i = 0; i < N; i++) {
    size_t len = (i * 7919u) % 300;
    struct bq_rec *r = bq_rec_alloc(&p, len);
    assert_non_null(r);
    assert_int_equal((uintptr_t)r % _Alignof(struct bq_rec), 0);
    assert_non_null(r->slab);
    fill(r, len, i);
    if (last) last->next = r;
    else first = r;
    last = r;
    bytes += sizeof(*r) + len;
  }
  for (struct bq_rec *r = first; r; r = r->next) assert_true(intact(r));
  /* Slabs are filled, not wasted: at most one more than the bytes need,
   * allowing for alignment. */
  assert_true(p.slabs >= 1);
  assert_true(p.slabs <= (bytes + N * 8) / BQ_SLAB_SIZE + 1);
  bq_rec_free_chain(first);
  bq_slab_pool_destroy(&p);
}

/* A record bigger than an eighth of a slab is a malloc of its own, and a
 * chain may mix both kinds. */
static void test_big_records(void **state) {
  struct bq_slab_pool p;
  struct bq_rec *a, *big, *b;
  (void)state;
  bq_slab_pool_init(&p);
  a = bq_rec_alloc(&p, 10);
  big = bq_rec_alloc(&p, BQ_SLAB_SIZE);
  b = bq_rec_alloc(&p, 10);
  assert_non_null(a);
  assert_non_null(big);
  assert_non_null(b);
  assert_null(big->slab);
  assert_ptr_equal(a->slab, b->slab);
  fill(a, 10, 1);
  fill(big, BQ_SLAB_SIZE, 2);
  fill(b, 10, 3);
  a->next = big;
  big->next = b;
  assert_true(intact(a) && intact(big) && intact(b));
  bq_slab_pool_destroy(&p); /* the slab outlives the pool while a, b live */
  assert_true(intact(a) && intact(b));
  bq_rec_free_chain(a);
}

/* A slab survives the release of every record but one, released in
 * separate chains, and the pool's own hold. */
static void test_slab_lives_until_last_record(void **state) {
  struct bq_slab_pool p;
  struct bq_rec *r[4];
  (void)state;
  bq_slab_pool_init(&p);
  for (int i = 0; i < 4; i++) {
    r[i] = bq_rec_alloc(&p, 32);
    assert_non_null(r[i]);
    fill(r[i], 32, (unsigned)i);
  }
  r[0]->next = r[2]; /* non-adjacent records of one slab in one chain */
  bq_rec_free_chain(r[0]);
  bq_slab_pool_destroy(&p);
  bq_rec_free_chain(r[1]);
  assert_true(intact(r[3])); /* still readable: ASan would object if not */
  bq_rec_free_chain(r[3]);
}

struct half {
  struct bq_rec *chain;
};

static void *release(void *arg) {
  bq_rec_free_chain(((struct half *)arg)->chain);
  return NULL;
}

/* Two threads release interleaved records of the same slabs at once, as
 * the loop (allocating) and workers (releasing) do; TSan checks it. */
static void test_release_from_two_threads(void **state) {
  enum { N = 5000 };
  struct bq_slab_pool p;
  struct half h[2] = {{NULL}, {NULL}};
  struct bq_rec *tail[2] = {NULL, NULL};
  pthread_t t[2];
  (void)state;
  bq_slab_pool_init(&p);
  for (unsigned i = 0; i < N; i++) {
    struct bq_rec *r = bq_rec_alloc(&p, 100);
    int k = (int)(i % 2);
    assert_non_null(r);
    fill(r, 100, i);
    if (tail[k]) tail[k]->next = r;
    else h[k].chain = r;
    tail[k] = r;
  }
  bq_slab_pool_destroy(&p);
  for (int k = 0; k < 2; k++)
    assert_int_equal(pthread_create(&t[k], NULL, release, &h[k]), 0);
  for (int k = 0; k < 2; k++) assert_int_equal(pthread_join(t[k], NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_carve_and_free),
      cmocka_unit_test(test_big_records),
      cmocka_unit_test(test_slab_lives_until_last_record),
      cmocka_unit_test(test_release_from_two_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
