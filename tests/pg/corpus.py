#!/usr/bin/env python3
"""corpus.py -- the payload corpus of test_payloads.sh.

  corpus.py OUT_LINES OUT_HEX [SEED [RANDOM_COUNT]]

Writes OUT_LINES: one payload a line ('\\n'-terminated), the bytes an acked
listener stores as they are: hard cases for COPY and SQL (tabs,
backslashes, NUL, "\\.", quotes, SQL text, invalid UTF-8, a 1 MiB line),
then RANDOM_COUNT (default 2000) random byte strings from SEED (default
15), each without '\\n' and without a trailing '\\r'.  OUT_HEX: each
payload's bytes in lowercase hex, one a line, in the same order (what
encode(payload, 'hex') must give back).
"""
import random
import sys

fixed = [
    b"plain",
    b"tab\there\tand\tthere",
    b"back\\slash \\\\ double \\N null-marker \\x41",
    b"nul\x00in\x00the\x00middle",
    b"\x00",
    b"\\.",
    b"\\.\x00\\.",
    b"'single' \"double\" `back`",
    b"'); DROP TABLE messages; --",
    b"1\t2\t3\t\\x00",
    b"COPY messages FROM STDIN; \\. COMMIT;",
    b"E'\\\\' $$dollar$$ $tag$ x $tag$",
    b"\xff\xfe invalid utf-8 \xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80",
    "unicode: \u00e9\u4e2d\U0001f600".encode(),
    b"carriage\rreturn inside",
    b"\x1b[31mescape\x1b[0m \x7f \x01\x02\x03",
    b"PGCOPY\n\xff\r\n\x00"[0:6] + b"\xff\r\x00 binary-copy signature",
    bytes(range(1, 10)) + bytes(range(11, 256)),
    b"x" * (1 << 20),
]


def main():
    out_lines, out_hex = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
    rnd = random.Random(seed)
    payloads = list(fixed)
    alphabet = bytes(b for b in range(256) if b != 10)
    for _ in range(count):
        n = rnd.choice([1, 2, 5, 30, 200, 3000])
        n = rnd.randint(1, n)
        p = bytes(rnd.choice(alphabet) for _ in range(n))
        while p.endswith(b"\r"):
            p = p[:-1] + b"r"
        payloads.append(p)
    with open(out_lines, "wb") as f:
        for p in payloads:
            assert b"\n" not in p and not p.endswith(b"\r") and p
            f.write(p + b"\n")
    with open(out_hex, "w") as f:
        for p in payloads:
            f.write(p.hex() + "\n")


if __name__ == "__main__":
    main()
