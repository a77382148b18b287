/*
 * acl.h -- which peers may connect: the --allow CIDR list.
 *
 * Design: a fixed-size array of (family, address, prefix length) rules,
 * filled at start-up by the command-line parser and read-only afterwards,
 * so the loop thread checks peers without locks or allocation.  An empty
 * list allows every peer (the default: burstqd listens on loopback only).
 *
 * Matching: an IPv4 peer matches IPv4 rules; an IPv6 peer matches IPv6
 * rules, and an IPv4-mapped IPv6 peer (::ffff:a.b.c.d, which a socket
 * bound to [::] reports for IPv4 clients) also matches IPv4 rules, so
 * "--allow 10.0.0.0/8" means the same whatever the listener's family.
 */
#ifndef BQ_ACL_H
#define BQ_ACL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Most --allow rules accepted. */
#define BQ_ACL_MAX 64

struct bq_acl_rule {
  int family;         /* AF_INET or AF_INET6 */
  unsigned prefix;    /* 0..32 or 0..128 */
  uint8_t addr[16];   /* network address, host bits cleared */
};

struct bq_acl {
  size_t n;
  struct bq_acl_rule rules[BQ_ACL_MAX];
};

/* Empty the list (everyone allowed). */
void bq_acl_init(struct bq_acl *acl);

/* Add one rule: "ADDR/PREFIX" or a bare "ADDR" (a single host), IPv4
 * dotted quad or IPv6 (with or without [brackets]).  Host bits set in ADDR
 * are an error ("10.0.0.1/8" is almost always a typo for a host).
 * Returns 0, -EINVAL for a malformed rule, or -ENOSPC when BQ_ACL_MAX rules
 * are already there. */
int bq_acl_add(struct bq_acl *acl, const char *cidr);

/* 1 when a peer at sa may connect, else 0.  An empty list allows all;
 * families other than IPv4/IPv6 are allowed only by an empty list. */
int bq_acl_allows(const struct bq_acl *acl, const struct sockaddr *sa);

/* Print rule i as "ADDR/PREFIX" into buf; returns 0 or -EINVAL. */
int bq_acl_format(const struct bq_acl *acl, size_t i, char *buf,
                  size_t size);

#endif /* BQ_ACL_H */
