"""A private PostgreSQL cluster for fault tests: initdb into a temporary folder, a spare port on
loopback, started, restarted, stalled (SIGSTOP) and resumed at will, and removed at the end, so
the machine's own server is never disturbed. Runs the server as the `postgres` user when
started as root (PostgreSQL refuses to run as root)."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def _bin(name):
    found = shutil.which(name)
    if found:
        return found
    for root in sorted(os.listdir("/usr/lib/postgresql"), reverse=True):
        candidate = os.path.join("/usr/lib/postgresql", root, "bin", name)
        if os.path.exists(candidate):
            return candidate
    raise RuntimeError(f"{name} not found")


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="accountd-faults-pg-")
        self.data = os.path.join(self.folder, "data")
        self.port = _free_port()
        self.user = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(self.folder, self.user.pw_uid, self.user.pw_gid)
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/accountd"

    def _run(self, argv, check=True, timeout=120):
        if self.user is not None:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(
            argv, check=check, timeout=timeout, capture_output=True, text=True
        )

    def __enter__(self):
        self._run([_bin("initdb"), "-D", self.data, "-U", "postgres", "-A", "trust", "-N"])
        self.start()
        self._run([_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "accountd"])
        return self

    def __exit__(self, *exc):
        self.resume()
        self._run([_bin("pg_ctl"), "-D", self.data, "-m", "immediate", "stop"], check=False)
        shutil.rmtree(self.folder, ignore_errors=True)
        return False

    def _options(self):
        return (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
            "-c fsync=off -c max_connections=200"
        )

    def start(self):
        self._run(
            [_bin("pg_ctl"), "-D", self.data, "-o", self._options(), "-l",
             os.path.join(self.folder, "server.log"), "-w", "start"]
        )

    def restart(self):
        """A fast restart: sessions are ended, the server comes back on the same port."""
        self._run(
            [_bin("pg_ctl"), "-D", self.data, "-o", self._options(), "-l",
             os.path.join(self.folder, "server.log"), "-m", "fast", "-w", "restart"]
        )

    def accepting(self):
        return self._run(
            [_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-t", "1"],
            check=False, timeout=10,
        ).returncode == 0

    def _pids(self):
        with open(os.path.join(self.data, "postmaster.pid")) as pid_file:
            postmaster = int(pid_file.readline())
        children = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(postmaster)], capture_output=True, text=True
        ).stdout.split()
        return [postmaster, *map(int, children)]

    def stall(self):
        """Every server process stopped: connections stay open and nothing answers."""
        self._stalled = self._pids()
        for pid in self._stalled:
            os.kill(pid, signal.SIGSTOP)

    def resume(self):
        for pid in getattr(self, "_stalled", []):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self._stalled = []

    def psql(self, sql, database="accountd"):
        return self._run(
            [_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", database, "-Atqc", sql]
        ).stdout.strip()

    def tool(self, name, *args):
        return self._run([_bin(name), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", *args])


def wait_until(predicate, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False
