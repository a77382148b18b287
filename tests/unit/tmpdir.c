/*
 * tmpdir.c -- temporary directories and files for the unit tests; the
 * contracts are in tmpdir.h.  Test-thread only: tmpdir_put returns a
 * static buffer.
 */
#include "tmpdir.h"

#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

int tmpdir_make(char *dir, size_t len, const char *name) {
  const char *tmp = getenv("TMPDIR");
  int n = snprintf(dir, len, "%s/burstq-unit-%s-XXXXXX",
                   tmp && *tmp ? tmp : "/tmp", name);
  if (n < 0 || (size_t)n >= len) return -1;
  return mkdtemp(dir) == NULL ? -1 : 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

int tmpdir_remove(const char *dir) {
  return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

const char *tmpdir_put(const char *dir, const char *name, const void *data,
                       size_t len, mode_t mode) {
  static char path[512];
  int fd;
  assert_true((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) <
              sizeof(path));
  unlink(path);
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  assert_int_equal(fchmod(fd, mode), 0);
  close(fd);
  return path;
}
