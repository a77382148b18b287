/*
 * counters.h -- every counter the event loop keeps, written down once.
 *
 * Design: one X-macro list.  Each entry names the field of struct
 * bq_server_stats (server.h), its key in the "stopped:" summary line that
 * burstqd logs on exit, the Prometheus metric it is rendered as, the label
 * that tells it apart inside that metric (empty for none) and the metric's
 * help text.  Entries that share a metric are one family with one label
 * each; they must be adjacent, and the first one's help text is the
 * family's.  The struct, /metrics (metrics.c), the summary line (main.c)
 * and the documentation check (tests/unit/test_counters.c, against
 * docs/metrics.md) all expand this list, so a new counter is one line here
 * plus one line of documentation.
 *
 * Every counter is written by the loop thread only and read by it (scrapes
 * run on the same loop); see metrics.h for the worker-side numbers.
 *
 * X(field, summary_key, metric, label, help)
 */
#ifndef BQ_COUNTERS_H
#define BQ_COUNTERS_H

#define BQ_LOOP_COUNTERS(X)                                                  \
  X(received, "received", "burstq_messages_received_total", "",             \
    "Messages framed from connections and queued.")                          \
  X(committed, "committed", "burstq_messages_committed_total", "",          \
    "Messages durable in the database.")                                     \
  X(rejected, "rejected", "burstq_messages_rejected_total",                 \
    "reason=\"too_long\"",                                                   \
    "Lines refused, by reason (each got an ERR line).")                      \
  X(accepted, "connections", "burstq_connections_accepted_total", "",       \
    "Client connections accepted and served.")                               \
  X(refused, "refused", "burstq_connections_refused_total",                 \
    "reason=\"max_connections\"", "Client connections refused, by reason.")  \
  X(denied, "denied", "burstq_connections_refused_total",                   \
    "reason=\"not_allowed\"", "")                                            \
  X(pauses, "pauses", "burstq_intake_pauses_total", "",                     \
    "Times intake paused because the queue was full.")                       \
  X(auth_failed, "auth_failed", "burstq_auth_failures_total", "",           \
    "Connections closed with ERR auth: missing or wrong AUTH line "          \
    "(--auth-token-file).")                                                  \
  X(idle_closed, "idle_closed", "burstq_connections_idle_closed_total", "", \
    "Connections closed with ERR idle (--idle-timeout).")                    \
  X(accept_errors, "accept_errors", "burstq_accept_errors_total", "",       \
    "accept() failures reported to the daemon (libuv handles EMFILE "        \
    "itself).")                                                              \
  X(partial_dropped, "partial_dropped",                                     \
    "burstq_partial_lines_dropped_total", "",                                \
    "Unterminated lines dropped (connection reset, idle timeout or "         \
    "shutdown); never messages, never acknowledged.")                        \
  X(conn_errors, "conn_errors", "burstq_connection_errors_total", "",       \
    "Connections ended by a reset or a failed write.")                       \
  X(received_bytes, "received_bytes", "burstq_received_bytes_total", "",    \
    "Payload bytes of received messages (newlines not counted).")            \
  X(acks, "acks", "burstq_acks_sent_total", "",                             \
    "\"OK n\" lines written to clients.")                                    \
  X(truncated, "truncated", "burstq_messages_truncated_total", "",          \
    "Messages of syslog listeners longer than --max-message, stored cut "    \
    "to it (truncated = 1).")                                                \
  X(framing_errors, "framing_errors", "burstq_syslog_framing_errors_total", \
    "", "Syslog connections closed for a bad octet count (RFC 6587).")       \
  X(tls_handshakes, "tls_handshakes", "burstq_tls_handshakes_total", "",    \
    "TLS handshakes completed on tls listeners.")                           \
  X(tls_handshake_failures, "tls_failed",                                   \
    "burstq_tls_handshake_failures_total", "reason=\"failed\"",             \
    "TLS connections closed before their handshake completed, by reason.")  \
  X(tls_handshake_timeouts, "tls_timeouts",                                 \
    "burstq_tls_handshake_failures_total", "reason=\"timeout\"", "")        \
  X(tls_handshake_limited, "tls_limited",                                   \
    "burstq_tls_handshake_failures_total", "reason=\"limit\"", "")          \
  X(tls_plaintext_refused, "tls_plaintext_refused",                         \
    "burstq_tls_refused_total", "reason=\"plaintext_on_tls_port\"",         \
    "Connections closed for speaking the wrong protocol: plaintext to a "   \
    "tls listener, or a TLS ClientHello to a plaintext one.")               \
  X(tls_on_plain_refused, "tls_on_plain_refused",                           \
    "burstq_tls_refused_total", "reason=\"tls_on_plaintext_port\"", "")     \
  X(hellos, "hellos", "burstq_producer_hellos_total", "",                   \
    "HELLO lines received: connections that speak for a producer.")         \
  X(resumes, "resumes", "burstq_producer_resumes_total", "",                \
    "\"RESUME n\" replies written (a HELLO answered with the producer's "  \
    "committed count).")                                                     \
  X(dup_skipped, "duplicates_skipped",                                      \
    "burstq_producer_duplicates_skipped_total", "",                         \
    "Lines of producer connections numbered at or below the committed "     \
    "count: acknowledged and not stored again.")                             \
  X(fenced, "fenced", "burstq_producer_refused_total", "reason=\"fenced\"", \
    "Producer connections closed with an ERR, by reason: fenced (a newer "  \
    "HELLO took the id), gap (first-seq past the committed count + 1), "    \
    "hello (invalid HELLO syntax).")                                         \
  X(gaps_refused, "gaps_refused", "burstq_producer_refused_total",          \
    "reason=\"gap\"", "")                                                   \
  X(bad_hellos, "bad_hellos", "burstq_producer_refused_total",              \
    "reason=\"hello\"", "")

#endif /* BQ_COUNTERS_H */
