#!/usr/bin/env python3
"""notify_listen.py SOCKET OUT -- stand in for systemd's notification socket.

Binds a unix datagram socket at SOCKET and appends each datagram to OUT as
one line (its own newlines shown as '|'), until killed or idle for 10 min.
Writes OUT.ready once the socket is bound."""
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(600)
open(out + ".ready", "w").close()
with open(out, "a") as f:
    while True:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        f.write(d.decode("utf-8", "replace").replace("\n", "|") + "\n")
        f.flush()
