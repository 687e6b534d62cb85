"""Closed-loop HTTP load from many loopback source addresses, for the loads oha cannot shape.

oha sends one body from one address, but a login is throttled per (profile, username, address)
pair and per address, with attempts in progress counting against both: one username at
concurrency 8 from one address would measure the throttle's 429s, not argon2id. Here each
client is a thread with its own keep-alive connection, its own source address (127.0.1.x by
default) and its own request (a username of its own), so every login passes the throttle and
queues for a hash. Each answer is timed, which also gives the status and `Retry-After` of every
refusal and when it happened (the soak's restart window needs that).

Python's client costs up to about 0.3 ms of CPU per request (a new connection each time, on the
benchmark's busy two-core machine): little beside an argon2id verification (about 20 ms), but
too much for reads at thousands per second, which oha keeps.
Standard library only.
"""

import http.client
import json
import math
import threading
import time


def client_source(index):
    """A source address of its own for client `index` (Linux routes all of 127/8 to loopback)."""
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


def percentile(sorted_values, fraction):
    if not sorted_values:
        return None
    rank = max(0, math.ceil(fraction * len(sorted_values)) - 1)
    return sorted_values[rank]


class Outcome:
    """Every answer of one load: (start offset s, latency ms, status, Retry-After or None).
    Status 0 is a failure to get any answer (connection refused or reset)."""

    def __init__(self):
        self.samples = []
        self.lock = threading.Lock()

    def add(self, sample):
        with self.lock:
            self.samples.append(sample)


def run(port, clients, seconds, request_for, qps=None, source_for=client_source, timeout=60,
        stop=None):
    """`clients` threads, each sending `request_for(index)` = (method, path, headers, body
    bytes or None) in a loop until `seconds` have passed (or `stop` is set); requests in flight
    at the deadline finish and count. With `qps`, the clients together offer at most that many
    requests per second. Returns the samples and the wall time."""
    outcome = Outcome()
    started = time.monotonic()
    deadline = started + seconds
    interval = clients / qps if qps else 0.0

    def client(index):
        method, path, headers, body = request_for(index)
        source = source_for(index)
        connection = None
        next_send = started + (interval * index / clients if interval else 0.0)
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            if interval:
                pause = next_send - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                next_send += interval
            if connection is None:
                connection = http.client.HTTPConnection(
                    "127.0.0.1", port, timeout=timeout, source_address=(source, 0))
            sent = time.monotonic()
            try:
                connection.request(method, path, body=body, headers=headers)
                answer = connection.getresponse()
                answer.read()
                status, retry_after = answer.status, answer.getheader("Retry-After")
                if answer.getheader("Connection", "").lower() == "close":
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException):
                status, retry_after = 0, None
                connection.close()
                connection = None
                time.sleep(0.05)  # A refused connection must not turn into a busy loop.
            done = time.monotonic()
            outcome.add((sent - started, (done - sent) * 1000, status, retry_after))
        if connection is not None:
            connection.close()

    threads = [threading.Thread(target=client, args=(index,), daemon=True) for index in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcome.samples, time.monotonic() - started


def summary(samples, wall_seconds, concurrency):
    """The figures bench.py reads from an oha run, from timed samples: 2xx per second, latency
    percentiles of every answer and of 2xx and other answers apart, the status mix."""
    statuses = {}
    for _, _, status, _ in samples:
        statuses[status] = statuses.get(status, 0) + 1
    every = sorted(sample[1] for sample in samples)
    good = sorted(sample[1] for sample in samples if 200 <= sample[2] < 300)
    other = sorted(sample[1] for sample in samples if not 200 <= sample[2] < 300)
    refused = [sample for sample in samples if sample[2] in (429, 503)]
    return {
        "concurrency": concurrency,
        "rps": len(good) / wall_seconds if wall_seconds else 0.0,
        "p50": percentile(every, 0.5),
        "p99": percentile(every, 0.99),
        "statuses": statuses,
        "failures": len(samples) - len(good),
        "errors": {"no answer": statuses[0]} if 0 in statuses else {},
        "seconds": wall_seconds,
        "ok_p50": percentile(good, 0.5),
        "ok_p99": percentile(good, 0.99),
        "other_p50": percentile(other, 0.5),
        "other_p99": percentile(other, 0.99),
        "refused": len(refused),
        "refused_with_retry_after": sum(1 for sample in refused if sample[3]),
    }


def login_request(bearer, profile_id, username, password):
    body = json.dumps({
        "data": {
            "type": "account_management_authentication_token",
            "authentication_mechanism": "password",
            "password_profile_id": profile_id,
            "username": username,
            "password": password,
        }
    }, separators=(",", ":")).encode()
    headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
    return ("POST", "/v2/account-members/tokens", headers, body)


def logins(port, bearer, profile_id, username_for, password, clients, seconds, qps=None,
           source_for=client_source):
    """Password logins from `clients` clients, client i as `username_for(i)` from its own
    address, so no throttle key sees more than one attempt in progress."""
    samples, wall = run(
        port, clients, seconds,
        lambda index: login_request(bearer, profile_id, username_for(index), password),
        qps=qps, source_for=source_for)
    return summary(samples, wall, clients)
