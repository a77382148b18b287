#!/usr/bin/env python3
"""syslog_client.py -- a syslog-over-TCP sender for the integration tests.

Plain blocking sockets, one connection per run, loopback only.  Prints what
it saw as "key value" lines for the shell test to check; exits 2 on a setup
error (no connection), 0 otherwise.

Modes:
  send PORT FILE   writes FILE's bytes (in pieces of the sizes --pieces
                   lists, cycled; the whole at once without it, each piece
                   its own send() with TCP_NODELAY, so the pieces may
                   arrive in reads of their own), then half-closes and reads
                   until the daemon's end.  Out: "received N" (bytes the
                   daemon wrote to us) and "end eof|reset".
  flood PORT N     writes N lines "<13>flood: n=I" (I = 1..N), then closes
                   at once: no half-close, no read (what a fire-and-forget
                   sender does).  Out: "sent N".
  hold PORT        connects, sends nothing, reads until the daemon's end.
                   Out: "received N" and "end eof|reset".
"""
import argparse
import socket
import sys
import time


def connect(port, timeout):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as e:
        print("cannot connect to 127.0.0.1:%d: %s" % (port, e), file=sys.stderr)
        sys.exit(2)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_to_end(s):
    """Bytes received until EOF or a reset, and which of the two."""
    got = 0
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            return got, "reset"
        if not b:
            return got, "eof"
        got += len(b)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["send", "flood", "hold"])
    p.add_argument("port", type=int)
    p.add_argument("arg", nargs="?")
    p.add_argument("--pieces", default="")
    p.add_argument("--timeout", type=float, default=120.0)
    a = p.parse_args()

    s = connect(a.port, a.timeout)
    if a.mode == "send":
        data = open(a.arg, "rb").read()
        sizes = [int(x) for x in a.pieces.split(",") if x] or [len(data) or 1]
        at, i = 0, 0
        try:
            while at < len(data):
                n = sizes[i % len(sizes)]
                s.sendall(data[at:at + n])
                at += n
                i += 1
                if len(sizes) > 1:
                    time.sleep(0.002)  # give the pieces a chance to be reads
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the daemon closed first (a framing error): then read
        got, end = read_to_end(s)
        print("received %d" % got)
        print("end %s" % end)
    elif a.mode == "flood":
        n = int(a.arg)
        s.sendall(b"".join(b"<13>flood: n=%d\n" % i for i in range(1, n + 1)))
        s.close()
        print("sent %d" % n)
    else:
        got, end = read_to_end(s)
        print("received %d" % got)
        print("end %s" % end)
    return 0


if __name__ == "__main__":
    sys.exit(main())
