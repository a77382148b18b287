/*
 * addr.c -- see addr.h.  Stateless; start-up code on any thread.
 */

#include "addr.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Digits only; a number above 65535 is -ERANGE (a port, but not one that
 * exists), anything else that is not digits -EINVAL. */
static int parse_port(const char *s, int *port) {
  char *end;
  long v;
  if (*s < '0' || *s > '9') return -EINVAL;
  errno = 0;
  v = strtol(s, &end, 10);
  if (*end != '\0') return -EINVAL;
  if (errno == ERANGE || v > 65535) return -ERANGE;
  assert(errno == 0 && v >= 0);
  *port = (int)v;
  return 0;
}

int bq_addr_parse(const char *s, int default_port,
                  struct sockaddr_storage *out) {
  char host[256];
  const char *colon;
  int port = default_port;
  size_t hlen;
  struct addrinfo hints, *res = NULL;
  int r;

  if (s == NULL || *s == '\0') return -EINVAL;
  if (s[0] == '[') { /* [v6]:port or [v6] */
    const char *close = strchr(s, ']');
    if (close == NULL) return -EINVAL;
    hlen = (size_t)(close - s - 1);
    if (hlen == 0 || hlen >= sizeof(host)) return -EINVAL;
    memcpy(host, s + 1, hlen);
    host[hlen] = '\0';
    if (strchr(host, ':') == NULL) return -EINVAL; /* brackets are for v6 */
    if (close[1] == ':') {
      r = parse_port(close + 2, &port);
      if (r < 0) return r;
    } else if (close[1] != '\0') {
      return -EINVAL;
    }
  } else {
    colon = strrchr(s, ':');
    if (colon != NULL && strchr(s, ':') != colon)
      return -EINVAL; /* bare IPv6 needs brackets to carry a port */
    if (colon != NULL) {
      r = parse_port(colon + 1, &port);
      if (r < 0) return r;
      hlen = (size_t)(colon - s);
    } else {
      hlen = strlen(s);
    }
    if (hlen >= sizeof(host)) return -EINVAL;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (hlen == 0) strcpy(host, "0.0.0.0");
  }
  if (port < 0) return -EINVAL;

  memset(out, 0, sizeof(*out));
  {
    struct sockaddr_in *in4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
      in4->sin_family = AF_INET;
      in4->sin_port = htons((uint16_t)port);
      return 0;
    }
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons((uint16_t)port);
      return 0;
    }
  }
  for (const char *c = host; *c; c++) { /* a DNS name: letters, digits, .- */
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
          (*c >= '0' && *c <= '9') || *c == '.' || *c == '-'))
      return -EINVAL;
  }
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  r = getaddrinfo(host, NULL, &hints, &res);
  if (r != 0 || res == NULL) return -ENOENT;
  memset(out, 0, sizeof(*out));
  memcpy(out, res->ai_addr, res->ai_addrlen);
  if (res->ai_family == AF_INET)
    ((struct sockaddr_in *)out)->sin_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)port);
  freeaddrinfo(res);
  return 0;
}

int bq_addr_port(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
  if (ss->ss_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
  return -1;
}

int bq_addr_format(const struct sockaddr *sa, char *buf, size_t size) {
  char ip[INET6_ADDRSTRLEN];
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip));
    snprintf(buf, size, "%s:%u", ip, (unsigned)ntohs(in4->sin_port));
    return 0;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
    snprintf(buf, size, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    return 0;
  }
  snprintf(buf, size, "?");
  return -EAFNOSUPPORT;
}
