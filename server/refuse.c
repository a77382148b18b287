/*
 * refuse.c -- see refuse.h.  The loop thread.
 */
#include "refuse.h"

#include <sys/socket.h>

void bq_refuse_line(uv_tcp_t *t, const char *line, size_t len) {
  char junk[4096];
  uv_os_fd_t fd;

  if (uv_fileno((uv_handle_t *)t, &fd) == 0) {
    for (size_t got = 0; got < BQ_REFUSE_DISCARD; got += sizeof(junk))
      if (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) <= 0) break;
  }
  if (line != NULL) {
    uv_buf_t b = uv_buf_init((char *)line, (unsigned)len);
    uv_try_write((uv_stream_t *)t, &b, 1);
  }
  if (uv_fileno((uv_handle_t *)t, &fd) == 0) shutdown(fd, SHUT_WR);
}
