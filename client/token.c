/*
 * token.c -- see token.h.  Stateless; main thread at start-up.
 */
#include "token.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *bq_token_path(const char *arg) {
  const char *s = arg;
  if (s == NULL) {
    s = getenv("BURSTQ_TOKEN_FILE");
    if (s != NULL && *s == '\0') s = NULL;
  }
  return s;
}

void bq_token_clear(struct bq_token *t) {
  volatile char *p = t->line;
  size_t i;
  for (i = 0; i < sizeof(t->line); i++) p[i] = 0;
  t->len = 0;
}

/* Read the first line of fd into buf (at most cap bytes), one byte at a
 * time so that a pipe or terminal is not read past the line (the rest may
 * be the messages, as with --token-file /dev/stdin).  Returns the bytes
 * read including the '\n' if one came, or -errno. */
static ssize_t read_line(int fd, char *buf, size_t cap) {
  size_t n = 0;
  while (n < cap) {
    ssize_t r = read(fd, buf + n, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    if (r == 0) break;
    if (buf[n++] == '\n') break;
  }
  return (ssize_t)n;
}

int bq_token_load(struct bq_token *t, const char *path, char *warn,
                  size_t warnlen, char *err, size_t errlen) {
  /* The token, "\r\n", and one byte more to tell a too-long line. */
  char buf[BQ_TOKEN_MAX + 3];
  struct stat st;
  ssize_t got;
  size_t len, i;
  int fd, e;

  assert(t != NULL && path != NULL && err != NULL && warn != NULL);
  bq_token_clear(t);
  if (warnlen) warn[0] = '\0';
  if (*path == '\0') {
    snprintf(err, errlen, "--token-file: the path is empty");
    return -EINVAL;
  }
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    e = errno;
    snprintf(err, errlen, "cannot open the token file %s: %s", path,
             strerror(e));
    return -e;
  }
  if (fstat(fd, &st) != 0) {
    e = errno;
    close(fd);
    snprintf(err, errlen, "cannot stat the token file %s: %s", path,
             strerror(e));
    return -e;
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    snprintf(err, errlen, "the token file %s is a directory", path);
    return -EISDIR;
  }
  if (S_ISREG(st.st_mode) && (st.st_mode & (S_IRGRP | S_IROTH)))
    snprintf(warn, warnlen,
             "warning: the token file %s is readable by group or others "
             "(mode %04o); run: chmod 600 %s",
             path, (unsigned)(st.st_mode & 07777), path);
  {
    /* The file on standard input (--token-file /dev/stdin, with the
     * messages after the token): a regular file reopened through
     * /dev/stdin starts again at offset 0, so read fd 0 itself, whose
     * offset then stays after the token line for the message reader. */
    struct stat st0;
    int from = fd;
    if (fstat(0, &st0) == 0 && st0.st_dev == st.st_dev &&
        st0.st_ino == st.st_ino)
      from = 0;
    got = read_line(from, buf, sizeof(buf));
    e = got < 0 ? (int)-got : 0;
    close(fd);
    if (got < 0) {
      snprintf(err, errlen, "cannot read the token file %s: %s", path,
               strerror(e));
      return -e;
    }
    len = (size_t)got;
    if (len > 0 && buf[len - 1] == '\n') len--;
    if (len > 0 && buf[len - 1] == '\r') len--;
    switch (bq_proto_token_check(buf, len, &i)) {
      case BQ_TOKEN_OK:
        break;
      case BQ_TOKEN_EMPTY:
        snprintf(err, errlen, "the token file %s: the token (its first line) "
                 "is empty", path);
        return -EINVAL;
      case BQ_TOKEN_TOO_LONG:
        memset(buf, 0, sizeof(buf));
        snprintf(err, errlen, "the token file %s: the token is longer than "
                 "%d bytes", path, BQ_TOKEN_MAX);
        return -EINVAL;
      default: {
        int space = buf[i] == ' ';
        memset(buf, 0, sizeof(buf));
        snprintf(err, errlen,
                 "the token file %s: the token holds %s at byte %zu (it must "
                 "be printable ASCII without spaces)",
                 path, space ? "a space" : "a control or non-ASCII byte",
                 i + 1);
        return -EINVAL;
      }
    }
    t->len = bq_proto_format_auth(t->line, sizeof(t->line), buf, len);
    memset(buf, 0, sizeof(buf));
  }
  assert(t->len <= sizeof(t->line));
  return 0;
}
