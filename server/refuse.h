/*
 * refuse.h -- telling a TCP peer in one line why it is being closed.
 *
 * Design: closing a socket with unread input makes the kernel send a reset
 * instead of a FIN, and a reset can destroy a reply the peer has not read
 * yet.  So bq_refuse_line() first reads and discards what the peer has
 * already sent (at most BQ_REFUSE_DISCARD bytes, never blocking), then
 * writes the line with one non-blocking write, then sends FIN
 * (shutdown(SHUT_WR)).  The caller closes the handle afterwards.  Best
 * effort: a full send buffer means the line is not sent, and input that
 * arrives after the discard can still cause a reset.  conn.c refuses
 * clients with its ERR lines this way, http.c with the 503 of a full
 * metrics server.
 *
 * Threads: the loop thread that owns the handle.
 */
#ifndef BQ_REFUSE_H
#define BQ_REFUSE_H

#include <stddef.h>
#include <uv.h>

/* Input discarded before the line, at most (one 4 KiB read at a time). */
#define BQ_REFUSE_DISCARD (16 * 4096)

/* Discard t's pending input, write line (len bytes; none when line is NULL,
 * as when a write of the caller's is still in flight), then half-close. */
void bq_refuse_line(uv_tcp_t *t, const char *line, size_t len);

#endif /* BQ_REFUSE_H */
