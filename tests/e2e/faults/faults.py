"""Database faults and restarts against live accountd processes on loopback, each scenario
bounded in time and cleaning up after itself:

  pg-restart  PostgreSQL restarted under read and login load: no 500, every failure a 503 with
              Retry-After, reads back within a second of the database accepting connections,
              and the outage logged once per interval, not once per request
  pg-stall    PostgreSQL stopped (SIGSTOP) under load: answers within the deadline, /readyz
              503 within a second, everything back after SIGCONT without restarting accountd
  rolling     two replicas behind HAProxy (health checks on /readyz), each sent SIGTERM and
              restarted in turn under constant load: not one request fails
  crash       SQLite: kill -9 during concurrent writes, restart: integrity_check ok and every
              acknowledged write present
  backup      `accountd backup` of a running SQLite server restores to the same data; pg_dump
              and pg_restore of PostgreSQL do too

Usage: faults.py [scenario ...] (all when none is named). The rolling restart needs haproxy on
PATH (Debian's package)."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hostile"))

import hostile  # noqa: E402
from cluster import Cluster, wait_until  # noqa: E402
from hostile import Server, check, request  # noqa: E402
from load import Load, summary  # noqa: E402

DEADLINE = 2  # ACCOUNTD_DB_TIMEOUT for these runs, seconds


def holder(server):
    """The seeded member's first account and its account token, for token-checked reads."""
    answer = server.login(server.username, hostile.PASSWORD)
    token = answer.json()["data"][0]
    return token["account_id"], token["token"]


def read_load(server, extra_members=2, readers=6):
    account_id, token = holder(server)
    shopper = server.token("implicit")
    logins = []
    for index in range(extra_members):
        username = f"loader{index}@example.com"
        server.add_member(username)
        logins.append(
            (
                "/v2/account-members/tokens",
                {
                    "data": {
                        "type": "account_management_authentication_token",
                        "authentication_mechanism": "password",
                        "password_profile_id": server.profile,
                        "username": username,
                        "password": hostile.PASSWORD,
                    }
                },
                {"Authorization": f"Bearer {shopper}", "Content-Type": "application/json"},
            )
        )
    return Load(
        server.base,
        f"/v2/accounts/{account_id}",
        {
            "Authorization": f"Bearer {shopper}",
            "EP-Account-Management-Authentication-Token": token,
        },
        logins=logins,
        readers=readers,
    )


def only_503_with_retry_after(outcomes):
    bad = [o for o in outcomes if not (200 <= (o.status or 0) < 300)
           and not (o.status == 503 and o.retry_after)]
    return bad


def pg_restart():
    with Cluster() as cluster, Server(
        {"DATABASE_URL": cluster.url, "ACCOUNTD_DB_TIMEOUT": str(DEADLINE),
         "ACCOUNTD_RATE_LIMIT_PER_MINUTE": "0", "RUST_LOG": "warn"}
    ) as server:
        load = read_load(server).start()
        time.sleep(3)
        restart_began = time.monotonic()
        cluster.restart()
        accepting_at = time.monotonic()
        wait_until(cluster.accepting, 30)
        time.sleep(4)
        load.stop()
        outcomes = load.snapshot()
        bad = only_503_with_retry_after(outcomes)
        check(
            f"{len(outcomes)} requests across a PostgreSQL restart",
            not bad and not any(o.status == 500 for o in outcomes),
            "no 500; every failure 503 with Retry-After",
            f"{summary(outcomes)}; other than 2xx/503+Retry-After: {summary(bad)}",
        )
        reads_after = [o for o in outcomes if o.kind == "read" and o.started >= accepting_at
                       and o.status == 200]
        first_ok = min((o.finished for o in reads_after), default=None)
        recovery = None if first_ok is None else first_ok - accepting_at
        check(
            "reads after the database accepts connections again",
            recovery is not None and recovery <= 1.0,
            "the first read succeeds within 1 s",
            "never" if recovery is None else f"after {recovery:.3f} s "
            f"(the restart took {accepting_at - restart_began:.2f} s)",
        )
        failed = sum(1 for o in outcomes if o.status == 503)
        lines = len(re.findall(r"the database is unavailable", server.logs()))
        check(
            "log lines for the outage",
            lines <= 3,
            "one line per 10 s interval (with a count), not one per failed request",
            f"{lines} lines for {failed} refused requests",
        )


def pg_stall():
    stall_seconds = 8
    with Cluster() as cluster, Server(
        {"DATABASE_URL": cluster.url, "ACCOUNTD_DB_TIMEOUT": str(DEADLINE),
         "ACCOUNTD_RATE_LIMIT_PER_MINUTE": "0", "RUST_LOG": "warn"}
    ) as server:
        pid = server.process.pid
        load = read_load(server).start()
        time.sleep(2)
        stalled_at = time.monotonic()
        cluster.stall()
        time.sleep(DEADLINE + 1)
        probe_started = time.monotonic()
        try:
            ready = request(server.base, "GET", "/readyz", timeout=5)
            ready_status = ready.status
        except OSError as error:
            ready_status = repr(error)
        probe_took = time.monotonic() - probe_started
        check(
            "/readyz while the database is stalled",
            ready_status == 503 and probe_took <= 1.0,
            "503 within 1 s",
            f"{ready_status} after {probe_took:.3f} s",
        )
        time.sleep(max(0, stall_seconds - (time.monotonic() - stalled_at)))
        resumed_at = time.monotonic()
        cluster.resume()
        back = wait_until(lambda: request(server.base, "GET", "/readyz", timeout=5).status == 200, 10)
        time.sleep(3)
        load.stop()
        outcomes = load.snapshot()
        during = [o for o in outcomes if o.started >= stalled_at and o.finished <= resumed_at]
        slowest = max((o.latency for o in during), default=0.0)
        bad = only_503_with_retry_after(outcomes)
        check(
            f"{len(outcomes)} requests across an {stall_seconds} s stall",
            not bad,
            "no 500; every failure 503 with Retry-After",
            f"{summary(outcomes)}",
        )
        check(
            "requests that started and ended during the stall",
            during and slowest <= DEADLINE + 1.0,
            f"answered within the {DEADLINE} s deadline (+1 s)",
            f"{len(during)} requests, slowest {slowest:.2f} s",
        )
        overall = max(outcomes, key=lambda o: o.latency)
        check(
            "every request of the run, those in flight when the database stopped included",
            overall.latency <= DEADLINE + 1.0,
            f"answered within the {DEADLINE} s deadline (+1 s)",
            f"slowest {overall.latency:.2f} s ({overall.kind}, {overall.status})",
        )
        after = [o for o in outcomes if o.started >= resumed_at + 1 and o.kind == "read"]
        check(
            "after SIGCONT, same process",
            back and server.process.poll() is None and server.process.pid == pid
            and after and all(o.status == 200 for o in after),
            "ready again and every read 200, accountd never restarted",
            f"ready {back}, reads after {summary(after)}",
        )


def crash():
    work = tempfile.mkdtemp(prefix="accountd-crash-")
    database = os.path.join(work, "accountd.db")
    env = {"DATABASE_URL": f"sqlite://{database}?mode=rwc", "ACCOUNTD_RATE_LIMIT_PER_MINUTE": "0"}
    acknowledged = []
    lock = threading.Lock()
    with Server(env) as server:
        admin = server.token()
        stopping = threading.Event()

        def write(index):
            number = 0
            while not stopping.is_set():
                number += 1
                name = f"crash-{index}-{number}"
                try:
                    answer = request(server.base, "POST", "/v2/accounts",
                                     {"data": {"type": "account", "name": name}},
                                     {"Authorization": f"Bearer {admin}"}, timeout=5)
                except OSError:
                    return
                if answer.status == 201:
                    with lock:
                        acknowledged.append(answer.json()["data"]["id"])

        writers = [threading.Thread(target=write, args=(i,), daemon=True) for i in range(6)]
        for thread in writers:
            thread.start()
        time.sleep(3)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        stopping.set()
        for thread in writers:
            thread.join(timeout=10)
        with sqlite3.connect(database) as connection:
            integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        check("integrity after kill -9", integrity == "ok", "PRAGMA integrity_check = ok", integrity)
        restarted = Server(env, seed=False)
        restarted.database_path = database
        with restarted:
            admin = restarted.token()
            missing = [account for account in acknowledged
                       if restarted.admin("GET", f"/v2/accounts/{account}").status != 200]
            check(
                f"{len(acknowledged)} acknowledged writes after the restart",
                acknowledged and not missing,
                "every 201 present",
                f"{len(missing)} missing",
            )
    subprocess.run(["rm", "-rf", work], check=False)


def backup():
    with Server({"ACCOUNTD_RATE_LIMIT_PER_MINUTE": "0"}) as server:
        for index in range(20):
            server.admin("POST", "/v2/accounts", {"data": {"type": "account", "name": f"Backed {index}"}})
        before = server.admin("GET", "/v2/accounts?page[limit]=100").json()
        copy = os.path.join(server.work, "backup.db")
        load = read_load(server, extra_members=0, readers=2).start()
        taken = subprocess.run(
            [hostile.BINARY, "backup", copy],
            env={**os.environ, "DATABASE_URL": f"sqlite://{server.database_path}?mode=rwc"},
            capture_output=True, text=True, timeout=60,
        )
        load.stop()
        check("accountd backup while serving", taken.returncode == 0, "exit 0",
              f"exit {taken.returncode} {taken.stderr.strip()[-200:]}")
        mode = oct(os.stat(copy).st_mode & 0o777) if os.path.exists(copy) else "missing"
        check("the backup file", mode == "0o600", "readable by its owner only", mode)
        restored = Server({"DATABASE_URL": f"sqlite://{copy}?mode=rwc"}, seed=False)
        with restored:
            after = restored.admin("GET", "/v2/accounts?page[limit]=100").json()
            check(
                "a server on the restored copy",
                [a["id"] for a in after["data"]] == [a["id"] for a in before["data"]],
                "the same accounts",
                f"{after['meta']['results']['total']} of {before['meta']['results']['total']}",
            )
    with Cluster() as cluster:
        with Server({"DATABASE_URL": cluster.url}) as server:
            for index in range(10):
                server.admin("POST", "/v2/accounts", {"data": {"type": "account", "name": f"Dumped {index}"}})
            before = server.admin("GET", "/v2/accounts?page[limit]=100").json()
            dump = os.path.join(cluster.folder, "accountd.dump")
            dumped = cluster.tool("pg_dump", "-Fc", "-d", "accountd", "-f", dump)
        cluster.tool("createdb", "restored")
        restored_run = cluster.tool("pg_restore", "-d", "restored", "--no-owner", dump)
        check("pg_dump and pg_restore", dumped.returncode == 0 and restored_run.returncode == 0,
              "both exit 0", f"{dumped.returncode}, {restored_run.returncode}")
        url = cluster.url.rsplit("/", 1)[0] + "/restored"
        with Server({"DATABASE_URL": url}, seed=False) as restored:
            after = restored.admin("GET", "/v2/accounts?page[limit]=100").json()
            check(
                "a server on the restored PostgreSQL database",
                [a["id"] for a in after["data"]] == [a["id"] for a in before["data"]],
                "the same accounts",
                f"{after['meta']['results']['total']} of {before['meta']['results']['total']}",
            )


HAPROXY_CONFIG = """
global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
frontend api
    bind 127.0.0.1:{front}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 250ms fall 1 rise 2
    server a 127.0.0.1:{a} check
    server b 127.0.0.1:{b} check
"""


def rolling():
    """Two replicas on one PostgreSQL behind HAProxy; each is sent SIGTERM and started again in
    turn while the load runs, with the drain that a real deployment would use."""
    drain = 2
    env_of = lambda cluster: {  # noqa: E731
        "DATABASE_URL": cluster.url,
        "ACCOUNTD_RATE_LIMIT_PER_MINUTE": "0",
        "ACCOUNTD_SHUTDOWN_DRAIN": str(drain),
        "ACCOUNTD_JWT_SECRET": "rolling-restart-secret-of-at-least-32-bytes",
        "RUST_LOG": "warn",
    }
    with Cluster() as cluster:
        first = Server(env_of(cluster))
        second = Server(env_of(cluster), seed=False)
        first.__enter__()
        second.__enter__()
        replicas = [first, second]
        front = hostile.free_port()
        config = os.path.join(first.work, "haproxy.cfg")
        with open(config, "w") as out:
            out.write(HAPROXY_CONFIG.format(front=front, a=first.port, b=second.port))
        proxy = subprocess.Popen(["haproxy", "-f", config, "-db"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{front}"
            if not wait_until(lambda: _answers(base), 10):
                raise RuntimeError("HAProxy did not come up")
            through_proxy = Server.__new__(Server)
            through_proxy.__dict__.update(first.__dict__)
            through_proxy.base = base
            load = read_load(through_proxy).start()
            time.sleep(2)
            restarts = []
            for index, replica in enumerate(replicas):
                began = time.monotonic()
                replica.process.send_signal(signal.SIGTERM)
                code = replica.process.wait(timeout=60)
                replica.log.close()
                stopped_after = time.monotonic() - began
                fresh = Server(env_of(cluster), seed=False, port=replica.port)
                fresh.__enter__()
                replicas[index] = fresh
                # HAProxy takes it back after two good health checks.
                time.sleep(1.5)
                restarts.append((code, stopped_after))
            time.sleep(2)
            load.stop()
        finally:
            proxy.terminate()
            proxy.wait(timeout=10)
            for replica in replicas:
                replica.__exit__(None, None, None)
        outcomes = load.snapshot()
        failed = [o for o in outcomes if not (200 <= (o.status or 0) < 300)]
        check(
            f"{len(outcomes)} requests through HAProxy while both replicas restart in turn",
            outcomes and not failed,
            "not one failed",
            f"{summary(outcomes)}; failures {[(o.kind, o.status, o.error) for o in failed][:5]}",
        )
        check(
            "each replica after SIGTERM",
            all(code == 0 and took >= drain for code, took in restarts),
            f"drained {drain} s, then exited 0",
            ", ".join(f"exit {code} after {took:.1f} s" for code, took in restarts),
        )


def _answers(base):
    try:
        return request(base, "GET", "/healthz", timeout=2).status == 200
    except OSError:
        return False


SCENARIOS = {
    "rolling": rolling,
    "pg-restart": pg_restart,
    "pg-stall": pg_stall,
    "crash": crash,
    "backup": backup,
}

if __name__ == "__main__":
    chosen = sys.argv[1:] or list(SCENARIOS)
    for name in chosen:
        started = time.monotonic()
        print(f"--> {name}", flush=True)
        SCENARIOS[name]()
        print(f"    {name}: {time.monotonic() - started:.1f} s", flush=True)
    hostile.finish()
