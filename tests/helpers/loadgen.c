/*
 * loadgen.c -- a test client for burstqd that holds many connections and
 * sends checkable messages as fast as the daemon takes them.
 *
 * Design: one thread, poll() over every connection, non-blocking sockets.
 * It owns its connections and nothing else; no libraries beyond libc, so
 * it builds with any compiler the tests use.
 *
 * Connection k (1-based) sends messages i = 1, 2, ... (up to --msgs, or
 * without end when --msgs is 0), each the line
 *     TAG.k.i.FILLER
 * where FILLER is (i*7 + k) % (WIDTH+1) bytes, byte j being
 * 'a' + (i + j) % 26.  So every payload names its sender and position and
 * can be checked byte for byte (tests/helpers/check_rows.py does).
 *
 * It reads "OK n" acks on every connection (any other line is a protocol
 * error), checks they never decrease and never exceed what was sent, and
 * at the end writes one line per connection to --report:
 *     TAG k SENT ACKED STATE
 * STATE is "complete" (every message sent, its last ack read, EOF), or
 * "broken" (connect failed, reset, EOF early).  With --lossy, broken
 * connections are expected (the daemon is being killed); otherwise any
 * connection that is not complete makes the exit status 1.  Protocol
 * errors always do.
 *
 * --hold FILE: once every message of every connection is acked, print
 * "all-acked" on stdout and keep every connection open, idle, until FILE
 * exists; then half-close them all and read the final acks.
 * --status FILE: rewritten about every 100 ms as "sent=S acked=A open=O".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

enum state { ST_IDLE, ST_CONNECTING, ST_OPEN, ST_DONE };

struct conn {
  int fd;
  int state;
  int wr_closed;   /* shutdown(SHUT_WR) done, or writing failed */
  int broken;
  uint64_t next;   /* next message number to generate */
  uint64_t sent;   /* messages generated (written or pending) */
  uint64_t acked;  /* highest n in an "OK n" */
  char *pend;      /* unwritten bytes of generated messages */
  size_t plen, poff;
  char line[32];   /* partial ack line */
  size_t llen;
};

struct opts {
  const char *host, *tag, *report, *hold, *status;
  int port;
  long conns, ramp;
  uint64_t msgs;
  long width;
  int lossy;
};

static uint64_t protocol_errors;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --port P [--host 127.0.0.1] --tag T [--conns N] "
          "[--msgs M (0: endless)] [--width W] [--ramp K] [--report FILE] "
          "[--status FILE] [--hold FILE] [--lossy]\n");
  exit(2);
}

/* Append message i of connection k to buf; returns its length. */
static size_t gen_msg(char *buf, const char *tag, long k, uint64_t i,
                      long width) {
  int n = sprintf(buf, "%s.%ld.%llu.", tag, k, (unsigned long long)i);
  size_t fill = (size_t)((i * 7 + (uint64_t)k) % (uint64_t)(width + 1));
  for (size_t j = 0; j < fill; j++)
    buf[(size_t)n + j] = (char)('a' + (i + j) % 26);
  buf[(size_t)n + fill] = '\n';
  return (size_t)n + fill + 1;
}

static void close_conn(struct conn *c, int broken) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->state = ST_DONE;
  c->broken = broken;
  free(c->pend);
  c->pend = NULL;
  c->plen = c->poff = 0;
}

static void start_connect(struct conn *c, const struct sockaddr_in *sa) {
  int one = 1;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    perror("loadgen: socket");
    close_conn(c, 1);
    return;
  }
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(c->fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
    c->state = ST_OPEN;
  else if (errno == EINPROGRESS)
    c->state = ST_CONNECTING;
  else
    close_conn(c, 1);
}

/* Write pending bytes, then freshly generated ones, until the socket is
 * full or there is nothing left to send. */
static void do_write(struct conn *c, long k, const struct opts *o,
                     char *scratch) {
  for (;;) {
    const char *p;
    size_t len;
    ssize_t w;
    if (c->poff < c->plen) {
      p = c->pend + c->poff;
      len = c->plen - c->poff;
    } else {
      size_t n = 0;
      free(c->pend);
      c->pend = NULL;
      c->plen = c->poff = 0;
      while ((o->msgs == 0 || c->next <= o->msgs) &&
             n + 128 + (size_t)o->width + strlen(o->tag) < CHUNK) {
        n += gen_msg(scratch + n, o->tag, k, c->next, o->width);
        c->next++;
        c->sent++;
      }
      if (n == 0) return; /* all sent */
      p = scratch;
      len = n;
    }
    w = write(c->fd, p, len);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR) w = 0;
      else {
        c->wr_closed = 1; /* reset: keep reading what acks remain */
        c->broken = 1;
        return;
      }
    }
    if (p != scratch) {
      c->poff += (size_t)w;
    } else if ((size_t)w < len) {
      c->pend = malloc(len - (size_t)w);
      if (c->pend == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(2);
      }
      memcpy(c->pend, p + w, len - (size_t)w);
      c->plen = len - (size_t)w;
      c->poff = 0;
    }
    if ((size_t)w < len) return; /* socket full */
  }
}

static int all_written(const struct conn *c, const struct opts *o) {
  return o->msgs != 0 && c->next > o->msgs && c->poff >= c->plen;
}

/* Parse ack lines; returns 0, or -1 at EOF or on an error. */
static int do_read(struct conn *c, long k, const struct opts *o) {
  char buf[4096];
  for (;;) {
    ssize_t n = read(c->fd, buf, sizeof(buf));
    if (n == 0) return -1;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return 0;
      c->broken = 1;
      return -1;
    }
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] != '\n') {
        if (c->llen < sizeof(c->line) - 1) c->line[c->llen++] = buf[i];
        continue;
      }
      c->line[c->llen] = '\0';
      c->llen = 0;
      char *end;
      unsigned long long v;
      if (strncmp(c->line, "OK ", 3) != 0 ||
          (v = strtoull(c->line + 3, &end, 10), *end != '\0')) {
        fprintf(stderr, "loadgen: %s conn %ld: unexpected reply '%s'\n",
                o->tag, k, c->line);
        protocol_errors++;
        continue;
      }
      if (v < c->acked || v > c->sent) {
        fprintf(stderr,
                "loadgen: %s conn %ld: OK %llu after OK %llu with %llu "
                "sent\n",
                o->tag, k, v, (unsigned long long)c->acked,
                (unsigned long long)c->sent);
        protocol_errors++;
      }
      if (v > c->acked) c->acked = v;
    }
  }
}

static void write_status(const char *path, const struct conn *cs, long n) {
  uint64_t sent = 0, acked = 0;
  long open = 0;
  char tmp[4096];
  FILE *f;
  for (long i = 0; i < n; i++) {
    sent += cs[i].sent;
    acked += cs[i].acked;
    open += cs[i].state == ST_OPEN;
  }
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  f = fopen(tmp, "w");
  if (f == NULL) return;
  fprintf(f, "sent=%llu acked=%llu open=%ld\n", (unsigned long long)sent,
          (unsigned long long)acked, open);
  fclose(f);
  rename(tmp, path);
}

int main(int argc, char **argv) {
  struct opts o = {"127.0.0.1", NULL, NULL, NULL, NULL, 0, 1, 256, 0, 40, 0};
  struct sockaddr_in sa;
  struct conn *cs;
  struct pollfd *pfd;
  long *idx;
  char *scratch;
  long started = 0, done = 0;
  int holding = 0, released = 0;
  uint64_t last_status = 0;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--lossy") == 0) { o.lossy = 1; continue; }
    if (v == NULL) usage();
    i++;
    if (strcmp(a, "--host") == 0) o.host = v;
    else if (strcmp(a, "--port") == 0) o.port = atoi(v);
    else if (strcmp(a, "--tag") == 0) o.tag = v;
    else if (strcmp(a, "--conns") == 0) o.conns = atol(v);
    else if (strcmp(a, "--msgs") == 0) o.msgs = strtoull(v, NULL, 10);
    else if (strcmp(a, "--width") == 0) o.width = atol(v);
    else if (strcmp(a, "--ramp") == 0) o.ramp = atol(v);
    else if (strcmp(a, "--report") == 0) o.report = v;
    else if (strcmp(a, "--status") == 0) o.status = v;
    else if (strcmp(a, "--hold") == 0) o.hold = v;
    else usage();
  }
  if (o.port <= 0 || o.tag == NULL || o.conns < 1 || o.width < 0 ||
      o.width > 4096 || o.ramp < 1 || strlen(o.tag) > 64 ||
      (o.hold && o.msgs == 0))
    usage();
  signal(SIGPIPE, SIG_IGN);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)o.port);
  if (inet_pton(AF_INET, o.host, &sa.sin_addr) != 1) usage();

  cs = calloc((size_t)o.conns, sizeof(*cs));
  pfd = calloc((size_t)o.conns, sizeof(*pfd));
  idx = calloc((size_t)o.conns, sizeof(*idx));
  scratch = malloc(CHUNK);
  if (!cs || !pfd || !idx || !scratch) return 2;
  for (long i = 0; i < o.conns; i++) {
    cs[i].fd = -1;
    cs[i].next = 1;
  }

  while (done < o.conns) {
    long connecting = 0, np = 0, all_acked = 1;
    for (long i = 0; i < o.conns; i++)
      connecting += cs[i].state == ST_CONNECTING;
    while (started < o.conns && connecting < o.ramp) {
      start_connect(&cs[started], &sa);
      if (cs[started].state == ST_DONE) done++;
      else connecting++;
      started++;
    }
    for (long i = 0; i < o.conns; i++) {
      struct conn *c = &cs[i];
      if (c->state == ST_DONE || c->state == ST_IDLE) {
        if (c->state == ST_IDLE || c->broken || o.msgs == 0 ||
            c->acked < o.msgs)
          all_acked = 0;
        continue;
      }
      if (o.msgs == 0 || c->acked < o.msgs) all_acked = 0;
      if (c->state == ST_OPEN && !c->wr_closed && all_written(c, &o) &&
          (o.hold == NULL || released)) {
        shutdown(c->fd, SHUT_WR);
        c->wr_closed = 1;
      }
      pfd[np].fd = c->fd;
      pfd[np].events = c->state == ST_CONNECTING ? POLLOUT : POLLIN;
      if (c->state == ST_OPEN && !c->wr_closed && !all_written(c, &o))
        pfd[np].events |= POLLOUT;
      pfd[np].revents = 0;
      idx[np++] = i;
    }
    if (o.hold && !holding && all_acked && started == o.conns) {
      holding = 1;
      printf("all-acked\n");
      fflush(stdout);
    }
    if (holding && !released && access(o.hold, F_OK) == 0) {
      released = 1;
      continue; /* half-close everything on the next pass */
    }
    if (o.status && now_ms() - last_status >= 100) {
      write_status(o.status, cs, o.conns);
      last_status = now_ms();
    }
    if (np == 0) continue;
    if (poll(pfd, (nfds_t)np, 50) < 0) {
      if (errno == EINTR) continue;
      perror("loadgen: poll");
      return 2;
    }
    for (long j = 0; j < np; j++) {
      long i = idx[j];
      struct conn *c = &cs[i];
      if (pfd[j].revents == 0) continue;
      if (c->state == ST_CONNECTING) {
        int e = 0;
        socklen_t el = sizeof(e);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el);
        if (e != 0) {
          close_conn(c, 1);
          done++;
          continue;
        }
        c->state = ST_OPEN;
      }
      if (pfd[j].revents & (POLLIN | POLLHUP | POLLERR)) {
        if (do_read(c, i + 1, &o) < 0) {
          int complete = o.msgs != 0 && c->acked == o.msgs && !c->broken;
          close_conn(c, !complete);
          done++;
          continue;
        }
      }
      if ((pfd[j].revents & POLLOUT) && !c->wr_closed)
        do_write(c, i + 1, &o, scratch);
    }
  }
  if (o.status) write_status(o.status, cs, o.conns);

  {
    uint64_t sent = 0, acked = 0;
    long complete = 0, broken = 0;
    int rc = 0;
    FILE *rep = o.report ? fopen(o.report, "w") : NULL;
    if (o.report && rep == NULL) {
      perror("loadgen: report");
      return 2;
    }
    for (long i = 0; i < o.conns; i++) {
      sent += cs[i].sent;
      acked += cs[i].acked;
      if (cs[i].broken) broken++;
      else complete++;
      if (rep)
        fprintf(rep, "%s %ld %llu %llu %s\n", o.tag, i + 1,
                (unsigned long long)cs[i].sent,
                (unsigned long long)cs[i].acked,
                cs[i].broken ? "broken" : "complete");
    }
    if (rep) fclose(rep);
    printf("conns=%ld complete=%ld broken=%ld sent=%llu acked=%llu "
           "protocol_errors=%llu\n",
           o.conns, complete, broken, (unsigned long long)sent,
           (unsigned long long)acked, (unsigned long long)protocol_errors);
    if (protocol_errors > 0 || (!o.lossy && broken > 0)) rc = 1;
    free(cs);
    free(pfd);
    free(idx);
    free(scratch);
    return rc;
  }
}
