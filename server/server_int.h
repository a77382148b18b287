/*
 * server_int.h -- the event loop's internals, shared by server.c (the loop,
 * signals, shutdown), listener.c (accepting and admission) and conn.c (one
 * connection's bytes, acks and close).  Nothing else includes this file:
 * main and observe see server.h only.
 *
 * Design: one libuv loop thread owns everything declared here.  Workers
 * talk to it only through the queue (records in) and the pool's completion
 * list plus the `wake` async handle (completions out).  Handles are embedded
 * in their owning structs and recovered with bq_container_of.  A connection
 * is freed in its close callback, or later, when the last completion naming
 * it arrives (on_wake): never while libuv or a record still refers to it.
 *
 * Life of a connection (conn.c): accepted and admitted (listener.c) -> OPEN
 * record queued -> lines framed into MSG records and queued (reading stops
 * whenever the queue is full) -> completions raise `committed` and an
 * "OK n" is written (one write in flight at most; later acks coalesce) ->
 * EOF -> final "OK n" once everything is committed -> CLOSE record queued,
 * our side shut down -> closed -> freed once no record points at it.  (A
 * read or write error queues the CLOSE record and closes at once.)  A
 * connection of a syslog listener lives the same life with its own framer
 * (syslog.h) and without a byte of output: no acks, no ERR lines.
 *
 * On a tls listener a connection also has a struct bq_tls (tls.h): the
 * ciphertext read goes through it before the framer, every byte written
 * (acks, ERR lines, and the handshake itself, even on a syslog listener)
 * comes out of it, and the life above starts only once the handshake is
 * done (the OPEN record carries the client certificate's subject).
 *
 * Shutdown (server.c): first SIGINT/SIGTERM: stop accepting and reading,
 * queue CLOSE records, close the queue; workers drain it and leave; then
 * final acks, orderly closes (bounded by a linger timer), loop ends.  A
 * second signal exits at once with status 1.
 */
#ifndef BQ_SERVER_INT_H
#define BQ_SERVER_INT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "auth.h"
#include "config.h"
#include "frame.h"
#include "log.h"
#include "pool.h"
#include "producer.h"
#include "queue.h"
#include "server.h"
#include "slab.h"
#include "syslog.h"
#include "tls.h"
#include "waits.h"

#define bq_container_of(ptr, type, member) \
  ((type *)((char *)(ptr)-offsetof(type, member)))

/* Size of the loop's shared read buffer (one read at a time). */
#define BQ_READ_BUF 65536

enum bq_server_state {
  BQ_RUNNING = 0,  /* accepting and reading */
  BQ_DRAINING = 1, /* intake stopped; workers emptying the queue */
  BQ_CLOSING = 2,  /* queue empty; final acks and closes in progress */
  BQ_DONE = 3      /* every handle closed or closing */
};

struct bq_server;

struct bq_conn {
  uv_tcp_t tcp;              /* tcp.data unused: use container_of */
  uv_write_t wreq;           /* the one write in flight */
  uv_shutdown_t sreq;
  struct bq_server *srv;
  struct bq_listener *listener; /* the one that accepted it (its kind) */
  struct bq_conn *prev, *next;  /* srv->conns, while the handle is open */
  struct bq_conn *touched_next; /* list built while applying completions */
  struct bq_framer framer;   /* an acked listener's connection */
  struct bq_sysframer sysframer; /* a syslog listener's connection */
  int64_t id;                /* connections.id */
  int64_t seq;               /* last seq given to a message */
  int64_t committed;         /* highest seq known durable */
  int64_t acked;             /* last n written in an OK */
  int64_t unacked_ts_us;     /* read time (ts_us) of message acked + 1
                                once it is known durable, else 0: the
                                next OK's ack delay (waits.h) */
  size_t inflight;           /* records queued and not yet completed */
  uint64_t err_pending;      /* "ERR too-long" replies still owed */
  unsigned reading : 1;      /* uv_read_start is in effect */
  unsigned eof : 1;          /* the peer finished sending */
  unsigned writing : 1;      /* wreq is in flight */
  unsigned ending : 1;       /* shutdown begun: no more output */
  unsigned closing : 1;      /* uv_close called */
  unsigned closed : 1;       /* close callback ran */
  unsigned close_recorded : 1; /* CLOSE record queued */
  unsigned final_sent : 1;   /* the last OK has been written */
  unsigned touched : 1;      /* on the touched list */
  unsigned authed : 1;       /* AUTH passed, or no token required */
  unsigned opened : 1;       /* OPEN record queued (only once authed) */
  struct bq_conn *idle_prev, *idle_next; /* srv->idle_*, oldest first */
  uint64_t active_ms;        /* last time it sent us a byte (bq_now_ms) */
  unsigned rejected : 1;     /* ERR auth owed or sent: then close */
  uint64_t discarded;        /* bytes read and dropped after our shutdown */
  char wbuf[256];            /* bytes of the write in flight (plaintext:
                                on a TLS connection, what is encrypted) */
  char peer[BQ_ADDR_STRLEN];
  /* A connection of a tls listener (NULL tls otherwise): */
  struct bq_tls *tls;
  char *tout;                /* ciphertext of the write in flight */
  size_t tout_cap;
  uint64_t hs_start_ms;      /* accepted at (the handshake's deadline) */
  struct bq_conn *hs_prev, *hs_next; /* srv->hs_*, while handshaking */
  unsigned tls_done : 1;     /* handshake completed */
  unsigned tls_seen : 1;     /* the first bytes were looked at */
  unsigned tls_eof : 1;      /* the peer's close_notify arrived */
  unsigned tls_shut : 1;     /* our close_notify is queued */
  unsigned on_hs_list : 1;   /* counted in srv->tls_handshaking */
  /* A producer's connection (exactly once; conn.c, producer.h): */
  struct bq_producer *prod;  /* its id's entry while attached, else NULL */
  struct bq_rec *held, **held_tailp; /* lines framed before RESUME */
  size_t held_bytes;         /* bq_rec_cost() of held */
  uint64_t first_seq;        /* of its HELLO */
  int64_t prod_id;           /* producers.id, from the HELLO's completion */
  int64_t base;              /* n of RESUME n: a stored line's pseq is
                                base + seq, and acks say base + committed */
  int64_t pseq;              /* number of the last line framed once live */
  unsigned pstate : 3;       /* enum in conn.c: none, expect, wait, ... */
  unsigned resume_owed : 1;  /* "RESUME n" not yet written */
  unsigned pdraining : 1;    /* counted in prod->draining */
  unsigned final_err : 4;    /* 1 + the enum bq_proto_err said last, after
                                the acks, before closing; 0: none */
};


/* A listening socket (listener.c), one per --listen. */
struct bq_listener {
  uv_tcp_t tcp;                 /* tcp.data unused: use container_of */
  struct bq_server *srv;
  int kind;                     /* enum bq_listen_kind (config.h) */
  char addr[BQ_ADDR_STRLEN];    /* the address actually bound */
  /* "127.0.0.1:5514,syslog": the bound address and the kind, as
   * connections.listener records it */
  char name[BQ_ADDR_STRLEN + 16];
  int tls;                      /* a tls listener: connections speak TLS */
  struct bq_ratelimit accept_rl, refuse_rl, deny_rl; /* their log lines */
};

struct bq_server {
  uv_loop_t *loop;
  struct bq_listener listeners[BQ_LISTEN_MAX]; /* cfg->listen, in order */
  size_t nlisteners;       /* those whose handle is initialised */
  uv_async_t wake;         /* workers -> loop: completions posted */
  uv_signal_t sigint, sigterm;
  uv_timer_t linger;       /* bounds the final acks and closes */
  const struct bq_config *cfg;
  const struct bq_log *log;
  struct bq_queue *queue;
  struct bq_pool *pool;
  struct bq_conn *conns;   /* open connections */
  size_t nconns;
  size_t nalive;           /* bq_conn structs not yet freed */
  int64_t next_conn_id;
  int state;               /* enum bq_server_state */
  int paused;              /* intake paused: queue full */
  int queue_closed;        /* bq_queue_close() called: nothing more pushed */
  uint64_t paused_at_ms;   /* start of the current pause */
  uint64_t paused_at_us;   /* the same, bq_waits_now_us(), when waits */
  struct bq_waits *waits;  /* deps->waits: may be NULL */
  uint64_t paused_total_ms; /* finished pauses, in all */
  int pause_logged;        /* the current pause was logged */
  unsigned workers_exited;
  int exit_code;
  int handles_open;        /* listener/wake/signals/timers not yet closed */
  struct bq_ratelimit pause_rl, reject_rl;
  struct bq_slab_pool slabs; /* where records come from (slab.h) */
  uv_timer_t trim_timer;     /* trims slabs' depot when the loop took none */
  size_t trim_takes;         /* slabs taken (mapped + reused) at its last tick */
  size_t trim_unmapped;      /* slabs.unmapped at its last tick */
  struct bq_server_stats st;
  const struct bq_auth *auth;  /* NULL or len 0: no AUTH line required */
  uv_timer_t idle_timer;       /* sweeps idle_head when --idle-timeout */
  struct bq_conn *idle_head, *idle_tail; /* open conns, least recently
                                            active first */
  struct bq_ratelimit auth_rl;
  struct bq_ratelimit trunc_rl, framing_rl; /* syslog listeners' logs */
  struct bq_producers producers; /* producer id -> connections (conn.c) */
  struct bq_ratelimit prod_rl;  /* producers' refusals' log lines */
  uint64_t resumed_ms;         /* last end of a pause (bq_now_ms) */
  struct bq_server_hooks hooks; /* told of the drain and of the end */
  /* TLS (tls listeners only): */
  struct bq_tls_ctx *tls_ctx;  /* for new handshakes; SIGHUP replaces it,
                                  connections hold their own reference */
  uv_signal_t sighup;          /* reloads --tls-cert and --tls-key */
  uv_timer_t hs_timer;         /* sweeps hs_head: handshake deadlines */
  struct bq_conn *hs_head, *hs_tail; /* handshaking, oldest first */
  size_t tls_handshaking;      /* on that list */
  struct bq_ratelimit tls_rl;   /* handshake failures' log lines */
  struct bq_ratelimit tls_limit_rl; /* --tls-max-handshakes refusals' */
  struct bq_ratelimit plain_on_tls_rl, tls_on_plain_rl; /* and these */
  char plainbuf[16384];        /* decrypted bytes of one TLS read */
  char readbuf[BQ_READ_BUF];
};

/* --- listener.c, used by server.c --- */

/* Bind l to the address of spec (one --listen) and listen, admitting
 * connections of spec's kind into srv.  Returns 0, or a negative libuv
 * error with a message in err; l->tcp is initialised either way (close it
 * with bq_server_close_handle). */
int bq_listener_start(struct bq_listener *l, struct bq_server *srv,
                      const struct bq_listen *spec, char *err,
                      size_t errlen);

/* --- conn.c, used by listener.c and server.c --- */

/* A new connection struct with its TCP handle initialised, ready for
 * uv_accept (never fails: out of memory aborts). */
struct bq_conn *bq_conn_new(struct bq_server *srv);

/* Admit c (accepted, c->peer set): give it an id, record it (once it has
 * authenticated, when a token is required) and start reading. */
void bq_conn_start(struct bq_conn *c);

/* Refuse c, accepted but never started: write the ERR line of e (an enum
 * bq_proto_err, proto.h; BQ_CONN_SILENT for none) as best it can, then
 * close and free c. */
#define BQ_CONN_SILENT (-1)
void bq_conn_refuse(struct bq_conn *c, int e);

/* Apply a completion entry (loop thread); queues conn on *touched. */
void bq_conn_completed(struct bq_conn *c, const struct bq_done_entry *e,
                       struct bq_conn **touched);

/* After a round of completions: free c if it is closed and nothing points
 * at it any more, else write what it is owed. */
void bq_conn_settle(struct bq_conn *c);

/* Close every open connection now (linger timer expired). */
void bq_conn_abort_all(struct bq_server *srv);

/* Write whatever conn owes (errors, acks) and close it when it is done. */
void bq_conn_flush(struct bq_conn *c);

/* Stop reading because the queue is full / start again. */
void bq_conn_pause(struct bq_conn *c);
void bq_conn_resume(struct bq_conn *c);

/* End of a pause: resume every connection, least recently read first, so
 * that the connections that waited longest are read first (the kernel
 * reports them ready in the order reading was restarted; always resuming
 * in one fixed order starved the connections at its end when the queue
 * refills after a read or two). */
void bq_conn_resume_all(struct bq_server *srv);

/* Shutdown step 1: stop intake on c for good and queue its CLOSE record. */
void bq_conn_stop_intake(struct bq_conn *c, int64_t now_us);

/* Shutdown step 3: send c its final ack and close it gracefully. */
void bq_conn_finish(struct bq_conn *c);

/* Close c now, without further output. */
void bq_conn_abort(struct bq_conn *c);

/* --idle-timeout: close connections silent for longer than it (and owed
 * nothing) with "ERR idle"; called by the server's idle timer. */
void bq_conn_sweep_idle(struct bq_server *srv, uint64_t now_ms);

/* TLS handshakes not done within BQ_TLS_HANDSHAKE_MS (or --idle-timeout,
 * if shorter) of the accept: close them; called by the server's hs_timer. */
#define BQ_TLS_HANDSHAKE_MS 10000
void bq_conn_sweep_handshakes(struct bq_server *srv, uint64_t now_ms);

/* --- server.c, used by listener.c and conn.c --- */

/* Close one of the server's own handles (listener, timers, signals),
 * counting it until its close callback runs. */
void bq_server_close_handle(struct bq_server *srv, uv_handle_t *h);

/* Queue records built by a connection; pauses intake when full. */
void bq_server_push(struct bq_server *srv, struct bq_rec *first,
                    struct bq_rec *last, size_t n, size_t bytes);

/* A conn struct was freed; finishes shutdown when it was the last. */
void bq_server_conn_freed(struct bq_server *srv);

#endif /* BQ_SERVER_INT_H */
