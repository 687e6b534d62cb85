#!/usr/bin/env python3
"""Instructions per token-checked read, counted by valgrind's callgrind: a figure that does not
drift with whatever else a shared two-core machine is doing, for when `bench/run --compare`'s
interleaved rates come out inconclusive.

The binary serves under callgrind on a database `bench/run --compare` (or `bench/run`) seeded;
the script logs the load member in, warms up, zeroes the counters, sends `--reads` reads one
after another on one kept-alive connection, dumps the counters and divides. Every thread of the
server is counted (the request, the batched store, the pools); PostgreSQL is not.

    bench/read_instructions.py --binary target/production/accountd \\
        --database-url postgres://postgres@127.0.0.1:5432/accountd_bench_b [--reads 2000]
"""

import argparse
import glob
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse

import bench


def call(port, method, path, body=None, headers=None, connection=None):
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request(method, path, body=body, headers=headers or {})
    answer = connection.getresponse()
    return answer.status, answer.read()


def token_form(port, fields):
    status, data = call(port, "POST", "/oauth/access_token", urllib.parse.urlencode(fields),
                        {"Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        raise SystemExit(f"/oauth/access_token answered {status}: {data[:200]!r}")
    return json.loads(data)["access_token"]


def account_token(port):
    """The load member's first account token, as bench.py's seed logs it in."""
    implicit = token_form(port, {"grant_type": "implicit", "client_id": bench.CLIENT_ID})
    admin = token_form(port, {"grant_type": "client_credentials", "client_id": bench.CLIENT_ID,
                              "client_secret": bench.CLIENT_SECRET})
    _, data = call(port, "GET", "/v2/settings/account-authentication", headers=bench.bearer(implicit))
    realm = json.loads(data)["data"]["relationships"]["authentication_realm"]["data"]["id"]
    _, data = call(port, "GET", f"/v2/authentication-realms/{realm}/password-profiles",
                   headers=bench.bearer(admin))
    profile = json.loads(data)["data"][0]["id"]
    username = f"member{bench.LOAD_MEMBER}@bench.example"
    status, data = call(port, "POST", "/v2/account-members/tokens",
                        json.dumps(bench.login_body(profile, username, bench.PASSWORD)),
                        {**bench.bearer(implicit), "Content-Type": "application/json"})
    if status != 201:
        raise SystemExit(f"the load member's login answered {status}: {data[:200]!r}")
    first = json.loads(data)["data"][0]
    headers = {**bench.bearer(implicit), "EP-Account-Management-Authentication-Token": first["token"]}
    return f"/v2/accounts/{first['account_id']}", headers


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--port", type=int, default=18301)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="accountd-callgrind-")
    out = os.path.join(work, "callgrind.out")
    env = dict(os.environ, DATABASE_URL=args.database_url, ACCOUNTD_CLIENT_ID=bench.CLIENT_ID,
               ACCOUNTD_CLIENT_SECRET=bench.CLIENT_SECRET, ACCOUNTD_JWT_SECRET=bench.JWT_SECRET,
               ACCOUNTD_RATE_LIMIT_PER_MINUTE="0", ACCOUNTD_LISTEN=f"127.0.0.1:{args.port}",
               ACCOUNTD_MANAGEMENT_LISTEN="off", RUST_LOG="warn")
    with open(out + ".log", "w") as log:
        server = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                   args.binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if call(args.port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise SystemExit("the server did not start under valgrind within 300 s")
        path, headers = account_token(args.port)
        connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=120)

        def reads(count):
            for _ in range(count):
                status, _ = call(args.port, "GET", path, headers=headers, connection=connection)
                if status != 200:
                    raise SystemExit(f"a read answered {status}")

        reads(50)
        subprocess.run(["callgrind_control", "--zero", str(server.pid)], check=True,
                       stdout=subprocess.DEVNULL)
        reads(args.reads)
        subprocess.run(["callgrind_control", "--dump=reads", str(server.pid)], check=True,
                       stdout=subprocess.DEVNULL)
    finally:
        server.terminate()
        server.wait(timeout=120)
    total = 0
    for dump in glob.glob(out + ".*"):
        if dump.endswith(".log"):
            continue
        with open(dump, errors="replace") as text:
            content = text.read()
        if "Trigger: dump reads" in content:
            match = re.search(r"^totals:\s+(\d+)", content, re.M)
            total += int(match.group(1)) if match else 0
    if total == 0:
        raise SystemExit(f"no counters were dumped; see {out}.log")
    print(f"{args.binary}: {total:,} instructions for {args.reads} reads, {total / args.reads:,.0f} per read")


if __name__ == "__main__":
    sys.exit(main())
