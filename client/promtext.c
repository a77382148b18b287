/*
 * promtext.c -- see promtext.h.  No shared state.
 */
#include "promtext.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int name_start(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         c == ':';
}
static int name_char(int c) { return name_start(c) || (c >= '0' && c <= '9'); }

static char *dup_n(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d == NULL) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

static void free_sample(struct bq_prom_sample *s) {
  for (size_t i = 0; i < s->nlabels; i++) {
    free(s->labels[i].name);
    free(s->labels[i].value);
  }
  free(s->labels);
  free(s->name);
}

void bq_prom_free(struct bq_prom *p) {
  for (size_t i = 0; i < p->n; i++) free_sample(&p->s[i]);
  free(p->s);
  p->s = NULL;
  p->n = p->cap = 0;
}

/* A value: a float as strtod reads it, or NaN, +Inf, -Inf, Inf (any case,
 * as the format allows).  Returns 0 and advances *pp, or -1. */
static int parse_value(const char **pp, const char *end, double *out) {
  const char *p = *pp;
  char tmp[64];
  size_t n = 0;
  char *e;
  while (p + n < end && p[n] != ' ' && p[n] != '\t') n++;
  if (n == 0 || n >= sizeof(tmp)) return -1;
  memcpy(tmp, p, n);
  tmp[n] = '\0';
  if (strcasecmp(tmp, "nan") == 0) *out = NAN;
  else if (strcasecmp(tmp, "+inf") == 0 || strcasecmp(tmp, "inf") == 0)
    *out = INFINITY;
  else if (strcasecmp(tmp, "-inf") == 0) *out = -INFINITY;
  else {
    errno = 0;
    *out = strtod(tmp, &e);
    if (e == tmp || *e != '\0' || tmp[0] == ' ') return -1;
    /* strtod also takes hex and "infinity"; the format does not. */
    if (strpbrk(tmp, "xXyY") != NULL) return -1;
  }
  *pp = p + n;
  return 0;
}

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  return p;
}

/* Parse {name="value",...} at *pp into s.  Returns NULL or an error. */
static const char *parse_labels(const char **pp, const char *end,
                                struct bq_prom_sample *s) {
  const char *p = *pp + 1; /* past '{' */
  size_t cap = 0;
  for (;;) {
    const char *ns;
    struct bq_prom_label *l;
    char *v;
    size_t vn = 0;
    p = skip_ws(p, end);
    if (p < end && *p == '}') break;
    if (p >= end || !name_start((unsigned char)*p)) return "bad label name";
    ns = p;
    while (p < end && name_char((unsigned char)*p)) p++;
    if (s->nlabels == cap) {
      size_t nc = cap ? cap * 2 : 4;
      struct bq_prom_label *nl = realloc(s->labels, nc * sizeof(*nl));
      if (nl == NULL) return "out of memory";
      s->labels = nl;
      cap = nc;
    }
    l = &s->labels[s->nlabels];
    l->name = dup_n(ns, (size_t)(p - ns));
    l->value = NULL;
    if (l->name == NULL) return "out of memory";
    s->nlabels++;
    p = skip_ws(p, end);
    if (p >= end || *p != '=') return "expected '=' after a label name";
    p = skip_ws(p + 1, end);
    if (p >= end || *p != '"') return "expected a quoted label value";
    p++;
    v = malloc((size_t)(end - p) + 1);
    if (v == NULL) return "out of memory";
    l->value = v;
    while (p < end && *p != '"') {
      if (*p == '\\') {
        if (p + 1 >= end) return "unterminated label value";
        p++;
        if (*p == 'n') v[vn++] = '\n';
        else if (*p == '\\' || *p == '"') v[vn++] = *p;
        else return "bad escape in a label value";
        p++;
      } else {
        v[vn++] = *p++;
      }
    }
    if (p >= end) return "unterminated label value";
    v[vn] = '\0';
    p = skip_ws(p + 1, end);
    if (p < end && *p == ',') {
      p++;
      continue;
    }
    if (p < end && *p == '}') break;
    return "expected ',' or '}' after a label";
  }
  *pp = p + 1;
  return NULL;
}

/* Parse one sample line [p, end) into s.  Returns NULL or an error. */
static const char *parse_line(const char *p, const char *end,
                              struct bq_prom_sample *s) {
  const char *ns = p, *why;
  double ts;
  if (!name_start((unsigned char)*p)) return "bad metric name";
  while (p < end && name_char((unsigned char)*p)) p++;
  s->name = dup_n(ns, (size_t)(p - ns));
  if (s->name == NULL) return "out of memory";
  if (p < end && *p == '{' && (why = parse_labels(&p, end, s)) != NULL)
    return why;
  if (p >= end || (*p != ' ' && *p != '\t')) return "expected a space before the value";
  p = skip_ws(p, end);
  if (parse_value(&p, end, &s->value) < 0) return "bad value";
  p = skip_ws(p, end);
  if (p < end) { /* an optional timestamp (milliseconds), ignored */
    if (parse_value(&p, end, &ts) < 0 || ts != floor(ts))
      return "bad timestamp";
    p = skip_ws(p, end);
    if (p < end) return "junk after the value";
  }
  return NULL;
}

int bq_prom_parse(struct bq_prom *p, const char *text, size_t len, char *err,
                  size_t errlen) {
  const char *q = text, *end = text + len;
  size_t lineno = 0;
  p->s = NULL;
  p->n = p->cap = 0;
  while (q < end) {
    const char *nl = memchr(q, '\n', (size_t)(end - q));
    const char *le = nl ? nl : end, *why;
    struct bq_prom_sample s;
    lineno++;
    if (le > q && le[-1] == '\r') le--;
    q = skip_ws(q, le);
    if (q == le || *q == '#') goto next;
    memset(&s, 0, sizeof(s));
    why = parse_line(q, le, &s);
    if (why == NULL && p->n == p->cap) {
      size_t nc = p->cap ? p->cap * 2 : 64;
      struct bq_prom_sample *ns = realloc(p->s, nc * sizeof(*ns));
      if (ns == NULL) why = "out of memory";
      else {
        p->s = ns;
        p->cap = nc;
      }
    }
    if (why != NULL) {
      int oom = strcmp(why, "out of memory") == 0;
      snprintf(err, errlen, "line %zu: %s", lineno, why);
      free_sample(&s);
      bq_prom_free(p);
      return oom ? -ENOMEM : -EINVAL;
    }
    p->s[p->n++] = s;
  next:
    q = nl ? nl + 1 : end;
  }
  return 0;
}

const char *bq_prom_label(const struct bq_prom_sample *s, const char *name) {
  for (size_t i = 0; i < s->nlabels; i++)
    if (strcmp(s->labels[i].name, name) == 0) return s->labels[i].value;
  return NULL;
}

int bq_prom_get(const struct bq_prom *p, const char *name, const char *label,
                const char *value, double *out) {
  for (size_t i = 0; i < p->n; i++) {
    const char *v;
    if (strcmp(p->s[i].name, name) != 0) continue;
    if (label != NULL &&
        ((v = bq_prom_label(&p->s[i], label)) == NULL || strcmp(v, value) != 0))
      continue;
    *out = p->s[i].value;
    return 0;
  }
  return -ENOENT;
}

double bq_prom_sum(const struct bq_prom *p, const char *name, size_t *n) {
  double sum = 0;
  size_t k = 0;
  for (size_t i = 0; i < p->n; i++) {
    if (strcmp(p->s[i].name, name) != 0) continue;
    sum += p->s[i].value;
    k++;
  }
  if (n) *n = k;
  return sum;
}

size_t bq_prom_buckets(const struct bq_prom *p, const char *name, double *le,
                       double *cum, size_t max) {
  char bname[256];
  size_t n = 0;
  snprintf(bname, sizeof(bname), "%s_bucket", name);
  for (size_t i = 0; i < p->n && n < max; i++) {
    const char *l;
    double b;
    const char *lp;
    if (strcmp(p->s[i].name, bname) != 0) continue;
    if ((l = bq_prom_label(&p->s[i], "le")) == NULL) continue;
    lp = l;
    if (parse_value(&lp, l + strlen(l), &b) < 0 || *lp != '\0' || isnan(b))
      continue;
    /* insertion by le */
    size_t j = n;
    while (j > 0 && le[j - 1] > b) {
      le[j] = le[j - 1];
      cum[j] = cum[j - 1];
      j--;
    }
    le[j] = b;
    cum[j] = p->s[i].value;
    n++;
  }
  return n;
}

double bq_prom_quantile(const double *le, const double *cum, size_t n,
                        double q) {
  double total, rank, lo = 0, below = 0;
  if (n == 0 || !isinf(le[n - 1])) return NAN;
  total = cum[n - 1];
  if (!(total > 0)) return NAN;
  if (q < 0) q = 0;
  if (q > 1) q = 1;
  rank = q * total;
  for (size_t i = 0; i < n; i++) {
    if (cum[i] >= rank && cum[i] > 0) {
      if (isinf(le[i])) return i > 0 ? le[i - 1] : NAN;
      if (cum[i] == below) return le[i];
      return lo + (le[i] - lo) * (rank - below) / (cum[i] - below);
    }
    lo = le[i];
    below = cum[i];
  }
  return n > 1 ? le[n - 2] : NAN;
}
