#define _POSIX_C_SOURCE 200809L
/*
 * ack_floor.c -- the latency floor of this machine for `burstq bench
 * --rate`: a listener that speaks the acked protocol's reply side and
 * nothing else.  Every read that completes a line is answered at once with
 * "OK <n>" (n: the connection's complete lines so far); nothing is stored.
 *
 *   ack_floor PORT        listen on 127.0.0.1:PORT (0: a free one) until
 *                         SIGTERM or SIGINT, then exit 0; once listening,
 *                         "ack_floor: listening on 127.0.0.1:P" on stderr
 *
 * Against it, `burstq bench -c 4 --rate R` measures what the client, the
 * kernel's loopback and the scheduler cost at that load, with no daemon
 * work at all: no daemon can do better on the same machine, so make bench
 * prints it beside burstqd's latency table (tests/bench/pipeline.sh).
 *
 * Design: one libuv loop thread owns everything.  Per connection one
 * uv_tcp_t and a count of complete lines; an OK goes out by uv_try_write
 * (as burstqd's), and by uv_write from a copy when the socket would block.
 * A connection closes at the peer's EOF or an error.  Not a test: nothing
 * here is registered with ctest.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct fconn {
  uv_tcp_t tcp;
  unsigned long long lines;
  char rbuf[65536];
};

struct fwrite {
  uv_write_t req;
  char line[32];
};

static void on_closed(uv_handle_t *h) { free(h->data); }

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  struct fconn *c = h->data;
  (void)hint;
  *buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_written(uv_write_t *req, int status) {
  (void)status;
  free(req->data);
}

static void ack(struct fconn *c) {
  char line[32];
  int n = snprintf(line, sizeof(line), "OK %llu\n", c->lines);
  uv_buf_t buf = uv_buf_init(line, (unsigned)n);
  int r = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
  struct fwrite *w;
  if (r == n) return;
  if (r < 0 && r != UV_EAGAIN) return; /* the read side ends it */
  if (r < 0) r = 0;
  w = malloc(sizeof(*w));
  if (w == NULL) abort();
  memcpy(w->line, line + r, (size_t)(n - r));
  w->req.data = w;
  buf = uv_buf_init(w->line, (unsigned)(n - r));
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written) < 0)
    free(w);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct fconn *c = s->data;
  unsigned long long was = c->lines;
  ssize_t i;
  if (nread < 0) {
    uv_close((uv_handle_t *)s, on_closed);
    return;
  }
  for (i = 0; i < nread; i++) c->lines += buf->base[i] == '\n';
  if (c->lines != was) ack(c);
}

static void on_conn(uv_stream_t *srv, int status) {
  struct fconn *c;
  if (status < 0) return;
  c = calloc(1, sizeof(*c));
  if (c == NULL) abort();
  uv_tcp_init(srv->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
    uv_close((uv_handle_t *)&c->tcp, on_closed);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  uv_stop(h->loop);
}

int main(int argc, char **argv) {
  uv_loop_t *loop = uv_default_loop();
  uv_tcp_t srv;
  uv_signal_t sterm, sint;
  struct sockaddr_storage bound;
  struct sockaddr_in addr;
  int r, len = sizeof(bound);
  if (argc != 2 || atoi(argv[1]) < 0 || atoi(argv[1]) > 65535) {
    fprintf(stderr, "usage: ack_floor PORT\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  uv_ip4_addr("127.0.0.1", atoi(argv[1]), &addr);
  uv_tcp_init(loop, &srv);
  if ((r = uv_tcp_bind(&srv, (const struct sockaddr *)&addr, 0)) < 0 ||
      (r = uv_listen((uv_stream_t *)&srv, 128, on_conn)) < 0) {
    fprintf(stderr, "ack_floor: 127.0.0.1:%s: %s\n", argv[1], uv_strerror(r));
    return 1;
  }
  uv_tcp_getsockname(&srv, (struct sockaddr *)&bound, &len);
  fprintf(stderr, "ack_floor: listening on 127.0.0.1:%d\n",
          ntohs(((struct sockaddr_in *)&bound)->sin_port));
  fflush(stderr);
  uv_signal_init(loop, &sterm);
  uv_signal_start(&sterm, on_signal, SIGTERM);
  uv_signal_init(loop, &sint);
  uv_signal_start(&sint, on_signal, SIGINT);
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
