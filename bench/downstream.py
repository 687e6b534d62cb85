#!/usr/bin/env python3
"""What downstream verification costs: the signing algorithm on the hot paths, and the gateway
endpoint against the read it stands in for.

One accountd binary served twice at once, each process on a database of its own seeded alike
(bench.py's seed), one signing with HS256 and one with EdDSA (or the algorithms given). The loads
alternate between them in short rounds, A B then B A, so that whatever else the machine does
lands on both alike:

- the token-checked read (`GET /v2/accounts/{id}` with bearer and account token), oha, c=16;
- the gateway check (`GET /v2/account-members/tokens/verify` with the account token only), oha,
  c=16: the request a gateway's `auth_request` makes before every proxied request;
- the password login, bench/loadgen.py, c=8 (each client its own member and address).

Targets (docs/account-tokens.md#downstream-verification-cost): under EdDSA the read keeps at least
90 % of its HS256 rate; the verify endpoint serves at least 90 % of the read's rate under each
algorithm. Reports the medians over the rounds and the median of the per-round ratios, and
writes bench/results/downstream.md.

    bench/downstream.py --binary target/production/accountd --oha PATH
        --database-url-a postgres://…/a --database-url-b postgres://…/b [--rounds 5]
"""

import argparse
import datetime
import os
import statistics
import sys
from pathlib import Path

import bench
import compare

ROOT = Path(__file__).resolve().parent.parent
LOADS = [
    ("reads", "token-checked read, c=16", "req/s"),
    ("verifies", "verify endpoint, c=16", "req/s"),
    ("logins", "password login, c=8", "logins/s"),
]


def signing_overrides(algorithm):
    """HS256 signs with the benchmark's configured secret; an asymmetric algorithm generates its
    key pair on first start, with no HS256 secret configured beside it."""
    overrides = {"ACCOUNTD_JWT_ALG": algorithm}
    if algorithm != "HS256":
        overrides["ACCOUNTD_JWT_SECRET"] = None
    return overrides


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--algorithm-a", default="HS256")
    parser.add_argument("--algorithm-b", default="EdDSA")
    parser.add_argument("--target", type=float, default=0.90)
    args = compare.parse_side_by_side(parser, rounds=5, port=18094, report="downstream.md")
    work = compare.prepare(args)
    load_before = os.getloadavg()
    label = {"a": args.algorithm_a, "b": args.algorithm_b}

    sides = {}
    try:
        for index, (name, url) in enumerate([("a", args.database_url_a), ("b", args.database_url_b)]):
            port = args.port + index
            server = compare.start(args.binary, url, port, work, f"downstream-{name}",
                                   overrides=signing_overrides(label[name]))
            sides[name] = {"server": server, "port": port}
            bench.log(f"==> seeding {label[name]} ({url})")
            seed = bench.seed(port, url)
            base = f"http://127.0.0.1:{port}"
            sides[name].update(
                seed=seed,
                read_url=f"{base}/v2/accounts/{seed['account_id']}",
                read_headers=[f"Authorization: Bearer {seed['implicit']}",
                              f"EP-Account-Management-Authentication-Token: {seed['account_token']}"],
                verify_url=f"{base}/v2/account-members/tokens/verify",
                verify_headers=[f"EP-Account-Management-Authentication-Token: {seed['account_token']}"],
                reads=[], verifies=[], logins=[])
            algorithm = bench.jwt_header(seed["account_token"]).get("alg")
            if algorithm != label[name]:
                raise SystemExit(f"the {label[name]} server signed its token with {algorithm}")

        def run(side, load, seconds):
            if load == "reads":
                return bench.oha(args.oha, side["read_url"], 16, seconds, headers=side["read_headers"])
            if load == "verifies":
                return bench.oha(args.oha, side["verify_url"], 16, seconds, headers=side["verify_headers"])
            return bench.logins(side["port"], side["seed"], 8, seconds)

        for side in sides.values():  # Warm-up: pools, caches, page cache; not counted.
            for load, _, _ in LOADS:
                run(side, load, 2.0)
        bench.log(f"==> {args.rounds} rounds, each: read and verify c=16 ({args.read_seconds:g} s), "
                  f"login c=8 ({args.login_seconds:g} s) on both, the order alternating A B / B A")
        for round_index in range(args.rounds):
            order = ["a", "b"] if round_index % 2 == 0 else ["b", "a"]
            for load, _, _ in LOADS:
                seconds = args.login_seconds if load == "logins" else args.read_seconds
                for name in order:
                    sides[name][load].append(run(sides[name], load, seconds))
            bench.log(f"  round {round_index + 1}: " + ", ".join(
                f"{load} {sides['a'][load][-1]['rps']:.1f} / {sides['b'][load][-1]['rps']:.1f}"
                for load, _, _ in LOADS) + f" ({label['a']} / {label['b']})")
    finally:
        for side in sides.values():
            side["server"].stop()

    def rates(name, load):
        return [row["rps"] for row in sides[name][load]]

    def ratio_of(numerators, denominators):
        ratios = [n / d for n, d in zip(numerators, denominators) if d]
        return statistics.median(ratios), ratios

    failures = {load: sum(row["failures"] for side in sides.values() for row in side[load])
                for load, _, _ in LOADS}
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    load_after = os.getloadavg()
    lines = [
        f"# accountd: downstream verification cost — {date}",
        "",
        f"> `bench/downstream.py` (`bench/run --downstream`): one binary served twice at once, "
        f"signing with {label['a']} and with {label['b']}, each on its own database seeded alike "
        f"(10,000 members, 1,000 accounts); {args.rounds} rounds, each the token-checked read and the "
        f"verify endpoint at c=16 ({args.read_seconds:g} s, oha) and the password login at c=8 "
        f"({args.login_seconds:g} s) on both, the order alternating. Load average before "
        f"{load_before[0]:.2f}, after {load_after[0]:.2f} on {len(os.sched_getaffinity(0))} cores "
        "shared with the load generators and PostgreSQL.",
        "",
        f"| Load | {label['a']} median (lowest–highest) | {label['b']} median (lowest–highest) | "
        f"{label['b']} ÷ {label['a']}, median of rounds | p99 ms ({label['a']} / {label['b']}) | failed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    verdicts = []
    for load, title, unit in LOADS:
        a, b = rates("a", load), rates("b", load)
        ratio, ratios = ratio_of(b, a)
        p99 = [statistics.median(row["p99"] for row in sides[name][load]) for name in ("a", "b")]
        lines.append(f"| {title} | {statistics.median(a):,.1f} {unit} ({min(a):,.1f}–{max(a):,.1f}) | "
                     f"{statistics.median(b):,.1f} {unit} ({min(b):,.1f}–{max(b):,.1f}) | "
                     f"{ratio:.3f} ({', '.join(f'{r:.3f}' for r in ratios)}) | "
                     f"{p99[0]:.2f} / {p99[1]:.2f} | {failures[load]} |")
    read_ratio, _ = ratio_of(rates("b", "reads"), rates("a", "reads"))
    targets = [(f"{label['b']} read ÷ {label['a']} read", read_ratio)]
    for name in ("a", "b"):
        verify_ratio, _ = ratio_of(rates(name, "verifies"), rates(name, "reads"))
        targets.append((f"verify ÷ read under {label[name]}", verify_ratio))
    lines += ["", f"| Target (≥ {args.target:.2f}) | Measured | Met |", "| --- | --- | --- |"]
    for title, value in targets:
        met = value >= args.target and not any(failures.values())
        verdicts.append(met)
        lines.append(f"| {title} | {value:.3f} | {'yes' if met else 'NO'} |")
    lines += ["", f"- binary: `{args.binary}`", ""]
    report = "\n".join(lines)
    print()
    print(report)
    Path(args.report).write_text(report)
    print(f"wrote {args.report}")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
