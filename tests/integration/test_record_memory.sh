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
#
# Then the start-up checks of a queue's size (main.c check_queue_memory):
# the daemon above, with a queue far below the machine's memory, says
# nothing; one started with --queue-bytes 1024G and a --queue-capacity
# that lets messages fill it warns that the queue is larger than memory
# and, where vm.max_map_count is below its 2 MiB slabs (524,288 and more),
# that it needs more mappings than that, and still stores what it gets.
# The memory a queue is held against is the smallest of the machine's, the
# limit of the daemon's cgroup and its address-space limit: a daemon
# started under `ulimit -v` (not under sanitizers, which reserve terabytes
# of address space), and one started in a fresh memory cgroup with a 1 GiB
# limit (where this machine lets the test make one: cgroup v1's memory
# hierarchy, or v2 with the memory controller on for this shell's cgroup),
# each warn with that limit, and store.  burstq_record_slab_failures_total
# is 0 throughout: every record found a slab.
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
# Round 1 filled more than one slab, so one at least was emptied and kept
# (and, on a machine slow enough that the trim timer found the loop idle
# before the scrape, given back since).
check_num "round 1: slabs mapped" \
  "$(metric m.1 burstq_record_slabs_mapped_total)" -ge 2
if [ "$(metric m.1 burstq_record_slabs_trimmed_total)" = 0 ]; then
  check_num "round 1: a slab kept" \
    "$(metric m.1 burstq_record_memory_kept_bytes)" -ge "$SLAB"
else
  note "round 1: the kept slabs were trimmed before the scrape"
fi
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

check_eq "round 3: every record found a slab" \
  "$(metric m.3 burstq_record_slab_failures_total)" 0
stop_daemon
check_eq "exit status" "$BQ_RC" 0
check_eq "rows" "$(msg_count)" $((3 * CLIENTS * LINES))
check_no_grep "no queue-size warning at --queue-bytes 8M" "$BQ_LOG" \
  'a full queue'

# the machine's memory as burstqd reads it (sysconf), in GiB
mem_gib=$(($(getconf _PHYS_PAGES) * $(getconf PAGESIZE) / 1073741824))
maps_lim=$(cat /proc/sys/vm/max_map_count)
if [ "$mem_gib" -ge 1000 ]; then
  note "this machine has $mem_gib GiB: the larger-than-memory warning is not checked"
else
  start_daemon --sync off --queue-bytes 1024G --queue-capacity 4294967296
  check_grep "warns that a full queue is larger than memory" "$BQ_LOG" \
    "warn: a full queue holds up to 1024.0 GiB of messages .* more than (this machine's [0-9.]+ GiB of memory|the [0-9.]+ GiB memory limit of burstqd's cgroup|its [0-9.]+ GiB address-space limit)"
  # 1024G of 2 MiB slabs (each a little less room) is over 524,288
  # mappings, plus 1024 for the rest (rlimit.h BQ_MAPS_RESERVE).
  if [ "$maps_lim" -lt 500000 ]; then
    check_grep "warns that vm.max_map_count $maps_lim is too low" "$BQ_LOG" \
      "warn: a full queue takes up to [0-9]+ memory mappings, and vm.max_map_count is $maps_lim: .*sysctl vm.max_map_count=[0-9]+"
  elif [ "$maps_lim" -gt 600000 ]; then
    check_no_grep "no mapping warning at vm.max_map_count $maps_lim" "$BQ_LOG" \
      'memory mappings'
  fi
  printf 'big queue %d\n' 1 2 3 | send big.out
  check_eq "a daemon with a 1024G queue acks" "$(tail -n 1 big.out)" "OK 3"
  stop_daemon
  check_eq "exit status (1024G queue)" "$BQ_RC" 0
  check_eq "rows (1024G queue)" "$(msg_count)" $((3 * CLIENTS * LINES + 3))
fi
rows=$(msg_count)

# a small send that must be stored: LABEL
store_three() {
  printf "$1 %d\n" 1 2 3 | send "$1.out"
  check_eq "$1: acks" "$(tail -n 1 "$1.out")" "OK 3"
  rows=$((rows + 3))
}

if [ -n "$BQ_SAN" ]; then
  note "under $BQ_SAN: the address-space limit is not checked"
elif [ "$mem_gib" -lt 5 ]; then
  note "this machine has $mem_gib GiB: the address-space limit is not checked"
elif [ "$(ulimit -S -v)" != unlimited ]; then
  note "this shell has an address-space limit already: it is not checked"
else
  old_as=$(ulimit -S -v)
  ulimit -S -v $((4 * 1024 * 1024)) # KiB: 4 GiB
  start_daemon --sync off --queue-bytes 16G --queue-capacity 1000000 \
    --metrics 127.0.0.1:0
  ulimit -S -v "$old_as"
  check_grep "ulimit -v 4G: warns that a full queue is over it" "$BQ_LOG" \
    "warn: a full queue holds up to 16.0 GiB of messages .* more than its 4.0 GiB address-space limit \(ulimit -v"
  store_three as-limited
  BQ_MPORT=$(metrics_port)
  check_eq "scrape" "$(scrape m.as)" 200
  check_eq "ulimit -v 4G: every record found a slab" \
    "$(metric m.as burstq_record_slab_failures_total)" 0
  stop_daemon
  check_eq "exit status (ulimit -v)" "$BQ_RC" 0
fi

# A fresh memory cgroup under this shell's own, with a 1 GiB limit: v1's
# memory hierarchy, else v2's when its memory controller is on for this
# shell's cgroup (the kernel allows that with processes in it only at the
# root, so on systemd hosts and in containers v2 is left out).  Prints its
# directory, or nothing when this machine does not let us make one, or
# move a process into it.
make_cgroup() {
  local mnt own
  mnt=$(awk '$0 ~ / - cgroup / && $4 == "/" {
               n = split($NF, o, ","); for (i = 1; i <= n; i++)
                 if (o[i] == "memory") { print $5; exit } }' /proc/self/mountinfo)
  own=$(sed -n 's/^[0-9]*:\([^:]*,\)\{0,1\}memory\(,[^:]*\)\{0,1\}:\(.*\)$/\3/p' /proc/self/cgroup)
  [ -n "$mnt" ] && [ -n "$own" ] &&
    try_cgroup "$mnt${own%/}/bq-test-$$" memory.limit_in_bytes && return
  mnt=$(awk '$0 ~ / - cgroup2 / && $4 == "/" { print $5; exit }' /proc/self/mountinfo)
  own=$(sed -n 's/^0:://p' /proc/self/cgroup)
  [ -n "$mnt" ] && [ -n "$own" ] &&
    grep -qw memory "$mnt${own%/}/cgroup.subtree_control" 2>/dev/null &&
    try_cgroup "$mnt${own%/}/bq-test-$$" memory.max
}
# try_cgroup DIR LIMIT-FILE: make DIR with a 1 GiB limit and print it, if a
# process can move into it (a throwaway one tries); else leave nothing.
try_cgroup() {
  mkdir "$1" 2>/dev/null || return 1
  if echo $((1024 * 1024 * 1024)) >"$1/$2" &&
     sh -c 'echo $$ >"$1/cgroup.procs"' _ "$1" 2>/dev/null; then
    echo "$1"
    return 0
  fi
  rmdir "$1"
  return 1
}
CG=$(make_cgroup)
if [ -z "$CG" ]; then
  note "no memory cgroup can be made here: the cgroup limit is not checked"
elif [ "$mem_gib" -lt 3 ]; then
  rmdir "$CG"
  note "this machine has $mem_gib GiB: the cgroup limit is not checked"
else
  BQ_ON_EXIT+=("rmdir '$CG'")
  # The daemon moves itself in before it starts (this shell stays out).
  cat >in-cgroup.sh <<SH
#!/bin/sh
echo \$\$ >"$CG/cgroup.procs" || exit 1
exec "$BQ_BIN" "\$@"
SH
  chmod +x in-cgroup.sh
  REAL_BIN=$BQ_BIN
  BQ_BIN=$BQ_T/in-cgroup.sh
  start_daemon --sync off --queue-bytes 2G --queue-capacity 1000000 \
    --metrics 127.0.0.1:0
  BQ_BIN=$REAL_BIN
  check_eq "the daemon runs in the test's cgroup" \
    "$(grep -c "bq-test-$$" "/proc/$BQ_PID/cgroup")" 1
  check_grep "cgroup limit 1G: warns that a full queue is over it" "$BQ_LOG" \
    "warn: a full queue holds up to 2.0 GiB of messages .* more than the 1.0 GiB memory limit of burstqd's cgroup"
  store_three cgroup-limited
  BQ_MPORT=$(metrics_port)
  check_eq "scrape" "$(scrape m.cg)" 200
  check_eq "cgroup limit 1G: every record found a slab" \
    "$(metric m.cg burstq_record_slab_failures_total)" 0
  stop_daemon
  check_eq "exit status (cgroup limit)" "$BQ_RC" 0
fi
check_eq "rows (the limited daemons)" "$(msg_count)" "$rows"
