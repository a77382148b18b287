/*
 * test_auth.c -- unit tests of the shared-secret check (server/auth.h):
 * loading the token file (permissions, emptiness, format) and comparing
 * "AUTH <token>" lines and tokens.
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

#include "auth.h"
#include "tmpdir.h"

static char dir[256];

static int setup(void **state) {
  (void)state;
  return tmpdir_make(dir, sizeof(dir), "auth");
}

static int teardown(void **state) {
  (void)state;
  return tmpdir_remove(dir);
}

/* A file DIR/name holding data[0..len) with mode (tmpdir_put). */
static const char *put(const char *name, const void *data, size_t len,
                       mode_t mode) {
  return tmpdir_put(dir, name, data, len, mode);
}

static int check(const struct bq_auth *a, const char *line) {
  return bq_auth_check(a, line, strlen(line));
}

static void test_load_and_check(void **state) {
  struct bq_auth a;
  char err[512];
  (void)state;
  const char *p = put("tok", "s3cret-Token_1\nsecond line\n", 27, 0600);
  assert_int_equal(bq_auth_load(&a, p, err, sizeof(err)), 0);
  assert_int_equal(a.len, 14);
  assert_true(check(&a, "AUTH s3cret-Token_1"));
  assert_false(check(&a, "AUTH s3cret-Token_"));   /* prefix of the token */
  assert_false(check(&a, "AUTH s3cret-Token_12")); /* token + more */
  assert_false(check(&a, "AUTH s3cret-Token_2"));  /* last byte differs */
  assert_false(check(&a, "AUTH S3cret-Token_1"));  /* first byte differs */
  assert_false(check(&a, "auth s3cret-Token_1"));  /* verb is exact */
  assert_false(check(&a, "AUTH  s3cret-Token_1")); /* one space only */
  assert_false(check(&a, "AUTHs3cret-Token_1"));
  assert_false(check(&a, "AUTH "));
  assert_false(check(&a, "AUTH"));
  assert_false(check(&a, ""));
  assert_false(check(&a, "s3cret-Token_1"));
  assert_false(check(&a, "second line"));
  assert_false(bq_auth_check(&a, "AUTH s3cret-Token_1\0", 20)); /* NUL */
  assert_false(check(&a, "AUTH s3cret-Token_1\r")); /* a second CR */
  /* The token of a classified AUTH line (proto.h) against the token. */
  assert_true(bq_auth_check_token(&a, "s3cret-Token_1", 14));
  assert_false(bq_auth_check_token(&a, "s3cret-Token_1", 13));
  assert_false(bq_auth_check_token(&a, "s3cret-Token_12", 15));
  assert_false(bq_auth_check_token(&a, "s3cret-Token_2", 14));
  assert_false(bq_auth_check_token(&a, "", 0));
  bq_auth_clear(&a);
  assert_true(bq_auth_check_token(&a, "x", 1)); /* off: everything passes */
  assert_int_equal(a.len, 0);
  for (size_t i = 0; i < sizeof(a.token); i++) assert_int_equal(a.token[i], 0);
  /* Authentication off: everything passes. */
  assert_true(check(&a, "anything"));
}

static void test_crlf_and_no_newline(void **state) {
  struct bq_auth a;
  char err[512];
  (void)state;
  assert_int_equal(bq_auth_load(&a, put("crlf", "abc\r\n", 5, 0600), err,
                                sizeof(err)), 0);
  assert_int_equal(a.len, 3);
  assert_true(check(&a, "AUTH abc"));
  assert_int_equal(bq_auth_load(&a, put("bare", "abc", 3, 0400), err,
                                sizeof(err)), 0);
  assert_true(check(&a, "AUTH abc"));
}

static void test_refusals(void **state) {
  struct bq_auth a;
  char err[512];
  char big[BQ_AUTH_MAX + 2];
  (void)state;

  /* Group- or world-accessible files: refused, and the message says how to
   * fix it without printing the token. */
  assert_int_equal(bq_auth_load(&a, put("g", "hunter2\n", 8, 0640), err,
                                sizeof(err)), -EPERM);
  assert_non_null(strstr(err, "chmod 600"));
  assert_null(strstr(err, "hunter2"));
  assert_int_equal(bq_auth_load(&a, put("o", "hunter2\n", 8, 0604), err,
                                sizeof(err)), -EPERM);
  assert_int_equal(bq_auth_load(&a, put("gw", "hunter2\n", 8, 0620), err,
                                sizeof(err)), -EPERM);
  assert_int_equal(a.len, 0);

  /* Empty, or an empty first line. */
  assert_int_equal(bq_auth_load(&a, put("e", "", 0, 0600), err, sizeof(err)),
                   -EINVAL);
  assert_non_null(strstr(err, "empty"));
  assert_int_equal(bq_auth_load(&a, put("e2", "\nhunter2\n", 9, 0600), err,
                                sizeof(err)), -EINVAL);
  assert_int_equal(bq_auth_load(&a, put("e3", "\r\n", 2, 0600), err,
                                sizeof(err)), -EINVAL);

  /* Spaces and control bytes. */
  assert_int_equal(bq_auth_load(&a, put("sp", "hun ter2\n", 9, 0600), err,
                                sizeof(err)), -EINVAL);
  assert_null(strstr(err, "hun"));
  assert_int_equal(bq_auth_load(&a, put("nul", "hun\0ter\n", 8, 0600), err,
                                sizeof(err)), -EINVAL);
  assert_int_equal(bq_auth_load(&a, put("hi", "hun\xffter\n", 8, 0600), err,
                                sizeof(err)), -EINVAL);

  /* Length: BQ_AUTH_MAX is fine, one more is not. */
  memset(big, 'k', sizeof(big));
  assert_int_equal(bq_auth_load(&a, put("max", big, BQ_AUTH_MAX, 0600), err,
                                sizeof(err)), 0);
  assert_int_equal(a.len, BQ_AUTH_MAX);
  assert_int_equal(bq_auth_load(&a, put("long", big, BQ_AUTH_MAX + 1, 0600),
                                err, sizeof(err)), -EINVAL);
  assert_int_equal(a.len, 0);

  /* Missing file and a directory. */
  char path[300];
  snprintf(path, sizeof(path), "%s/missing", dir);
  assert_int_equal(bq_auth_load(&a, path, err, sizeof(err)), -ENOENT);
  assert_non_null(strstr(err, "missing"));
  assert_int_equal(bq_auth_load(&a, dir, err, sizeof(err)), -EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load_and_check),
      cmocka_unit_test(test_crlf_and_no_newline),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
