/*
 * commands.h -- the burstq subcommands and their shared exit codes.
 *
 * Design: each subcommand lives in its own file (send.c, bench.c, ...) and
 * exports one entry point with the signature of struct bq_cmd's run.  It is
 * called with argv[0] = the command's name, so getopt_long works as in a
 * program of its own, and it prints its own help on -h/--help (which is
 * what `burstq help NAME` runs).  main.c holds the table: adding a command
 * is one declaration here and one line there.  Main thread only.
 */
#ifndef BQ_COMMANDS_H
#define BQ_COMMANDS_H

/* Exit codes shared by every subcommand (documented in `burstq --help`). */
enum bq_exit {
  BQ_EXIT_OK = 0,        /* everything sent was committed */
  BQ_EXIT_REJECTED = 1,  /* the daemon rejected lines (ERR too-long), or a
                            check failed (bench: lost/duplicated messages) */
  BQ_EXIT_USAGE = 2,     /* bad command line */
  BQ_EXIT_CONNECT = 3,   /* cannot resolve or connect to the daemon */
  BQ_EXIT_REFUSED = 4,   /* the daemon refused the connection (ERR ...) */
  BQ_EXIT_TIMEOUT = 5,   /* --timeout passed before the final ack */
  BQ_EXIT_LOST = 6       /* the connection was lost before everything was
                            committed */
};

struct bq_cmd {
  const char *name;    /* as typed: burstq NAME ... */
  const char *summary; /* one line for `burstq --help` */
  int (*run)(int argc, char **argv);
};

int bq_cmd_send(int argc, char **argv);
int bq_cmd_bench(int argc, char **argv);
int bq_cmd_stats(int argc, char **argv);

#endif /* BQ_COMMANDS_H */
