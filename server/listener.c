/*
 * listener.c -- the listening socket and admission: who may become a
 * connection.
 *
 * Owns struct bq_listener (server_int.h): its TCP handle and the rate limits
 * of its refusal logs.  Loop thread only.  A pending connection is accepted
 * into a fresh struct bq_conn (conn.c), then admitted or refused here:
 * refused when --allow does not list its peer ("ERR denied") or when
 * --max-connections are already open ("ERR too-many-connections").  An
 * admitted connection is handed to bq_conn_start() and is conn.c's from
 * then on; a refused one is told why and closed by bq_conn_refuse().
 * There is one listener per --listen, each of a kind: on a syslog
 * listener the refusals are the same, counted and logged alike, but
 * silent (the connection is closed without a word).  So are they on a tls
 * listener: the refusal comes before any handshake, and a plaintext line
 * would mean nothing to a TLS client.
 */
#include <inttypes.h>
#include <stdio.h>

#include "acl.h"
#include "proto.h"
#include "server_int.h"

static void on_connection(uv_stream_t *s, int status) {
  struct bq_listener *l = bq_container_of(s, struct bq_listener, tcp);
  struct bq_server *srv = l->srv;
  struct sockaddr_storage ss;
  int len = (int)sizeof(ss);
  struct bq_conn *c;
  uint64_t supp;
  /* A syslog listener never writes: its refusals are a close (a reset,
   * when the peer had sent something: nothing of it was accepted). */
  int silent = l->kind == BQ_LISTEN_SYSLOG || l->tls, r;

  if (status < 0) {
    /* EMFILE and friends: libuv's reserve descriptor keeps this from
     * spinning (it accepts and closes the pending connections, so their
     * clients see the connection closed); say so, but not for every
     * attempt. */
    srv->st.accept_errors++;
    if (bq_ratelimit_allow(&l->accept_rl, bq_now_ms(), &supp))
      bq_log_warn(srv->log, "accept failed: %s (%" PRIu64 " more suppressed)",
                  uv_strerror(status), supp);
    return;
  }
  if (srv->state != BQ_RUNNING) return;

  c = bq_conn_new(srv);
  c->listener = l;
  r = uv_accept(s, (uv_stream_t *)&c->tcp);
  if (r != 0) {
    srv->st.accept_errors++;
    if (bq_ratelimit_allow(&l->accept_rl, bq_now_ms(), &supp))
      bq_log_warn(srv->log, "accept failed: %s", uv_strerror(r));
    bq_conn_refuse(c, BQ_CONN_SILENT);
    return;
  }
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0 ||
      bq_addr_format((struct sockaddr *)&ss, c->peer, sizeof(c->peer)) != 0) {
    len = 0;
    snprintf(c->peer, sizeof(c->peer), "?");
  }
  if (srv->cfg->allow.n > 0 &&
      (len <= 0 || !bq_acl_allows(&srv->cfg->allow, (struct sockaddr *)&ss))) {
    srv->st.denied++;
    if (bq_ratelimit_allow(&l->deny_rl, bq_now_ms(), &supp))
      bq_log_warn(srv->log,
                  "denied a connection from %s (not in --allow) to %s; "
                  "%" PRIu64 " denied in all",
                  c->peer, l->name, srv->st.denied);
    bq_conn_refuse(c, silent ? BQ_CONN_SILENT : BQ_ERR_DENIED);
    return;
  }
  if (srv->nconns >= srv->cfg->max_connections) {
    srv->st.refused++;
    if (bq_ratelimit_allow(&l->refuse_rl, bq_now_ms(), &supp))
      bq_log_warn(srv->log,
                  "refused a connection: %zu open (--max-connections), "
                  "to %s; %" PRIu64 " refused in all",
                  srv->nconns, l->name, srv->st.refused);
    bq_conn_refuse(c, silent ? BQ_CONN_SILENT : BQ_ERR_TOO_MANY);
    return;
  }
  bq_conn_start(c);
}

int bq_listener_start(struct bq_listener *l, struct bq_server *srv,
                      const struct bq_listen *spec, char *err,
                      size_t errlen) {
  struct sockaddr_storage ss;
  int len = (int)sizeof(ss);
  int r;

  l->srv = srv;
  l->kind = spec->kind;
  l->tls = spec->tls;
  bq_ratelimit_init(&l->accept_rl, 5000);
  bq_ratelimit_init(&l->refuse_rl, 5000);
  bq_ratelimit_init(&l->deny_rl, 5000);
  uv_tcp_init(srv->loop, &l->tcp);
  r = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&spec->addr, 0);
  if (r == 0) r = uv_listen((uv_stream_t *)&l->tcp, 1024, on_connection);
  if (r == 0) r = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len);
  if (r != 0) {
    snprintf(err, errlen, "cannot listen on %s: %s", spec->text,
             uv_strerror(r));
    return r;
  }
  bq_addr_format((struct sockaddr *)&ss, l->addr, sizeof(l->addr));
  snprintf(l->name, sizeof(l->name), "%s,%s%s", l->addr,
           bq_config_listen_kind_name(l->kind), l->tls ? ",tls" : "");
  return 0;
}
