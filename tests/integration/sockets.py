#!/usr/bin/env python3
"""sockets.py -- many-socket clients for the burstq integration tests.

One process drives hundreds or thousands of connections with non-blocking
sockets and a selector (nc would need a process each).  Every mode writes
its findings to --out as plain "key value" or per-connection lines that the
shell test checks; nothing here decides pass or fail except setup errors
(exit 2).  Lines sent by connection K are "cK-SEQ-" padded with 'x' to
--width bytes, like lib.sh's gen_lines, so rows name their sender.

Modes:
  stream     K=1..N stream lines until the daemon closes them; --ready is
             created once every connection has been acked at least once.
             With --gate FILE each sends one line, then waits for FILE.
             Out: "K LAST_ACK LINES_FULLY_SENT HOW_IT_ENDED" per connection.
  slowloris  N connections each trickle one byte per --interval seconds of
             lines "sK-SEQ"; when --stop exists each finishes its current
             line, half-closes and reads its final ack.
             Out: "K LINES LAST_ACK OPEN_THROUGHOUT" per connection.
  noread     one connection, tiny receive buffer, sends --lines lines and
             never reads until all are sent; then half-closes and reads.
             Out: "last_ack N" and "bytes_sent N".
  hold       opens N connections and sends nothing (or the bytes of --data,
             then nothing); records what each receives.  Out: "K STATE FIRST_LINE SECONDS" per connection,
             STATE open|eof|reset|refused-connect; ends when --stop exists.
  rst        sends the bytes of --data then resets the connection (SO_LINGER
             0) without reading.
  torn       --conns connections, one after another; connection I sends
             "TAG-I-complete\nTAG-I-partial" in one write and is reset at
             once, as --timing says: "rst" (SO_LINGER 0, close), "kill" (a
             child process first sends "TAG-I-first\n" and waits until its
             ack is readable, then sends the two lines and SIGKILLs itself
             with the ack unread, so its kernel resets the connection), or
             "acked" (reads "OK 1", then SO_LINGER 0 and close).  Exits 1 on
             any unexpected event.
"""
import argparse
import errno
import os
import resource
import select
import selectors
import signal
import socket
import struct
import sys
import time


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def line(prefix, k, i, width):
    s = "%s%d-%d-" % (prefix, k, i)
    return (s + "x" * max(0, width - len(s)) + "\n").encode()


def connect_nb(port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.setblocking(False)
    r = s.connect_ex(("127.0.0.1", port))
    if r not in (0, errno.EINPROGRESS):
        s.close()
        raise OSError(r, os.strerror(r))
    return s


def last_ok(buf):
    n = None
    for l in buf.split(b"\n"):
        if l.startswith(b"OK "):
            try:
                n = int(l[3:])
            except ValueError:
                pass
    return n


class Conn:
    def __init__(self, k, sock):
        self.k = k
        self.sock = sock
        self.out = b""       # bytes not yet sent
        self.seq = 0         # lines generated
        self.sent_lines = 0  # lines whose last byte went out
        self.pending_nl = [] # cumulative byte offsets of line ends
        self.sent_bytes = 0
        self.gen_bytes = 0
        self.inbuf = b""
        self.ack = 0
        self.end = ""
        self.t0 = time.monotonic()
        self.t_first = None


def mode_stream(a):
    sel = selectors.DefaultSelector()
    conns = []
    for k in range(1, a.conns + 1):
        c = Conn(k, connect_nb(a.port))
        conns.append(c)
        sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    alive = len(conns)
    ready_done = False
    gate_open = not a.gate
    deadline = time.monotonic() + a.timeout
    while alive and time.monotonic() < deadline:
        if not gate_open and os.path.exists(a.gate):
            gate_open = True
            for c in conns:
                if c.end == "" and c.sock.fileno() >= 0:
                    try:
                        sel.modify(c.sock, selectors.EVENT_READ |
                                   selectors.EVENT_WRITE, c)
                    except (KeyError, ValueError):
                        pass
        for key, ev in sel.select(timeout=0.2):
            c = key.data
            if ev & selectors.EVENT_READ:
                try:
                    d = c.sock.recv(65536)
                except (ConnectionResetError, OSError) as e:
                    d = None
                    c.end = "reset"
                if d:
                    c.inbuf = (c.inbuf + d)[-4096:]
                    n = last_ok(c.inbuf)
                    if n is not None:
                        c.ack = n
                    continue
                if d is not None:
                    c.end = "eof"
                sel.unregister(c.sock)
                c.sock.close()
                alive -= 1
                continue
            if ev & selectors.EVENT_WRITE:
                if not gate_open and c.seq >= 1 and not c.out:
                    # Before the gate: one line each, then wait.
                    sel.modify(c.sock, selectors.EVENT_READ, c)
                    continue
                if len(c.out) < 8192:
                    burst = a.burst if gate_open else 1
                    chunk = b"".join(line("c", c.k, c.seq + i + 1, a.width)
                                     for i in range(burst))
                    c.seq += burst
                    c.out += chunk
                    for i in range(burst):
                        c.gen_bytes += a.width + 1
                        c.pending_nl.append(c.gen_bytes)
                try:
                    n = c.sock.send(c.out)
                except BlockingIOError:
                    n = 0
                except OSError:
                    # The daemon stopped taking input: only read from now on.
                    sel.modify(c.sock, selectors.EVENT_READ, c)
                    continue
                c.out = c.out[n:]
                c.sent_bytes += n
                while c.pending_nl and c.pending_nl[0] <= c.sent_bytes:
                    c.pending_nl.pop(0)
                    c.sent_lines += 1
        if not ready_done and all(c.ack >= 1 for c in conns):
            open(a.ready, "w").close()
            ready_done = True
    with open(a.out, "w") as f:
        for c in conns:
            f.write("%d %d %d %s\n" % (c.k, c.ack, c.sent_lines,
                                       c.end or "timeout"))


def mode_slowloris(a):
    sel = selectors.DefaultSelector()
    conns = []
    for k in range(1, a.conns + 1):
        c = Conn(k, connect_nb(a.port))
        c.cur = b""
        c.lines = 0
        c.open = True
        conns.append(c)
        sel.register(c.sock, selectors.EVENT_READ, c)

    def pump(timeout):
        for key, _ in sel.select(timeout=timeout):
            c = key.data
            try:
                d = c.sock.recv(4096)
            except OSError:
                d = b""
            if d:
                c.inbuf = (c.inbuf + d)[-4096:]
                n = last_ok(c.inbuf)
                if n is not None:
                    c.ack = n
            else:
                c.open = False
                sel.unregister(c.sock)

    rounds = 0
    deadline = time.monotonic() + a.timeout
    while not os.path.exists(a.stop) and time.monotonic() < deadline:
        t = time.monotonic()
        for c in conns:
            if not c.open:
                continue
            if not c.cur:
                c.cur = ("s%d-%d\n" % (c.k, c.lines + 1)).encode()
            try:
                c.sock.send(c.cur[:1])
            except OSError:
                c.open = False
                continue
            if c.cur[:1] == b"\n":
                c.lines += 1
            c.cur = c.cur[1:]
        rounds += 1
        if rounds == 2:
            open(a.ready, "w").close()
        if a.progress:
            with open(a.progress + ".tmp", "w") as f:
                f.write("%d\n" % rounds)
            os.replace(a.progress + ".tmp", a.progress)
        while True:
            left = a.interval - (time.monotonic() - t)
            if left <= 0:
                break
            pump(left)
    held = sum(1 for c in conns if c.open)
    # Finish the current line, half-close, read the final ack.
    for c in conns:
        if c.open:
            try:
                c.sock.setblocking(True)
                c.sock.sendall(c.cur)
                if c.cur:
                    c.lines += 1
                c.sock.shutdown(socket.SHUT_WR)
                c.sock.setblocking(False)
            except OSError:
                c.open = False
    end = time.monotonic() + a.timeout
    while any(c.open for c in conns) and time.monotonic() < end:
        pump(0.5)
    with open(a.out, "w") as f:
        f.write("# rounds %d held %d\n" % (rounds, held))
        for c in conns:
            f.write("%d %d %d\n" % (c.k, c.lines, c.ack))


def mode_noread(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", a.port))
    sent = 0
    batch = 1000
    for i in range(1, a.lines + 1, batch):
        data = b"".join(line("c", 1, j, a.width)
                        for j in range(i, min(i + batch, a.lines + 1)))
        s.sendall(data)
        sent += len(data)
    s.shutdown(socket.SHUT_WR)
    open(a.ready, "w").close()
    while not os.path.exists(a.stop):
        time.sleep(0.1)
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf = (buf + d)[-4096:]
    with open(a.out, "w") as f:
        f.write("last_ack %d\nbytes_sent %d\n" % (last_ok(buf) or 0, sent))


def mode_hold(a):
    sel = selectors.DefaultSelector()
    conns = []
    for k in range(1, a.conns + 1):
        try:
            c = Conn(k, connect_nb(a.port))
        except OSError as e:
            c = Conn(k, None)
            c.end = "refused-connect"
            conns.append(c)
            continue
        conns.append(c)
        sel.register(c.sock, selectors.EVENT_READ, c)
    if a.data:
        data = open(a.data, "rb").read()
        for c in conns:
            if c.sock:
                try:
                    c.sock.setblocking(True)
                    c.sock.sendall(data)
                    c.sock.setblocking(False)
                except OSError:
                    pass
    open(a.ready, "w").close()
    deadline = time.monotonic() + a.timeout
    while not os.path.exists(a.stop) and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            c = key.data
            try:
                d = c.sock.recv(4096)
            except OSError:
                d = None
            if d:
                if c.t_first is None:
                    c.t_first = time.monotonic() - c.t0
                c.inbuf += d
                continue
            c.end = "eof" if d is not None else "reset"
            sel.unregister(c.sock)
            c.sock.close()
        if a.progress:
            with open(a.progress + ".tmp", "w") as f:
                f.write("%d\n" % sum(1 for c in conns if c.inbuf or c.end))
            os.replace(a.progress + ".tmp", a.progress)
    with open(a.out, "w") as f:
        for c in conns:
            first = c.inbuf.split(b"\n")[0].decode("ascii", "replace")
            f.write("%d %s %s %.3f\n" % (c.k, c.end or "open",
                                         first.replace(" ", "_") or "-",
                                         c.t_first if c.t_first else -1))
    for c in conns:
        if c.sock and not c.end:
            c.sock.close()


def mode_rst(a):
    s = socket.create_connection(("127.0.0.1", a.port))
    with open(a.data, "rb") as f:
        s.sendall(f.read())
    time.sleep(a.wait)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def reset_close(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def torn_kill_child(a, k):
    s = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
    s.sendall(b"%s-%d-first\n" % (a.tag.encode(), k))
    # The ack is readable: closing now, with it unread, makes a reset.
    r, _, _ = select.select([s], [], [], a.timeout)
    if not r:
        os._exit(3)
    s.sendall(b"%s-%d-complete\n%s-%d-partial" % (a.tag.encode(), k,
                                                   a.tag.encode(), k))
    os.kill(os.getpid(), signal.SIGKILL)


def mode_torn(a):
    tag = a.tag.encode()
    for k in range(1, a.conns + 1):
        if a.timing == "kill":
            pid = os.fork()
            if pid == 0:
                try:
                    torn_kill_child(a, k)
                finally:
                    os._exit(4)
            _, status = os.waitpid(pid, 0)
            if not (os.WIFSIGNALED(status) and
                    os.WTERMSIG(status) == signal.SIGKILL):
                sys.exit("torn %s %d: the client ended with status %#x, "
                         "not SIGKILL" % (a.tag, k, status))
            continue
        s = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
        s.sendall(b"%s-%d-complete\n%s-%d-partial" % (tag, k, tag, k))
        if a.timing == "acked":
            buf = b""
            while b"OK 1\n" not in buf:
                d = s.recv(4096)
                if not d:
                    sys.exit("torn %s %d: end of input before OK 1 (got %r)"
                             % (a.tag, k, buf))
                buf += d
        reset_close(s)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["stream", "slowloris", "noread", "hold",
                                    "rst", "torn"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--width", type=int, default=40)
    p.add_argument("--burst", type=int, default=20)
    p.add_argument("--lines", type=int, default=1000)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--wait", type=float, default=0.5)
    p.add_argument("--out", default="/dev/null")
    p.add_argument("--ready", default="/dev/null")
    p.add_argument("--stop", default="")
    p.add_argument("--gate", default="")
    p.add_argument("--progress", default="")
    p.add_argument("--data", default="")
    p.add_argument("--tag", default="t")
    p.add_argument("--timing", choices=["rst", "kill", "acked"], default="rst")
    a = p.parse_args()
    raise_nofile()
    globals()["mode_" + a.mode](a)


if __name__ == "__main__":
    main()
