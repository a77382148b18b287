#!/usr/bin/env python3
"""check_rows.py -- check what burstqd stored against what loadgen was told.

usage: check_rows.py DB WIDTH [--since-id N] REPORT...

REPORT files are loadgen --report outputs: one line "TAG k SENT ACKED STATE"
per connection.  Every row of the messages table with id > N must be a
loadgen message "TAG.k.i.FILLER" of one of those reports (see loadgen.c for
the filler), and:

  - byte-exact: the payload is exactly what connection k of TAG sent as
    message i, and the row's seq column is i (nothing torn, nothing mixed);
  - exactly once: no (TAG, k, i) is stored twice;
  - a prefix: the rows of (TAG, k) are messages 1..m with no gap, all in one
    conn_id, ids increasing with i;
  - nothing acknowledged is missing: m >= ACKED, and m <= SENT.

Prints "rows=R acked=A senders=S" (A: acknowledged messages checked present)
and exits 0, or lists the first problems and exits 1.
"""
import sqlite3
import sys


def expected(tag, k, i, width):
    head = f"{tag}.{k}.{i}.".encode()
    fill = (i * 7 + k) % (width + 1)
    return head + bytes(ord('a') + (i + j) % 26 for j in range(fill))


def main(argv):
    args = argv[1:]
    since = 0
    if len(args) >= 4 and args[2] == '--since-id':
        since = int(args[3])
        del args[2:4]
    if len(args) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    db, width, reports = args[0], int(args[1]), args[2:]

    senders = {}  # (tag, k) -> (sent, acked)
    for path in reports:
        with open(path) as f:
            for line in f:
                tag, k, sent, acked, _state = line.split()
                senders[(tag, int(k))] = (int(sent), int(acked))

    problems = []

    def problem(msg):
        problems.append(msg)

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)
    seen = {}  # (tag, k) -> [conn_id, last_i, last_id, count]
    rows = 0
    for rid, conn_id, seq, payload in con.execute(
            "SELECT id, conn_id, seq, payload FROM messages WHERE id > ? "
            "ORDER BY id", (since,)):
        rows += 1
        if isinstance(payload, str):
            payload = payload.encode()
        parts = payload.split(b'.', 3)
        try:
            tag = parts[0].decode()
            k, i = int(parts[1]), int(parts[2])
        except (IndexError, ValueError, UnicodeDecodeError):
            problem(f"row {rid}: not a loadgen message: {payload[:60]!r}")
            continue
        key = (tag, k)
        if key not in senders:
            problem(f"row {rid}: from unknown sender {tag}.{k}")
            continue
        if payload != expected(tag, k, i, width):
            problem(f"row {rid}: torn or wrong payload for {tag}.{k}.{i}: "
                    f"{payload[:80]!r}")
        if seq != i:
            problem(f"row {rid}: seq {seq} but payload says message {i}")
        s = seen.get(key)
        if s is None:
            if i != 1:
                problem(f"{tag}.{k}: first stored message is {i}, not 1")
            seen[key] = [conn_id, i, rid, 1]
            continue
        if conn_id != s[0]:
            problem(f"row {rid}: {tag}.{k} in conn_id {conn_id} and {s[0]}")
        if i != s[1] + 1:
            kind = "duplicate" if i <= s[1] else "gap"
            problem(f"row {rid}: {kind}: {tag}.{k} message {i} after {s[1]}")
        s[1], s[2], s[3] = i, rid, s[3] + 1

    acked_total = 0
    for key, (sent, acked) in sorted(senders.items()):
        stored = seen.get(key, [None, 0, 0, 0])[3]
        acked_total += acked
        if stored < acked:
            problem(f"{key[0]}.{key[1]}: LOST acknowledged messages: "
                    f"{stored} stored, {acked} acked")
        if stored > sent:
            problem(f"{key[0]}.{key[1]}: {stored} stored but only {sent} sent")

    print(f"rows={rows} acked={acked_total} senders={len(senders)}")
    if problems:
        for p in problems[:20]:
            print("PROBLEM:", p, file=sys.stderr)
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
