#!/usr/bin/env python3
"""tls_client.py -- TLS clients of burstqd for the integration tests.

Each of --conns connections runs in a thread of its own with Python's ssl
module (one socket per thread: sends and reads alternate, never at once):
it verifies the server's certificate against --ca (and the name
127.0.0.1), optionally presents --cert/--key, sends loadgen-style lines
"TAG.k.i.FILLER" (tests/helpers/check_rows.py: the same bytes, so that
script can check the rows), and reads every "OK n" that comes back.
Nothing here decides pass or fail except setup errors (exit 2): findings
go to files the shell test checks.

  --lines L     send L lines, then read until "OK L", then close.
                Without it (--until-closed), send until the connection
                fails (kill -9 of the daemon).
  --gate FILE   after half of the lines, and once that half is acked,
                create FILE.k.half and wait for FILE before the rest.
  --report F    "TAG k SENT ACKED STATE" per connection (check_rows.py):
                SENT counts every line handed to the socket (an upper
                bound), ACKED the last "OK n" read, STATE done|closed|error.
                Each ack read is also appended to F.k.acks as it arrives.
  --fingerprints F  the SHA-256 of the server certificate each connection
                saw, one "k HEX" line each.
"""
import argparse
import hashlib
import os
import socket
import ssl
import sys
import threading
import time


def line(tag, k, i, width):
    head = f"{tag}.{k}.{i}.".encode()
    fill = (i * 7 + k) % (width + 1)
    return head + bytes(ord('a') + (i + j) % 26 for j in range(fill)) + b"\n"


class Conn:
    def __init__(self, a, k, ctx):
        self.a, self.k, self.ctx = a, k, ctx
        self.sent = 0
        self.acked = 0
        self.state = "error"
        self.fp = "-"
        self.buf = b""
        self.acklog = open(f"{a.report}.{k}.acks", "w") if a.report else None

    def take_acks(self, data):
        self.buf += data
        while b"\n" in self.buf:
            ln, self.buf = self.buf.split(b"\n", 1)
            if ln.startswith(b"OK "):
                self.acked = max(self.acked, int(ln[3:]))
                if self.acklog:
                    self.acklog.write(f"{self.acked}\n")
                    self.acklog.flush()

    def drain(self, s, block):
        """Read what is there (block: wait up to a bound for something)."""
        s.settimeout(60 if block else 0.0)
        try:
            while True:
                data = s.recv(4096)
                if not data:
                    return False
                self.take_acks(data)
                if block:
                    return True
                s.settimeout(0.0)
        except (ssl.SSLWantReadError, BlockingIOError, socket.timeout):
            return True
        finally:
            s.settimeout(None)

    def run(self):
        a = self.a
        try:
            raw = socket.create_connection(("127.0.0.1", a.port), timeout=60)
            s = self.ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            s.settimeout(None)
            self.fp = hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()
            i = 0
            total = a.lines
            half = total // 2 if a.gate and total else -1
            while total is None or i < total:
                chunk = []
                n = min(a.chunk, total - i) if total is not None else a.chunk
                if half > 0 and i < half:
                    n = min(n, half - i)
                for _ in range(n):
                    i += 1
                    chunk.append(line(a.tag, self.k, i, a.width))
                self.sent = i
                s.sendall(b"".join(chunk))
                if not self.drain(s, False):
                    self.state = "closed"
                    return
                if i == half:
                    while self.acked < half:
                        if not self.drain(s, True):
                            self.state = "closed"
                            return
                    open(f"{a.gate}.{self.k}.half", "w").close()
                    deadline = time.time() + 600
                    while not os.path.exists(a.gate):
                        if time.time() > deadline:
                            raise RuntimeError("gate never opened")
                        time.sleep(0.05)
            while self.acked < total:
                if not self.drain(s, True):
                    self.state = "closed"
                    return
            self.state = "done"
            s.close()
        except (OSError, ssl.SSLError, RuntimeError) as e:
            self.state = "error"
            self.err = str(e)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--lines", type=int)
    p.add_argument("--width", type=int, default=40)
    p.add_argument("--chunk", type=int, default=50)
    p.add_argument("--tag", default="t")
    p.add_argument("--gate")
    p.add_argument("--report")
    p.add_argument("--fingerprints")
    a = p.parse_args()
    try:
        ctx = ssl.create_default_context(cafile=a.ca)
        if a.cert:
            ctx.load_cert_chain(a.cert, a.key)
    except (OSError, ssl.SSLError) as e:
        print(f"tls_client.py: {e}", file=sys.stderr)
        return 2
    conns = [Conn(a, k, ctx) for k in range(1, a.conns + 1)]
    threads = [threading.Thread(target=c.run) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if a.report:
        with open(a.report, "w") as f:
            for c in conns:
                f.write(f"{a.tag} {c.k} {c.sent} {c.acked} {c.state}\n")
    if a.fingerprints:
        with open(a.fingerprints, "w") as f:
            for c in conns:
                f.write(f"{c.k} {c.fp}\n")
    for c in conns:
        if hasattr(c, "err"):
            print(f"connection {c.k}: {c.err}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
