#!/usr/bin/env bash
# test_docker.sh -- build the Dockerfile and run the image for real (podman).
#
#   make test-docker            (or: bash tests/docker/test_docker.sh)
#
# 1. Makes the base image localhost/debian:bookworm-slim with debootstrap
#    unless it is cached (base-image.sh), then builds the Dockerfile with
#    podman, which runs `make deps` and `make test` (unit tests) inside.
#    Their log is read back from the build-stage image, so a build whose
#    layers all come from the cache is checked as well as a fresh one.
# 2. Checks the image: non-root fixed uid, VOLUME /data, EXPOSE, HEALTHCHECK,
#    no compiler or curl in the runtime stage, ldd finds every library.
# 3. Runs it with a named volume on /data and loopback-published ports;
#    burstqd must be PID 1 under uid 10070 listening on 0.0.0.0.  Several
#    nc clients send from the host; /healthz (host curl and the image's own
#    HEALTHCHECK) must say 200; /metrics must count what was committed.
# 4. One client keeps its connection open; `podman stop` (SIGTERM to PID 1)
#    must drain: that client gets its final "OK n", the container exits 0
#    and its last log line is the "stopped:" summary.
# 5. Every message is in /data/burstq.db on the volume (sqlite3 on the
#    host), exactly once and in order; integrity_check is ok.
# 6. A second container on the same volume continues the database.
# 7. The .deb (cpack in the build stage) installed in a Debian with systemd
#    as PID 1: the unit starts (READY=1), STATUS= shows rates, burstqd runs
#    as a dynamic user with its database in /var/lib/burstq, `systemctl
#    stop` drains and exits 0, the watchdog restarts a SIGSTOPped daemon.
#
# Containers and the volume it made are removed at exit; the images stay
# cached for the next run: base 78 MB, runtime 82 MB (3 MB of it burstq's),
# build stage 1.1 GB (every make deps package), systemd test image 0.3 GB;
# with shared layers about 1.3 GB in /var/lib/containers.  BQ_DOCKER_RMI=1
# removes all but the base.  Skips (exit 0, "SKIP:") only when podman
# cannot run a container at all on this machine.
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
BASE=${BQ_BASE_IMAGE:-localhost/debian:bookworm-slim}
export BQ_BASE_IMAGE=$BASE
IMAGE=${BQ_IMAGE:-localhost/burstq:test}
tag=bqtest-$$
N=${BQ_DOCKER_MESSAGES:-20000}   # messages per client
CLIENTS=4
podman() { command podman --runtime runc "$@"; }

fails=0
T=$(mktemp -d "${TMPDIR:-/tmp}/bq-docker.XXXXXX")
containers=()
volume=
bgpids=()
note() { echo "[docker] $*"; }
fail() { fails=$((fails + 1)); echo "FAIL [docker]: $*" >&2; }
die() { fail "$* (fatal)"; exit 1; }
check_eq() {
  if [ "$2" == "$3" ]; then note "ok: $1 = $2"; else fail "$1: got '$2', expected '$3'"; fi
}
cleanup() {
  local rc=$? c p
  trap - EXIT
  for p in "${bgpids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for c in "${containers[@]}"; do
    if [ "$fails" -gt 0 ] || [ "$rc" != 0 ]; then
      echo "--- podman logs $c (last 30 lines) ---" >&2
      podman logs "$c" 2>&1 | tail -n 30 >&2
    fi
    podman rm -f -t 5 "$c" >/dev/null 2>&1
  done
  [ -n "$volume" ] && podman volume rm -f "$volume" >/dev/null 2>&1
  if [ -n "${BQ_DOCKER_RMI:-}" ]; then
    podman rmi -f "$IMAGE" "$IMAGE-build" "$IMAGE-systemd" >/dev/null 2>&1
  fi
  rm -rf "$T"
  [ "$rc" = 0 ] || [ "$fails" -gt 0 ] || fails=1
  if [ "$fails" -gt 0 ]; then echo "test_docker: $fails failure(s)" >&2; exit 1; fi
  echo "test_docker: PASS"
  exit 0
}
trap cleanup EXIT
trap 'fail interrupted; exit 1' INT TERM

# --- can podman run at all? --------------------------------------------------
skip() { echo "SKIP: test_docker: $*"; trap - EXIT; rm -rf "$T"; exit 0; }
command -v podman >/dev/null || skip "podman is not installed (apt-get install podman runc debootstrap)"
command -v runc >/dev/null || skip "runc is not installed (apt-get install runc)"
[ "$(id -u)" = 0 ] || skip "needs root (rootful podman; debootstrap for the base image)"
podman info >/dev/null 2>"$T/info.err" ||
  skip "podman cannot run here: $(head -c 300 "$T/info.err")"
for t in debootstrap nc sqlite3 curl; do
  command -v "$t" >/dev/null || die "$t is missing (make deps installs it)"
done

# --- base and build ------------------------------------------------------------
s=$SECONDS
bash "$here/base-image.sh" || die "cannot make the base image $BASE"
note "base image ready in $((SECONDS - s)) s"
s=$SECONDS
# --format docker keeps HEALTHCHECK (the OCI format has no such field).
# The build stage is tagged too ($IMAGE-build), so its layers (compilers,
# -dev packages) stay cached under a name instead of as a dangling image;
# the second build reuses them.
# BQ_CTEST_ARGS replaces the build stage's ctest selection ("-L unit"),
# e.g. BQ_CTEST_ARGS=" " runs the whole suite inside the build.
ctest_arg=()
[ -n "${BQ_CTEST_ARGS:-}" ] && ctest_arg=(--build-arg "CTEST_ARGS=$BQ_CTEST_ARGS")
build() {
  podman build --network host --format docker --pull=never \
    --build-arg BASE="$BASE" "${ctest_arg[@]}" -f "$src/Dockerfile" "$@" "$src" \
    >>"$T/build.log" 2>&1 || { tail -n 60 "$T/build.log" >&2; die "podman build $* failed"; }
}
build --target build -t "$IMAGE-build"
build -t "$IMAGE"
# Earlier builds of these tags are now untagged: remove them (ours only).
podman image prune -f --filter label=io.burstq.image >/dev/null 2>&1
note "image $IMAGE built in $((SECONDS - s)) s"
grep -E '^runtime packages:' "$T/build.log" | sed 's/^/[docker] /'
# The unit tests ran in the build stage's `make test` step.  When podman
# takes that layer from its cache the step does not run again and prints
# nothing, so the verdict comes from the log the step left in the image
# (/stage/unit-tests.log, see the Dockerfile), whichever build made it.
grep -q 'make test CTEST_ARGS' "$T/build.log" &&
  ! grep -m1 -A1 'make test CTEST_ARGS' "$T/build.log" | grep -q 'Using cache' &&
  note "the build stage ran the unit tests" ||
  note "the build stage's unit-test layer came from the cache: checking its log"
podman run --rm --network none --entrypoint /bin/cat "$IMAGE-build" \
  /stage/unit-tests.log >"$T/unit-tests.log" 2>&1 ||
  fail "no unit-test log in $IMAGE-build: $(head -c 300 "$T/unit-tests.log")"
check_eq "ctest selection in the build stage" \
  "$(sed -n '1s/^ctest selection: //p' "$T/unit-tests.log")" "${BQ_CTEST_ARGS:--L unit}"
if grep -Eq '^100% tests passed, 0 tests failed out of [1-9][0-9]*$' "$T/unit-tests.log"; then
  note "ok: build stage: $(grep -E '^100% tests passed' "$T/unit-tests.log")"
else
  fail "the build stage's log does not show the unit tests passing: $(tail -n 5 "$T/unit-tests.log")"
fi

# --- the image -----------------------------------------------------------------
inspect() { podman image inspect --format "$1" "$IMAGE"; }
check_eq "image user" "$(inspect '{{.Config.User}}')" "10070:10070"
check_eq "image volumes" "$(inspect '{{range $k, $v := .Config.Volumes}}{{$k}} {{end}}')" "/data "
check_eq "image exposed ports" \
  "$(inspect '{{range $k, $v := .Config.ExposedPorts}}{{$k}} {{end}}')" "7070/tcp 9070/tcp "
check_eq "image healthcheck" "$(inspect '{{.HealthCheck.Test}}')" "[CMD /usr/bin/burstq-healthcheck]"
check_eq "image stop signal" "$(podman image inspect --format '{{.Config.StopSignal}}' "$IMAGE")" "SIGTERM"
size=$(inspect '{{.Size}}')
base_size=$(podman image inspect --format '{{.Size}}' "$BASE")
note "image size: $((size / 1000000)) MB (base $((base_size / 1000000)) MB, burstq layers $(((size - base_size) / 1000000)) MB; build stage cached as $IMAGE-build: $(($(podman image inspect --format '{{.Size}}' "$IMAGE-build") / 1000000)) MB)"
# The runtime stage: the daemon's libraries resolve, no build tools, no curl.
podman run --rm --entrypoint /bin/bash "$IMAGE" -c '
  set -e
  ! ldd /usr/sbin/burstqd $(ls /usr/bin/burstq 2>/dev/null) | grep "not found"
  for t in cc gcc make cmake curl wget; do
    if command -v $t >/dev/null; then echo "present: $t"; exit 1; fi
  done
  test "$(id -u):$(id -g)" = 10070:10070
  test "$(stat -c %u:%g /data)" = 10070:10070
  /usr/sbin/burstqd --version' >"$T/image.out" 2>&1 ||
  fail "runtime image check: $(cat "$T/image.out")"
grep -q '^burstqd ' "$T/image.out" && note "ok: runtime image: libraries resolve, no build tools or curl, uid 10070"

# --- run it ------------------------------------------------------------------------
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
volume=$tag-data
podman volume create "$volume" >/dev/null || die "cannot create volume"
voldir=$(podman volume inspect --format '{{.Mountpoint}}' "$volume")

# start_container NAME: run the image on the volume, wait for "listening".
start_container() {
  PORT=$(free_port)
  MPORT=$(free_port)
  while [ "$MPORT" = "$PORT" ]; do MPORT=$(free_port); done
  podman run -d --name "$1" -v "$volume:/data" \
    -p "127.0.0.1:$PORT:7070" -p "127.0.0.1:$MPORT:9070" \
    "$IMAGE" --sync normal >"$T/$1.id" 2>"$T/$1.err" ||
    die "podman run failed: $(cat "$T/$1.err")"
  containers+=("$1")
  local i
  for ((i = 0; i < 600; i++)); do
    podman logs "$1" 2>&1 | grep -q 'listening on 0\.0\.0\.0:7070' && break
    [ "$(podman inspect --format '{{.State.Running}}' "$1")" = true ] || break
    sleep 0.1
  done
  podman logs "$1" 2>&1 | grep -q 'listening on 0\.0\.0\.0:7070' ||
    die "container $1 did not start listening on 0.0.0.0:7070"
  note "container $1 up: messages 127.0.0.1:$PORT, metrics 127.0.0.1:$MPORT"
}

gen_lines() { # K N
  awk -v k="$1" -v n="$2" 'BEGIN { for (i = 1; i <= n; i++) printf "c%d-%d-docker\n", k, i }'
}
last_ack() { sed -n 's/^OK \([0-9][0-9]*\)$/\1/p' "$1" | tail -n1; }

c1=$tag-1
start_container "$c1"

# PID 1 is burstqd, as uid 10070.
check_eq "PID 1 in the container" \
  "$(podman exec "$c1" cat /proc/1/cmdline | tr '\0' ' ' | cut -d' ' -f1)" "/usr/sbin/burstqd"
check_eq "uid of PID 1" \
  "$(podman exec "$c1" awk '/^Uid:/ { print $2 }' /proc/1/status)" "10070"

# Clients from the host through the published port.
s=$SECONDS
for k in $(seq 1 $CLIENTS); do
  gen_lines "$k" "$N" >"$T/in.$k"
  timeout 300 nc -N 127.0.0.1 "$PORT" <"$T/in.$k" >"$T/out.$k" 2>"$T/err.$k" &
  bgpids+=($!)
done
for k in $(seq 1 $CLIENTS); do
  wait "${bgpids[$((k - 1))]}"; rc=$?
  [ "$rc" = 0 ] || fail "client $k: nc exited $rc: $(head -c 200 "$T/err.$k")"
  check_eq "client $k final ack" "$(tail -n1 "$T/out.$k")" "OK $N"
done
bgpids=()
note "$((CLIENTS * N)) messages from $CLIENTS clients acknowledged in $((SECONDS - s)) s"

# Health: from the host, and the image's own HEALTHCHECK inside.
code=$(curl -s -o "$T/healthz" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$MPORT/healthz")
check_eq "GET /healthz through the published port" "$code" 200
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$MPORT/readyz")
check_eq "GET /readyz" "$code" 200
if podman healthcheck run "$c1" >"$T/hc.out" 2>&1; then
  note "ok: podman healthcheck run: healthy"
else
  fail "podman healthcheck run: $(cat "$T/hc.out")"
fi
podman exec "$c1" /usr/bin/burstq-healthcheck >"$T/hc2.out" 2>&1 ||
  fail "burstq-healthcheck in the container: $(cat "$T/hc2.out")"
grep -q ' 200' "$T/hc2.out" && note "ok: burstq-healthcheck says: $(head -n1 "$T/hc2.out")"
curl -s --max-time 10 "http://127.0.0.1:$MPORT/metrics" >"$T/metrics" ||
  fail "GET /metrics failed"
committed=$(awk '$1 ~ /^burstq_messages_committed(_total)?$/ { print $2 + 0 }' "$T/metrics")
check_eq "burstq_messages_committed in /metrics" "${committed:-missing}" $((CLIENTS * N))

# The client in the image, when built (docs/operations.md uses it).
if podman exec "$c1" test -x /usr/bin/burstq; then
  if podman exec "$c1" burstq stats -H 127.0.0.1:9070 >"$T/stats.out" 2>&1; then
    note "ok: burstq stats in the container"
  else
    fail "burstq stats in the container: $(head -c 400 "$T/stats.out")"
  fi
  if podman exec "$c1" burstq help stats 2>/dev/null | grep -q -- '--health'; then
    podman exec "$c1" burstq stats --health -H 127.0.0.1:9070 >"$T/h.out" 2>&1 &&
      note "ok: burstq stats --health: $(head -n1 "$T/h.out")" ||
      fail "burstq stats --health: $(cat "$T/h.out")"
  fi
else
  note "burstq client not in this build: 'burstq stats' not checked"
fi

# A client that keeps its connection open across the stop: its lines are
# received, then SIGTERM must commit them and send the final ack.
mkfifo "$T/hold"
gen_lines 9 1000 >"$T/in.9"
nc -N 127.0.0.1 "$PORT" <"$T/hold" >"$T/out.9" 2>"$T/err.9" &
holdpid=$!
bgpids+=("$holdpid")
exec {holdfd}>"$T/hold"
cat "$T/in.9" >&"$holdfd"
for ((i = 0; i < 600; i++)); do
  [ "$(last_ack "$T/out.9")" = 1000 ] && break
  sleep 0.1
done
check_eq "held-open client acked before the stop" "$(last_ack "$T/out.9")" 1000

# Stop: SIGTERM to PID 1 (podman stop), generous timeout before SIGKILL.
# Once the daemon has begun the drain, the held client half-closes (nc -N
# on end of input), as a client does when its sender is done; the daemon
# then closes it without waiting out its 5 s linger.  The drain's first
# line is seen by following the log (a poll of `podman logs`, a second or
# more each on a loaded machine, could miss the linger); the follower is
# not waited for: it ends with the container, or at its timeout.
s=$SECONDS
# (The background podmans must not inherit the fifo's write end.)
( exec {holdfd}>&-; exec podman --runtime runc stop -t 120 "$c1" >/dev/null 2>"$T/stop.err" ) &
stoppid=$!
grep -q -m1 'SIGTERM' < <(exec {holdfd}>&-; exec timeout 180 podman logs -f "$c1" 2>&1) ||
  fail "no SIGTERM line in the container's log"
exec {holdfd}>&-
wait "$stoppid" || fail "podman stop failed: $(cat "$T/stop.err")"
note "podman stop took $((SECONDS - s)) s"
wait "$holdpid" 2>/dev/null
bgpids=()
check_eq "container exit code after SIGTERM" \
  "$(podman inspect --format '{{.State.ExitCode}}' "$c1")" 0
podman logs "$c1" >"$T/c1.log" 2>&1
grep -q 'stopped: received=' "$T/c1.log" || fail "no 'stopped:' summary in the container log"
total=$((CLIENTS * N + 1000))
check_eq "summary received" "$(sed -n 's/.*stopped: received=\([0-9]*\).*/\1/p' "$T/c1.log")" "$total"
check_eq "summary committed" "$(sed -n 's/.* committed=\([0-9]*\).*/\1/p' "$T/c1.log" | tail -n1)" "$total"
check_eq "held-open client's last reply (after the drain)" "$(tail -n1 "$T/out.9")" "OK 1000"
grep -q 'did not take their final ack' "$T/c1.log" &&
  fail "the drain had to cut a connection off: $(grep 'did not take' "$T/c1.log")"

# --- the database on the volume ----------------------------------------------------
db=$voldir/burstq.db
[ -f "$db" ] || die "no $db on the volume"
check_eq "database file owner" "$(stat -c %u "$db")" 10070
sql() { sqlite3 -batch -bail "$db" "$1"; }
check_eq "integrity_check" "$(sql 'PRAGMA integrity_check')" ok
check_eq "rows" "$(sql 'SELECT count(*) FROM messages')" "$total"
check_eq "distinct payloads" "$(sql 'SELECT count(DISTINCT payload) FROM messages')" "$total"
for k in $(seq 1 $CLIENTS) 9; do
  n=$N; [ "$k" = 9 ] && n=1000
  # Rows of client k, in id order, are exactly its input.
  sql "SELECT CAST(payload AS TEXT) FROM messages
       WHERE CAST(payload AS TEXT) LIKE 'c$k-%' ORDER BY id" >"$T/db.$k"
  if cmp -s "$T/db.$k" "$T/in.$k"; then
    note "ok: client $k: $n rows, byte-exact, in order"
  else
    fail "client $k: rows differ from what it sent ($(wc -l <"$T/db.$k") rows)"
  fi
done
check_eq "connections recorded" "$(sql 'SELECT count(*) FROM connections')" $((CLIENTS + 1))
check_eq "WAL folded back at shutdown" "$(stat -c %s "$db-wal" 2>/dev/null || echo 0)" 0

# --- a second container continues the same database ----------------------------------
c2=$tag-2
start_container "$c2"
printf 'after-restart\n' | timeout 60 nc -N 127.0.0.1 "$PORT" >"$T/out.r"
check_eq "ack after restart" "$(cat "$T/out.r")" "OK 1"
podman stop -t 120 "$c2" >/dev/null 2>"$T/stop2.err"
check_eq "second container exit code" "$(podman inspect --format '{{.State.ExitCode}}' "$c2")" 0
check_eq "rows after restart" "$(sql 'SELECT count(*) FROM messages')" $((total + 1))
check_eq "new connection id continues" \
  "$(sql "SELECT conn_id FROM messages WHERE payload = CAST('after-restart' AS BLOB)")" $((CLIENTS + 2))

du_vol=$(du -sk "$voldir" | cut -f1)
note "volume holds $du_vol KiB for $((total + 1)) messages"

# --- 7. the .deb and its unit under real systemd (PID 1 in a container) ----------
# The package comes from the same build stage; systemd needs --privileged
# to set up the unit's sandbox (mount namespaces for ProtectSystem= etc.;
# without it the service fails with 226/NAMESPACE).
mkdir -p "$T/sd"
podman run --rm --network none -v "$T/sd:/out" --entrypoint /bin/sh "$IMAGE-build" -c \
  'cpack --config /src/build/CPackConfig.cmake -B /tmp/pkg -G DEB >/tmp/cpack.log 2>&1 \
   || { cat /tmp/cpack.log; exit 1; }; cp /tmp/pkg/*.deb /out/burstq.deb' >"$T/cpack.out" 2>&1 ||
  die "cpack in the build stage failed: $(tail -n 20 "$T/cpack.out")"
note "package: $(dpkg-deb -f "$T/sd/burstq.deb" Package Version Depends | tr '\n' ' ')"
s=$SECONDS
podman build --network host --pull=never --build-arg BASE="$BASE" \
  -f "$here/systemd.Containerfile" -t "$IMAGE-systemd" "$T/sd" >"$T/sd-build.log" 2>&1 ||
  { tail -n 30 "$T/sd-build.log" >&2; die "building the systemd image failed"; }
note "systemd image built in $((SECONDS - s)) s"
podman image prune -f --filter label=io.burstq.image >/dev/null 2>&1

c3=$tag-systemd
podman run -d --name "$c3" --privileged --systemd=always "$IMAGE-systemd" >/dev/null 2>"$T/c3.err" ||
  die "cannot start a systemd container: $(cat "$T/c3.err")"
containers+=("$c3")
sx() { podman exec "$c3" "$@"; }
state=
for ((i = 0; i < 600; i++)); do
  state=$(sx systemctl is-system-running 2>/dev/null)
  case "$state" in running|degraded) break ;; esac
  sleep 0.1
done
if [ "$state" != running ] && [ "$state" != degraded ]; then
  note "SKIP (stage 7): systemd did not boot in a container here (state '$state')"
else
  note "systemd in the container: $state"
  [ "$state" = running ] || sx systemctl --failed --no-pager | sed 's/^/[docker]   /'
  for ((i = 0; i < 300; i++)); do
    [ "$(sx systemctl is-active burstqd)" = active ] && break
    sleep 0.1
  done
  check_eq "burstqd.service active (after READY=1)" "$(sx systemctl is-active burstqd)" active
  sx systemctl show burstqd -p Type -p DynamicUser -p StatusText -p MainPID >"$T/show"
  check_eq "unit Type" "$(sed -n 's/^Type=//p' "$T/show")" notify
  check_eq "unit DynamicUser" "$(sed -n 's/^DynamicUser=//p' "$T/show")" yes
  # READY=1 comes with STATUS=accepting on ADDR; the first rates line
  # replaces it BQ_STATUS_MS (5 s) later, which on a loaded machine may be
  # before this look: either is burstqd's STATUS=.  The address it listens
  # on is in its log.
  case "$(sed -n 's/^StatusText=//p' "$T/show")" in
    "accepting on 127.0.0.1:7070"|*" msg/s in, "*" msg/s committed; "*)
      note "ok: STATUS= from burstqd: $(grep '^StatusText=' "$T/show")" ;;
    *) fail "no STATUS= from burstqd: $(cat "$T/show")" ;;
  esac
  sx journalctl -u burstqd --no-pager -o cat >"$T/journal0"
  grep -q 'listening on 127\.0\.0\.1:7070' "$T/journal0" &&
    note "ok: journal: listening on 127.0.0.1:7070" ||
    fail "no 'listening on 127.0.0.1:7070' in the journal: $(tail -n 5 "$T/journal0")"
  pid=$(sed -n 's/^MainPID=//p' "$T/show")
  user=$(sx ps -o user= -p "$pid" | tr -d ' ')
  note "burstqd runs as '$user' (pid $pid)"
  [ -n "$user" ] && [ "$user" != root ] || fail "burstqd runs as '$user', not a dynamic user"
  sx sh -c 'seq 1 5000 | nc -N 127.0.0.1 7070 | tail -n 1' >"$T/sd.out" 2>&1
  check_eq "ack under systemd" "$(cat "$T/sd.out")" "OK 5000"
  # STATUS= with the rates replaces the first one every few seconds.
  for ((i = 0; i < 600; i++)); do
    sx systemctl show burstqd -p StatusText | grep -q 'msg/s' && break
    sleep 0.1
  done
  sx systemctl show burstqd -p StatusText >"$T/status"
  grep -q 'msg/s' "$T/status" && note "ok: $(cat "$T/status")" ||
    fail "no STATUS= with rates after 60 s: $(cat "$T/status")"
  check_eq "/healthz under systemd" \
    "$(sx curl -s -o /dev/null -w '%{http_code}' --max-time 10 http://127.0.0.1:9070/healthz)" 200
  # Writes outside StateDirectory are refused by the sandbox.
  sx test -L /var/lib/burstq && note "ok: /var/lib/burstq -> $(sx readlink /var/lib/burstq)" ||
    fail "/var/lib/burstq is not the DynamicUser state symlink"
  sx systemctl stop burstqd
  sx systemctl show burstqd -p Result -p ExecMainStatus -p ActiveState >"$T/show2"
  check_eq "stop result" "$(sed -n 's/^Result=//p' "$T/show2")" success
  check_eq "burstqd exit status under systemd" "$(sed -n 's/^ExecMainStatus=//p' "$T/show2")" 0
  sx journalctl -u burstqd --no-pager -o cat >"$T/journal"
  grep -q 'stopped: received=5000 committed=5000' "$T/journal" &&
    note "ok: journal: $(grep -o 'stopped: received=5000 committed=5000' "$T/journal")" ||
    fail "no 'stopped: received=5000 committed=5000' in the journal: $(tail -n 5 "$T/journal")"
  check_eq "rows in /var/lib/burstq/burstq.db" \
    "$(sx sqlite3 /var/lib/burstq/burstq.db 'SELECT count(*) FROM messages')" 5000
  # Watchdog and Restart=on-failure: with WatchdogSec=2 (a drop-in), a
  # stopped (SIGSTOP) burstqd misses its WATCHDOG=1 and systemd restarts it.
  sx sh -c 'mkdir -p /etc/systemd/system/burstqd.service.d &&
    printf "[Service]\nWatchdogSec=2\n" >/etc/systemd/system/burstqd.service.d/wd.conf &&
    systemctl daemon-reload && systemctl start burstqd'
  pid=$(sx systemctl show burstqd -p MainPID --value)
  sx kill -STOP "$pid"
  for ((i = 0; i < 300; i++)); do
    newpid=$(sx systemctl show burstqd -p MainPID --value)
    [ "$newpid" != "$pid" ] && [ "$newpid" != 0 ] &&
      [ "$(sx systemctl is-active burstqd)" = active ] && break
    sleep 0.1
  done
  sx journalctl -u burstqd --no-pager -o cat >"$T/journal2"
  grep -q 'Watchdog timeout' "$T/journal2" && note "ok: journal: $(grep -m1 'Watchdog timeout' "$T/journal2")" ||
    fail "no watchdog timeout after SIGSTOP"
  check_eq "restarted after the watchdog (new MainPID, active)" \
    "$([ "$newpid" != "$pid" ] && [ "$newpid" != 0 ] && sx systemctl is-active burstqd)" active
  check_eq "rows kept across the watchdog restart" \
    "$(sx sqlite3 /var/lib/burstq/burstq.db 'SELECT count(*) FROM messages')" 5000
fi
podman stop -t 30 "$c3" >/dev/null 2>&1
