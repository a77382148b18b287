/*
 * stub_resolver.c -- getaddrinfo()/freeaddrinfo() for the fuzz targets and
 * their replay driver: "localhost" is 127.0.0.1 and ::1, every other name
 * does not exist.  Linked into the target executables, these definitions
 * take the place of libc's, so a host name the fuzzer invents never waits
 * on DNS (the machine may have no network) and every run is reproducible.
 * Single-threaded use only, like the targets.
 */
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct stub_ai {
  struct addrinfo ai;
  struct sockaddr_in6 sa; /* large enough for either family */
};

static struct addrinfo *stub_entry(int family) {
  struct stub_ai *e = calloc(1, sizeof(*e));
  if (e == NULL) return NULL;
  e->ai.ai_family = family;
  e->ai.ai_socktype = SOCK_STREAM;
  e->ai.ai_addr = (struct sockaddr *)&e->sa;
  if (family == AF_INET) {
    struct sockaddr_in *in4 = (struct sockaddr_in *)(void *)&e->sa;
    in4->sin_family = AF_INET;
    in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    e->ai.ai_addrlen = sizeof(*in4);
  } else {
    e->sa.sin6_family = AF_INET6;
    e->sa.sin6_addr = in6addr_loopback;
    e->ai.ai_addrlen = sizeof(e->sa);
  }
  return &e->ai;
}

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res) {
  int family = hints ? hints->ai_family : AF_UNSPEC;
  struct addrinfo *head = NULL, **tail = &head;
  (void)service;
  *res = NULL;
  if (node == NULL || strcmp(node, "localhost") != 0) return EAI_NONAME;
  if (family == AF_UNSPEC || family == AF_INET) {
    *tail = stub_entry(AF_INET);
    if (*tail == NULL) return EAI_MEMORY;
    tail = &(*tail)->ai_next;
  }
  if (family == AF_UNSPEC || family == AF_INET6) {
    *tail = stub_entry(AF_INET6);
    if (*tail == NULL) {
      freeaddrinfo(head);
      return EAI_MEMORY;
    }
  }
  *res = head;
  return 0;
}

void freeaddrinfo(struct addrinfo *ai) {
  while (ai != NULL) {
    struct addrinfo *next = ai->ai_next;
    free(ai); /* the struct stub_ai it starts */
    ai = next;
  }
}
