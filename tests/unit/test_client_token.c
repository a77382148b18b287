/*
 * test_client_token.c -- unit tests of the client's token file reading
 * (client/token.h): the AUTH line it builds, the files it refuses (and
 * that the reason never holds the token), the group/world-readable
 * warning, $BURSTQ_TOKEN_FILE, and a pipe read only up to its first line.
 * Files live in a fresh temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "token.h"
#include "tmpdir.h"

static char dir[256];

static int setup(void **state) {
  (void)state;
  return tmpdir_make(dir, sizeof(dir), "token");
}

static int teardown(void **state) {
  (void)state;
  return tmpdir_remove(dir);
}

/* A file DIR/name holding data[0..len) with mode (tmpdir_put). */
static const char *mkfile(const char *name, const void *data, size_t len,
                          mode_t mode) {
  return tmpdir_put(dir, name, data, len, mode);
}

/* Loads path and expects the AUTH line for token and no warning. */
static void expect_line(const char *path, const char *token) {
  struct bq_token t;
  char warn[512], err[512], want[2048];
  int n = snprintf(want, sizeof(want), "AUTH %s\n", token);
  assert_int_equal(bq_token_load(&t, path, warn, sizeof(warn), err,
                                 sizeof(err)), 0);
  assert_string_equal(warn, "");
  assert_int_equal(t.len, (size_t)n);
  assert_memory_equal(t.line, want, (size_t)n);
  bq_token_clear(&t);
  assert_int_equal(t.len, 0);
  for (size_t i = 0; i < sizeof(t.line); i++) assert_int_equal(t.line[i], 0);
}

static void test_token_good(void **state) {
  (void)state;
  expect_line(mkfile("a", "t0k-Secret\n", 11, 0600), "t0k-Secret");
  expect_line(mkfile("b", "t0k-Secret", 10, 0600), "t0k-Secret");
  expect_line(mkfile("c", "t0k-Secret\r\n", 12, 0400), "t0k-Secret");
  expect_line(mkfile("d", "first\nsecond line ignored\n", 26, 0600), "first");
  expect_line(mkfile("e", "!~\n", 3, 0600), "!~"); /* printable edges */
}

static void test_token_max(void **state) {
  struct bq_token t;
  char big[BQ_TOKEN_MAX + 1], warn[512], err[512];
  (void)state;
  memset(big, 'x', BQ_TOKEN_MAX);
  big[BQ_TOKEN_MAX] = '\n';
  assert_int_equal(bq_token_load(&t, mkfile("max", big, sizeof(big), 0600),
                                 warn, sizeof(warn), err, sizeof(err)), 0);
  assert_int_equal(t.len, 5 + BQ_TOKEN_MAX + 1);
  assert_memory_equal(t.line, "AUTH xxx", 8);
  assert_int_equal(t.line[t.len - 1], '\n');
}

/* Expects path to be refused with ret, a reason matching what, naming the
 * file, and not holding secret; and t left empty. */
static void expect_refused(const char *path, int ret, const char *what,
                           const char *secret) {
  struct bq_token t;
  char warn[512], err[512];
  memset(&t, 0x55, sizeof(t));
  assert_int_equal(bq_token_load(&t, path, warn, sizeof(warn), err,
                                 sizeof(err)), ret);
  assert_int_equal(t.len, 0);
  if (strstr(err, what) == NULL) fail_msg("'%s' lacks '%s'", err, what);
  if (*path && strstr(err, path) == NULL) fail_msg("'%s' lacks the path", err);
  if (secret != NULL && strstr(err, secret) != NULL)
    fail_msg("'%s' holds the token", err);
  for (size_t i = 0; i < sizeof(t.line); i++) assert_int_equal(t.line[i], 0);
}

static void test_token_refused(void **state) {
  char big[BQ_TOKEN_MAX + 2], p[300];
  (void)state;
  expect_refused(mkfile("empty", "", 0, 0600), -EINVAL, "empty", NULL);
  expect_refused(mkfile("nl", "\nsecond\n", 8, 0600), -EINVAL, "empty", NULL);
  expect_refused(mkfile("crlf", "\r\n", 2, 0600), -EINVAL, "empty", NULL);
  expect_refused(mkfile("space", "two Words\n", 10, 0600), -EINVAL,
                 "a space", "Words");
  expect_refused(mkfile("tab", "two\tWords\n", 10, 0600), -EINVAL,
                 "control", "Words");
  expect_refused(mkfile("nul", "two\0Words\n", 10, 0600), -EINVAL,
                 "control", "Words");
  expect_refused(mkfile("cr", "two\rWords\n", 10, 0600), -EINVAL,
                 "control", "Words");
  expect_refused(mkfile("utf8", "caf\xc3\xa9Words\n", 11, 0600), -EINVAL,
                 "non-ASCII", "Words");
  expect_refused(mkfile("del", "x\x7fWords\n", 8, 0600), -EINVAL, "control",
                 "Words");
  memset(big, 'y', sizeof(big));
  big[sizeof(big) - 1] = '\n';
  expect_refused(mkfile("long", big, sizeof(big), 0600), -EINVAL,
                 "longer than 1024", "yyyy");
  snprintf(p, sizeof(p), "%s/missing", dir);
  expect_refused(p, -ENOENT, "cannot open", NULL);
  expect_refused(dir, -EISDIR, "directory", NULL);
  expect_refused("", -EINVAL, "path is empty", NULL);
}

static void test_token_warns(void **state) {
  struct bq_token t;
  char warn[512], err[512];
  static const mode_t modes[] = {0644, 0640, 0604, 0660};
  (void)state;
  for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
    const char *p = mkfile("open", "Warn-Tok\n", 9, modes[i]);
    char mode[16];
    assert_int_equal(bq_token_load(&t, p, warn, sizeof(warn), err,
                                   sizeof(err)), 0);
    assert_int_equal(t.len, 14); /* loaded anyway */
    assert_non_null(strstr(warn, "readable by group or others"));
    assert_non_null(strstr(warn, "chmod 600"));
    snprintf(mode, sizeof(mode), "%04o", (unsigned)modes[i]);
    assert_non_null(strstr(warn, mode));
    assert_null(strstr(warn, "Warn-Tok"));
  }
  /* Writable by group only, or private: no warning. */
  assert_int_equal(bq_token_load(&t, mkfile("w", "Tok\n", 4, 0620), warn,
                                 sizeof(warn), err, sizeof(err)), 0);
  assert_string_equal(warn, "");
}

static void test_token_path(void **state) {
  (void)state;
  assert_int_equal(setenv("BURSTQ_TOKEN_FILE", "/env/tok", 1), 0);
  assert_string_equal(bq_token_path(NULL), "/env/tok");
  assert_string_equal(bq_token_path("/arg/tok"), "/arg/tok"); /* arg wins */
  assert_int_equal(setenv("BURSTQ_TOKEN_FILE", "", 1), 0);
  assert_null(bq_token_path(NULL)); /* empty = unset */
  assert_int_equal(unsetenv("BURSTQ_TOKEN_FILE"), 0);
  assert_null(bq_token_path(NULL));
  assert_string_equal(bq_token_path(""), ""); /* refused by the load */
}

/* A pipe is read up to the end of its first line only: the rest (the
 * messages, with --token-file /dev/stdin) stays for the reader. */
static void test_token_pipe(void **state) {
  struct bq_token t;
  char warn[512], err[512], path[64], rest[64];
  int fds[2];
  ssize_t n;
  (void)state;
  assert_int_equal(pipe(fds), 0);
  assert_int_equal(write(fds[1], "PipeTok\nmsg-1\nmsg-2\n", 20), 20);
  close(fds[1]);
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[0]);
  assert_int_equal(bq_token_load(&t, path, warn, sizeof(warn), err,
                                 sizeof(err)), 0);
  assert_int_equal(t.len, 13);
  assert_memory_equal(t.line, "AUTH PipeTok\n", 13);
  assert_string_equal(warn, "");
  n = read(fds[0], rest, sizeof(rest));
  assert_int_equal(n, 12);
  assert_memory_equal(rest, "msg-1\nmsg-2\n", 12);
  close(fds[0]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_token_good),  cmocka_unit_test(test_token_max),
      cmocka_unit_test(test_token_refused), cmocka_unit_test(test_token_warns),
      cmocka_unit_test(test_token_path),  cmocka_unit_test(test_token_pipe),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
