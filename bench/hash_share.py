#!/usr/bin/env python3
"""The hash share: can one client address monopolise the argon2id pool?

Starts an accountd process of its own (SQLite in a temporary folder) with a small hash pool and
queue set by configuration, and a member who logs in from a victim address (127.0.0.9). First
the victim logs in alone, one login after another, for a few seconds: its unloaded latency.
Then one flooding address (127.0.0.50) sends one-time-code requests, each of which costs an
argon2id hash whether or not the username exists, from many connections at several times the
rate the pool can hash, while the victim logs in again. accountd lets one address hold at most
ACCOUNTD_HASH_QUEUE_SHARE queued or running hash jobs (by default a quarter of the queue bound)
and answers the rest 503 with Retry-After, so:

- the victim's p99 under the flood stays within 2 × its unloaded p99;
- the victim gets no 503 (every login 201), the flooder gets 503s with Retry-After.

Then the same flood once more against a server whose share equals the whole queue bound, as a
control: without the share the victim queues behind the flooder (a figure, not a target).

The per-address rate limit is disabled (ACCOUNTD_RATE_LIMIT_PER_MINUTE=0), or it, not the
share, would stop the flooder. Loopback only; about 50 s; it stops by itself. Standard library
only.

    bench/hash_share.py --binary target/production/accountd [--pool 2] [--bound 4]
        [--seconds 8] [--json FILE] [--report FILE]

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
import urllib.parse

import loadgen

CLIENT_ID = "hash-share"
CLIENT_SECRET = "hash-share-secret-not-for-production"
PASSWORD = "hash-share-password-correct-horse"
VICTIM = "127.0.0.9"
FLOODER = "127.0.0.50"
FLOOD_CLIENTS = 16


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(port, method, path, body=None, token=None, form=None, source="127.0.0.1"):
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload = None
    if form is not None:
        payload = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        payload = json.dumps(body)
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=payload, headers=headers)
        answer = connection.getresponse()
        text = answer.read().decode()
        return answer.status, (json.loads(text) if text.startswith("{") else text)
    finally:
        connection.close()


def expect(answer, status, what):
    if answer[0] != status:
        raise SystemExit(f"hash_share: {what}: expected {status}, got {answer[0]}: {answer[1]}")
    return answer[1]


class Server:
    def __init__(self, binary, pool, bound, share):
        self.work = tempfile.mkdtemp(prefix="accountd-hash-share-")
        self.port = free_port()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": f"sqlite://{self.work}/accountd.db?mode=rwc",
            "ACCOUNTD_LISTEN": f"127.0.0.1:{self.port}",
            "ACCOUNTD_MANAGEMENT_LISTEN": "off",
            "ACCOUNTD_CLIENT_ID": CLIENT_ID,
            "ACCOUNTD_CLIENT_SECRET": CLIENT_SECRET,
            "ACCOUNTD_RATE_LIMIT_PER_MINUTE": "0",
            "ACCOUNTD_HASH_POOL_SIZE": str(pool),
            "ACCOUNTD_HASH_QUEUE_BOUND": str(bound),
            "RUST_LOG": "warn",
        }
        if share is not None:
            env["ACCOUNTD_HASH_QUEUE_SHARE"] = str(share)
        self.env = env
        self.log = open(os.path.join(self.work, "accountd.log"), "wb")
        self.process = subprocess.Popen([binary, "serve"], env=env, cwd=self.work,
                                        stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while True:
            try:
                if call(self.port, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.log.flush()
                tail = open(os.path.join(self.work, "accountd.log")).read()[-2000:]
                raise SystemExit(f"hash_share: accountd did not start:\n{tail}")
            time.sleep(0.1)

    def seed(self):
        """A password profile with one-time codes enabled, the victim member, and an implicit
        token for each address."""
        admin = expect(call(self.port, "POST", "/oauth/access_token", form={
            "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
            200, "admin token")["access_token"]
        settings = expect(call(self.port, "GET", "/v2/settings/account-authentication", token=admin),
                          200, "settings")
        realm = settings["data"]["relationships"]["authentication_realm"]["data"]["id"]
        profile = expect(call(self.port, "POST", f"/v2/authentication-realms/{realm}/password-profiles",
                              {"data": {"type": "password_profile", "name": "Shop",
                                        "enable_one_time_password_token": True}}, token=admin),
                         201, "password profile")["data"]["id"]
        member = expect(call(self.port, "POST", f"/v2/authentication-realms/{realm}/user-authentication-info",
                             {"data": {"type": "user_authentication_info", "name": "Victim",
                                       "email": "victim@bench.example"}}, token=admin),
                        201, "member")["data"]["id"]
        expect(call(self.port, "POST",
                    f"/v2/authentication-realms/{realm}/user-authentication-info/{member}"
                    "/user-authentication-password-profile-info",
                    {"data": {"type": "user_authentication_password_profile_info",
                              "password_profile_id": profile, "username": "victim@bench.example",
                              "password": PASSWORD}}, token=admin),
               201, "victim's password")

        def implicit(source):
            return expect(call(self.port, "POST", "/oauth/access_token",
                               form={"grant_type": "implicit", "client_id": CLIENT_ID}, source=source),
                          200, "implicit token")["access_token"]

        self.realm, self.profile = realm, profile
        self.victim_token, self.flooder_token = implicit(VICTIM), implicit(FLOODER)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.work, ignore_errors=True)


def victim_logins(server, seconds):
    """One login after another from the victim's address, for `seconds`."""
    request = loadgen.login_request(server.victim_token, server.profile, "victim@bench.example", PASSWORD)
    samples, wall = loadgen.run(server.port, 1, seconds, lambda _: request, source_for=lambda _: VICTIM)
    return loadgen.summary(samples, wall, 1)


def flooded(server, seconds, flood_qps):
    """The victim's logins while the flooder's one-time-code requests run; the flood starts a
    second earlier so the queue is full when the victim begins, and stops with it."""
    path = (f"/v2/authentication-realms/{server.realm}/password-profiles/{server.profile}"
            "/one-time-password-token-request")
    body = json.dumps({"data": {"type": "one_time_password_token_request", "username": "someone@bench.example",
                                "purpose": "passwordless_authentication"}}).encode()
    headers = {"Authorization": f"Bearer {server.flooder_token}", "Content-Type": "application/json"}
    stop = threading.Event()
    flood = {}

    def run_flood():
        samples, wall = loadgen.run(server.port, FLOOD_CLIENTS, seconds + 5, lambda _: ("POST", path, headers, body),
                                    qps=flood_qps, source_for=lambda _: FLOODER, stop=stop)
        flood["summary"] = loadgen.summary(samples, wall, FLOOD_CLIENTS)

    flooder = threading.Thread(target=run_flood)
    flooder.start()
    time.sleep(1.0)
    victim = victim_logins(server, seconds)
    stop.set()
    flooder.join()
    return victim, flood["summary"]


def measure(binary, pool, bound, share, seconds, flood_qps):
    server = Server(binary, pool, bound, share)
    try:
        server.seed()
        victim_logins(server, 1.0)  # Warm-up: connections, caches; not counted.
        alone = victim_logins(server, seconds)
        victim, flood = flooded(server, seconds, flood_qps)
    finally:
        server.stop()
    return {"alone": alone, "flooded": victim, "flood": flood}


def fmt(value):
    return "–" if value is None else f"{value:.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--pool", type=int, default=2, help="ACCOUNTD_HASH_POOL_SIZE")
    parser.add_argument("--bound", type=int, default=4, help="ACCOUNTD_HASH_QUEUE_BOUND")
    parser.add_argument("--share", type=int, help="ACCOUNTD_HASH_QUEUE_SHARE (default: the server's, ¼ of the bound)")
    parser.add_argument("--seconds", type=float, default=8.0, help="each phase of victim logins")
    parser.add_argument("--flood-qps", type=int, default=200)
    parser.add_argument("--no-control", action="store_true", help="skip the run without a share")
    parser.add_argument("--json")
    parser.add_argument("--report", help="a Markdown file to append the result to")
    args = parser.parse_args()
    # The server runs in a folder of its own, where a relative path would not resolve.
    args.binary = os.path.abspath(args.binary)
    if not os.access(args.binary, os.X_OK):
        print(f"hash_share: {args.binary} is not an executable", file=sys.stderr)
        return 2
    share = args.share if args.share is not None else max(1, args.bound // 4)
    print(f"==> hash share: ACCOUNTD_HASH_POOL_SIZE={args.pool}, ACCOUNTD_HASH_QUEUE_BOUND={args.bound}, "
          f"share {share}{'' if args.share is not None else ' (the default, ¼ of the bound)'}; "
          "ACCOUNTD_RATE_LIMIT_PER_MINUTE=0 so the share, not the rate limit, meets the flood; "
          f"victim {VICTIM} logs in alone, then while {FLOODER} sends one-time-code requests from "
          f"{FLOOD_CLIENTS} connections at up to {args.flood_qps}/s", flush=True)
    result = measure(args.binary, args.pool, args.bound, args.share, args.seconds, args.flood_qps)
    control = None
    if not args.no_control:
        print(f"==> control: the same flood with ACCOUNTD_HASH_QUEUE_SHARE={args.bound} (no share)", flush=True)
        control = measure(args.binary, args.pool, args.bound, args.bound, args.seconds, args.flood_qps)

    alone, victim, flood = result["alone"], result["flooded"], result["flood"]
    ratio = victim["p99"] / alone["p99"] if alone["p99"] and victim["p99"] else None
    latency_ok = ratio is not None and ratio <= 2.0
    victim_ok = victim["failures"] == 0 and alone["failures"] == 0 and victim["statuses"].get(201, 0) > 0
    flood_503 = flood["statuses"].get(503, 0)
    flood_ok = (flood_503 > 0 and set(flood["statuses"]) <= {202, 503}
                and flood["refused_with_retry_after"] == flood["refused"])
    lines = [
        f"    victim alone: {alone['statuses'].get(201, 0)} logins, p50 {fmt(alone['p50'])} ms, "
        f"p99 {fmt(alone['p99'])} ms; statuses {alone['statuses']}",
        f"    victim under the flood: {victim['statuses'].get(201, 0)} logins, p50 {fmt(victim['p50'])} ms, "
        f"p99 {fmt(victim['p99'])} ms; statuses {victim['statuses']}",
        f"    flooder: statuses {flood['statuses']}, {flood['refused_with_retry_after']} of {flood['refused']} "
        "refusals with Retry-After",
        f"    victim p99 flooded ÷ alone = {ratio:.2f}, bound ≤ 2: {'PASS' if latency_ok else 'FAIL'}"
        if ratio is not None else "    victim p99: no figure: FAIL",
        f"    victim never refused: {'PASS' if victim_ok else 'FAIL'}",
        f"    flooder past its share gets 503 with Retry-After: {'PASS' if flood_ok else 'FAIL'}",
    ]
    if control:
        c_alone, c_victim, c_flood = control["alone"], control["flooded"], control["flood"]
        lines.append(
            f"    control without the share: victim p99 {fmt(c_alone['p99'])} ms alone, {fmt(c_victim['p99'])} ms "
            f"flooded; victim statuses {c_victim['statuses']}; flooder {c_flood['statuses']}")
    print("\n".join(lines), flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"pool": args.pool, "bound": args.bound, "share": share, **result, "control": control},
                      out, indent=2)
    if args.report:
        with open(args.report, "a") as out:
            out.write(
                "\n## Hash share (bench/hash_share.py, an accountd process of its own)\n\n"
                f"ACCOUNTD_HASH_POOL_SIZE={args.pool}, ACCOUNTD_HASH_QUEUE_BOUND={args.bound}, share {share} "
                f"per address; the per-address rate limit disabled. A victim ({VICTIM}) logs in one login after "
                f"another for {args.seconds:.0f} s alone, then again while {FLOODER} sends one-time-code requests "
                f"(one argon2id hash each) from {FLOOD_CLIENTS} connections at up to {args.flood_qps}/s.\n\n"
                "| Figure | Measured | Bound | Result |\n| --- | --- | --- | --- |\n"
                f"| victim login p99 under the flood ÷ alone | {fmt(victim['p99'])} ÷ {fmt(alone['p99'])} ms = "
                f"{'–' if ratio is None else f'{ratio:.2f}'} (p50 {fmt(victim['p50'])} / {fmt(alone['p50'])} ms; "
                f"{victim['statuses'].get(201, 0)} and {alone['statuses'].get(201, 0)} logins) | ≤ 2 | "
                f"{'PASS' if latency_ok else 'FAIL'} |\n"
                f"| victim logins refused | {victim['failures'] + alone['failures']} | 0 | "
                f"{'PASS' if victim_ok else 'FAIL'} |\n"
                f"| flooder answers | {flood['statuses'].get(202, 0)} × 202, {flood_503} × 503 "
                f"({flood['refused_with_retry_after']} with Retry-After), "
                f"{flood['failures'] - flood_503} other | 503 + Retry-After past the share | "
                f"{'PASS' if flood_ok else 'FAIL'} |\n"
            )
            if control:
                out.write(
                    f"\nControl, not a target: with ACCOUNTD_HASH_QUEUE_SHARE={args.bound} (one address may hold the "
                    f"whole queue) the victim's p99 was {fmt(control['flooded']['p99'])} ms flooded against "
                    f"{fmt(control['alone']['p99'])} ms alone, its answers {control['flooded']['statuses']}.\n"
                )
    return 0 if latency_ok and victim_ok and flood_ok else 1


if __name__ == "__main__":
    sys.exit(main())
