#!/usr/bin/env python3
"""Stalled bodies on the token endpoint: how much memory can unauthenticated clients pin?

Starts an accountd process of its own (SQLite in a temporary folder, so the main benchmark's
whole-run memory figure keeps its meaning), then opens CONNECTIONS connections to
POST /v2/account-members/tokens from several 127.0.0.x source addresses. Each declares the
largest body the route accepts (probed: 64 KiB when a declared 1 MiB is refused at once, else
1 MiB), sends all of it but the last byte, and stalls. No credentials are sent: the server has
to hold the body before it can check any. The script records the server's peak resident
memory (VmHWM) against the bound, then waits for the server to cut the bodies off (408 and a
closed connection) and reports how long that took. Loopback only; about 40 s; standard library
only.

    bench/stalled_bodies.py --binary target/production/accountd [--connections 500]
        [--bound-mib 128] [--body-bytes N] [--json FILE] [--report FILE]

Exit status: 0 when the bounds hold, 1 when one fails, 2 on a set-up error.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

PATH = "/v2/account-members/tokens"
KIB = 1024
MIB = 1024 * KIB
SOURCES = [f"127.0.0.{host}" for host in range(2, 12)]
# The server's request timeout is 30 s; a body is "cut off" when its connection is answered and
# closed. The margin covers the 500 connections' own start, spread over a few seconds.
CUT_OFF_WITHIN = 40


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def head(port, length):
    return (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def healthz(port, source="127.0.0.1"):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as s:
            s.sendall(f"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            return s.recv(64).split(b" ")[1] == b"200"
    except (OSError, IndexError):
        return False


def accepted_body_bytes(port):
    """The largest body the route takes: a declared 1 MiB answered 413 at once means 64 KiB."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as probe:
        probe.sendall(head(port, MIB))
        try:
            answer = probe.recv(64)
        except socket.timeout:
            return MIB
    return 64 * KIB if b" 413 " in answer else MIB


class Stalled:
    """One connection that sends all of its body but the last byte, then waits."""

    def __init__(self, port, source, length):
        self.port, self.source, self.length = port, source, length
        self.sent = False
        self.answer = None
        self.closed_after = None
        self.error = None

    def run(self, started):
        try:
            with socket.create_connection(
                ("127.0.0.1", self.port), timeout=120, source_address=(self.source, 0)
            ) as connection:
                connection.sendall(head(self.port, self.length) + b"{" + b" " * (self.length - 2))
                self.sent = True
                received = b""
                while True:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    received += chunk
                self.closed_after = time.monotonic() - started
                self.answer = received.split(b"\r\n", 1)[0].decode(errors="replace")
        except OSError as error:
            self.error = str(error)
            self.closed_after = time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--bound-mib", type=float, default=128.0)
    parser.add_argument("--body-bytes", type=int, help="the declared body size (default: the route's limit, probed)")
    parser.add_argument("--json")
    parser.add_argument("--report", help="a Markdown file to append the result to")
    args = parser.parse_args()
    # The server runs in a folder of its own, where a relative path would not resolve.
    args.binary = os.path.abspath(args.binary)
    if not os.access(args.binary, os.X_OK):
        print(f"stalled_bodies: {args.binary} is not an executable", file=sys.stderr)
        return 2

    work = tempfile.mkdtemp(prefix="accountd-stalled-")
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": f"sqlite://{work}/accountd.db?mode=rwc",
        "ACCOUNTD_LISTEN": f"127.0.0.1:{port}",
        "ACCOUNTD_MANAGEMENT_LISTEN": "off",
        "ACCOUNTD_CLIENT_ID": "stalled-bodies",
        "ACCOUNTD_CLIENT_SECRET": "stalled-bodies-secret-not-for-production",
        "RUST_LOG": "warn",
    }
    log = open(os.path.join(work, "accountd.log"), "wb")
    server = subprocess.Popen([args.binary, "serve"], env=env, cwd=work, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while not healthz(port):
            if server.poll() is not None or time.monotonic() > deadline:
                print("stalled_bodies: accountd did not start; see its log:", file=sys.stderr)
                log.flush()
                print(open(os.path.join(work, "accountd.log")).read()[-2000:], file=sys.stderr)
                return 2
            time.sleep(0.1)
        length = args.body_bytes or accepted_body_bytes(port)
        idle_kib = status_kib(server.pid, "VmRSS")
        print(f"==> {args.connections} stalled bodies of {length // KIB} KiB on POST {PATH} "
              f"(from {len(SOURCES)} addresses, no credentials); idle RSS {idle_kib / KIB:.1f} MiB",
              flush=True)

        peak = {"kib": idle_kib}
        sampling = True

        def sample():
            while sampling:
                peak["kib"] = max(peak["kib"], status_kib(server.pid, "VmRSS"))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        clients = [Stalled(port, SOURCES[index % len(SOURCES)], length) for index in range(args.connections)]
        threads = [threading.Thread(target=client.run, args=(started,), daemon=True) for client in clients]
        for thread in threads:
            thread.start()
        while time.monotonic() - started < 20 and sum(client.sent for client in clients) < len(clients):
            time.sleep(0.1)
        all_sent = time.monotonic() - started
        sent = sum(client.sent for client in clients)
        time.sleep(2)  # Everything the server will hold is held now.
        alive = healthz(port, source="127.0.0.200")
        held_kib = status_kib(server.pid, "VmRSS")
        print(f"    {sent} bodies sent in {all_sent:.1f} s; RSS while they stall {held_kib / KIB:.1f} MiB; "
              f"/healthz meanwhile: {'200' if alive else 'no answer'}", flush=True)
        for thread in threads:
            thread.join(timeout=max(0.0, CUT_OFF_WITHIN - (time.monotonic() - started)))
        sampling = False
        sampler.join()
        hwm_kib = status_kib(server.pid, "VmHWM")
        peak_kib = max(peak["kib"], hwm_kib)
        cut = [client for client in clients if client.closed_after is not None]
        answers = {}
        for client in cut:
            key = client.answer or f"closed without an answer ({client.error or 'end of file'})"
            answers[key] = answers.get(key, 0) + 1
        slowest = max((client.closed_after for client in cut), default=None)
        results = {
            "connections": args.connections,
            "body_bytes": length,
            "sent": sent,
            "idle_rss_mib": idle_kib / KIB,
            "stalled_rss_mib": held_kib / KIB,
            "peak_rss_mib": peak_kib / KIB,
            "bound_mib": args.bound_mib,
            "healthz_during": alive,
            "cut_off": len(cut),
            "cut_off_slowest_s": slowest,
            "answers": answers,
        }
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)

    memory_ok = results["peak_rss_mib"] < args.bound_mib
    cut_ok = results["cut_off"] == args.connections
    print(f"    peak RSS (VmHWM) {results['peak_rss_mib']:.1f} MiB, bound < {args.bound_mib:.0f} MiB: "
          f"{'PASS' if memory_ok else 'FAIL'}")
    slowest = "—" if slowest is None else f"{slowest:.1f} s"
    print(f"    cut off: {results['cut_off']} of {args.connections} within {CUT_OFF_WITHIN} s "
          f"(slowest {slowest}), answers {answers}: {'PASS' if cut_ok else 'FAIL'}")
    print(f"    /healthz during the attack: {'PASS' if alive else 'FAIL'}", flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    if args.report:
        with open(args.report, "a") as out:
            out.write(
                "\n## Stalled bodies (bench/stalled_bodies.py, an accountd process of its own)\n\n"
                f"{args.connections} connections from {len(SOURCES)} addresses each sent all but the last "
                f"byte of a {length // KIB} KiB body (the route's limit) to `POST {PATH}` without "
                "credentials, then stalled.\n\n"
                "| Figure | Measured | Bound | Result |\n| --- | --- | --- | --- |\n"
                f"| peak resident memory (VmHWM) | {results['peak_rss_mib']:.1f} MiB "
                f"(idle {results['idle_rss_mib']:.1f}) | < {args.bound_mib:.0f} MiB | "
                f"{'PASS' if memory_ok else 'FAIL'} |\n"
                f"| bodies cut off (answered and closed) | {results['cut_off']} of {args.connections}, "
                f"slowest {slowest} | all within {CUT_OFF_WITHIN} s | {'PASS' if cut_ok else 'FAIL'} |\n"
                f"| `/healthz` during the attack | {'200' if alive else 'no answer'} | 200 | "
                f"{'PASS' if alive else 'FAIL'} |\n"
            )
    return 0 if memory_ok and cut_ok and alive else 1


if __name__ == "__main__":
    sys.exit(main())
