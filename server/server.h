/*
 * server.h -- the producer's public face: burstqd's event loop, seen from
 * main (which builds it) and observe (which reports on it).
 *
 * Design: struct bq_server is opaque here; its fields and the functions
 * that server.c, listener.c and conn.c share live in server_int.h.  Every
 * dependency arrives once, in struct bq_server_deps, and the only way out
 * is a snapshot (bq_server_snapshot) or a hook (struct bq_server_hooks), so
 * nothing outside the loop's own files reads or writes its fields.
 *
 * Threads: every function here runs on the loop thread, except
 * bq_server_wake(), whose handle the workers signal (uv_async_send is
 * thread-safe).
 */
#ifndef BQ_SERVER_H
#define BQ_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct bq_tls_ctx;

#include "counters.h"

struct bq_auth;
struct bq_config;
struct bq_log;
struct bq_pool;
struct bq_queue;
struct bq_server;
struct bq_waits;

/* The loop's counters (counters.h), loop thread only. */
struct bq_server_stats {
#define BQ_X_FIELD(field, key, metric, label, help) uint64_t field;
  BQ_LOOP_COUNTERS(BQ_X_FIELD)
#undef BQ_X_FIELD
};

/* Everything a reporter may know about the loop, copied at once. */
struct bq_server_snapshot {
  struct bq_server_stats st;
  uint64_t paused_ms;  /* time intake spent paused, the current pause too */
  size_t open;         /* connections open now */
  int paused;          /* intake paused now: the queue is full */
  int draining;        /* shutdown has begun */
  uint64_t record_bytes;  /* record memory mapped now (slab.h): slabs in
                             use or kept for reuse */
  uint64_t record_kept_bytes; /* of which kept for reuse */
  uint64_t slabs_mapped;  /* slabs mapped since start */
  uint64_t slabs_reused;  /* slabs taken again from the kept ones */
  uint64_t slabs_trimmed; /* kept slabs unmapped because the loop was idle */
  uint64_t slab_failures; /* records from malloc() for want of a slab */
};

/* Told when shutdown begins (draining) and when every connection and
 * handle of the server is closed or closing (done); NULL for none. */
struct bq_server_hooks {
  void (*draining)(void *arg);
  void (*done)(void *arg);
  void *arg;
};

struct bq_server_deps {
  uv_loop_t *loop;
  const struct bq_config *cfg;  /* listen address, limits, --allow */
  const struct bq_log *log;
  struct bq_queue *queue;       /* records go here */
  struct bq_pool *pool;         /* its completions come back through
                                   bq_server_wake(); started by the caller
                                   after bq_server_new, before the loop */
  const struct bq_auth *auth;   /* NULL or empty: no AUTH line required */
  struct bq_tls_ctx *tls_ctx;   /* the tls listeners' context (tls.h), built
                                   from cfg's --tls-* files; the server
                                   takes this reference.  NULL without a tls
                                   listener (--listen or --metrics) */
  struct bq_server_hooks hooks;
  struct bq_waits *waits;       /* intake pauses and ack delays are
                                   recorded here (waits.h); NULL: not */
};

/* Build the server from deps (each must outlive it), bind and listen.
 * Returns 0, or a negative libuv error with a message in err.  *out is set
 * either way; after a failure, call bq_server_abandon(), run the loop until
 * it ends, then bq_server_free(). */
int bq_server_new(struct bq_server **out, const struct bq_server_deps *deps,
                  char *err, size_t errlen);

/* Number new connections from last_conn_id + 1, the highest connection id
 * already stored.  The store opens only once the listeners are up (a start
 * that fails on an address creates no database), so this comes after
 * bq_server_new and before the loop runs. */
void bq_server_set_last_conn_id(struct bq_server *srv, int64_t last_conn_id);

/* The handle workers signal after posting completions (pool.h). */
uv_async_t *bq_server_wake(struct bq_server *srv);

/* The address the first listener actually bound ("127.0.0.1:7070"; port 0
 * resolved). */
const char *bq_server_address(const struct bq_server *srv);

/* How many listeners there are (one per --listen), and listener i's name:
 * its bound address and kind ("127.0.0.1:5514,syslog"). */
size_t bq_server_listeners(const struct bq_server *srv);
const char *bq_server_listener_name(const struct bq_server *srv, size_t i);

/* The TLS context new handshakes use now (NULL without a tls listener):
 * SIGHUP replaces it, so a caller takes it afresh for each connection and
 * holds its own reference (bq_tls_new does) for as long as it needs it.
 * Loop thread; observe.c's --metrics ...,tls uses it. */
struct bq_tls_ctx *bq_server_tls_ctx(const struct bq_server *srv);

/* Fill s (loop thread). */
void bq_server_snapshot(const struct bq_server *srv,
                        struct bq_server_snapshot *s);

/* Begin the shutdown sequence as if SIGTERM had arrived. */
void bq_server_shutdown(struct bq_server *srv, const char *why);

/* Close every handle after a failed start; the caller then runs the loop
 * so that the closes complete. */
void bq_server_abandon(struct bq_server *srv);

/* After the loop ended: 0 for a clean drain, else the exit status the
 * server decided on. */
int bq_server_exit_code(const struct bq_server *srv);

/* Free srv once the loop has ended (all its handles closed). */
void bq_server_free(struct bq_server *srv);

#endif /* BQ_SERVER_H */
