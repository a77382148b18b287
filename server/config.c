/*
 * config.c -- see config.h.  Main thread, start-up only.
 *
 * The option table below is the only place an option is described.  Its
 * order is --help's order; each entry's section is the heading it is
 * listed under.  A default is a value string, applied by the same parser
 * as a command-line value, and shown in --help's brackets.
 */

#include "config.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "store.h"
#include "units.h"

/* What an option's value is, and how it is parsed. */
enum kind {
  K_COUNT,   /* a count in [min, max]: k, M, G = powers of 1000 (units.h) */
  K_SIZE,    /* bytes in [min, max]: K, M, G = powers of 1024 (units.h) */
  K_DURATION, /* seconds in [min, max]: s, m, h, d suffixes (units.h) */
  K_ENUM,    /* one of the names in choices; the int field gets its value */
  K_ADDR,    /* HOST:PORT: the text into a char array, parsed into addr;
                with tls_off, HOST:PORT[,tls] (the flag into that int) */
  K_LISTEN,  /* HOST:PORT[,FLAG...] added to an array of struct bq_listen
                (repeatable: the first one given replaces the default) */
  K_PATH,    /* a non-empty path: the const char * field points at it */
  K_CIDR,    /* an --allow rule added to a struct bq_acl (repeatable) */
  K_HELP,    /* print --help, stop */
  K_VERSION  /* print --version, stop */
};

/* A name of a K_ENUM value. */
struct choice {
  const char *name;
  int value;
};

struct opt {
  const char *name;      /* long name, without "--" */
  char letter;           /* short option, or 0 for none */
  enum kind kind;
  const char *section;   /* the --help heading it is listed under */
  const char *metavar;   /* its value in --help; NULL: takes none */
  const char *def;       /* default, as a value to parse; NULL: zero */
  const char *def_text;  /* --help's default when def is NULL or says too
                            little; NULL with def NULL: nothing shown */
  uint64_t min, max;     /* K_COUNT, K_SIZE, K_DURATION: the range */
  int zero_off;          /* K_SIZE, K_DURATION: "0" is also accepted (off) */
  int pow2;              /* K_SIZE: only a power of two is accepted */
  const struct choice *choices; /* K_ENUM: NULL-terminated */
  const char *example;   /* K_ADDR, K_LISTEN: good values, for the error
                            message */
  size_t off;            /* the field it fills */
  size_t width;          /* sizeof that field */
  size_t addr_off;       /* K_ADDR: the struct sockaddr_storage field */
  size_t tls_off;        /* K_ADDR: the int set by a ",tls" flag; 0: no
                            flag taken */
  const char *help;      /* --help text, wrapped when printed */
};

#define BQ_STR_(x) #x
#define BQ_STR(x) BQ_STR_(x)

/* In help texts: a space the wrapping must not break at. */
#define NBSP "\x1f"

#define FIELD(f)                       \
  .off = offsetof(struct bq_config, f), \
  .width = sizeof(((struct bq_config *)0)->f)
#define ADDR_FIELDS(text, sa) \
  FIELD(text), .addr_off = offsetof(struct bq_config, sa)

static const struct choice sync_choices[] = {{"off", BQ_SYNC_OFF},
                                             {"normal", BQ_SYNC_NORMAL},
                                             {"full", BQ_SYNC_FULL},
                                             {NULL, 0}};
static const struct choice ack_choices[] = {{"on", 1}, {"off", 0}, {NULL, 0}};
static const struct choice log_level_choices[] = {{"error", BQ_LOG_ERROR},
                                                  {"warn", BQ_LOG_WARN},
                                                  {"info", BQ_LOG_INFO},
                                                  {"debug", BQ_LOG_DEBUG},
                                                  {NULL, 0}};
/* K_LISTEN's flags naming the kind; "tls" is the one other flag. */
static const struct choice listen_kinds[] = {{"acked", BQ_LISTEN_ACKED},
                                             {"syslog", BQ_LISTEN_SYSLOG},
                                             {NULL, 0}};
static const struct choice log_format_choices[] = {
    {"text", BQ_LOG_TEXT}, {"json", BQ_LOG_JSON}, {NULL, 0}};

#define S_OPTIONS "Options (default in brackets)"
#define S_HARDENING "Hardening (docs/security.md)"
#define S_TLS "TLS (docs/security.md)"
#define S_RETAIN "Retention (docs/operations.md; default: keep everything)"

static const struct opt opts[] = {
    {.name = "listen", .letter = 'l', .kind = K_LISTEN, .section = S_OPTIONS,
     .metavar = "HOST:PORT[,KIND][,tls]", .def = "127.0.0.1:7070",
     .example = "127.0.0.1:7070 or [::1]:0", FIELD(listen),
     .help = "address to listen on; repeatable (up to 16; the first one "
             "given replaces the default).  KIND is acked (lines, \"OK "
             "<n>\" after each commit; the default) or syslog (RFC" NBSP
             "6587 syslog over TCP; nothing is ever written back).  The "
             "tls flag makes it a TLS listener (needs --tls-cert and "
             "--tls-key).  Port 0 picks a free one, IPv6 as [::1]:7070"},
    {.name = "db", .letter = 'd', .kind = K_PATH, .section = S_OPTIONS,
     .metavar = "PATH|URI", .def = "burstq.db", FIELD(db_path),
     .help = "SQLite database file, created if missing; or a PostgreSQL "
             "URI, postgresql://USER@HOST:PORT/DBNAME (any libpq URI, "
             "multi-host ones with target_session_attrs=read-write for "
             "failover), whose schema is created if the database is empty.  "
             "Never a password in it: libpq reads PGPASSFILE or PGPASSWORD.  "
             "OK follows COMMIT; with a synchronous standby and --sync "
             "full that is on two machines (docs/scale-out.md)"},
    {.name = "node", .kind = K_PATH, .section = S_OPTIONS,
     .metavar = "NAME", .def_text = "the host name", FIELD(node),
     .help = "this daemon's name among those writing to one PostgreSQL "
             "database (1-63 printable characters, no spaces); each must "
             "have its own.  Connection ids are unique across them"},
    {.name = "workers", .letter = 'w', .kind = K_COUNT, .section = S_OPTIONS,
     .metavar = "N", .def = "1", .min = 1, .max = 64, FIELD(workers),
     .help = "writer threads; one writes at a time, the others overlap "
             "their bookkeeping (1-64)"},
    {.name = "queue-capacity", .letter = 'q', .kind = K_COUNT,
     .section = S_OPTIONS, .metavar = "N", .def = "65536", .min = 1,
     .max = UINT64_C(1) << 32, FIELD(queue_capacity),
     .help = "messages held between socket and disk before intake pauses"},
    {.name = "queue-bytes", .letter = 'b', .kind = K_SIZE,
     .section = S_OPTIONS, .metavar = "SIZE", .def = "64M", .min = 1024,
     .max = UINT64_C(1) << 40, FIELD(queue_bytes),
     .help = "bytes held likewise; K, M, G suffixes"},
    {.name = "batch-max", .letter = 'B', .kind = K_COUNT,
     .section = S_OPTIONS, .metavar = "N", .def = "8192", .min = 1,
     .max = 1000000, FIELD(batch_max),
     .help = "most messages in one transaction (on SQLite a transaction "
             "also stops at about 4 MB of messages)"},
    {.name = "sync", .letter = 's', .kind = K_ENUM, .section = S_OPTIONS,
     .metavar = "MODE", .def = "full", .choices = sync_choices, FIELD(sync),
     .help = "off, normal or full: full acks a message once the WAL "
             "holding it is flushed to disk (survives power loss), normal "
             "once it is committed (survives a crash of burstqd), off "
             "flushes nothing, checkpoints included.  On PostgreSQL, "
             "synchronous_commit on, remote_write and off"},
    {.name = "ack", .letter = 'a', .kind = K_ENUM, .section = S_OPTIONS,
     .metavar = "on|off", .def = "on", .choices = ack_choices, FIELD(ack),
     .help = "send \"OK <n>\" after each commit"},
    {.name = "producers", .kind = K_ENUM, .section = S_OPTIONS,
     .metavar = "on|off", .def = "on", .choices = ack_choices,
     FIELD(producers),
     .help = "exactly-once producers: on an acked listener a connection "
             "whose first line (after AUTH) is \"HELLO <id> [<first-seq>]\" "
             "is a producer's, resumed where its committed messages end "
             "(docs/protocol.md); off: every line is a message"},
    /* The record's length is 32 bits; main() also checks the limit of the
     * database (SQLite's default is 1e9 bytes per row). */
    {.name = "max-message", .letter = 'm', .kind = K_SIZE,
     .section = S_OPTIONS, .metavar = "BYTES", .def = "65536", .min = 1,
     .max = UINT64_C(1) << 30, FIELD(max_message),
     .help = "longest message; longer lines get \"ERR too-long\" and are "
             "skipped (on syslog listeners: stored cut to it, marked "
             "truncated)"},
    {.name = "max-connections", .letter = 'c', .kind = K_COUNT,
     .section = S_OPTIONS, .metavar = "N", .def = "10000", .min = 1,
     .max = 1000000, FIELD(max_connections),
     .help = "connections served at once; more are refused with "
             "\"ERR too-many-connections\""},
    {.name = "log-level", .letter = 'L', .kind = K_ENUM,
     .section = S_OPTIONS, .metavar = "LEVEL", .def = "info",
     .choices = log_level_choices, FIELD(log_level),
     .help = "error, warn, info or debug"},
    {.name = "help", .letter = 'h', .kind = K_HELP, .section = S_OPTIONS,
     .help = "show this help and exit"},
    {.name = "version", .letter = 'V', .kind = K_VERSION,
     .section = S_OPTIONS, .help = "show the version and exit"},
    {.name = "metrics", .kind = K_ADDR, .section = S_OPTIONS,
     .metavar = "HOST:PORT[,tls]", .def_text = "off",
     .example = "127.0.0.1:9070 or 0.0.0.0:9443,tls",
     ADDR_FIELDS(metrics, metrics_addr),
     .tls_off = offsetof(struct bq_config, metrics_tls),
     .help = "serve HTTP there: GET /metrics (Prometheus text), /healthz "
             "(200 while the database takes writes, 503 and the reason when "
             "not), /readyz (200 while accepting, 503 while draining).  "
             "Without authentication: keep it on loopback or a private "
             "network.  The tls flag serves HTTPS instead, with --tls-cert "
             "and --tls-key (and, with --tls-client-ca, only to clients "
             "with a certificate)"},
    {.name = "log-format", .kind = K_ENUM, .section = S_OPTIONS,
     .metavar = "FORMAT", .def = "text", .choices = log_format_choices,
     FIELD(log_format),
     .help = "text (for people) or json (one object per line, for log "
             "collectors)"},
    /* 64 KiB holds the schema; the cap is SQLite's max_page_count. */
    {.name = "max-db-size", .kind = K_SIZE, .section = S_OPTIONS,
     .metavar = "SIZE", .def = "0", .min = 64 * 1024,
     .max = UINT64_C(1) << 50, .zero_off = 1, FIELD(max_db_size),
     .help = "cap the database file (SQLite max_page_count); K," NBSP
             "M," NBSP "G suffixes, 0 for none.  At the cap, as on a full "
             "disk, commits are retried, intake pauses and nothing is acked "
             "until space is freed (delete rows, or restart with a larger "
             "cap); the WAL beside it (up to ~32M) is not counted.  On "
             "PostgreSQL: burstq's tables with their indexes, read every "
             "2 s; DELETE never shrinks them, see docs/operations.md"},
    /* SQLite takes 512..65536; below 4096 a 1 KB message overflows. */
    {.name = "page-size", .kind = K_SIZE, .section = S_OPTIONS,
     .metavar = "BYTES", .def_text = BQ_STR(BQ_SQLITE_PAGE_SIZE),
     .min = 4096, .max = 65536, .pow2 = 1, FIELD(page_size),
     .help = "SQLite page size of a database burstqd creates: 4096, 8192, "
             "16384, 32768 or 65536 (64K).  An existing database keeps its "
             "own (logged when it differs).  65536 stores messages of about "
             "1" NBSP "KB faster, but writes 3-4x the bytes at a low load "
             "(each commit writes whole pages), see docs/operations.md.  "
             "Refused on PostgreSQL"},
    {.name = "retain-age", .kind = K_DURATION, .section = S_RETAIN,
     .metavar = "DURATION", .def = "0", .def_text = "off", .min = 1,
     .max = UINT64_C(100) * 366 * 86400, .zero_off = 1, FIELD(retain_age),
     .help = "delete messages older than DURATION (90s, 15m, 12h, 30d; a "
             "bare number is seconds), oldest first, in the writer's "
             "transactions (at most a few seconds late, see "
             "docs/operations.md); 0" NBSP "keeps them"},
    {.name = "retain-size", .kind = K_SIZE, .section = S_RETAIN,
     .metavar = "SIZE", .def = "0", .def_text = "off", .min = 64 * 1024,
     .max = UINT64_C(1) << 50, .zero_off = 1, FIELD(retain_size),
     .help = "delete the oldest messages while the stored data is larger "
             "than SIZE (SQLite: the database's pages in use, which are "
             "reused, so the file stops growing near SIZE; PostgreSQL: the "
             "live rows, estimated, whose space (auto)vacuum makes "
             "reusable); keep it well below --max-db-size; 0" NBSP
             "for none"},
    {.name = "retain-rows", .kind = K_COUNT, .section = S_RETAIN,
     .metavar = "N", .def = "0", .def_text = "off", .min = 0,
     .max = UINT64_C(1) << 50, FIELD(retain_rows),
     .help = "keep the newest N messages (by id), delete older ones; k, M, "
             "G suffixes; 0" NBSP "for no limit.  The options combine: a "
             "message goes when any limit says so"},
    {.name = "allow", .kind = K_CIDR, .section = S_HARDENING,
     .metavar = "CIDR",
     .def_text = "any peer; the default listener is loopback only",
     FIELD(allow),
     .help = "accept connections only from these peers, e.g. 10.0.0.0/8, "
             "192.0.2.7, fd00::/8 or ::1; repeatable; others get "
             "\"ERR denied\" and are closed"},
    {.name = "auth-token-file", .kind = K_PATH, .section = S_HARDENING,
     .metavar = "FILE", .def_text = "no authentication",
     FIELD(auth_token_file),
     .help = "require \"AUTH <token>\" as the first line of every "
             "connection, the token being FILE's first line; a wrong or "
             "missing one gets \"ERR auth\" and is closed.  FILE must not be "
             "accessible by group or others (no read, write or execute bit: "
             "chmod" NBSP "600)"},
    {.name = "idle-timeout", .kind = K_COUNT, .section = S_HARDENING,
     .metavar = "SEC", .def = "0", .min = 0, .max = 86400 * 365,
     FIELD(idle_timeout),
     .help = "close a connection that sent nothing for SEC seconds and is "
             "owed nothing (\"ERR idle\" first); 0" NBSP "turns it off"},
    {.name = "tls-cert", .kind = K_PATH, .section = S_TLS,
     .metavar = "FILE", .def_text = "none", FIELD(tls_cert),
     .help = "the TLS listeners' certificate (PEM; the chain, leaf first), "
             "also --metrics ...,tls's; required with a tls listener.  SIGHUP reads it and --tls-key "
             "again: new handshakes use the new pair, open connections keep "
             "theirs, and a bad pair is logged and the old one kept"},
    {.name = "tls-key", .kind = K_PATH, .section = S_TLS,
     .metavar = "FILE", .def_text = "none", FIELD(tls_key),
     .help = "its private key (PEM); must not be accessible by group or "
             "others (chmod" NBSP "600)"},
    {.name = "tls-client-ca", .kind = K_PATH, .section = S_TLS,
     .metavar = "FILE", .def_text = "no client certificates",
     FIELD(tls_client_ca),
     .help = "mutual TLS: TLS clients must present a certificate issued by "
             "a CA in FILE (PEM), or the handshake fails; the "
             "certificate's subject is stored in connections.tls_subject"},
    {.name = "tls-max-handshakes", .kind = K_COUNT, .section = S_TLS,
     .metavar = "N", .def = "256", .min = 1, .max = 100000,
     FIELD(tls_handshakes_max),
     .help = "TLS handshakes in progress at once; connections beyond it "
             "are closed at once, and a handshake must finish within 10 s "
             "(and --idle-timeout, if shorter)"},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/* getopt_long's value for a long option without a short letter. */
#define LONG_ONLY_BASE 0x100

/* ---- values -------------------------------------------------------------- */

static void *field(struct bq_config *c, const struct opt *o) {
  return (char *)c + o->off;
}

/* Store v in an unsigned or size_t field (the range fits either). */
static void store_uint(struct bq_config *c, const struct opt *o, uint64_t v) {
  if (o->width == sizeof(unsigned)) {
    unsigned u = (unsigned)v;
    assert(u == v);
    memcpy(field(c, o), &u, sizeof(u));
  } else {
    size_t z = (size_t)v;
    assert(o->width == sizeof(size_t) && z == v);
    memcpy(field(c, o), &z, sizeof(z));
  }
}

/* "a, b or c": the names of o's choices. */
static void choice_list(const struct opt *o, char *buf, size_t len) {
  size_t n = 0, at = 0;
  while (o->choices[n].name != NULL) n++;
  buf[0] = '\0';
  for (size_t i = 0; i < n && at < len; i++) {
    const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
    int w = snprintf(buf + at, len - at, "%s%s", sep, o->choices[i].name);
    if (w < 0) break;
    at += (size_t)w;
  }
}

/* err says why bq_addr_parse() refused text (r < 0). */
static void addr_error(const struct opt *o, const char *text, int r,
                       char *err, size_t errlen) {
  if (r == -ERANGE)
    snprintf(err, errlen,
             "--%s: the port in '%s' is out of range (0 to 65535; 0 "
             "picks a free port)",
             o->name, text);
  else if (r == -ENOENT)
    snprintf(err, errlen, "--%s: cannot resolve the host in '%s'", o->name,
             text);
  else
    snprintf(err, errlen, "--%s: '%s' is not HOST:PORT (for example %s)",
             o->name, text, o->example);
}

/* 1 when a and b are the same IPv4 or IPv6 address and port. */
static int same_addr(const struct sockaddr_storage *a,
                     const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return 0;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port &&
           x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->ss_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0 &&
           x->sin6_scope_id == y->sin6_scope_id;
  }
  return 0;
}

/* Add one K_LISTEN value, HOST:PORT[,FLAG...], to the array at o's field
 * (the count follows it).  A flag names the kind; later issues add flags
 * of their own (the list is comma-separated for that).  Port 0 is never a
 * duplicate: each one picks a port of its own.  Returns 0, or -1 with err
 * set. */
static int add_listen(struct bq_config *c, const struct opt *o,
                      const char *arg, char *err, size_t errlen) {
  struct bq_listen l;
  char host[sizeof(l.text)];
  const char *flags = strchr(arg, ',');
  int r, kinds = 0;

  memset(&l, 0, sizeof(l));
  if (c->nlisten >= BQ_LISTEN_MAX) {
    snprintf(err, errlen, "--%s: more than %d addresses", o->name,
             BQ_LISTEN_MAX);
    return -1;
  }
  if (strlen(arg) >= sizeof(l.text)) {
    snprintf(err, errlen, "--%s: '%.40s...' is too long", o->name, arg);
    return -1;
  }
  snprintf(host, sizeof(host), "%.*s",
           (int)(flags != NULL ? (size_t)(flags - arg) : strlen(arg)), arg);
  r = bq_addr_parse(host, -1, &l.addr);
  if (r < 0) {
    addr_error(o, host, r, err, errlen);
    return -1;
  }
  l.kind = BQ_LISTEN_ACKED;
  while (flags != NULL) {
    const char *f = flags + 1;
    size_t n = strcspn(f, ",");
    const struct choice *ch;
    flags = f[n] == ',' ? f + n : NULL;
    if (n == 3 && strncmp(f, "tls", 3) == 0) {
      if (l.tls++) {
        snprintf(err, errlen, "--%s: '%s' repeats the tls flag", o->name,
                 arg);
        return -1;
      }
      continue;
    }
    for (ch = listen_kinds; ch->name != NULL; ch++)
      if (strlen(ch->name) == n && strncmp(f, ch->name, n) == 0) break;
    if (ch->name == NULL) {
      snprintf(err, errlen,
               "--%s: unknown flag '%.*s' in '%s' (flags: acked, syslog, "
               "tls)",
               o->name, (int)(n < 40 ? n : 40), f, arg);
      return -1;
    }
    if (kinds++ > 0) {
      snprintf(err, errlen, "--%s: '%s' names more than one kind", o->name,
               arg);
      return -1;
    }
    l.kind = ch->value;
  }
  for (size_t i = 0; i < c->nlisten; i++) {
    if (bq_addr_port(&l.addr) != 0 && same_addr(&l.addr, &c->listen[i].addr)) {
      snprintf(err, errlen, "--%s: '%s' repeats the address of '%s'",
               o->name, arg, c->listen[i].text);
      return -1;
    }
  }
  memcpy(l.text, arg, strlen(arg) + 1);
  c->listen[c->nlisten++] = l;
  return 0;
}

/* Parse arg as o's value into c.  Returns 0, or -1 with err set. */
static int apply(struct bq_config *c, const struct opt *o, const char *arg,
                 char *err, size_t errlen) {
  uint64_t v;
  size_t z;
  int r = -EINVAL;
  switch (o->kind) {
    case K_COUNT:
      r = bq_parse_count(arg, o->min, o->max, &v);
      if (r < 0) break;
      store_uint(c, o, v);
      return 0;
    case K_SIZE:
      if (o->zero_off && strcmp(arg, "0") == 0) {
        store_uint(c, o, 0);
        return 0;
      }
      r = bq_parse_size(arg, (size_t)o->min, (size_t)o->max, &z);
      if (r < 0) break;
      if (o->pow2 && (z & (z - 1)) != 0) {
        snprintf(err, errlen,
                 "--%s: '%s' is not a power of two from %llu to %llu",
                 o->name, arg, (unsigned long long)o->min,
                 (unsigned long long)o->max);
        return -1;
      }
      store_uint(c, o, z);
      return 0;
    case K_ENUM: {
      char names[128];
      for (const struct choice *ch = o->choices; ch->name != NULL; ch++) {
        if (strcmp(arg, ch->name) == 0) {
          assert(o->width == sizeof(int));
          memcpy(field(c, o), &ch->value, sizeof(int));
          return 0;
        }
      }
      choice_list(o, names, sizeof(names));
      snprintf(err, errlen, "--%s: '%s' is not %s", o->name, arg, names);
      return -1;
    }
    case K_ADDR: {
      struct sockaddr_storage *sa =
          (struct sockaddr_storage *)(void *)((char *)c + o->addr_off);
      char host[256];
      const char *flag = o->tls_off != 0 ? strchr(arg, ',') : NULL;
      int tls = 0;
      if (flag != NULL && strcmp(flag, ",tls") != 0) {
        snprintf(err, errlen,
                 "--%s: unknown flag '%.40s' in '%s' (the one flag is tls)",
                 o->name, flag + 1, arg);
        return -1;
      }
      if (flag != NULL) tls = 1;
      snprintf(host, sizeof(host), "%.*s",
               (int)(flag != NULL ? (size_t)(flag - arg) : strlen(arg)), arg);
      r = strlen(arg) < o->width && strlen(arg) < sizeof(host)
              ? bq_addr_parse(host, -1, sa)
              : -EINVAL;
      if (r < 0) {
        addr_error(o, host, r, err, errlen);
        return -1;
      }
      memcpy(field(c, o), arg, strlen(arg) + 1);
      if (o->tls_off != 0) memcpy((char *)c + o->tls_off, &tls, sizeof(tls));
      return 0;
    }
    case K_LISTEN:
      assert(o->off == offsetof(struct bq_config, listen));
      return add_listen(c, o, arg, err, errlen);
    case K_PATH:
      if (*arg == '\0') {
        snprintf(err, errlen, "--%s: the path is empty", o->name);
        return -1;
      }
      memcpy(field(c, o), &arg, sizeof(arg));
      return 0;
    case K_CIDR:
      r = bq_acl_add((struct bq_acl *)field(c, o), arg);
      if (r == -ENOSPC) {
        snprintf(err, errlen, "--%s: more than %d rules", o->name,
                 BQ_ACL_MAX);
        return -1;
      }
      if (r < 0) {
        snprintf(err, errlen,
                 "--%s: '%s' is not an IPv4 or IPv6 address or CIDR without "
                 "host bits (for example 10.0.0.0/8, 192.0.2.7, fd00::/8)",
                 o->name, arg);
        return -1;
      }
      return 0;
    case K_DURATION:
      if (o->zero_off && strcmp(arg, "0") == 0) {
        store_uint(c, o, 0);
        return 0;
      }
      r = bq_parse_duration(arg, o->min, o->max, &v);
      if (r < 0) break;
      store_uint(c, o, v);
      return 0;
    case K_HELP:
    case K_VERSION:
      break;
  }
  assert(o->kind == K_COUNT || o->kind == K_SIZE || o->kind == K_DURATION);
  bq_units_error(r, o->name, arg, o->min, o->max, err, errlen);
  return -1;
}

int bq_config_has_tls(const struct bq_config *c) {
  for (size_t i = 0; i < c->nlisten; i++)
    if (c->listen[i].tls) return 1;
  return c->metrics[0] != '\0' && c->metrics_tls;
}

/* The TLS options agree with the listeners: a tls listener (--listen or
 * --metrics) needs a certificate and key, and TLS options without one
 * are a mistake worth stopping for (they would silently do nothing).
 * Whether the files can be used is checked when they are loaded
 * (main.c).  Returns 0, or -1 with err set. */
static int check_tls(const struct bq_config *c, char *err, size_t errlen) {
  int tls = bq_config_has_tls(c);
  const char *opt = "--listen", *first = NULL;
  for (size_t i = 0; i < c->nlisten && first == NULL; i++)
    if (c->listen[i].tls) first = c->listen[i].text;
  if (first == NULL) {
    opt = "--metrics";
    first = c->metrics;
  }
  if (tls && c->tls_cert == NULL) {
    snprintf(err, errlen, "%s %s needs --tls-cert FILE (and --tls-key)", opt,
             first);
    return -1;
  }
  if (tls && c->tls_key == NULL) {
    snprintf(err, errlen, "%s %s needs --tls-key FILE", opt, first);
    return -1;
  }
  if (!tls && (c->tls_cert != NULL || c->tls_key != NULL ||
               c->tls_client_ca != NULL)) {
    snprintf(err, errlen,
             "--%s is given but neither a --listen nor --metrics has the tls "
             "flag (for example --listen 0.0.0.0:7443,tls)",
             c->tls_cert != NULL  ? "tls-cert"
             : c->tls_key != NULL ? "tls-key"
                                  : "tls-client-ca");
    return -1;
  }
  return 0;
}

const char *bq_config_listen_kind_name(int kind) {
  for (const struct choice *ch = listen_kinds; ch->name != NULL; ch++)
    if (ch->value == kind) return ch->name;
  return "?";
}

const char *bq_config_sync_name(int sync) {
  for (const struct choice *ch = sync_choices; ch->name != NULL; ch++)
    if (ch->value == sync) return ch->name;
  return "?";
}

void bq_config_defaults(struct bq_config *c) {
  char err[256];
  memset(c, 0, sizeof(*c));
  for (size_t i = 0; i < NOPTS; i++) {
    int r;
    if (opts[i].def == NULL) continue;
    r = apply(c, &opts[i], opts[i].def, err, sizeof(err));
    assert(r == 0); /* the table's defaults are valid values */
    (void)r;
  }
}

/* ---- --help -------------------------------------------------------------- */

#define HELP_COL 28   /* where help texts start */
#define HELP_WIDTH 77 /* the longest line */

/* One option: "  -l, --listen HOST:PORT", then its help text and default
 * wrapped at HELP_WIDTH, continuation lines indented to HELP_COL.  Words
 * are split at spaces (not at NBSP); two spaces (after a sentence, before
 * the default) stay two within a line. */
static void usage_opt(FILE *out, const struct opt *o) {
  char text[1024];
  const char *p = text, *dflt = o->def_text != NULL ? o->def_text : o->def;
  int col;

  if (o->letter != 0)
    col = fprintf(out, "  -%c, --%s", o->letter, o->name);
  else
    col = fprintf(out, "      --%s", o->name);
  if (o->metavar != NULL) col += fprintf(out, " %s", o->metavar);
  if (dflt != NULL)
    snprintf(text, sizeof(text), "%s  [%s]", o->help, dflt);
  else
    snprintf(text, sizeof(text), "%s", o->help);
  for (int first = 1; *p != '\0'; first = 0) {
    int gap = (int)strspn(p, " "), len;
    p += gap;
    len = (int)strcspn(p, " ");
    if (len == 0) break;
    if (first) {
      gap = col + 2 > HELP_COL ? 2 : HELP_COL - col;
    } else if (col + gap + len > HELP_WIDTH) {
      fputc('\n', out);
      col = 0;
      gap = HELP_COL;
    }
    col += fprintf(out, "%*s", gap, "");
    for (; len > 0; len--, p++, col++) fputc(*p == NBSP[0] ? ' ' : *p, out);
  }
  fputc('\n', out);
}

static void usage(FILE *out) {
  const char *section = NULL;
  fputs(
"Usage: burstqd [OPTION]...\n"
"Take in newline-framed messages over TCP and store every one in SQLite.\n"
"\n"
"Each line a client sends is one message.  After the transaction holding a\n"
"connection's messages commits, burstqd writes \"OK <n>\" to it: n of its\n"
"messages are now stored.  SIGTERM or SIGINT stops intake, writes everything\n"
"already received, and exits 0.  A syslog listener (--listen ADDR,syslog)\n"
"takes syslog over TCP (RFC 6587) instead and never writes back.\n",
      out);
  for (size_t i = 0; i < NOPTS; i++) {
    if (section == NULL || strcmp(section, opts[i].section) != 0) {
      section = opts[i].section;
      fprintf(out, "\n%s:\n", section);
    }
    usage_opt(out, &opts[i]);
  }
  fputs(
"\n"
BQ_UNITS_HELP
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
"  printf 'hello\\nworld\\n' | nc -N 127.0.0.1 7070 | tail -n 1   # OK 2\n"
"  sqlite3 burstq.db 'SELECT id, conn_id, seq, payload FROM messages'\n"
"  kill -TERM %1                                        # drains, exits 0\n",
      out);
}

/* ---- parsing ------------------------------------------------------------- */

/* getopt_long's arrays, built from the table. */
struct getopt_tables {
  struct option longs[NOPTS + 1];
  char shorts[2 + 2 * NOPTS + 1]; /* ":" then "x" or "x:" each */
};

static void build_getopt(struct getopt_tables *t) {
  char *s = t->shorts;
  *s++ = ':'; /* report a missing value as ':' */
  for (size_t i = 0; i < NOPTS; i++) {
    const struct opt *o = &opts[i];
    int has_arg = o->metavar != NULL ? required_argument : no_argument;
    t->longs[i] = (struct option){o->name, has_arg, NULL,
                                  o->letter != 0 ? o->letter
                                                 : LONG_ONLY_BASE + (int)i};
    if (o->letter != 0) {
      *s++ = o->letter;
      if (has_arg == required_argument) *s++ = ':';
    }
  }
  *s = '\0';
  memset(&t->longs[NOPTS], 0, sizeof(t->longs[NOPTS]));
}

/* The entry getopt_long's return value val stands for, or NULL. */
static const struct opt *find_opt(int val) {
  if (val >= LONG_ONLY_BASE && val < LONG_ONLY_BASE + (int)NOPTS)
    return &opts[val - LONG_ONLY_BASE];
  for (size_t i = 0; i < NOPTS; i++)
    if (opts[i].letter != 0 && opts[i].letter == val) return &opts[i];
  return NULL;
}

int bq_config_parse(struct bq_config *c, int argc, char **argv, FILE *out,
                    char *err, size_t errlen) {
  struct getopt_tables t;
  int val, listen_given = 0;

  build_getopt(&t);
  optind = 0; /* glibc: full re-initialisation */
  opterr = 0;
  while ((val = getopt_long(argc, argv, t.shorts, t.longs, NULL)) != -1) {
    const struct opt *o = find_opt(val);
    if (o != NULL) {
      if (o->kind == K_HELP) {
        usage(out);
        return BQ_CONFIG_EXIT;
      }
      if (o->kind == K_VERSION) {
        fprintf(out, "burstqd %s\n", BQ_VERSION);
        return BQ_CONFIG_EXIT;
      }
      /* The first --listen given replaces the default listener. */
      if (o->kind == K_LISTEN && !listen_given++) c->nlisten = 0;
      if (apply(c, o, optarg, err, errlen) < 0) return BQ_CONFIG_ERR;
    } else if (val == ':') {
      snprintf(err, errlen, "%s needs a value", argv[optind - 1]);
      return BQ_CONFIG_ERR;
    } else {
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
  if (optind < argc) {
    snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
    return BQ_CONFIG_ERR;
  }
  if (check_tls(c, err, errlen) < 0) return BQ_CONFIG_ERR;
  if (c->batch_max > c->queue_capacity) c->batch_max = c->queue_capacity;
  return BQ_CONFIG_OK;
}
