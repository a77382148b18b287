/*
 * test_metrics.c -- unit tests of the metrics registry and its Prometheus
 * rendering (server/metrics.h) and of the growable buffer (common/buf.h).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "metrics.h"

/* The line of text starting with prefix in s, as a new string. */
static char *line_of(const char *s, const char *prefix) {
  size_t n = strlen(prefix);
  const char *p = s;
  while (p && *p) {
    if (strncmp(p, prefix, n) == 0) {
      const char *e = strchr(p, '\n');
      size_t len = e ? (size_t)(e - p) : strlen(p);
      char *out = malloc(len + 1);
      memcpy(out, p, len);
      out[len] = '\0';
      return out;
    }
    p = strchr(p, '\n');
    if (p) p++;
  }
  return NULL;
}

static void assert_line(const char *text, const char *want) {
  char *got = line_of(text, want);
  if (got == NULL) fail_msg("no line '%s' in:\n%s", want, text);
  assert_string_equal(got, want);
  free(got);
}

/* Lines starting with "<kind><name> " in text. */
static int count_lines(const char *text, const char *kind, const char *name) {
  char want[200];
  int n = 0;
  const char *p = text;
  snprintf(want, sizeof(want), "%s%s ", kind, name);
  while (*p) {
    if (strncmp(p, want, strlen(want)) == 0) n++;
    p = strchr(p, '\n');
    if (p == NULL) break;
    p++;
  }
  return n;
}

/* Strip a histogram's _bucket/_sum/_count suffix from name when the text
 * declares the base name a histogram. */
static void family_of(const char *text, char *name) {
  static const char *const sufs[] = {"_bucket", "_sum", "_count"};
  size_t n = strlen(name);
  for (size_t i = 0; i < 3; i++) {
    size_t sl = strlen(sufs[i]);
    char base[128], want[160];
    if (n <= sl || strcmp(name + n - sl, sufs[i]) != 0) continue;
    memcpy(base, name, n - sl);
    base[n - sl] = '\0';
    snprintf(want, sizeof(want), "# TYPE %s histogram\n", base);
    if (strstr(text, want) != NULL) {
      memcpy(name, base, n - sl + 1);
      return;
    }
  }
}

static void fill_snapshot(struct bq_metrics_snapshot *s) {
  memset(s, 0, sizeof(*s));
  s->version = "0.1.0";
  s->backend = "sqlite 3.40.1";
  s->libuv_version = "1.44\"x\\y";
  s->start_time = 1700000000.25;
  s->loop.st.received = 1000;
  s->loop.st.committed = 990;
  s->loop.st.received_bytes = 123456;
  s->loop.st.rejected = 3;
  s->loop.st.acks = 42;
  s->loop.st.accepted = 7;
  s->loop.open = 2;
  s->loop.st.refused = 5;
  s->loop.st.denied = 6;
  s->loop.st.idle_closed = 8;
  s->queue_records = 10;
  s->queue_bytes = 2048;
  s->queue_limit_records = 65536;
  s->queue_limit_bytes = 67108864;
  s->loop.paused = 1;
  s->loop.paused_ms = 1500;
  s->loop.st.pauses = 4;
  s->loop.draining = 0;
  s->workers = 2;
  s->have_process = 1;
  s->cpu_seconds = 12.5;
  s->rss_bytes = 6 << 20;
  s->vsize_bytes = 100 << 20;
  s->open_fds = 17;
  s->max_fds = 1024;
}

static void test_render_counters(void **state) {
  struct bq_metrics m;
  struct bq_metrics_snapshot s;
  struct bq_buf b;
  (void)state;
  assert_int_equal(bq_metrics_init(&m), 0);
  fill_snapshot(&s);
  bq_buf_init(&b);
  assert_int_equal(bq_metrics_render(&m, &s, &b), 0);
  assert_non_null(b.data);
  /* Label values are escaped: " and \ in the libuv version. */
  assert_line(b.data,
              "burstq_build_info{version=\"0.1.0\",backend=\"sqlite 3.40.1\","
              "libuv=\"1.44\\\"x\\\\y\"} 1");
  assert_line(b.data, "# TYPE burstq_messages_received_total counter");
  assert_line(b.data, "burstq_messages_received_total 1000");
  assert_line(b.data, "burstq_messages_committed_total 990");
  assert_line(b.data, "burstq_messages_rejected_total{reason=\"too_long\"} 3");
  assert_line(b.data, "burstq_received_bytes_total 123456");
  assert_line(b.data, "burstq_acks_sent_total 42");
  assert_line(b.data, "burstq_connections_open 2");
  assert_line(b.data, "# TYPE burstq_connections_open gauge");
  assert_line(b.data, "burstq_connections_accepted_total 7");
  assert_line(b.data,
              "burstq_connections_refused_total{reason=\"max_connections\"} 5");
  assert_line(b.data,
              "burstq_connections_refused_total{reason=\"not_allowed\"} 6");
  assert_line(b.data, "# HELP burstq_connections_idle_closed_total Connections "
                      "closed with ERR idle (--idle-timeout).");
  assert_line(b.data, "# TYPE burstq_connections_idle_closed_total counter");
  assert_line(b.data, "burstq_connections_idle_closed_total 8");
  assert_line(b.data, "burstq_queue_records 10");
  assert_line(b.data, "burstq_queue_bytes 2048");
  assert_line(b.data, "burstq_queue_limit_records 65536");
  assert_line(b.data, "burstq_queue_limit_bytes 67108864");
  assert_line(b.data, "burstq_intake_paused 1");
  assert_line(b.data, "burstq_intake_paused_seconds_total 1.500");
  assert_line(b.data, "burstq_intake_pauses_total 4");
  assert_line(b.data, "burstq_start_time_seconds 1700000000.250");
  assert_line(b.data, "burstq_workers 2");
  assert_line(b.data, "burstq_draining 0");
  assert_line(b.data, "burstq_db_writable 1");
  assert_line(b.data, "process_cpu_seconds_total 12.500");
  assert_line(b.data, "# TYPE process_cpu_seconds_total counter");
  assert_line(b.data, "process_resident_memory_bytes 6291456");
  assert_line(b.data, "process_virtual_memory_bytes 104857600");
  assert_line(b.data, "process_open_fds 17");
  assert_line(b.data, "process_max_fds 1024");
  assert_line(b.data, "process_start_time_seconds 1700000000.250");
  /* Zero errors: only the always-present codes. */
  assert_line(b.data, "burstq_db_errors_total{kind=\"busy\"} 0");
  assert_line(b.data, "burstq_db_errors_total{kind=\"full\"} 0");
  assert_line(b.data, "burstq_db_errors_total{kind=\"io\"} 0");
  assert_null(line_of(b.data, "burstq_db_errors_total{kind=\"corrupt\"}"));
  /* Every sample's family has exactly one HELP and one TYPE line. */
  {
    const char *p = b.data;
    int samples = 0;
    while (*p) {
      const char *e = strchr(p, '\n');
      assert_non_null(e); /* every line ends in \n */
      if (*p != '#') {
        char name[128];
        size_t n = strcspn(p, "{ ");
        assert_true(n < sizeof(name));
        memcpy(name, p, n);
        name[n] = '\0';
        family_of(b.data, name);
        assert_int_equal(count_lines(b.data, "# TYPE ", name), 1);
        assert_int_equal(count_lines(b.data, "# HELP ", name), 1);
        samples++;
      }
      p = e + 1;
    }
    assert_true(samples > 30);
  }
  bq_buf_free(&b);
  bq_metrics_destroy(&m);
}

static void test_histograms(void **state) {
  struct bq_metrics m;
  struct bq_metrics_snapshot s;
  struct bq_buf b;
  (void)state;
  assert_int_equal(bq_metrics_init(&m), 0);
  /* Batches of 1, 2, 3 and 100000 records; 200 us, 1 ms, 1.5 ms, 20 s. */
  bq_metrics_batch(&m, 1, 200);
  bq_metrics_batch(&m, 2, 1000);
  bq_metrics_batch(&m, 3, 1500);
  bq_metrics_batch(&m, 100000, 20000000);
  fill_snapshot(&s);
  bq_buf_init(&b);
  assert_int_equal(bq_metrics_render(&m, &s, &b), 0);
  /* Buckets are cumulative and inclusive of their bound. */
  assert_line(b.data, "burstq_batch_records_bucket{le=\"1\"} 1");
  assert_line(b.data, "burstq_batch_records_bucket{le=\"2\"} 2");
  assert_line(b.data, "burstq_batch_records_bucket{le=\"4\"} 3");
  assert_line(b.data, "burstq_batch_records_bucket{le=\"16384\"} 3");
  assert_line(b.data, "burstq_batch_records_bucket{le=\"32768\"} 3");
  assert_line(b.data, "burstq_batch_records_bucket{le=\"65536\"} 3");
  assert_line(b.data, "burstq_batch_records_bucket{le=\"+Inf\"} 4");
  assert_line(b.data, "burstq_batch_records_sum 100006");
  assert_line(b.data, "burstq_batch_records_count 4");
  assert_line(b.data, "burstq_commit_duration_seconds_bucket{le=\"0.00025\"} 1");
  assert_line(b.data, "burstq_commit_duration_seconds_bucket{le=\"0.0005\"} 1");
  assert_line(b.data, "burstq_commit_duration_seconds_bucket{le=\"0.001\"} 2");
  assert_line(b.data, "burstq_commit_duration_seconds_bucket{le=\"0.0025\"} 3");
  assert_line(b.data, "burstq_commit_duration_seconds_bucket{le=\"10\"} 3");
  assert_line(b.data, "burstq_commit_duration_seconds_bucket{le=\"+Inf\"} 4");
  assert_line(b.data, "burstq_commit_duration_seconds_sum 20.002700");
  assert_line(b.data, "burstq_commit_duration_seconds_count 4");
  assert_line(b.data, "# TYPE burstq_commit_duration_seconds histogram");
  bq_buf_free(&b);
  bq_metrics_destroy(&m);
}

/* The waits' families (waits.h): bounds inclusive, microseconds rendered
 * as seconds, pauses by bound as labelled counters. */
static void test_waits(void **state) {
  struct bq_metrics m;
  struct bq_metrics_snapshot s;
  struct bq_buf b;
  (void)state;
  assert_int_equal(bq_metrics_init(&m), 0);
  bq_prom_hist_observe(&m.waits.queue_wait, 0);
  bq_prom_hist_observe(&m.waits.queue_wait, 10);
  bq_prom_hist_observe(&m.waits.queue_wait, 11);
  bq_prom_hist_observe(&m.waits.queue_wait, 20000000);
  bq_prom_hist_observe(&m.waits.ack_delay, 2500);
  atomic_fetch_add(&m.waits.pauses_bytes, 2);
  assert_int_equal(bq_prom_hist_count(&m.waits.queue_wait), 4);
  fill_snapshot(&s);
  bq_buf_init(&b);
  assert_int_equal(bq_metrics_render(&m, &s, &b), 0);
  assert_line(b.data, "# TYPE burstq_queue_wait_seconds histogram");
  assert_line(b.data, "burstq_queue_wait_seconds_bucket{le=\"1e-05\"} 2");
  assert_line(b.data, "burstq_queue_wait_seconds_bucket{le=\"2.5e-05\"} 3");
  assert_line(b.data, "burstq_queue_wait_seconds_bucket{le=\"10\"} 3");
  assert_line(b.data, "burstq_queue_wait_seconds_bucket{le=\"+Inf\"} 4");
  assert_line(b.data, "burstq_queue_wait_seconds_sum 20.000021");
  assert_line(b.data, "burstq_queue_wait_seconds_count 4");
  assert_line(b.data, "burstq_ack_delay_seconds_bucket{le=\"0.001\"} 0");
  assert_line(b.data, "burstq_ack_delay_seconds_bucket{le=\"0.0025\"} 1");
  assert_line(b.data, "burstq_ack_delay_seconds_count 1");
  assert_line(b.data, "burstq_token_wait_seconds_count 0");
  assert_line(b.data, "burstq_txn_insert_seconds_count 0");
  assert_line(b.data, "burstq_txn_commit_seconds_count 0");
  assert_line(b.data, "burstq_checkpoint_inline_seconds_count 0");
  assert_line(b.data, "burstq_checkpoint_run_seconds_count 0");
  assert_line(b.data, "burstq_intake_pause_seconds_count 0");
  assert_line(b.data,
              "burstq_intake_pauses_by_bound_total{bound=\"records\"} 0");
  assert_line(b.data,
              "burstq_intake_pauses_by_bound_total{bound=\"bytes\"} 2");
  bq_buf_free(&b);
  bq_metrics_destroy(&m);
}

static void test_db_health(void **state) {
  struct bq_metrics m;
  struct bq_metrics_snapshot s;
  struct bq_buf b;
  char reason[64];
  (void)state;
  assert_int_equal(bq_metrics_init(&m), 0);
  assert_int_equal(bq_metrics_db_ok(&m, reason, sizeof(reason)), 1);
  bq_metrics_db_error(&m, -BQ_STORE_BUSY,
                      "cannot begin a transaction: database is locked");
  bq_metrics_db_error(&m, -BQ_STORE_BUSY, "cannot commit: database is locked");
  bq_metrics_db_error(&m, -BQ_STORE_CORRUPT, "database disk image is malformed");
  bq_metrics_db_error(&m, -BQ_STORE_FULL, "database or disk is full");
  bq_metrics_db_error(&m, -200, "made up");
  assert_int_equal(bq_metrics_db_ok(&m, reason, sizeof(reason)), 0);
  assert_string_equal(reason, "failed: made up");
  bq_metrics_db_error(&m, -BQ_STORE_FULL,
                      "cannot commit: database or disk is full");
  assert_int_equal(bq_metrics_db_ok(&m, reason, sizeof(reason)), 0);
  /* Truncated to the caller's buffer, still terminated. */
  assert_string_equal(reason, "full: cannot commit: database or disk is full");
  assert_int_equal(bq_metrics_db_ok(&m, reason, 5), 0);
  assert_string_equal(reason, "full");
  fill_snapshot(&s);
  bq_buf_init(&b);
  assert_int_equal(bq_metrics_render(&m, &s, &b), 0);
  assert_line(b.data, "burstq_db_writable 0");
  assert_line(b.data, "burstq_db_errors_total{kind=\"busy\"} 2");
  assert_line(b.data, "burstq_db_errors_total{kind=\"corrupt\"} 1");
  assert_line(b.data, "burstq_db_errors_total{kind=\"full\"} 2");
  assert_line(b.data, "burstq_db_errors_total{kind=\"failed\"} 1");
  assert_line(b.data, "burstq_db_errors_total{kind=\"io\"} 0");
  bq_buf_free(&b);
  /* A committed batch makes it healthy again. */
  bq_metrics_batch(&m, 10, 5000);
  assert_int_equal(bq_metrics_db_ok(&m, reason, sizeof(reason)), 1);
  assert_string_equal(bq_store_err_name(-BQ_STORE_BUSY), "busy");
  assert_string_equal(bq_store_err_name(-999), "failed");
  bq_metrics_destroy(&m);
}

static void test_buf(void **state) {
  struct bq_buf b;
  (void)state;
  bq_buf_init(&b);
  assert_null(b.data);
  bq_buf_add(&b, "ab", 2);
  assert_string_equal(b.data, "ab");
  for (int i = 0; i < 1000; i++) bq_buf_printf(&b, "%04d", i);
  assert_int_equal(b.len, 2 + 4000);
  assert_memory_equal(b.data + 2 + 4 * 999, "0999", 4);
  assert_int_equal(b.data[b.len], '\0');
  {
    char big[1000];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    bq_buf_printf(&b, "<%s>", big); /* longer than the small buffer */
    assert_int_equal(b.len, 2 + 4000 + 1001);
    assert_int_equal(b.data[b.len - 1], '>');
  }
  assert_int_equal(b.failed, 0);
  bq_buf_free(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
}

/* Writers on other threads while the "loop" renders: what metrics.h
 * promises (run under TSan by make test-tsan).  The writers here are
 * concurrent with each other too, which burstqd never does (the writer
 * token serialises them); the atomics make even that exact. */
#define PER_THREAD 20000

static void *writer(void *arg) {
  struct bq_metrics *m = arg;
  for (uint64_t i = 0; i < PER_THREAD; i++) {
    if (i % 1000 == 999) bq_metrics_db_error(m, -BQ_STORE_BUSY, "database is locked");
    bq_metrics_batch(m, 1 + i % 5000, 100 + i % 20000);
  }
  return NULL;
}

static uint64_t sample(const char *text, const char *prefix) {
  char *l = line_of(text, prefix);
  uint64_t v;
  assert_non_null(l);
  v = strtoull(l + strlen(prefix), NULL, 10);
  free(l);
  return v;
}

static void test_concurrent(void **state) {
  struct bq_metrics m;
  struct bq_metrics_snapshot s;
  pthread_t t[2];
  uint64_t last = 0, v;
  char reason[128];
  (void)state;
  assert_int_equal(bq_metrics_init(&m), 0);
  fill_snapshot(&s);
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&t[i], NULL, writer, &m), 0);
  for (int k = 0; k < 200; k++) {
    struct bq_buf b;
    bq_buf_init(&b);
    assert_int_equal(bq_metrics_render(&m, &s, &b), 0);
    /* The count is the +Inf bucket, and it only grows. */
    v = sample(b.data, "burstq_batch_records_count ");
    assert_int_equal(v, sample(b.data, "burstq_batch_records_bucket{le=\"+Inf\"} "));
    assert_true(v >= last);
    last = v;
    (void)bq_metrics_db_ok(&m, reason, sizeof(reason));
    bq_buf_free(&b);
  }
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
  {
    struct bq_buf b;
    uint64_t sum = 0;
    bq_buf_init(&b);
    assert_int_equal(bq_metrics_render(&m, &s, &b), 0);
    assert_int_equal(sample(b.data, "burstq_batch_records_count "), 2 * PER_THREAD);
    assert_int_equal(sample(b.data, "burstq_commit_duration_seconds_count "),
                     2 * PER_THREAD);
    for (uint64_t i = 0; i < PER_THREAD; i++) sum += 1 + i % 5000;
    assert_int_equal(sample(b.data, "burstq_batch_records_sum "), 2 * sum);
    assert_int_equal(
        sample(b.data, "burstq_db_errors_total{kind=\"busy\"} "),
        2 * (PER_THREAD / 1000));
    /* Each writer's last act was a batch: healthy. */
    assert_line(b.data, "burstq_db_writable 1");
    bq_buf_free(&b);
  }
  bq_metrics_destroy(&m);
}

/* --metrics and --log-format on the command line (server/config.h). */
static int parse(struct bq_config *c, char *err, size_t errlen, ...) {
  char *argv[16];
  int argc = 0, r;
  va_list ap;
  FILE *out = fopen("/dev/null", "w");
  argv[argc++] = (char *)"burstqd";
  va_start(ap, errlen);
  for (char *a; (a = va_arg(ap, char *)) != NULL;) argv[argc++] = a;
  va_end(ap);
  argv[argc] = NULL;
  bq_config_defaults(c);
  err[0] = '\0';
  r = bq_config_parse(c, argc, argv, out, err, errlen);
  fclose(out);
  return r;
}

static void test_config_options(void **state) {
  struct bq_config c;
  char err[256];
  (void)state;
  assert_int_equal(parse(&c, err, sizeof(err), NULL), BQ_CONFIG_OK);
  assert_string_equal(c.metrics, ""); /* off by default */
  assert_int_equal(c.log_format, BQ_LOG_TEXT);
  assert_int_equal(parse(&c, err, sizeof(err), "--metrics", "127.0.0.1:9070",
                         "--log-format", "json", NULL),
                   BQ_CONFIG_OK);
  assert_string_equal(c.metrics, "127.0.0.1:9070");
  assert_int_equal(c.metrics_addr.ss_family, AF_INET);
  assert_int_equal(c.log_format, BQ_LOG_JSON);
  assert_int_equal(parse(&c, err, sizeof(err), "--metrics=[::1]:0", NULL),
                   BQ_CONFIG_OK);
  assert_int_equal(c.metrics_addr.ss_family, AF_INET6);
  assert_int_equal(parse(&c, err, sizeof(err), "--metrics", "9070", NULL),
                   BQ_CONFIG_ERR);
  assert_string_equal(err, "--metrics: '9070' is not HOST:PORT (for example "
                           "127.0.0.1:9070 or 0.0.0.0:9443,tls)");
  assert_int_equal(parse(&c, err, sizeof(err), "--log-format", "xml", NULL),
                   BQ_CONFIG_ERR);
  assert_string_equal(err, "--log-format: 'xml' is not text or json");
  assert_int_equal(parse(&c, err, sizeof(err), "--metrics", NULL),
                   BQ_CONFIG_ERR);
  assert_string_equal(err, "--metrics needs a value");
}

/* --metrics ...,tls: the listener's handshake counters, one family with a
 * sample per reason; absent without TLS. */
static void test_render_http_tls(void **state) {
  struct bq_metrics m;
  struct bq_metrics_snapshot s;
  struct bq_buf b;
  (void)state;
  assert_int_equal(bq_metrics_init(&m), 0);
  fill_snapshot(&s);
  s.have_http = 1;
  bq_buf_init(&b);
  assert_int_equal(bq_metrics_render(&m, &s, &b), 0);
  assert_null(line_of(b.data, "burstq_http_tls_handshakes_total"));
  bq_buf_free(&b);
  s.have_http_tls = 1;
  s.http_tls_handshakes = 9;
  s.http_tls_failed = 1;
  s.http_tls_timeouts = 2;
  s.http_tls_limited = 3;
  s.http_tls_plaintext = 4;
  bq_buf_init(&b);
  assert_int_equal(bq_metrics_render(&m, &s, &b), 0);
  assert_line(b.data, "burstq_http_tls_handshakes_total 9");
  assert_line(b.data,
              "burstq_http_tls_handshake_failures_total{reason=\"failed\"} 1");
  assert_line(b.data,
              "burstq_http_tls_handshake_failures_total{reason=\"timeout\"} 2");
  assert_line(b.data,
              "burstq_http_tls_handshake_failures_total{reason=\"limit\"} 3");
  assert_line(b.data, "burstq_http_tls_handshake_failures_total"
                      "{reason=\"plaintext\"} 4");
  assert_int_equal(count_lines(b.data, "# TYPE ",
                               "burstq_http_tls_handshake_failures_total"),
                   1);
  assert_int_equal(count_lines(b.data, "# HELP ",
                               "burstq_http_tls_handshake_failures_total"),
                   1);
  bq_buf_free(&b);
  bq_metrics_destroy(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_render_counters),
      cmocka_unit_test(test_render_http_tls),
      cmocka_unit_test(test_histograms),
      cmocka_unit_test(test_waits),
      cmocka_unit_test(test_db_health),
      cmocka_unit_test(test_buf),
      cmocka_unit_test(test_config_options),
      cmocka_unit_test(test_concurrent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
