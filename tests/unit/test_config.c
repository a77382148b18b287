/*
 * test_config.c -- unit tests of the command line (server/config.h), of
 * address parsing (common/addr.h) and of the logging helpers (common/log.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "addr.h"
#include "config.h"
#include "log.h"
#include "store.h"

/* ---- helpers --------------------------------------------------------------- */

/* Output of one parse: what went to the FILE and to err. */
struct run {
  int rc;
  char err[512];
  char *out;
  size_t outlen;
};

/* Parse the NULL-terminated argument list (argv[0] is supplied). */
static void parse_into(struct bq_config *c, struct run *run, ...) {
  char *argv[64];
  int argc = 0;
  va_list ap;
  FILE *out;
  argv[argc++] = (char *)"burstqd";
  va_start(ap, run);
  for (;;) {
    char *a = va_arg(ap, char *);
    if (a == NULL) break;
    assert_true(argc < 63);
    argv[argc++] = a;
  }
  va_end(ap);
  argv[argc] = NULL;
  run->out = NULL;
  run->outlen = 0;
  memset(run->err, 0, sizeof(run->err));
  out = open_memstream(&run->out, &run->outlen);
  assert_non_null(out);
  run->rc = bq_config_parse(c, argc, argv, out, run->err, sizeof(run->err));
  assert_int_equal(fclose(out), 0);
}

static void run_free(struct run *run) {
  free(run->out);
  run->out = NULL;
}

#define PARSE(c, run, ...) parse_into((c), (run), __VA_ARGS__, (char *)NULL)

static int port_of(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
  if (ss->ss_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
  return -1;
}

static void fmt(const struct sockaddr_storage *ss, char *buf) {
  assert_int_equal(bq_addr_format((const struct sockaddr *)ss, buf,
                                  BQ_ADDR_STRLEN),
                   0);
}

/* ---- defaults ---------------------------------------------------------------- */

static void test_defaults(void **state) {
  struct bq_config c;
  char buf[BQ_ADDR_STRLEN];
  (void)state;
  memset(&c, 0xa5, sizeof(c));
  bq_config_defaults(&c);
  assert_int_equal(c.nlisten, 1);
  assert_string_equal(c.listen[0].text, "127.0.0.1:7070");
  assert_int_equal(c.listen[0].kind, BQ_LISTEN_ACKED);
  assert_int_equal(c.listen[0].addr.ss_family, AF_INET);
  assert_int_equal(port_of(&c.listen[0].addr), 7070);
  fmt(&c.listen[0].addr, buf);
  assert_string_equal(buf, "127.0.0.1:7070");
  assert_string_equal(c.db_path, "burstq.db");
  assert_int_equal(c.sync, BQ_SYNC_FULL);
  assert_int_equal(c.ack, 1);
  assert_int_equal(c.max_message, 65536);
  assert_int_equal(c.workers, 1);
  assert_int_equal(c.queue_capacity, 65536);
  assert_int_equal(c.queue_bytes, (size_t)64 << 20);
  assert_int_equal(c.batch_max, 8192);
  assert_int_equal(c.max_connections, 10000);
  assert_int_equal(c.log_level, BQ_LOG_INFO);
}

static void test_no_arguments(void **state) {
  struct bq_config c, d;
  struct run run;
  (void)state;
  bq_config_defaults(&c);
  bq_config_defaults(&d);
  parse_into(&c, &run, (char *)NULL);
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(run.outlen, 0);
  assert_int_equal(c.nlisten, 1);
  assert_string_equal(c.listen[0].text, d.listen[0].text);
  assert_int_equal(c.workers, d.workers);
  assert_int_equal(c.batch_max, d.batch_max);
  run_free(&run);
}

/* ---- every flag ------------------------------------------------------------ */

static void check_all_set(const struct bq_config *c) {
  char buf[BQ_ADDR_STRLEN];
  assert_int_equal(c->nlisten, 1);
  assert_string_equal(c->listen[0].text, "[::1]:0");
  assert_int_equal(c->listen[0].kind, BQ_LISTEN_ACKED);
  assert_int_equal(c->listen[0].addr.ss_family, AF_INET6);
  assert_int_equal(port_of(&c->listen[0].addr), 0);
  fmt(&c->listen[0].addr, buf);
  assert_string_equal(buf, "[::1]:0");
  assert_string_equal(c->db_path, "/some/where.db");
  assert_int_equal(c->workers, 4);
  assert_int_equal(c->queue_capacity, 1000);
  assert_int_equal(c->queue_bytes, (size_t)16 << 20);
  assert_int_equal(c->batch_max, 100);
  assert_int_equal(c->sync, BQ_SYNC_NORMAL);
  assert_int_equal(c->ack, 0);
  assert_int_equal(c->max_message, 1024);
  assert_int_equal(c->max_connections, 5);
  assert_int_equal(c->log_level, BQ_LOG_DEBUG);
}

static void test_long_flags(void **state) {
  struct bq_config c;
  struct run run;
  (void)state;
  bq_config_defaults(&c);
  PARSE(&c, &run, "--listen", "[::1]:0", "--db", "/some/where.db",
        "--workers", "4", "--queue-capacity", "1000", "--queue-bytes", "16M",
        "--batch-max", "100", "--sync", "normal", "--ack", "off",
        "--max-message", "1K", "--max-connections", "5", "--log-level",
        "debug");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(run.outlen, 0);
  check_all_set(&c);
  run_free(&run);
}

static void test_long_flags_with_equals(void **state) {
  struct bq_config c;
  struct run run;
  (void)state;
  bq_config_defaults(&c);
  PARSE(&c, &run, "--listen=[::1]:0", "--db=/some/where.db", "--workers=4",
        "--queue-capacity=1000", "--queue-bytes=16MiB", "--batch-max=100",
        "--sync=normal", "--ack=off", "--max-message=1024",
        "--max-connections=5", "--log-level=debug");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  check_all_set(&c);
  run_free(&run);
}

static void test_short_flags(void **state) {
  struct bq_config c;
  struct run run;
  (void)state;
  bq_config_defaults(&c);
  PARSE(&c, &run, "-l", "[::1]:0", "-d", "/some/where.db", "-w", "4", "-q",
        "1000", "-b", "16M", "-B", "100", "-s", "normal", "-a", "off", "-m",
        "1K", "-c", "5", "-L", "debug");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  check_all_set(&c);
  run_free(&run);

  /* attached values */
  bq_config_defaults(&c);
  PARSE(&c, &run, "-l[::1]:0", "-d/some/where.db", "-w4", "-q1000", "-b16M",
        "-B100", "-snormal", "-aoff", "-m1K", "-c5", "-Ldebug");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  check_all_set(&c);
  run_free(&run);
}

static void test_other_values(void **state) {
  struct bq_config c;
  struct run run;
  char buf[BQ_ADDR_STRLEN];
  (void)state;
  bq_config_defaults(&c);
  PARSE(&c, &run, "--sync", "off", "--ack", "on", "--log-level", "error",
        "--listen", ":9999", "--workers", "64", "--max-message", "1G");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(c.sync, BQ_SYNC_OFF);
  assert_int_equal(c.ack, 1);
  assert_int_equal(c.log_level, BQ_LOG_ERROR);
  assert_int_equal(c.workers, 64);
  assert_int_equal(c.max_message, (size_t)1 << 30);
  assert_int_equal(c.nlisten, 1);
  fmt(&c.listen[0].addr, buf);
  assert_string_equal(buf, "0.0.0.0:9999");
  run_free(&run);

  PARSE(&c, &run, "-s", "full", "-a", "off", "-a", "on", "-L", "warn");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(c.sync, BQ_SYNC_FULL);
  assert_int_equal(c.ack, 1); /* the last one wins */
  assert_int_equal(c.log_level, BQ_LOG_WARN);
  run_free(&run);

  /* --node: none by default (main() takes the host name); a PostgreSQL
   * URI is a --db like a path. */
  bq_config_defaults(&c);
  assert_null(c.node);
  PARSE(&c, &run, "--node", "ingest-7", "--db",
        "postgresql://bq@h1:5432,h2:5432/burstq?target_session_attrs=read-write");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_string_equal(c.node, "ingest-7");
  assert_string_equal(c.db_path, "postgresql://bq@h1:5432,h2:5432/burstq?"
                                 "target_session_attrs=read-write");
  run_free(&run);
}

/* batch_max never exceeds the queue capacity. */
static void test_batch_max_clamped(void **state) {
  struct bq_config c;
  struct run run;
  (void)state;
  bq_config_defaults(&c);
  PARSE(&c, &run, "-q", "10", "-B", "100");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(c.queue_capacity, 10);
  assert_true(c.batch_max <= 10);
  run_free(&run);
}

/* ---- --help and --version ------------------------------------------------------ */

static void test_help(void **state) {
  static const char *flags[] = {
      "--listen",      "--db",           "--workers",         "--queue-capacity",
      "--queue-bytes", "--batch-max",    "--sync",            "--ack",
      "--max-message", "--max-connections", "--log-level",    "--help",
      "--version",     "--tls-cert",     "--tls-key",         "--tls-client-ca",
      "--tls-max-handshakes"};
  static const char *forms[] = {"--help", "-h"};
  (void)state;
  for (size_t f = 0; f < 2; f++) {
    struct bq_config c;
    struct run run;
    bq_config_defaults(&c);
    PARSE(&c, &run, forms[f]);
    assert_int_equal(run.rc, BQ_CONFIG_EXIT);
    assert_non_null(run.out);
    assert_non_null(strstr(run.out, "Usage: burstqd"));
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
      if (strstr(run.out, flags[i]) == NULL)
        print_error("help lacks %s\n", flags[i]);
      assert_non_null(strstr(run.out, flags[i]));
    }
    assert_true(run.outlen > 0 && run.out[run.outlen - 1] == '\n');
    run_free(&run);
  }
}

static void test_version(void **state) {
  static const char *forms[] = {"--version", "-V"};
  (void)state;
  for (size_t f = 0; f < 2; f++) {
    struct bq_config c;
    struct run run;
    bq_config_defaults(&c);
    PARSE(&c, &run, forms[f]);
    assert_int_equal(run.rc, BQ_CONFIG_EXIT);
    assert_string_equal(run.out, "burstqd " BQ_VERSION "\n");
    run_free(&run);
  }
  assert_string_equal(BQ_VERSION, "0.1.0");
}

/* --help wins over a later bad option, and a bad option before it wins. */
static void test_help_order(void **state) {
  struct bq_config c;
  struct run run;
  (void)state;
  bq_config_defaults(&c);
  PARSE(&c, &run, "--help", "--workers", "0");
  assert_int_equal(run.rc, BQ_CONFIG_EXIT);
  run_free(&run);
  PARSE(&c, &run, "--workers", "0", "--help");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_int_equal(run.outlen, 0);
  run_free(&run);
}

/* ---- errors -------------------------------------------------------------------- */

/* Expect BQ_CONFIG_ERR, nothing on out, a one-line err containing want. */
static void expect_err(const struct run *run, const char *want) {
  if (run->rc != BQ_CONFIG_ERR || strstr(run->err, want) == NULL)
    print_error("rc %d err '%s', want '%s'\n", run->rc, run->err, want);
  assert_int_equal(run->rc, BQ_CONFIG_ERR);
  assert_non_null(strstr(run->err, want));
  assert_null(strchr(run->err, '\n'));
  assert_int_equal(run->outlen, 0);
}

#define EXPECT_ERR(want, ...)                 \
  do {                                        \
    struct bq_config c_;                      \
    struct run r_;                            \
    bq_config_defaults(&c_);                  \
    PARSE(&c_, &r_, __VA_ARGS__);             \
    expect_err(&r_, (want));                  \
    run_free(&r_);                            \
  } while (0)

static void test_bad_values(void **state) {
  (void)state;
  EXPECT_ERR("--workers", "--workers", "0");
  EXPECT_ERR("--workers", "-w", "0");
  EXPECT_ERR("--workers", "--workers", "65");
  EXPECT_ERR("--workers", "--workers", "many");
  EXPECT_ERR("--workers", "--workers", "-1");
  EXPECT_ERR("--workers", "--workers", "");
  EXPECT_ERR("--sync", "--sync", "maybe");
  EXPECT_ERR("--sync", "-s", "FULL");
  EXPECT_ERR("--ack", "--ack", "yes");
  EXPECT_ERR("--ack", "-a", "1");
  EXPECT_ERR("--listen", "--listen", "nonsense");
  EXPECT_ERR("--listen", "--listen", "1.2.3.4:70000");
  EXPECT_ERR("--listen", "-l", "1.2.3.4:");
  EXPECT_ERR("--listen", "--listen", "::1:80");
  EXPECT_ERR("--listen", "--listen", "");
  EXPECT_ERR("--queue-capacity", "--queue-capacity", "0");
  EXPECT_ERR("--queue-bytes", "--queue-bytes", "1023");
  EXPECT_ERR("--queue-bytes", "-b", "16X");
  EXPECT_ERR("--batch-max", "--batch-max", "0");
  EXPECT_ERR("--max-message", "--max-message", "0");
  EXPECT_ERR("--max-message", "-m", "2G");
  EXPECT_ERR("--max-connections", "--max-connections", "0");
  EXPECT_ERR("--log-level", "--log-level", "loud");
  EXPECT_ERR("--log-level", "-L", "INFO");
  EXPECT_ERR("--db", "--db", "");
}

static void test_bad_usage(void **state) {
  (void)state;
  EXPECT_ERR("--bogus", "--bogus");
  EXPECT_ERR("--bogus", "--bogus=1");
  EXPECT_ERR("-x", "-x");
  EXPECT_ERR("-x", "-w", "2", "-x");
  /* a missing value names the flag */
  EXPECT_ERR("--db", "--db");
  EXPECT_ERR("-d", "-d");
  EXPECT_ERR("--workers", "--sync", "off", "--workers");
  EXPECT_ERR("-w", "-w");
  /* stray arguments */
  EXPECT_ERR("stray", "stray");
  EXPECT_ERR("stray", "--workers", "2", "stray");
  EXPECT_ERR("stray", "stray", "--workers", "2");
  EXPECT_ERR("stray", "--", "stray");
}

/* A known long flag that takes no value, given one: the message must name
 * the flag as written (getopt_long reports it as '?' with optopt set to the
 * short letter, which once produced "unknown option -h"). */
static void test_flag_without_value_given_one(void **state) {
  (void)state;
  EXPECT_ERR("--help", "--help=yes");
  EXPECT_ERR("--version", "--version=1");
  {
    struct bq_config c;
    struct run run;
    bq_config_defaults(&c);
    PARSE(&c, &run, "--help=yes");
    assert_null(strstr(run.err, "unknown"));
    run_free(&run);
  }
}

/* Parsing twice (even after an error) starts afresh. */
static void test_parse_again(void **state) {
  struct bq_config c;
  struct run run;
  (void)state;
  bq_config_defaults(&c);
  PARSE(&c, &run, "-w", "2", "-x", "-w", "3");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  run_free(&run);
  bq_config_defaults(&c);
  PARSE(&c, &run, "-w", "5");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(c.workers, 5);
  run_free(&run);
  PARSE(&c, &run, "-w", "6");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(c.workers, 6);
  run_free(&run);
}

/* ---- units and messages --------------------------------------------------------- */

/* Sizes in bytes are 1024-based, counts 1000-based (common/units.h). */
static void test_units(void **state) {
  struct bq_config c;
  struct run run;
  (void)state;
  bq_config_defaults(&c);
  PARSE(&c, &run, "--queue-capacity", "64k", "--queue-bytes", "2K",
        "--max-connections", "2k", "--batch-max", "1M", "--max-message",
        "64KiB", "--idle-timeout", "1k", "--max-db-size", "1G");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(c.queue_capacity, 64000);
  assert_int_equal(c.queue_bytes, 2048);
  assert_int_equal(c.max_connections, 2000);
  assert_int_equal(c.batch_max, 64000); /* 1M, clamped to the capacity */
  assert_int_equal(c.max_message, 65536);
  assert_int_equal(c.idle_timeout, 1000);
  assert_int_equal(c.max_db_size, (size_t)1 << 30);
  run_free(&run);
  /* retention: off by default; durations, sizes, counts */
  bq_config_defaults(&c);
  assert_int_equal(c.retain_age, 0);
  assert_int_equal(c.retain_size, 0);
  assert_int_equal(c.retain_rows, 0);
  PARSE(&c, &run, "--retain-age", "30d", "--retain-size", "1G",
        "--retain-rows", "500k");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(c.retain_age, 30 * 86400);
  assert_int_equal(c.retain_size, (size_t)1 << 30);
  assert_int_equal(c.retain_rows, 500000);
  run_free(&run);
  PARSE(&c, &run, "--retain-age", "0", "--retain-size", "0",
        "--retain-rows", "0");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(c.retain_age + c.retain_size + c.retain_rows, 0);
  run_free(&run);
  PARSE(&c, &run, "--retain-age", "90");
  assert_int_equal(c.retain_age, 90);
  run_free(&run);
  EXPECT_ERR("--retain-age: '12x' is not a number", "--retain-age", "12x");
  EXPECT_ERR("--retain-age: '1k' is not a number", "--retain-age", "1k");
  EXPECT_ERR("--retain-age: '0s' is out of range (1 to 3162240000)",
             "--retain-age", "0s");
  EXPECT_ERR("--retain-size: '1K' is out of range (65536 to "
             "1125899906842624)",
             "--retain-size", "1K");
  /* byte suffixes are for sizes only */
  EXPECT_ERR("--queue-capacity: '1KiB' is not a number", "-q", "1KiB");
  EXPECT_ERR("--workers: '1m' is not a number", "-w", "1m");
}

/* --page-size: a power of two from 4096 to 65536, K suffixes; not given,
 * 0 (the store's default, BQ_SQLITE_PAGE_SIZE, which --help shows). */
static void test_page_size(void **state) {
  struct bq_config c;
  struct run run;
  char dflt[32];
  (void)state;
  bq_config_defaults(&c);
  assert_int_equal(c.page_size, 0);
  PARSE(&c, &run, "--page-size", "65536");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(c.page_size, 65536);
  run_free(&run);
  PARSE(&c, &run, "--page-size", "4K");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(c.page_size, 4096);
  run_free(&run);
  PARSE(&c, &run, "--page-size=32KiB");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(c.page_size, 32768);
  run_free(&run);
  EXPECT_ERR("--page-size: '2048' is out of range (4096 to 65536)",
             "--page-size", "2048");
  EXPECT_ERR("--page-size: '128K' is out of range (4096 to 65536)",
             "--page-size", "128K");
  EXPECT_ERR("--page-size: '0' is out of range (4096 to 65536)",
             "--page-size", "0");
  EXPECT_ERR("--page-size: '5000' is not a power of two from 4096 to 65536",
             "--page-size", "5000");
  EXPECT_ERR("--page-size: '48K' is not a power of two from 4096 to 65536",
             "--page-size", "48K");
  EXPECT_ERR("--page-size: 'big' is not a number", "--page-size", "big");
  EXPECT_ERR("--page-size needs a value", "--page-size");
  /* --help shows the store's default */
  bq_config_defaults(&c);
  PARSE(&c, &run, "--help");
  assert_int_equal(run.rc, BQ_CONFIG_EXIT);
  snprintf(dflt, sizeof(dflt), "[%d]", BQ_SQLITE_PAGE_SIZE);
  assert_non_null(strstr(run.out, "--page-size BYTES"));
  assert_non_null(strstr(strstr(run.out, "--page-size BYTES"), dflt));
  run_free(&run);
}

/* Every kind of value says what is wrong the same way, naming the option
 * by its long name whichever form was given. */
static void test_error_messages(void **state) {
  (void)state;
  EXPECT_ERR("--workers: '0' is out of range (1 to 64)", "-w", "0");
  EXPECT_ERR("--queue-bytes: '16X' is not a number", "-b", "16X");
  EXPECT_ERR("--idle-timeout: '1y' is not a number", "--idle-timeout", "1y");
  EXPECT_ERR("--sync: 'maybe' is not off, normal or full", "-s", "maybe");
  EXPECT_ERR("--ack: 'yes' is not on or off", "--ack=yes");
  EXPECT_ERR("--log-level: 'loud' is not error, warn, info or debug", "-L",
             "loud");
  EXPECT_ERR("--log-format: 'xml' is not text or json", "--log-format",
             "xml");
  EXPECT_ERR("--listen: 'x' is not HOST:PORT (for example", "-l", "x");
  EXPECT_ERR("--metrics: 'x' is not HOST:PORT (for example", "--metrics",
             "x");
  EXPECT_ERR("--db: the path is empty", "-d", "");
  EXPECT_ERR("--auth-token-file: the path is empty", "--auth-token-file",
             "");
  EXPECT_ERR("--allow: '10.0.0.1/8' is not an IPv4 or IPv6 address",
             "--allow", "10.0.0.1/8");
}

/* --help lists every option the parser knows and only those: each "--name"
 * at the start of an option line is accepted (given a value when its line
 * shows one), and an option --help does not list is unknown. */
static void test_help_lists_every_option(void **state) {
  struct bq_config c;
  struct run help;
  size_t n = 0;
  (void)state;
  bq_config_defaults(&c);
  PARSE(&c, &help, "--help");
  assert_int_equal(help.rc, BQ_CONFIG_EXIT);
  for (char *line = help.out; line != NULL && *line != '\0';) {
    char *nl = strchr(line, '\n'), name[64], *p = line;
    size_t len;
    if (nl != NULL) *nl = '\0';
    if (strncmp(p, "  -", 3) == 0 && p[3] != '-') p += 6; /* "  -x, " */
    p += strspn(p, " ");
    if (p - line <= 6 && strncmp(p, "--", 2) == 0) {
      struct run run;
      len = strcspn(p, " ");
      assert_true(len < sizeof(name));
      memcpy(name, p, len);
      name[len] = '\0';
      bq_config_defaults(&c);
      if (p[len] == ' ' && p[len + 1] != ' ') { /* "--name VALUE": no value */
        PARSE(&c, &run, name);
        if (strstr(run.err, "needs a value") == NULL)
          print_error("%s: '%s'\n", name, run.err);
        assert_non_null(strstr(run.err, "needs a value"));
      } else { /* a flag: accepted, and refuses a value */
        PARSE(&c, &run, name);
        assert_int_equal(run.rc, BQ_CONFIG_EXIT);
        run_free(&run);
        strcat(name, "=1");
        PARSE(&c, &run, name);
        assert_non_null(strstr(run.err, "takes no value"));
      }
      run_free(&run);
      n++;
    }
    line = nl != NULL ? nl + 1 : NULL;
  }
  assert_int_equal(n, 29);
  run_free(&help);
  EXPECT_ERR("unknown option --bogus", "--bogus", "1");
}

/* ---- addresses ------------------------------------------------------------------- */

static void addr_ok(const char *s, int def, const char *want) {
  struct sockaddr_storage ss;
  char buf[BQ_ADDR_STRLEN];
  int r;
  memset(&ss, 0xee, sizeof(ss));
  r = bq_addr_parse(s, def, &ss);
  if (r != 0) print_error("'%s': %d\n", s, r);
  assert_int_equal(r, 0);
  fmt(&ss, buf);
  assert_string_equal(buf, want);
}

static void addr_bad(const char *s, int def) {
  struct sockaddr_storage ss;
  int r = bq_addr_parse(s, def, &ss);
  if (r != -EINVAL) print_error("'%s': %d, want -EINVAL\n", s ? s : "NULL", r);
  assert_int_equal(r, -EINVAL);
}

static void test_addr_parse_format(void **state) {
  struct sockaddr_storage ss;
  char buf[BQ_ADDR_STRLEN];
  (void)state;
  addr_ok("127.0.0.1:7070", -1, "127.0.0.1:7070");
  addr_ok("[::1]:0", -1, "[::1]:0");
  addr_ok(":7070", -1, "0.0.0.0:7070");
  addr_ok("0.0.0.0:65535", -1, "0.0.0.0:65535");
  addr_ok("10.1.2.3:0", -1, "10.1.2.3:0");
  addr_ok("[::]:80", -1, "[::]:80");
  addr_ok("[2001:db8::7]:443", -1, "[2001:db8::7]:443");
  addr_ok("[::ffff:1.2.3.4]:1", -1, "[::ffff:1.2.3.4]:1");
  /* a default port */
  addr_ok("127.0.0.1", 9, "127.0.0.1:9");
  addr_ok("[::1]", 5, "[::1]:5");
  addr_ok("127.0.0.1:8", 9, "127.0.0.1:8");

  /* families and ports from the structure itself */
  assert_int_equal(bq_addr_parse("[::1]:0", -1, &ss), 0);
  assert_int_equal(ss.ss_family, AF_INET6);
  assert_int_equal(port_of(&ss), 0);
  assert_true(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr));
  assert_int_equal(bq_addr_parse(":7070", -1, &ss), 0);
  assert_int_equal(ss.ss_family, AF_INET);
  assert_int_equal(((struct sockaddr_in *)&ss)->sin_addr.s_addr,
                   htonl(INADDR_ANY));
  assert_int_equal(port_of(&ss), 7070);

  /* a name (from /etc/hosts) */
  assert_int_equal(bq_addr_parse("localhost:80", -1, &ss), 0);
  assert_int_equal(port_of(&ss), 80);
  fmt(&ss, buf);
  assert_true(strcmp(buf, "127.0.0.1:80") == 0 ||
              strcmp(buf, "[::1]:80") == 0);
}

static void test_addr_rejects(void **state) {
  (void)state;
  addr_bad("::1:80", -1);
  addr_bad("::1", 80);
  addr_bad("[::1", -1);
  addr_bad("[::1]:", -1);
  addr_bad("[::1]80", -1);
  addr_bad("[]:80", -1);
  addr_bad("[1.2.3.4]:80", -1);
  addr_bad("1.2.3.4:", -1);
  addr_bad("host:-1", -1);
  addr_bad("1.2.3.4:+80", -1);
  addr_bad("1.2.3.4: 80", -1);
  addr_bad("1.2.3.4:80 ", -1);
  addr_bad("1.2.3.4:8x", -1);
  addr_bad("1.2.3.4", -1); /* a port is required */
  addr_bad("", -1);
  addr_bad(NULL, -1);
  addr_bad(":", -1);
  addr_bad("bad_host:80", -1);
  addr_bad("bad host:80", -1);
}

/* A port of digits above 65535 is a port out of range, not a malformed
 * address, so the message can say which. */
static void test_addr_port_range(void **state) {
  struct sockaddr_storage ss;
  static const char *bad[] = {"127.0.0.1:99999", "1.2.3.4:65536",
                              "[::1]:65536", ":70000", "localhost:99999",
                              "1.2.3.4:99999999999999999999"};
  (void)state;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int r = bq_addr_parse(bad[i], -1, &ss);
    if (r != -ERANGE) print_error("'%s': %d, want -ERANGE\n", bad[i], r);
    assert_int_equal(r, -ERANGE);
  }
  addr_bad("[1.2.3.4]:99999", -1); /* malformed before out of range */
  addr_bad("1.2.3.4:99999x", -1);
  addr_ok("127.0.0.1:65535", -1, "127.0.0.1:65535");
  addr_ok("127.0.0.1:0", -1, "127.0.0.1:0");
  assert_int_equal(bq_addr_parse("[::1]:7", -1, &ss), 0);
  assert_int_equal(bq_addr_port(&ss), 7);
  assert_int_equal(bq_addr_parse("1.2.3.4:65535", -1, &ss), 0);
  assert_int_equal(bq_addr_port(&ss), 65535);
  ss.ss_family = AF_UNIX;
  assert_int_equal(bq_addr_port(&ss), -1);
}

/* --listen and --metrics say what is wrong: the port's range (0 is
 * allowed: a free port) or the form.  (A name that does not resolve:
 * integration.basic, which may wait for DNS.) */
static void test_addr_flag_messages(void **state) {
  struct bq_config c;
  struct run run;
  (void)state;
  bq_config_defaults(&c);
  PARSE(&c, &run, "--listen", "127.0.0.1:99999");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_string_equal(run.err,
                      "--listen: the port in '127.0.0.1:99999' is out of "
                      "range (0 to 65535; 0 picks a free port)");
  run_free(&run);
  PARSE(&c, &run, "--metrics", "[::1]:65536");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_string_equal(run.err,
                      "--metrics: the port in '[::1]:65536' is out of "
                      "range (0 to 65535; 0 picks a free port)");
  run_free(&run);
  PARSE(&c, &run, "--listen", "127.0.0.1:7x");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_string_equal(run.err,
                      "--listen: '127.0.0.1:7x' is not HOST:PORT (for "
                      "example 127.0.0.1:7070 or [::1]:0)");
  run_free(&run);
  PARSE(&c, &run, "--listen", "127.0.0.1:0");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(bq_addr_port(&c.listen[0].addr), 0);
  run_free(&run);
  PARSE(&c, &run, "--listen", "127.0.0.1:65535");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(bq_addr_port(&c.listen[0].addr), 65535);
  run_free(&run);
}

/* ---- --listen, repeatable, with kinds ----------------------------------- */

/* No --listen: the one default acked listener; one --listen replaces it. */
static void test_listen_one(void **state) {
  struct bq_config c;
  struct run run;
  char buf[BQ_ADDR_STRLEN];
  (void)state;
  bq_config_defaults(&c);
  PARSE(&c, &run, "--listen", "127.0.0.1:5000");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(c.nlisten, 1);
  assert_string_equal(c.listen[0].text, "127.0.0.1:5000");
  assert_int_equal(c.listen[0].kind, BQ_LISTEN_ACKED);
  fmt(&c.listen[0].addr, buf);
  assert_string_equal(buf, "127.0.0.1:5000");
  run_free(&run);
}

/* Several, in order, each with its kind; the text kept as given. */
static void test_listen_several(void **state) {
  struct bq_config c;
  struct run run;
  char buf[BQ_ADDR_STRLEN];
  (void)state;
  bq_config_defaults(&c);
  PARSE(&c, &run, "--listen", "127.0.0.1:7070", "-l", "[::1]:5514,syslog",
        "--listen=0.0.0.0:7071,acked", "--listen", "127.0.0.1:0,syslog",
        "--listen", "127.0.0.1:0");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(c.nlisten, 5);
  assert_string_equal(c.listen[0].text, "127.0.0.1:7070");
  assert_int_equal(c.listen[0].kind, BQ_LISTEN_ACKED);
  assert_string_equal(c.listen[1].text, "[::1]:5514,syslog");
  assert_int_equal(c.listen[1].kind, BQ_LISTEN_SYSLOG);
  fmt(&c.listen[1].addr, buf);
  assert_string_equal(buf, "[::1]:5514");
  assert_string_equal(c.listen[2].text, "0.0.0.0:7071,acked");
  assert_int_equal(c.listen[2].kind, BQ_LISTEN_ACKED);
  /* Port 0 twice is two listeners, each on a free port of its own. */
  assert_int_equal(c.listen[3].kind, BQ_LISTEN_SYSLOG);
  assert_int_equal(bq_addr_port(&c.listen[3].addr), 0);
  assert_int_equal(c.listen[4].kind, BQ_LISTEN_ACKED);
  assert_string_equal(bq_config_listen_kind_name(BQ_LISTEN_SYSLOG), "syslog");
  assert_string_equal(bq_config_listen_kind_name(BQ_LISTEN_ACKED), "acked");
  run_free(&run);
  /* Parsing again starts over: its first --listen replaces them all. */
  PARSE(&c, &run, "--listen", "127.0.0.1:1,syslog");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(c.nlisten, 1);
  assert_int_equal(c.listen[0].kind, BQ_LISTEN_SYSLOG);
  run_free(&run);
}

/* The tls flag, with either kind and in either order, and the TLS
 * options: a tls listener needs --tls-cert and --tls-key; TLS options
 * without a tls listener are refused. */
static void test_listen_tls(void **state) {
  struct bq_config c;
  struct run run;
  (void)state;
  bq_config_defaults(&c);
  assert_false(bq_config_has_tls(&c));
  assert_null(c.tls_cert);
  assert_int_equal(c.tls_handshakes_max, 256);
  PARSE(&c, &run, "--listen", "127.0.0.1:7443,tls", "--listen",
        "127.0.0.1:6514,syslog,tls", "--listen", "127.0.0.1:6515,tls,syslog",
        "--listen", "127.0.0.1:7070", "--tls-cert", "s.pem", "--tls-key",
        "s.key", "--tls-client-ca", "ca.pem", "--tls-max-handshakes", "8");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_int_equal(c.nlisten, 4);
  assert_true(c.listen[0].tls);
  assert_int_equal(c.listen[0].kind, BQ_LISTEN_ACKED);
  assert_true(c.listen[1].tls);
  assert_int_equal(c.listen[1].kind, BQ_LISTEN_SYSLOG);
  assert_true(c.listen[2].tls);
  assert_int_equal(c.listen[2].kind, BQ_LISTEN_SYSLOG);
  assert_false(c.listen[3].tls);
  assert_true(bq_config_has_tls(&c));
  assert_string_equal(c.tls_cert, "s.pem");
  assert_string_equal(c.tls_key, "s.key");
  assert_string_equal(c.tls_client_ca, "ca.pem");
  assert_int_equal(c.tls_handshakes_max, 8);
  run_free(&run);

  bq_config_defaults(&c);
  PARSE(&c, &run, "--listen", "127.0.0.1:7443,tls");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_string_equal(run.err, "--listen 127.0.0.1:7443,tls needs "
                               "--tls-cert FILE (and --tls-key)");
  run_free(&run);
  bq_config_defaults(&c);
  PARSE(&c, &run, "--listen", "127.0.0.1:7443,tls", "--tls-cert", "s.pem");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_string_equal(run.err, "--listen 127.0.0.1:7443,tls needs "
                               "--tls-key FILE");
  run_free(&run);
  bq_config_defaults(&c);
  PARSE(&c, &run, "--tls-client-ca", "ca.pem");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_non_null(strstr(run.err, "--tls-client-ca is given but neither a "
                                  "--listen nor --metrics has the tls flag"));
  run_free(&run);
  bq_config_defaults(&c);
  PARSE(&c, &run, "--listen", "127.0.0.1:7443,tls,tls", "--tls-cert", "a",
        "--tls-key", "b");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_string_equal(run.err, "--listen: '127.0.0.1:7443,tls,tls' repeats "
                               "the tls flag");
  run_free(&run);
  bq_config_defaults(&c);
  PARSE(&c, &run, "--listen", "127.0.0.1:7443,tls", "--tls-cert", "",
        "--tls-key", "b");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_string_equal(run.err, "--tls-cert: the path is empty");
  run_free(&run);
  bq_config_defaults(&c);
  PARSE(&c, &run, "--listen", "127.0.0.1:7443,tls", "--tls-cert", "a",
        "--tls-key", "b", "--tls-max-handshakes", "0");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_non_null(strstr(run.err, "--tls-max-handshakes"));
  run_free(&run);
}

/* --metrics HOST:PORT,tls: HTTPS with the TLS listeners' certificate,
 * which it needs as a tls listener does; no other flag. */
static void test_metrics_tls(void **state) {
  struct bq_config c;
  struct run run;
  (void)state;
  bq_config_defaults(&c);
  PARSE(&c, &run, "--metrics", "127.0.0.1:9070");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_false(c.metrics_tls);
  assert_false(bq_config_has_tls(&c));
  run_free(&run);
  bq_config_defaults(&c);
  PARSE(&c, &run, "--metrics", "127.0.0.1:9443,tls", "--tls-cert", "s.pem",
        "--tls-key", "s.key");
  assert_int_equal(run.rc, BQ_CONFIG_OK);
  assert_true(c.metrics_tls);
  assert_true(bq_config_has_tls(&c));
  assert_int_equal(bq_addr_port(&c.metrics_addr), 9443);
  assert_false(c.listen[0].tls);
  run_free(&run);
  bq_config_defaults(&c);
  PARSE(&c, &run, "--metrics", "127.0.0.1:9443,tls");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_string_equal(run.err, "--metrics 127.0.0.1:9443,tls needs "
                               "--tls-cert FILE (and --tls-key)");
  run_free(&run);
  bq_config_defaults(&c);
  PARSE(&c, &run, "--metrics", "127.0.0.1:9443,tls", "--tls-cert", "s.pem");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_string_equal(run.err, "--metrics 127.0.0.1:9443,tls needs "
                               "--tls-key FILE");
  run_free(&run);
  bq_config_defaults(&c);
  PARSE(&c, &run, "--metrics", "127.0.0.1:9443,ssl");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_string_equal(run.err, "--metrics: unknown flag 'ssl' in "
                               "'127.0.0.1:9443,ssl' (the one flag is tls)");
  run_free(&run);
  bq_config_defaults(&c);
  PARSE(&c, &run, "--metrics", "127.0.0.1:9443,tls,tls");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  run_free(&run);
}

static void test_listen_errors(void **state) {
  struct bq_config c;
  struct run run;
  char *argv[2 * (BQ_LISTEN_MAX + 1) + 2], specs[BQ_LISTEN_MAX + 1][32];
  int argc = 0;
  FILE *out;
  (void)state;
  bq_config_defaults(&c);
  PARSE(&c, &run, "--listen", "127.0.0.1:5514,ssl");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_string_equal(run.err,
                      "--listen: unknown flag 'ssl' in '127.0.0.1:5514,ssl' "
                      "(flags: acked, syslog, tls)");
  run_free(&run);
  PARSE(&c, &run, "--listen", "127.0.0.1:5514,");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_non_null(strstr(run.err, "unknown flag '' in"));
  run_free(&run);
  PARSE(&c, &run, "--listen", "127.0.0.1:5514,Syslog");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_non_null(strstr(run.err, "unknown flag 'Syslog'"));
  run_free(&run);
  PARSE(&c, &run, "--listen", "127.0.0.1:5514,syslog,acked");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_string_equal(run.err, "--listen: '127.0.0.1:5514,syslog,acked' "
                               "names more than one kind");
  run_free(&run);
  /* The same address twice, whatever the kinds. */
  PARSE(&c, &run, "--listen", "127.0.0.1:5514", "--listen",
        "127.0.0.1:5514,syslog");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_string_equal(run.err, "--listen: '127.0.0.1:5514,syslog' repeats "
                               "the address of '127.0.0.1:5514'");
  run_free(&run);
  PARSE(&c, &run, "--listen", "[::1]:80", "--listen", "[0:0::1]:80");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_non_null(strstr(run.err, "repeats the address of '[::1]:80'"));
  run_free(&run);
  /* Out of range, with a flag after it. */
  PARSE(&c, &run, "--listen", "127.0.0.1:65536,syslog");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_string_equal(run.err,
                      "--listen: the port in '127.0.0.1:65536' is out of "
                      "range (0 to 65535; 0 picks a free port)");
  run_free(&run);
  PARSE(&c, &run, "--listen", ",syslog");
  assert_int_equal(run.rc, BQ_CONFIG_ERR);
  assert_non_null(strstr(run.err, "is not HOST:PORT"));
  run_free(&run);
  /* BQ_LISTEN_MAX are fine, one more is not. */
  argv[argc++] = (char *)"burstqd";
  for (int i = 0; i <= BQ_LISTEN_MAX; i++) {
    snprintf(specs[i], sizeof(specs[i]), "127.0.0.1:%d%s", 6000 + i,
             i % 2 ? ",syslog" : "");
    argv[argc++] = (char *)"--listen";
    argv[argc++] = specs[i];
  }
  argv[argc] = NULL;
  memset(run.err, 0, sizeof(run.err));
  out = fopen("/dev/null", "w");
  assert_non_null(out);
  assert_int_equal(bq_config_parse(&c, argc - 2, argv, out, run.err,
                                   sizeof(run.err)),
                   BQ_CONFIG_OK);
  assert_int_equal(c.nlisten, BQ_LISTEN_MAX);
  assert_int_equal(c.listen[BQ_LISTEN_MAX - 1].kind, BQ_LISTEN_SYSLOG);
  assert_int_equal(bq_config_parse(&c, argc, argv, out, run.err,
                                   sizeof(run.err)),
                   BQ_CONFIG_ERR);
  assert_string_equal(run.err, "--listen: more than 16 addresses");
  fclose(out);
}

static void test_addr_format_other(void **state) {
  struct sockaddr_un un;
  struct sockaddr_in in4;
  char buf[BQ_ADDR_STRLEN];
  char small[6];
  (void)state;
  memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  assert_int_equal(bq_addr_format((struct sockaddr *)&un, buf, sizeof(buf)),
                   -EAFNOSUPPORT);
  assert_string_equal(buf, "?");

  /* a small buffer is truncated, never overrun */
  memset(&in4, 0, sizeof(in4));
  in4.sin_family = AF_INET;
  in4.sin_port = htons(7070);
  in4.sin_addr.s_addr = htonl(0x7f000001);
  memset(small, 'z', sizeof(small));
  bq_addr_format((struct sockaddr *)&in4, small, 5);
  assert_string_equal(small, "127.");
  assert_int_equal(small[5], 'z');

  /* the longest form fits BQ_ADDR_STRLEN */
  {
    struct sockaddr_storage ss;
    const char *s = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535";
    assert_int_equal(bq_addr_parse(s, -1, &ss), 0);
    fmt(&ss, buf);
    assert_string_equal(buf, s);
  }
}

/* ---- logging ----------------------------------------------------------------- */

static void test_log_level_parse(void **state) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  static const char *bad[] = {"", "ERROR", "Info", "warning", "debug ",
                              "trace", "2", "errors"};
  (void)state;
  for (int i = 0; i < 4; i++) {
    int level = -1;
    assert_int_equal(bq_log_level_parse(names[i], &level), 0);
    assert_int_equal(level, i);
    assert_string_equal(bq_log_level_name(i), names[i]);
  }
  assert_int_equal(BQ_LOG_ERROR, 0);
  assert_int_equal(BQ_LOG_DEBUG, 3);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int level = 77;
    assert_int_equal(bq_log_level_parse(bad[i], &level), -EINVAL);
    assert_int_equal(level, 77); /* untouched */
  }
  assert_string_equal(bq_log_level_name(-1), "?");
  assert_string_equal(bq_log_level_name(4), "?");
}

static void test_logf(void **state) {
  struct bq_log log;
  char *buf = NULL;
  size_t len = 0;
  char want[64], big[3000];
  FILE *out = open_memstream(&buf, &len);
  (void)state;
  assert_non_null(out);
  bq_log_init(&log, "unit", BQ_LOG_INFO, out);
  bq_log_debug(&log, "dropped %d", 1);
  bq_log_info(&log, "hello %s %d", "world", 42);
  bq_log_error(&log, "bad");
  fflush(out);
  /* "TIMESTAMP prog[pid] level: message\n", two lines */
  snprintf(want, sizeof(want), " unit[%ld] info: hello world 42\n",
           (long)getpid());
  assert_non_null(strstr(buf, want));
  snprintf(want, sizeof(want), " unit[%ld] error: bad\n", (long)getpid());
  assert_non_null(strstr(buf, want));
  assert_null(strstr(buf, "dropped"));
  assert_int_equal(buf[len - 1], '\n');
  {
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    assert_int_equal(lines, 2);
  }
  /* a line too long for the buffer is cut but still ends the line */
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  {
    size_t before = len;
    bq_log_warn(&log, "%s", big);
    fflush(out);
    assert_true(len > before);
    assert_true(len - before <= 1024);
    assert_int_equal(buf[len - 1], '\n');
    assert_null(memchr(buf + before, '\n', len - before - 1));
  }
  /* NULL log: nothing happens */
  bq_logf(NULL, BQ_LOG_ERROR, "nothing");
  fclose(out);
  free(buf);
}

static void test_ratelimit(void **state) {
  struct bq_ratelimit rl;
  uint64_t sup = 999;
  (void)state;
  bq_ratelimit_init(&rl, 1000);
  assert_int_equal(bq_ratelimit_allow(&rl, 5000, &sup), 1); /* first one */
  assert_int_equal(sup, 0);
  sup = 999;
  assert_int_equal(bq_ratelimit_allow(&rl, 5000, &sup), 0);
  assert_int_equal(bq_ratelimit_allow(&rl, 5500, &sup), 0);
  assert_int_equal(bq_ratelimit_allow(&rl, 5999, &sup), 0);
  assert_int_equal(sup, 999); /* only written when allowed */
  assert_int_equal(bq_ratelimit_allow(&rl, 6000, &sup), 1); /* interval on */
  assert_int_equal(sup, 3);
  assert_int_equal(bq_ratelimit_allow(&rl, 6001, &sup), 0);
  assert_int_equal(bq_ratelimit_allow(&rl, 100000, &sup), 1); /* long gap */
  assert_int_equal(sup, 1);
  assert_int_equal(bq_ratelimit_allow(&rl, 100999, NULL), 0);
  assert_int_equal(bq_ratelimit_allow(&rl, 101000, NULL), 1); /* NULL ok */
  assert_int_equal(bq_ratelimit_allow(&rl, 101001, &sup), 0);
  assert_int_equal(bq_ratelimit_allow(&rl, 102000, &sup), 1);
  assert_int_equal(sup, 1); /* the NULL call reset the count */

  /* time 0 is a valid first time */
  bq_ratelimit_init(&rl, 10);
  assert_int_equal(bq_ratelimit_allow(&rl, 0, &sup), 1);
  assert_int_equal(bq_ratelimit_allow(&rl, 9, &sup), 0);
  assert_int_equal(bq_ratelimit_allow(&rl, 10, &sup), 1);
  assert_int_equal(sup, 1);

  /* interval 0: everything passes */
  bq_ratelimit_init(&rl, 0);
  for (uint64_t t = 0; t < 5; t++) {
    assert_int_equal(bq_ratelimit_allow(&rl, 42, &sup), 1);
    assert_int_equal(sup, 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_page_size),
      cmocka_unit_test(test_no_arguments),
      cmocka_unit_test(test_long_flags),
      cmocka_unit_test(test_long_flags_with_equals),
      cmocka_unit_test(test_short_flags),
      cmocka_unit_test(test_other_values),
      cmocka_unit_test(test_batch_max_clamped),
      cmocka_unit_test(test_help),
      cmocka_unit_test(test_version),
      cmocka_unit_test(test_help_order),
      cmocka_unit_test(test_bad_values),
      cmocka_unit_test(test_bad_usage),
      cmocka_unit_test(test_flag_without_value_given_one), /* skipped */
      cmocka_unit_test(test_parse_again),
      cmocka_unit_test(test_units),
      cmocka_unit_test(test_error_messages),
      cmocka_unit_test(test_help_lists_every_option),
      cmocka_unit_test(test_addr_parse_format),
      cmocka_unit_test(test_addr_rejects),
      cmocka_unit_test(test_addr_port_range),
      cmocka_unit_test(test_addr_flag_messages),
      cmocka_unit_test(test_listen_one),
      cmocka_unit_test(test_listen_several),
      cmocka_unit_test(test_listen_errors),
      cmocka_unit_test(test_listen_tls),
      cmocka_unit_test(test_metrics_tls),
      cmocka_unit_test(test_addr_format_other),
      cmocka_unit_test(test_log_level_parse),
      cmocka_unit_test(test_logf),
      cmocka_unit_test(test_ratelimit),
  };
  /* BQ_UNIT_FILTER=test_x* runs only the matching tests. */
  if (getenv("BQ_UNIT_FILTER") != NULL)
    cmocka_set_test_filter(getenv("BQ_UNIT_FILTER"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}
