/*
 * stats.c -- burstq stats: a human summary of a burstqd's metrics
 * (GET /metrics and /healthz on the daemon's --metrics address), once or,
 * with --watch, refreshed with rates computed between two scrapes.
 *
 * Design: a blocking HTTP/1.1 GET with "Connection: close" bounded by a
 * poll() timeout (the daemon never chunks or keeps us waiting), the body
 * parsed by promtext.h, and a pure formatting step from two parsed scrapes
 * (the previous one may be absent) to text.  Main thread only.
 *
 * With --tls (a burstqd --metrics HOST:PORT,tls) the same GET goes
 * through session.h's client context and tls.h's engine over the same
 * non-blocking socket (tls_exchange): the server's name, the host of -H,
 * is verified; a failed handshake is exit 3 with the reason, as for
 * burstq send.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "commands.h"
#include "log.h"
#include "opts.h"
#include "promtext.h"
#include "proto.h"
#include "session.h"

#define STATS_DEFAULT "127.0.0.1:9070"
#define MAX_RESPONSE (4u << 20)
#define NBUCKETS 64

static const char stats_help[] =
    "usage: burstq stats [-H METRICS_HOST:PORT] [--watch [SEC]] [--count N]\n"
    "                    [--tls [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]]\n"
    "       burstq stats [-H METRICS_HOST:PORT] [--tls ...] --health | --ready\n"
    "\n"
    "Show what a burstqd is doing, from the HTTP endpoints it serves with\n"
    "--metrics HOST:PORT: messages received, committed and rejected,\n"
    "connections, the queue against its limits, intake pauses, batch sizes\n"
    "and commit latency, database errors and health.\n"
    "\n"
    "Options:\n"
    "  -H, --host HOST:PORT  the daemon's --metrics address\n"
    "                        [$BURSTQ_METRICS, else " STATS_DEFAULT "]\n"
    "  -w, --watch [SEC]     refresh every SEC seconds (decimals allowed)\n"
    "                        with rates since the previous scrape, until\n"
    "                        interrupted  [2]\n"
    "  -n, --count N         with --watch: stop after N summaries\n"
    "  -t, --timeout S       give up on a scrape after S seconds  [5]\n"
    "      --health          only ask /healthz: print its line, exit 0 if the\n"
    "                        database takes writes, 1 if not (a probe for\n"
    "                        HEALTHCHECK or monitoring, no curl needed)\n"
    "      --ready           likewise /readyz: exit 0 if accepting, 1 if\n"
    "                        draining\n"
    "      --tls             HTTPS, for burstqd --metrics HOST:PORT,tls; the\n"
    "                        daemon's certificate must be valid for the host\n"
    "                        of -H (a name or an IP address) and signed by a\n"
    "                        trusted CA\n"
    "      --tls-ca FILE     with --tls: trust the CA certificates (PEM) in\n"
    "                        FILE  [$BURSTQ_TLS_CA, else the system's]\n"
    "      --tls-cert FILE   with --tls: present this client certificate\n"
    "      --tls-key FILE    (PEM) and key, for a daemon started with\n"
    "                        --tls-client-ca; keep the key mode 600\n"
    "  -h, --help            show this help\n"
    "\n"
    "Examples:\n"
    "  burstqd --metrics 127.0.0.1:9070 &\n"
    "  burstq stats -H 127.0.0.1:9070\n"
    "  burstq stats --watch 1            rates every second\n"
    "  curl -s 127.0.0.1:9070/metrics    the raw numbers, for Prometheus\n"
    "  burstq stats --tls --tls-ca ca.pem -H localhost:9443   over TLS\n"
    "\n"
    "Exit status: 0 shown (--health, --ready: healthy, ready); 1 the answer\n"
    "was not burstqd metrics (--health: not writable; --ready: draining);\n"
    "2 usage (also an unusable --tls-* file); 3 cannot connect, no answer\n"
    "within the timeout, or the TLS handshake failed (the reason is\n"
    "printed).\n";

/* Where the scrapes go. */
struct target {
  struct sockaddr_storage ss;
  char where[BQ_ADDR_STRLEN];  /* ss formatted: messages, Host: */
  double timeout_s;            /* per request */
  struct bq_tls_ctx *tls;      /* --tls: the client context; else NULL */
  int have_cert;               /* --tls-cert given */
};

struct scrape {
  struct bq_prom m;
  int healthy;          /* /healthz said 200 */
  char health[300];     /* its body, one line */
  double at;            /* monotonic seconds */
};

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int wait_fd(int fd, short ev, double deadline) {
  struct pollfd p = {fd, ev, 0};
  for (;;) {
    double left = deadline - mono_s();
    int r;
    if (left <= 0) return -ETIMEDOUT;
    r = poll(&p, 1, (int)(left * 1000) + 1);
    if (r > 0) return 0;
    if (r < 0 && errno != EINTR) return -errno;
  }
}

/* 1 when the first line of resp is a reply of burstq's ingest protocol
 * ("OK n" or "ERR reason"): the address is a message port.  The line must
 * be complete (its "\n" arrived) unless at_end. */
static int ingest_reply(const struct bq_buf *resp, int at_end) {
  struct bq_proto_reply r;
  const char *nl;
  if (resp->len == 0) return 0;
  nl = memchr(resp->data, '\n', resp->len);
  if (nl == NULL && !at_end) return 0;
  return bq_proto_parse_reply(resp->data,
                              nl ? (size_t)(nl - resp->data) : resp->len,
                              &r) != BQ_REPLY_BAD;
}

/* Send all of data[0..len) on the non-blocking fd by deadline.  0 or a
 * negative errno. */
static int send_all(int fd, const char *data, size_t len, double deadline) {
  size_t off = 0;
  int r;
  while (off < len) {
    ssize_t w = send(fd, data + off, len - off, MSG_NOSIGNAL);
    if (w > 0) {
      off += (size_t)w;
      continue;
    }
    if (w < 0 && errno != EAGAIN && errno != EINTR) return -errno;
    if ((r = wait_fd(fd, POLLOUT, deadline)) < 0) return r;
  }
  return 0;
}

/* What tls_exchange says besides errnos: the daemon closed the TCP
 * connection before the handshake was done. */
#define TLS_CLOSED_EARLY (-30001)

/* http_get over TLS: the request through t (a new client engine), the
 * response's plaintext into resp until the daemon's close_notify or EOF.
 * Returns 0, a negative errno, TLS_CLOSED_EARLY, or an error of
 * bq_tls_read (the reason in bq_tls_error(t)). */
static int tls_exchange(int fd, struct bq_tls *t, const char *req, size_t n,
                        double deadline, struct bq_buf *resp) {
  char cbuf[16384], pt[16384];
  int r = bq_tls_connect(t);
  if (r < 0) return r;
  r = bq_tls_write(t, req, n); /* held until the handshake is done */
  if (r < 0) return r;
  for (;;) {
    size_t out;
    ssize_t got;
    while ((out = bq_tls_take_out(t, cbuf, sizeof(cbuf))) > 0)
      if ((r = send_all(fd, cbuf, out, deadline)) < 0) return r;
    got = recv(fd, cbuf, sizeof(cbuf), 0);
    if (got == 0) return bq_tls_handshake_done(t) ? 0 : TLS_CLOSED_EARLY;
    if (got < 0) {
      if (errno != EAGAIN && errno != EINTR) return -errno;
      if ((r = wait_fd(fd, POLLIN, deadline)) < 0) return r;
      continue;
    }
    if (bq_tls_feed(t, cbuf, (size_t)got) < 0) return -ENOMEM;
    while ((r = bq_tls_read(t, pt, sizeof(pt))) > 0) {
      bq_buf_add(resp, pt, (size_t)r);
      if (resp->len > MAX_RESPONSE || resp->failed) return -EMSGSIZE;
    }
    if (r == BQ_TLS_EOF) return 0;
    if (r < 0) {
      /* Our alert, if any, as best it can be sent. */
      out = bq_tls_take_out(t, cbuf, sizeof(cbuf));
      if (out > 0) (void)send(fd, cbuf, out, MSG_NOSIGNAL | MSG_DONTWAIT);
      return r;
    }
    /* A message port acks and waits for more: no EOF will come. */
    if (ingest_reply(resp, 0)) return 0;
  }
}

/* Why a TLS exchange with tg failed (r its result), one line into buf. */
static void tls_why(const struct target *tg, const struct bq_tls *t, int r,
                    char *buf, size_t cap) {
  if (r == TLS_CLOSED_EARLY)
    snprintf(buf, cap,
             "the daemon closed the connection during the TLS handshake "
             "(not a --metrics HOST:PORT,tls address?%s)",
             tg->have_cert ? "" : " wants a client certificate "
                                  "(--tls-cert, --tls-key)?");
  else
    bq_session_tls_reason(t, r, bq_tls_handshake_done(t), tg->have_cert,
                          buf, cap);
}

/* GET path from tg; status code into *status, body into body.  Returns 0
 * or a negative errno (-EPROTO: not an HTTP response; -EBADMSG: an answer
 * in burstq's ingest protocol, "OK n" or "ERR ..."; -ECONNABORTED: the
 * TLS handshake or connection failed, the reason in why). */
static int http_get(const struct target *tg, const char *path, int *status,
                    struct bq_buf *body, char *why, size_t whylen) {
  double deadline = mono_s() + tg->timeout_s;
  struct bq_buf resp;
  char req[512];
  int fd, r = 0, n;
  char *hdr_end;

  fd = bq_session_connect(&tg->ss, (int)(tg->timeout_s * 1000.0) + 1, 0);
  if (fd < 0) return fd;
  n = snprintf(req, sizeof(req),
               "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: burstq-stats\r\n"
               "Accept: text/plain\r\nConnection: close\r\n\r\n",
               path, tg->where);
  bq_buf_init(&resp);
  if (tg->tls != NULL) {
    struct bq_tls *t = NULL;
    r = bq_tls_new(&t, tg->tls);
    if (r == 0) r = tls_exchange(fd, t, req, (size_t)n, deadline, &resp);
    if (r == -ENOMEM) {
      snprintf(why, whylen, "TLS: out of memory");
      r = -ECONNABORTED;
    } else if (r <= BQ_TLS_EOF) { /* also TLS_CLOSED_EARLY */
      assert(t != NULL);
      tls_why(tg, t, r, why, whylen);
      r = -ECONNABORTED;
    }
    bq_tls_free(t);
    close(fd);
    goto parse;
  }
  r = send_all(fd, req, (size_t)n, deadline);
  if (r < 0) {
    close(fd);
    bq_buf_free(&resp);
    return r;
  }
  for (;;) {
    char chunk[16384];
    ssize_t got = recv(fd, chunk, sizeof(chunk), 0);
    if (got > 0) {
      bq_buf_add(&resp, chunk, (size_t)got);
      if (resp.len > MAX_RESPONSE || resp.failed) {
        r = -EMSGSIZE;
        break;
      }
      /* A message port acks and waits for more: no EOF will come. */
      if (ingest_reply(&resp, 0)) break;
      continue;
    }
    if (got == 0) break;
    if (errno != EAGAIN && errno != EINTR) {
      r = -errno;
      break;
    }
    if ((r = wait_fd(fd, POLLIN, deadline)) < 0) break;
  }
  close(fd);
parse:
  if (r == 0 && ingest_reply(&resp, 1))
    r = -EBADMSG;
  else if (r == 0 &&
           (resp.len < 12 || strncmp(resp.data, "HTTP/1.", 7) != 0 ||
            (hdr_end = strstr(resp.data, "\r\n\r\n")) == NULL))
    r = -EPROTO;
  if (r == 0) {
    *status = atoi(resp.data + 9);
    bq_buf_add(body, hdr_end + 4, resp.len - (size_t)(hdr_end + 4 - resp.data));
    if (body->failed) r = -ENOMEM;
  }
  bq_buf_free(&resp);
  return r;
}

/* " (...: use --tls)" when an HTTP status 400 came with the body of a
 * --metrics ...,tls listener refusing plain HTTP, else "". */
static const char *tls_hint(int status, const struct bq_buf *body) {
  static const char said[] = "plain HTTP sent to a TLS port";
  if (status == 400 && body->len >= sizeof(said) - 1 &&
      memcmp(body->data, said, sizeof(said) - 1) == 0)
    return " (a --metrics HOST:PORT,tls address: use --tls)";
  return "";
}

/* Scrape /metrics and /healthz into sc.  Returns an exit code. */
static int take(const struct target *tg, struct scrape *sc) {
  const char *where = tg->where;
  struct bq_buf body;
  char err[200], why[512] = "";
  double v;
  int status = 0, r;

  memset(sc, 0, sizeof(*sc));
  bq_buf_init(&body);
  r = http_get(tg, "/metrics", &status, &body, why, sizeof(why));
  if (r == -ECONNABORTED) {
    fprintf(stderr, "burstq stats: cannot connect to %s: %s\n", where, why);
    bq_buf_free(&body);
    return BQ_EXIT_CONNECT;
  }
  if (r == -EBADMSG) {
    fprintf(stderr,
            "burstq stats: %s is a burstqd message port, not its --metrics "
            "address; it took the request's lines as messages (give -H the "
            "address of burstqd --metrics HOST:PORT)\n",
            where);
    bq_buf_free(&body);
    return BQ_EXIT_REJECTED;
  }
  if (r < 0) {
    fprintf(stderr, "burstq stats: %s/metrics: %s%s\n", where,
            r == -EPROTO ? "not an HTTP response" : strerror(-r),
            r == -ECONNREFUSED
                ? " (is burstqd running with --metrics at that address?)"
                : "");
    bq_buf_free(&body);
    return BQ_EXIT_CONNECT;
  }
  if (status != 200) {
    fprintf(stderr, "burstq stats: %s/metrics: HTTP status %d%s\n", where,
            status, tls_hint(status, &body));
    bq_buf_free(&body);
    return BQ_EXIT_REJECTED;
  }
  r = bq_prom_parse(&sc->m, body.data ? body.data : "", body.len, err,
                    sizeof(err));
  bq_buf_free(&body);
  if (r < 0) {
    fprintf(stderr, "burstq stats: %s/metrics is not Prometheus text: %s\n",
            where, err);
    return BQ_EXIT_REJECTED;
  }
  if (bq_prom_get(&sc->m, "burstq_messages_received_total", NULL, NULL, &v) <
      0) {
    fprintf(stderr,
            "burstq stats: %s/metrics has no burstq_ metrics (is that a "
            "burstqd --metrics address?)\n",
            where);
    bq_prom_free(&sc->m);
    return BQ_EXIT_REJECTED;
  }
  sc->at = mono_s();
  bq_buf_init(&body);
  r = http_get(tg, "/healthz", &status, &body, why, sizeof(why));
  if (r == 0) {
    sc->healthy = status == 200;
    snprintf(sc->health, sizeof(sc->health), "%.*s", (int)body.len,
             body.data ? body.data : "");
    sc->health[strcspn(sc->health, "\r\n")] = '\0';
  } else {
    snprintf(sc->health, sizeof(sc->health), "/healthz: %.*s",
             (int)sizeof(sc->health) - 16,
             r == -ECONNABORTED ? why : strerror(-r));
  }
  bq_buf_free(&body);
  return BQ_EXIT_OK;
}

/* ---- formatting ---------------------------------------------------------- */

static double get(const struct scrape *sc, const char *name) {
  double v = 0;
  bq_prom_get(&sc->m, name, NULL, NULL, &v);
  return v;
}

/* 1234567 -> "1,234,567" */
static const char *num(char *buf, size_t len, double v) {
  char tmp[64];
  int n, o = 0, i;
  if (!isfinite(v)) {
    snprintf(buf, len, "-");
    return buf;
  }
  n = snprintf(tmp, sizeof(tmp), "%.0f", v);
  for (i = 0; i < n && (size_t)o + 2 < len; i++) {
    buf[o++] = tmp[i];
    if (tmp[i] != '-' && (n - i - 1) > 0 && (n - i - 1) % 3 == 0)
      buf[o++] = ',';
  }
  buf[o] = '\0';
  return buf;
}

static const char *bytes(char *buf, size_t len, double v) {
  static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (v >= 1024 && i < 4) {
    v /= 1024;
    i++;
  }
  snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
  return buf;
}

static const char *dur(char *buf, size_t len, double s) {
  if (!isfinite(s)) snprintf(buf, len, "-");
  else if (s == 0) snprintf(buf, len, "0 s");
  else if (s < 0.001) snprintf(buf, len, "%.0f us", s * 1e6);
  else if (s < 1) snprintf(buf, len, "%.1f ms", s * 1e3);
  else snprintf(buf, len, "%.2f s", s);
  return buf;
}

static const char *uptime(char *buf, size_t len, double s) {
  long t = s > 0 ? (long)s : 0;
  if (t >= 86400) snprintf(buf, len, "%ldd%02ldh", t / 86400, t % 86400 / 3600);
  else if (t >= 3600) snprintf(buf, len, "%ldh%02ldm", t / 3600, t % 3600 / 60);
  else snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
  return buf;
}

/* " (12,345/s)" for counter name between prev and cur, or "". */
static const char *rate(char *buf, size_t len, const struct scrape *cur,
                        const struct scrape *prev, const char *name) {
  char n[40];
  double dt, d;
  buf[0] = '\0';
  if (prev == NULL) return buf;
  dt = cur->at - prev->at;
  d = get(cur, name) - get(prev, name);
  if (dt > 0 && d >= 0) snprintf(buf, len, " (%s/s)", num(n, sizeof(n), d / dt));
  return buf;
}

/* "a 3, b 0" for the labelled samples of a counter. */
static void by_label(char *buf, size_t len, const struct scrape *sc,
                     const char *name, const char *label) {
  size_t o = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < sc->m.n && o + 1 < len; i++) {
    const struct bq_prom_sample *s = &sc->m.s[i];
    const char *v;
    char n[40];
    if (strcmp(s->name, name) != 0 || (v = bq_prom_label(s, label)) == NULL)
      continue;
    if (s->value == 0 && strcmp(label, "kind") == 0) continue;
    o += (size_t)snprintf(buf + o, len - o, "%s%s %s", o ? ", " : "", v,
                          num(n, sizeof(n), s->value));
    if (o >= len) o = len - 1;
  }
}

/* p50 and p99 of histogram name, over the scrape or since prev. */
static void quantiles(const struct scrape *cur, const struct scrape *prev,
                      const char *name, double *p50, double *p99,
                      double *count, double *sum) {
  double le[NBUCKETS], cum[NBUCKETS], ple[NBUCKETS], pcum[NBUCKETS];
  char sname[200];
  size_t n = bq_prom_buckets(&cur->m, name, le, cum, NBUCKETS);
  snprintf(sname, sizeof(sname), "%s_count", name);
  *count = get(cur, sname);
  snprintf(sname, sizeof(sname), "%s_sum", name);
  *sum = get(cur, sname);
  if (prev != NULL) {
    size_t pn = bq_prom_buckets(&prev->m, name, ple, pcum, NBUCKETS);
    if (pn == n) {
      for (size_t i = 0; i < n; i++) cum[i] -= pcum[i];
      snprintf(sname, sizeof(sname), "%s_count", name);
      *count -= get(prev, sname);
      snprintf(sname, sizeof(sname), "%s_sum", name);
      *sum -= get(prev, sname);
    }
  }
  *p50 = bq_prom_quantile(le, cum, n, 0.5);
  *p99 = bq_prom_quantile(le, cum, n, 0.99);
}

static void show(FILE *out, const char *where, const struct scrape *cur,
                 const struct scrape *prev) {
  char a[64], b[64], c[64], d[64], e[64], f[64], r1[96], r2[96], lst[400];
  const struct bq_prom_sample *bi = NULL;
  double now = (double)time(NULL), p50, p99, cnt, sum, v;
  double received = get(cur, "burstq_messages_received_total");
  double committed = get(cur, "burstq_messages_committed_total");
  double qr = get(cur, "burstq_queue_records");
  double qlr = get(cur, "burstq_queue_limit_records");

  for (size_t i = 0; i < cur->m.n; i++)
    if (strcmp(cur->m.s[i].name, "burstq_build_info") == 0) bi = &cur->m.s[i];
  fprintf(out, "burstqd %s at %s (%s, libuv %s), up %s\n",
          bi && bq_prom_label(bi, "version") ? bq_prom_label(bi, "version") : "?",
          where,
          bi && bq_prom_label(bi, "backend") ? bq_prom_label(bi, "backend")
                                             : "?",
          bi && bq_prom_label(bi, "libuv") ? bq_prom_label(bi, "libuv") : "?",
          uptime(a, sizeof(a), now - get(cur, "burstq_start_time_seconds")));
  fprintf(out, "state        %s; %s; %s\n",
          get(cur, "burstq_draining") ? "DRAINING (shutting down)"
                                      : "accepting",
          get(cur, "burstq_intake_paused") ? "intake PAUSED (queue full)"
                                           : "intake running",
          cur->healthy ? "database ok" : cur->health);
  by_label(lst, sizeof(lst), cur, "burstq_messages_rejected_total", "reason");
  fprintf(out, "messages     received %s%s, committed %s%s, in flight %s\n",
          num(a, sizeof(a), received),
          rate(r1, sizeof(r1), cur, prev, "burstq_messages_received_total"),
          num(b, sizeof(b), committed),
          rate(r2, sizeof(r2), cur, prev, "burstq_messages_committed_total"),
          num(c, sizeof(c), received - committed));
  fprintf(out, "rejected     %s (%s)\n",
          num(a, sizeof(a), bq_prom_sum(&cur->m, "burstq_messages_rejected_total", NULL)),
          lst[0] ? lst : "none");
  v = get(cur, "burstq_received_bytes_total");
  if (prev != NULL && cur->at > prev->at) {
    double bps = (v - get(prev, "burstq_received_bytes_total")) /
                 (cur->at - prev->at);
    snprintf(r1, sizeof(r1), " (%s/s)", bytes(c, sizeof(c), bps));
  } else {
    r1[0] = '\0';
  }
  fprintf(out, "bytes        received %s%s; acks sent %s\n",
          bytes(a, sizeof(a), v), r1,
          num(b, sizeof(b), get(cur, "burstq_acks_sent_total")));
  by_label(lst, sizeof(lst), cur, "burstq_connections_refused_total", "reason");
  fprintf(out, "connections  open %s, accepted %s%s, refused %s (%s)\n",
          num(a, sizeof(a), get(cur, "burstq_connections_open")),
          num(b, sizeof(b), get(cur, "burstq_connections_accepted_total")),
          rate(r1, sizeof(r1), cur, prev, "burstq_connections_accepted_total"),
          num(c, sizeof(c),
              bq_prom_sum(&cur->m, "burstq_connections_refused_total", NULL)),
          lst);
  fprintf(out, "queue        %s / %s records (%.0f%%), %s / %s\n",
          num(a, sizeof(a), qr), num(b, sizeof(b), qlr),
          qlr > 0 ? 100.0 * qr / qlr : 0.0,
          bytes(c, sizeof(c), get(cur, "burstq_queue_bytes")),
          bytes(d, sizeof(d), get(cur, "burstq_queue_limit_bytes")));
  fprintf(out, "pauses       %s, %s paused in all\n",
          num(a, sizeof(a), get(cur, "burstq_intake_pauses_total")),
          dur(b, sizeof(b), get(cur, "burstq_intake_paused_seconds_total")));
  quantiles(cur, prev, "burstq_commit_duration_seconds", &p50, &p99, &cnt,
            &sum);
  {
    double bp50, bp99, bcnt, bsum;
    quantiles(cur, prev, "burstq_batch_records", &bp50, &bp99, &bcnt, &bsum);
    fprintf(out,
            "commits      %s batches%s, %s records each on average; "
            "latency p50 %s, p99 %s\n",
            num(a, sizeof(a), cnt), prev ? " since the last scrape" : "",
            num(b, sizeof(b), bcnt > 0 ? bsum / bcnt : 0),
            dur(e, sizeof(e), p50), dur(f, sizeof(f), p99));
  }
  by_label(lst, sizeof(lst), cur, "burstq_db_errors_total", "kind");
  fprintf(out, "db errors    %s\n", lst[0] ? lst : "none");
  /* retention: only a daemon with --retain-* renders these */
  if (bq_prom_get(&cur->m, "burstq_retention_deleted_rows_total", NULL, NULL,
                  &v) == 0) {
    double lag_rows = get(cur, "burstq_retention_lag_rows");
    double lag_s = get(cur, "burstq_retention_lag_seconds");
    fprintf(out,
            "retention    deleted %s messages%s (%s), %s connections; oldest "
            "kept %s old; lag %s\n",
            num(a, sizeof(a), v),
            rate(r1, sizeof(r1), cur, prev,
                 "burstq_retention_deleted_rows_total"),
            bytes(b, sizeof(b),
                  get(cur, "burstq_retention_deleted_bytes_total")),
            num(c, sizeof(c),
                get(cur, "burstq_retention_deleted_connections_total")),
            dur(d, sizeof(d), get(cur, "burstq_retention_oldest_age_seconds")),
            lag_rows > 0 || lag_s > 0 ? "BEHIND" : "none");
    if (lag_rows > 0 || lag_s > 0)
      fprintf(out, "             behind by %s messages, %s of age\n",
              num(e, sizeof(e), lag_rows), dur(f, sizeof(f), lag_s));
  }
  if (bq_prom_get(&cur->m, "process_resident_memory_bytes", NULL, NULL, &v) ==
      0) {
    double cpu = get(cur, "process_cpu_seconds_total");
    r1[0] = '\0';
    if (prev != NULL && cur->at > prev->at)
      snprintf(r1, sizeof(r1), " (%.0f%% of a core)",
               100.0 * (cpu - get(prev, "process_cpu_seconds_total")) /
                   (cur->at - prev->at));
    fprintf(out, "process      memory %s, CPU %s%s, descriptors %s / %s\n",
            bytes(a, sizeof(a), v), dur(b, sizeof(b), cpu), r1,
            num(c, sizeof(c), get(cur, "process_open_fds")),
            num(d, sizeof(d), get(cur, "process_max_fds")));
  }
}

/* --health / --ready: one GET, its line on stdout, 0 for 200, 1 for 503. */
static int run_probe(const struct target *tg, const char *path) {
  const char *where = tg->where;
  struct bq_buf body;
  char why[512] = "";
  int status = 0, r;
  bq_buf_init(&body);
  r = http_get(tg, path, &status, &body, why, sizeof(why));
  if (r == -ECONNABORTED) {
    fprintf(stderr, "burstq stats: cannot connect to %s: %s\n", where, why);
    bq_buf_free(&body);
    return BQ_EXIT_CONNECT;
  }
  if (r < 0) {
    fprintf(stderr, "burstq stats: %s%s: %s\n", where, path,
            r == -EPROTO    ? "not an HTTP response"
            : r == -EBADMSG ? "a burstqd message port, not its --metrics "
                              "address"
                            : strerror(-r));
    bq_buf_free(&body);
    return r == -EPROTO || r == -EBADMSG ? BQ_EXIT_REJECTED : BQ_EXIT_CONNECT;
  }
  printf("%.*s", (int)body.len, body.data ? body.data : "");
  if (body.len == 0 || body.data[body.len - 1] != '\n') printf("\n");
  if (status != 200 && status != 503)
    fprintf(stderr, "burstq stats: %s%s: HTTP status %d%s\n", where, path,
            status, tls_hint(status, &body));
  bq_buf_free(&body);
  return status == 200 ? BQ_EXIT_OK : BQ_EXIT_REJECTED;
}

int bq_cmd_stats(int argc, char **argv) {
  static const struct option longopts[] = {
      {"host", required_argument, NULL, 'H'},
      {"watch", optional_argument, NULL, 'w'},
      {"count", required_argument, NULL, 'n'},
      {"timeout", required_argument, NULL, 't'},
      {"help", no_argument, NULL, 'h'},
      {"health", no_argument, NULL, 'Z'},
      {"ready", no_argument, NULL, 'R'},
      BQ_SESSION_TLS_LONGOPTS,
      {NULL, 0, NULL, 0}};
  struct target tg;
  struct bq_session_tls tlso;
  struct scrape cur, prev;
  const char *probe = NULL; /* --health or --ready: that path only */
  const char *host = NULL;
  char err[512];
  double every = 0, timeout_s = 5;
  uint64_t count = 0, shown = 0;
  int opt, r, have_prev = 0, tty = isatty(STDOUT_FILENO);

  optind = 0;
  opterr = 0;
  memset(&tg, 0, sizeof(tg));
  memset(&tlso, 0, sizeof(tlso));
  while ((opt = getopt_long(argc, argv, "+H:w::n:t:h", longopts, NULL)) !=
         -1) {
    if (bq_session_tls_opt(&tlso, opt, optarg)) continue;
    switch (opt) {
      case 'H':
        host = optarg;
        break;
      case 'w': {
        /* --watch SEC as well as --watch=SEC: take a following number. */
        const char *arg = optarg;
        every = 2;
        if (arg == NULL && optind < argc && argv[optind][0] >= '0' &&
            argv[optind][0] <= '9')
          arg = argv[optind++];
        if (arg != NULL &&
            bq_opt_seconds("watch", arg, 86400, &every, err, sizeof(err)) < 0) {
          fprintf(stderr, "burstq stats: %s\n", err);
          return BQ_EXIT_USAGE;
        }
        break;
      }
      case 'n':
        if (bq_opt_count("count", optarg, 1, 1000000000, &count, err,
                         sizeof(err)) < 0) {
          fprintf(stderr, "burstq stats: %s\n", err);
          return BQ_EXIT_USAGE;
        }
        break;
      case 't':
        if (bq_opt_seconds("timeout", optarg, 3600, &timeout_s, err,
                           sizeof(err)) < 0) {
          fprintf(stderr, "burstq stats: %s\n", err);
          return BQ_EXIT_USAGE;
        }
        break;
      case 'h':
        fputs(stats_help, stdout);
        return BQ_EXIT_OK;
      case 'Z':
      case 'R':
        if (probe != NULL) {
          fprintf(stderr, "burstq stats: --health and --ready exclude each other\n");
          return BQ_EXIT_USAGE;
        }
        probe = opt == 'Z' ? "/healthz" : "/readyz";
        break;
      default:
        if (optopt >= BQ_SESSION_OPT_TLS_CA)
          fprintf(stderr, "burstq stats: %s needs a value\n",
                  argv[optind - 1]);
        else if (optopt && optopt < 256 && strchr("Hnt", optopt))
          fprintf(stderr, "burstq stats: -%c needs a value\n", optopt);
        else
          fprintf(stderr, "burstq stats: unknown option '%s'\n",
                  argv[optind - 1]);
        fprintf(stderr, "Try 'burstq help stats'.\n");
        return BQ_EXIT_USAGE;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "burstq stats: unexpected argument '%s'\nTry 'burstq help stats'.\n",
            argv[optind]);
    return BQ_EXIT_USAGE;
  }
  if (probe != NULL && every > 0) {
    fprintf(stderr, "burstq stats: --%s does not go with --watch\n",
            probe[1] == 'h' ? "health" : "ready");
    return BQ_EXIT_USAGE;
  }
  if (count > 0 && every == 0) {
    fprintf(stderr, "burstq stats: --count needs --watch\n");
    return BQ_EXIT_USAGE;
  }
  if (host == NULL) host = getenv("BURSTQ_METRICS");
  if (host == NULL || *host == '\0') host = STATS_DEFAULT;
  r = bq_opt_host(host, &tg.ss, err, sizeof(err));
  if (r < 0) {
    fprintf(stderr, "burstq stats: %s\n", err);
    return r == -ENOENT ? BQ_EXIT_CONNECT : BQ_EXIT_USAGE;
  }
  bq_addr_format((struct sockaddr *)&tg.ss, tg.where, sizeof(tg.where));
  tg.timeout_s = timeout_s;
  if (bq_session_tls_check(&tlso, host, err, sizeof(err)) < 0) {
    fprintf(stderr, "burstq stats: %s\nTry 'burstq help stats'.\n", err);
    return BQ_EXIT_USAGE;
  }
  if (tlso.on && bq_session_tls_ctx("stats", &tlso, &tg.tls) < 0)
    return BQ_EXIT_USAGE;
  tg.have_cert = tlso.cert != NULL;
  if (probe != NULL) {
    r = run_probe(&tg, probe);
    bq_tls_ctx_free(tg.tls);
    return r;
  }

  for (;;) {
    r = take(&tg, &cur);
    if (r != BQ_EXIT_OK) break;
    if (every > 0 && tty) fputs("\033[H\033[2J", stdout);
    else if (shown > 0) fputc('\n', stdout);
    show(stdout, tg.where, &cur, have_prev ? &prev : NULL);
    fflush(stdout);
    shown++;
    if (have_prev) bq_prom_free(&prev.m);
    prev = cur;
    have_prev = 1;
    if (every == 0 || (count > 0 && shown >= count)) break;
    {
      struct timespec ts = {(time_t)every,
                            (long)((every - floor(every)) * 1e9)};
      while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
      }
    }
  }
  if (have_prev) bq_prom_free(&prev.m);
  bq_tls_ctx_free(tg.tls);
  return r;
}
