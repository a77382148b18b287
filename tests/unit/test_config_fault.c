/*
 * test_config_fault.c -- unit tests of the fault-handling options of the
 * command line (server/config.h): --max-db-size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

/* Parse "burstqd ARGS..." (NULL-terminated) into c; returns the result,
 * with the error message in err and --help's text in *help (freed by the
 * caller) when help is not NULL. */
static int parse(struct bq_config *c, char *err, size_t errlen, char **help,
                 ...) {
  char *argv[16];
  char *out = NULL;
  size_t outlen = 0;
  int argc = 0, r;
  va_list ap;
  FILE *f = open_memstream(&out, &outlen);
  assert_non_null(f);
  argv[argc++] = (char *)"burstqd";
  va_start(ap, help);
  for (char *a; (a = va_arg(ap, char *)) != NULL;) {
    assert_true(argc < 15);
    argv[argc++] = a;
  }
  va_end(ap);
  argv[argc] = NULL;
  bq_config_defaults(c);
  err[0] = '\0';
  r = bq_config_parse(c, argc, argv, f, err, errlen);
  assert_int_equal(fclose(f), 0);
  if (help) *help = out;
  else free(out);
  return r;
}

static void test_max_db_size(void **state) {
  struct bq_config c;
  char err[512];
  char *help = NULL;
  (void)state;

  assert_int_equal(parse(&c, err, sizeof(err), NULL, NULL), BQ_CONFIG_OK);
  assert_int_equal(c.max_db_size, 0); /* off by default */
  assert_int_equal(parse(&c, err, sizeof(err), NULL, "--max-db-size", "64M",
                         NULL),
                   BQ_CONFIG_OK);
  assert_int_equal(c.max_db_size, (size_t)64 << 20);
  assert_int_equal(parse(&c, err, sizeof(err), NULL, "--max-db-size=2GiB",
                         NULL),
                   BQ_CONFIG_OK);
  assert_int_equal(c.max_db_size, (size_t)2 << 30);
  assert_int_equal(parse(&c, err, sizeof(err), NULL, "--max-db-size", "1G",
                         "--max-db-size", "0", NULL),
                   BQ_CONFIG_OK);
  assert_int_equal(c.max_db_size, 0); /* 0 turns it off again */

  /* too small to hold the schema: refused with the range */
  assert_int_equal(parse(&c, err, sizeof(err), NULL, "--max-db-size", "1K",
                         NULL),
                   BQ_CONFIG_ERR);
  assert_non_null(strstr(err, "--max-db-size: '1K' is out of range"));
  assert_int_equal(parse(&c, err, sizeof(err), NULL, "--max-db-size", "lots",
                         NULL),
                   BQ_CONFIG_ERR);
  assert_non_null(strstr(err, "--max-db-size: 'lots' is not a number"));
  assert_int_equal(parse(&c, err, sizeof(err), NULL, "--max-db-size", NULL),
                   BQ_CONFIG_ERR);
  assert_non_null(strstr(err, "--max-db-size needs a value"));

  /* --help teaches it */
  assert_int_equal(parse(&c, err, sizeof(err), &help, "--help", NULL),
                   BQ_CONFIG_EXIT);
  assert_non_null(strstr(help, "--max-db-size SIZE"));
  free(help);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_max_db_size),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
