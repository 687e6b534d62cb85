"""Memory pushed by unauthenticated bodies, and oversized requests: the token, access-token and
OTP request endpoints take at most 64 KiB, refused before any other check; a declared
Content-Length over a route's limit is answered 413 at once, without waiting for the body; a
stalled body is cut off at the 30 s request timeout; a request target over 16 KiB answers 414
and a header block over the limit 431, both in the errors envelope. The stalled bodies and the
other checks run at the same time (about 32 s). Peak memory under 500 stalled bodies is a
figure, so it lives in bench/stalled_bodies.py."""

import json
import time

import hostile
import raw
from hostile import Server, check

KIB = 1024
REQUEST_TIMEOUT = 30
MARGIN = 5
STALLED = 20
SOURCES = ["127.0.0.8", "127.0.0.30", "127.0.0.50", "127.0.0.70"]


def envelope(status, detail):
    return lambda body: json.loads(body or b"null") == {
        "errors": [{"status": str(status), "title": TITLES[status], "detail": detail}]
    }


TITLES = {
    408: "Request Timeout",
    413: "Payload Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
}


def stalled_body(base, source):
    """All but the last byte of a 64 KiB body, then silence: seconds until answered and closed."""
    sock = raw.connect(base, source, timeout=REQUEST_TIMEOUT + 30)
    length = 64 * KIB
    sock.sendall(
        f"POST /v2/account-members/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n".encode() + b"{" + b" " * (length - 2)
    )
    started = time.monotonic()
    reply = raw.read_reply(sock, REQUEST_TIMEOUT + 30)
    closed = raw.wait_closed(sock, 10)
    sock.close()
    return reply, time.monotonic() - started, closed is not None


def declared_only(base, source, path, length):
    """A head declaring `length` bytes and no body: the answer, and how long it took."""
    sock = raw.connect(base, source, timeout=10)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n".encode()
    )
    started = time.monotonic()
    reply = raw.read_reply(sock, 10)
    sock.close()
    return reply, time.monotonic() - started


def quick_checks(server):
    otp = (
        f"/v2/authentication-realms/{server.realm}/password-profiles/{server.profile}"
        "/one-time-password-token-request"
    )
    results = {}
    for index, (path, length) in enumerate(
        [
            ("/oauth/access_token", 1024 * KIB),
            ("/v2/account-members/tokens", 64 * KIB + 1),
            (otp, 64 * KIB + 1),
            ("/v2/accounts", 2 * 1024 * KIB),
        ]
    ):
        results[f"declared {length // KIB} KiB on {path.split('/')[-1] or path}"] = declared_only(
            server.base, SOURCES[index % len(SOURCES)], path, length
        )
    body = b'{"data":{"pad":"' + b"a" * (64 * KIB) + b'"}}'
    answer = hostile.request(
        server.base, "POST", "/v2/account-members/tokens", body, {"Content-Type": "application/json"},
        source="127.0.0.90",
    )
    results["64 KiB + 20 bytes, no credentials"] = answer
    results["target"] = hostile.request(
        server.base, "GET", "/v2/accounts?filter=" + "a" * (20 * KIB), source="127.0.0.91"
    )
    results["headers"] = hostile.request(
        server.base, "GET", "/healthz", headers={"X-Padding": "p" * (40 * KIB)}, source="127.0.0.92"
    )
    return results


with Server() as server:
    jobs = [lambda index=index: stalled_body(server.base, SOURCES[index % len(SOURCES)]) for index in range(STALLED)]
    jobs.append(lambda: quick_checks(server))
    results = raw.in_parallel(jobs)
    stalled, quick = results[:STALLED], results[STALLED]

    for name in [key for key in quick if key.startswith("declared")]:
        reply, seconds = quick[name]
        check(
            f"{name} (the body never comes)",
            reply is not None and reply[0] == 413 and envelope(413, "request body too large")(reply[1])
            and seconds < 2,
            "413 request body too large in the envelope within 2 s (not a 408 after 30 s)",
            f"{reply and reply[0]} after {seconds:.2f} s",
        )
    answer = quick["64 KiB + 20 bytes, no credentials"]
    check(
        "a body over 64 KiB on the token endpoint, without credentials",
        answer.status == 413 and envelope(413, "request body too large")(answer.body),
        "413 before the bearer token is checked",
        f"{answer.status} {answer.body[:120]!r}",
    )
    answer = quick["target"]
    check(
        "a 20 KiB request target",
        answer.status == 414 and envelope(414, "request line too long")(answer.body),
        "414 request line too long in the envelope",
        f"{answer.status} {answer.body[:120]!r}",
    )
    answer = quick["headers"]
    check(
        "a 40 KiB header block",
        answer.status == 431 and envelope(431, "request headers too large")(answer.body),
        "431 request headers too large in the envelope",
        f"{answer.status} {answer.body[:120]!r}",
    )
    answered = [seconds for reply, seconds, closed in stalled if reply and reply[0] == 408 and closed]
    slowest = f"{max(answered):.1f} s" if answered else "—"
    check(
        f"{STALLED} stalled 64 KiB bodies on the token endpoint",
        len(answered) == STALLED and max(answered) <= REQUEST_TIMEOUT + MARGIN,
        f"each answered 408 and closed within {REQUEST_TIMEOUT} s (+{MARGIN} s margin)",
        f"{len(answered)} cut off, slowest after {slowest}; others: "
        f"{[reply and reply[0] for reply, _, closed in stalled if not (reply and reply[0] == 408 and closed)]}",
    )

hostile.finish()
