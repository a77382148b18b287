/*
 * addr.h -- parsing and printing "HOST:PORT" socket addresses.
 *
 * Design: plain functions over struct sockaddr_storage, shared by the
 * daemon's --listen flag and the client's -H flag.  Thread-agnostic; parsing
 * may call getaddrinfo() (blocking) for names such as "localhost", so it is
 * meant for start-up, not for the event loop.
 *
 * Accepted forms: "1.2.3.4:7070", "[::1]:7070", "localhost:7070",
 * ":7070" (IPv4 any), and "host" alone when a default port is given.
 * The port must be 0..65535; 0 asks the kernel for a free port when
 * listening.
 */
#ifndef BQ_ADDR_H
#define BQ_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Longest string bq_addr_format() produces, with its NUL. */
#define BQ_ADDR_STRLEN 64

/* Parse s into *out.  default_port is used when s has no ":PORT" (pass -1 to
 * require one).  Returns 0, -EINVAL for a malformed string or port, -ERANGE
 * for a port of digits above 65535, or -ENOENT when the host name does not
 * resolve.  Whether port 0 makes sense (listen: yes, connect: no) is the
 * caller's to decide. */
int bq_addr_parse(const char *s, int default_port,
                  struct sockaddr_storage *out);

/* The port of an IPv4 or IPv6 address (host order), or -1 for another
 * family. */
int bq_addr_port(const struct sockaddr_storage *ss);

/* Print sa as "1.2.3.4:7070" or "[::1]:7070" into buf (size >= 1).
 * Returns 0, or -EAFNOSUPPORT for a family other than IPv4/IPv6 (buf then
 * holds "?"). */
int bq_addr_format(const struct sockaddr *sa, char *buf, size_t size);

#endif /* BQ_ADDR_H */
