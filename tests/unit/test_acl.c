/*
 * test_acl.c -- unit tests of the --allow list (server/acl.h) and of the
 * --allow / --idle-timeout / --auth-token-file flags (server/config.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

#include "acl.h"
#include "config.h"

/* A peer address from a literal (IPv4 or IPv6). */
static struct sockaddr_storage peer(const char *s) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  if (strchr(s, ':') != NULL) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, s, &a->sin6_addr), 1);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, s, &a->sin_addr), 1);
  }
  return ss;
}

static int allows(const struct bq_acl *acl, const char *s) {
  struct sockaddr_storage ss = peer(s);
  return bq_acl_allows(acl, (struct sockaddr *)&ss);
}

static void test_empty_allows_all(void **state) {
  struct bq_acl acl;
  struct sockaddr_un un;
  (void)state;
  bq_acl_init(&acl);
  assert_true(allows(&acl, "203.0.113.9"));
  assert_true(allows(&acl, "2001:db8::1"));
  memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  assert_true(bq_acl_allows(&acl, (struct sockaddr *)&un));
}

static void test_ipv4_prefixes(void **state) {
  struct bq_acl acl;
  (void)state;
  bq_acl_init(&acl);
  assert_int_equal(bq_acl_add(&acl, "10.0.0.0/8"), 0);
  assert_int_equal(bq_acl_add(&acl, "192.168.7.0/23"), -EINVAL); /* host bit */
  assert_int_equal(bq_acl_add(&acl, "192.168.6.0/23"), 0);
  assert_int_equal(bq_acl_add(&acl, "198.51.100.7"), 0); /* one host */
  assert_true(allows(&acl, "10.0.0.0"));
  assert_true(allows(&acl, "10.255.255.255"));
  assert_false(allows(&acl, "11.0.0.0"));
  assert_false(allows(&acl, "9.255.255.255"));
  assert_true(allows(&acl, "192.168.6.1"));
  assert_true(allows(&acl, "192.168.7.254"));
  assert_false(allows(&acl, "192.168.8.0"));
  assert_false(allows(&acl, "192.168.5.255"));
  assert_true(allows(&acl, "198.51.100.7"));
  assert_false(allows(&acl, "198.51.100.6"));
  assert_false(allows(&acl, "198.51.100.8"));
  /* An IPv6 peer does not match IPv4 rules, except IPv4-mapped ones. */
  assert_false(allows(&acl, "2001:db8::1"));
  assert_true(allows(&acl, "::ffff:10.1.2.3"));
  assert_false(allows(&acl, "::ffff:11.1.2.3"));
  assert_false(allows(&acl, "::a01:203")); /* IPv4-compatible, not mapped */
}

static void test_ipv6_prefixes(void **state) {
  struct bq_acl acl;
  (void)state;
  bq_acl_init(&acl);
  assert_int_equal(bq_acl_add(&acl, "fd00::/8"), 0);
  assert_int_equal(bq_acl_add(&acl, "[2001:db8:1::]/48"), 0);
  assert_int_equal(bq_acl_add(&acl, "::1"), 0);
  assert_true(allows(&acl, "fd12:3456::1"));
  assert_true(allows(&acl, "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
  assert_false(allows(&acl, "fc00::1"));
  assert_false(allows(&acl, "fe00::"));
  assert_true(allows(&acl, "2001:db8:1::5"));
  assert_true(allows(&acl, "2001:db8:1:ffff::5"));
  assert_false(allows(&acl, "2001:db8:2::5"));
  assert_true(allows(&acl, "::1"));
  assert_false(allows(&acl, "::2"));
  assert_false(allows(&acl, "127.0.0.1")); /* IPv6 rules only */
}

static void test_extremes(void **state) {
  struct bq_acl acl;
  char buf[80];
  (void)state;
  bq_acl_init(&acl);
  assert_int_equal(bq_acl_add(&acl, "0.0.0.0/0"), 0);
  assert_true(allows(&acl, "1.2.3.4"));
  assert_true(allows(&acl, "255.255.255.255"));
  assert_false(allows(&acl, "2001:db8::1"));
  assert_int_equal(bq_acl_add(&acl, "::/0"), 0);
  assert_true(allows(&acl, "2001:db8::1"));
  assert_int_equal(bq_acl_format(&acl, 0, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "0.0.0.0/0");
  assert_int_equal(bq_acl_format(&acl, 1, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "::/0");
  assert_int_equal(bq_acl_format(&acl, 2, buf, sizeof(buf)), -EINVAL);

  bq_acl_init(&acl);
  assert_int_equal(bq_acl_add(&acl, "1.2.3.4/32"), 0);
  assert_int_equal(bq_acl_add(&acl, "1.2.3.5/31"), -EINVAL);
  assert_int_equal(bq_acl_add(&acl, "1.2.3.4/31"), 0);
  assert_true(allows(&acl, "1.2.3.5"));
  assert_int_equal(bq_acl_add(&acl, "2001:db8::1/128"), 0);
  assert_int_equal(bq_acl_add(&acl, "2001:db8::1/127"), -EINVAL);
  assert_int_equal(bq_acl_format(&acl, 2, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "2001:db8::1/128");
  assert_int_equal(bq_acl_format(&acl, 0, buf, 5), -EINVAL); /* too small */
}

static void test_malformed(void **state) {
  static const char *const bad[] = {
      "", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8x",
      "10.0.0.0/ 8", "10.0.0", "10.0.0.256", "1.2.3.4.5", "localhost",
      "::1/129", "[::1", "::1]", "[]", "[10.0.0.1]x", "fd00::/8/8",
      "10.0.0.0/08888888888888888888", "fe80::1%eth0", " 10.0.0.1",
      "10.0.0.1 ", "0x0a000000", NULL};
  struct bq_acl acl;
  (void)state;
  bq_acl_init(&acl);
  for (size_t i = 0; bad[i] != NULL; i++) {
    int r = bq_acl_add(&acl, bad[i]);
    if (r != -EINVAL) fail_msg("'%s' gave %d, expected -EINVAL", bad[i], r);
  }
  assert_int_equal(bq_acl_add(&acl, NULL), -EINVAL);
  assert_int_equal(acl.n, 0);
  assert_true(allows(&acl, "10.0.0.1")); /* still empty: allows all */
}

static void test_full(void **state) {
  struct bq_acl acl;
  char rule[32];
  (void)state;
  bq_acl_init(&acl);
  for (int i = 0; i < BQ_ACL_MAX; i++) {
    snprintf(rule, sizeof(rule), "10.0.%d.0/24", i);
    assert_int_equal(bq_acl_add(&acl, rule), 0);
  }
  assert_int_equal(bq_acl_add(&acl, "10.1.0.0/24"), -ENOSPC);
  assert_true(allows(&acl, "10.0.63.200"));
  assert_false(allows(&acl, "10.0.64.1"));
}

/* --- the flags ------------------------------------------------------- */

static int parse(struct bq_config *c, char *err, size_t errlen, ...) {
  char *argv[32];
  int argc = 0, rc;
  va_list ap;
  FILE *out = fopen("/dev/null", "w");
  assert_non_null(out);
  argv[argc++] = (char *)"burstqd";
  va_start(ap, errlen);
  for (;;) {
    char *a = va_arg(ap, char *);
    if (a == NULL) break;
    argv[argc++] = a;
  }
  va_end(ap);
  argv[argc] = NULL;
  bq_config_defaults(c);
  err[0] = '\0';
  rc = bq_config_parse(c, argc, argv, out, err, errlen);
  fclose(out);
  return rc;
}

static void test_flags(void **state) {
  struct bq_config c;
  char err[512];
  (void)state;
  assert_int_equal(parse(&c, err, sizeof(err), NULL), BQ_CONFIG_OK);
  assert_int_equal(c.allow.n, 0);
  assert_null(c.auth_token_file);
  assert_int_equal(c.idle_timeout, 0);

  assert_int_equal(parse(&c, err, sizeof(err), "--allow", "10.0.0.0/8",
                         "--allow=::1", "--idle-timeout", "30",
                         "--auth-token-file", "/etc/burstq/token", NULL),
                   BQ_CONFIG_OK);
  assert_int_equal(c.allow.n, 2);
  assert_int_equal(c.idle_timeout, 30);
  assert_string_equal(c.auth_token_file, "/etc/burstq/token");
  assert_true(allows(&c.allow, "10.9.8.7"));
  assert_true(allows(&c.allow, "::1"));
  assert_false(allows(&c.allow, "127.0.0.1"));

  assert_int_equal(parse(&c, err, sizeof(err), "--allow", "10.0.0.1/8", NULL),
                   BQ_CONFIG_ERR);
  assert_non_null(strstr(err, "--allow: '10.0.0.1/8'"));
  assert_int_equal(parse(&c, err, sizeof(err), "--idle-timeout", "-1", NULL),
                   BQ_CONFIG_ERR);
  assert_non_null(strstr(err, "--idle-timeout"));
  assert_int_equal(parse(&c, err, sizeof(err), "--idle-timeout", "soon",
                         NULL),
                   BQ_CONFIG_ERR);
  assert_int_equal(parse(&c, err, sizeof(err), "--auth-token-file", "",
                         NULL),
                   BQ_CONFIG_ERR);
  assert_non_null(strstr(err, "--auth-token-file"));
  assert_int_equal(parse(&c, err, sizeof(err), "--allow", NULL),
                   BQ_CONFIG_ERR);
  assert_non_null(strstr(err, "needs a value"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty_allows_all),
      cmocka_unit_test(test_ipv4_prefixes),
      cmocka_unit_test(test_ipv6_prefixes),
      cmocka_unit_test(test_extremes),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_full),
      cmocka_unit_test(test_flags),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
