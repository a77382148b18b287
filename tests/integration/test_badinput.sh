#!/usr/bin/env bash
# test_badinput.sh BURSTQD -- promise 5: bad input gets its documented
# reply and a counter, and never a crash, a hang, a torn or lost message,
# or a garbled neighbour.  All of these run at once, on one daemon, while a
# well-behaved neighbour streams; afterwards each connection's rows are
# compared byte for byte with a model of the framer (docs/protocol.md):
#   A  lines at every size around --max-message (limit-2 .. limit+2, with
#      and without a trailing \r, 2x and 3x the limit), each starting at a
#      different offset so that lines straddle the 64 KiB read buffer
#   B  NUL bytes, invalid UTF-8 (lone continuation, overlong, surrogate,
#      0xff 0xfe), lone \r (inside, at the start, "\r\r\n", a bare "\r" as
#      the last unterminated line) and 1 MB of random binary junk
#   C  a 100 MB line with no newline, then a normal line (daemon memory
#      stays bounded: VmHWM)
#   D  a 100 MB line with no newline, then EOF
#   E  half a line, then the client half-closes (FIN): a message
#   F  half a line, then the client resets the connection (RST): dropped
#   N  the neighbour: 100,000 ordinary lines, stored exactly.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"

MAX=65536
BIG=$((100 * 1024 * 1024))
BOUND_KB=$((40 * 1024))
NLINES=$((100000 / BQ_DIV))

start_daemon --max-message "$MAX" --queue-bytes 4M

# The framer model: writes in.X and want.X ("len sha1" per stored message,
# in order) and want.X.err (the number of "ERR too-long" replies).
python3 - "$MAX" <<'PY' || die "cannot generate the inputs"
import hashlib, os, random, sys
MAX = int(sys.argv[1])
def model(data):
    msgs, errs = [], 0
    parts = data.split(b"\n")
    tail = parts.pop()                     # after the last \n
    for p in parts + ([tail] if tail else []):
        if p.endswith(b"\r"):
            p = p[:-1]
        if len(p) > MAX: errs += 1
        else: msgs.append(p)
    return msgs, errs
def write(name, data):
    msgs, errs = model(data)
    open("in." + name, "wb").write(data)
    with open("want." + name, "w") as f:
        for m in msgs:
            f.write("%d %s\n" % (len(m), hashlib.sha1(m).hexdigest()))
    open("want.%s.err" % name, "w").write("%d\n" % errs)
    open("want.%s.n" % name, "w").write("%d\n" % len(msgs))
rnd = random.Random(4)
# A: sizes around the limit, at shifting offsets.
a = bytearray(b"A-start\n")
sizes = [MAX - 2, MAX - 1, MAX, MAX + 1, MAX + 2, 2 * MAX, 3 * MAX + 5]
for i, n in enumerate(sizes * 2):
    for cr in (b"", b"\r"):
        pad = rnd.randrange(1, 70000)     # shifts the next line's start
        a += (b"p%d-" % i) + bytes([97 + i % 26]) * pad + b"\n"
        a += bytes([65 + (i + len(cr)) % 26]) * n + cr + b"\n"
        a += b"after-%d-%d\n" % (n, len(cr))
a += b"A-end\n"
write("A", bytes(a))
# B: NULs, invalid UTF-8, lone \r, random junk, unterminated "\r" at EOF.
b = bytearray(b"B-start\n")
b += b"nul\x00in\x00the\x00middle\n\x00\n\x00\x00\x00\n"
b += b"lone-cont\x80\n overlong\xc0\xaf\n surrogate\xed\xa0\x80\n\xff\xfe\xfd\n"
b += b"cut-utf8-\xc3\n\xc3\x28\n"
b += b"in\rside\n\rstart\n\r\r\n\r\n\n"
b += os.urandom(1 << 20)
b += b"\nB-end\n\r"
write("B", bytes(b))
PY

# --- N: the neighbour starts first and streams throughout -----------------
start_client 1 "$NLINES" 60

# --- A, B: through nc, half-closing after the input ------------------------
for x in A B; do
  bq_spawn "in.$x" "out.$x" "err.$x" timeout $((300 * BQ_SLOW)) \
    nc -N 127.0.0.1 "$BQ_PORT"
  CLIENT_PID[$x]=$BQ_SPAWNED
done

# --- C, D: 100 MB without a newline -------------------------------------
bq_spawn /dev/null out.C err.C timeout $((300 * BQ_SLOW)) bash -c \
  '{ head -c "$1" /dev/zero | tr "\0" y; printf "\nafter-100mb\n"; } |
     nc -N 127.0.0.1 "$2"' _ "$BIG" "$BQ_PORT"
CLIENT_PID[C]=$BQ_SPAWNED
bq_spawn /dev/null out.D err.D timeout $((300 * BQ_SLOW)) bash -c \
  '{ printf "D-first\n"; head -c "$1" /dev/zero | tr "\0" z; } |
     nc -N 127.0.0.1 "$2"' _ "$BIG" "$BQ_PORT"
CLIENT_PID[D]=$BQ_SPAWNED

# --- E: half a line, then FIN ------------------------------------------
printf 'E-complete\nE-half-a-line' >in.E
bq_spawn in.E out.E err.E timeout $((60 * BQ_SLOW)) nc -N 127.0.0.1 "$BQ_PORT"
CLIENT_PID[E]=$BQ_SPAWNED

# --- F: half a line, then RST (twice, with and without a complete line) --
printf 'F-complete\nF-half-a-line' >in.F
printf 'G-half-a-line-only' >in.G
for x in F G; do
  python3 "$HERE/sockets.py" rst --port "$BQ_PORT" --data "in.$x" --wait 1 ||
    fail "sockets.py rst $x failed"
done

wait_clients 1 A B C D E

# --- replies -------------------------------------------------------------
for x in A B; do
  n=$(cat "want.$x.n")
  check_eq "$x: ERR too-long replies" "$(grep -c '^ERR too-long$' "out.$x")" \
    "$(cat "want.$x.err")"
  grep -v '^ERR too-long$' "out.$x" >"acks.$x"
  check_acks "acks.$x" "$n" "$x"
done
check_eq "C: ERR too-long replies" "$(grep -c '^ERR too-long$' out.C)" 1
check_eq "C: the reply ends with the final ack" "$(tail -n1 out.C)" "OK 1"
check_eq "C: the ERR comes before the final ack" "$(head -n1 out.C)" "ERR too-long"
check_eq "D: ERR too-long replies" "$(grep -c '^ERR too-long$' out.D)" 1
grep -v '^ERR too-long$' out.D >acks.D
check_acks acks.D 1 "D"
check_acks out.E 2 "E (the half line is a message at FIN)"
check_acks out.1 "$NLINES" "neighbour"

hwm=$(vmhwm_kb "$BQ_PID")
note "daemon VmHWM after 200 MB of unterminated lines: ${hwm} kB"
if [ -n "$BQ_SAN" ]; then
  note "skipping the RSS bound under $BQ_SAN (sanitizers inflate RSS)"
else
  check_num "daemon VmHWM (kB) under ${BOUND_KB} kB" "$hwm" -lt "$BOUND_KB"
fi

# --- rows, byte for byte --------------------------------------------------
# Each connection's rows: "len sha1" in seq order, found by a marker row.
python3 - "$BQ_DB" <<'PY' >rows.check || fail "reading the rows failed"
import hashlib, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
def rows_of(marker):
    r = db.execute("SELECT conn_id FROM messages WHERE payload = ?",
                   (marker,)).fetchall()
    if len(r) != 1: return None
    return db.execute("SELECT payload, typeof(payload) FROM messages "
                      "WHERE conn_id = ? ORDER BY seq", r[0]).fetchall()
for name, marker in (("A", b"A-start"), ("B", b"B-start")):
    rows = rows_of(marker)
    with open("got." + name, "w") as f:
        for p, t in rows or []:
            f.write("%d %s\n" % (len(p), hashlib.sha1(p).hexdigest()))
    print(name, "non-blob", sum(1 for _, t in rows or [] if t != "blob"))
for name, marker in (("C", b"after-100mb"), ("D", b"D-first"),
                     ("E", b"E-complete"), ("F", b"F-complete")):
    rows = rows_of(marker) or []
    print(name, "rows", "|".join(p.decode("latin-1") for p, _ in rows))
print("G rows", db.execute("SELECT count(*) FROM messages WHERE "
      "instr(payload, CAST('G-half' AS BLOB)) > 0").fetchone()[0])
print("F half", db.execute("SELECT count(*) FROM messages WHERE "
      "instr(payload, CAST('F-half' AS BLOB)) > 0").fetchone()[0])
print("Y rows", db.execute("SELECT count(*) FROM messages WHERE "
      "instr(payload, CAST('yyyyyyyy' AS BLOB)) > 0 OR "
      "instr(payload, CAST('zzzzzzzz' AS BLOB)) > 0").fetchone()[0])
PY
for x in A B; do
  if cmp -s "want.$x" "got.$x"; then
    note "ok: $x: $(wc -l <"got.$x") rows byte-exact and in order"
  else
    fail "$x: rows differ from the model: $(diff "want.$x" "got.$x" | head -5 | tr '\n' ' ')"
  fi
  check_eq "$x: rows not stored as BLOB" "$(sed -n "s/^$x non-blob //p" rows.check)" 0
done
check_eq "C rows" "$(sed -n 's/^C rows //p' rows.check)" "after-100mb"
check_eq "D rows" "$(sed -n 's/^D rows //p' rows.check)" "D-first"
check_eq "E rows" "$(sed -n 's/^E rows //p' rows.check)" "E-complete|E-half-a-line"
check_eq "F rows (the reset drops the half line)" \
  "$(sed -n 's/^F rows //p' rows.check)" "F-complete"
check_eq "rows holding F's half line" "$(sed -n 's/^F half //p' rows.check)" 0
check_eq "rows holding G's half line" "$(sed -n 's/^G rows //p' rows.check)" 0
check_eq "rows holding bytes of the 100 MB lines" "$(sed -n 's/^Y rows //p' rows.check)" 0

# The neighbour: exactly its input, line for line.
sql "SELECT CAST(payload AS TEXT) FROM messages WHERE conn_id =
       (SELECT conn_id FROM messages WHERE payload = CAST('c1-1-' || substr(
          '$(printf '%060d' 0 | tr 0 x)', 1, 55) AS BLOB)) ORDER BY seq" >got.1
if cmp -s in.1 got.1; then
  note "ok: neighbour: $NLINES rows byte-exact and in order"
else
  fail "neighbour: rows differ from its input ($(wc -l <got.1) rows)"
fi

stop_daemon
check_eq "exit status" "$BQ_RC" 0
want_rej=$(($(cat want.A.err) + $(cat want.B.err) + 2))
check_eq "summary rejected (every over-long line counted)" "$(summary rejected)" "$want_rej"
check_eq "summary received == rows" "$(summary received)" "$(msg_count)"
check_eq "summary committed == rows" "$(summary committed)" "$(msg_count)"
check_num "summary partial_dropped (F and G)" "$(summary partial_dropped)" -ge 2
check_num "summary conn_errors (F and G reset)" "$(summary conn_errors)" -ge 2
check_no_grep "no payload bytes in the log" "$BQ_LOG" 'yyyyyyyy|zzzzzzzz|F-half|G-half|E-half'
check_eq "database integrity" "$(sql 'PRAGMA integrity_check')" ok
note "bad inputs tried: A $(grep -c . want.A) stored + $(cat want.A.err) rejected lines," \
  "B $(grep -c . want.B) stored + $(cat want.B.err) rejected, 2 x 100 MB, FIN half-line, 2 x RST half-line"
