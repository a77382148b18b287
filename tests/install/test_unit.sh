#!/usr/bin/env bash
# test_unit.sh UNIT MANPAGE BURSTQD -- docs/burstqd.service passes
# `systemd-analyze verify` (syntax, every directive known, the binary
# executable, Documentation= resolvable) with no output at all, and its
# offline security exposure stays at or below 2.0 ("OK").  The unit's
# ExecStart binary is replaced with the built one for the check.
# Skips (77) when systemd-analyze is missing.
set -u -o pipefail
unit=$1 manpage=$2 bin=$(realpath "$3")
command -v systemd-analyze >/dev/null ||
  { echo "SKIP: systemd-analyze not installed (apt-get install systemd)"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/bq-unit.XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0
mkdir -p "$T/man/man8"
cp "$manpage" "$T/man/man8/"
grep -q '^ExecStart=/usr/sbin/burstqd ' "$unit" ||
  { echo "FAIL: ExecStart is not /usr/sbin/burstqd" >&2; exit 1; }
sed "s#^ExecStart=/usr/sbin/burstqd #ExecStart=$bin #" "$unit" >"$T/burstqd.service"

# verify prints warnings yet exits 0 for unknown keys: any output fails.
MANPATH=$T/man systemd-analyze verify "$T/burstqd.service" >"$T/verify.out" 2>&1
rc=$?
if [ "$rc" != 0 ] || [ -s "$T/verify.out" ]; then
  echo "FAIL: systemd-analyze verify (exit $rc):" >&2
  cat "$T/verify.out" >&2
  fails=$((fails + 1))
else
  echo "ok: systemd-analyze verify: clean"
fi

# Options the daemon's drain, readiness and state rely on.
for want in '^Type=notify$' '^KillSignal=SIGTERM$' '^TimeoutStopSec=' '^StateDirectory=burstq$' \
            '^DynamicUser=yes$' '^WatchdogSec=' '^Restart=on-failure$' '^LimitNOFILE=' \
            '^ProtectSystem=strict$' '^NoNewPrivileges=yes$' '^SystemCallFilter=@system-service$' \
            '^MemoryDenyWriteExecute=yes$' '^RestrictAddressFamilies=' '--db %S/burstq/burstq.db'; do
  grep -Eq -- "$want" "$unit" || { echo "FAIL: unit lacks /$want/" >&2; fails=$((fails + 1)); }
done

# The drain must fit in TimeoutStopSec: at least two minutes.
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$unit")
[ "${stop:-0}" -ge 120 ] || { echo "FAIL: TimeoutStopSec=$stop < 120" >&2; fails=$((fails + 1)); }

# Every option in ExecStart is one the daemon accepts.
"$bin" --help >"$T/help"
args=$(sed -n 's/^ExecStart=[^ ]* //p' "$unit" | sed 's#%S#/var/lib#g')
# shellcheck disable=SC2086
for opt in $args; do
  case "$opt" in
    --*) grep -Eq -- "^ +(-[A-Za-z], )?$opt( |=|$)" "$T/help" ||
           { echo "FAIL: ExecStart option $opt is not in burstqd --help" >&2; fails=$((fails + 1)); } ;;
  esac
done

if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
  if systemd-analyze security --offline=true --threshold=20 "$T/burstqd.service" >"$T/sec.out" 2>&1; then
    echo "ok: $(grep 'Overall exposure' "$T/sec.out")"
  else
    echo "FAIL: systemd-analyze security exposure above 2.0:" >&2
    tail -n 5 "$T/sec.out" >&2
    fails=$((fails + 1))
  fi
fi
[ "$fails" = 0 ] || exit 1
echo "test_unit: PASS"
