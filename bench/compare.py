#!/usr/bin/env python3
"""Two accountd binaries side by side: is the token-checked read or the login slower in one?

A refactor or a new layer must not cost the hot paths more than a few per cent, and a shared
two-core machine drifts by more than that between runs. So both binaries run at once, each on a
database of its own seeded alike (bench.py's seed), and the loads alternate between them in
short rounds, A B then B A, so that whatever else the machine does lands on both alike:

- the token-checked read (`GET /v2/accounts/{id}` with bearer and account token), oha, c=16;
- the password login, bench/loadgen.py, c=8 (each client its own member and address).

Reports per load the median rate of each binary over the rounds, the spread (lowest–highest),
the median of the per-round ratios B ÷ A, and whether B is within `--tolerance` of A (default
3 %). bench/run --compare builds the other binary and calls this; it can also run alone on two
binaries and two empty databases.

    bench/compare.py --binary-a OLD --binary-b NEW --label-a 4cfa25d --label-b HEAD --oha PATH
        --database-url-a postgres://…/a --database-url-b postgres://…/b [--rounds 7]
"""

import argparse
import datetime
import json
import os
import statistics
import sys
from pathlib import Path

import bench
import loadgen

ROOT = Path(__file__).resolve().parent.parent


def start(binary, database_url, port, work, name, overrides=None):
    """Migrates and starts one accountd on `database_url`; `overrides` sets (or, with None,
    removes) environment variables after the benchmark's own."""
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url,
        "ACCOUNTD_CLIENT_ID": bench.CLIENT_ID,
        "ACCOUNTD_CLIENT_SECRET": bench.CLIENT_SECRET,
        "ACCOUNTD_JWT_SECRET": bench.JWT_SECRET,
        # One load generator address, many logins: neither the rate limit nor the share may refuse.
        "ACCOUNTD_RATE_LIMIT_PER_MINUTE": "0",
        "ACCOUNTD_HASH_QUEUE_SHARE": str(bench.DEFAULT_HASH_QUEUE_BOUND),
        "RUST_LOG": "warn",
    })
    for key in ["ACCOUNTD_HASH_POOL_SIZE", "ACCOUNTD_HASH_QUEUE_BOUND"]:
        env.pop(key, None)
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    bench.run([binary, "migrate"], env=env)
    log_path = work / f"compare-{name}.log"
    log_path.write_text("")
    server = bench.Server(binary, env, port, log_path)
    server.start()
    return server


def parse_side_by_side(parser, rounds, port, report):
    """The options every side-by-side run shares (two databases, the load generator, rounds and
    their lengths, ports, the report) added to `parser`, then parsed."""
    parser.add_argument("--database-url-a", required=True)
    parser.add_argument("--database-url-b", required=True)
    parser.add_argument("--oha", required=True)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--read-seconds", type=float, default=5.0)
    parser.add_argument("--login-seconds", type=float, default=6.0)
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--report", default=str(ROOT / "bench" / "results" / report))
    parser.add_argument("--work", default="/tmp/accountd-bench")
    return parser.parse_args()


def prepare(args):
    """The work folder, and bench.py's state: its arguments and the secrets its command log hides."""
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    bench.ARGS = argparse.Namespace(oha=args.oha, database_url=args.database_url_a)
    bench.RECORDER.hide(bench.CLIENT_SECRET, "ACCOUNTD_CLIENT_SECRET")
    bench.RECORDER.hide(bench.JWT_SECRET, "ACCOUNTD_JWT_SECRET")
    bench.RECORDER.hide(bench.PASSWORD, "BENCH_PASSWORD")
    return work


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary-a", required=True)
    parser.add_argument("--binary-b", required=True)
    parser.add_argument("--label-a", default="A")
    parser.add_argument("--label-b", default="B")
    parser.add_argument("--tolerance", type=float, default=0.03)
    args = parse_side_by_side(parser, rounds=7, port=18090, report="compare.md")
    work = prepare(args)
    load_before = os.getloadavg()

    sides = {}
    try:
        for index, (name, binary, url) in enumerate([("a", args.binary_a, args.database_url_a),
                                                     ("b", args.binary_b, args.database_url_b)]):
            server = start(binary, url, args.port + index, work, name)
            sides[name] = {"server": server, "port": args.port + index}
            bench.log(f"==> seeding {name} ({url})")
            seed = bench.seed(args.port + index, url)
            base = f"http://127.0.0.1:{args.port + index}"
            sides[name].update(
                seed=seed,
                read_url=f"{base}/v2/accounts/{seed['account_id']}",
                read_headers=[f"Authorization: Bearer {seed['implicit']}",
                              f"EP-Account-Management-Authentication-Token: {seed['account_token']}"],
                reads=[], logins=[])

        def read(side, seconds):
            return bench.oha(args.oha, side["read_url"], 16, seconds, headers=side["read_headers"])

        def login(side, seconds):
            return bench.logins(side["port"], side["seed"], 8, seconds)

        for side in sides.values():  # Warm-up: pools, caches, page cache; not counted.
            read(side, 2.0)
            login(side, 2.0)
        bench.log(f"==> {args.rounds} rounds, each: read c=16 ({args.read_seconds:g} s) and login c=8 "
                  f"({args.login_seconds:g} s) on both, the order alternating A B / B A")
        for round_index in range(args.rounds):
            order = ["a", "b"] if round_index % 2 == 0 else ["b", "a"]
            for name in order:
                sides[name]["reads"].append(read(sides[name], args.read_seconds))
            for name in order:
                sides[name]["logins"].append(login(sides[name], args.login_seconds))
            bench.log(f"  round {round_index + 1}: read {sides['a']['reads'][-1]['rps']:.0f} / "
                      f"{sides['b']['reads'][-1]['rps']:.0f} req/s, login {sides['a']['logins'][-1]['rps']:.1f} / "
                      f"{sides['b']['logins'][-1]['rps']:.1f} /s (A / B)")
    finally:
        for side in sides.values():
            side["server"].stop()

    rows, verdicts = [], []
    for load, unit in [("reads", "req/s"), ("logins", "logins/s")]:
        a = [row["rps"] for row in sides["a"][load]]
        b = [row["rps"] for row in sides["b"][load]]
        failures = sum(row["failures"] for side in sides.values() for row in side[load])
        ratios = [y / x for x, y in zip(a, b) if x]
        ratio = statistics.median(ratios)
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else [ratio, ratio, ratio]
        # A median below the tolerance means "slower" only when most rounds agree: if the middle
        # half of the rounds straddles 1, the machine's noise is larger than the difference.
        if failures:
            within = "NO (failures)"
        elif ratio >= 1 - args.tolerance:
            within = "yes"
        elif quartiles[2] < 1:
            within = "NO"
        else:
            within = f"inconclusive (middle half of the rounds {quartiles[0]:.2f}–{quartiles[2]:.2f})"
        verdicts.append(not within.startswith("NO"))
        rows.append({
            "load": load, "unit": unit, "a": a, "b": b, "ratios": ratios, "ratio": ratio,
            "median_a": statistics.median(a), "median_b": statistics.median(b),
            "p99_a": statistics.median(row["p99"] for row in sides["a"][load]),
            "p99_b": statistics.median(row["p99"] for row in sides["b"][load]),
            "failures": failures, "within": within, "quartiles": quartiles,
        })
    name_of = {"reads": "token-checked read, c=16", "logins": "password login, c=8"}
    print()
    for row in rows:
        print(f"{name_of[row['load']]}: {args.label_a} median {row['median_a']:.1f} {row['unit']} "
              f"({min(row['a']):.1f}–{max(row['a']):.1f}), {args.label_b} median {row['median_b']:.1f} "
              f"({min(row['b']):.1f}–{max(row['b']):.1f}); {args.label_b} ÷ {args.label_a} per round "
              f"{', '.join(f'{r:.3f}' for r in row['ratios'])}, median {row['ratio']:.3f}; "
              f"{row['failures']} failed; within {args.tolerance:.0%}: {row['within']}")
    load_after = os.getloadavg()
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        f"# accountd: {args.label_b} against {args.label_a} — {date}",
        "",
        f"> `bench/compare.py` (`bench/run --compare`): both binaries served at once, each on its own "
        f"database seeded alike (10,000 members, 1,000 accounts); {args.rounds} rounds, each the "
        f"token-checked read at c=16 ({args.read_seconds:g} s, oha) and the password login at c=8 "
        f"({args.login_seconds:g} s, bench/loadgen.py, each client its own member and address) on both, "
        "the order alternating A B / B A. Load average before "
        f"{load_before[0]:.2f}, after {load_after[0]:.2f} on {len(os.sched_getaffinity(0))} cores shared "
        "with the load generators and PostgreSQL (and whatever else ran on the machine).",
        "",
        f"| Load | {args.label_a} median (lowest–highest) | {args.label_b} median (lowest–highest) | "
        f"{args.label_b} ÷ {args.label_a}, median of rounds (every round) | p99 ms, median of rounds "
        f"({args.label_a} / {args.label_b}) | failed | within {args.tolerance:.0%} |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {name_of[row['load']]} | {row['median_a']:,.1f} {row['unit']} ({min(row['a']):,.1f}–{max(row['a']):,.1f}) | "
            f"{row['median_b']:,.1f} {row['unit']} ({min(row['b']):,.1f}–{max(row['b']):,.1f}) | "
            f"{row['ratio']:.3f} ({', '.join(f'{r:.3f}' for r in row['ratios'])}) | "
            f"{row['p99_a']:.2f} / {row['p99_b']:.2f} | {row['failures']} | {row['within']} |")
    lines += ["", f"- {args.label_a}: `{args.binary_a}`", f"- {args.label_b}: `{args.binary_b}`", ""]
    Path(args.report).write_text("\n".join(lines))
    (work / "compare.json").write_text(json.dumps(
        {"a": args.label_a, "b": args.label_b, "rows": rows}, indent=2, default=str))
    print(f"wrote {args.report}")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
