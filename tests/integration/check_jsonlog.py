#!/usr/bin/env python3
"""check_jsonlog.py LOG -- every line of LOG is one JSON object with ts
(RFC 3339 UTC, milliseconds), level, msg and fields {prog, pid, ...}.
Prints problems, one per line, and exits 1 if there are any; otherwise
prints the number of lines and the messages (one per line, as JSON) to
LOG.msgs."""
import json
import re
import sys

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
bad = []
msgs = []
with open(sys.argv[1], "rb") as f:
    lines = f.read().split(b"\n")
if lines and lines[-1] == b"":
    lines.pop()
else:
    bad.append("the last line has no newline")
for i, raw in enumerate(lines, 1):
    try:
        o = json.loads(raw.decode("utf-8"))
    except Exception as e:  # noqa: BLE001 -- any failure is the finding
        bad.append(f"line {i}: not JSON ({e}): {raw[:200]!r}")
        continue
    if not isinstance(o, dict):
        bad.append(f"line {i}: not an object")
        continue
    if set(o) != {"ts", "level", "msg", "fields"}:
        bad.append(f"line {i}: keys {sorted(o)}")
        continue
    if not TS.match(o["ts"]):
        bad.append(f"line {i}: ts {o['ts']!r}")
    if o["level"] not in ("error", "warn", "info", "debug"):
        bad.append(f"line {i}: level {o['level']!r}")
    f = o["fields"]
    if f.get("prog") != "burstqd" or not isinstance(f.get("pid"), int):
        bad.append(f"line {i}: fields {f!r}")
    msgs.append(o["msg"])
with open(sys.argv[1] + ".msgs", "w") as out:
    for m in msgs:
        out.write(json.dumps(m) + "\n")
for b in bad:
    print(b)
print(f"{len(lines)} lines")
sys.exit(1 if bad else 0)
