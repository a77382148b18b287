/*
 * config.c -- see config.h.  Main thread, start-up only.
 */

#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "store.h"

#define DEFAULT_LISTEN "127.0.0.1:7070"

/* fault: long-only options get values above any short option letter. */
enum { OPT_MAX_DB_SIZE = 0x4601 };

void bq_config_defaults(struct bq_config *c) {
  memset(c, 0, sizeof(*c));
  snprintf(c->listen, sizeof(c->listen), "%s", DEFAULT_LISTEN);
  bq_addr_parse(DEFAULT_LISTEN, -1, &c->addr);
  c->db_path = "burstq.db";
  c->workers = 1;
  c->queue_capacity = 65536;
  c->queue_bytes = 64u << 20;
  c->batch_max = 8192;
  c->max_message = 65536;
  c->max_connections = 10000;
  c->sync = BQ_SYNC_FULL;
  c->ack = 1;
  c->log_level = BQ_LOG_INFO;
  c->log_format = BQ_LOG_TEXT; /* metrics is "" (off) */
  c->max_db_size = 0;
}

int bq_parse_size(const char *s, size_t min, size_t max, size_t *out) {
  char *end;
  unsigned long long v;
  unsigned shift = 0;

  if (s == NULL || *s < '0' || *s > '9') return -EINVAL;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0) return -ERANGE;
  switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: return -EINVAL;
  }
  if (shift != 0 && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
    end += strlen(end);
  if (*end != '\0') return -EINVAL;
  if (shift != 0 && v > (UINT64_MAX >> shift)) return -ERANGE;
  v <<= shift;
  if (v < min || v > max) return -ERANGE;
  *out = (size_t)v;
  return 0;
}

static void usage(FILE *out) {
  fprintf(out,
"Usage: burstqd [OPTION]...\n"
"Take in newline-framed messages over TCP and store every one in SQLite.\n"
"\n"
"Each line a client sends is one message.  After the transaction holding a\n"
"connection's messages commits, burstqd writes \"OK <n>\" to it: n of its\n"
"messages are now stored.  SIGTERM or SIGINT stops intake, writes everything\n"
"already received, and exits 0.\n"
"\n"
"Options (default in brackets):\n"
"  -l, --listen HOST:PORT    address to listen on; port 0 picks a free one,\n"
"                            IPv6 as [::1]:7070  [" DEFAULT_LISTEN "]\n"
"  -d, --db PATH             SQLite database, created if missing  [burstq.db]\n"
"  -w, --workers N           writer threads; one writes at a time, the others\n"
"                            overlap their bookkeeping (1-64)  [1]\n"
"  -q, --queue-capacity N    messages held between socket and disk before\n"
"                            intake pauses  [65536]\n"
"  -b, --queue-bytes N       bytes held likewise; K, M, G suffixes  [64M]\n"
"  -B, --batch-max N         most messages in one transaction  [8192]\n"
"  -s, --sync MODE           off, normal or full: SQLite synchronous; full\n"
"                            survives power loss, normal survives a crash of\n"
"                            burstqd, off neither  [full]\n"
"  -a, --ack on|off          send \"OK <n>\" after each commit  [on]\n"
"  -m, --max-message BYTES   longest message; longer lines get\n"
"                            \"ERR too-long\" and are skipped  [65536]\n"
"  -c, --max-connections N   connections served at once; more are refused\n"
"                            with \"ERR too-many-connections\"  [10000]\n"
"  -L, --log-level LEVEL     error, warn, info or debug  [info]\n"
"  -h, --help                show this help and exit\n"
"  -V, --version             show the version and exit\n"
"      --metrics HOST:PORT   serve HTTP there: GET /metrics (Prometheus text),\n"
"                            /healthz (200 while the database takes writes,\n"
"                            503 and the reason when not), /readyz (200 while\n"
"                            accepting, 503 while draining); keep it on\n"
"                            loopback or a private network  [off]\n"
"      --log-format FORMAT   text (for people) or json (one object per line,\n"
"                            for log collectors)  [text]\n"
"      --max-db-size SIZE    cap the database file (SQLite max_page_count);\n"
"                            K, M, G suffixes, 0 for none.  At the cap, as on\n"
"                            a full disk, commits are retried, intake pauses\n"
"                            and nothing is acked until space is freed\n"
"                            (delete rows, or restart with a larger cap); the\n"
"                            WAL beside it (up to ~32M) is not counted  [0]\n"
"\n"
"Hardening (docs/security.md):\n"
"      --allow CIDR          accept connections only from these peers, e.g.\n"
"                            10.0.0.0/8, 192.0.2.7, fd00::/8 or ::1;\n"
"                            repeatable; others get \"ERR denied\" and are\n"
"                            closed  [any peer; the default listener is\n"
"                            loopback only]\n"
"      --auth-token-file FILE  require \"AUTH <token>\" as the first line of\n"
"                            every connection, the token being FILE's first\n"
"                            line; a wrong or missing one gets \"ERR auth\"\n"
"                            and is closed.  FILE must not be accessible\n"
"                            by group or others (no read, write or execute\n"
"                            bit: chmod 600)  [no authentication]\n"
"      --idle-timeout SEC    close a connection that sent nothing for SEC\n"
"                            seconds and is owed nothing (\"ERR idle\"\n"
"                            first); 0 turns it off  [0]\n"
"\n"
"Logs go to stderr.  Exit status: 0 after a clean drain; 1 when a second\n"
"signal cut the drain short, a permanent database error (corruption, a\n"
"broken constraint) stopped the daemon (fail-stop: nothing unwritten was\n"
"acknowledged), or messages received were not all committed at the end\n"
"(logged); 2 for bad usage or a database or address that cannot be used.\n"
"Transient database errors (locked, disk full, I/O) are retried instead.\n"
"\n"
"Example, on the defaults (127.0.0.1:7070, ./burstq.db):\n"
"  burstqd &\n"
"  printf 'hello\\nworld\\n' | nc -N 127.0.0.1 7070     # prints OK 2\n"
"  sqlite3 burstq.db 'SELECT id, conn_id, seq, payload FROM messages'\n"
"  kill -TERM %%1                                      # drains, exits 0\n");
}

/* Values of the long options that have no short letter. */
enum { OPT_METRICS = 0x100, OPT_LOG_FORMAT };
/* Hardening: long-only options. */
enum {
  BQ_OPT_ALLOW = 1000,
  BQ_OPT_AUTH_TOKEN_FILE = 1001,
  BQ_OPT_IDLE_TIMEOUT = 1002
};

static const struct option long_opts[] = {
    {"listen", required_argument, NULL, 'l'},
    {"db", required_argument, NULL, 'd'},
    {"workers", required_argument, NULL, 'w'},
    {"queue-capacity", required_argument, NULL, 'q'},
    {"queue-bytes", required_argument, NULL, 'b'},
    {"batch-max", required_argument, NULL, 'B'},
    {"sync", required_argument, NULL, 's'},
    {"ack", required_argument, NULL, 'a'},
    {"max-message", required_argument, NULL, 'm'},
    {"max-connections", required_argument, NULL, 'c'},
    {"log-level", required_argument, NULL, 'L'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    /* Observability (metrics branch): long options only. */
    {"metrics", required_argument, NULL, OPT_METRICS},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    /* hardening */
    {"allow", required_argument, NULL, BQ_OPT_ALLOW},
    {"auth-token-file", required_argument, NULL, BQ_OPT_AUTH_TOKEN_FILE},
    {"idle-timeout", required_argument, NULL, BQ_OPT_IDLE_TIMEOUT},
    /* fault: disk-full handling */
    {"max-db-size", required_argument, NULL, OPT_MAX_DB_SIZE},
    {NULL, 0, NULL, 0}};

/* Parse a numeric option; on error write "--name: ..." to err. */
static int num_opt(const char *name, const char *arg, size_t min, size_t max,
                   size_t *out, char *err, size_t errlen) {
  int r = bq_parse_size(arg, min, max, out);
  if (r == -ERANGE)
    snprintf(err, errlen, "--%s: '%s' is out of range (%zu to %zu)", name,
             arg, min, max);
  else if (r < 0)
    snprintf(err, errlen, "--%s: '%s' is not a number", name, arg);
  return r;
}

/* addr_opt: --NAME HOST:PORT into *out; the text must fit in maxlen bytes
 * (the config keeps it).  Port 0 is allowed: the kernel picks a free port,
 * which the daemon logs. */
static int addr_opt(const char *name, const char *s, size_t maxlen,
                    struct sockaddr_storage *out, const char *example,
                    char *err, size_t errlen) {
  int r = strlen(s) < maxlen ? bq_addr_parse(s, -1, out) : -EINVAL;
  if (r == -ERANGE)
    snprintf(err, errlen,
             "--%s: the port in '%s' is out of range (0 to 65535; 0 picks "
             "a free port)",
             name, s);
  else if (r == -ENOENT)
    snprintf(err, errlen, "--%s: cannot resolve the host in '%s'", name, s);
  else if (r < 0)
    snprintf(err, errlen, "--%s: '%s' is not HOST:PORT (for example %s)",
             name, s, example);
  return r;
}

int bq_config_parse(struct bq_config *c, int argc, char **argv, FILE *out,
                    char *err, size_t errlen) {
  size_t v;
  int opt;

  optind = 0; /* glibc: full re-initialisation */
  opterr = 0;
  while ((opt = getopt_long(argc, argv, ":l:d:w:q:b:B:s:a:m:c:L:hV",
                            long_opts, NULL)) != -1) {
    switch (opt) {
      case 'l':
        if (addr_opt("listen", optarg, sizeof(c->listen), &c->addr,
                     "127.0.0.1:7070 or [::1]:0", err, errlen) < 0)
          return BQ_CONFIG_ERR;
        snprintf(c->listen, sizeof(c->listen), "%s", optarg);
        break;
      case 'd':
        if (*optarg == '\0') {
          snprintf(err, errlen, "--db: the path is empty");
          return BQ_CONFIG_ERR;
        }
        c->db_path = optarg;
        break;
      case 'w':
        if (num_opt("workers", optarg, 1, 64, &v, err, errlen) < 0)
          return BQ_CONFIG_ERR;
        c->workers = (unsigned)v;
        break;
      case 'q':
        if (num_opt("queue-capacity", optarg, 1, (size_t)1 << 32,
                    &c->queue_capacity, err, errlen) < 0)
          return BQ_CONFIG_ERR;
        break;
      case 'b':
        if (num_opt("queue-bytes", optarg, 1024, (size_t)1 << 40,
                    &c->queue_bytes, err, errlen) < 0)
          return BQ_CONFIG_ERR;
        break;
      case 'B':
        if (num_opt("batch-max", optarg, 1, 1000000, &c->batch_max, err,
                    errlen) < 0)
          return BQ_CONFIG_ERR;
        break;
      case 's':
        if (strcmp(optarg, "off") == 0) c->sync = BQ_SYNC_OFF;
        else if (strcmp(optarg, "normal") == 0) c->sync = BQ_SYNC_NORMAL;
        else if (strcmp(optarg, "full") == 0) c->sync = BQ_SYNC_FULL;
        else {
          snprintf(err, errlen, "--sync: '%s' is not off, normal or full",
                   optarg);
          return BQ_CONFIG_ERR;
        }
        break;
      case 'a':
        if (strcmp(optarg, "on") == 0) c->ack = 1;
        else if (strcmp(optarg, "off") == 0) c->ack = 0;
        else {
          snprintf(err, errlen, "--ack: '%s' is not on or off", optarg);
          return BQ_CONFIG_ERR;
        }
        break;
      case 'm':
        /* The record's length is 32 bits; main() also checks the limit of
         * the database (SQLite's default is 1e9 bytes per row). */
        if (num_opt("max-message", optarg, 1, (size_t)1 << 30,
                    &c->max_message, err, errlen) < 0)
          return BQ_CONFIG_ERR;
        break;
      case 'c':
        if (num_opt("max-connections", optarg, 1, 1000000,
                    &c->max_connections, err, errlen) < 0)
          return BQ_CONFIG_ERR;
        break;
      case 'L':
        if (bq_log_level_parse(optarg, &c->log_level) < 0) {
          snprintf(err, errlen,
                   "--log-level: '%s' is not error, warn, info or debug",
                   optarg);
          return BQ_CONFIG_ERR;
        }
        break;
      /* Observability (metrics branch). */
      case OPT_METRICS:
        if (addr_opt("metrics", optarg, sizeof(c->metrics),
                     &c->metrics_addr, "127.0.0.1:9070", err, errlen) < 0)
          return BQ_CONFIG_ERR;
        snprintf(c->metrics, sizeof(c->metrics), "%s", optarg);
        break;
      case OPT_LOG_FORMAT:
        if (bq_log_format_parse(optarg, &c->log_format) < 0) {
          snprintf(err, errlen, "--log-format: '%s' is not text or json",
                   optarg);
          return BQ_CONFIG_ERR;
        }
        break;
      /* Hardening. */
      case BQ_OPT_ALLOW: {
        int r = bq_acl_add(&c->allow, optarg);
        if (r == -ENOSPC) {
          snprintf(err, errlen, "--allow: more than %d rules", BQ_ACL_MAX);
          return BQ_CONFIG_ERR;
        }
        if (r < 0) {
          snprintf(err, errlen,
                   "--allow: '%s' is not an IPv4 or IPv6 address or CIDR "
                   "without host bits (for example 10.0.0.0/8, 192.0.2.7, "
                   "fd00::/8)",
                   optarg);
          return BQ_CONFIG_ERR;
        }
        break;
      }
      case BQ_OPT_AUTH_TOKEN_FILE:
        if (*optarg == '\0') {
          snprintf(err, errlen, "--auth-token-file: the path is empty");
          return BQ_CONFIG_ERR;
        }
        c->auth_token_file = optarg;
        break;
      case BQ_OPT_IDLE_TIMEOUT:
        if (num_opt("idle-timeout", optarg, 0, 86400 * 365, &v, err,
                    errlen) < 0)
          return BQ_CONFIG_ERR;
        c->idle_timeout = (unsigned)v;
        break;
      case OPT_MAX_DB_SIZE: /* fault: disk-full handling */
        if (strcmp(optarg, "0") == 0) {
          c->max_db_size = 0;
        } else if (num_opt("max-db-size", optarg, 64 * 1024,
                           (size_t)1 << 50, &c->max_db_size, err,
                           errlen) < 0) {
          return BQ_CONFIG_ERR;
        }
        break;
      case 'h':
        usage(out);
        return BQ_CONFIG_EXIT;
      case 'V':
        fprintf(out, "burstqd %s\n", BQ_VERSION);
        return BQ_CONFIG_EXIT;
      case ':':
        snprintf(err, errlen, "%s needs a value", argv[optind - 1]);
        return BQ_CONFIG_ERR;
      default: {
        /* optopt is 0 for an unknown long option, and the short letter for
         * a known long option given a value it does not take. */
        const char *arg = argv[optind - 1];
        if (optopt == 0) {
          snprintf(err, errlen, "unknown option %s", arg);
        } else if (strncmp(arg, "--", 2) == 0) {
          int len = (int)strcspn(arg, "=");
          snprintf(err, errlen, "option %.*s takes no value", len, arg);
        } else {
          snprintf(err, errlen, "unknown option -%c", optopt);
        }
        return BQ_CONFIG_ERR;
      }
    }
  }
  if (optind < argc) {
    snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
    return BQ_CONFIG_ERR;
  }
  if (c->batch_max > c->queue_capacity) c->batch_max = c->queue_capacity;
  return BQ_CONFIG_OK;
}
