#!/usr/bin/env bash
# test_waits.sh BURSTQD -- the "where a message waits" metrics (waits.h,
# docs/metrics.md) from a real daemon after a short load: every family is
# rendered, and the counts agree with what happened -- one queue wait, one
# writer-token wait (two workers), one insert and one COMMIT time per
# committed batch; one ack delay per OK written; one pause length per
# finished pause, each counted by its bound; background checkpoints once
# the WAL passed SQLite's threshold.  Sums are non-negative.  The threads
# carry their names.  No assertion is about timing values.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"
. "$HERE/metrics_lib.sh"
need_client

N=$((40000 / BQ_DIV))
SIZE=500 # N x SIZE passes SQLite's 1000-page checkpoint threshold

# Two workers (token waits) and a small queue (intake pauses likely).
start_daemon --sync normal --workers 2 --metrics 127.0.0.1:0 \
  --queue-capacity 500 --queue-bytes 64K
BQ_MPORT=$(metrics_port)
[ -n "$BQ_MPORT" ] || die "no 'metrics on' line in the log"

FAMILIES="burstq_queue_wait_seconds burstq_token_wait_seconds
  burstq_txn_insert_seconds burstq_txn_commit_seconds
  burstq_checkpoint_inline_seconds burstq_checkpoint_run_seconds
  burstq_intake_pause_seconds burstq_completion_wait_seconds
  burstq_ack_delay_seconds"

check_eq "GET /metrics before any load" "$(scrape m0.txt)" 200
for f in $FAMILIES; do
  check_grep "$f is a histogram" m0.txt "^# TYPE $f histogram$"
  check_eq "$f: no observation before any load" "$(metric m0.txt "${f}_count")" 0
done
check_grep "pauses by bound: a counter" m0.txt \
  '^# TYPE burstq_intake_pauses_by_bound_total counter$'

# Thread names (pthread_setname_np): /proc tells the threads apart.
names=$(cat /proc/"$BQ_PID"/task/*/comm | sort | tr '\n' ' ')
note "threads: $names"
for t in bq-writer-0 bq-writer-1 bq-ckpt; do
  case " $names" in
    *" $t "*) note "ok: thread $t" ;;
    *) fail "no thread named $t (threads: $names)" ;;
  esac
done

timeout $((240 * BQ_SLOW)) "$BQ_CLIENT" bench -H "127.0.0.1:$BQ_PORT" -c 4 \
  -n "$N" -s "$SIZE" --db "$BQ_DB" --json </dev/null >b.out 2>b.err
check_eq "bench: exit status (every message acked and stored)" "$?" 0
check_sanitizer_log b.err || true

# The bench has read every ack, so every batch is committed and every OK
# written; a background checkpoint may still be on its way.
ckpt_ran() {
  [ "$(scrape mc.txt)" = 200 ] &&
    [ "$(metric mc.txt burstq_checkpoint_run_seconds_count)" != absent ] &&
    [ "$(metric mc.txt burstq_checkpoint_run_seconds_count)" -ge 1 ]
}
poll $((60 * BQ_SLOW)) ckpt_ran || fail "no background checkpoint ran"
# The batches that closed the connections may not yet be committed (a
# connection leaves the open count when it closes, its CLOSE record leaves
# the queue once committed), or committed but not yet taken by the loop:
# every one is, in time.
completions_taken() {
  [ "$(scrape mc.txt)" = 200 ] &&
    [ "$(metric mc.txt burstq_connections_open)" = 0 ] &&
    [ "$(metric mc.txt burstq_queue_records)" = 0 ] &&
    [ "$(metric mc.txt burstq_completion_wait_seconds_count)" = \
      "$(metric mc.txt burstq_batch_records_count)" ]
}
poll $((60 * BQ_SLOW)) completions_taken ||
  fail "completion waits never matched the batches"
check_eq "GET /metrics after the load" "$(scrape m1.txt)" 200

batches=$(metric m1.txt burstq_batch_records_count)
check_num "batches committed" "$batches" -ge 1
check_eq "messages committed" "$(metric m1.txt burstq_messages_committed_total)" "$N"
check_eq "queue waits: one per committed batch" \
  "$(metric m1.txt burstq_queue_wait_seconds_count)" "$batches"
check_eq "token waits: one per committed batch (two workers)" \
  "$(metric m1.txt burstq_token_wait_seconds_count)" "$batches"
check_eq "insert times: one per committed batch" \
  "$(metric m1.txt burstq_txn_insert_seconds_count)" "$batches"
check_eq "COMMIT times: one per committed batch" \
  "$(metric m1.txt burstq_txn_commit_seconds_count)" "$batches"
check_eq "completion waits: one per committed batch" \
  "$(metric m1.txt burstq_completion_wait_seconds_count)" "$batches"
check_eq "ack delays: one per OK written" \
  "$(metric m1.txt burstq_ack_delay_seconds_count)" \
  "$(metric m1.txt burstq_acks_sent_total)"
pauses=$(metric m1.txt burstq_intake_pauses_total)
check_eq "intake not paused after the load" "$(metric m1.txt burstq_intake_paused)" 0
check_eq "pause lengths: one per finished pause" \
  "$(metric m1.txt burstq_intake_pause_seconds_count)" "$pauses"
check_eq "pauses by bound add up to the pauses" \
  $(( $(metric m1.txt burstq_intake_pauses_by_bound_total 'bound="records"') +
      $(metric m1.txt burstq_intake_pauses_by_bound_total 'bound="bytes"') )) \
  "$pauses"
note "batches $batches, pauses $pauses, background checkpoints" \
  "$(metric m1.txt burstq_checkpoint_run_seconds_count), inline" \
  "$(metric m1.txt burstq_checkpoint_inline_seconds_count)"

for f in $FAMILIES; do
  # _count is the +Inf bucket; buckets never decrease; _sum >= 0.
  check_eq "$f: _count is the +Inf bucket" \
    "$(metric m1.txt "${f}_bucket" 'le="+Inf"')" "$(metric m1.txt "${f}_count")"
  check_eq "$f: cumulative buckets" "$(awk -v f="${f}_bucket" '
      index($1, f "{") == 1 { if ($2 < last) bad = 1; last = $2 }
      END { print bad ? "decreasing" : "ok" }' m1.txt)" ok
  check_eq "$f: sum non-negative" \
    "$(awk -v s="${f}_sum" '$1 == s { print ($2 >= 0) ? "yes" : "no" }' m1.txt)" yes
done

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "the last scrape saw every batch" "$(summary batches)" "$batches"
