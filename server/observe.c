/*
 * observe.c -- see observe.h.  Loop thread only.
 */
#include "observe.h"

#include <assert.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifdef BQ_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "addr.h"
#include "config.h"
#include "queue.h"
#include "server.h"

/* process_* numbers from getrusage(), getrlimit() and /proc (Linux);
 * returns 0 if /proc is not there. */
static int process_stats(struct bq_metrics_snapshot *s) {
  struct rusage ru;
  struct rlimit rl;
  unsigned long long vsize = 0, rss_pages = 0;
  FILE *f;
  DIR *d;
  struct dirent *e;

  if (getrusage(RUSAGE_SELF, &ru) == 0)
    s->cpu_seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                     ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) /
                         1e6;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    s->max_fds = rl.rlim_cur == RLIM_INFINITY ? 0 : (uint64_t)rl.rlim_cur;
  f = fopen("/proc/self/statm", "r");
  if (f == NULL) return 0;
  if (fscanf(f, "%llu %llu", &vsize, &rss_pages) != 2) vsize = rss_pages = 0;
  fclose(f);
  {
    long page = sysconf(_SC_PAGESIZE);
    if (page > 0) {
      s->vsize_bytes = vsize * (uint64_t)page;
      s->rss_bytes = rss_pages * (uint64_t)page;
    }
  }
  d = opendir("/proc/self/fd");
  if (d != NULL) {
    uint64_t n = 0;
    while ((e = readdir(d)) != NULL)
      if (e->d_name[0] != '.') n++;
    closedir(d);
    s->open_fds = n > 0 ? n - 1 : 0; /* not the one opendir() holds */
  }
  return 1;
}

void bq_observe_snapshot(struct bq_observe *obs,
                         struct bq_metrics_snapshot *s) {
  const struct bq_config *cfg = obs->d.cfg;
  size_t count, bytes;

  memset(s, 0, sizeof(*s));
  s->version = BQ_VERSION;
  s->backend = obs->d.backend;
  s->libuv_version = uv_version_string();
  s->start_time = obs->start_time;
  s->now_us = bq_unix_us();
  bq_server_snapshot(obs->d.srv, &s->loop);
  /* The metrics server's own traffic (this scrape not yet counted). */
  s->have_http = obs->http_on;
  if (obs->http_on) {
    s->http_requests = obs->http.st.requests;
    s->http_bad = obs->http.st.bad;
    s->http_refused = obs->http.st.refused;
    s->have_http_tls = obs->http.tls_on;
    s->http_tls_handshakes = obs->http.st.tls_handshakes;
    s->http_tls_failed = obs->http.st.tls_failed;
    s->http_tls_timeouts = obs->http.st.tls_timeouts;
    s->http_tls_limited = obs->http.st.tls_limited;
    s->http_tls_plaintext = obs->http.st.tls_plaintext;
  }
  bq_queue_stats(obs->d.queue, &count, &bytes);
  s->queue_records = count;
  s->queue_bytes = bytes;
  s->queue_limit_records = cfg->queue_capacity;
  s->queue_limit_bytes = cfg->queue_bytes;
  s->workers = cfg->workers;
  s->have_process = process_stats(s);
}

/* ---- HTTP -------------------------------------------------------------- */

static void on_request(void *arg, const char *path,
                       struct bq_http_response *res) {
  struct bq_observe *obs = arg;
  if (strcmp(path, "/metrics") == 0) {
    struct bq_metrics_snapshot s;
    bq_observe_snapshot(obs, &s);
    res->content_type = "text/plain; version=0.0.4; charset=utf-8";
    bq_metrics_render(obs->d.metrics, &s, &res->body);
  } else if (strcmp(path, "/healthz") == 0) {
    char reason[300];
    if (bq_metrics_db_ok(obs->d.metrics, reason, sizeof(reason))) {
      bq_buf_printf(&res->body, "ok\n");
    } else {
      for (char *p = reason; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
      res->status = 503;
      bq_buf_printf(&res->body, "database not writable: %s\n", reason);
    }
  } else if (strcmp(path, "/readyz") == 0) {
    struct bq_server_snapshot snap;
    bq_server_snapshot(obs->d.srv, &snap);
    if (!snap.draining) {
      bq_buf_printf(&res->body, "ready\n");
    } else {
      res->status = 503;
      bq_buf_printf(&res->body, "draining\n");
    }
  } else {
    res->status = 404;
    bq_buf_printf(&res->body,
                  "not found; try /metrics, /healthz or /readyz\n");
  }
}

/* --metrics ...,tls: the context of the server's tls listeners, as it is
 * now (SIGHUP replaces it). */
static struct bq_tls_ctx *metrics_tls_ctx(void *arg) {
  struct bq_observe *obs = arg;
  return bq_server_tls_ctx(obs->d.srv);
}

/* ---- systemd ----------------------------------------------------------- */

static void notify(struct bq_observe *obs, const char *msg) {
#ifdef BQ_HAVE_SYSTEMD
  int r;
  if (!obs->notify) return;
  r = sd_notify(0, msg);
  if (r < 0 && !obs->notify_failed) {
    obs->notify_failed = 1;
    bq_log_warn(obs->d.log,
                "sd_notify to NOTIFY_SOCKET=%s failed: %s (further failures "
                "are not logged)",
                getenv("NOTIFY_SOCKET"), strerror(-r));
  }
#else
  (void)obs;
  (void)msg;
#endif
}

/* STATUS=: what systemctl status shows. */
static void send_status(struct bq_observe *obs) {
  struct bq_server_snapshot snap;
  uint64_t now = bq_now_ms();
  double secs = (double)(now - obs->last_ms) / 1000.0;
  double in = 0, out = 0;
  size_t count, bytes;
  char reason[300];
  char msg[600];
  int ok = bq_metrics_db_ok(obs->d.metrics, reason, sizeof(reason));

  bq_server_snapshot(obs->d.srv, &snap);
  if (secs > 0) {
    in = (double)(snap.st.received - obs->last_received) / secs;
    out = (double)(snap.st.committed - obs->last_committed) / secs;
  }
  obs->last_ms = now;
  obs->last_received = snap.st.received;
  obs->last_committed = snap.st.committed;
  bq_queue_stats(obs->d.queue, &count, &bytes);
  if (snap.draining)
    snprintf(msg, sizeof(msg),
             "STATUS=draining: %" PRIu64 " messages left to write, %.0f "
             "msg/s committed; %s%s",
             snap.st.received - snap.st.committed, out,
             ok ? "database ok" : "database not writable: ",
             ok ? "" : reason);
  else
    snprintf(msg, sizeof(msg),
             "STATUS=%.0f msg/s in, %.0f msg/s committed; %zu connections; "
             "queue %zu/%zu%s; %s%s",
             in, out, snap.open, count, obs->d.cfg->queue_capacity,
             snap.paused ? " (intake paused)" : "",
             ok ? "database ok" : "database not writable: ",
             ok ? "" : reason);
  for (char *p = msg; *p; p++)
    if (*p == '\n') *p = ' ';
  notify(obs, msg);
}

static void on_status_timer(uv_timer_t *t) {
  struct bq_observe *obs =
      (struct bq_observe *)((char *)t - offsetof(struct bq_observe,
                                                  status_timer));
  send_status(obs);
}

static void on_watchdog_timer(uv_timer_t *t) {
  struct bq_observe *obs =
      (struct bq_observe *)((char *)t - offsetof(struct bq_observe,
                                                  watchdog_timer));
  notify(obs, "WATCHDOG=1");
}

int bq_observe_start(struct bq_observe *obs,
                     const struct bq_observe_deps *deps, char *err,
                     size_t errlen) {
  struct timespec ts;
  int r;

  memset(obs, 0, sizeof(*obs));
  obs->d = *deps;
  clock_gettime(CLOCK_REALTIME, &ts);
  obs->start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
  obs->last_ms = bq_now_ms();
  uv_timer_init(obs->d.loop, &obs->status_timer);
  uv_timer_init(obs->d.loop, &obs->watchdog_timer);
  obs->timers_on = 1;
#ifdef BQ_HAVE_SYSTEMD
  {
    const char *ns = getenv("NOTIFY_SOCKET");
    obs->notify = ns != NULL && *ns != '\0';
    if (obs->notify) {
      uint64_t usec = 0;
      if (sd_watchdog_enabled(0, &usec) > 0) obs->watchdog_usec = usec;
    }
  }
#else
  if (getenv("NOTIFY_SOCKET") != NULL)
    bq_log_warn(obs->d.log,
                "NOTIFY_SOCKET is set, but this burstqd was built without "
                "libsystemd (-DBQ_SYSTEMD=ON): no readiness notification "
                "will be sent; use Type=simple or rebuild");
#endif
  if (obs->d.cfg->metrics[0] != '\0') {
    const struct bq_http_tls tls = {
        .ctx = metrics_tls_ctx, .arg = obs,
        .max_handshakes = obs->d.cfg->tls_handshakes_max};
    r = bq_http_start(&obs->http, obs->d.loop,
                      (const struct sockaddr *)&obs->d.cfg->metrics_addr,
                      obs->d.log, obs->d.cfg->metrics_tls ? &tls : NULL,
                      on_request, obs, err, errlen);
    obs->http_on = 1;
    if (r != 0) return r;
    bq_log_info(obs->d.log,
                "metrics on http%s://%s/metrics (also /healthz, /readyz)",
                obs->d.cfg->metrics_tls ? "s" : "", obs->http.addr);
  }
  return 0;
}

void bq_observe_ready(struct bq_observe *obs) {
  char msg[64 + BQ_LISTEN_MAX * (BQ_ADDR_STRLEN + 16)];
  size_t n;
  if (!obs->notify) return;
  /* Every listener's address, in --listen order. */
  n = (size_t)snprintf(msg, sizeof(msg), "READY=1\nSTATUS=accepting on");
  for (size_t i = 0; i < bq_server_listeners(obs->d.srv) && n < sizeof(msg);
       i++) {
    const char *name = bq_server_listener_name(obs->d.srv, i);
    n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s %.*s", i ? "," : "",
                          (int)strcspn(name, ","), name);
  }
  notify(obs, msg);
  uv_timer_start(&obs->status_timer, on_status_timer, BQ_STATUS_MS,
                 BQ_STATUS_MS);
  if (obs->watchdog_usec > 0) {
    uint64_t ms = obs->watchdog_usec / 2000u;
    if (ms == 0) ms = 1;
    notify(obs, "WATCHDOG=1");
    uv_timer_start(&obs->watchdog_timer, on_watchdog_timer, ms, ms);
    bq_log_info(obs->d.log, "systemd watchdog: pinging every %" PRIu64 " ms",
                ms);
  }
}

void bq_observe_draining(void *arg) {
  struct bq_observe *obs = arg;
  struct bq_server_snapshot snap;
  char msg[200];
  if (!obs->notify) return;
  bq_server_snapshot(obs->d.srv, &snap);
  /* The STATUS= timer goes on: a long drain reports its progress. */
  snprintf(msg, sizeof(msg),
           "STOPPING=1\nSTATUS=draining: writing %" PRIu64
           " queued messages",
           snap.st.received - snap.st.committed);
  notify(obs, msg);
}

void bq_observe_close(void *arg) {
  struct bq_observe *obs = arg;
  if (obs->closed) return;
  obs->closed = 1;
  if (obs->http_on) bq_http_close(&obs->http);
  if (obs->timers_on) {
    uv_close((uv_handle_t *)&obs->status_timer, NULL);
    uv_close((uv_handle_t *)&obs->watchdog_timer, NULL);
  }
}
