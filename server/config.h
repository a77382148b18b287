/*
 * config.h -- burstqd's command line: defaults, parsing, --help.
 *
 * Design: one table in config.c describes every option once (its names,
 * kind of value and range, default, help text, and the field of struct
 * bq_config it fills); getopt_long's array, the parsing with its error
 * messages, the defaults and --help are all derived from it.  Parsing
 * fills a plain struct and never exits or logs, so it can be unit-tested;
 * main() decides what to do with the result.  Main thread only, at
 * start-up (getopt_long keeps global state).
 */
#ifndef BQ_CONFIG_H
#define BQ_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "acl.h"
#include "units.h" /* bq_parse_size */

#define BQ_VERSION "0.1.0"

/* Most --listen addresses. */
#define BQ_LISTEN_MAX 16

/* What a listener speaks (docs/protocol.md). */
enum bq_listen_kind {
  BQ_LISTEN_ACKED = 0,  /* lines in, "OK n" acks out */
  BQ_LISTEN_SYSLOG = 1  /* RFC 6587 frames in, never a byte out */
};

/* One --listen: HOST:PORT[,FLAG...]. */
struct bq_listen {
  char text[256];                  /* as given, flags included */
  struct sockaddr_storage addr;    /* HOST:PORT parsed */
  int kind;                        /* enum bq_listen_kind */
  int tls;                         /* the tls flag: TLS (docs/security.md) */
};

struct bq_config {
  /* --listen, repeatable: the first one given replaces the default */
  struct bq_listen listen[BQ_LISTEN_MAX];
  size_t nlisten;
  const char *db_path;             /* --db: a path or a PostgreSQL URI */
  const char *node;                /* --node; NULL: the host name */
  unsigned workers;                /* --workers */
  size_t queue_capacity;           /* --queue-capacity (records) */
  size_t queue_bytes;              /* --queue-bytes */
  size_t batch_max;                /* --batch-max (records per transaction) */
  size_t max_message;              /* --max-message (payload bytes) */
  size_t max_connections;          /* --max-connections */
  int sync;                        /* --sync: enum bq_sync */
  int ack;                         /* --ack on|off */
  int producers;                   /* --producers on|off: HELLO */
  int log_level;                   /* --log-level: enum bq_log_level */
  /* Who may connect, authentication, idle connections (docs/security.md): */
  struct bq_acl allow;             /* --allow CIDR (repeatable); empty = all */
  const char *auth_token_file;     /* --auth-token-file; NULL = no AUTH */
  unsigned idle_timeout;           /* --idle-timeout SEC; 0 = never */
  /* TLS listeners (--listen ...,tls; docs/security.md): */
  const char *tls_cert;            /* --tls-cert PEM; NULL: none */
  const char *tls_key;             /* --tls-key PEM; NULL: none */
  const char *tls_client_ca;       /* --tls-client-ca PEM; NULL: no mutual
                                      TLS */
  size_t tls_handshakes_max;       /* --tls-max-handshakes: at once */
  /* HTTP metrics and health endpoints, log format: */
  char metrics[256];               /* --metrics HOST:PORT[,tls]; "" when
                                      off */
  struct sockaddr_storage metrics_addr; /* --metrics parsed */
  int metrics_tls;                 /* --metrics ...,tls: HTTPS, with the
                                      TLS listeners' certificate */
  int log_format;                  /* --log-format: enum bq_log_format */
  /* Limits on the stored data: */
  size_t max_db_size;              /* --max-db-size bytes; 0 = no cap */
  size_t page_size;                /* --page-size bytes, a power of two;
                                      0 = not given (the store's default) */
  /* Retention (retention.h); 0 = no limit of that kind: */
  size_t retain_age;               /* --retain-age, seconds */
  size_t retain_size;              /* --retain-size, bytes */
  size_t retain_rows;              /* --retain-rows, messages */
};

enum {
  BQ_CONFIG_OK = 0,   /* run the daemon */
  BQ_CONFIG_EXIT = 1, /* --help or --version was printed: exit 0 */
  BQ_CONFIG_ERR = 2   /* bad usage: err holds the message; exit 2 */
};

/* 1 when some --listen, or --metrics, has the tls flag: the daemon needs
 * its TLS context. */
int bq_config_has_tls(const struct bq_config *c);

/* The word for an enum bq_listen_kind ("acked", "syslog"). */
const char *bq_config_listen_kind_name(int kind);

/* The --sync word for an enum bq_sync value ("full"), "?" for none. */
const char *bq_config_sync_name(int sync);

/* Fill c with the defaults (those of the option table). */
void bq_config_defaults(struct bq_config *c);

/* Parse argv into c (which holds the defaults).  --help and --version print
 * to out.  Returns BQ_CONFIG_OK, BQ_CONFIG_EXIT, or BQ_CONFIG_ERR with a
 * one-line message in err (size errlen).  Resets getopt's state, so it may be
 * called more than once. */
int bq_config_parse(struct bq_config *c, int argc, char **argv, FILE *out,
                    char *err, size_t errlen);

#endif /* BQ_CONFIG_H */
