#!/usr/bin/env bash
# latency_probe.sh BUILD_DIR [--sync normal|full] [--rate R | --pct P]
#                  [--seconds S] [--workers W] [--page-size BYTES]
#
# Where a message waits, at one offered load: starts a fresh burstqd (a
# fresh database in a temp dir under BUILD_DIR, --metrics on a free port),
# runs a paced `burstq bench -c 4 -s 100 --rate R --duration S` against it
# and prints one breakdown:
#   - the client's ack latency p50/p99/p99.9/max (from handing a message
#     to the socket, or from its 1 ms batch's grid time, to the OK
#     covering it);
#   - the daemon's waits over the run (waits.h, docs/metrics.md): queue
#     wait, writer-token wait (only with --workers > 1), insert and COMMIT
#     time, inline and background checkpoints, intake pauses, the wait
#     for the WAL's flush (--sync full), completion waits (the post to
#     the loop), server-side ack delay; each
#     as count, mean, p50 and p99 estimated from the
#     Prometheus buckets of two scrapes (linear within a bucket, as
#     Prometheus's histogram_quantile; a value in the +Inf bucket reads as
#     the highest finite bound) -- bucket resolution, not exact values;
#   - per daemon thread (bq-loop is the process name "burstqd",
#     bq-writer-N, bq-ckpt, bq-syncer): CPU seconds and scheduler
#     run-delay (time runnable but waiting for a core) over the run, from
#     /proc/PID/task/*/schedstat before and after;
#   - the client's own CPU share (getrusage) and run-delay
#     (/proc/self/schedstat), from burstq bench --json.
# With --pct P it first measures the unpaced 4-connection maximum (5 s
# against a fresh daemon) and offers P% of it.  --page-size starts each
# daemon with that --page-size (the database is always new).  The last
# line is the same breakdown as one JSON object ("probe {...}") for
# scripts.
#
# Nothing is asserted: it is a measuring tool (docs/architecture.md, "Where
# a message waits", shows how it was used).  Figures on a shared machine are
# noisy: repeat each point and report the spread.
#
# Environment: PROBE_DIR scratch directory on the disk under test
# [a new BUILD_DIR/probe.XXXXXX].
set -euo pipefail

usage() {
  echo "usage: latency_probe.sh BUILD_DIR [--sync normal|full] [--rate R | --pct P] [--seconds S] [--workers W] [--page-size BYTES]" >&2
  exit 2
}
[ $# -ge 1 ] || usage
build=$(realpath "$1")
shift
sync=normal rate= pct= seconds=10 workers=1
pages=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sync) sync=${2:?}; shift 2 ;;
    --rate) rate=${2:?}; shift 2 ;;
    --pct) pct=${2:?}; shift 2 ;;
    --seconds) seconds=${2:?}; shift 2 ;;
    --workers) workers=${2:?}; shift 2 ;;
    --page-size) pages=(--page-size "${2:?}"); shift 2 ;;
    *) usage ;;
  esac
done
[ -n "$rate" ] || [ -n "$pct" ] || usage
[ -z "$rate" ] || [ -z "$pct" ] || usage
burstqd=$build/burstqd
burstq=$build/burstq
for b in "$burstqd" "$burstq"; do
  [ -x "$b" ] || { echo "latency_probe.sh: $b is missing: build first" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "latency_probe.sh: needs python3" >&2; exit 2; }
command -v curl >/dev/null || { echo "latency_probe.sh: needs curl" >&2; exit 2; }

dir=${PROBE_DIR:-$(mktemp -d "$build/probe.XXXXXX")}
mkdir -p "$dir"
daemon=
cleanup() {
  if [ -n "$daemon" ]; then kill -KILL "$daemon" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

# start_daemon: a fresh burstqd with a fresh database; sets daemon, port,
# mport.
start_daemon() {
  local i
  rm -f "$dir"/p.db*
  : >"$dir/daemon.log"
  "$burstqd" --listen 127.0.0.1:0 --db "$dir/p.db" --sync "$sync" \
    --workers "$workers" "${pages[@]}" --metrics 127.0.0.1:0 \
    2>"$dir/daemon.log" &
  daemon=$!
  port= mport=
  for i in $(seq 400); do
    port=$(sed -n 's/.* listening on 127\.0\.0\.1:\([0-9]*\) (acked)$/\1/p' "$dir/daemon.log" || true)
    mport=$(sed -n 's/.* metrics on http:\/\/127\.0\.0\.1:\([0-9]*\)\/metrics .*/\1/p' "$dir/daemon.log" || true)
    [ -n "$port" ] && [ -n "$mport" ] && break
    kill -0 "$daemon" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$port" ] || [ -z "$mport" ]; then
    echo "latency_probe.sh: burstqd did not start:" >&2
    cat "$dir/daemon.log" >&2
    exit 1
  fi
}

stop_daemon() {
  kill -TERM "$daemon"
  wait "$daemon" || { echo "latency_probe.sh: burstqd failed" >&2; tail "$dir/daemon.log" >&2; exit 1; }
  daemon=
}

# threads FILE: "tid comm cpu_ns run_delay_ns" per daemon thread.
threads() {
  local t
  for t in /proc/"$daemon"/task/*; do
    [ -r "$t/schedstat" ] || continue
    printf '%s %s %s\n' "${t##*/}" "$(tr ' ' '_' <"$t/comm")" \
      "$(awk '{ print $1, $2 }' "$t/schedstat")"
  done >"$1"
}

scrape() { curl -s --max-time 10 -o "$1" "http://127.0.0.1:$mport/metrics"; }

if [ -n "$pct" ]; then
  start_daemon
  "$burstq" bench -H "127.0.0.1:$port" -c 4 -s 100 --duration 5 --json \
    </dev/null >"$dir/max.out" 2>"$dir/max.err"
  max=$(python3 -c 'import json,sys
print(int(json.loads(open(sys.argv[1]).read().splitlines()[-1])["commit_msgs_per_s"]))' "$dir/max.out")
  stop_daemon
  rate=$((max * pct / 100))
  echo "unpaced 4-connection maximum: $max msgs/s; offering $pct%: $rate msgs/s" >&2
fi

start_daemon
scrape "$dir/m0.txt"
threads "$dir/t0.txt"
rc=0
"$burstq" bench -H "127.0.0.1:$port" -c 4 -s 100 --rate "$rate" \
  --duration "$seconds" --json </dev/null >"$dir/bench.out" 2>"$dir/bench.err" || rc=$?
scrape "$dir/m1.txt"
threads "$dir/t1.txt"
stop_daemon
if [ "$rc" != 0 ]; then
  echo "latency_probe.sh: burstq bench failed (exit $rc):" >&2
  cat "$dir/bench.out" "$dir/bench.err" >&2
  exit 1
fi

python3 - "$dir" "$sync" "$rate" "$seconds" "${pct:-}" "$workers" <<'EOF'
import json, math, sys
d, sync, rate, seconds, pct, workers = sys.argv[1:7]

def parse(path):
    h = {}
    for line in open(path):
        if line.startswith('#') or not line.strip():
            continue
        name, val = line.rsplit(' ', 1)
        h[name] = float(val)
    return h

m0, m1 = parse(d + '/m0.txt'), parse(d + '/m1.txt')

def delta(name):
    return m1.get(name, 0.0) - m0.get(name, 0.0)

def hist(name):
    """(count, sum, [(le, cumulative count)]) over the run."""
    bs = []
    for k in m1:
        if k.startswith(name + '_bucket{le="'):
            le = k[len(name) + 12:-2]
            bs.append((math.inf if le == '+Inf' else float(le), m1[k] - m0.get(k, 0.0)))
    bs.sort()
    return delta(name + '_count'), delta(name + '_sum'), bs

def quantile(bs, q):
    """histogram_quantile: linear within the bucket holding rank q*count."""
    if not bs or bs[-1][1] <= 0:
        return float('nan')
    rank = q * bs[-1][1]
    lo, prev = 0.0, 0.0
    for le, cum in bs:
        if cum >= rank:
            if le == math.inf:
                return lo  # the highest finite bound
            if cum == prev:
                return le
            return lo + (le - lo) * (rank - prev) / (cum - prev)
        lo, prev = le, cum
    return lo

b = json.loads(open(d + '/bench.out').read().splitlines()[-1])
lat = b['latency_ms']
out = {'sync': sync, 'rate': int(rate), 'pct': float(pct) if pct else None,
       'seconds': float(seconds), 'workers': int(workers),
       'committed_msgs_per_s': b['commit_msgs_per_s'],
       'client': {'p50': lat['p50'], 'p99': lat['p99'], 'p999': lat['p999'],
                  'max': lat['max'], 'cpu_share': b['client_cpu']['share'],
                  'run_delay_s': b['client_cpu'].get('run_delay_s')},
       'waits': {}, 'threads': {}}
print('offered %s msgs/s%s, --sync %s, %s s, %s worker(s): committed %.0f msgs/s'
      % (rate, ' (%s%% of max)' % pct if pct else '', sync, seconds, workers,
         b['commit_msgs_per_s']))
rd = b['client_cpu'].get('run_delay_s')
print('client ack ms      p50 %7.3f  p99 %7.3f  p99.9 %7.3f  max %7.3f   client CPU %.0f%% of a core, run-delay %s s'
      % (lat['p50'], lat['p99'], lat['p999'], lat['max'], 100 * b['client_cpu']['share'],
         '%.3f' % rd if rd is not None else '?'))
print('daemon waits ms    %8s %8s %8s %8s %9s' % ('count', 'mean', 'p50', 'p99', 'total s'))
for name, label in [('burstq_queue_wait_seconds', 'queue wait'),
                    ('burstq_token_wait_seconds', 'token wait'),
                    ('burstq_txn_insert_seconds', 'txn inserts'),
                    ('burstq_txn_commit_seconds', 'txn COMMIT'),
                    ('burstq_commit_duration_seconds', 'commit (all)'),
                    ('burstq_checkpoint_inline_seconds', 'ckpt inline'),
                    ('burstq_checkpoint_run_seconds', 'ckpt backgr.'),
                    ('burstq_intake_pause_seconds', 'read pauses'),
                    ('burstq_sync_wait_seconds', 'sync wait'),
                    ('burstq_completion_wait_seconds', 'completion'),
                    ('burstq_ack_delay_seconds', 'ack delay')]:
    n, s, bs = hist(name)
    p50, p99 = quantile(bs, 0.5) * 1e3, quantile(bs, 0.99) * 1e3
    mean = s / n * 1e3 if n > 0 else float('nan')
    out['waits'][label] = {'count': n, 'mean_ms': mean, 'p50_ms': p50,
                           'p99_ms': p99, 'total_s': s}
    print('  %-15s %8.0f %8.3f %8.3f %8.3f %9.3f' % (label, n, mean, p50, p99, s))
n, s, bs = hist('burstq_batch_records')
print('  batch records: %.0f batches, mean %.0f, p50 %.0f, p99 %.0f'
      % (n, s / n if n else 0, quantile(bs, 0.5), quantile(bs, 0.99)))
print('  pauses by bound: records %.0f, bytes %.0f'
      % (delta('burstq_intake_pauses_by_bound_total{bound="records"}'),
         delta('burstq_intake_pauses_by_bound_total{bound="bytes"}')))

def threads(path):
    t = {}
    for line in open(path):
        tid, comm, cpu, delay = line.split()
        t[tid] = (comm, int(cpu), int(delay))
    return t

t0, t1 = threads(d + '/t0.txt'), threads(d + '/t1.txt')
print('daemon threads     %8s %12s' % ('CPU s', 'run-delay s'))
for tid in sorted(t1, key=lambda k: int(k)):
    comm, cpu, delay = t1[tid]
    c0, d0 = t0.get(tid, (comm, 0, 0))[1:]
    if cpu - c0 == 0 and delay - d0 == 0:
        continue
    name = comm if comm != 'burstqd' else 'burstqd (loop)'
    out['threads'][name] = {'cpu_s': (cpu - c0) / 1e9, 'run_delay_s': (delay - d0) / 1e9}
    print('  %-15s %8.3f %12.3f' % (name, (cpu - c0) / 1e9, (delay - d0) / 1e9))
print('probe ' + json.dumps(out, sort_keys=True))
EOF
