/*
 * acl.c -- see acl.h.  Start-up thread fills the list; the loop thread
 * reads it.  No allocation, no locks.
 */
#include "acl.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bq_acl_init(struct bq_acl *acl) { memset(acl, 0, sizeof(*acl)); }

/* 1 when the first `prefix` bits of a and b are equal. */
static int prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix) {
  unsigned full = prefix / 8, rest = prefix % 8;
  if (memcmp(a, b, full) != 0) return 0;
  if (rest == 0) return 1;
  uint8_t mask = (uint8_t)(0xFFu << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

/* 1 when any bit after the first `prefix` of addr (len bytes) is set. */
static int host_bits_set(const uint8_t *addr, size_t len, unsigned prefix) {
  for (size_t bit = prefix; bit < len * 8; bit++)
    if (addr[bit / 8] & (0x80u >> (bit % 8))) return 1;
  return 0;
}

int bq_acl_add(struct bq_acl *acl, const char *cidr) {
  char host[64];
  const char *slash;
  size_t hlen;
  struct bq_acl_rule r;
  unsigned maxp;

  if (cidr == NULL || *cidr == '\0') return -EINVAL;
  if (acl->n >= BQ_ACL_MAX) return -ENOSPC;
  slash = strchr(cidr, '/');
  hlen = slash ? (size_t)(slash - cidr) : strlen(cidr);
  if (hlen == 0 || hlen >= sizeof(host)) return -EINVAL;
  memcpy(host, cidr, hlen);
  host[hlen] = '\0';
  if (host[0] == '[') { /* [v6] and [v6]/n */
    if (hlen < 3 || host[hlen - 1] != ']') return -EINVAL;
    memmove(host, host + 1, hlen - 2);
    host[hlen - 2] = '\0';
  }
  memset(&r, 0, sizeof(r));
  if (inet_pton(AF_INET, host, r.addr) == 1) {
    r.family = AF_INET;
    maxp = 32;
  } else if (inet_pton(AF_INET6, host, r.addr) == 1) {
    r.family = AF_INET6;
    maxp = 128;
  } else {
    return -EINVAL;
  }
  r.prefix = maxp;
  if (slash) {
    const char *p = slash + 1;
    unsigned long v = 0;
    if (*p < '0' || *p > '9') return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
      v = v * 10 + (unsigned long)(*p - '0');
      if (v > maxp) return -EINVAL;
    }
    if (*p != '\0') return -EINVAL;
    r.prefix = (unsigned)v;
  }
  if (host_bits_set(r.addr, maxp / 8, r.prefix)) return -EINVAL;
  acl->rules[acl->n++] = r;
  return 0;
}

int bq_acl_allows(const struct bq_acl *acl, const struct sockaddr *sa) {
  uint8_t v4[4], v6[16];
  int have4 = 0, have6 = 0;

  if (acl->n == 0) return 1;
  if (sa->sa_family == AF_INET) {
    memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    have4 = 1;
  } else if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    memcpy(v6, a, 16);
    have6 = 1;
    if (IN6_IS_ADDR_V4MAPPED(a)) {
      memcpy(v4, v6 + 12, 4);
      have4 = 1;
    }
  } else {
    return 0;
  }
  for (size_t i = 0; i < acl->n; i++) {
    const struct bq_acl_rule *r = &acl->rules[i];
    if (r->family == AF_INET && have4 && prefix_equal(r->addr, v4, r->prefix))
      return 1;
    if (r->family == AF_INET6 && have6 &&
        prefix_equal(r->addr, v6, r->prefix))
      return 1;
  }
  return 0;
}

int bq_acl_format(const struct bq_acl *acl, size_t i, char *buf,
                  size_t size) {
  char a[INET6_ADDRSTRLEN];
  const struct bq_acl_rule *r;
  if (i >= acl->n) return -EINVAL;
  r = &acl->rules[i];
  if (inet_ntop(r->family, r->addr, a, sizeof(a)) == NULL) return -EINVAL;
  if ((size_t)snprintf(buf, size, "%s/%u", a, r->prefix) >= size)
    return -EINVAL;
  return 0;
}
