/*
 * store_pg.c -- the PostgreSQL backend of store.h.
 *
 * Owns one libpq connection (PGconn) and this daemon's row in nodes.
 * Threads: checked, opened and closed on the main thread; append() runs on
 * whichever worker holds the queue's writer token, one at a time
 * (caps.concurrent_appends is 0, so batches commit in queue order and a
 * connection's messages can never be committed out of order).  size()
 * reads a cached figure and may run anywhere.  libpq's results and
 * SQLSTATEs never leave this file (and retention_pg.c, which hands its
 * failed results back): translate() maps them onto enum bq_store_err.
 *
 * URI: any libpq connection URI (postgresql:// or postgres://), multi-host
 * ones included; with target_session_attrs=read-write libpq itself finds
 * the primary after a failover.  A password in the URI is refused (it
 * would be on the command line and in the logs): libpq reads it from
 * PGPASSFILE (~/.pgpass) or PGPASSWORD.
 *
 * Schema (burstq_meta.schema_version 4: the tables and columns of SQLite's
 * version 4, so that the same queries work on both), in the connection's
 * current schema (the first of search_path):
 *   burstq_meta(key text PRIMARY KEY, value text NOT NULL)
 *   nodes(id integer PRIMARY KEY, name text NOT NULL UNIQUE,
 *         created_at bigint NOT NULL, last_batch bigint NOT NULL)
 *   connections(id bigint PRIMARY KEY, peer text NOT NULL,
 *               opened_at bigint NOT NULL, closed_at bigint,
 *               listener text, tls_subject text)
 *   messages(id bigint identity PRIMARY KEY, conn_id bigint NOT NULL,
 *            seq bigint NOT NULL, received_at bigint NOT NULL,
 *            payload bytea NOT NULL, producer bigint, pseq bigint)
 *   producers(id bigint identity PRIMARY KEY, name text NOT NULL UNIQUE,
 *            committed bigint NOT NULL, created_at bigint NOT NULL,
 *            updated_at bigint NOT NULL)
 *   syslog_headers(message_id bigint PRIMARY KEY, facility integer,
 *            severity integer, log_time text, hostname text, app_name text,
 *            procid text, msgid text, truncated integer NOT NULL)
 *   VIEWs syslog_messages and producer_messages, as in SQLite.
 * It is created in one transaction under a transaction-level advisory
 * lock, so that any number of daemons starting at once on an empty
 * database create it once; each then adds its node (INSERT ... ON
 * CONFLICT DO NOTHING) in the same way.  A new database gets version 3,
 * then the step to 4, as a version-3 database (written by the previous
 * release) is migrated in place, under the same lock: so both are the
 * same.  check accepts exactly version 3 or 4.
 *
 * Many daemons: each has a node (--node, unique), and its connection ids
 * are node_id << NODE_SHIFT plus a counter, so ids never collide across
 * daemons and connections.id >> 40 names the node.  While it runs, a
 * daemon holds a session advisory lock on its node id: a second daemon
 * with the same node is refused at open (-EBUSY).
 *
 * Writes: one transaction per batch: "BEGIN; UPDATE nodes SET last_batch"
 * (see below), the OPEN records by COPY into connections, the messages by
 * producers' part (below), the messages by binary COPY into messages (with
 * ids taken from the sequence first when the batch holds syslog messages,
 * whose syslog_headers rows follow by COPY), the CLOSE records by one
 * UPDATE, then COMMIT.  append() returns 0
 * only after COMMIT has returned.  synchronous_commit follows --sync: off
 * -> off, normal -> remote_write, full -> on (with a synchronous standby,
 * full means the commit is flushed on two machines).
 *
 * Commit outcome unknown: when the connection is lost after COMMIT was
 * sent, the batch may or may not be committed.  Every batch carries its
 * number (per node, growing by one per committed batch) and first runs
 * "UPDATE nodes SET last_batch = b WHERE id = node AND last_batch < b".
 * The pool retries the same batch until it commits (pool.c), and the retry
 * reconnects, which first waits for the node's session lock, i.e. for the
 * old session, and so the old transaction, to be gone.  If that
 * transaction committed, last_batch is already b, the UPDATE touches no
 * row, and the retry rolls back and reports success (filling in the
 * batch's HELLOs from producers, as above): no duplicate; if not, the
 * batch is written as usual: no loss.  After a failover the promoted
 * standby has the batch if and only if it has its last_batch.
 *
 * Producers (exactly once, store.h), in the batch's transaction, in chain
 * order: each producer's messages so far form a run (from..to, which
 * must be contiguous); a HELLO first writes the runs, then does "INSERT
 * INTO producers ... ON CONFLICT (name) DO NOTHING" (each burns an
 * identity value: producers.id has gaps) and "SELECT id, committed ...
 * FOR UPDATE", and fills in the record.  At the end the remaining runs are
 * written.  Runs are written by one "UPDATE producers ... WHERE committed
 * = from - 1" for all of them; a run that matches no row fails the batch
 * with -BQ_STORE_CONSTRAINT, as store.h demands.  The messages carry
 * producer and pseq in the same COPY.
 *
 * A producer on several daemons at once (docs/scale-out.md): fencing is
 * per daemon, so nothing stops two daemons from each taking a HELLO of the
 * same id; the committed count is the arbiter.  Both may read the same
 * count n; the first to commit a run n+1.. advances it, the row lock makes
 * the other's UPDATE wait and then see the new count, match nothing, and
 * fail its batch (so that daemon stops, storing nothing of it): never a
 * duplicate or a hole.
 *
 * An unknown COMMIT of a batch holding HELLOs: when the retry finds the
 * batch committed (below), settle_hellos reads each HELLO's count back from
 * producers, so the connection gets the RESUME the committed transaction
 * computed.
 *
 * Retention (retention.h, retention_pg.c): with a --retain-* limit, each
 * batch's transaction runs a pass after its rows and before COMMIT, and
 * retain() runs one in a transaction of its own (idle, or at the
 * --max-db-size cap).  A pass deletes only if its transaction gets the
 * advisory lock (LOCK_KEY, RETAIN_KEY) by pg_try_advisory_xact_lock, so
 * of the daemons sharing the database exactly one deletes at a time, the
 * others' passes only look (they never wait), and the lock goes with the
 * transaction (a killed daemon holds nothing).
 *
 * Faults (reconnect and retry, by the pool's backoff): a connection lost
 * or refused, the server shutting down, a read-only server (25006, after a
 * demotion) -> unavailable; serialization failure, deadlock, too many
 * connections, lock not available -> busy; disk full -> full; out of
 * memory or I/O on the server -> io.  The connection is dropped after
 * every failure (the server rolls the transaction back) and made again on
 * the next append.
 */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "retention.h"
#include "syslog.h"

#define SCHEMA_VERSION 4

/* Connection ids: node_id << NODE_SHIFT | counter. */
#define NODE_SHIFT 40
#define NODE_MAX ((INT64_C(1) << (63 - NODE_SHIFT)) - 1)

/* The advisory locks' first key ("bq"); the second is 0 for schema
 * creation, the node id for a running daemon, RETAIN_KEY for the
 * transaction that deletes (retention). */
#define LOCK_KEY 0x6271
#define RETAIN_KEY (-1)

/* How long open waits for its node's lock (a previous daemon's session
 * may take a moment to end). */
#define NODE_LOCK_WAIT_MS 5000

/* Refresh the cached size at most this often. */
#define SIZE_EVERY_MS 2000

/* A bytea value is at most 1 GB. */
#define PG_MAX_PAYLOAD (((size_t)1 << 30) - 64)

/* Longest node name. */
#define NODE_NAME_MAX 63

struct pg_store {
  struct bq_store base; /* first: the generic handle */
  PGconn *conn;         /* NULL after a failure: made again on append */
  char *uri;
  char *node;
  int64_t node_id;
  int64_t batch_no;     /* number of the last committed batch */
  int sync;             /* enum bq_sync */
  const struct bq_log *log;
  uint64_t max_db_bytes;
  _Atomic uint64_t size; /* cached: bytes of burstq's tables */
  uint64_t size_at_ms;   /* when size was last read */
  char *buf;             /* COPY data being built */
  size_t len, cap;
  struct bq_retain_pg *retain;          /* NULL: keep everything */
  struct bq_retain_stats *retain_stats; /* may be NULL */
};

static char backend_name[48]; /* "postgresql 15.18" */

/* The tables of version 3 (see the design block), in creation order. */
static const char schema_sql[] =
    "CREATE TABLE burstq_meta(key text PRIMARY KEY, value text NOT NULL);"
    "CREATE TABLE nodes("
    " id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    "  CHECK (id BETWEEN 1 AND 8388607),"
    " name text NOT NULL UNIQUE,"
    " created_at bigint NOT NULL,"
    " last_batch bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE connections("
    " id bigint PRIMARY KEY,"
    " peer text NOT NULL,"
    " opened_at bigint NOT NULL,"
    " closed_at bigint,"
    " listener text,"
    " tls_subject text);"
    "CREATE TABLE messages("
    " id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " conn_id bigint NOT NULL,"
    " seq bigint NOT NULL,"
    " received_at bigint NOT NULL,"
    " payload bytea NOT NULL);"
    "CREATE TABLE syslog_headers("
    " message_id bigint PRIMARY KEY,"
    " facility integer,"
    " severity integer,"
    " log_time text,"
    " hostname text,"
    " app_name text,"
    " procid text,"
    " msgid text,"
    " truncated integer NOT NULL);"
    "CREATE VIEW syslog_messages AS"
    " SELECT m.id AS id, m.conn_id AS conn_id, m.seq AS seq,"
    " m.received_at AS received_at, m.payload AS payload,"
    " h.facility AS facility, h.severity AS severity,"
    " h.log_time AS log_time, h.hostname AS hostname,"
    " h.app_name AS app_name, h.procid AS procid, h.msgid AS msgid,"
    " h.truncated AS truncated"
    " FROM messages AS m JOIN syslog_headers AS h ON h.message_id = m.id;"
    "INSERT INTO burstq_meta VALUES ('schema_version', '3');";

/* Version 3 -> 4: producers (exactly once), the columns of SQLite's
 * version 4.  A new database gets version 3 and then this, in the same
 * transaction, so that new and migrated databases are the same. */
static const char migrate_v4_sql[] =
    "CREATE TABLE producers("
    " id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " name text NOT NULL UNIQUE,"
    " committed bigint NOT NULL,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL);"
    "ALTER TABLE messages ADD COLUMN producer bigint,"
    " ADD COLUMN pseq bigint;"
    "CREATE VIEW producer_messages AS"
    " SELECT p.name AS producer, m.pseq AS pseq, m.id AS id,"
    " m.conn_id AS conn_id, m.received_at AS received_at,"
    " m.payload AS payload"
    " FROM messages AS m JOIN producers AS p ON p.id = m.producer;"
    "UPDATE burstq_meta SET value = '4' WHERE key = 'schema_version';";

/* The relations of the current schema, as "name:kind" sorted and joined
 * by spaces (pg_class.relkind: r table, v view, S sequence, i index). */
static const char relations_sql[] =
    "SELECT coalesce(string_agg(c.relname::text || ':' || c.relkind::text, ' '"
    " ORDER BY c.relname), '')"
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = current_schema()"
    " AND c.relkind IN ('r', 'v', 'S', 'i', 'm', 'p', 'f')";

/* What relations_sql returns for version 3 and 4 (sorted by name: 4's
 * producer relations fall between nodes' and syslog's). */
#define RELS_HEAD                                                        \
  "burstq_meta:r burstq_meta_pkey:i connections:r connections_pkey:i "   \
  "messages:r messages_id_seq:S messages_pkey:i nodes:r "                \
  "nodes_id_seq:S nodes_name_key:i nodes_pkey:i "
#define RELS_TAIL "syslog_headers:r syslog_headers_pkey:i syslog_messages:v"
static const char relations_v3[] = RELS_HEAD RELS_TAIL;
static const char relations_v4[] =
    RELS_HEAD
    "producer_messages:v producers:r producers_id_seq:S "
    "producers_name_key:i producers_pkey:i " RELS_TAIL;

/* The columns of the current schema's tables and views, as
 * "table.column:type" in table, then column order. */
static const char columns_sql[] =
    "SELECT coalesce(string_agg(c.relname::text || '.' || a.attname::text || ':' ||"
    " format_type(a.atttypid, a.atttypmod) ||"
    " CASE WHEN a.attnotnull THEN '!' ELSE '' END, ' '"
    " ORDER BY c.relname, a.attnum), '')"
    " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'v')"
    " AND a.attnum > 0 AND NOT a.attisdropped";

/* What columns_sql returns for version 3 and 4 (4 adds messages' two
 * columns and the producer relations). */
#define COLS_HEAD                                                          \
  "burstq_meta.key:text! burstq_meta.value:text! connections.id:bigint! "  \
  "connections.peer:text! connections.opened_at:bigint! "                  \
  "connections.closed_at:bigint connections.listener:text "                \
  "connections.tls_subject:text messages.id:bigint! "                      \
  "messages.conn_id:bigint! messages.seq:bigint! "                         \
  "messages.received_at:bigint! messages.payload:bytea! "
#define COLS_NODES                                                         \
  "nodes.id:integer! nodes.name:text! nodes.created_at:bigint! "           \
  "nodes.last_batch:bigint! "
#define COLS_TAIL                                                          \
  "syslog_headers.message_id:bigint! syslog_headers.facility:integer "     \
  "syslog_headers.severity:integer syslog_headers.log_time:text "          \
  "syslog_headers.hostname:text syslog_headers.app_name:text "             \
  "syslog_headers.procid:text syslog_headers.msgid:text "                  \
  "syslog_headers.truncated:integer! syslog_messages.id:bigint "           \
  "syslog_messages.conn_id:bigint syslog_messages.seq:bigint "             \
  "syslog_messages.received_at:bigint syslog_messages.payload:bytea "      \
  "syslog_messages.facility:integer syslog_messages.severity:integer "     \
  "syslog_messages.log_time:text syslog_messages.hostname:text "           \
  "syslog_messages.app_name:text syslog_messages.procid:text "             \
  "syslog_messages.msgid:text syslog_messages.truncated:integer"
static const char columns_v3[] = COLS_HEAD COLS_NODES COLS_TAIL;
static const char columns_v4[] =
    COLS_HEAD
    "messages.producer:bigint messages.pseq:bigint " COLS_NODES
    "producer_messages.producer:text producer_messages.pseq:bigint "
    "producer_messages.id:bigint producer_messages.conn_id:bigint "
    "producer_messages.received_at:bigint producer_messages.payload:bytea "
    "producers.id:bigint! producers.name:text! producers.committed:bigint! "
    "producers.created_at:bigint! producers.updated_at:bigint! " COLS_TAIL;

static int pg_append(struct bq_store *base, struct bq_rec *batch,
                     char *err, size_t errlen);
static uint64_t pg_size(struct bq_store *base);
static int pg_close(struct bq_store *base, char *err, size_t errlen);
static int pg_retain(struct bq_store *base, int *more, char *err,
                     size_t errlen);

static const struct bq_store_ops pg_ops = {.append = pg_append,
                                           .size = pg_size,
                                           .close = pg_close,
                                           .retain = pg_retain};

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* 1 if uri is one this backend takes (a postgresql:// or postgres://
 * URI). */
int bq_store_pg_uri(const char *uri) {
  return strncmp(uri, "postgresql://", 13) == 0 ||
         strncmp(uri, "postgres://", 11) == 0;
}

/* libpq's message without its trailing newline(s), on one line. */
static void one_line(char *out, size_t outlen, const char *msg) {
  size_t n = 0;
  if (outlen == 0) return;
  for (const char *p = msg ? msg : ""; *p != '\0' && n + 1 < outlen; p++)
    out[n++] = (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p;
  while (n > 0 && out[n - 1] == ' ') n--;
  out[n] = '\0';
}

/* The neutral error for a SQLSTATE (NULL: none, e.g. the connection was
 * lost).  See the design block. */
static int translate(const char *state) {
  if (state == NULL || strlen(state) != 5) return -BQ_STORE_UNAVAILABLE;
  if (strncmp(state, "08", 2) == 0) return -BQ_STORE_UNAVAILABLE;
  if (strcmp(state, "25006") == 0) return -BQ_STORE_UNAVAILABLE;
  if (strncmp(state, "57P", 3) == 0) return -BQ_STORE_UNAVAILABLE;
  if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
      strcmp(state, "53300") == 0 || strcmp(state, "55P03") == 0)
    return -BQ_STORE_BUSY;
  if (strcmp(state, "53100") == 0) return -BQ_STORE_FULL;
  if (strncmp(state, "53", 2) == 0 || strncmp(state, "58", 2) == 0 ||
      strcmp(state, "57014") == 0)
    return -BQ_STORE_IO;
  if (strcmp(state, "XX001") == 0 || strcmp(state, "XX002") == 0)
    return -BQ_STORE_CORRUPT;
  if (strncmp(state, "23", 2) == 0) return -BQ_STORE_CONSTRAINT;
  if (strncmp(state, "42", 2) == 0) return -BQ_STORE_INVALID;
  return -BQ_STORE_FAILED;
}

/* Describe a failed result (res may be NULL: the connection's message) as
 * "what: message [SQLSTATE]" and return its neutral error. */
static int fail_res(PGconn *c, PGresult *res, const char *what, char *err,
                    size_t errlen) {
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = res ? PQresultErrorMessage(res) : NULL;
  char line[400];
  if (msg == NULL || *msg == '\0') msg = c ? PQerrorMessage(c) : "";
  one_line(line, sizeof(line), msg);
  if (*line == '\0') snprintf(line, sizeof(line), "no reply from the server");
  if (state != NULL)
    snprintf(err, errlen, "%s: %s [%s]", what, line, state);
  else
    snprintf(err, errlen, "%s: %s", what, line);
  if (c != NULL && PQstatus(c) != CONNECTION_OK) return -BQ_STORE_UNAVAILABLE;
  return translate(state);
}

/* Run sql (no parameters) and expect status want.  Returns the result (the
 * caller clears it) or NULL with *rc and err set. */
static PGresult *run(PGconn *c, const char *sql, ExecStatusType want,
                     const char *what, int *rc, char *err, size_t errlen) {
  PGresult *res = PQexec(c, sql);
  if (res != NULL && PQresultStatus(res) == want) return res;
  *rc = fail_res(c, res, what, err, errlen);
  PQclear(res);
  return NULL;
}

/* The first column of the first row of sql's result, copied into out. */
static int query1(PGconn *c, const char *sql, const char *what, char *out,
                  size_t outlen, char *err, size_t errlen) {
  int rc = 0;
  PGresult *res = run(c, sql, PGRES_TUPLES_OK, what, &rc, err, errlen);
  if (res == NULL) return rc;
  if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0))
    out[0] = '\0';
  else
    snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
  PQclear(res);
  return 0;
}

/* Refuse a URI that carries a password: it would show in ps and the logs.
 * Returns 0, or -EINVAL with the reason. */
static int no_password(const char *uri, char *err, size_t errlen) {
  char *perr = NULL;
  PQconninfoOption *o = PQconninfoParse(uri, &perr);
  int r = 0;
  if (o == NULL) {
    char line[300];
    one_line(line, sizeof(line), perr ? perr : "out of memory");
    snprintf(err, errlen, "is not a valid PostgreSQL URI: %s", line);
    PQfreemem(perr);
    return -EINVAL;
  }
  for (PQconninfoOption *p = o; p->keyword != NULL; p++)
    if (strcmp(p->keyword, "password") == 0 && p->val != NULL &&
        *p->val != '\0')
      r = -EINVAL;
  PQconninfoFree(o);
  if (r < 0)
    snprintf(err, errlen,
             "holds a password: give it in PGPASSFILE (~/.pgpass) or "
             "PGPASSWORD instead, never on the command line");
  return r;
}

/* Connect (blocking).  Returns the connection or NULL with *rc and err. */
static PGconn *connect_db(const char *uri, int *rc, char *err,
                          size_t errlen) {
  const char *const keys[] = {"dbname", "fallback_application_name",
                              "client_encoding", NULL};
  const char *const vals[] = {uri, "burstqd", "UTF8", NULL};
  PGconn *c = PQconnectdbParams(keys, vals, 1);
  if (c == NULL) {
    snprintf(err, errlen, "cannot connect: out of memory");
    *rc = -BQ_STORE_IO;
    return NULL;
  }
  if (PQstatus(c) != CONNECTION_OK) {
    char line[400];
    one_line(line, sizeof(line), PQerrorMessage(c));
    snprintf(err, errlen, "cannot connect: %s", line);
    /* libpq gives no SQLSTATE for a refused start-up: all of it
     * (server down, starting, too many connections) is transient. */
    *rc = strstr(line, "too many") ? -BQ_STORE_BUSY : -BQ_STORE_UNAVAILABLE;
    PQfinish(c);
    return NULL;
  }
  return c;
}

static void set_backend_name(PGconn *c) {
  int v = PQserverVersion(c);
  if (v >= 100000)
    snprintf(backend_name, sizeof(backend_name), "postgresql %d.%d",
             v / 10000, v % 10000);
  else
    snprintf(backend_name, sizeof(backend_name), "postgresql %d.%d.%d",
             v / 10000, v / 100 % 100, v % 100);
}

/* Classify the database c is connected to (read-only): *found and
 * *version, or -EPROTO with the reason. */
static int classify(PGconn *c, int *found, int *version, char *err,
                    size_t errlen) {
  char rels[1024], cols[4096], enc[64], ver[32];
  const char *want; /* the schema version the tables are of */
  int rc;

  rc = query1(c, "SELECT pg_encoding_to_char(encoding) FROM pg_database"
              " WHERE datname = current_database()",
              "cannot read the database", enc, sizeof(enc), err, errlen);
  if (rc == 0)
    rc = query1(c, relations_sql, "cannot read the schema", rels,
                sizeof(rels), err, errlen);
  if (rc == 0)
    rc = query1(c, columns_sql, "cannot read the schema", cols, sizeof(cols),
                err, errlen);
  if (rc < 0) return -EPROTO;
  if (strcmp(enc, "UTF8") != 0 && strcmp(enc, "SQL_ASCII") != 0) {
    snprintf(err, errlen,
             "has encoding %s; burstqd needs UTF8 (or SQL_ASCII): create it "
             "with createdb -E UTF8 -T template0",
             enc);
    return -EPROTO;
  }
  if (rels[0] == '\0') {
    *found = BQ_STORE_EMPTY;
    *version = 0;
    return 0;
  }
  if (strcmp(rels, relations_v3) == 0 && strcmp(cols, columns_v3) == 0)
    want = "3";
  else if (strcmp(rels, relations_v4) == 0 && strcmp(cols, columns_v4) == 0)
    want = "4";
  else {
    snprintf(err, errlen,
             "is not a burstq database (its schema holds other tables, or "
             "burstq's tables changed: %.200s)",
             rels);
    return -EPROTO;
  }
  rc = query1(c, "SELECT value FROM burstq_meta"
              " WHERE key = 'schema_version'",
              "cannot read burstq_meta", ver, sizeof(ver), err, errlen);
  if (rc < 0) return -EPROTO;
  if (strcmp(ver, want) != 0) {
    snprintf(err, errlen,
             "is a burstq database of schema version '%s' with the tables "
             "of version %s, which this burstqd does not know",
             ver, want);
    return -EPROTO;
  }
  *found = BQ_STORE_BURSTQ;
  *version = want[0] - '0';
  return 0;
}

int bq_store_pg_check(const char *uri, struct bq_store_check *out, char *err,
                      size_t errlen) {
  PGconn *c;
  int rc = 0, r;

  r = no_password(uri, err, errlen);
  if (r < 0) return r;
  c = connect_db(uri, &rc, err, errlen);
  if (c == NULL) return -ECONNREFUSED;
  set_backend_name(c);
  memset(out, 0, sizeof(*out));
  /* Nothing the check runs may write, whatever it is. */
  {
    PGresult *res = run(c, "SET default_transaction_read_only = on",
                        PGRES_COMMAND_OK, "cannot set up", &rc, err, errlen);
    if (res == NULL) {
      PQfinish(c);
      return -EPROTO;
    }
    PQclear(res);
  }
  r = classify(c, &out->found, &out->version, err, errlen);
  PQfinish(c);
  if (r < 0) return r;
  out->max_payload = PG_MAX_PAYLOAD;
  out->backend = backend_name;
  return 0;
}

/* synchronous_commit for a sync mode (see the design block). */
static const char *sync_sql(int sync) {
  switch (sync) {
    case BQ_SYNC_OFF:
      return "SET synchronous_commit = off";
    case BQ_SYNC_NORMAL:
      return "SET synchronous_commit = remote_write";
    default:
      return "SET synchronous_commit = on";
  }
}

/* Take the node's session lock, waiting up to wait_ms for it.  Returns 0,
 * -BQ_STORE_BUSY when another session holds it, or another error. */
static int lock_node(struct pg_store *s, unsigned wait_ms, char *err,
                     size_t errlen) {
  char sql[96], v[8];
  uint64_t until = now_ms() + wait_ms;
  int rc;
  snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%d, %" PRId64 ")",
           LOCK_KEY, s->node_id);
  for (;;) {
    rc = query1(s->conn, sql, "cannot lock the node", v, sizeof(v), err,
                errlen);
    if (rc < 0) return rc;
    if (strcmp(v, "t") == 0) return 0;
    if (now_ms() >= until) break;
    sleep_ms(100);
  }
  snprintf(err, errlen,
           "node '%s' is in use by another session (another burstqd with "
           "this --node, or this one's previous session, not yet ended)",
           s->node);
  return -BQ_STORE_BUSY;
}

/* Drop the connection (after a failure). */
static void drop(struct pg_store *s) {
  PQfinish(s->conn);
  s->conn = NULL;
}

/* Connect and set the session up: sync mode, the node's lock.  Returns 0
 * or a negated enum bq_store_err. */
static int session(struct pg_store *s, unsigned wait_ms, char *err,
                   size_t errlen) {
  PGresult *res;
  int rc = 0;
  assert(s->conn == NULL);
  s->conn = connect_db(s->uri, &rc, err, errlen);
  if (s->conn == NULL) return rc;
  res = run(s->conn, sync_sql(s->sync), PGRES_COMMAND_OK, "cannot set up",
            &rc, err, errlen);
  if (res != NULL) {
    PQclear(res);
    rc = lock_node(s, wait_ms, err, errlen);
  }
  if (rc < 0) drop(s);
  return rc;
}

/* Create the schema if the database is empty, and add this node, in one
 * transaction under the schema lock; read the node's id, last batch and
 * highest connection id.  Returns 0 or a negative value (as open). */
static int setup_schema(struct pg_store *s, char *err, size_t errlen) {
  PGconn *c = s->conn;
  PGresult *res;
  char sql[160], ts[32];
  const char *params[2];
  int rc = 0, found = 0, version = 0, from, r;

  snprintf(sql, sizeof(sql), "BEGIN; SELECT pg_advisory_xact_lock(%d, 0)",
           LOCK_KEY);
  res = run(c, sql, PGRES_TUPLES_OK, "cannot begin", &rc, err, errlen);
  if (res == NULL) return rc;
  PQclear(res);
  /* Under the lock: another daemon may have created it meanwhile. */
  r = classify(c, &found, &version, err, errlen);
  if (r < 0) goto rollback;
  if (found == BQ_STORE_EMPTY) {
    res = run(c, schema_sql, PGRES_COMMAND_OK, "cannot create the schema",
              &r, err, errlen);
    if (res == NULL) goto rollback;
    PQclear(res);
    version = 3;
  }
  from = found == BQ_STORE_EMPTY ? 0 : version;
  if (version == 3) {
    res = run(c, migrate_v4_sql, PGRES_COMMAND_OK,
              "cannot migrate the schema to version 4", &r, err, errlen);
    if (res == NULL) goto rollback;
    PQclear(res);
    /* The result must be exactly the current schema. */
    r = classify(c, &found, &version, err, errlen);
    if (r < 0) goto rollback;
    if (version != SCHEMA_VERSION) {
      snprintf(err, errlen, "schema version %d after the upgrade", version);
      r = -BQ_STORE_FAILED;
      goto rollback;
    }
  }
  snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL) * 1000000LL);
  params[0] = s->node;
  params[1] = ts;
  res = PQexecParams(c,
                     "INSERT INTO nodes(name, created_at) VALUES ($1, $2)"
                     " ON CONFLICT (name) DO NOTHING",
                     2, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    r = fail_res(c, res, "cannot add the node", err, errlen);
    PQclear(res);
    goto rollback;
  }
  PQclear(res);
  res = PQexecParams(c, "SELECT id, last_batch FROM nodes WHERE name = $1", 1,
                     NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
    r = fail_res(c, res, "cannot read the node", err, errlen);
    PQclear(res);
    goto rollback;
  }
  s->node_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
  s->batch_no = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
  PQclear(res);
  res = run(c, "COMMIT", PGRES_COMMAND_OK, "cannot commit", &r, err, errlen);
  if (res == NULL) return r;
  PQclear(res);
  if (from > 0 && from < SCHEMA_VERSION && s->log)
    bq_log_info(s->log,
                "database migrated from schema version %d to %d (rows kept; "
                "the new columns are NULL in them)",
                from, SCHEMA_VERSION);
  if (s->node_id < 1 || s->node_id > NODE_MAX) {
    snprintf(err, errlen, "node id %" PRId64 " out of range", s->node_id);
    return -BQ_STORE_INVALID;
  }
  return 0;
rollback:
  PQclear(PQexec(c, "ROLLBACK"));
  return r;
}

/* The highest connection id of this node already stored, or the first id
 * of its range minus one... i.e. node_id << NODE_SHIFT when none. */
static int read_last_conn_id(struct pg_store *s, char *err, size_t errlen) {
  char sql[200], v[32];
  int64_t lo = s->node_id << NODE_SHIFT;
  int rc;
  snprintf(sql, sizeof(sql),
           "SELECT coalesce(max(id), %" PRId64 ") FROM connections"
           " WHERE id >= %" PRId64 " AND id < %" PRId64,
           lo, lo, lo + (INT64_C(1) << NODE_SHIFT));
  rc = query1(s->conn, sql, "cannot read the connections", v, sizeof(v), err,
              errlen);
  if (rc < 0) return rc;
  s->base.last_conn_id = strtoll(v, NULL, 10);
  return 0;
}

static int valid_node(const char *node) {
  size_t n = strlen(node);
  if (n == 0 || n > NODE_NAME_MAX) return 0;
  for (const char *p = node; *p; p++)
    if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) return 0;
  return 1;
}

int bq_store_pg_open(const char *uri, const struct bq_store_opts *opts,
                     struct bq_store **out, char *err, size_t errlen) {
  struct bq_store_check found;
  struct pg_store *s;
  int r;

  *out = NULL;
  if (opts->page_size != 0) {
    snprintf(err, errlen,
             "--page-size is for SQLite databases only (PostgreSQL's page "
             "size is fixed when the server is built)");
    return -EINVAL;
  }
  if (opts->node == NULL || !valid_node(opts->node)) {
    snprintf(err, errlen,
             "--node must be 1 to %d printable ASCII characters without "
             "spaces",
             NODE_NAME_MAX);
    return -EINVAL;
  }
  r = bq_store_pg_check(uri, &found, err, errlen);
  if (r < 0) return r;
  s = calloc(1, sizeof(*s));
  if (s == NULL || (s->uri = strdup(uri)) == NULL ||
      (s->node = strdup(opts->node)) == NULL) {
    if (s) free(s->uri);
    free(s);
    snprintf(err, errlen, "out of memory");
    return -BQ_STORE_IO;
  }
  s->base.ops = &pg_ops;
  s->base.caps.concurrent_appends = 0;
  s->base.caps.max_payload = PG_MAX_PAYLOAD;
  s->base.backend = backend_name;
  s->sync = opts->sync;
  s->log = opts->log;
  s->max_db_bytes = opts->max_db_bytes;
  if (bq_retain_on(opts->retain)) {
    if (bq_retain_pg_open(opts->retain, &s->retain) < 0) {
      pg_close(&s->base, err, errlen);
      snprintf(err, errlen, "out of memory");
      return -BQ_STORE_IO;
    }
    s->retain_stats = opts->retain_stats;
  }
  r = 0;
  s->conn = connect_db(uri, &r, err, errlen);
  if (s->conn != NULL) r = setup_schema(s, err, errlen);
  if (r == 0) {
    drop(s);
    r = session(s, NODE_LOCK_WAIT_MS, err, errlen);
    if (r == -BQ_STORE_BUSY) r = -EBUSY;
  }
  if (r == 0) r = read_last_conn_id(s, err, errlen);
  if (r < 0) {
    char e2[8];
    pg_close(&s->base, e2, sizeof(e2));
    return r;
  }
  *out = &s->base;
  return 0;
}

/* ---- COPY data (binary format) ------------------------------------------ */

static int grow(struct pg_store *s, size_t more) {
  size_t cap;
  char *nb;
  if (s->len + more <= s->cap) return 0;
  cap = s->cap ? s->cap : 65536;
  while (cap < s->len + more) cap *= 2;
  nb = realloc(s->buf, cap);
  if (nb == NULL) return -1;
  s->buf = nb;
  s->cap = cap;
  return 0;
}

static void put16(struct pg_store *s, uint16_t v) {
  s->buf[s->len++] = (char)(v >> 8);
  s->buf[s->len++] = (char)v;
}

static void put32(struct pg_store *s, uint32_t v) {
  for (int i = 3; i >= 0; i--) s->buf[s->len++] = (char)(v >> (8 * i));
}

static void put64(struct pg_store *s, int64_t v) {
  uint64_t u = (uint64_t)v;
  for (int i = 7; i >= 0; i--) s->buf[s->len++] = (char)(u >> (8 * i));
}

/* Field headers and values; grow() first for the worst case. */
static void field_i64(struct pg_store *s, int64_t v) {
  put32(s, 8);
  put64(s, v);
}

static void field_i32(struct pg_store *s, int32_t v) {
  put32(s, 4);
  put32(s, (uint32_t)v);
}

static void field_null(struct pg_store *s) { put32(s, 0xffffffffu); }

static void field_bytes(struct pg_store *s, const char *p, size_t n) {
  put32(s, (uint32_t)n);
  memcpy(s->buf + s->len, p, n);
  s->len += n;
}

/* Bytes of the UTF-8 sequence at p (at most n), or 0 when it is not a
 * valid, shortest-form, non-NUL character. */
static size_t utf8_char(const unsigned char *p, size_t n) {
  size_t len, i;
  uint32_t cp;
  if (p[0] == 0) return 0;
  if (p[0] < 0x80) return 1;
  if ((p[0] & 0xe0) == 0xc0) len = 2, cp = p[0] & 0x1f;
  else if ((p[0] & 0xf0) == 0xe0) len = 3, cp = p[0] & 0x0f;
  else if ((p[0] & 0xf8) == 0xf0) len = 4, cp = p[0] & 0x07;
  else return 0;
  if (len > n) return 0;
  for (i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (p[i] & 0x3f);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
      (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

/* A text field: PostgreSQL's text holds valid UTF-8 without NUL, so each
 * byte that is not part of such a character becomes U+FFFD (the payload,
 * bytea, keeps every byte).  NULL p: a NULL field.  Needs 4 + 3n bytes. */
static void field_text(struct pg_store *s, const char *p, size_t n) {
  size_t at, i = 0;
  if (p == NULL) {
    field_null(s);
    return;
  }
  at = s->len;
  put32(s, 0);
  while (i < n) {
    size_t k = utf8_char((const unsigned char *)p + i, n - i);
    if (k == 0) {
      memcpy(s->buf + s->len, "\xef\xbf\xbd", 3);
      s->len += 3;
      i++;
    } else {
      memcpy(s->buf + s->len, p + i, k);
      s->len += k;
      i += k;
    }
  }
  {
    uint32_t flen = (uint32_t)(s->len - at - 4);
    for (int b = 0; b < 4; b++) s->buf[at + (size_t)b] = (char)(flen >> (8 * (3 - b)));
  }
}

static void copy_begin(struct pg_store *s) {
  s->len = 0;
  memcpy(s->buf, "PGCOPY\n\377\r\n\0", 11);
  s->len = 11;
  put32(s, 0); /* flags */
  put32(s, 0); /* header extension */
}

/* Run "COPY ... FROM STDIN (FORMAT binary)" with the data in s->buf
 * (copy_begin and rows; the trailer is added here). */
static int copy_run(struct pg_store *s, const char *sql, const char *what,
                    char *err, size_t errlen) {
  PGresult *res;
  int rc = 0;
  if (grow(s, 2) < 0) {
    snprintf(err, errlen, "out of memory building a batch");
    return -BQ_STORE_IO;
  }
  put16(s, 0xffff); /* the trailer */
  res = PQexec(s->conn, sql);
  if (PQresultStatus(res) != PGRES_COPY_IN) {
    rc = fail_res(s->conn, res, what, err, errlen);
    PQclear(res);
    return rc;
  }
  PQclear(res);
  /* libpq takes at most INT_MAX bytes per call. */
  for (size_t off = 0; off < s->len;) {
    size_t n = s->len - off > (1u << 30) ? (1u << 30) : s->len - off;
    if (PQputCopyData(s->conn, s->buf + off, (int)n) != 1) {
      PQputCopyEnd(s->conn, "burstqd: write failed");
      break;
    }
    off += n;
  }
  if (PQputCopyEnd(s->conn, NULL) != 1) {
    /* the connection is gone; the result below says so */
  }
  res = PQgetResult(s->conn);
  if (PQresultStatus(res) != PGRES_COMMAND_OK)
    rc = fail_res(s->conn, res, what, err, errlen);
  PQclear(res);
  /* Drain to the end of the command. */
  while ((res = PQgetResult(s->conn)) != NULL) PQclear(res);
  return rc;
}

/* The fields of an OPEN record's data (record.h): peer, listener, TLS
 * subject; absent ones NULL. */
static void open_fields(const struct bq_rec *r, const char *f[3],
                        size_t flen[3]) {
  const char *p = r->data, *end = r->data + r->len;
  int nf = 0;
  f[0] = f[1] = f[2] = NULL;
  flen[0] = flen[1] = flen[2] = 0;
  while (nf < 3) {
    const char *nul = memchr(p, '\0', (size_t)(end - p));
    const char *fe = nul != NULL && nf < 2 ? nul : end;
    f[nf] = p;
    flen[nf++] = (size_t)(fe - p);
    if (fe == end) break;
    p = fe + 1;
  }
}

/* COPY the batch's OPEN records into connections. */
static int write_opens(struct pg_store *s, const struct bq_rec *batch,
                       char *err, size_t errlen) {
  int any = 0;
  if (grow(s, 32) < 0) goto oom;
  copy_begin(s);
  for (const struct bq_rec *r = batch; r != NULL; r = r->next) {
    const char *f[3];
    size_t flen[3];
    if (r->type != BQ_REC_OPEN) continue;
    if (grow(s, 64 + 3 * (size_t)r->len + 8) < 0) goto oom;
    open_fields(r, f, flen);
    put16(s, 5);
    field_i64(s, r->conn_id);
    field_text(s, f[0], flen[0]);
    field_i64(s, r->ts_us);
    field_text(s, f[1], flen[1]);
    field_text(s, f[2], flen[2]);
    any = 1;
  }
  if (!any) return 0;
  return copy_run(s,
                  "COPY connections(id, peer, opened_at, listener,"
                  " tls_subject) FROM STDIN (FORMAT binary)",
                  "cannot insert connections", err, errlen);
oom:
  snprintf(err, errlen, "out of memory building a batch");
  return -BQ_STORE_IO;
}

/* Set closed_at for the batch's CLOSE records, in one UPDATE. */
static int write_closes(struct pg_store *s, const struct bq_rec *batch,
                        char *err, size_t errlen) {
  size_t n = 0, at;
  const char *params[2];
  PGresult *res;
  int rc = 0;
  for (const struct bq_rec *r = batch; r != NULL; r = r->next)
    if (r->type == BQ_REC_CLOSE) n++;
  if (n == 0) return 0;
  /* Two array literals "{1,2}" side by side in s->buf. */
  if (grow(s, 2 * (n * 21 + 3)) < 0) {
    snprintf(err, errlen, "out of memory building a batch");
    return -BQ_STORE_IO;
  }
  s->len = 0;
  for (int col = 0; col < 2; col++) {
    char sep = '{';
    at = s->len;
    for (const struct bq_rec *r = batch; r != NULL; r = r->next) {
      if (r->type != BQ_REC_CLOSE) continue;
      s->len += (size_t)sprintf(s->buf + s->len, "%c%" PRId64, sep,
                                col == 0 ? r->conn_id : r->ts_us);
      sep = ',';
    }
    s->buf[s->len++] = '}';
    s->buf[s->len++] = '\0';
    params[col] = s->buf + at;
  }
  res = PQexecParams(s->conn,
                     "UPDATE connections AS c SET closed_at = v.t"
                     " FROM unnest($1::bigint[], $2::bigint[]) AS v(id, t)"
                     " WHERE c.id = v.id",
                     2, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_COMMAND_OK)
    rc = fail_res(s->conn, res, "cannot close connections", err, errlen);
  PQclear(res);
  return rc;
}

/* COPY the batch's messages into messages, and the syslog ones' headers
 * into syslog_headers (with ids taken from the sequence first). */
static int write_msgs(struct pg_store *s, const struct bq_rec *batch,
                      char *err, size_t errlen) {
  size_t nmsg = 0, nsys = 0, nprod = 0, i;
  int64_t *ids = NULL;
  char sql[160];
  int rc;
  for (const struct bq_rec *r = batch; r != NULL; r = r->next) {
    if (r->type != BQ_REC_MSG) continue;
    nmsg++;
    if (r->flags & BQ_REC_F_SYSLOG) nsys++;
    if (r->producer != 0) nprod++;
  }
  if (nmsg == 0) return 0;
  if (nsys > 0) {
    PGresult *res;
    snprintf(sql, sizeof(sql),
             "SELECT nextval(pg_get_serial_sequence('messages', 'id'))"
             " FROM generate_series(1, %zu)",
             nmsg);
    rc = 0;
    res = run(s->conn, sql, PGRES_TUPLES_OK, "cannot take message ids", &rc,
              err, errlen);
    if (res == NULL) return rc;
    ids = malloc(nmsg * sizeof(*ids));
    if (ids == NULL || (size_t)PQntuples(res) != nmsg) {
      PQclear(res);
      free(ids);
      snprintf(err, errlen, "out of memory building a batch");
      return -BQ_STORE_IO;
    }
    for (i = 0; i < nmsg; i++)
      ids[i] = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
    PQclear(res);
  }
  if (grow(s, 32) < 0) goto oom;
  copy_begin(s);
  i = 0;
  for (const struct bq_rec *r = batch; r != NULL; r = r->next) {
    if (r->type != BQ_REC_MSG) continue;
    if (grow(s, 96 + (size_t)r->len) < 0) goto oom;
    put16(s, (uint16_t)((ids ? 5 : 4) + (nprod ? 2 : 0)));
    if (ids) field_i64(s, ids[i++]);
    field_i64(s, r->conn_id);
    field_i64(s, r->seq);
    field_i64(s, r->ts_us);
    field_bytes(s, r->data, r->len);
    if (nprod > 0 && r->producer != 0) {
      field_i64(s, r->producer);
      field_i64(s, r->pseq);
    } else if (nprod > 0) {
      field_null(s);
      field_null(s);
    }
  }
  /* The producer columns only when the batch has producer messages. */
  snprintf(sql, sizeof(sql),
           "COPY messages(%sconn_id, seq, received_at, payload%s)"
           " FROM STDIN (FORMAT binary)",
           ids ? "id, " : "", nprod ? ", producer, pseq" : "");
  rc = copy_run(s, sql, "cannot insert messages", err, errlen);
  if (rc < 0 || ids == NULL) {
    free(ids);
    return rc;
  }
  copy_begin(s);
  i = 0;
  for (const struct bq_rec *r = batch; r != NULL; r = r->next) {
    struct bq_syslog_hdr h;
    if (r->type != BQ_REC_MSG) continue;
    i++;
    if (!(r->flags & BQ_REC_F_SYSLOG)) continue;
    if (grow(s, 64 + 3 * (size_t)r->len + 5 * 4 + 8) < 0) goto oom;
    bq_syslog_parse(r->data, r->len, &h);
    put16(s, 9);
    field_i64(s, ids[i - 1]);
    if (h.facility >= 0) field_i32(s, h.facility); else field_null(s);
    if (h.severity >= 0) field_i32(s, h.severity); else field_null(s);
    field_text(s, h.log_time, h.log_time_len);
    field_text(s, h.hostname, h.hostname_len);
    field_text(s, h.app_name, h.app_name_len);
    field_text(s, h.procid, h.procid_len);
    field_text(s, h.msgid, h.msgid_len);
    field_i32(s, (r->flags & BQ_REC_F_TRUNCATED) ? 1 : 0);
  }
  free(ids);
  return copy_run(s,
                  "COPY syslog_headers(message_id, facility, severity,"
                  " log_time, hostname, app_name, procid, msgid, truncated)"
                  " FROM STDIN (FORMAT binary)",
                  "cannot insert syslog headers", err, errlen);
oom:
  free(ids);
  snprintf(err, errlen, "out of memory building a batch");
  return -BQ_STORE_IO;
}

/* ---- producers (store.h) ------------------------------------------------ */

/* A producer's messages in the batch so far: pseqs from..to, contiguous,
 * the last received at ts. */
struct prun {
  int64_t producer; /* producers.id */
  int64_t from, to, ts;
};

/* The runs not yet written to producers (one per producer). */
struct pruns {
  struct prun *v;
  size_t n, cap;
};

/* Fail the batch for a producer whose messages do not follow its committed
 * count (store.h: never retried). */
static int not_contiguous(const struct prun *p, char *err, size_t errlen) {
  snprintf(err, errlen,
           "producer %" PRId64 ": messages %" PRId64 "..%" PRId64
           " do not follow its committed count (a hole or a duplicate, e.g. "
           "the id in use on another daemon; nothing of the batch stored)",
           p->producer, p->from, p->to);
  return -BQ_STORE_CONSTRAINT;
}

/* Add producer message r to its producer's run (starting one).  A pseq
 * that does not follow the run's last fails the batch. */
static int prun_add(struct pruns *runs, const struct bq_rec *r, char *err,
                    size_t errlen) {
  struct prun *p = NULL;
  assert(r->type == BQ_REC_MSG && r->producer > 0 && r->pseq > 0);
  /* A connection's records come in runs: look at the latest first. */
  for (size_t i = runs->n; i > 0 && p == NULL; i--)
    if (runs->v[i - 1].producer == r->producer) p = &runs->v[i - 1];
  if (p != NULL) {
    if (r->pseq != p->to + 1) {
      struct prun bad = {r->producer, p->from, r->pseq, r->ts_us};
      return not_contiguous(&bad, err, errlen);
    }
    p->to = r->pseq;
    p->ts = r->ts_us;
    return 0;
  }
  if (runs->n == runs->cap) {
    size_t cap = runs->cap ? 2 * runs->cap : 16;
    struct prun *nv = realloc(runs->v, cap * sizeof(*nv));
    if (nv == NULL) {
      snprintf(err, errlen, "out of memory building a batch");
      return -BQ_STORE_IO;
    }
    runs->v = nv;
    runs->cap = cap;
  }
  runs->v[runs->n++] = (struct prun){r->producer, r->pseq, r->pseq, r->ts_us};
  return 0;
}

/* Advance every run's producer to its last pseq, in one UPDATE that
 * matches only rows whose committed count is the run's first pseq minus
 * one (the contiguity check; row locks make two daemons writing one
 * producer wait for each other, so the second sees the first's count).
 * Empties runs.  Returns 0 or a negated enum bq_store_err. */
static int prun_flush(struct pg_store *s, struct pruns *runs, char *err,
                      size_t errlen) {
  size_t n = runs->n, at[4], len = 0, cap = runs->n * 4 * 21 + 16;
  const char *params[4];
  char *buf;
  PGresult *res;
  int rc = 0;
  if (n == 0) return 0;
  buf = malloc(cap);
  if (buf == NULL) {
    snprintf(err, errlen, "out of memory building a batch");
    return -BQ_STORE_IO;
  }
  /* Four array literals "{1,2}" side by side. */
  for (int col = 0; col < 4; col++) {
    char sep = '{';
    at[col] = len;
    for (size_t i = 0; i < n; i++) {
      const struct prun *p = &runs->v[i];
      int64_t v = col == 0 ? p->producer
                  : col == 1 ? p->from - 1
                  : col == 2 ? p->to
                             : p->ts;
      len += (size_t)snprintf(buf + len, cap - len, "%c%" PRId64, sep, v);
      sep = ',';
    }
    buf[len++] = '}';
    buf[len++] = '\0';
    assert(len <= cap);
  }
  for (int col = 0; col < 4; col++) params[col] = buf + at[col];
  res = PQexecParams(s->conn,
                     "UPDATE producers AS p SET committed = v.last,"
                     " updated_at = v.ts"
                     " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[],"
                     " $4::bigint[]) AS v(id, prev, last, ts)"
                     " WHERE p.id = v.id AND p.committed = v.prev"
                     " RETURNING p.id",
                     4, NULL, params, NULL, NULL, 0);
  free(buf);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    rc = fail_res(s->conn, res, "cannot advance producers", err, errlen);
  } else if ((size_t)PQntuples(res) != n) {
    /* Name a run that did not match. */
    size_t i = 0;
    for (; i < n; i++) {
      int hit = 0;
      for (int k = 0; k < PQntuples(res) && !hit; k++)
        hit = strtoll(PQgetvalue(res, k, 0), NULL, 10) == runs->v[i].producer;
      if (!hit) break;
    }
    rc = not_contiguous(&runs->v[i < n ? i : 0], err, errlen);
  }
  PQclear(res);
  runs->n = 0;
  return rc;
}

/* r's producer id as a C string in name (BQ_PROTO_PRODUCER_MAX + 1). */
static void hello_name(const struct bq_rec *r, char *name) {
  assert(r->type == BQ_REC_HELLO);
  assert(r->len > 0 && r->len <= BQ_PROTO_PRODUCER_MAX);
  memcpy(name, r->data, r->len);
  name[r->len] = '\0';
}

/* A HELLO (store.h): after the runs so far are written, find or create the
 * producer's row, lock it until the batch ends, and fill in r's producer
 * (producers.id) and pseq (its committed count). */
static int write_hello(struct pg_store *s, struct bq_rec *r,
                       struct pruns *runs, char *err, size_t errlen) {
  char name[BQ_PROTO_PRODUCER_MAX + 1], ts[24];
  const char *params[2] = {name, ts};
  PGresult *res;
  int rc = prun_flush(s, runs, err, errlen);
  if (rc < 0) return rc;
  hello_name(r, name);
  snprintf(ts, sizeof(ts), "%" PRId64, r->ts_us);
  res = PQexecParams(s->conn,
                     "INSERT INTO producers(name, committed, created_at,"
                     " updated_at) VALUES ($1, 0, $2, $2)"
                     " ON CONFLICT (name) DO NOTHING",
                     2, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    rc = fail_res(s->conn, res, "cannot add a producer", err, errlen);
    PQclear(res);
    return rc;
  }
  PQclear(res);
  res = PQexecParams(s->conn,
                     "SELECT id, committed FROM producers WHERE name = $1"
                     " FOR UPDATE",
                     1, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    rc = fail_res(s->conn, res, "cannot read a producer", err, errlen);
  } else if (PQntuples(res) != 1) {
    snprintf(err, errlen, "producer '%s': added, yet not found", name);
    rc = -BQ_STORE_FAILED;
  } else {
    r->producer = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    r->pseq = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
  }
  PQclear(res);
  return rc;
}

/* The producers' part of a batch, in chain order: HELLOs answered, the
 * producers of the messages advanced (their rows are COPYed later, in the
 * same transaction). */
static int write_producers(struct pg_store *s, struct bq_rec *batch,
                           char *err, size_t errlen) {
  struct pruns runs = {NULL, 0, 0};
  int rc = 0;
  for (struct bq_rec *r = batch; r != NULL && rc == 0; r = r->next) {
    if (r->type == BQ_REC_HELLO)
      rc = write_hello(s, r, &runs, err, errlen);
    else if (r->type == BQ_REC_MSG && r->producer != 0)
      rc = prun_add(&runs, r, err, errlen);
  }
  if (rc == 0) rc = prun_flush(s, &runs, err, errlen);
  free(runs.v);
  return rc;
}

/* Batch b committed, but its COMMIT's answer was lost (the design block):
 * fill in its HELLOs' output as that transaction did.  Nothing of this
 * node has written since (batches are one at a time), so a producer's
 * committed count now is its count at the end of batch b, and a HELLO's
 * count is that minus the producer's messages after the HELLO in the
 * batch.  (Only a producer id used on another daemon at once can move the
 * count meanwhile; the count read is then the newer one, still exact for
 * RESUME, and that daemon's next batch of the id fails the contiguity
 * check.) */
static int settle_hellos(struct pg_store *s, struct bq_rec *batch, char *err,
                         size_t errlen) {
  for (struct bq_rec *r = batch; r != NULL; r = r->next) {
    char name[BQ_PROTO_PRODUCER_MAX + 1];
    const char *params[1] = {name};
    PGresult *res;
    int64_t later = 0;
    if (r->type != BQ_REC_HELLO) continue;
    hello_name(r, name);
    res = PQexecParams(s->conn,
                       "SELECT id, committed FROM producers WHERE name = $1",
                       1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      int rc = fail_res(s->conn, res, "cannot read a producer", err, errlen);
      PQclear(res);
      return rc;
    }
    if (PQntuples(res) != 1) {
      PQclear(res);
      snprintf(err, errlen,
               "producer '%s' of a committed batch is missing (rows deleted "
               "by someone else?)",
               name);
      return -BQ_STORE_CONSTRAINT;
    }
    r->producer = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    r->pseq = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    for (const struct bq_rec *q = r->next; q != NULL; q = q->next)
      if (q->type == BQ_REC_MSG && q->producer == r->producer) later++;
    r->pseq -= later;
    if (r->pseq < 0) {
      snprintf(err, errlen,
               "producer '%s' of a committed batch counts fewer messages "
               "than the batch stored (rows changed by someone else?)",
               name);
      return -BQ_STORE_CONSTRAINT;
    }
  }
  return 0;
}

/* Refresh the cached size (at most every SIZE_EVERY_MS, inside the
 * batch's transaction).  Failures leave it as it was. */
static void refresh_size(struct pg_store *s) {
  char v[32], e[8];
  uint64_t t = now_ms();
  if (t - s->size_at_ms < SIZE_EVERY_MS && s->size_at_ms != 0) return;
  s->size_at_ms = t;
  if (query1(s->conn,
             "SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c"
             " JOIN pg_namespace n ON n.oid = c.relnamespace"
             " WHERE n.nspname = current_schema() AND c.relkind = 'r'",
             "size", v, sizeof(v), e, sizeof(e)) == 0)
    atomic_store(&s->size, strtoull(v, NULL, 10));
}

/* Start the batch's transaction and claim its number (the design block's
 * "commit outcome unknown").  Returns 0, 1 when the batch was committed
 * already (the transaction is then rolled back), or an error. */
static int begin_batch(struct pg_store *s, int64_t b, char *err,
                       size_t errlen) {
  char sql[200], v[32];
  PGresult *res;
  int rc = 0;
  snprintf(sql, sizeof(sql),
           "BEGIN; UPDATE nodes SET last_batch = %" PRId64
           " WHERE id = %" PRId64 " AND last_batch < %" PRId64,
           b, s->node_id, b);
  res = run(s->conn, sql, PGRES_COMMAND_OK, "cannot begin", &rc, err, errlen);
  if (res == NULL) return rc;
  if (strcmp(PQcmdTuples(res), "1") == 0) {
    PQclear(res);
    return 0;
  }
  PQclear(res);
  snprintf(sql, sizeof(sql), "SELECT last_batch FROM nodes WHERE id = %" PRId64,
           s->node_id);
  rc = query1(s->conn, sql, "cannot read the node", v, sizeof(v), err,
              errlen);
  PQclear(PQexec(s->conn, "ROLLBACK"));
  if (rc < 0) return rc;
  if (v[0] != '\0' && strtoll(v, NULL, 10) >= b) return 1;
  snprintf(err, errlen,
           "row %" PRId64 " of nodes ('%s') is missing or was changed by "
           "someone else",
           s->node_id, s->node);
  return -BQ_STORE_CONSTRAINT;
}

/* Prefix err with "postgresql: ", so that /healthz, the logs and burstq
 * stats name the backend that failed. */
static void name_backend(char *err, size_t errlen) {
  static const char pre[] = "postgresql: ";
  size_t n = strlen(err), p = sizeof(pre) - 1;
  if (errlen <= p) return;
  if (n + p >= errlen) n = errlen - p - 1;
  memmove(err + p, err, n);
  memcpy(err, pre, p);
  err[n + p] = '\0';
}

static int write_batch(struct pg_store *s, struct bq_rec *batch,
                       char *err, size_t errlen);

/* Messages in a batch. */
static uint64_t batch_msgs(const struct bq_rec *batch) {
  uint64_t n = 0;
  for (const struct bq_rec *r = batch; r != NULL; r = r->next)
    n += r->type == BQ_REC_MSG;
  return n;
}

/* Inside the open transaction: one retention pass (retention_pg.c) with
 * budget, deleting only when this transaction gets the retention lock
 * (pg_try_advisory_xact_lock, held until it ends; a daemon that does not
 * get it never waits, it only looks).  Returns 0 with *p and *locked (1:
 * this pass held the lock), or a negated enum bq_store_err with err (the
 * caller rolls back). */
static int retain_pass(struct pg_store *s, uint64_t budget,
                       struct bq_retain_pass *p, int *locked, char *err,
                       size_t errlen) {
  char sql[80], v[8];
  PGresult *failed;
  int rc;
  snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_xact_lock(%d, %d)",
           LOCK_KEY, RETAIN_KEY);
  rc = query1(s->conn, sql, "cannot lock for retention", v, sizeof(v), err,
              errlen);
  if (rc < 0) return rc;
  *locked = strcmp(v, "t") == 0;
  if (bq_retain_pg_pass(s->retain, s->conn, budget, bq_unix_us(), *locked, p,
                        &failed) == 0)
    return 0;
  rc = fail_res(s->conn, failed, "cannot delete old messages (retention)",
                err, errlen);
  PQclear(failed);
  return rc;
}

static int pg_retain(struct bq_store *base, int *more, char *err,
                     size_t errlen) {
  struct pg_store *s = (struct pg_store *)base;
  struct bq_retain_pass pass;
  uint64_t budget = bq_retain_budget(BQ_RETAIN_IDLE_MSGS);
  PGresult *res;
  int rc = 0, locked = 0;
  *more = 0;
  if (s->retain == NULL) return 0;
  if (s->conn == NULL) rc = session(s, 0, err, errlen);
  if (rc == 0) {
    res = run(s->conn, "BEGIN", PGRES_COMMAND_OK, "cannot begin", &rc, err,
              errlen);
    PQclear(res);
  }
  if (rc == 0) rc = retain_pass(s, budget, &pass, &locked, err, errlen);
  if (rc == 0) {
    res = run(s->conn, "COMMIT", PGRES_COMMAND_OK, "cannot commit", &rc, err,
              errlen);
    PQclear(res);
  }
  if (rc < 0) {
    if (s->conn != NULL) drop(s); /* the server rolls back */
    name_backend(err, errlen);
    return rc;
  }
  if (s->retain_stats) bq_retain_record(s->retain_stats, &pass);
  /* another daemon deleting: its own passes catch up */
  *more = locked && (pass.lag_rows > 0 || pass.rows >= budget);
  return 0;
}

static int pg_append(struct bq_store *base, struct bq_rec *batch,
                     char *err, size_t errlen) {
  int rc = write_batch((struct pg_store *)base, batch, err, errlen);
  if (rc < 0) name_backend(err, errlen);
  return rc;
}

/* append() itself: see the design block. */
static int write_batch(struct pg_store *s, struct bq_rec *batch,
                       char *err, size_t errlen) {
  int64_t b = s->batch_no + 1;
  struct bq_retain_pass pass;
  PGresult *res;
  int rc, locked;

  assert(batch != NULL);
  if (s->conn == NULL) {
    rc = session(s, 0, err, errlen);
    if (rc < 0) return rc;
  }
  if (s->max_db_bytes > 0 && atomic_load(&s->size) >= s->max_db_bytes) {
    s->size_at_ms = 0; /* read it again now: rows may have been deleted */
    refresh_size(s);
    if (atomic_load(&s->size) >= s->max_db_bytes) {
      if (s->retain != NULL) {
        /* Delete what the limits call for now: (auto)vacuum can then give
         * back empty pages at the tables' ends (a failure is left to the
         * retry). */
        int more;
        char e2[8];
        pg_retain(&s->base, &more, e2, sizeof(e2));
      }
      snprintf(err, errlen,
               "the --max-db-size cap of %llu bytes is reached (delete rows)",
               (unsigned long long)s->max_db_bytes);
      return -BQ_STORE_FULL;
    }
  }
  rc = begin_batch(s, b, err, errlen);
  if (rc == 1) {
    rc = settle_hellos(s, batch, err, errlen);
    if (rc < 0) {
      drop(s);
      return rc;
    }
    if (s->log)
      bq_log_warn(s->log,
                  "batch %" PRId64 " was committed before the connection was "
                  "lost; not writing it again",
                  b);
    s->batch_no = b;
    return 0;
  }
  if (rc == 0) rc = write_opens(s, batch, err, errlen);
  if (rc == 0) rc = write_producers(s, batch, err, errlen);
  if (rc == 0) rc = write_msgs(s, batch, err, errlen);
  if (rc == 0) rc = write_closes(s, batch, err, errlen);
  if (rc == 0 && s->retain != NULL)
    rc = retain_pass(s, bq_retain_budget(batch_msgs(batch)), &pass, &locked,
                     err, errlen);
  if (rc == 0) refresh_size(s);
  if (rc == 0) {
    res = run(s->conn, "COMMIT", PGRES_COMMAND_OK, "cannot commit", &rc, err,
              errlen);
    if (res != NULL) {
      PQclear(res);
      s->batch_no = b;
      if (s->retain != NULL && s->retain_stats != NULL)
        bq_retain_record(s->retain_stats, &pass);
      if (s->cap > (1u << 24)) { /* do not keep a huge buffer */
        free(s->buf);
        s->buf = NULL;
        s->cap = 0;
      }
      return 0;
    }
  }
  /* Whatever failed, the next attempt starts on a fresh session, which
   * settles a commit whose outcome is unknown (the design block). */
  drop(s);
  return rc;
}

static uint64_t pg_size(struct bq_store *base) {
  struct pg_store *s = (struct pg_store *)base;
  return atomic_load(&s->size);
}

static int pg_close(struct bq_store *base, char *err, size_t errlen) {
  struct pg_store *s = (struct pg_store *)base;
  (void)err;
  (void)errlen;
  if (s->conn != NULL) PQfinish(s->conn); /* ends the session: its lock */
  bq_retain_pg_close(s->retain);
  free(s->buf);
  free(s->uri);
  free(s->node);
  free(s);
  return 0;
}
