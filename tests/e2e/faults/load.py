"""Constant load for fault tests: token-checked reads and password logins from a few threads on
kept-alive connections, every answer recorded with its time, status, Retry-After and latency,
so a check can ask what happened in any window."""

import http.client
import json
import threading
import time
import urllib.parse


class Outcome:
    __slots__ = ("kind", "started", "finished", "status", "retry_after", "error")

    def __init__(self, kind, started, finished, status, retry_after, error=None):
        self.kind = kind
        self.started = started
        self.finished = finished
        self.status = status
        self.retry_after = retry_after
        self.error = error

    @property
    def latency(self):
        return self.finished - self.started


class Load:
    """`readers` threads read the account with the account token, `loggers` threads log in
    (each as its own member, so the throttle never refuses them for being many at once)."""

    def __init__(self, base, read_path, read_headers, logins=(), readers=6, pause=0.0, timeout=30):
        self.base = urllib.parse.urlsplit(base)
        self.read_path = read_path
        self.read_headers = read_headers
        self.logins = list(logins)
        self.readers = readers
        self.pause = pause
        self.timeout = timeout
        self.outcomes = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []

    def _connection(self):
        return http.client.HTTPConnection(self.base.hostname, self.base.port, timeout=self.timeout)

    def _loop(self, kind, method, path, body, headers):
        connection = self._connection()
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                connection.request(method, path, body=body, headers=headers)
                answer = connection.getresponse()
                answer.read()
                outcome = Outcome(kind, started, time.monotonic(), answer.status,
                                  answer.getheader("retry-after"))
                if (answer.getheader("connection") or "").lower() == "close":
                    connection.close()
                    connection = self._connection()
            except (OSError, http.client.HTTPException) as error:
                outcome = Outcome(kind, started, time.monotonic(), None, None, repr(error))
                connection.close()
                connection = self._connection()
            with self.lock:
                self.outcomes.append(outcome)
            if self.pause:
                time.sleep(self.pause)
        connection.close()

    def start(self):
        for _ in range(self.readers):
            thread = threading.Thread(
                target=self._loop,
                args=("read", "GET", self.read_path, None, self.read_headers),
                daemon=True,
            )
            self.threads.append(thread)
        for path, body, headers in self.logins:
            thread = threading.Thread(
                target=self._loop,
                args=("login", "POST", path, json.dumps(body), headers),
                daemon=True,
            )
            self.threads.append(thread)
        for thread in self.threads:
            thread.start()
        return self

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=self.timeout + 5)

    def snapshot(self):
        with self.lock:
            return list(self.outcomes)


def summary(outcomes):
    counts = {}
    for outcome in outcomes:
        key = outcome.status if outcome.status is not None else "connection error"
        counts[key] = counts.get(key, 0) + 1
    return counts
