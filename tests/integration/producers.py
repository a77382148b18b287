#!/usr/bin/env python3
"""producers.py -- raw-socket producers for test_producers.sh.

Like sockets.py, it reports and the shell test decides: every mode writes
"key value" lines to stdout; setup errors exit 2.

Modes:
  race PORT ITERS K   ITERS rounds; in round I two connections say
                      "HELLO race" (numbering from 1) and send lines
                      "L1".."L(I+1)*K" (a resend of a growing file), in a
                      random order and a few milliseconds apart, and keep
                      their side open until one of them has been told
                      "ERR fenced"; then the other half-closes and reads to
                      the end.  Per round: "round I fenced F resume R
                      final A want W" (F: how many were fenced, R: the
                      winner's RESUME n, A: its last OK, W = (I+1)*K).
  lines PORT LINE...  one connection: sends the lines, half-closes, prints
                      every reply line as "reply TEXT" and "eof".
"""
import random
import selectors
import socket
import sys
import time


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setblocking(False)
    return s


class Conn:
    def __init__(self, port, data):
        self.s = connect(port)
        self.out = data
        self.inb = b""
        self.replies = []
        self.eof = False
        self.shut = False

    def pump_read(self):
        try:
            b = self.s.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionResetError:
            b = b""
        if not b:
            self.eof = True
            return
        self.inb += b
        while b"\n" in self.inb:
            line, self.inb = self.inb.split(b"\n", 1)
            self.replies.append(line.decode("ascii", "replace"))

    def pump_write(self):
        if not self.out:
            return
        try:
            n = self.s.send(self.out[:65536])
        except (BlockingIOError, InterruptedError):
            return
        except (BrokenPipeError, ConnectionResetError):
            self.out = b""
            return
        self.out = self.out[n:]

    def fenced(self):
        return "ERR fenced" in self.replies


def race(port, iters, k, limit):
    for i in range(iters):
        total = (i + 1) * k
        data = b"HELLO race\n" + b"".join(b"L%d\n" % j
                                          for j in range(1, total + 1))
        conns = []
        for _ in range(2):
            conns.append(Conn(port, data))
            time.sleep(random.random() * 0.003)
        random.shuffle(conns)
        sel = selectors.DefaultSelector()
        for c in conns:
            sel.register(c.s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
        deadline = time.monotonic() + limit
        while not all(c.eof for c in conns):
            if time.monotonic() > deadline:
                print("round %d timeout replies %r" %
                      (i, [c.replies for c in conns]))
                sys.exit(2)
            loser = any(c.fenced() for c in conns)
            for key, ev in sel.select(timeout=0.1):
                c = key.data
                if ev & selectors.EVENT_READ:
                    c.pump_read()
                if ev & selectors.EVENT_WRITE:
                    if c.fenced():
                        c.out = b""
                    c.pump_write()
            for c in conns:
                want = selectors.EVENT_READ
                if c.out and not c.fenced():
                    want |= selectors.EVENT_WRITE
                if c.eof:
                    continue
                sel.modify(c.s, want, c)
                # The winner half-closes once the loser is known and all of
                # its own lines are written.
                if loser and not c.fenced() and not c.out and not c.shut:
                    c.s.shutdown(socket.SHUT_WR)
                    c.shut = True
            for c in conns:
                if c.eof and c.s.fileno() >= 0 and key_of(sel, c):
                    sel.unregister(c.s)
        nf = sum(1 for c in conns if c.fenced())
        win = [c for c in conns if not c.fenced()]
        resume = final = "-"
        if len(win) == 1:
            for r in win[0].replies:
                if r.startswith("RESUME "):
                    resume = r[7:]
                if r.startswith("OK "):
                    final = r[3:]
        print("round %d fenced %d resume %s final %s want %d" %
              (i, nf, resume, final, total))
        for c in conns:
            c.s.close()
        sel.close()


def key_of(sel, c):
    try:
        sel.get_key(c.s)
        return True
    except KeyError:
        return False


def lines(port, args):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"".join(a.encode() + b"\n" for a in args))
    s.shutdown(socket.SHUT_WR)
    buf = b""
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            print("reset")
            break
        if not b:
            break
        buf += b
    for line in buf.split(b"\n")[:-1]:
        print("reply " + line.decode("ascii", "replace"))
    print("eof")


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "race":
        slow = int(sys.argv[5]) if len(sys.argv) > 5 else 1
        race(port, int(sys.argv[3]), int(sys.argv[4]), 60 * slow)
    elif mode == "lines":
        lines(port, sys.argv[3:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
