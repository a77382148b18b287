/*
 * main.c -- burstqd: parse flags, check the database (read-only), listen,
 * open the database, start the workers, run the loop, then close the
 * database and print the summary.
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
#include <sys/resource.h>
#include <uv.h>

#include "acl.h"
#include "auth.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "observe.h"
#include "pool.h"
#include "queue.h"
#include "server.h"
#include "store.h"

static const char *const sync_names[] = {"off", "normal", "full"};

/* Connections need descriptors: raise the soft limit to the hard one and
 * say so if --max-connections still does not fit. */
static void raise_nofile(const struct bq_log *log, size_t max_conns) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
      bq_log_info(log, "open-file limit raised from %llu to the hard limit %llu",
                  (unsigned long long)was, (unsigned long long)rl.rlim_max);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur != RLIM_INFINITY && max_conns + 32 > rl.rlim_cur)
    bq_log_warn(log,
                "--max-connections %zu exceeds the open-file limit %llu; "
                "accepts will fail (and be retried) past about %llu "
                "connections (raise it with ulimit -n or LimitNOFILE=)",
                max_conns, (unsigned long long)rl.rlim_cur,
                (unsigned long long)rl.rlim_cur - 32);
}

int main(int argc, char **argv) {
  struct bq_config cfg;
  struct bq_log log;
  struct bq_store *store = NULL;
  struct bq_store_opts sopts;
  struct bq_store_check found;
  struct bq_queue queue;
  struct bq_pool pool;
  struct bq_server *srv;
  struct bq_auth auth;
  struct bq_metrics metrics;
  struct bq_observe obs;
  uv_loop_t loop;
  char err[512] = "", serr[512];
  int r, status;

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

  r = bq_store_sqlite_global_init();
  if (r < 0) {
    bq_log_error(&log, "cannot initialise SQLite (code %d)", -r);
    return 2;
  }
  /* The database is proven usable before listening, without writing to it
   * (store.h); it is opened, and created if new, only once the listeners
   * are up, so that a start that fails on an address creates no file. */
  r = bq_store_sqlite_check(cfg.db_path, &found, err, sizeof(err));
  if (r < 0) {
    bq_log_error(&log, "--db %s: %s", cfg.db_path, err);
    return 2;
  }
  if (cfg.max_message > found.max_payload) {
    bq_log_error(&log,
                 "--max-message %zu is larger than the database %s can "
                 "store in one row (%zu bytes)",
                 cfg.max_message, cfg.db_path, found.max_payload);
    return 2;
  }
  raise_nofile(&log, cfg.max_connections);

  r = bq_queue_init(&queue, cfg.queue_capacity, cfg.queue_bytes);
  srv = malloc(sizeof(*srv));
  if (r == 0) r = bq_metrics_init(&metrics);
  if (r < 0 || srv == NULL || uv_loop_init(&loop) != 0) {
    bq_log_error(&log, "cannot set up: out of resources");
    return 2;
  }
  r = bq_server_init(srv, &loop, &cfg, &log, &queue, &pool, err, sizeof(err));
  if (r == 0) {
    srv->obs = &obs;
    r = bq_observe_start(&obs, srv, &metrics, err, sizeof(err));
  }
  if (r == 0) {
    sopts.path = cfg.db_path;
    sopts.sync = cfg.sync;
    sopts.log = &log;
    sopts.max_db_bytes = cfg.max_db_size; /* fault: disk-full handling */
    r = bq_store_open_sqlite(&store, &sopts, serr, sizeof(serr));
    if (r < 0)
      bq_log_error(&log, "--db %s: %s", cfg.db_path, serr);
    else
      bq_server_set_last_conn_id(srv, store->last_conn_id);
  }
  if (r == 0) {
    pool.metrics = &metrics;
    r = bq_pool_start(&pool, &queue, store, &log, &srv->wake, cfg.workers,
                      cfg.batch_max);
    if (r < 0)
      snprintf(err, sizeof(err), "cannot start workers: %s", strerror(-r));
  }
  if (r != 0) {
    /* Only a failure to start the worker threads comes after the store
     * has opened, so a new database file may be left then (an empty
     * burstq database, accepted by the next start). */
    if (err[0] != '\0') bq_log_error(&log, "%s", err); /* else logged */
    bq_server_abandon(srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    bq_slab_pool_destroy(&srv->slabs);
    free(srv);
    bq_queue_destroy(&queue);
    bq_metrics_destroy(&metrics);
    if (store != NULL) bq_store_close(store, serr, sizeof(serr));
    return 2;
  }
  bq_log_info(&log,
              "burstqd %s: db %s, sync %s, %u worker%s, batch %zu, queue %zu "
              "messages / %zu bytes, max message %zu bytes, acks %s",
              BQ_VERSION, cfg.db_path, sync_names[cfg.sync], cfg.workers,
              cfg.workers == 1 ? "" : "s", cfg.batch_max, cfg.queue_capacity,
              cfg.queue_bytes, cfg.max_message, cfg.ack ? "on" : "off");
  bq_server_set_auth(srv, &auth);
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
  if (cfg.max_db_size > 0) /* fault: disk-full handling */
    bq_log_info(&log, "database capped at %zu bytes (--max-db-size)",
                cfg.max_db_size);
  bq_log_info(&log, "listening on %s", srv->listen_addr);
  bq_observe_ready(&obs);

  uv_run(&loop, UV_RUN_DEFAULT);

  /* The loop ends only after every worker left an empty queue. */
  status = srv->exit_code;
  if (srv->st.committed != srv->st.received) {
    bq_log_error(&log, "%" PRIu64 " received messages were not committed",
                 srv->st.received - srv->st.committed);
    status = 1;
  }
  r = uv_loop_close(&loop);
  if (r != 0) bq_log_warn(&log, "event loop closed with handles open");
  bq_queue_destroy(&queue);
  if (bq_store_close(store, err, sizeof(err)) != 0)
    bq_log_warn(&log, "closing the database: %s (all commits are safe)", err);
  bq_log_info(&log,
              "stopped: received=%" PRIu64 " committed=%" PRIu64
              " rejected=%" PRIu64 " connections=%" PRIu64
              " refused=%" PRIu64 " pauses=%" PRIu64 " batches=%" PRIu64
              " db_retries=%" PRIu64
              /* hardening counters */
              " denied=%" PRIu64 " auth_failed=%" PRIu64
              " idle_closed=%" PRIu64 " accept_errors=%" PRIu64
              " partial_dropped=%" PRIu64 " conn_errors=%" PRIu64,
              srv->st.received, srv->st.committed, srv->st.rejected,
              srv->st.accepted, srv->st.refused, srv->st.pauses, pool.batches,
              pool.failures, srv->st.denied, srv->st.auth_failed,
              srv->st.idle_closed, srv->st.accept_errors,
              srv->st.partial_dropped, srv->st.conn_errors);
  bq_auth_clear(&auth);
  bq_slab_pool_destroy(&srv->slabs);
  free(srv);
  bq_metrics_destroy(&metrics);
  return status;
}
