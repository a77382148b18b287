/*
 * main.c -- burstqd: parse flags, open the database, start the workers,
 * run the loop, then close the database and print the summary.
 *
 * Owns the top-level context (config, log, store, queue, pool, server) on
 * the main thread, which becomes the loop thread.
 */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "acl.h"
#include "auth.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "observe.h"
#include "pool.h"
#include "queue.h"
#include "record.h"
#include "rlimit.h"
#include "server.h"
#include "slab.h"
#include "store.h"
#include "tls.h"

/* Connections need descriptors: raise the soft limit to the hard one and
 * say so if --max-connections still does not fit. */
static void raise_nofile(const struct bq_log *log, size_t max_conns) {
  rlim_t was, now;
  if (bq_nofile_raise(RLIM_INFINITY, &was, &now) < 0) return;
  if (now != was)
    bq_log_info(log, "open-file limit raised from %llu to the hard limit %llu",
                (unsigned long long)was, (unsigned long long)now);
  if (!bq_nofile_fits(max_conns, now))
    bq_log_warn(log,
                "--max-connections %zu exceeds the open-file limit %llu; "
                "accepts will fail (and be retried) past about %llu "
                "connections (raise it with ulimit -n or LimitNOFILE=)",
                max_conns, (unsigned long long)now,
                (unsigned long long)now - BQ_NOFILE_RESERVE);
}

/* A full queue's record memory: --queue-bytes, or less when
 * --queue-capacity messages of --max-message bytes cannot fill it.  Say so
 * if it is more than the memory burstqd can count on (the machine's, its
 * cgroup's limit, its address-space limit), or needs more memory mappings
 * (2 MiB slabs, slab.h) than vm.max_map_count allows: past that, records
 * come from malloc(), one by one (bq_rec_alloc), and once that fails too,
 * reads fail and their connections are closed (conn.c). */
static void check_queue_memory(const struct bq_log *log,
                               const struct bq_config *cfg) {
  const double gib = 1024.0 * 1024 * 1024;
  uint64_t full = (uint64_t)cfg->queue_capacity *
                  (sizeof(struct bq_rec) + (uint64_t)cfg->max_message);
  uint64_t mem;
  enum bq_mem_bound bound;
  unsigned long long lim;
  size_t maps;

  if (full > cfg->queue_bytes) full = cfg->queue_bytes;
  if (bq_memory_limit(&mem, &bound) == 0 && full > mem) {
    /* "more than <before><n> GiB<after>" */
    static const char *const before[] = {
        [BQ_MEM_PHYSICAL] = "this machine's ",
        [BQ_MEM_CGROUP] = "the ",
        [BQ_MEM_ADDRESS_SPACE] = "its "};
    static const char *const after[] = {
        [BQ_MEM_PHYSICAL] = " of memory: it would be swapped out or killed "
                            "by the OOM killer",
        [BQ_MEM_CGROUP] = " memory limit of burstqd's cgroup ("
                          "MemoryMax=, docker --memory): the OOM killer "
                          "would end it",
        [BQ_MEM_ADDRESS_SPACE] = " address-space limit (ulimit -v, "
                                 "LimitAS=): reads would fail and their "
                                 "connections be closed"};
    bq_log_warn(log,
                "a full queue holds up to %.1f GiB of messages (--queue-bytes, "
                "--queue-capacity x --max-message), more than %s%.1f GiB%s, "
                "losing what was not yet acked",
                (double)full / gib, before[bound], (double)mem / gib,
                after[bound]);
  }
  maps = bq_slab_maps((size_t)full, cfg->queue_capacity, cfg->max_message);
  if (bq_max_map_count(&lim) == 0 && maps + BQ_MAPS_RESERVE > lim)
    bq_log_warn(log,
                "a full queue takes up to %zu memory mappings, and "
                "vm.max_map_count is %llu: past about %.1f GiB queued, "
                "messages are stored in memory one malloc() each, slower, "
                "and reads fail once that fails too (raise it: sysctl "
                "vm.max_map_count=%zu)",
                maps, lim,
                lim > BQ_MAPS_RESERVE
                    ? (double)(lim - BQ_MAPS_RESERVE) * (double)full /
                          (double)maps / gib
                    : 0.0,
                maps + BQ_MAPS_RESERVE);
}

/* The last log line: "stopped: " and every counter of counters.h as
 * key=value, then the workers' two, then the backend. */
static void log_summary(const struct bq_log *log,
                        const struct bq_server_stats *st,
                        const struct bq_pool *pool, const char *backend) {
  char line[1024];
  size_t n = 0;
  n += (size_t)snprintf(line + n, sizeof(line) - n, "stopped:");
#define BQ_X_KV(field, key, metric, label, help)                       \
  if (n < sizeof(line))                                                \
    n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%" PRIu64, \
                          key, st->field);
  BQ_LOOP_COUNTERS(BQ_X_KV)
#undef BQ_X_KV
  if (n < sizeof(line))
    snprintf(line + n, sizeof(line) - n,
             " batches=%" PRIu64 " db_retries=%" PRIu64, pool->batches,
             pool->failures);
  /* "backend=postgresql/15.18": the store's name, one word. */
  n = strlen(line);
  if (n + 10 < sizeof(line)) {
    snprintf(line + n, sizeof(line) - n, " backend=%s", backend);
    for (char *p = line + n + 9; *p; p++)
      if (*p == ' ') *p = '/';
  }
  bq_log_info(log, "%s", line);
}

int main(int argc, char **argv) {
  struct bq_config cfg;
  struct bq_log log;
  struct bq_store *store = NULL;
  struct bq_store_check found;
  struct bq_queue queue;
  struct bq_pool pool;
  struct bq_server *srv = NULL;
  struct bq_server_snapshot snap;
  struct bq_auth auth;
  struct bq_tls_ctx *tls_ctx = NULL;
  struct bq_metrics metrics;
  struct bq_observe obs;
  uv_loop_t loop;
  char err[1024] = "", serr[512], db_shown[400], node[256];
  const char *backend;
  int r, status;

  memset(&obs, 0, sizeof(obs)); /* closing it before it starts is a no-op */
  bq_config_defaults(&cfg);
  r = bq_config_parse(&cfg, argc, argv, stdout, err, sizeof(err));
  if (r == BQ_CONFIG_EXIT) return 0;
  if (r == BQ_CONFIG_ERR) {
    fprintf(stderr, "burstqd: %s\nTry 'burstqd --help' for more information.\n",
            err);
    return 2;
  }
  bq_log_init(&log, "burstqd", cfg.log_level, stderr);
  bq_log_set_format(&log, cfg.log_format);
  /* A peer that goes away mid-write must be an error, not a signal. */
  signal(SIGPIPE, SIG_IGN);

  /* Before the database: a bad token file is bad usage (exit 2), and it
   * must not leave a database behind. */
  memset(&auth, 0, sizeof(auth));
  if (cfg.auth_token_file != NULL &&
      bq_auth_load(&auth, cfg.auth_token_file, err, sizeof(err)) < 0) {
    bq_log_error(&log, "--auth-token-file: %s", err);
    return 2;
  }
  /* The TLS files likewise: unreadable, not PEM, a key that does not
   * match, or one that group or others can read. */
  if (bq_config_has_tls(&cfg)) {
    const struct bq_tls_ctx_opts to = {.server = 1, .cert = cfg.tls_cert,
                                       .key = cfg.tls_key,
                                       .ca = cfg.tls_client_ca};
    if (bq_tls_ctx_new(&tls_ctx, &to, err, sizeof(err)) < 0) {
      bq_log_error(&log, "TLS: %s", err);
      bq_auth_clear(&auth);
      return 2;
    }
  }

  /* The database as logs may show it (no password), and the node. */
  bq_store_uri_redact(cfg.db_path, db_shown, sizeof(db_shown));
  if (cfg.node == NULL) {
    if (gethostname(node, sizeof(node) - 1) != 0) snprintf(node, sizeof(node), "localhost");
    node[sizeof(node) - 1] = '\0';
    cfg.node = node;
  }

  /* The database is proven usable before listening, without writing to it
   * (store.h); it is opened, and created if new, only once the listeners
   * are up, so that a start that fails on an address creates no file. */
  r = bq_store_check(cfg.db_path, &found, err, sizeof(err));
  if (r < 0) {
    bq_log_error(&log, "--db %s: %s", db_shown, err);
    return 2;
  }
  if (cfg.max_message > found.max_payload) {
    bq_log_error(&log,
                 "--max-message %zu is larger than the database %s can "
                 "store in one row (%zu bytes)",
                 cfg.max_message, db_shown, found.max_payload);
    return 2;
  }
  raise_nofile(&log, cfg.max_connections);
  check_queue_memory(&log, &cfg);

  r = bq_queue_init(&queue, cfg.queue_capacity, cfg.queue_bytes);
  if (r == 0) r = bq_metrics_init(&metrics);
  if (r == 0) {
    metrics.retain_limits.age_us = (uint64_t)cfg.retain_age * 1000000u;
    metrics.retain_limits.bytes = cfg.retain_size;
    metrics.retain_limits.rows = cfg.retain_rows;
  }
  if (r < 0 || uv_loop_init(&loop) != 0) {
    bq_log_error(&log, "cannot set up: out of resources");
    return 2;
  }
  {
    const struct bq_server_deps sd = {
        .loop = &loop, .cfg = &cfg, .log = &log, .queue = &queue,
        .pool = &pool, .auth = &auth, .tls_ctx = tls_ctx,
        .waits = &metrics.waits,
        .hooks = {bq_observe_draining, bq_observe_close, &obs}};
    r = bq_server_new(&srv, &sd, err, sizeof(err));
  }
  if (r == 0) {
    const struct bq_observe_deps od = {.loop = &loop, .cfg = &cfg,
                                       .log = &log, .srv = srv,
                                       .queue = &queue, .metrics = &metrics,
                                       .backend = found.backend};
    r = bq_observe_start(&obs, &od, err, sizeof(err));
  }
  if (r == 0) {
    const struct bq_store_opts sopts = {
        .sync = cfg.sync, .log = &log, .max_db_bytes = cfg.max_db_size,
        .node = cfg.node, .page_size = cfg.page_size,
        .retain = &metrics.retain_limits, .retain_stats = &metrics.retain,
        .waits = &metrics.waits};
    r = bq_store_open(cfg.db_path, &sopts, &store, serr, sizeof(serr));
    if (r < 0) {
      snprintf(err, sizeof(err), "--db %.400s: %.500s", db_shown, serr);
    } else {
      bq_server_set_last_conn_id(srv, store->last_conn_id);
    }
  }
  if (r == 0) {
    const struct bq_pool_deps pd = {
        .queue = &queue, .store = store, .log = &log,
        .wake = bq_server_wake(srv), .metrics = &metrics,
        .nworkers = cfg.workers, .batch_max = cfg.batch_max,
        .idle_ms = bq_retain_on(&metrics.retain_limits) ? 1000 : 0};
    r = bq_pool_start(&pool, &pd);
    if (r < 0)
      snprintf(err, sizeof(err), "cannot start workers: %s", strerror(-r));
  }
  if (r != 0) {
    /* Only a failure to start the worker threads comes after the store
     * has opened, so a new database file may be left then (an empty
     * burstq database, accepted by the next start). */
    bq_log_error(&log, "%s", err);
    bq_server_abandon(srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    bq_server_free(srv);
    bq_queue_destroy(&queue);
    bq_metrics_destroy(&metrics);
    if (store != NULL) bq_store_close(store, serr, sizeof(serr));
    return 2;
  }
  bq_log_info(&log,
              "burstqd %s: db %s (%s), sync %s, %u worker%s, batch %zu, queue "
              "%zu messages / %zu bytes, max message %zu bytes, acks %s",
              BQ_VERSION, db_shown, store->backend, bq_config_sync_name(cfg.sync), cfg.workers,
              cfg.workers == 1 ? "" : "s", cfg.batch_max, cfg.queue_capacity,
              cfg.queue_bytes, cfg.max_message, cfg.ack ? "on" : "off");
  if (auth.len > 0)
    bq_log_info(&log, "authentication: first line must be AUTH <token> "
                "(token from %s, %zu bytes)", cfg.auth_token_file, auth.len);
  for (size_t i = 0; i < cfg.allow.n; i++) {
    char rule[80];
    if (bq_acl_format(&cfg.allow, i, rule, sizeof(rule)) == 0)
      bq_log_info(&log, "allowing connections from %s", rule);
  }
  if (cfg.idle_timeout > 0)
    bq_log_info(&log, "closing connections idle for %u s", cfg.idle_timeout);
  if (tls_ctx != NULL)
    bq_log_info(&log,
                "TLS: certificate %s, key %s, %s; at most %zu handshakes at "
                "once; SIGHUP reloads the certificate and key",
                cfg.tls_cert, cfg.tls_key,
                cfg.tls_client_ca != NULL
                    ? "client certificates required (--tls-client-ca)"
                    : "no client certificates",
                cfg.tls_handshakes_max);
  if (cfg.max_db_size > 0)
    bq_log_info(&log, "database capped at %zu bytes (--max-db-size)",
                cfg.max_db_size);
  if (bq_retain_on(&metrics.retain_limits))
    bq_log_info(&log,
                "retention: age %zu s, size %zu bytes, rows %zu (0: no "
                "limit); the oldest messages are deleted as batches are "
                "written",
                cfg.retain_age, cfg.retain_size, cfg.retain_rows);
  else
    bq_log_debug(&log, "retention: off, every message is kept");
  /* "listening on 127.0.0.1:7070 (acked)", "... (syslog,tls)": one line
   * per listener, in the order given (no address holds a comma). */
  for (size_t i = 0; i < bq_server_listeners(srv); i++) {
    const char *name = bq_server_listener_name(srv, i);
    const char *comma = strchr(name, ',');
    bq_log_info(&log, "listening on %.*s (%s)", (int)(comma - name), name,
                comma + 1);
  }
  bq_observe_ready(&obs);

  uv_run(&loop, UV_RUN_DEFAULT);

  /* The loop ends only after every worker left an empty queue. */
  status = bq_server_exit_code(srv);
  bq_server_snapshot(srv, &snap);
  if (snap.st.committed != snap.st.received) {
    bq_log_error(&log, "%" PRIu64 " received messages were not committed",
                 snap.st.received - snap.st.committed);
    status = 1;
  }
  r = uv_loop_close(&loop);
  if (r != 0) bq_log_warn(&log, "event loop closed with handles open");
  bq_queue_destroy(&queue);
  backend = store->backend; /* static storage: outlives the store */
  if (bq_store_close(store, err, sizeof(err)) != 0)
    bq_log_warn(&log, "closing the database: %s (all commits are safe)", err);
  log_summary(&log, &snap.st, &pool, backend);
  bq_auth_clear(&auth);
  bq_server_free(srv);
  bq_metrics_destroy(&metrics);
  return status;
}
