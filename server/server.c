/*
 * server.c -- burstqd's event loop: listener, wake-ups from the workers,
 * intake pause/resume, signals and the shutdown sequence, and the TLS
 * context with its reload on SIGHUP.
 *
 * Owns struct bq_server (server_int.h) and every handle in it but the
 * connections' (conn.c) and the listeners' sockets (listener.c, whose
 * handles it closes).  Loop thread only; the workers reach it solely through
 * srv->wake.
 */
#include <assert.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server_int.h"

/* How long final acks and orderly closes may take once the queue is empty
 * before the remaining connections are closed outright. */
#define LINGER_MS 5000

static void on_handle_closed(uv_handle_t *h) {
  struct bq_server *srv = h->data;
  assert(srv->handles_open > 0);
  srv->handles_open--;
}

void bq_server_close_handle(struct bq_server *srv, uv_handle_t *h) {
  if (!uv_is_closing(h)) {
    h->data = srv;
    uv_close(h, on_handle_closed);
  }
}

/* full: bq_queue_push()'s BQ_QUEUE_FULL_* bits. */
static void pause_intake(struct bq_server *srv, int full) {
  size_t count, bytes;
  uint64_t supp;
  assert(!srv->paused);
  srv->paused = 1;
  srv->paused_at_ms = bq_now_ms();
  srv->st.pauses++;
  for (struct bq_conn *c = srv->conns; c != NULL; c = c->next)
    bq_conn_pause(c);
  bq_queue_stats(srv->queue, &count, &bytes);
  if (srv->waits) {
    srv->paused_at_us = bq_waits_now_us();
    atomic_fetch_add_explicit((full & BQ_QUEUE_FULL_RECORDS)
                                  ? &srv->waits->pauses_records
                                  : &srv->waits->pauses_bytes,
                              1, memory_order_relaxed);
  }
  srv->pause_logged =
      bq_ratelimit_allow(&srv->pause_rl, srv->paused_at_ms, &supp);
  if (srv->pause_logged)
    bq_log_info(srv->log,
                "intake paused: queue full (%zu records, %zu bytes; limits "
                "%zu, %zu); %" PRIu64 " pauses so far",
                count, bytes, srv->cfg->queue_capacity, srv->cfg->queue_bytes,
                srv->st.pauses);
}

/* A pause that began at srv->paused_at_us is over: record its length. */
static void pause_ended(struct bq_server *srv) {
  if (srv->waits)
    bq_prom_hist_observe(&srv->waits->pause,
                         bq_waits_now_us() - srv->paused_at_us);
}

static void resume_intake(struct bq_server *srv) {
  uint64_t now = bq_now_ms();
  assert(srv->paused);
  srv->paused = 0;
  srv->paused_total_ms += now - srv->paused_at_ms;
  pause_ended(srv);
  /* A resume line is printed exactly when its pause line was, so the
   * log shows pairs at most once per rate-limit interval. */
  if (srv->pause_logged)
    bq_log_info(srv->log, "intake resumed after %" PRIu64 " ms",
                now - srv->paused_at_ms);
  srv->resumed_ms = now;
  bq_conn_resume_all(srv);
}

void bq_server_push(struct bq_server *srv, struct bq_rec *first,
                    struct bq_rec *last, size_t n, size_t bytes) {
  int full = bq_queue_push(srv->queue, first, last, n, bytes);
  if (full && !srv->paused && srv->state == BQ_RUNNING)
    pause_intake(srv, full);
}

static void check_done(struct bq_server *srv) {
  if (srv->state != BQ_CLOSING || srv->nconns > 0 || srv->nalive > 0) return;
  srv->state = BQ_DONE;
  if (srv->hooks.done) srv->hooks.done(srv->hooks.arg);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->linger);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->idle_timer);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->sigint);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->sigterm);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->sighup);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->hs_timer);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->trim_timer);
}

void bq_server_conn_freed(struct bq_server *srv) { check_done(srv); }

static void on_linger(uv_timer_t *t) {
  struct bq_server *srv = bq_container_of(t, struct bq_server, linger);
  if (srv->nconns > 0)
    bq_log_warn(srv->log,
                "closing %zu connections that did not take their final ack "
                "within %d ms",
                srv->nconns, LINGER_MS);
  bq_conn_abort_all(srv);
}

/* The queue is empty and every worker has left: final acks, then close. */
static void begin_closing(struct bq_server *srv) {
  assert(srv->state == BQ_DRAINING);
  bq_pool_join(srv->pool);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->wake);
  srv->state = BQ_CLOSING;
  bq_log_info(srv->log,
              "drained: %" PRIu64 " messages committed; closing %zu "
              "connections",
              srv->st.committed, srv->nconns);
  for (struct bq_conn *c = srv->conns, *next; c != NULL; c = next) {
    next = c->next;
    bq_conn_finish(c);
  }
  if (srv->nconns > 0) uv_timer_start(&srv->linger, on_linger, LINGER_MS, 0);
  check_done(srv);
}

static void on_wake(uv_async_t *a) {
  struct bq_server *srv = bq_container_of(a, struct bq_server, wake);
  struct bq_done *d = bq_pool_take_done(srv->pool);
  struct bq_conn *touched = NULL;
  uint64_t now_us = d != NULL && srv->waits ? bq_waits_now_us() : 0;

  while (d != NULL) {
    struct bq_done *next = d->next;
    if (srv->waits && d->posted_us > 0)
      bq_prom_hist_observe(&srv->waits->completion_wait,
                           now_us > d->posted_us ? now_us - d->posted_us : 0);
    for (size_t i = 0; i < d->n; i++)
      bq_conn_completed(d->e[i].conn, &d->e[i], &touched);
    if (d->exited) srv->workers_exited++;
    free(d);
    d = next;
  }
  while (touched != NULL) {
    struct bq_conn *c = touched;
    touched = c->touched_next;
    bq_conn_settle(c);
  }
  if (srv->state == BQ_RUNNING && srv->paused && bq_queue_low(srv->queue))
    resume_intake(srv);
  if (srv->state == BQ_DRAINING &&
      srv->workers_exited == srv->pool->nworkers)
    begin_closing(srv);
}

void bq_server_shutdown(struct bq_server *srv, const char *why) {
  int64_t now = bq_unix_us();
  size_t count, bytes;

  if (srv->state != BQ_RUNNING) return;
  bq_queue_stats(srv->queue, &count, &bytes);
  bq_log_info(srv->log,
              "%s: stopping intake; writing %" PRIu64 " messages still "
              "queued",
              why, srv->st.received - srv->st.committed);
  /* DRAINING first, so that the CLOSE records below cannot count as a
   * queue-full pause. */
  srv->state = BQ_DRAINING;
  if (srv->paused) {
    srv->paused_total_ms += bq_now_ms() - srv->paused_at_ms;
    pause_ended(srv);
  }
  srv->paused = 0;
  if (srv->hooks.draining) srv->hooks.draining(srv->hooks.arg);
  for (size_t i = 0; i < srv->nlisteners; i++)
    bq_server_close_handle(srv, (uv_handle_t *)&srv->listeners[i].tcp);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->idle_timer);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->hs_timer);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->trim_timer);
  for (struct bq_conn *c = srv->conns; c != NULL; c = c->next)
    bq_conn_stop_intake(c, now);
  srv->queue_closed = 1;
  bq_queue_close(srv->queue);
}

static void on_signal(uv_signal_t *h, int signum) {
  struct bq_server *srv = h->data;
  const char *name = signum == SIGINT ? "SIGINT" : "SIGTERM";
  if (srv->state == BQ_RUNNING) {
    bq_server_shutdown(srv, name);
    return;
  }
  bq_log_error(srv->log,
               "second signal (%s) during the drain: exiting now; %" PRIu64
               " received messages were not written (none of them was "
               "acknowledged)",
               name, srv->st.received - srv->st.committed);
  _exit(1);
}

/* SIGHUP: read --tls-cert and --tls-key (and --tls-client-ca) again.
 * New handshakes get the new context, on the --metrics ...,tls listener
 * too (it asks bq_server_tls_ctx at each accept); open connections keep
 * the one they started with (each holds a reference).  A pair that does not load is
 * logged and the old context kept. */
static void on_sighup(uv_signal_t *h, int signum) {
  struct bq_server *srv = bq_container_of(h, struct bq_server, sighup);
  const struct bq_config *cfg = srv->cfg;
  struct bq_tls_ctx *ctx;
  char err[512];
  (void)signum;
  if (srv->tls_ctx == NULL) {
    bq_log_info(srv->log, "SIGHUP: nothing to reload (no tls listener)");
    return;
  }
  const struct bq_tls_ctx_opts o = {.server = 1, .cert = cfg->tls_cert,
                                    .key = cfg->tls_key,
                                    .ca = cfg->tls_client_ca};
  if (bq_tls_ctx_new(&ctx, &o, err, sizeof(err)) < 0) {
    bq_log_error(srv->log,
                 "SIGHUP: cannot reload the TLS certificate: %s; keeping "
                 "the one loaded before",
                 err);
    return;
  }
  bq_tls_ctx_free(srv->tls_ctx);
  srv->tls_ctx = ctx;
  bq_log_info(srv->log,
              "SIGHUP: reloaded the TLS certificate %s and key %s; new "
              "handshakes use them (%zu connections keep the old ones)",
              cfg->tls_cert, cfg->tls_key, srv->nconns);
}

static void on_hs_tick(uv_timer_t *t) {
  struct bq_server *srv = bq_container_of(t, struct bq_server, hs_timer);
  if (srv->state != BQ_RUNNING) return;
  bq_conn_sweep_handshakes(srv, bq_now_ms());
}

/* Kept record memory goes back to the kernel once the loop has taken no
 * slab (slab.h) for a whole tick: one to two ticks after a burst ends.
 * Under load slabs are taken far more often than once a tick (a slab is
 * 2 MiB of records), and their reuse saves a page fault per 2 MiB and the
 * mapping calls; after a trim the next burst maps fresh slabs. */
#define BQ_SLAB_TRIM_MS 5000

static void on_trim_tick(uv_timer_t *t) {
  struct bq_server *srv = bq_container_of(t, struct bq_server, trim_timer);
  size_t takes = srv->slabs.slabs + srv->slabs.reused;
  if (takes == srv->trim_takes) (void)bq_slab_pool_trim(&srv->slabs);
  srv->trim_takes = takes;
  /* Records that got no slab (bq_rec_alloc): at most one line a tick. */
  if (srv->slabs.unmapped != srv->trim_unmapped) {
    bq_log_warn(srv->log,
                "no record memory could be mapped for %zu records in the "
                "last %d s (%zu since start; out of memory, or "
                "vm.max_map_count reached): each took a malloc() of its "
                "own; lower --queue-bytes or raise vm.max_map_count",
                srv->slabs.unmapped - srv->trim_unmapped,
                BQ_SLAB_TRIM_MS / 1000, srv->slabs.unmapped);
    srv->trim_unmapped = srv->slabs.unmapped;
  }
}

static void on_idle_tick(uv_timer_t *t) {
  struct bq_server *srv = bq_container_of(t, struct bq_server, idle_timer);
  /* While intake is paused nobody can be blamed for silence. */
  if (srv->state != BQ_RUNNING || srv->paused) return;
  bq_conn_sweep_idle(srv, bq_now_ms());
}

int bq_server_new(struct bq_server **out, const struct bq_server_deps *d,
                  char *err, size_t errlen) {
  const struct bq_config *cfg = d->cfg;
  struct bq_server *srv;
  int r;

  srv = malloc(sizeof(*srv));
  if (srv == NULL) {
    bq_log_error(d->log, "out of memory setting up the server");
    abort();
  }
  *out = srv;
  memset(srv, 0, offsetof(struct bq_server, readbuf));
  bq_slab_pool_init(&srv->slabs, bq_slab_keep(cfg->queue_bytes));
  srv->loop = d->loop;
  srv->cfg = cfg;
  srv->log = d->log;
  srv->queue = d->queue;
  srv->pool = d->pool;
  srv->auth = d->auth != NULL && d->auth->len > 0 ? d->auth : NULL;
  srv->tls_ctx = d->tls_ctx;
  srv->hooks = d->hooks;
  srv->waits = d->waits;
  srv->state = BQ_RUNNING;
  bq_ratelimit_init(&srv->pause_rl, 10000);
  bq_ratelimit_init(&srv->reject_rl, 5000);
  bq_ratelimit_init(&srv->prod_rl, 5000);
  bq_producers_init(&srv->producers);
  bq_ratelimit_init(&srv->auth_rl, 5000);
  bq_ratelimit_init(&srv->trunc_rl, 5000);
  bq_ratelimit_init(&srv->framing_rl, 5000);
  bq_ratelimit_init(&srv->tls_rl, 5000);
  bq_ratelimit_init(&srv->tls_limit_rl, 5000);
  bq_ratelimit_init(&srv->plain_on_tls_rl, 5000);
  bq_ratelimit_init(&srv->tls_on_plain_rl, 5000);

  uv_async_init(srv->loop, &srv->wake, on_wake);
  uv_signal_init(srv->loop, &srv->sigint);
  uv_signal_init(srv->loop, &srv->sigterm);
  uv_timer_init(srv->loop, &srv->linger);
  uv_timer_init(srv->loop, &srv->idle_timer);
  uv_signal_init(srv->loop, &srv->sighup);
  uv_timer_init(srv->loop, &srv->hs_timer);
  uv_timer_init(srv->loop, &srv->trim_timer);
  srv->handles_open = 8; /* these eight; then one per listener */
  srv->sigint.data = srv;
  srv->sigterm.data = srv;

  /* Every address is bound before anything else happens (main opens the
   * store only afterwards), so a start that fails on one creates
   * nothing. */
  assert(cfg->nlisten >= 1 && cfg->nlisten <= BQ_LISTEN_MAX);
  for (size_t i = 0; i < cfg->nlisten; i++) {
    srv->nlisteners++;
    srv->handles_open++;
    r = bq_listener_start(&srv->listeners[i], srv, &cfg->listen[i], err,
                          errlen);
    if (r != 0) return r;
  }
  if (cfg->idle_timeout > 0) {
    /* A connection is closed between idle_timeout and idle_timeout plus
     * one tick after its last byte. */
    uint64_t tick = cfg->idle_timeout >= 4 ? 1000 : 250;
    uv_timer_start(&srv->idle_timer, on_idle_tick, tick, tick);
  }
  if (srv->tls_ctx != NULL) {
    /* Handshake deadlines are checked every tick (BQ_TLS_HANDSHAKE_MS or
     * --idle-timeout, whichever is shorter, plus up to one tick). */
    uint64_t tick = cfg->idle_timeout > 0 && cfg->idle_timeout < 4 ? 250
                                                                    : 1000;
    uv_timer_start(&srv->hs_timer, on_hs_tick, tick, tick);
  }
  uv_timer_start(&srv->trim_timer, on_trim_tick, BQ_SLAB_TRIM_MS,
                 BQ_SLAB_TRIM_MS);
  r = uv_signal_start(&srv->sigint, on_signal, SIGINT);
  if (r == 0) r = uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
  if (r == 0) r = uv_signal_start(&srv->sighup, on_sighup, SIGHUP);
  if (r != 0) {
    snprintf(err, errlen, "cannot handle signals: %s", uv_strerror(r));
    return r;
  }
  return 0;
}

void bq_server_set_last_conn_id(struct bq_server *srv, int64_t last_conn_id) {
  assert(srv->nconns == 0 && srv->st.accepted == 0);
  srv->next_conn_id = last_conn_id;
}

uv_async_t *bq_server_wake(struct bq_server *srv) { return &srv->wake; }

const char *bq_server_address(const struct bq_server *srv) {
  return srv->listeners[0].addr;
}

size_t bq_server_listeners(const struct bq_server *srv) {
  return srv->nlisteners;
}

const char *bq_server_listener_name(const struct bq_server *srv, size_t i) {
  assert(i < srv->nlisteners);
  return srv->listeners[i].name;
}

int bq_server_exit_code(const struct bq_server *srv) { return srv->exit_code; }

struct bq_tls_ctx *bq_server_tls_ctx(const struct bq_server *srv) {
  return srv->tls_ctx;
}

void bq_server_snapshot(const struct bq_server *srv,
                        struct bq_server_snapshot *s) {
  memset(s, 0, sizeof(*s));
  s->st = srv->st;
  s->paused_ms = srv->paused_total_ms;
  if (srv->paused) s->paused_ms += bq_now_ms() - srv->paused_at_ms;
  s->open = srv->nconns;
  s->paused = srv->paused;
  s->draining = srv->state != BQ_RUNNING;
  {
    size_t mapped, kept;
    bq_slab_pool_usage(&srv->slabs, &mapped, &kept);
    s->record_bytes = (uint64_t)mapped * BQ_SLAB_SIZE;
    s->record_kept_bytes = (uint64_t)kept * BQ_SLAB_SIZE;
  }
  s->slabs_mapped = srv->slabs.slabs;
  s->slabs_reused = srv->slabs.reused;
  s->slabs_trimmed = srv->slabs.trimmed;
  s->slab_failures = srv->slabs.unmapped;
}

void bq_server_free(struct bq_server *srv) {
  if (srv == NULL) return;
  assert(srv->handles_open == 0);
  bq_tls_ctx_free(srv->tls_ctx);
  bq_producers_free(&srv->producers);
  bq_slab_pool_destroy(&srv->slabs);
  free(srv);
}

/* Close every handle after a failed start, so the loop can be closed. */
void bq_server_abandon(struct bq_server *srv) {
  if (srv->hooks.done) srv->hooks.done(srv->hooks.arg);
  for (size_t i = 0; i < srv->nlisteners; i++)
    bq_server_close_handle(srv, (uv_handle_t *)&srv->listeners[i].tcp);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->wake);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->sigint);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->sigterm);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->linger);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->idle_timer);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->sighup);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->hs_timer);
  bq_server_close_handle(srv, (uv_handle_t *)&srv->trim_timer);
}
