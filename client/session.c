/*
 * session.c -- see session.h.  No state of its own.
 */
#include "session.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "proto.h"

int bq_session_connect(const struct sockaddr_storage *ss, int timeout_ms,
                       int nodelay) {
  socklen_t sl = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                           : sizeof(struct sockaddr_in);
  uint64_t end = bq_now_ms() + (uint64_t)timeout_ms;
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1, soerr = 0, e;
  socklen_t el = sizeof(soerr);

  if (fd < 0) return -errno;
  if (nodelay) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, (const struct sockaddr *)ss, sl) == 0) return fd;
  if (errno != EINPROGRESS) {
    e = errno;
    close(fd);
    return -e;
  }
  for (;;) {
    struct pollfd p = {fd, POLLOUT, 0};
    uint64_t now = bq_now_ms();
    int r;
    if (now >= end) {
      close(fd);
      return -ETIMEDOUT;
    }
    r = poll(&p, 1, (int)(end - now));
    if (r > 0) break;
    if (r < 0 && errno != EINTR) {
      e = errno;
      close(fd);
      return -e;
    }
  }
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el) != 0) soerr = errno;
  if (soerr != 0) {
    close(fd);
    return -soerr;
  }
  return fd;
}

int bq_session_load_token(const char *cmd, const char *path,
                          struct bq_token *t) {
  char warn[512], err[512];
  t->len = 0;
  if (path == NULL) return 0;
  if (bq_token_load(t, path, warn, sizeof(warn), err, sizeof(err)) < 0) {
    fprintf(stderr, "burstq %s: %s\n", cmd, err);
    return -1;
  }
  if (warn[0]) fprintf(stderr, "burstq %s: %s\n", cmd, warn);
  return 0;
}

int bq_session_reply(struct bq_session_replies *s, int frame_kind,
                     const char *data, size_t len, uint64_t *n) {
  struct bq_proto_reply r;
  if (frame_kind != BQ_FRAME_MSG) { /* longer than any reply */
    s->bad++;
    return BQ_SESSION_BAD;
  }
  switch (bq_proto_parse_reply(data, len, &r)) {
    case BQ_REPLY_OK:
      *n = r.n;
      return BQ_SESSION_ACK;
    case BQ_REPLY_ERR:
      if (r.err == BQ_ERR_TOO_LONG) {
        s->rejected++;
        return BQ_SESSION_REJECTED;
      }
      if (s->refused++ == 0) {
        s->refusal = r.err;
        snprintf(s->refusal_text, sizeof(s->refusal_text), "ERR %s",
                 r.reason);
      }
      return BQ_SESSION_REFUSED;
    default:
      if (s->bad++ == 0)
        snprintf(s->bad_text, sizeof(s->bad_text), "%.*s",
                 (int)(len > 80 ? 80 : len), data);
      return BQ_SESSION_BAD;
  }
}

void bq_session_auth_failed(const char *cmd, const char *where,
                            int with_token) {
  fprintf(stderr, "burstq %s: authentication failed (ERR auth): %s %s\n",
          cmd, where,
          with_token ? "did not accept the token (is it the daemon's "
                       "--auth-token-file?)"
                     : "requires a token: use --token-file FILE or "
                       "$BURSTQ_TOKEN_FILE");
}

void bq_session_auth_stored(const char *cmd, const char *where,
                            unsigned conns) {
  char on[64] = "";
  if (conns > 0)
    snprintf(on, sizeof(on), " on %u connection%s", conns,
             conns == 1 ? "" : "s");
  fprintf(stderr,
          "burstq %s: warning: %s does not require a token and stored the "
          "AUTH line as a message%s: the token is now in its database "
          "(delete %s and change the token, or drop --token-file)\n",
          cmd, where, on, conns > 0 ? "those rows" : "that row");
}
