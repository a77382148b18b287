/*
 * observe.c -- see observe.h.  Loop thread only.
 */
#include "observe.h"

#include <assert.h>
#include <inttypes.h>
#include <sqlite3.h>
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

#include "config.h"
#include "server.h"

/* The by-reason counters: one line per reason, each naming the counter in
 * struct bq_server_stats that holds it (a new reason is one more line). */
struct reason_field {
  const char *label;
  size_t offset;
};

static const struct reason_field rejected_reasons[] = {
    {"too_long", offsetof(struct bq_server_stats, rejected)},
};

static const struct reason_field refused_reasons[] = {
    {"max_connections", offsetof(struct bq_server_stats, refused)},
};

/* More plain counters of struct bq_server_stats, rendered as they are: one
 * line each, before the {NULL} that ends the table. */
struct counter_field {
  const char *name; /* burstq_..._total */
  const char *help;
  size_t offset;
};

static const struct counter_field extra_counters[] = {
    {NULL, NULL, 0}};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static size_t fill_reasons(const struct bq_server_stats *st,
                           const struct reason_field *rf, size_t n,
                           struct bq_metrics_lv *out) {
  assert(n <= BQ_METRICS_REASONS);
  for (size_t i = 0; i < n; i++) {
    out[i].label = rf[i].label;
    out[i].value = *(const uint64_t *)((const char *)st + rf[i].offset);
  }
  return n;
}

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
  struct bq_server *srv = obs->srv;
  size_t count, bytes;
  uint64_t paused_ms = srv->st.paused_ms;

  memset(s, 0, sizeof(*s));
  s->version = BQ_VERSION;
  s->sqlite_version = sqlite3_libversion();
  s->libuv_version = uv_version_string();
  s->start_time = obs->start_time;
  s->received = srv->st.received;
  s->committed = srv->st.committed;
  s->received_bytes = srv->st.received_bytes;
  s->nrejected = fill_reasons(&srv->st, rejected_reasons,
                              NELEM(rejected_reasons), s->rejected);
  s->acks = srv->st.acks;
  s->accepted = srv->st.accepted;
  s->open = srv->nconns;
  s->nrefused = fill_reasons(&srv->st, refused_reasons,
                             NELEM(refused_reasons), s->refused);
  for (size_t i = 0; extra_counters[i].name != NULL; i++) {
    assert(s->nextra < BQ_METRICS_EXTRA);
    s->extra[s->nextra].name = extra_counters[i].name;
    s->extra[s->nextra].help = extra_counters[i].help;
    s->extra[s->nextra].value = *(const uint64_t *)((const char *)&srv->st +
                                                    extra_counters[i].offset);
    s->nextra++;
  }
  /* The metrics server's own traffic (this scrape not yet counted). */
  if (obs->http_on) {
    const struct bq_metrics_counter http[] = {
        {"burstq_http_requests_total",
         "Requests answered by the --metrics server, any status.",
         obs->http.st.requests},
        {"burstq_http_bad_requests_total",
         "Requests answered 400, 405, 408, 413, 414 or 431.",
         obs->http.st.bad},
        {"burstq_http_refused_total",
         "--metrics connections refused over the connection limit.",
         obs->http.st.refused}};
    for (size_t i = 0; i < NELEM(http); i++) {
      assert(s->nextra < BQ_METRICS_EXTRA);
      s->extra[s->nextra++] = http[i];
    }
  }
  bq_queue_stats(srv->queue, &count, &bytes);
  s->queue_records = count;
  s->queue_bytes = bytes;
  s->queue_limit_records = srv->cfg->queue_capacity;
  s->queue_limit_bytes = srv->cfg->queue_bytes;
  s->paused = srv->paused;
  if (srv->paused) paused_ms += bq_now_ms() - srv->paused_at_ms;
  s->paused_seconds = (double)paused_ms / 1000.0;
  s->pauses = srv->st.pauses;
  s->draining = srv->state != BQ_RUNNING;
  s->workers = srv->cfg->workers;
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
    bq_metrics_render(obs->metrics, &s, &res->body);
  } else if (strcmp(path, "/healthz") == 0) {
    char reason[300];
    if (bq_metrics_db_ok(obs->metrics, reason, sizeof(reason))) {
      bq_buf_printf(&res->body, "ok\n");
    } else {
      for (char *p = reason; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
      res->status = 503;
      bq_buf_printf(&res->body, "database not writable: %s\n", reason);
    }
  } else if (strcmp(path, "/readyz") == 0) {
    if (obs->srv->state == BQ_RUNNING) {
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

/* ---- systemd ----------------------------------------------------------- */

static void notify(struct bq_observe *obs, const char *msg) {
#ifdef BQ_HAVE_SYSTEMD
  int r;
  if (!obs->notify) return;
  r = sd_notify(0, msg);
  if (r < 0 && !obs->notify_failed) {
    obs->notify_failed = 1;
    bq_log_warn(obs->log,
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
  struct bq_server *srv = obs->srv;
  uint64_t now = bq_now_ms();
  double secs = (double)(now - obs->last_ms) / 1000.0;
  double in = 0, out = 0;
  size_t count, bytes;
  char reason[300];
  char msg[600];
  int ok = bq_metrics_db_ok(obs->metrics, reason, sizeof(reason));

  if (secs > 0) {
    in = (double)(srv->st.received - obs->last_received) / secs;
    out = (double)(srv->st.committed - obs->last_committed) / secs;
  }
  obs->last_ms = now;
  obs->last_received = srv->st.received;
  obs->last_committed = srv->st.committed;
  bq_queue_stats(srv->queue, &count, &bytes);
  if (srv->state != BQ_RUNNING)
    snprintf(msg, sizeof(msg),
             "STATUS=draining: %" PRIu64 " messages left to write, %.0f "
             "msg/s committed; %s%s",
             srv->st.received - srv->st.committed, out,
             ok ? "database ok" : "database not writable: ",
             ok ? "" : reason);
  else
    snprintf(msg, sizeof(msg),
             "STATUS=%.0f msg/s in, %.0f msg/s committed; %zu connections; "
             "queue %zu/%zu%s; %s%s",
             in, out, srv->nconns, count, srv->cfg->queue_capacity,
             srv->paused ? " (intake paused)" : "",
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

int bq_observe_start(struct bq_observe *obs, struct bq_server *srv,
                     struct bq_metrics *metrics, char *err, size_t errlen) {
  struct timespec ts;
  int r;

  memset(obs, 0, sizeof(*obs));
  obs->srv = srv;
  obs->metrics = metrics;
  obs->log = srv->log;
  clock_gettime(CLOCK_REALTIME, &ts);
  obs->start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
  obs->last_ms = bq_now_ms();
  uv_timer_init(srv->loop, &obs->status_timer);
  uv_timer_init(srv->loop, &obs->watchdog_timer);
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
    bq_log_warn(obs->log,
                "NOTIFY_SOCKET is set, but this burstqd was built without "
                "libsystemd (-DBQ_SYSTEMD=ON): no readiness notification "
                "will be sent; use Type=simple or rebuild");
#endif
  if (srv->cfg->metrics[0] != '\0') {
    r = bq_http_start(&obs->http, srv->loop,
                      (const struct sockaddr *)&srv->cfg->metrics_addr,
                      obs->log, on_request, obs, err, errlen);
    obs->http_on = 1;
    if (r != 0) return r;
    bq_log_info(obs->log,
                "metrics on http://%s/metrics (also /healthz, /readyz)",
                obs->http.addr);
  }
  return 0;
}

void bq_observe_ready(struct bq_observe *obs) {
  char msg[300];
  if (!obs->notify) return;
  snprintf(msg, sizeof(msg), "READY=1\nSTATUS=accepting on %s",
           obs->srv->listen_addr);
  notify(obs, msg);
  uv_timer_start(&obs->status_timer, on_status_timer, BQ_STATUS_MS,
                 BQ_STATUS_MS);
  if (obs->watchdog_usec > 0) {
    uint64_t ms = obs->watchdog_usec / 2000u;
    if (ms == 0) ms = 1;
    notify(obs, "WATCHDOG=1");
    uv_timer_start(&obs->watchdog_timer, on_watchdog_timer, ms, ms);
    bq_log_info(obs->log, "systemd watchdog: pinging every %" PRIu64 " ms",
                ms);
  }
}

void bq_observe_draining(struct bq_observe *obs) {
  char msg[200];
  struct bq_server *srv = obs->srv;
  if (!obs->notify) return;
  /* The STATUS= timer goes on: a long drain reports its progress. */
  snprintf(msg, sizeof(msg),
           "STOPPING=1\nSTATUS=draining: writing %" PRIu64
           " queued messages",
           srv->st.received - srv->st.committed);
  notify(obs, msg);
}

void bq_observe_close(struct bq_observe *obs) {
  if (obs->closed) return;
  obs->closed = 1;
  if (obs->http_on) bq_http_close(&obs->http);
  if (obs->timers_on) {
    uv_close((uv_handle_t *)&obs->status_timer, NULL);
    uv_close((uv_handle_t *)&obs->watchdog_timer, NULL);
  }
}
