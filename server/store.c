/*
 * store.c -- see store.h: the backend chosen by URI, and the neutral
 * errors' names.  Main thread (open); the rest is pure.
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const err_names[BQ_STORE_NERR] = {
    [BQ_STORE_BUSY] = "busy",
    [BQ_STORE_FULL] = "full",
    [BQ_STORE_IO] = "io",
    [BQ_STORE_UNAVAILABLE] = "unavailable",
    [BQ_STORE_CORRUPT] = "corrupt",
    [BQ_STORE_CONSTRAINT] = "constraint",
    [BQ_STORE_INVALID] = "invalid",
    [BQ_STORE_FAILED] = "failed"};

int bq_store_retryable(int err) {
  switch (-err) {
    case BQ_STORE_BUSY:
    case BQ_STORE_FULL:
    case BQ_STORE_IO:
    case BQ_STORE_UNAVAILABLE:
      return 1;
    default:
      return 0;
  }
}

const char *bq_store_err_name(int err) {
  if (err < 0 && -err < BQ_STORE_NERR && err_names[-err] != NULL)
    return err_names[-err];
  return "failed";
}

void bq_store_uri_redact(const char *uri, char *out, size_t outlen) {
  const char *auth = strstr(uri, "://"), *end, *at = NULL, *colon = NULL;
  const char *p = uri;
  size_t n = 0;
#define PUT(c)                         \
  do {                                 \
    if (n + 1 < outlen) out[n++] = (c); \
  } while (0)
  if (outlen == 0) return;
  if (!bq_store_pg_uri(uri)) auth = NULL; /* a file name: as it is */
  if (auth != NULL) {
    auth += 3;
    end = auth + strcspn(auth, "/?#");
    for (const char *q = auth; q < end; q++)
      if (*q == '@') at = q;
    if (at != NULL) colon = memchr(auth, ':', (size_t)(at - auth));
  }
  while (*p != '\0') {
    if (colon != NULL && p == colon + 1) {
      for (const char *m = "***"; *m; m++) PUT(*m);
      p = at;
      continue;
    }
    if (auth != NULL && strncmp(p, "password=", 9) == 0 && p > uri &&
        (p[-1] == '?' || p[-1] == '&' || p[-1] == ' ')) {
      for (const char *m = "password=***"; *m; m++) PUT(*m);
      p += 9;
      p += strcspn(p, "& ");
      continue;
    }
    PUT(*p);
    p++;
  }
#undef PUT
  out[n] = '\0';
}

/* The SQLite file uri names (a URI that is not PostgreSQL's): returns its
 * path, or NULL with the reason in err. */
static const char *sqlite_path(const char *uri, char *err, size_t errlen) {
  const char *colon = strchr(uri, ':');
  const char *slash = strchr(uri, '/');
  /* "scheme:" only when the colon comes before any slash and the scheme
   * is a word, so that "./a:b.db" and "a:b.db" stay paths. */
  if (colon != NULL && colon > uri && (slash == NULL || colon < slash)) {
    size_t n = (size_t)(colon - uri);
    if (n == 6 && strncmp(uri, "sqlite", 6) == 0) {
      if (colon[1] == '\0') {
        snprintf(err, errlen, "names no file after 'sqlite:'");
        return NULL;
      }
      return colon + 1;
    }
    if (strspn(uri, "abcdefghijklmnopqrstuvwxyz+.-") == n &&
        strncmp(colon, "://", 3) == 0) {
      snprintf(err, errlen,
               "'%.*s:' databases are not supported by this burstqd; give "
               "a file path, sqlite:PATH or postgresql://...",
               (int)n, uri);
      return NULL;
    }
  }
  return uri;
}

int bq_store_check(const char *uri, struct bq_store_check *out, char *err,
                   size_t errlen) {
  const char *path;
  if (bq_store_pg_uri(uri)) return bq_store_pg_check(uri, out, err, errlen);
  path = sqlite_path(uri, err, errlen);
  if (path == NULL) return -EINVAL;
  return bq_store_sqlite_check(path, out, err, errlen);
}

int bq_store_open(const char *uri, const struct bq_store_opts *opts,
                  struct bq_store **out, char *err, size_t errlen) {
  const char *path;
  if (bq_store_pg_uri(uri))
    return bq_store_pg_open(uri, opts, out, err, errlen);
  path = sqlite_path(uri, err, errlen);
  if (path == NULL) return -EINVAL;
  return bq_store_sqlite_open(path, opts, out, err, errlen);
}
