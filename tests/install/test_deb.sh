#!/usr/bin/env bash
# test_deb.sh BUILD-DIR VERSION -- build the .deb with CPack, unpack it into
# a temp root (dpkg -x) and check what an operator gets: the binaries run,
# the Depends cover every shared library they link, the unit points at the
# installed daemon, the man pages are there and render.
set -u -o pipefail
build=$(realpath "$1")
version=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
fails=0
T=$(mktemp -d "${TMPDIR:-/tmp}/bq-deb.XXXXXX")
trap 'rm -rf "$T"' EXIT
note() { echo "[deb] $*"; }
fail() { fails=$((fails + 1)); echo "FAIL [deb]: $*" >&2; }
check_eq() {
  if [ "$2" == "$3" ]; then note "ok: $1 = $2"; else fail "$1: got '$2', expected '$3'"; fi
}
for t in cpack dpkg-deb dpkg-shlibdeps; do
  command -v "$t" >/dev/null || { echo "FAIL: $t is missing (dpkg-dev, cmake)" >&2; exit 1; }
done

if ! cpack --config "$build/CPackConfig.cmake" -B "$T/pkg" -G DEB >"$T/cpack.log" 2>&1; then
  cat "$T/cpack.log" >&2
  echo "FAIL: cpack" >&2
  exit 1
fi
deb=$(ls "$T"/pkg/*.deb 2>/dev/null | head -n1)
[ -f "$deb" ] || { cat "$T/cpack.log" >&2; echo "FAIL: no .deb made" >&2; exit 1; }
note "built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

check_eq "Package" "$(dpkg-deb -f "$deb" Package)" burstq
check_eq "Version" "$(dpkg-deb -f "$deb" Version)" "$version"
check_eq "Architecture" "$(dpkg-deb -f "$deb" Architecture)" "$(dpkg --print-architecture)"
depends=$(dpkg-deb -f "$deb" Depends)
note "Depends: $depends"

root=$T/root
dpkg -x "$deb" "$root" || { echo "FAIL: dpkg -x" >&2; exit 1; }
for f in usr/sbin/burstqd usr/share/man/man8/burstqd.8.gz usr/share/man/man1/burstq.1.gz \
         usr/lib/systemd/system/burstqd.service usr/share/doc/burstq/README.md \
         usr/share/doc/burstq/operations.md usr/share/doc/burstq/protocol.md \
         usr/share/doc/burstq/metrics.md usr/share/doc/burstq/security.md \
         usr/share/doc/burstq/examples/stunnel-burstq.conf; do
  [ -e "$root/$f" ] && note "ok: /$f" || fail "/$f missing from the package"
done
check_eq "installed burstqd --version" "$("$root/usr/sbin/burstqd" --version)" "burstqd $version"
bins=("$root/usr/sbin/burstqd")
if [ -e "$root/usr/bin/burstq" ]; then
  bins+=("$root/usr/bin/burstq")
  "$root/usr/bin/burstq" --version >/dev/null || fail "installed burstq --version failed"
fi
# Stripped (CPACK_STRIP_FILES), and no build-tree path baked in (RPATH).
for b in "${bins[@]}"; do
  file_out=$(readelf -S "$b" | grep -c '\.debug_info' || true)
  check_eq "$(basename "$b"): .debug_info sections" "$file_out" 0
  rp=$(readelf -d "$b" | grep -E 'RPATH|RUNPATH' || true)
  check_eq "$(basename "$b"): RPATH/RUNPATH" "$rp" ""
done

# Every library the binaries need belongs to a package named in Depends.
pkgs=$(sh "$src/docker/runtime-packages.sh" "${bins[@]}") || fail "runtime-packages.sh failed"
for p in $pkgs; do
  if echo ", $depends," | grep -Eq "[ ,]$p( \\(|,)"; then
    note "ok: Depends names $p"
  else
    fail "the binaries link a library of $p but Depends does not name it ($depends)"
  fi
done

# The unit is docs/burstqd.service (its paths already name /usr), and runs
# the daemon where the package put it.
cmp -s "$root/usr/lib/systemd/system/burstqd.service" "$src/docs/burstqd.service" &&
  note "ok: packaged unit = docs/burstqd.service" ||
  fail "packaged unit differs from docs/burstqd.service"
exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$root/usr/lib/systemd/system/burstqd.service")
check_eq "ExecStart binary is in the package" "$([ -n "$exe" ] && [ -f "$root$exe" ] && [ -x "$root$exe" ] && echo yes)" yes

# Type=notify needs sd_notify: a burstqd without libsystemd would never
# send READY=1 and systemd would kill it after TimeoutStartSec.
if grep -q '^Type=notify' "$root/usr/lib/systemd/system/burstqd.service"; then
  if readelf -d "$root/usr/sbin/burstqd" | grep -q 'NEEDED.*libsystemd'; then
    note "ok: Type=notify unit, burstqd links libsystemd"
  else
    fail "the unit is Type=notify but burstqd was built without libsystemd (BQ_SYSTEMD)"
  fi
fi

# Maintainer scripts are there and executable.
dpkg-deb -e "$deb" "$T/control"
for f in postinst prerm postrm; do
  [ -x "$T/control/$f" ] && note "ok: $f" || fail "$f missing or not executable"
done

# The unpacked daemon runs for real: listens, stores, drains on SIGTERM.
"$root/usr/sbin/burstqd" --listen 127.0.0.1:0 --db "$T/run.db" >"$T/run.log" 2>&1 &
pid=$!
port=
for ((i = 0; i < 600; i++)); do
  port=$(sed -n 's/.* listening on 127\.0\.0\.1:\([0-9][0-9]*\) (acked)$/\1/p' "$T/run.log")
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
if [ -z "$port" ]; then
  fail "the installed burstqd did not start: $(cat "$T/run.log")"
else
  check_eq "ack from the installed burstqd" \
    "$(printf 'one\ntwo\n' | timeout 60 nc -N 127.0.0.1 "$port" | tail -n 1)" "OK 2"
  if [ -x "$root/usr/bin/burstq" ]; then
    check_eq "installed burstq send" \
      "$(timeout 60 "$root/usr/bin/burstq" send -H "127.0.0.1:$port" three 2>&1)" "sent 1, committed 1"
  fi
fi
kill -TERM "$pid" 2>/dev/null
for ((i = 0; i < 1200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$pid" 2>/dev/null; then
  kill -KILL "$pid"
  fail "installed burstqd did not exit after SIGTERM"
fi
wait "$pid"
check_eq "installed burstqd exit status after SIGTERM" "$?" 0
[ -n "$port" ] && check_eq "rows stored by the installed burstqd" \
  "$(sqlite3 "$T/run.db" 'SELECT count(*) FROM messages')" "$([ -x "$root/usr/bin/burstq" ] && echo 3 || echo 2)"

# Man pages are gzipped (Debian policy) and render without warnings.
for m in man8/burstqd.8.gz man1/burstq.1.gz; do
  warn=$(MANWIDTH=80 man --warnings -l "$root/usr/share/man/$m" 2>&1 >/dev/null)
  check_eq "man $m warnings" "$warn" ""
done

if [ "$fails" -gt 0 ]; then echo "test_deb: $fails failure(s)" >&2; exit 1; fi
echo "test_deb: PASS"
