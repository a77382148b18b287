/*
 * test_slab.c -- unit tests of the record allocator (server/slab.h).
 *
 * What is checked: records are aligned and hold their bytes intact while
 * neighbours are written; big records bypass the slabs; slabs sit on a
 * BQ_SLAB_SIZE boundary; a slab is emptied only when its last record goes,
 * whichever thread releases it and in whatever grouping; an emptied slab is
 * carved again, up to keep of them, and the rest are unmapped; a trim
 * unmaps the kept ones and no other; at the end
 * every slab is unmapped (msync() reports ENOMEM for it) and nothing leaks
 * (the ASan build's leak checker runs over these tests in CI).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

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
  bq_slab_pool_init(&p, 0);
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
  assert_true(p.slabs <= (bytes + N * 8) / BQ_SLAB_ROOM + 1);
  bq_rec_free_chain(first);
  bq_slab_pool_destroy(&p);
}

/* A record bigger than an eighth of a slab is a malloc of its own, and a
 * chain may mix both kinds. */
static void test_big_records(void **state) {
  struct bq_slab_pool p;
  struct bq_rec *a, *big, *b;
  (void)state;
  bq_slab_pool_init(&p, 0);
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
  bq_slab_pool_init(&p, 2);
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
  bq_slab_pool_init(&p, 2);
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

static int unmapped(const void *slab) {
  return msync((void *)(uintptr_t)slab, BQ_SLAB_SIZE, MS_ASYNC) == -1 &&
         errno == ENOMEM;
}

/* Carve records of len bytes until one lands in a slab other than s (or
 * in the first slab, when s is NULL), chaining them; returns that record,
 * which is left out of the chain. */
static struct bq_rec *carve_past(struct bq_slab_pool *p, struct bq_slab *s,
                                 size_t len, struct bq_rec **chain) {
  struct bq_rec *tail = NULL;
  *chain = NULL;
  for (unsigned i = 0;; i++) {
    struct bq_rec *r = bq_rec_alloc(p, len);
    assert_non_null(r);
    assert_int_equal((uintptr_t)r->slab % BQ_SLAB_SIZE, 0);
    fill(r, len, i);
    if (s == NULL) s = r->slab;
    if (r->slab != s) return r;
    if (tail) tail->next = r;
    else *chain = r;
    tail = r;
  }
}

/* An emptied slab is carved again instead of a fresh one, and the depot
 * keeps no more than keep of them: the rest are unmapped at once. */
static void test_emptied_slabs_are_reused_up_to_keep(void **state) {
  struct bq_slab_pool p;
  struct bq_rec *chain[4], *next;
  struct bq_slab *first[4];
  (void)state;
  bq_slab_pool_init(&p, 1);
  next = carve_past(&p, NULL, 1000, &chain[0]);
  first[0] = chain[0]->slab;
  for (int i = 1; i < 4; i++) {
    struct bq_rec *more;
    first[i] = next->slab;
    more = carve_past(&p, first[i], 1000, &chain[i]);
    /* chain[i] starts after next: put next in front of it */
    next->next = chain[i];
    chain[i] = next;
    next = more;
  }
  assert_int_equal(p.slabs, 5);
  assert_int_equal(p.reused, 0);
  for (int i = 0; i < 4; i++) {
    for (struct bq_rec *r = chain[i]; r; r = r->next) assert_true(intact(r));
    bq_rec_free_chain(chain[i]);
  }
  /* The first emptied slab is kept; the next three are unmapped. */
  assert_false(unmapped(first[0]));
  for (int i = 1; i < 4; i++) assert_true(unmapped(first[i]));
  /* The next slab the loop needs is the kept one. */
  {
    struct bq_rec *rest, *after = carve_past(&p, next->slab, 1000, &rest);
    assert_ptr_equal(after->slab, first[0]);
    assert_int_equal(p.reused, 1);
    assert_int_equal(p.slabs, 5);
    next->next = rest;
    bq_rec_free_chain(next);
    bq_slab_pool_destroy(&p);
    assert_true(intact(after));
    bq_rec_free_chain(after);
  }
  for (int i = 0; i < 4; i++) assert_true(unmapped(first[i]));
}

/* keep 0: every emptied slab is unmapped, none reused. */
static void test_keep_zero_unmaps(void **state) {
  struct bq_slab_pool p;
  struct bq_rec *chain, *next, *more;
  struct bq_slab *s;
  (void)state;
  bq_slab_pool_init(&p, 0);
  next = carve_past(&p, NULL, 500, &chain);
  s = chain->slab;
  bq_rec_free_chain(chain);
  assert_true(unmapped(s));
  more = carve_past(&p, next->slab, 500, &chain);
  assert_int_equal(p.reused, 0);
  assert_int_equal(p.slabs, 3);
  next->next = chain;
  bq_rec_free_chain(next);
  bq_slab_pool_destroy(&p);
  bq_rec_free_chain(more);
}

/* bq_slab_pool_trim unmaps the kept slabs, never the current one nor one
 * with records alive, and the depot keeps slabs again afterwards. */
static void test_trim_unmaps_kept(void **state) {
  struct bq_slab_pool p;
  struct bq_rec *c1, *c2, *n1, *n2, *rest, *after;
  struct bq_slab *s1, *s2;
  size_t mapped, kept;
  (void)state;
  bq_slab_pool_init(&p, 4);
  assert_int_equal(bq_slab_pool_trim(&p), 0); /* no depot yet */
  n1 = carve_past(&p, NULL, 1000, &c1);
  s1 = c1->slab;
  n2 = carve_past(&p, n1->slab, 1000, &c2);
  s2 = c2->slab; /* n1 heads it: chain n1 in front of c2 */
  n1->next = c2;
  c2 = n1;
  bq_rec_free_chain(c1);
  bq_slab_pool_usage(&p, &mapped, &kept);
  assert_int_equal(mapped, 3); /* s1 kept, s2 alive, n2's current */
  assert_int_equal(kept, 1);
  assert_int_equal(bq_slab_pool_trim(&p), 1);
  assert_int_equal(p.trimmed, 1);
  assert_true(unmapped(s1));
  assert_false(unmapped(s2));
  assert_true(intact(n2) && intact(c2));
  bq_slab_pool_usage(&p, &mapped, &kept);
  assert_int_equal(mapped, 2);
  assert_int_equal(kept, 0);
  assert_int_equal(bq_slab_pool_trim(&p), 0);
  /* Emptied after the trim: kept and carved again. */
  bq_rec_free_chain(c2);
  assert_false(unmapped(s2));
  after = carve_past(&p, n2->slab, 1000, &rest);
  assert_ptr_equal(after->slab, s2);
  assert_int_equal(p.reused, 1);
  n2->next = rest;
  bq_rec_free_chain(n2);
  bq_slab_pool_destroy(&p);
  bq_rec_free_chain(after);
  assert_true(unmapped(s2));
}

/* The daemon's pattern with reuse: the loop carves batches while another
 * thread checks and releases earlier ones, through a one-slot handoff, so
 * slabs go back and forth between the threads (TSan checks the depot).
 * At most three batches of about 1 MiB are alive at once (being carved,
 * in the slot, being released), spanning at most three slabs plus the
 * current one; with keep 8 every slab emptied is kept, so no more than
 * four are ever mapped, however many batches pass. */
struct handoff {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct bq_rec *slot;
  int done;
  int bad;
};

static void *releaser(void *arg) {
  struct handoff *h = arg;
  for (;;) {
    struct bq_rec *chain;
    pthread_mutex_lock(&h->mu);
    while (h->slot == NULL && !h->done) pthread_cond_wait(&h->cv, &h->mu);
    chain = h->slot;
    h->slot = NULL;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    if (chain == NULL) return NULL;
    for (struct bq_rec *r = chain; r; r = r->next)
      if (!intact(r)) h->bad = 1;
    bq_rec_free_chain(chain);
  }
}

static void test_reuse_across_threads(void **state) {
  enum { BATCHES = 200, PER = 1000, LEN = 1000 };
  struct bq_slab_pool p;
  struct handoff h = {.slot = NULL, .done = 0, .bad = 0};
  pthread_t t;
  (void)state;
  pthread_mutex_init(&h.mu, NULL);
  pthread_cond_init(&h.cv, NULL);
  bq_slab_pool_init(&p, 8);
  assert_int_equal(pthread_create(&t, NULL, releaser, &h), 0);
  for (unsigned b = 0; b < BATCHES; b++) {
    struct bq_rec *first = NULL, *tail = NULL;
    for (unsigned i = 0; i < PER; i++) {
      struct bq_rec *r = bq_rec_alloc(&p, LEN);
      assert_non_null(r);
      fill(r, LEN, b * PER + i);
      if (tail) tail->next = r;
      else first = r;
      tail = r;
    }
    pthread_mutex_lock(&h.mu);
    while (h.slot != NULL) pthread_cond_wait(&h.cv, &h.mu);
    h.slot = first;
    pthread_cond_broadcast(&h.cv);
    pthread_mutex_unlock(&h.mu);
  }
  pthread_mutex_lock(&h.mu);
  while (h.slot != NULL) pthread_cond_wait(&h.cv, &h.mu);
  h.done = 1;
  pthread_cond_broadcast(&h.cv);
  pthread_mutex_unlock(&h.mu);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_false(h.bad);
  assert_true(p.slabs <= 4);
  assert_true(p.reused >= (size_t)BATCHES * PER * (LEN + 64) / BQ_SLAB_SIZE -
                              p.slabs - 1);
  bq_slab_pool_destroy(&p);
  pthread_mutex_destroy(&h.mu);
  pthread_cond_destroy(&h.cv);
}

/* bq_slab_keep covers the queue's byte bound plus two slabs. */
static void test_keep_for_queue_bytes(void **state) {
  (void)state;
  assert_int_equal(bq_slab_keep(0), 2);
  assert_int_equal(bq_slab_keep(64u << 20), (64u << 20) / BQ_SLAB_ROOM + 2);
  assert_true(bq_slab_keep(64u << 20) * BQ_SLAB_ROOM >= (64u << 20));
}

/* bq_slab_maps counts the slabs a queue's bytes fill or keep, plus, once
 * a record of max_len is too big to share a slab (bq_rec_alloc's own
 * choice, checked on both sides of the boundary), one mapping per big
 * record. */
static void test_maps_for_queue_bytes(void **state) {
  const size_t q = 64u << 20, big = BQ_SLAB_SIZE / 8;
  struct bq_slab_pool p;
  struct bq_rec *fits, *over;
  (void)state;
  assert_int_equal(bq_slab_maps(q, 1u << 20, 65536), bq_slab_keep(q));
  assert_int_equal(bq_slab_maps(q, 1u << 20, BQ_SLAB_SIZE),
                   bq_slab_keep(q) + q / big);
  /* fewer big records than the bytes would hold: the count bounds them */
  assert_int_equal(bq_slab_maps(q, 10, BQ_SLAB_SIZE), bq_slab_keep(q) + 10);
  bq_slab_pool_init(&p, 0);
  fits = bq_rec_alloc(&p, big - 256);
  over = bq_rec_alloc(&p, big);
  assert_non_null(fits);
  assert_non_null(over);
  assert_non_null(fits->slab);
  assert_null(over->slab);
  assert_int_equal(bq_slab_maps(q, 1u << 20, big - 256), bq_slab_keep(q));
  assert_int_equal(bq_slab_maps(q, 1u << 20, big), bq_slab_keep(q) + q / big);
  fits->next = over;
  over->next = NULL;
  bq_rec_free_chain(fits);
  bq_slab_pool_destroy(&p);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

#ifndef SANITIZED
/* The process's address space in bytes (VmSize), or 0. */
static size_t vm_size(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  unsigned long kb = 0;
  if (f == NULL) return 0;
  while (fgets(line, sizeof(line), f) != NULL)
    if (sscanf(line, "VmSize: %lu kB", &kb) == 1) break;
  fclose(f);
  return (size_t)kb * 1024;
}
#endif

/* When no slab can be mapped, the record comes from malloc() (slab NULL)
 * and the current slab stays; the next record tries for a slab again.  An
 * address-space limit just above what the process has leaves the heap
 * room to grow but no room for a slab's mapping.  Not under sanitizers,
 * which reserve far more address space than any such limit. */
static void test_no_slab_falls_back_to_malloc(void **state) {
#ifdef SANITIZED
  (void)state;
  skip();
#else
  struct bq_slab_pool p;
  struct bq_rec *chain = NULL, **tail = &chain, *r;
  struct bq_slab *cur;
  struct rlimit old, lim;
  size_t vm;
  (void)state;
  bq_slab_pool_init(&p, 0);
  /* fill the first slab to within 4 KiB of its end */
  do {
    size_t room = BQ_SLAB_ROOM - (p.cur ? p.cur->used : 0);
    size_t len = room > 8192 ? room - 8192 : 0;
    if (len > BQ_SLAB_SIZE / 8 - 4096) len = BQ_SLAB_SIZE / 8 - 4096;
    r = bq_rec_alloc(&p, len);
    assert_non_null(r);
    assert_non_null(r->slab);
    *tail = r;
    tail = &r->next;
    r->next = NULL;
  } while (BQ_SLAB_ROOM - p.cur->used > 8192 + 4096);
  cur = p.cur;
  assert_int_equal(p.slabs, 1);
  assert_int_equal(p.unmapped, 0);

  vm = vm_size();
  assert_true(vm > 0);
  assert_int_equal(getrlimit(RLIMIT_AS, &old), 0);
  lim = old;
  lim.rlim_cur = vm + (1u << 20); /* room for the heap, not for a slab */
  assert_int_equal(setrlimit(RLIMIT_AS, &lim), 0);
  r = bq_rec_alloc(&p, 16000); /* more than the slab has left */
  assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);
  assert_non_null(r);
  assert_null(r->slab);
  assert_ptr_equal(p.cur, cur);
  assert_int_equal(p.slabs, 1);
  assert_int_equal(p.unmapped, 1);
  *tail = r;
  tail = &r->next;
  r->next = NULL;

  r = bq_rec_alloc(&p, 16000); /* limit lifted: a fresh slab */
  assert_non_null(r);
  assert_non_null(r->slab);
  assert_ptr_not_equal(r->slab, cur);
  assert_int_equal(p.slabs, 2);
  assert_int_equal(p.unmapped, 1);
  *tail = r;
  r->next = NULL;
  bq_rec_free_chain(chain);
  bq_slab_pool_destroy(&p);
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_carve_and_free),
      cmocka_unit_test(test_big_records),
      cmocka_unit_test(test_slab_lives_until_last_record),
      cmocka_unit_test(test_release_from_two_threads),
      cmocka_unit_test(test_emptied_slabs_are_reused_up_to_keep),
      cmocka_unit_test(test_keep_zero_unmaps),
      cmocka_unit_test(test_trim_unmaps_kept),
      cmocka_unit_test(test_reuse_across_threads),
      cmocka_unit_test(test_keep_for_queue_bytes),
      cmocka_unit_test(test_maps_for_queue_bytes),
      cmocka_unit_test(test_no_slab_falls_back_to_malloc),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
