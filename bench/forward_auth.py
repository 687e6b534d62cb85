#!/usr/bin/env python3
"""Forward auth's cost: requests/s and latency through nginx with and without the README's
`auth_request` to accountd.

Starts an accountd process of its own (SQLite in a temporary folder unless --database-url names
a PostgreSQL database), a member with one account token, and three nginx processes (Debian's
package), each in the foreground in a temporary prefix:

- an echo upstream: nginx answering every request with the identity headers it received (a
  Python upstream would be the bottleneck of both loads and hide the difference);
- "with": the README's forward-auth block as tests/e2e/nginx/nginx_conf.py extracts it, in front
  of the echo upstream;
- "without": the same block with its `auth_request` line removed, in front of the same echo.

At each concurrency it loads, one after the other, nginx without auth, nginx with forward auth,
and accountd's verify endpoint alone (what each forward-auth request asks of accountd), every
request carrying the token, and prints a table of requests/s, p50 and p99. Loads come from oha
(bench/run installs it under ~/.cache/accountd-bench) when it is found, else from
bench/loadgen.py, whose Python client caps the rate at a few thousand requests/s: the table says
which. Loopback only; every load is bounded in time and every process stops with this one.

    bench/forward_auth.py --binary target/production/accountd [--seconds 10]
        [--concurrency 1,16,64] [--oha PATH] [--nginx PATH] [--nginx-workers 1]
        [--database-url postgres://…] [--json FILE]

Exit status: 0 when every load got only 2xx answers, 1 otherwise, 2 on a set-up error.
"""

import argparse
import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import loadgen

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "tests" / "e2e" / "nginx" / "nginx_conf.py"
DEFAULT_OHA = Path.home() / ".cache" / "accountd-bench" / "bin" / "oha"
CLIENT_ID = "forward-auth-bench"
CLIENT_SECRET = "forward-auth-bench-secret-not-for-production"
PASSWORD = "forward-auth-bench-password"
TOKEN_HEADER = "EP-Account-Management-Authentication-Token"
VERIFY = "/v2/account-members/tokens/verify"


def die_with_this_process():
    """In the child: SIGTERM when this script ends, however it ends (Linux prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def setup_error(message):
    print(f"forward_auth.py: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def call(port, method, path, body=None, headers=None, form=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = dict(headers or {})
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=data, headers=headers)
        answer = connection.getresponse()
        text = answer.read()
    finally:
        connection.close()
    try:
        return answer.status, json.loads(text) if text else None
    except ValueError:
        return answer.status, text.decode(errors="replace")


def expect(reply, status, what):
    if reply[0] != status:
        setup_error(f"{what}: expected {status}, got {reply[0]} {reply[1]}")
    return reply[1]


def wait_for(port, path, what, process):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            setup_error(f"{what} exited at start ({process.returncode})")
        try:
            call(port, "GET", path)
            return
        except OSError:
            time.sleep(0.1)
    setup_error(f"{what} did not answer within 30 s")


def seed(port):
    """A member of one account, logged in: the token every load request carries."""
    admin = expect(call(port, "POST", "/oauth/access_token", form={
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
    }), 200, "admin token")["access_token"]
    bearer = {"Authorization": f"Bearer {admin}"}
    settings = expect(call(port, "GET", "/v2/settings/account-authentication", headers=bearer),
                      200, "settings")
    realm = settings["data"]["relationships"]["authentication_realm"]["data"]["id"]
    profile = expect(call(port, "POST", f"/v2/authentication-realms/{realm}/password-profiles", {
        "data": {"type": "password_profile", "name": "forward auth bench"}}, bearer),
        201, "password profile")["data"]["id"]
    account = expect(call(port, "POST", "/v2/accounts", {
        "data": {"type": "account", "name": "Forward Auth Bench Ltd"}}, bearer),
        201, "account")["data"]["id"]
    member = expect(call(port, "POST", f"/v2/authentication-realms/{realm}/user-authentication-info", {
        "data": {"type": "user_authentication_info", "name": "Bench", "email": "bench@forward.example"}},
        bearer), 201, "member")["data"]["id"]
    expect(call(port, "POST", f"/v2/authentication-realms/{realm}/user-authentication-info/{member}"
                "/user-authentication-password-profile-info", {
                    "data": {"type": "user_authentication_password_profile_info",
                             "password_profile_id": profile, "username": "bench@forward.example",
                             "password": PASSWORD}}, bearer), 201, "password")
    expect(call(port, "POST", f"/v2/accounts/{account}/account-memberships", {
        "data": {"type": "account_membership", "account_member_id": member}}, bearer),
        201, "membership")
    implicit = expect(call(port, "POST", "/oauth/access_token", form={
        "grant_type": "implicit", "client_id": CLIENT_ID}), 200, "implicit token")["access_token"]
    tokens = expect(call(port, "POST", "/v2/account-members/tokens", {
        "data": {"type": "account_management_authentication_token",
                 "authentication_mechanism": "password", "password_profile_id": profile,
                 "username": "bench@forward.example", "password": PASSWORD}},
        {"Authorization": f"Bearer {implicit}"}), 201, "login")
    return tokens["data"][0]["token"], account


class Processes:
    """Everything this script starts; stopped in reverse order."""

    def __init__(self, work):
        self.work = work
        self.started = []

    def start(self, name, argv, env=None):
        log = open(self.work / f"{name}.log", "wb")
        process = subprocess.Popen(argv, env=env, cwd=self.work, stdout=log, stderr=subprocess.STDOUT,
                                   preexec_fn=die_with_this_process)
        self.started.append((name, process))
        return process

    def stop(self):
        for _, process in reversed(self.started):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for _, process in reversed(self.started):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def nginx_prefix(work, name):
    prefix = work / name
    prefix.mkdir()
    return prefix


def start_nginx(processes, nginx, prefix, conf_text):
    conf = prefix / "nginx.conf"
    conf.write_text(conf_text)
    argv = [nginx, "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "error.log")]
    test = subprocess.run([*argv[:1], "-t", "-q", *argv[1:]], capture_output=True, text=True, timeout=30)
    if test.returncode != 0:
        setup_error(f"nginx -t for {prefix.name}: {test.stderr.strip()}")
    return processes.start(prefix.name, argv)


def readme_conf(prefix, accountd_port, echo_port, listen_port, workers, without_auth):
    argv = [sys.executable, str(NGINX_CONF), "--prefix", str(prefix),
            "--accountd", f"127.0.0.1:{accountd_port}", "--upstream", f"127.0.0.1:{echo_port}",
            "--listen", f"127.0.0.1:{listen_port}", "--workers", str(workers), "--no-access-log"]
    if without_auth:
        argv.append("--without-auth")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        setup_error(f"nginx_conf.py: {result.stderr.strip()}")
    return result.stdout


def echo_conf(prefix, port, workers):
    temp = "\n".join(f"    {kind}_temp_path {prefix}/temp/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (prefix / "temp").mkdir(exist_ok=True)
    return f"""daemon off;
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temp}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            default_type text/plain;
            return 200 "$http_x_account_id $http_x_account_member_id\\n";
        }}
    }}
}}
"""


def load(args, port, path, token, concurrency):
    if args.oha:
        import bench  # bench/bench.py's oha wrapper: the same flags and figures as bench/run.

        return bench.oha(args.oha, f"http://127.0.0.1:{port}{path}", concurrency, args.seconds,
                         headers=[f"{TOKEN_HEADER}: {token}"])
    samples, wall = loadgen.run(
        port, concurrency, args.seconds,
        lambda _: ("GET", path, {TOKEN_HEADER: token}, None),
        source_for=lambda _: "127.0.0.1")
    return loadgen.summary(samples, wall, concurrency)


def fmt(value, digits=2):
    return "—" if value is None else f"{value:,.{digits}f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--oha", default=str(DEFAULT_OHA) if DEFAULT_OHA.exists() else None,
                        help="oha binary (default: bench/run's, when installed)")
    parser.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    parser.add_argument("--nginx-workers", type=int, default=1)
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]
    # The processes run in a temporary folder: paths relative to here would not resolve there.
    args.binary = os.path.abspath(args.binary)
    args.nginx = os.path.abspath(args.nginx)
    if args.oha:
        args.oha = os.path.abspath(args.oha)
    if not os.access(args.nginx, os.X_OK):
        setup_error(f"no nginx at {args.nginx}; install Debian's nginx package")
    if not os.access(args.binary, os.X_OK):
        setup_error(f"no accountd binary at {args.binary}")

    work = Path(tempfile.mkdtemp(prefix="accountd-forward-auth-"))
    # Started as root, nginx's workers run as nobody; they must reach their temporary folders.
    work.chmod(0o711)
    processes = Processes(work)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        accountd_port, echo_port, without_port, with_port = (free_port() for _ in range(4))
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(work),
            "DATABASE_URL": args.database_url or f"sqlite://{work}/accountd.db?mode=rwc",
            "ACCOUNTD_LISTEN": f"127.0.0.1:{accountd_port}",
            "ACCOUNTD_MANAGEMENT_LISTEN": "off",
            "ACCOUNTD_CLIENT_ID": CLIENT_ID,
            "ACCOUNTD_CLIENT_SECRET": CLIENT_SECRET,
            "ACCOUNTD_JWT_ALG": "EdDSA",
            "ACCOUNTD_RATE_LIMIT_PER_MINUTE": "0",
            "ACCOUNTD_SHUTDOWN_DRAIN": "0",
            "RUST_LOG": "warn",
        }
        accountd = processes.start("accountd", [args.binary, "serve"], env)
        wait_for(accountd_port, "/readyz", "accountd", accountd)
        token, account = seed(accountd_port)

        echo = start_nginx(processes, args.nginx, nginx_prefix(work, "echo"),
                           echo_conf(work / "echo", echo_port, args.nginx_workers))
        wait_for(echo_port, "/", "the echo upstream", echo)
        for name, port, without_auth in [("without", without_port, True), ("with", with_port, False)]:
            prefix = nginx_prefix(work, name)
            process = start_nginx(processes, args.nginx, prefix, readme_conf(
                prefix, accountd_port, echo_port, port, args.nginx_workers, without_auth))
            wait_for(port, "/", f"nginx {name} forward auth", process)

        # Each path answers as configured before anything is measured.
        for port, path, status in [(with_port, "/orders", 401), (without_port, "/orders", 200)]:
            if call(port, "GET", path)[0] != status:
                setup_error(f"nginx on {port} without a token: expected {status}")
        status, answer = call(with_port, "GET", "/orders", headers={TOKEN_HEADER: token})
        if status != 200 or not answer.startswith(account):
            setup_error(f"the echo upstream behind forward auth saw {answer!r}, not the account")

        loads = [
            ("nginx → echo upstream, no auth", without_port, "/orders"),
            ("nginx → auth_request to accountd → echo upstream", with_port, "/orders"),
            ("accountd verify endpoint alone", accountd_port, VERIFY),
        ]
        generator = f"oha ({args.oha})" if args.oha else \
            "bench/loadgen.py (Python: caps the rate at a few thousand requests/s; install oha with bench/run)"
        print(f"forward auth through nginx ({subprocess.run([args.nginx, '-v'], capture_output=True, text=True).stderr.strip()}), "
              f"{args.nginx_workers} worker(s) each; accountd {args.binary} on "
              f"{'PostgreSQL' if args.database_url else 'SQLite'}; load from {generator}; "
              f"{args.seconds:g} s per load", flush=True)
        rows = []
        for concurrency in levels:
            for name, port, path in loads:
                figures = load(args, port, path, token, concurrency)
                rows.append({"load": name, **figures})
                print(f"  c={concurrency:<3} {name}: {figures['rps']:,.0f} req/s, p50 "
                      f"{fmt(figures['p50'])} ms, p99 {fmt(figures['p99'])} ms, "
                      f"{figures['failures']} not 2xx", flush=True)
    finally:
        processes.stop()
        shutil.rmtree(work, ignore_errors=True)

    print()
    print("| load | c | requests/s | p50 ms | p99 ms | not 2xx |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(f"| {row['load']} | {row['concurrency']} | {row['rps']:,.0f} | {fmt(row['p50'])} | "
              f"{fmt(row['p99'])} | {row['failures']} |")
    for concurrency in levels:
        level = {row["load"]: row for row in rows if row["concurrency"] == concurrency}
        plain, forward = level[loads[0][0]], level[loads[1][0]]
        if plain["rps"] and forward["p50"] is not None and plain["p50"] is not None:
            print(f"c={concurrency}: forward auth keeps {forward['rps'] / plain['rps']:.0%} of the "
                  f"requests/s and adds {forward['p50'] - plain['p50']:.2f} ms at p50")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, default=str))
    sys.exit(1 if any(row["failures"] for row in rows) else 0)


if __name__ == "__main__":
    main()
