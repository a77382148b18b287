#!/usr/bin/env python3
"""http_probe.py PORT SLOW -- exercise burstqd's --metrics HTTP server at
127.0.0.1:PORT with raw sockets: keep-alive, Connection: close, HTTP/1.0,
pipelining, a request trickled byte by byte, the connection limit, the
request timeout, and the size limits.  Prints "ok: ..." or "FAIL: ..." per
check and exits 1 if any failed.  SLOW multiplies the waiting bounds
(sanitizer builds); no check is about speed."""
import socket
import sys
import time

PORT = int(sys.argv[1])
SLOW = int(sys.argv[2]) if len(sys.argv) > 2 else 1
MAX_CONNS = 64          # BQ_HTTP_MAX_CONNS
TIMEOUT_S = 10          # BQ_HTTP_TIMEOUT_MS
fails = 0


def check(ok, what):
    global fails
    if ok:
        print("ok: " + what)
    else:
        fails += 1
        print("FAIL: " + what)


def conn():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=30 * SLOW)
    return s


def read_response(s, buf=b""):
    """One response (headers + Content-Length body) from s; returns
    (status, headers dict, body, leftover) or None at EOF."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            return None
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for l in lines[1:]:
        k, v = l.split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            break
        rest += d
    return status, hdrs, rest[:n], rest[n:]


def at_eof(s, limit):
    s.settimeout(limit)
    try:
        return s.recv(1) == b""
    except (socket.timeout, ConnectionResetError):
        return False


def get(path, extra=""):
    return ("GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (path, extra)).encode()


# a. keep-alive: three requests on one connection
s = conn()
ok = True
for i in range(3):
    s.sendall(get("/healthz"))
    r = read_response(s)
    ok = ok and r is not None and r[0] == 200 and r[2] == b"ok\n" and \
        r[1].get("connection") == "keep-alive"
check(ok, "three requests on one keep-alive connection")
import email.utils
check(r is not None and email.utils.parsedate_to_datetime(r[1]["date"]) is not None
      and r[1]["date"].endswith(" GMT"), "a Date header in IMF-fixdate")
# b. Connection: close ends it
s.sendall(get("/readyz", "Connection: close\r\n"))
r = read_response(s)
check(r is not None and r[0] == 200 and r[1].get("connection") == "close",
      "Connection: close is answered with Connection: close")
check(at_eof(s, 10 * SLOW), "and the server closes after it")
s.close()

# c. HTTP/1.0: closes by default, keeps alive when asked
s = conn()
s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
r = read_response(s)
check(r is not None and r[0] == 200 and at_eof(s, 10 * SLOW),
      "HTTP/1.0 without keep-alive: answered, then closed")
s.close()
s = conn()
s.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
r = read_response(s)
s.sendall(b"GET /readyz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
r2 = read_response(s)
check(r is not None and r2 is not None and r2[2] == b"ready\n",
      "HTTP/1.0 with Connection: keep-alive stays open")
s.close()

# d. pipelining: ten requests in one write, answered in order
s = conn()
paths = ["/healthz", "/readyz"] * 5
s.sendall(b"".join(get(p) for p in paths))
buf = b""
bodies = []
for p in paths:
    r = read_response(s, buf)
    if r is None:
        break
    bodies.append(r[2])
    buf = r[3]
check(bodies == [b"ok\n", b"ready\n"] * 5, "ten pipelined requests in order")
s.close()

# e. a request trickled one byte at a time
s = conn()
for b in get("/readyz"):
    s.sendall(bytes([b]))
    time.sleep(0.002)
r = read_response(s)
check(r is not None and r[0] == 200 and r[2] == b"ready\n",
      "a request sent byte by byte")
s.close()

# f. HEAD: same headers, no body
s = conn()
s.sendall(get("/metrics"))
g = read_response(s)
s.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
s.settimeout(10 * SLOW)
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(65536)
head, rest = buf.split(b"\r\n\r\n", 1)
check(g is not None and g[0] == 200 and rest == b"" and
      b"Content-Length: " in head, "HEAD has headers and no body")
s.sendall(get("/healthz"))
r = read_response(s)
check(r is not None and r[2] == b"ok\n", "and the connection goes on after it")
s.close()

# g. size limits
s = conn()
s.sendall(("GET /" + "a" * 3000 + " HTTP/1.1\r\nHost: t\r\n\r\n").encode())
r = read_response(s)
check(r is not None and r[0] == 414 and at_eof(s, 10 * SLOW),
      "a 3000-byte URL gets 414 and a close")
s.close()
s = conn()
s.sendall(b"POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"
          + b"x" * 20000)
r = read_response(s)
check(r is not None and r[0] == 413, "a 100 KB body gets 413")
s.close()
s = conn()
s.sendall(b"GET /metrics HTTP/1.1\r\n" + b"X-A: b\r\n" * 2000 + b"\r\n")
r = read_response(s)
check(r is not None and r[0] == 431, "2000 header lines get 431")
s.close()
s = conn()
s.sendall(b"DELETE /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
r = read_response(s)
check(r is not None and r[0] == 405 and r[1].get("allow") == "GET, HEAD",
      "DELETE gets 405 with Allow")
s.sendall(get("/healthz"))
r = read_response(s)
check(r is not None and r[0] == 200, "and the connection goes on after a 405")
s.close()

# h. the connection limit: MAX_CONNS idle connections are served, one more
# gets 503 and is closed; once one goes, a new one is served again.
held = []
for i in range(MAX_CONNS):
    held.append(conn())
# Make sure the server has accepted all of them: each answers a request.
ok = True
for h in held:
    h.sendall(get("/readyz"))
    r = read_response(h)
    ok = ok and r is not None and r[0] == 200
check(ok, "%d connections open at once" % MAX_CONNS)
extra = conn()
r = read_response(extra)
check(r is not None and r[0] == 503 and b"too many" in r[2],
      "connection %d gets 503" % (MAX_CONNS + 1))
extra.close()
held.pop().close()
deadline = time.time() + 30 * SLOW
served = False
while time.time() < deadline and not served:
    s = conn()
    s.sendall(get("/healthz"))
    r = read_response(s)
    served = r is not None and r[0] == 200
    s.close()
    if not served:
        time.sleep(0.1)
check(served, "after one closes, a new connection is served")
for h in held:
    h.close()

# h2. junk: random bytes, and mutations of a valid request, each on its own
# connection, get an error status or a close -- never a hang or a crash --
# and the server answers normally afterwards.
import random
rng = random.Random(5)
base = get("/metrics")
answered = 0
for i in range(200):
    if i % 2:
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    else:
        b = bytearray(base)
        for _ in range(rng.randrange(1, 6)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        junk = bytes(b)
    s = conn()
    s.settimeout(TIMEOUT_S * SLOW + 30)
    try:
        s.sendall(junk)
        s.shutdown(socket.SHUT_WR)
        r = read_response(s)
        if r is None or r[0] in (200, 400, 404, 405, 413, 414, 431):
            answered += 1
    except (ConnectionResetError, BrokenPipeError):
        answered += 1
    s.close()
check(answered == 200, "200 junk requests: each answered or closed (%d)" % answered)
s = conn()
s.sendall(get("/healthz"))
r = read_response(s)
check(r is not None and r[0] == 200, "and the server still answers")
s.close()

# i. timeouts: a half-sent request gets 408 and a close; an idle
# connection is closed without a word.  (Upper bounds only.)
part = conn()
part.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\n")
idle = conn()
part.settimeout(TIMEOUT_S * SLOW + 30)
r = read_response(part)
check(r is not None and r[0] == 408, "a half-sent request gets 408")
check(at_eof(part, 10 * SLOW), "and a close")
check(at_eof(idle, TIMEOUT_S * SLOW + 30), "an idle connection is closed")
sys.exit(1 if fails else 0)
