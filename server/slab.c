/*
 * slab.c -- see slab.h.  Loop thread, except bq_rec_free_chain() and the
 * depot's return path, which run on whichever thread releases records.
 *
 * A slab is one mmap() of BQ_SLAB_SIZE bytes on a BQ_SLAB_SIZE boundary,
 * with madvise(MADV_HUGEPAGE): on a kernel whose transparent huge pages are
 * "always" or "madvise" the first store maps the whole slab at once.  The
 * advice is only a hint; where it fails (no THP in the kernel) the slab is
 * mapped page by page and everything else is the same.  Kept slabs are
 * poisoned for AddressSanitizer, so a record used after its release is
 * reported even though its memory is still mapped.
 */

#include "slab.h"

#include <assert.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "thread.h"

#if defined(__SANITIZE_ADDRESS__)
#define BQ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BQ_ASAN 1
#endif
#endif
#ifdef BQ_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define REC_ALIGN alignof(struct bq_rec)
#define BIG (BQ_SLAB_SIZE / 8)

struct bq_slab_depot {
  struct bq_mutex mu;
  struct bq_slab *kept; /* emptied slabs, a stack through next */
  size_t nkept;         /* slabs in kept, at most keep */
  size_t keep;
  size_t holds; /* 1 while the pool lives, plus 1 per mapped slab */
  int open;     /* the pool lives: emptied slabs may be kept */
};

static size_t rec_size(size_t len) {
  size_t n = sizeof(struct bq_rec) + len;
  return (n + REC_ALIGN - 1) & ~(REC_ALIGN - 1);
}

size_t bq_slab_keep(size_t queue_bytes) {
  return queue_bytes / BQ_SLAB_ROOM + 2;
}

size_t bq_slab_maps(size_t queue_bytes, size_t max_count, size_t max_len) {
  size_t big = 0;
  if (rec_size(max_len) > BIG) {
    big = queue_bytes / BIG;
    if (big > max_count) big = max_count;
  }
  return bq_slab_keep(queue_bytes) + big;
}

/* A record of its own from malloc() (slab NULL), or NULL. */
static struct bq_rec *rec_malloc(size_t len) {
  struct bq_rec *r = malloc(sizeof(*r) + len);
  if (r != NULL) r->slab = NULL;
  return r;
}

/* A fresh slab aligned on BQ_SLAB_SIZE, or NULL when out of memory: map
 * twice the size and unmap the ends around the aligned middle. */
static struct bq_slab *slab_map(void) {
  size_t span = 2 * BQ_SLAB_SIZE, head, tail;
  uintptr_t at;
  char *m = mmap(NULL, span, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

  if (m == MAP_FAILED) return NULL;
  at = ((uintptr_t)m + BQ_SLAB_SIZE - 1) & ~(uintptr_t)(BQ_SLAB_SIZE - 1);
  head = at - (uintptr_t)m;
  tail = span - head - BQ_SLAB_SIZE;
  if (head) munmap(m, head);
  if (tail) munmap((char *)at + BQ_SLAB_SIZE, tail);
#ifdef MADV_HUGEPAGE
  (void)madvise((void *)at, BQ_SLAB_SIZE, MADV_HUGEPAGE); /* a hint */
#endif
  return (struct bq_slab *)at;
}

static void slab_unmap(struct bq_slab *s) {
  UNPOISON(s, BQ_SLAB_SIZE); /* a later mapping may reuse the address */
  munmap(s, BQ_SLAB_SIZE);
}

static void depot_free(struct bq_slab_depot *d) {
  assert(d->holds == 0 && d->kept == NULL);
  bq_mutex_destroy(&d->mu);
  free(d);
}

/* s has no live record left: keep it for the loop, or unmap it (any
 * thread). */
static void slab_empty(struct bq_slab *s) {
  struct bq_slab_depot *d = s->depot;
  int last;

  bq_mutex_lock(&d->mu);
  assert(d->holds > d->nkept);
  if (d->open && d->nkept < d->keep) {
    POISON(s->mem, BQ_SLAB_ROOM); /* before the loop can take it again */
    s->next = d->kept;
    d->kept = s;
    d->nkept++;
    bq_mutex_unlock(&d->mu);
    return;
  }
  last = --d->holds == 0;
  bq_mutex_unlock(&d->mu);
  slab_unmap(s);
  if (last) depot_free(d);
}

/* Drop n references to s; the last one empties it. */
static void slab_put(struct bq_slab *s, size_t n) {
  size_t before = atomic_fetch_sub_explicit(&s->refs, n, memory_order_acq_rel);
  assert(before >= n);
  if (before == n) slab_empty(s);
}

/* A slab to carve, held once as the current one: a kept one, else a fresh
 * mapping.  NULL when out of memory. */
static struct bq_slab *slab_take(struct bq_slab_pool *p) {
  struct bq_slab_depot *d = p->depot;
  struct bq_slab *s;

  if (d == NULL) {
    d = malloc(sizeof(*d));
    if (d == NULL) return NULL;
    if (bq_mutex_init(&d->mu) != 0) {
      free(d);
      return NULL;
    }
    d->kept = NULL;
    d->nkept = 0;
    d->keep = p->keep;
    d->holds = 1;
    d->open = 1;
    p->depot = d;
  }
  bq_mutex_lock(&d->mu);
  s = d->kept;
  if (s != NULL) {
    d->kept = s->next;
    d->nkept--;
  } else {
    d->holds++; /* for the slab about to be mapped */
  }
  bq_mutex_unlock(&d->mu);

  if (s != NULL) {
    UNPOISON(s->mem, BQ_SLAB_ROOM);
    p->reused++;
  } else {
    s = slab_map();
    if (s == NULL) {
      bq_mutex_lock(&d->mu);
      d->holds--; /* never the last: the pool holds one */
      bq_mutex_unlock(&d->mu);
      return NULL;
    }
    s->depot = d;
    p->slabs++;
  }
  atomic_store_explicit(&s->refs, 1, memory_order_relaxed);
  s->used = 0;
  s->next = NULL;
  return s;
}

void bq_slab_pool_init(struct bq_slab_pool *p, size_t keep) {
  p->cur = NULL;
  p->depot = NULL;
  p->keep = keep;
  p->slabs = 0;
  p->reused = 0;
  p->trimmed = 0;
  p->unmapped = 0;
}

struct bq_rec *bq_rec_alloc(struct bq_slab_pool *p, size_t len) {
  size_t need = rec_size(len);
  struct bq_slab *s = p->cur;
  struct bq_rec *r;

  if (need > BIG) return rec_malloc(len);
  if (s == NULL || s->used + need > BQ_SLAB_ROOM) {
    struct bq_slab *fresh = slab_take(p);
    /* No slab to be had (out of memory, or of mappings: the kernel's
     * vm.max_map_count): this record alone from malloc(), which may still
     * grow the heap; the next one tries for a slab again. */
    if (fresh == NULL) {
      p->unmapped++;
      return rec_malloc(len);
    }
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

void bq_slab_pool_usage(const struct bq_slab_pool *p, size_t *mapped,
                        size_t *kept) {
  struct bq_slab_depot *d = p->depot;
  *mapped = *kept = 0;
  if (d == NULL) return;
  bq_mutex_lock(&d->mu);
  *mapped = d->holds - 1; /* all but the pool's own hold */
  *kept = d->nkept;
  bq_mutex_unlock(&d->mu);
}

/* Detach the depot's kept slabs and drop their holds; the caller holds
 * d->mu and unmaps the returned stack (unmap_stack) after unlocking.  The
 * pool's own hold keeps the depot alive. */
static struct bq_slab *detach_kept(struct bq_slab_depot *d, size_t *n) {
  struct bq_slab *kept = d->kept;
  assert(d->holds >= d->nkept + 1);
  *n = d->nkept;
  d->holds -= d->nkept;
  d->kept = NULL;
  d->nkept = 0;
  return kept;
}

static void unmap_stack(struct bq_slab *s) {
  struct bq_slab *next;
  for (; s != NULL; s = next) {
    next = s->next;
    slab_unmap(s);
  }
}

size_t bq_slab_pool_trim(struct bq_slab_pool *p) {
  struct bq_slab_depot *d = p->depot;
  struct bq_slab *kept;
  size_t n;

  if (d == NULL) return 0;
  bq_mutex_lock(&d->mu);
  assert(d->open);
  kept = detach_kept(d, &n);
  bq_mutex_unlock(&d->mu);
  unmap_stack(kept);
  p->trimmed += n;
  return n;
}

void bq_slab_pool_destroy(struct bq_slab_pool *p) {
  struct bq_slab_depot *d = p->depot;
  struct bq_slab *kept;
  size_t n;
  int last;

  if (p->cur != NULL) slab_put(p->cur, 1);
  p->cur = NULL;
  if (d == NULL) return;
  bq_mutex_lock(&d->mu);
  d->open = 0; /* with the detach, so no slab is kept after it */
  kept = detach_kept(d, &n);
  last = --d->holds == 0; /* the pool's own */
  bq_mutex_unlock(&d->mu);
  unmap_stack(kept);
  if (last) depot_free(d);
  p->depot = NULL;
}
