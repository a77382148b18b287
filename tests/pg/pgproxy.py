#!/usr/bin/env python3
"""pgproxy.py -- a TCP proxy between burstqd and PostgreSQL that cuts the
link at a COMMIT, for the commit-outcome-unknown test (test_commit_unknown.sh).

  pgproxy.py --listen-port-file F --upstream PORT --mode MODE --at K

Listens on 127.0.0.1 (a free port, written to F once listening) and relays
every connection to 127.0.0.1:PORT.  It parses what the client sends
(protocol 3: the untyped startup message, then typed messages; the client
must use sslmode=disable) and counts the simple-query messages that are
exactly "COMMIT".  At the K-th one (over all connections):
  --mode after   relay it to the server, then close both sides at once,
                 so that the client never sees the reply: the commit
                 happens, the client cannot know;
  --mode before  close both sides without relaying it: the transaction
                 rolls back, the client cannot know either.
Every other byte is relayed untouched.  It writes "cut N" to
F + ".cut" when it has cut.  Ends on SIGTERM.  Setup errors: exit 2.
"""
import argparse
import os
import socket
import struct
import sys
import threading

lock = threading.Lock()
commits = 0


class Link:
    """One relayed connection.  muted is set before the cut COMMIT is
    relayed: from then on nothing the server sends reaches the client, so
    its reply to that COMMIT can never slip through before the cut (the
    client sends COMMIT only after reading every earlier reply)."""

    def __init__(self):
        self.muted = threading.Event()


def pump_server(srv, cli, link):
    """Server to client, until the server closes.  After a cut the
    server's bytes are read and dropped (never a reset: the server must
    see a clean end of input after the COMMIT, and run it)."""
    to_client = True
    while True:
        try:
            b = srv.recv(65536)
        except OSError:
            break
        if not b:
            break
        if to_client and not link.muted.is_set():
            try:
                cli.sendall(b)
            except OSError:
                to_client = False
    cli.close()
    srv.close()


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        b = s.recv(n - len(out))
        if not b:
            return None
        out += b
    return out


def shut(s, how):
    try:
        s.shutdown(how)
    except OSError:
        pass


def cut(cli, srv, args):
    """The client loses its connection now; the server gets a clean end of
    input after what was relayed (pump_server drains and closes it)."""
    shut(cli, socket.SHUT_RDWR)
    shut(srv, socket.SHUT_WR)
    with open(args.listen_port_file + ".cut", "w") as f:
        f.write("cut %d\n" % args.at)


def relay_client(cli, srv, args, link):
    """Client to server, message by message; True once it has cut."""
    global commits
    # Untyped: the startup message (length includes itself).
    hdr = recv_exact(cli, 4)
    body = hdr and recv_exact(cli, struct.unpack("!I", hdr)[0] - 4)
    if body is None:
        return False
    srv.sendall(hdr + body)
    while True:
        hdr = recv_exact(cli, 5)
        body = hdr and recv_exact(cli, struct.unpack("!I", hdr[1:])[0] - 4)
        if body is None:
            return False
        hit = False
        if hdr[0:1] == b"Q" and body.rstrip(b"\0").strip() == b"COMMIT":
            with lock:
                commits += 1
                hit = commits == args.at
        if hit and args.mode == "before":
            cut(cli, srv, args)
            return True
        if hit:
            link.muted.set()
        srv.sendall(hdr + body)
        if hit:
            cut(cli, srv, args)
            return True


def pump_client(cli, srv, args, link):
    try:
        if relay_client(cli, srv, args, link):
            return
    except OSError:
        pass
    # The client went away: so does the server's side, cleanly.
    shut(srv, socket.SHUT_WR)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen-port-file", required=True)
    ap.add_argument("--upstream", type=int, required=True)
    ap.add_argument("--mode", choices=["after", "before"], required=True)
    ap.add_argument("--at", type=int, required=True)
    args = ap.parse_args()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        ls.bind(("127.0.0.1", 0))
        ls.listen(64)
    except OSError as e:
        print("pgproxy: %s" % e, file=sys.stderr)
        sys.exit(2)
    tmp = args.listen_port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(tmp, args.listen_port_file)
    while True:
        cli, _ = ls.accept()
        srv = socket.create_connection(("127.0.0.1", args.upstream))
        link = Link()
        threading.Thread(target=pump_client, args=(cli, srv, args, link),
                         daemon=True).start()
        threading.Thread(target=pump_server, args=(srv, cli, link),
                         daemon=True).start()


if __name__ == "__main__":
    main()
