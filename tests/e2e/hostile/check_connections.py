"""Sockets held open: connections that never send a complete request head are closed at the
header deadline (10 s) whatever protocol they head for; a kept-alive connection may idle past
it; HTTP/2 connections get keep-alive pings; ACCOUNTD_MAX_CONNECTIONS caps open connections and
the server stays up. Every socket check runs at the same time, so the file takes about 25 s.
(The 75 s idle limit itself is too long for this suite; tests/api/connections.rs covers it with
shortened deadlines.)"""

import os
import time

import hostile
import raw
from hostile import Server, check

SOURCES = ["127.0.0.8", "127.0.0.20", "127.0.0.50", "127.0.0.77", "127.0.0.99"]
HEADER_DEADLINE = 10
MARGIN = 3
PATIENCE = HEADER_DEADLINE + 15
CAP = 20
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def held(base, source, payload):
    """A connection that sends `payload` (perhaps nothing) and then waits to be closed."""

    def job():
        sock = raw.connect(base, source)
        if payload:
            sock.sendall(payload)
        closed = raw.wait_closed(sock, PATIENCE)
        sock.close()
        return closed

    return job


def kept_alive(base):
    """Two requests on one connection, 15 s apart: past the header deadline, within the idle limit."""
    sock = raw.connect(base, "127.0.0.60")
    sock.sendall(HEALTHZ)
    first = raw.read_reply(sock, 5)
    time.sleep(HEADER_DEADLINE + 5)
    try:
        sock.sendall(HEALTHZ)
        second = raw.read_reply(sock, 5)
    except OSError:
        second = None
    sock.close()
    return first, second


def h2_pings(base):
    """An h2c request, then idling while answering pings: seconds until the first ping."""
    sock = raw.connect(base, "127.0.0.61", timeout=PATIENCE)
    sock.sendall(raw.h2_get("/healthz"))
    started = time.monotonic()
    try:
        while time.monotonic() - started < PATIENCE:
            frame = raw.read_frame(sock)
            if frame is None:
                return None
            kind, flags, _, payload = frame
            if kind == raw.SETTINGS and not flags & raw.ACK:
                sock.sendall(raw.frame(raw.SETTINGS, raw.ACK, 0))
            elif kind == raw.PING and not flags & raw.ACK:
                sock.sendall(raw.frame(raw.PING, raw.ACK, 0, payload))
                return time.monotonic() - started
        return None
    finally:
        sock.close()


def open_sockets(pid):
    """The server's open sockets: listeners and accepted connections."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


def capped_server(server):
    """30 silent connections against a cap of 20, then one real request behind them."""
    baseline = open_sockets(server.process.pid)
    silent = [raw.connect(server.base, SOURCES[index % len(SOURCES)]) for index in range(30)]
    time.sleep(1)
    sockets = open_sockets(server.process.pid) - baseline
    waiting = raw.connect(server.base, "127.0.0.62")
    waiting.sendall(HEALTHZ)
    early = raw.read_reply(waiting, 2)
    started = time.monotonic()
    served = raw.read_reply(waiting, PATIENCE)
    waited = time.monotonic() - started + 2
    for sock in silent + [waiting]:
        sock.close()
    alive = hostile.request(server.base, "GET", "/healthz", timeout=5).status == 200
    return sockets, early, served, waited, alive


with Server(seed=False) as server, Server({"ACCOUNTD_MAX_CONNECTIONS": str(CAP)}, seed=False) as capped:
    jobs = []
    jobs += [held(server.base, SOURCES[index % len(SOURCES)], b"") for index in range(50)]
    jobs += [held(server.base, SOURCES[index], raw.H2_PREFACE[:12]) for index in range(5)]
    jobs += [held(server.base, SOURCES[index], raw.H2_PREFACE + raw.frame(raw.SETTINGS, 0, 0)) for index in range(5)]
    jobs += [lambda: kept_alive(server.base), lambda: h2_pings(server.base), lambda: capped_server(capped)]
    results = raw.in_parallel(jobs)
    silent, half_h2, full_h2 = results[:50], results[50:55], results[55:60]
    (first, second), first_ping, (sockets, early, served, waited, alive) = results[60:]

    for name, closed in [
        ("50 connections that send nothing", silent),
        ("5 connections that send half an HTTP/2 preface", half_h2),
        ("5 connections that send the h2c preface and go silent", full_h2),
    ]:
        open_ones = sum(1 for seconds in closed if seconds is None)
        times = [seconds for seconds in closed if seconds is not None]
        slowest = f"{max(times):.1f} s" if times else "—"
        check(
            name,
            open_ones == 0 and max(times) <= HEADER_DEADLINE + MARGIN,
            f"all closed within {HEADER_DEADLINE} s (+{MARGIN} s margin)",
            f"{len(times)} closed, slowest after {slowest}; {open_ones} still open after {PATIENCE} s",
        )
    check(
        "a kept-alive connection idles past the header deadline",
        bool(first and first[0] == 200 and second and second[0] == 200),
        f"a second request {HEADER_DEADLINE + 5} s after the first is answered on the same connection",
        f"first {first and first[0]}, second {second and second[0]}",
    )
    check(
        "HTTP/2 connections get keep-alive pings",
        first_ping is not None,
        f"a PING within {PATIENCE} s of idling (interval 20 s)",
        "no PING" if first_ping is None else f"first PING after {first_ping:.1f} s",
    )
    check(
        f"ACCOUNTD_MAX_CONNECTIONS={CAP} with 30 silent connections",
        sockets <= CAP,
        f"at most {CAP} accepted connections",
        f"{sockets} more open sockets in the server than before them",
    )
    check(
        "a connection beyond the cap waits in the backlog, then is served",
        early is None and served is not None and served[0] == 200 and alive,
        "no answer while the cap is full; 200 once the silent ones are closed; the server stays up",
        f"answer within 2 s: {early and early[0]}; then {served and served[0]} after {waited:.1f} s; "
        f"/healthz afterwards {'200' if alive else 'failed'}",
    )

hostile.finish()
