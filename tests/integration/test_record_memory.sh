#!/usr/bin/env bash
# test_record_memory.sh BURSTQD -- record memory is reused, and bounded
# (server/slab.h, docs/operations.md "memory", docs/metrics.md).
#
# Two rounds of the same load, 1000-byte lines from four clients, against a
# daemon with --queue-bytes 8M.  Between the rounds every message is
# acked; once the worker has released them (it does so just after posting
# the acks, so the test waits for it), the daemon holds at most the slab
# it carves next plus the emptied slabs it keeps, and it keeps no more than
# the queue's byte bound plus two slabs (bq_slab_keep): at most 6 of 2 MiB
# here.  The second round needs more slabs than one, and takes the first
# of them from the kept ones, not from the system
# (burstq_record_slabs_reused_total grows), unless the daemon found the
# loop idle in between and gave them back (on a very slow machine the
# gap between the rounds may be long enough).  Then the daemon is left
# idle: within two ticks of the trim timer (server.c BQ_SLAB_TRIM_MS, 5 s)
# it unmaps every kept slab (burstq_record_slabs_trimmed_total counts them) and
# holds only the slab it carves next; a third round maps fresh slabs.
# Every line is stored.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"
. "$HERE/metrics_lib.sh"

CLIENTS=4
LINES=$((5000 / BQ_DIV)) # 1000 bytes a line: at least 5 MB a round
WIDTH=999
SLAB=$((2 * 1024 * 1024))
QBYTES=$((8 * 1024 * 1024))
KEEP_MAX=$((QBYTES / SLAB + 2)) # bq_slab_keep, rounded up

start_daemon --sync off --queue-bytes 8M --metrics 127.0.0.1:0
BQ_MPORT=$(metrics_port)
[ -n "$BQ_MPORT" ] || die "no 'metrics on' line in the log"

# in_use_le FILE N: scrape into FILE; slabs in use (mapped - kept) <= N.
in_use_le() {
  [ "$(scrape "$1")" = 200 ] || return 1
  local mapped kept
  mapped=$(metric "$1" burstq_record_memory_bytes)
  kept=$(metric "$1" burstq_record_memory_kept_bytes)
  [ "$mapped" != absent ] && [ "$kept" != absent ] &&
    [ $(((mapped - kept) / SLAB)) -le "$2" ]
}

# round R: four clients send their lines and read every ack; then wait
# until the records are released.  The scrape is left in m.R.
round() {
  local k
  for ((k = 1; k <= CLIENTS; k++)); do start_client "$k" "$LINES" "$WIDTH"; done
  wait_clients $(seq "$CLIENTS")
  for ((k = 1; k <= CLIENTS; k++)); do
    check_acks "out.$k" "$LINES" "round $1, client $k"
  done
  poll $((10 * BQ_SLOW)) in_use_le "m.$1" 1 ||
    fail "round $1: more than one slab still in use after every ack" \
      "($(metric "m.$1" burstq_record_memory_bytes) bytes mapped," \
      "$(metric "m.$1" burstq_record_memory_kept_bytes) kept)"
  note "round $1: mapped $(metric "m.$1" burstq_record_memory_bytes) bytes," \
    "kept $(metric "m.$1" burstq_record_memory_kept_bytes)," \
    "slabs mapped $(metric "m.$1" burstq_record_slabs_mapped_total)," \
    "reused $(metric "m.$1" burstq_record_slabs_reused_total)"
  check_num "round $1: kept slabs within the bound" \
    $(($(metric "m.$1" burstq_record_memory_kept_bytes) / SLAB)) -le "$KEEP_MAX"
  check_num "round $1: mapped slabs within the bound" \
    $(($(metric "m.$1" burstq_record_memory_bytes) / SLAB)) -le $((KEEP_MAX + 1))
}

round 1
# Round 1 filled more than one slab, so one at least was emptied and kept.
check_num "round 1: slabs mapped" \
  "$(metric m.1 burstq_record_slabs_mapped_total)" -ge 2
check_num "round 1: a slab kept" \
  "$(metric m.1 burstq_record_memory_kept_bytes)" -ge "$SLAB"
round 2
if [ "$(metric m.2 burstq_record_slabs_trimmed_total)" = \
  "$(metric m.1 burstq_record_slabs_trimmed_total)" ]; then
  check_num "round 2: slabs taken from the kept ones" \
    "$(metric m.2 burstq_record_slabs_reused_total)" -gt \
    "$(metric m.1 burstq_record_slabs_reused_total)"
else
  note "round 2: the kept slabs were trimmed between the rounds; reuse not checked"
fi

# idle_trimmed: scrape into m.idle; no slab kept, and a trim has happened
# (round 1 kept a slab, so one was trimmed whether before m.2 or after).
idle_trimmed() {
  [ "$(scrape m.idle)" = 200 ] &&
    [ "$(metric m.idle burstq_record_memory_kept_bytes)" = 0 ] &&
    [ "$(metric m.idle burstq_record_slabs_trimmed_total)" -gt 0 ]
}
poll $((30 * BQ_SLOW)) idle_trimmed ||
  fail "idle: kept slabs not given back" \
    "($(metric m.idle burstq_record_memory_kept_bytes) bytes kept," \
    "$(metric m.idle burstq_record_slabs_trimmed_total) trimmed)"
note "idle: mapped $(metric m.idle burstq_record_memory_bytes) bytes," \
  "trimmed $(metric m.idle burstq_record_slabs_trimmed_total)"
check_num "idle: slabs mapped (the one carved next)" \
  $(($(metric m.idle burstq_record_memory_bytes) / SLAB)) -le 1
round 3
check_num "round 3: fresh slabs mapped after the trim" \
  "$(metric m.3 burstq_record_slabs_mapped_total)" -gt \
  "$(metric m.idle burstq_record_slabs_mapped_total)"

stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "rows" "$(msg_count)" $((3 * CLIENTS * LINES))
