#!/usr/bin/env python3
"""The soak: does accountd's memory stay flat under hours-like mixed load, and does a database
restart in the middle cost anything but a few 503s?

Starts a private PostgreSQL cluster (initdb and pg_ctl on a spare loopback port, the fault
suite's tests/e2e/faults/cluster.py, so the machine's own server is not disturbed) and an
accountd process on it, seeds a store through the API, then runs a mixed load for `--minutes`:
token-checked reads, switches, password logins (each client its own member and address, so the
throttle never refuses one) and admin writes (account updates, each with its audit row), every
answer timed and recorded. Half-way through, PostgreSQL is restarted (`pg_ctl restart -m
fast`). Resident memory (VmRSS) is sampled every few seconds.

Holds, and exits 1 otherwise:
- the RSS slope after the warm-up (least squares, MiB per minute) is at most `--slope-bound`
  (default 0.25 MiB/min: a process growing that fast would pass its 64 MiB budget within hours,
  which is what a leak looks like; over ten minutes allocator noise stays well under it);
- every answer is 2xx except 503s with Retry-After, and every 503 overlaps the restart window:
  from the restart's start until ACCOUNTD_DB_TIMEOUT seconds after the database accepts
  connections again (a request waiting on the pool meanwhile may still meet its deadline).

Writes bench/results/soak.md (and soak.png when matplotlib is there). Loopback only; bounded in
time; it stops by itself. Standard library only, matplotlib optional.

    bench/soak.py --binary target/production/accountd [--minutes 10] [--warm-up 2]
"""

import argparse
import datetime
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The fault suite's private cluster and accountd launcher: the soak restarts the database the
# same way the restart test does, so one copy of that code serves both.
sys.path.insert(0, str(ROOT / "tests" / "e2e" / "faults"))
sys.path.insert(0, str(ROOT / "tests" / "e2e" / "hostile"))

import loadgen  # noqa: E402

DB_TIMEOUT = 3  # ACCOUNTD_DB_TIMEOUT, seconds (the default)
SAMPLE_EVERY = 5.0


def least_squares_slope(points):
    """Slope of the least-squares line through (x, y) points."""
    n = len(points)
    if n < 2:
        return None
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--warm-up", type=float, default=2.0, help="minutes left out of the slope")
    parser.add_argument("--slope-bound", type=float, default=0.25, help="MiB per minute")
    parser.add_argument("--read-qps", type=int, default=300)
    parser.add_argument("--results", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--json", default="/tmp/accountd-bench/soak.json")
    args = parser.parse_args()
    if not os.access(args.binary, os.X_OK):
        print(f"soak: {args.binary} is not an executable", file=sys.stderr)
        return 2
    os.environ["ACCOUNTD_BIN"] = os.path.abspath(args.binary)
    import hostile  # noqa: E402  (reads ACCOUNTD_BIN when imported)
    from cluster import Cluster, wait_until  # noqa: E402

    seconds = args.minutes * 60
    env = {
        "ACCOUNTD_DB_TIMEOUT": str(DB_TIMEOUT),
        # The loads come from a handful of loopback addresses at hundreds of requests a second.
        "ACCOUNTD_RATE_LIMIT_PER_MINUTE": "0",
        "RUST_LOG": "warn",
    }
    print(f"==> soak: {args.minutes:g} minutes of mixed load on a private PostgreSQL cluster, restarted "
          f"half-way; ACCOUNTD_RATE_LIMIT_PER_MINUTE=0 (the loads come from a few loopback addresses)",
          flush=True)
    with Cluster() as cluster, hostile.Server(dict(env, DATABASE_URL=cluster.url)) as server:
        port = server.port
        shopper = server.token("implicit")
        first = server.login(server.username, hostile.PASSWORD).json()["data"][0]
        account_id, account_token = first["account_id"], first["token"]
        login_members = [f"soak{index}@bench.example" for index in range(4)]
        for username in login_members:
            server.add_member(username)
        writable = [server.admin("POST", "/v2/accounts", {"data": {"type": "account", "name": f"Soak {index}"}})
                    .json()["data"]["id"] for index in range(2)]
        admin = server.token()

        read_headers = {"Authorization": f"Bearer {shopper}",
                        "EP-Account-Management-Authentication-Token": account_token}
        switch_body = json.dumps({"data": {"type": "account_management_authentication_token",
                                           "authentication_mechanism": "account_management_authentication_token"}}).encode()
        loads = {
            # name: (clients, offered per second, request of client i)
            "read": (4, args.read_qps, lambda i: ("GET", f"/v2/accounts/{account_id}", read_headers, None)),
            "switch": (2, 40, lambda i: ("POST", "/v2/account-members/tokens",
                                         dict(read_headers, **{"Content-Type": "application/json"}), switch_body)),
            "login": (2, 8, lambda i: loadgen.login_request(shopper, server.profile, login_members[i],
                                                            hostile.PASSWORD)),
            "admin write": (2, 4, lambda i: ("PUT", f"/v2/accounts/{writable[i]}",
                                             {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
                                             json.dumps({"data": {"type": "account",
                                                                  "name": f"Soak {i} renamed"}}).encode())),
        }
        for name, (clients, qps, _) in loads.items():
            print(f"    {name}: {clients} clients, {qps}/s offered", flush=True)

        started = time.monotonic()
        rss = []
        outcomes = {}
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                rss.append((time.monotonic() - started, server.rss_kib() / 1024))
                stop.wait(SAMPLE_EVERY)

        def load(name, clients, qps, request_for):
            samples, _ = loadgen.run(port, clients, seconds, request_for, qps=qps, stop=stop)
            # loadgen's offsets start at its own start, a few microseconds after `started`.
            outcomes[name] = samples

        threads = [threading.Thread(target=sample, daemon=True)]
        threads += [threading.Thread(target=load, args=(name, *spec)) for name, spec in loads.items()]
        for thread in threads:
            thread.start()

        time.sleep(seconds / 2)
        restart_began = time.monotonic() - started
        print(f"==> restarting PostgreSQL at {restart_began:.0f} s", flush=True)
        cluster.restart()
        wait_until(cluster.accepting, 30)
        accepting_at = time.monotonic() - started
        print(f"    accepting again at {accepting_at:.1f} s (the restart took {accepting_at - restart_began:.2f} s)",
              flush=True)
        for thread in threads[1:]:
            thread.join()
        stop.set()
        peak_kib = 0
        with open(f"/proc/{server.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    peak_kib = int(line.split()[1])
        log_lines = server.logs().count("the database is unavailable")

    window = (restart_began, accepting_at + DB_TIMEOUT)
    counts, bad, refused = {}, [], 0
    for name, samples in outcomes.items():
        for start, latency_ms, status, retry_after in samples:
            counts.setdefault(name, {}).setdefault(status, 0)
            counts[name][status] += 1
            if 200 <= status < 300:
                continue
            inside = start <= window[1] and start + latency_ms / 1000 >= window[0]
            if status == 503 and retry_after and inside:
                refused += 1
            else:
                bad.append((name, round(start, 2), round(latency_ms, 1), status, retry_after, inside))
    warm = args.warm_up * 60
    after_warm_up = [(t / 60, mib) for t, mib in rss if t >= warm]
    slope = least_squares_slope(after_warm_up)
    before = least_squares_slope([(t / 60, mib) for t, mib in rss if warm <= t < restart_began])
    after = least_squares_slope([(t / 60, mib) for t, mib in rss if t >= accepting_at])
    flat = slope is not None and slope <= args.slope_bound
    clean = not bad
    total = sum(sum(by_status.values()) for by_status in counts.values())
    mibs = [mib for _, mib in after_warm_up]

    print(f"    answers: {counts}")
    print(f"    RSS after warm-up: {min(mibs):.1f}–{max(mibs):.1f} MiB over {len(mibs)} samples, "
          f"slope {slope:+.3f} MiB/min (before the restart {before:+.3f}, after {after:+.3f}), "
          f"bound ≤ {args.slope_bound} MiB/min: {'PASS' if flat else 'FAIL'}")
    print(f"    {refused} × 503 with Retry-After inside the restart window "
          f"({window[0]:.1f}–{window[1]:.1f} s); other failures: {len(bad)} {bad[:10]}: "
          f"{'PASS' if clean else 'FAIL'}", flush=True)

    results = {
        "minutes": args.minutes, "warm_up_minutes": args.warm_up, "slope_bound": args.slope_bound,
        "rss": rss, "slope": slope, "slope_before_restart": before, "slope_after_restart": after,
        "peak_kib": peak_kib, "window": window, "counts": {k: {str(s): n for s, n in v.items()} for k, v in counts.items()},
        "refused_in_window": refused, "bad": bad, "log_lines": log_lines,
        "loads": {name: {"clients": spec[0], "qps": spec[1]} for name, spec in loads.items()},
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))
    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    plotted = plot(rss, window, warm, results_dir / "soak.png")
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        f"# accountd soak — {date}",
        "",
        f"> `bench/run --soak`: {args.minutes:g} minutes of mixed load on PostgreSQL (a private cluster on "
        "loopback), PostgreSQL restarted half-way; production profile; every load generator on the same "
        f"{len(os.sched_getaffinity(0))} cores as accountd and PostgreSQL.",
        "",
        "| Figure | Measured | Bound | Result |",
        "| --- | --- | --- | --- |",
        f"| RSS slope after {args.warm_up:g} min of warm-up (least squares) | {slope:+.3f} MiB/min "
        f"(before the restart {before:+.3f}, after {after:+.3f}; {min(mibs):.1f}–{max(mibs):.1f} MiB, "
        f"{len(mibs)} samples every {SAMPLE_EVERY:g} s; peak {peak_kib / 1024:.1f} MiB) | ≤ {args.slope_bound} MiB/min | "
        f"{'PASS' if flat else 'FAIL'} |",
        f"| answers other than 2xx | {refused} × 503 with Retry-After, all inside the restart window; "
        f"{len(bad)} other | only 503 + Retry-After, inside the window | {'PASS' if clean else 'FAIL'} |",
        "",
        f"The restart began at {restart_began:.1f} s; PostgreSQL accepted connections again at {accepting_at:.1f} s; "
        f"the window closes ACCOUNTD_DB_TIMEOUT ({DB_TIMEOUT} s) later, at {window[1]:.1f} s. accountd logged "
        f"\"the database is unavailable\" on {log_lines} line(s) for the outage.",
        "",
        "| Load | clients | offered /s | answers |",
        "| --- | --- | --- | --- |",
    ]
    for name, (clients, qps, _) in loads.items():
        answers = ", ".join(f"{n:,} × {'no answer' if s == 0 else s}" for s, n in sorted(counts.get(name, {}).items()))
        lines.append(f"| {name} | {clients} | {qps} | {answers} |")
    lines += ["", f"{total:,} requests in all. The slope bound: a process growing {args.slope_bound} MiB a minute "
              "would pass its 64 MiB budget within a few hours, which is what a leak looks like; allocator noise "
              "over ten minutes stays well below it.", ""]
    if bad:
        lines += ["Failures outside the rule (load, start s, latency ms, status, Retry-After, inside window):", "",
                  *[f"- {entry}" for entry in bad[:20]], ""]
    if plotted:
        lines += ["![resident memory during the soak](soak.png)", ""]
    (results_dir / "soak.md").write_text("\n".join(lines))
    print(f"wrote {results_dir / 'soak.md'}; raw figures in {args.json}")
    return 0 if flat and clean else 1


def plot(rss, window, warm, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axis = plt.subplots(figsize=(8, 3.2))
    axis.plot([t / 60 for t, _ in rss], [mib for _, mib in rss], marker=".", label="VmRSS")
    axis.axvspan(window[0] / 60, window[1] / 60, color="red", alpha=0.2, label="PostgreSQL restart window")
    axis.axvline(warm / 60, color="grey", linestyle=":", label="end of warm-up")
    axis.set_xlabel("minutes")
    axis.set_ylabel("MiB")
    axis.set_ylim(bottom=0)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)
    axis.set_title("accountd resident memory under mixed load")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


if __name__ == "__main__":
    sys.exit(main())
