/*
 * slab.c -- see slab.h.  Loop thread, except bq_rec_free_chain().
 */

#include "slab.h"

#include <assert.h>
#include <stdalign.h>
#include <stdlib.h>

#define REC_ALIGN alignof(struct bq_rec)
#define BIG (BQ_SLAB_SIZE / 8)

static size_t rec_size(size_t len) {
  size_t n = sizeof(struct bq_rec) + len;
  return (n + REC_ALIGN - 1) & ~(REC_ALIGN - 1);
}

/* Drop n references to s; free it on the last one. */
static void slab_put(struct bq_slab *s, size_t n) {
  size_t before = atomic_fetch_sub_explicit(&s->refs, n, memory_order_acq_rel);
  assert(before >= n);
  if (before == n) free(s);
}

void bq_slab_pool_init(struct bq_slab_pool *p) {
  p->cur = NULL;
  p->slabs = 0;
}

struct bq_rec *bq_rec_alloc(struct bq_slab_pool *p, size_t len) {
  size_t need = rec_size(len);
  struct bq_slab *s = p->cur;
  struct bq_rec *r;

  if (need > BIG) {
    r = malloc(sizeof(*r) + len);
    if (r != NULL) r->slab = NULL;
    return r;
  }
  if (s == NULL || s->used + need > BQ_SLAB_SIZE) {
    struct bq_slab *fresh = malloc(sizeof(*fresh) + BQ_SLAB_SIZE);
    if (fresh == NULL) return NULL;
    atomic_init(&fresh->refs, 1);
    fresh->used = 0;
    p->slabs++;
    if (s != NULL) slab_put(s, 1); /* no longer current */
    p->cur = s = fresh;
  }
  assert(s->used % REC_ALIGN == 0);
  r = (struct bq_rec *)(void *)(s->mem + s->used);
  s->used += need;
  atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  r->slab = s;
  return r;
}

void bq_rec_free_chain(struct bq_rec *first) {
  struct bq_slab *run = NULL;
  size_t n = 0;
  struct bq_rec *r, *next;

  for (r = first; r != NULL; r = next) {
    next = r->next;
    if (r->slab == NULL) {
      free(r);
      continue;
    }
    if (r->slab != run) {
      if (run != NULL) slab_put(run, n);
      run = r->slab;
      n = 0;
    }
    n++;
  }
  if (run != NULL) slab_put(run, n);
}

void bq_slab_pool_destroy(struct bq_slab_pool *p) {
  if (p->cur != NULL) slab_put(p->cur, 1);
  p->cur = NULL;
}
