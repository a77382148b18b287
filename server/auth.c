/*
 * auth.c -- see auth.h.  bq_auth_load runs at start-up on the main thread;
 * bq_auth_check on the loop thread.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int bq_auth_load(struct bq_auth *a, const char *path, char *err,
                 size_t errlen) {
  char buf[BQ_AUTH_MAX + 3]; /* token, "\r\n", one byte to detect excess */
  struct stat st;
  size_t n = 0, len, at = 0;
  int fd, e;

  memset(a, 0, sizeof(*a));
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    e = errno;
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
    return -e;
  }
  if (fstat(fd, &st) != 0) {
    e = errno;
    close(fd);
    snprintf(err, errlen, "cannot stat %s: %s", path, strerror(e));
    return -e;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    snprintf(err, errlen, "%s is not a regular file", path);
    return -EINVAL;
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    close(fd);
    snprintf(err, errlen,
             "%s is accessible by group or others (mode %04o); "
             "run: chmod 600 %s",
             path, (unsigned)(st.st_mode & 07777), path);
    return -EPERM;
  }
  while (n < sizeof(buf)) {
    ssize_t r = read(fd, buf + n, sizeof(buf) - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      e = errno;
      close(fd);
      snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
      return -e;
    }
    if (r == 0) break;
    n += (size_t)r;
    if (memchr(buf, '\n', n) != NULL) break;
  }
  close(fd);
  {
    char *nl = memchr(buf, '\n', n);
    len = nl ? (size_t)(nl - buf) : n;
  }
  if (len > 0 && buf[len - 1] == '\r') len--;
  switch (bq_proto_token_check(buf, len, &at)) {
    case BQ_TOKEN_OK:
      break;
    case BQ_TOKEN_EMPTY:
      memset(buf, 0, sizeof(buf));
      snprintf(err, errlen, "%s: the token (its first line) is empty", path);
      return -EINVAL;
    case BQ_TOKEN_TOO_LONG:
      memset(buf, 0, sizeof(buf));
      snprintf(err, errlen, "%s: the token is longer than %d bytes", path,
               BQ_AUTH_MAX);
      return -EINVAL;
    default:
      memset(buf, 0, sizeof(buf));
      snprintf(err, errlen,
               "%s: the token holds a space or a non-printable byte (at "
               "offset %zu)",
               path, at);
      return -EINVAL;
  }
  memcpy(a->token, buf, len);
  a->len = len;
  memset(buf, 0, sizeof(buf));
  return 0;
}

int bq_auth_check_token(const struct bq_auth *a, const char *tok,
                        size_t len) {
  volatile unsigned char diff = 0;
  size_t i;

  if (a->len == 0) return 1;
  /* A length mismatch fails, but the loop below still runs in full over
   * the token, so timing reveals neither the token nor its prefix. */
  diff = (unsigned char)(len != a->len);
  for (i = 0; i < a->len; i++) {
    unsigned char got = i < len ? (unsigned char)tok[i] : 0u;
    diff |= (unsigned char)(got ^ (unsigned char)a->token[i]);
  }
  return diff == 0;
}

int bq_auth_check(const struct bq_auth *a, const char *line, size_t len) {
  struct bq_proto_line l;
  int is_auth;

  if (a->len == 0) return 1;
  is_auth = bq_proto_classify(BQ_PROTO_EXPECT_AUTH, line, len, &l) ==
            BQ_LINE_AUTH;
  /* Not an AUTH line: still compare (an empty token), so the time spent
   * on the secret is always a->len steps. */
  return bq_auth_check_token(a, is_auth ? l.arg : "", l.len) & is_auth;
}

void bq_auth_clear(struct bq_auth *a) {
  volatile char *p = a->token;
  for (size_t i = 0; i < sizeof(a->token); i++) p[i] = 0;
  a->len = 0;
}
