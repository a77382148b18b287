/*
 * observe.h -- how burstqd is watched from outside: the --metrics HTTP
 * endpoints and systemd's notification protocol.
 *
 * Design: one struct bq_observe, owned by main and used on the loop thread
 * only.  It owns the HTTP server (http.h) and two timers (the STATUS=
 * refresher and the watchdog).  It reads the server only through
 * bq_server_snapshot() and the queue through bq_queue_stats(); worker
 * numbers come from the metrics registry (metrics.h).  main wires the
 * server's hooks to bq_observe_draining() (shutdown began) and
 * bq_observe_close() (the server is done), so every handle here is closed
 * before the loop ends.
 *
 * With --metrics HOST:PORT,tls the endpoints are served over TLS with the
 * server's current context (bq_server_tls_ctx: the ,tls listeners', the
 * one SIGHUP reloads); http.h does the rest.
 *
 * Endpoints: GET /metrics (Prometheus text), GET /healthz (200 "ok" while
 * the database takes writes, 503 and a one-line reason while commits
 * fail), GET /readyz (200 "ready" while accepting, 503 "draining" once
 * shutdown began).
 *
 * systemd (built with libsystemd, -DBQ_SYSTEMD): READY=1 once listening and
 * the workers run; STATUS= with rates every BQ_STATUS_MS (during the drain:
 * what is left to write); STOPPING=1 when the drain begins; WATCHDOG=1 every half of WATCHDOG_USEC when systemd
 * asks for it (WatchdogSec=).  Without NOTIFY_SOCKET all of it is skipped.
 */
#ifndef BQ_OBSERVE_H
#define BQ_OBSERVE_H

#include <stdint.h>
#include <uv.h>

#include "http.h"
#include "log.h"
#include "metrics.h"

#define BQ_STATUS_MS 5000

struct bq_config;
struct bq_queue;
struct bq_server;

struct bq_observe_deps {
  uv_loop_t *loop;
  const struct bq_config *cfg;  /* --metrics, queue limits, workers */
  const struct bq_log *log;
  struct bq_server *srv;        /* read through bq_server_snapshot() */
  struct bq_queue *queue;       /* read through bq_queue_stats() */
  struct bq_metrics *metrics;   /* the workers' numbers */
  const char *backend;          /* the store's name and version */
};

struct bq_observe {
  struct bq_observe_deps d;
  struct bq_http http;
  int http_on;                 /* --metrics given and listening */
  uv_timer_t status_timer;     /* STATUS= refresher (notify only) */
  uv_timer_t watchdog_timer;   /* WATCHDOG=1 (notify and WATCHDOG_USEC) */
  int timers_on;               /* both timers initialised */
  int notify;                  /* NOTIFY_SOCKET set and libsystemd built */
  int notify_failed;           /* a failure was logged (once is enough) */
  int closed;
  uint64_t watchdog_usec;
  double start_time;           /* Unix seconds */
  uint64_t last_ms, last_received, last_committed; /* for STATUS= rates */
};

/* Set up obs from deps (each must outlive obs) and, when cfg->metrics is
 * set, listen there.  Returns 0, or a negative libuv error with a message
 * in err; bq_observe_close() must run either way. */
int bq_observe_start(struct bq_observe *obs,
                     const struct bq_observe_deps *deps, char *err,
                     size_t errlen);

/* The workers run and the listener accepts: tell systemd READY=1, start
 * the STATUS= and watchdog timers. */
void bq_observe_ready(struct bq_observe *obs);

/* Shutdown began: STOPPING=1 and a STATUS= saying what is left.  arg is
 * the struct bq_observe (the shape of a server hook). */
void bq_observe_draining(void *arg);

/* Close the HTTP server and the timers.  Idempotent.  arg is the struct
 * bq_observe (the shape of a server hook). */
void bq_observe_close(void *arg);

/* Fill s from the server's snapshot, the queue, the process (loop
 * thread only). */
void bq_observe_snapshot(struct bq_observe *obs,
                         struct bq_metrics_snapshot *s);

#endif /* BQ_OBSERVE_H */
