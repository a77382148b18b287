/*
 * main.c -- burstq: the command-line client.  Dispatches to a subcommand
 * from the table below; owns nothing else.  Main thread only.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "units.h"

#ifndef BQ_CLIENT_VERSION
#define BQ_CLIENT_VERSION "unknown"
#endif

/* One line per subcommand; keep them in the order `burstq --help` shows. */
static const struct bq_cmd cmds[] = {
    {"send", "send messages, wait until each one is committed", bq_cmd_send},
    {"bench", "load-test the daemon and prove nothing was lost", bq_cmd_bench},
    {"stats", "summarise a burstqd's metrics (its --metrics address)", bq_cmd_stats},
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void usage(FILE *out) {
  size_t i;
  fprintf(out,
          "usage: burstq COMMAND [OPTIONS] [ARGS]\n"
          "       burstq help COMMAND | --help | --version\n"
          "\n"
          "A client for burstqd, the message-ingest daemon (one message per\n"
          "line over TCP; the daemon answers \"OK n\" once n messages of the\n"
          "connection are committed to SQLite).\n"
          "\n"
          "Commands:\n");
  for (i = 0; i < NCMDS; i++)
    fprintf(out, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
  fprintf(out,
          "\n"
          "Every command takes -H HOST:PORT: send and bench talk to the\n"
          "daemon's --listen address (default $BURSTQ_HOST, else\n"
          "127.0.0.1:7070), stats to its --metrics address (default\n"
          "$BURSTQ_METRICS, else 127.0.0.1:9070).  send and bench take\n"
          "--token-file FILE (or $BURSTQ_TOKEN_FILE) for a daemon started with\n"
          "--auth-token-file.  `burstq help COMMAND` explains its options.\n"
          "\n"
          BQ_UNITS_HELP
          "\n"
          "Examples:\n"
          "  burstq send 'hello' 'world'            two messages, wait for the commit\n"
          "  seq 1 1000 | burstq send -H [::1]:7070  stdin lines as messages\n"
          "  burstq send --producer web1 < access.log\n"
          "                                         exactly once: resend at will\n"
          "  burstq bench -c 4 -n 1000000 -s 100     1M messages of 100 bytes, 4 conns\n"
          "  burstq bench -c 64 -n 200000 --db burstq.db --json\n"
          "                                         and check every row in the database\n"
          "  burstq send -T ~/.config/burstq/token 'hello'\n"
          "                                         to a daemon that wants AUTH <token>\n"
          "  burstq stats -H 127.0.0.1:9070         what the daemon is doing\n"
          "\n"
          "Exit status:\n"
          "  0  ok: every message sent was committed (bench: and checked)\n"
          "  1  the daemon rejected lines (ERR too-long), or bench found lost,\n"
          "     duplicated or misordered messages\n"
          "  2  usage error\n"
          "  3  cannot resolve or connect to the daemon\n"
          "  4  refused by the daemon: ERR too-many-connections (--max-connections),\n"
          "     ERR denied (--allow), ERR auth (no or wrong --token-file),\n"
          "     ERR idle (--idle-timeout), or ERR fenced (send --producer: another\n"
          "     sender took the id)\n"
          "  5  --timeout passed before everything was committed\n"
          "  6  connection lost before everything was committed\n");
}

static const struct bq_cmd *find_cmd(const char *name) {
  size_t i;
  for (i = 0; i < NCMDS; i++)
    if (strcmp(cmds[i].name, name) == 0) return &cmds[i];
  return NULL;
}

static int unknown(const char *name) {
  fprintf(stderr,
          "burstq: '%s' is not a command\n"
          "Try 'burstq --help' for the list of commands.\n",
          name);
  return BQ_EXIT_USAGE;
}

int main(int argc, char **argv) {
  const struct bq_cmd *cmd;
  const char *name;

  if (argc < 2) {
    usage(stderr);
    return BQ_EXIT_USAGE;
  }
  name = argv[1];
  if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
    usage(stdout);
    return BQ_EXIT_OK;
  }
  if (strcmp(name, "-V") == 0 || strcmp(name, "--version") == 0) {
    printf("burstq %s\n", BQ_CLIENT_VERSION);
    return BQ_EXIT_OK;
  }
  if (strcmp(name, "help") == 0) {
    char *hargv[3];
    if (argc < 3) {
      usage(stdout);
      return BQ_EXIT_OK;
    }
    cmd = find_cmd(argv[2]);
    if (cmd == NULL) return unknown(argv[2]);
    hargv[0] = argv[2];
    hargv[1] = (char *)"--help";
    hargv[2] = NULL;
    return cmd->run(2, hargv);
  }
  cmd = find_cmd(name);
  if (cmd == NULL) return unknown(name);
  return cmd->run(argc - 1, argv + 1);
}
