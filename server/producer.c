/*
 * producer.c -- see producer.h.  Loop thread only.
 */
#include "producer.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* FNV-1a: ids are short and chosen by clients; chains stay short since
 * there is one entry per connection at most and the table grows. */
static size_t hash(const char *id, size_t len) {
  uint64_t h = UINT64_C(14695981039346656037);
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)id[i];
    h *= UINT64_C(1099511628211);
  }
  return (size_t)(h ^ (h >> 32));
}

void bq_producers_init(struct bq_producers *m) {
  m->tab = NULL;
  m->cap = 0;
  m->n = 0;
}

void bq_producers_free(struct bq_producers *m) {
  free(m->tab);
  bq_producers_init(m);
}

/* Double the table (or make its first 64 chains).  Returns 0 or -1. */
static int grow(struct bq_producers *m) {
  size_t cap = m->cap ? m->cap * 2 : 64;
  struct bq_producer **tab = calloc(cap, sizeof(*tab));
  if (tab == NULL) return -1;
  for (size_t i = 0; i < m->cap; i++) {
    for (struct bq_producer *p = m->tab[i], *next; p != NULL; p = next) {
      size_t b = hash(p->name, p->len) & (cap - 1);
      next = p->hnext;
      p->hnext = tab[b];
      tab[b] = p;
    }
  }
  free(m->tab);
  m->tab = tab;
  m->cap = cap;
  return 0;
}

struct bq_producer *bq_producers_get(struct bq_producers *m, const char *id,
                                     size_t len) {
  struct bq_producer *p;
  size_t b;
  assert(len >= 1 && len <= BQ_PROTO_PRODUCER_MAX);
  if (m->cap > 0) {
    for (p = m->tab[hash(id, len) & (m->cap - 1)]; p != NULL; p = p->hnext)
      if (p->len == len && memcmp(p->name, id, len) == 0) return p;
  }
  if (m->n >= m->cap && grow(m) < 0) return NULL;
  p = malloc(sizeof(*p) + len);
  if (p == NULL) return NULL;
  p->cur = NULL;
  p->draining = 0;
  p->len = len;
  memcpy(p->name, id, len);
  b = hash(id, len) & (m->cap - 1);
  p->hnext = m->tab[b];
  m->tab[b] = p;
  m->n++;
  return p;
}

void bq_producers_put(struct bq_producers *m, struct bq_producer *p) {
  struct bq_producer **pp;
  if (p->cur != NULL || p->draining > 0) return;
  pp = &m->tab[hash(p->name, p->len) & (m->cap - 1)];
  while (*pp != p) {
    assert(*pp != NULL);
    pp = &(*pp)->hnext;
  }
  *pp = p->hnext;
  assert(m->n > 0);
  m->n--;
  free(p);
}
