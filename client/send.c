/* send.c -- burstq send (being written; this placeholder only keeps the tree building). */
#include <stdio.h>
#include <string.h>

#include "commands.h"

int bq_cmd_send(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
    printf("usage: burstq send ...\n");
    return BQ_EXIT_OK;
  }
  fprintf(stderr, "burstq send: not available in this build\n");
  return BQ_EXIT_USAGE;
}
