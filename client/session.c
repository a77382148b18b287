/*
 * session.c -- see session.h.  No state of its own.
 */
#include "session.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "opts.h"
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
    case BQ_REPLY_RESUME:
      *n = r.n;
      return BQ_SESSION_RESUME;
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

/* ---- TLS ---------------------------------------------------------- */

int bq_session_tls_opt(struct bq_session_tls *t, int opt, const char *arg) {
  switch (opt) {
    case BQ_SESSION_OPT_TLS: t->on = 1; return 1;
    case BQ_SESSION_OPT_TLS_CA: t->ca = arg; return 1;
    case BQ_SESSION_OPT_TLS_CERT: t->cert = arg; return 1;
    case BQ_SESSION_OPT_TLS_KEY: t->key = arg; return 1;
    default: return 0;
  }
}

int bq_session_tls_check(struct bq_session_tls *t, const char *host,
                         char *err, size_t errlen) {
  const char *s;
  t->name[0] = '\0';
  if (!t->on) {
    /* Without --tls these would be ignored, and the bytes go out in the
     * clear: say so rather than guess. */
    const char *which = t->ca ? "--tls-ca" : t->cert ? "--tls-cert"
                        : t->key ? "--tls-key" : NULL;
    if (which) {
      snprintf(err, errlen, "%s needs --tls", which);
      return -EINVAL;
    }
    return 0;
  }
  if ((t->cert == NULL) != (t->key == NULL)) {
    snprintf(err, errlen, "%s needs %s (a client certificate and its key)",
             t->cert ? "--tls-cert" : "--tls-key",
             t->cert ? "--tls-key" : "--tls-cert");
    return -EINVAL;
  }
  if (t->ca == NULL) {
    const char *env = getenv("BURSTQ_TLS_CA");
    if (env != NULL && *env != '\0') t->ca = env;
  }
  s = bq_opt_host_string(host);
  if (bq_opt_host_name(s, t->name, sizeof(t->name)) < 0) {
    snprintf(err, errlen, "--tls: the host in '%s' is too long", s);
    return -EINVAL;
  }
  if (t->name[0] == '\0') {
    snprintf(err, errlen,
             "--tls: '%s' names no host to verify the certificate against "
             "(give -H NAME:PORT)", s);
    return -EINVAL;
  }
  return 0;
}

int bq_session_tls_ctx(const char *cmd, const struct bq_session_tls *t,
                       struct bq_tls_ctx **out) {
  struct bq_tls_ctx_opts o;
  char err[512];
  memset(&o, 0, sizeof(o));
  o.server = 0;
  o.cert = t->cert;
  o.key = t->key;
  o.ca = t->ca;
  o.verify_name = t->name;
  err[0] = '\0';
  if (bq_tls_ctx_new(out, &o, err, sizeof(err)) < 0) {
    fprintf(stderr, "burstq %s: --tls: %s\n", cmd,
            err[0] ? err : "cannot set up TLS");
    return -1;
  }
  return 0;
}

int bq_session_tls_input(struct bq_tls *t, const char *data, size_t len,
                         struct bq_framer *f, bq_frame_cb cb, void *arg) {
  char pt[16384];
  int r;
  if (len > 0 && bq_tls_feed(t, data, len) < 0) return -ENOMEM;
  for (;;) {
    r = bq_tls_read(t, pt, sizeof(pt));
    if (r > 0) {
      bq_framer_feed(f, pt, (size_t)r, cb, arg);
      continue;
    }
    if (r == 0) return BQ_SESSION_TLS_MORE;
    if (r == BQ_TLS_EOF) {
      bq_framer_finish(f, cb, arg);
      return BQ_SESSION_TLS_CLOSED;
    }
    return r;
  }
}

void bq_session_tls_reason(const struct bq_tls *t, int err,
                           int handshake_done, int have_cert, char *buf,
                           size_t cap) {
  const char *why = err < 0 ? bq_tls_error(t) : NULL;
  if (err == -ENOMEM) {
    snprintf(buf, cap, "TLS: out of memory");
  } else if (err < 0) {
    /* The engine's reason names TLS ("TLS handshake failed: certificate
     * verify failed: ...", "not TLS: ..."); TLS 1.3 checks our
     * certificate after our side of the handshake is done, so the
     * daemon's refusal of it comes as an alert on the first read. */
    if (why == NULL || *why == '\0') why = "error";
    snprintf(buf, cap, "%s%s",
             strstr(why, "TLS") ? "" : handshake_done ? "TLS: "
                                                      : "TLS handshake failed: ",
             why);
  } else if (!handshake_done) {
    /* A daemon closes a TLS connection it refuses before the handshake
     * (--allow, --max-connections) without a word. */
    snprintf(buf, cap,
             "the daemon closed the connection during the TLS handshake "
             "(not a --listen ...,tls listener?%s refused by its --allow or "
             "--max-connections?)",
             have_cert ? "" : " wants a client certificate (--tls-cert, "
                              "--tls-key)?");
  } else {
    snprintf(buf, cap, "the daemon closed the connection");
  }
}
