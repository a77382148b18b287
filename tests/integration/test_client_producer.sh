#!/usr/bin/env bash
# test_client_producer.sh BURSTQD -- `burstq send --producer` and
# `burstq bench --producers` against a real daemon (docs/protocol.md,
# "Producers: exactly once"): resending is idempotent (arguments, a file,
# a longer file, a window smaller than the input, over TLS), and each way of ending
# that the client can meet:
#   0 every line committed        2 usage (bad id, options without it)
#   1 ERR too-long (a line over --max-message stops a producer)
#   3 nothing listens, once --give-up-after runs out; a TLS handshake that
#     fails (at once: not retried)
#   4 ERR fenced (another sender took the id), a daemon with
#     --producers off (it answered the HELLO with OK)
#   6 ERR gap (the daemon's database lost lines it had acknowledged);
#     plain send whose first line the daemon took as a HELLO
# The kill -9 loop is test_producer_send_kill9.sh.
. "$(dirname "$0")/lib.sh" "$@"
need_client
unset BURSTQ_HOST BURSTQ_TOKEN_FILE BURSTQ_TLS_CA

# rows ID: the producer's rows, distinct pseqs, last pseq, and rows whose
# payload is not their pseq.
rows() {
  sql "SELECT count(*), count(DISTINCT pseq), coalesce(max(pseq), 0),
       sum(CAST(payload AS TEXT) != CAST(pseq AS TEXT))
       FROM producer_messages WHERE producer = '$1'"
}

# --- usage (2) --------------------------------------------------------------
bq_send u1 --producer 'has space' a </dev/null
check_eq "bad producer id: exit status" "$RC" 2
check_grep "bad producer id: says why" u1.err "is not a producer id"
bq_send u2 --producer "$(printf 'x%.0s' $(seq 1 129))" a </dev/null
check_eq "129-byte producer id: exit status" "$RC" 2
bq_send u3 --give-up-after 5 a </dev/null
check_eq "--give-up-after without --producer: exit status" "$RC" 2
check_grep "--give-up-after without --producer: says why" u3.err 'need --producer'
bq_send u4 --producer p --window 1K a </dev/null
check_eq "--window below 64K: exit status" "$RC" 2
"$BQ_CLIENT" help send >help.out 2>&1
check_grep "help send: --producer" help.out '^  -p, --producer ID'
check_grep "help send: --give-up-after" help.out '--give-up-after S'

# --- nothing listens: retried, then 3 --------------------------------------
hold_refused_port
bq_send down -H "127.0.0.1:$BQ_REFUSED_PORT" --producer p0 \
  --give-up-after 0.5 a b </dev/null
check_eq "nothing listening: exit status after --give-up-after" "$RC" 3
check_grep "nothing listening: says it gave up, and why" down.err \
  'giving up after 0\.5 s \(--give-up-after\): cannot connect to .*Connection refused'
check_grep "nothing listening: nothing committed" down.out '^sent 2, committed 0 '

start_daemon
export BURSTQ_HOST=127.0.0.1:$BQ_PORT # bq_send's daemon from here on

# --- idempotent resending (0) ------------------------------------------------
bq_send a1 --producer args a b c </dev/null
check_eq "arguments: exit status" "$RC" 0
check_grep "arguments: summary" a1.out '^sent 3, committed 3 \(producer args at 3; 1 connection\)$'
bq_send a2 --producer args a b c </dev/null
check_eq "the same arguments again: exit status" "$RC" 0
check_eq "the same arguments again: still 3 rows" \
  "$(sql "SELECT count(*) FROM producer_messages WHERE producer = 'args'")" 3

seq 1 5000 >half.in
seq 1 10000 >all.in
printf '10001' >>all.in # an unterminated last line counts
bq_send f1 --producer file <half.in
check_eq "half the file: exit status" "$RC" 0
bq_send f2 --producer file <all.in
check_eq "the whole file after half: exit status" "$RC" 0
check_grep "the whole file after half: summary" f2.out '^sent 10001, committed 10001 \(producer file at 10001;'
bq_send f3 --producer file <all.in
check_eq "the whole file again: exit status" "$RC" 0
check_eq "file: each line once, payload = pseq" "$(rows file)" "10001|10001|10001|0"

# A window much smaller than the input: reading waits for acks.
seq 1 200000 | sed 's/$/ padding padding padding padding/' >big.in
bq_send w1 --producer small-window --window 64K <big.in
check_eq "--window 64K, 200,000 lines: exit status" "$RC" 0
check_eq "--window 64K: every line once" \
  "$(sql "SELECT count(*), count(DISTINCT pseq), max(pseq) FROM producer_messages
          WHERE producer = 'small-window'")" "200000|200000|200000"

# --- ERR fenced (4): another sender takes the id -----------------------------
mkfifo fence.fifo
bq_spawn fence.fifo fence.out fence.err timeout $((120 * BQ_SLOW)) \
  "$BQ_CLIENT" send -H "127.0.0.1:$BQ_PORT" --producer fenced-id
fence_pid=$BQ_SPAWNED
open_fifo_writer fence.fifo fence_fd
echo first >&"$fence_fd"
bq_fence_committed() {
  [ "$(sql "SELECT count(*) FROM producers WHERE name = 'fenced-id' AND committed = 1")" = 1 ]
}
poll $((60 * BQ_SLOW)) bq_fence_committed || fail "fence: the first line was not committed"
printf 'HELLO fenced-id 2\nsecond\n' | send fence_nc.out
check_grep "fence: the newcomer resumes after the first line" fence_nc.out '^RESUME 1$'
reap_or_kill "$fence_pid" $((60 * BQ_SLOW)) "fenced burstq send"
check_sanitizer_log fence.err || true
check_eq "fenced: exit status" "$BQ_RC" 4
check_grep "fenced: says another sender took the id" fence.err 'another sender took producer .fenced-id. \(ERR fenced\)'
close_fd "$fence_fd"
check_eq "fence: both lines once" "$(sql "SELECT group_concat(CAST(payload AS TEXT), ',')
  FROM (SELECT payload FROM producer_messages WHERE producer = 'fenced-id' ORDER BY pseq)")" "first,second"

# --- ERR gap (6): the daemon lost what it had acknowledged --------------------
mkfifo gap.fifo
bq_spawn gap.fifo gap.out gap.err timeout $((120 * BQ_SLOW)) \
  "$BQ_CLIENT" send -H "127.0.0.1:$BQ_PORT" --producer gap-id
gap_pid=$BQ_SPAWNED
open_fifo_writer gap.fifo gap_fd
seq 1 100 >&"$gap_fd"
bq_gap_committed() {
  [ "$(sql "SELECT count(*) FROM producers WHERE name = 'gap-id' AND committed = 100")" = 1 ]
}
poll $((60 * BQ_SLOW)) bq_gap_committed || fail "gap: the lines were not committed"
PORT=$BQ_PORT
stop_daemon
# The client is connecting again (backoff); one more line for it, then a
# daemon on the same port with a new, empty database.
echo 101 >&"$gap_fd"
close_fd "$gap_fd"
start_daemon --listen "127.0.0.1:$PORT" --db "$BQ_T/other.db"
reap_or_kill "$gap_pid" $((60 * BQ_SLOW)) "burstq send meeting a gap"
check_sanitizer_log gap.err || true
check_eq "gap: exit status" "$BQ_RC" 6
check_grep "gap: says what happened" gap.err 'has only 0 messages of producer .gap-id. committed but had acknowledged 100 \(ERR gap\)'
stop_daemon

# --- ERR too-long (1): a line over --max-message stops the producer ---------
start_daemon --max-message 50
{ echo short; head -c 100 /dev/zero | tr '\0' x; echo; echo after; } >long.in
bq_send long -H "127.0.0.1:$BQ_PORT" --producer long-id <long.in
check_eq "a line over --max-message: exit status" "$RC" 1
check_grep "a line over --max-message: names it" long.err 'line 2 is longer than the --max-message'
check_eq "a line over --max-message: only the line before it stored" \
  "$(sql "SELECT group_concat(CAST(payload AS TEXT)) FROM producer_messages WHERE producer = 'long-id'")" short
stop_daemon

# --- a daemon with --producers off (4) ----------------------------------------
start_daemon --producers off
BURSTQ_HOST=127.0.0.1:$BQ_PORT
bq_send off --producer p-off a </dev/null
check_eq "--producers off: exit status" "$RC" 4
check_grep "--producers off: says so" off.err 'does not take producers'
stop_daemon

start_daemon
BURSTQ_HOST=127.0.0.1:$BQ_PORT
# --- plain send whose first line is a HELLO (6) ----------------------------------
bq_send plain 'HELLO plain-looks-like-a-producer' 'x' </dev/null
check_eq "plain send, first line HELLO: exit status" "$RC" 6
check_grep "plain send, first line HELLO: explains" plain.err 'took the first line as a producer.s HELLO'

# --- bench --producers -------------------------------------------------------
timeout $((300 * BQ_SLOW)) "$BQ_CLIENT" bench -H "127.0.0.1:$BQ_PORT" \
  --producers -c 4 -n $((40000 / BQ_DIV)) -s 60 --db "$BQ_DB" >bench.out 2>bench.err
check_eq "bench --producers --db: exit status" "$?" 0
check_sanitizer_log bench.err || true
check_grep "bench --producers: db check ok" bench.out '^db check .*: ok: .*producer/pseq mismatch 0'
run=$(sed -n 's/^burstq bench: run \([0-9a-f]*\),.*/\1/p' bench.out)
check_eq "bench --producers: four producers of the run, each at its share" \
  "$(sql "SELECT count(*), sum(committed) FROM producers WHERE name LIKE 'bench-$run-%'")" \
  "4|$((40000 / BQ_DIV))"

stop_daemon
check_eq "exit status" "$BQ_RC" 0

# --- over TLS ------------------------------------------------------------------
bash "$(dirname "$0")/../tls/mkcerts.sh" certs >mkcerts.log 2>&1 ||
  die "mkcerts.sh failed: $(cat mkcerts.log)"
start_daemon --listen 127.0.0.1:0,tls --tls-cert certs/server.pem \
  --tls-key certs/server.key
TLS_PORT=${BQ_PORTS[1]}
bq_send t1 --tls --tls-ca certs/ca.pem -H "localhost:$TLS_PORT" \
  --producer over-tls <half.in
check_eq "--tls: exit status" "$RC" 0
bq_send t2 --tls --tls-ca certs/ca.pem -H "localhost:$TLS_PORT" \
  --producer over-tls --window 64K <all.in
check_eq "--tls, the whole file after half: exit status" "$RC" 0
check_eq "--tls: each line once" "$(rows over-tls)" "10001|10001|10001|0"
bq_send t3 --tls --tls-ca certs/ca2.pem -H "localhost:$TLS_PORT" \
  --producer over-tls a </dev/null
check_eq "--tls, a CA that did not sign the daemon's certificate: exit status (final, not retried)" "$RC" 3
check_grep "--tls, wrong CA: says why" t3.err 'cannot connect to .*certificate verify failed'
stop_daemon
check_eq "exit status (TLS)" "$BQ_RC" 0
