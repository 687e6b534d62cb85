#!/usr/bin/env python3
"""The measurements behind bench/run: seeds a realistic store, measures the argon2id
bound, pgbench -S and the HTTP loads against a production-profile accountd on PostgreSQL, then prints the
target table and writes bench/results/latest.md and bench/results/latency.png.

bench/run builds, starts PostgreSQL, installs oha and creates the fresh database, then calls
this script; running it alone needs the same arguments. Standard library only, except
matplotlib for the plot (installed by bench/run in a venv outside the repository).
"""

import argparse
import base64
import datetime
import hashlib
import http.client
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import loadgen

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024

# Known credentials of the benchmark's own database; nothing here protects anything real.
CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-client-secret-not-for-production"
JWT_SECRET = "bench-jwt-secret-of-at-least-32-bytes!!"
PASSWORD = "bench-password-correct-horse"
TOKEN_TYPE = "account_management_authentication_token"

MEMBERS = 10_000
ACCOUNTS = 1_000
ROOT_ACCOUNTS = 100
# Member g belongs to 1 + g % 5 accounts; member 7 has 3, the member the loads act for.
LOAD_MEMBER = 7

# Per mode: step length in seconds, concurrency levels, startup repetitions, pgbench scale.
MODES = {
    "full": {
        "step": 10.0,
        # Target 2 and 3 ratios: rounds of (pgbench, read, switch, the three floors) back to back,
        # `round_step` seconds each; a ratio is the median over the rounds of a load's rate ÷ the
        # pgbench of its own round.
        "rounds": 3,
        "round_step": 5.0,
        # Target 1: per login concurrency, rounds of (the argon2id bound, then the logins) back
        # to back; the ratio is the median over the rounds of the logins ÷ the bound of their own
        # round. Three-second bounds back to back on an idle machine ranged from 82 to 102
        # verifies/s here, so one step against one bound decides nothing.
        "login_rounds": 5,
        "login_step": 8.0,
        "read_levels": [1, 4, 16, 64],
        "login_levels": [2, 8, 64],
        "isolation_read_level": 16,
        "startup_runs": 10,
        "pgbench_scale": 5,
        "argon2_seconds": 3.0,
    },
    "quick": {
        "step": 3.0,
        "rounds": 1,
        "round_step": 3.0,
        "login_rounds": 2,
        "login_step": 3.0,
        "read_levels": [1, 8, 64],
        "login_levels": [8, 64],
        "isolation_read_level": 8,
        "startup_runs": 5,
        "pgbench_scale": 1,
        "argon2_seconds": 2.0,
    },
}
TARGET_LOGIN_LEVELS = [8, 64]
# accountd's default ACCOUNTD_HASH_QUEUE_BOUND.
DEFAULT_HASH_QUEUE_BOUND = 256


def log(message):
    print(message, flush=True)


class Recorder:
    """Every command the run executes, as it can be pasted again (tokens shown as variables)."""

    def __init__(self):
        self.commands = []
        self.secrets = {}

    def hide(self, value, name):
        self.secrets[value] = "$" + name

    def note(self, argv):
        text = " ".join(shlex.quote(str(part)) for part in argv)
        for value, name in self.secrets.items():
            text = text.replace(value, name)
        text = text.replace(str(Path.home()), "~")
        if text not in self.commands:
            self.commands.append(text)
        return text


RECORDER = Recorder()


def server_env(env):
    """The variables of `env` that configure accountd, as `NAME=value` words."""
    return [f"{key}={value}" for key, value in sorted(env.items())
            if key.startswith("ACCOUNTD_") or key in ("DATABASE_URL", "RUST_LOG")]


def run(argv, env=None, capture=True, check=True, timeout=None):
    RECORDER.note(["env", *server_env(env), *argv] if env else argv)
    result = subprocess.run(
        [str(part) for part in argv],
        env=env,
        capture_output=capture,
        text=True,
        check=False,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        sys.stderr.write(result.stdout or "")
        sys.stderr.write(result.stderr or "")
        raise SystemExit(f"command failed ({result.returncode}): {argv[0]}")
    return result


# --------------------------------------------------------------------------------------------
# HTTP for set-up (not for load: oha does that)


def request(port, method, path, body=None, headers=None, form=None, timeout=30):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    sent = dict(headers or {})
    payload = None
    if form is not None:
        payload = "&".join(f"{key}={value}" for key, value in form.items())
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        payload = json.dumps(body)
        sent["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=payload, headers=sent)
        response = connection.getresponse()
        text = response.read().decode()
        parsed = json.loads(text) if text.startswith(("{", "[")) else text
        return response.status, parsed, dict(response.getheaders())
    finally:
        connection.close()


def expect(answer, status, what):
    got, body, _ = answer
    if got != status:
        raise SystemExit(f"{what}: expected {status}, got {got}: {body}")
    return body


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def login_body(profile_id, username, password):
    return {
        "data": {
            "type": TOKEN_TYPE,
            "authentication_mechanism": "password",
            "password_profile_id": profile_id,
            "username": username,
            "password": password,
        }
    }


SWITCH_BODY = {
    "data": {"type": TOKEN_TYPE, "authentication_mechanism": "account_management_authentication_token"}
}


# --------------------------------------------------------------------------------------------
# The server under test


def probe(port, path, timeout=0.5):
    """The status of GET path, or None while nothing listens."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


class Server:
    """One accountd process; samples its resident memory while it runs."""

    def __init__(self, binary, env, port, log_path):
        self.binary = binary
        self.env = dict(env, ACCOUNTD_LISTEN=f"127.0.0.1:{port}",
                        ACCOUNTD_MANAGEMENT_LISTEN=f"127.0.0.1:{management_port(port)}")
        self.port = port
        self.log_path = log_path
        self.process = None
        self.max_rss_kib = 0
        self._sampling = False
        self._sampler = None

    def start(self, timeout=30.0):
        """Starts the process and returns the seconds from exec to /readyz answering 200."""
        RECORDER.note(["env", *server_env(self.env), self.binary, "serve"])
        log_file = open(self.log_path, "ab")
        started = time.monotonic()
        self.process = subprocess.Popen(
            [str(self.binary), "serve"], env=self.env, stdout=log_file, stderr=log_file
        )
        log_file.close()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if probe(self.port, "/readyz") == 200:
                return time.monotonic() - started
            if self.process.poll() is not None:
                raise SystemExit(f"accountd exited with {self.process.returncode}; see {self.log_path}")
            time.sleep(0.001)
        raise SystemExit(f"accountd was not ready within {timeout} s; see {self.log_path}")

    def status_kib(self, field):
        try:
            with open(f"/proc/{self.process.pid}/status") as status:
                for line in status:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except (OSError, ValueError, AttributeError):
            pass
        return 0

    def sample_memory(self, every=0.2):
        self._sampling = True

        def sample():
            while self._sampling:
                self.max_rss_kib = max(self.max_rss_kib, self.status_kib("VmRSS"))
                time.sleep(every)

        self._sampler = threading.Thread(target=sample, daemon=True)
        self._sampler.start()

    def peak_rss_kib(self):
        """The kernel's high-water mark (VmHWM) and the sampled maximum agree up to sampling."""
        return max(self.max_rss_kib, self.status_kib("VmHWM"))

    def stop(self):
        self._sampling = False
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --------------------------------------------------------------------------------------------
# Seeding


def sql(database_url, text):
    RECORDER.note(["psql", database_url, "-f", "<seed SQL in bench/bench.py>"])
    result = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", database_url],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"psql failed: {result.stderr}")
    return result.stdout


def first_start(port):
    """The admin bearer (client credentials), the storefront bearer (implicit) and the realm of
    a server on a freshly migrated store."""
    admin = expect(
        request(
            port,
            "POST",
            "/oauth/access_token",
            form={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        ),
        200,
        "admin token",
    )["access_token"]
    implicit = expect(
        request(port, "POST", "/oauth/access_token", form={"grant_type": "implicit", "client_id": CLIENT_ID}),
        200,
        "implicit token",
    )["access_token"]
    RECORDER.hide(admin, "ADMIN_BEARER")
    RECORDER.hide(implicit, "BEARER")
    settings = expect(
        request(port, "GET", "/v2/settings/account-authentication", headers=bearer(implicit)),
        200,
        "settings",
    )
    realm = settings["data"]["relationships"]["authentication_realm"]["data"]["id"]
    return admin, implicit, realm


def create_password_profile(port, admin, realm, name="Storefront logins"):
    return expect(
        request(
            port,
            "POST",
            f"/v2/authentication-realms/{realm}/password-profiles",
            body={"data": {"type": "password_profile", "name": name}},
            headers=bearer(admin),
        ),
        201,
        "password profile",
    )["data"]["id"]


def create_member_with_password(port, admin, realm, profile, name, email, password):
    """A member with a login under `profile` whose username is its email; returns its id. The
    stored hash is accountd's own argon2id PHC string of `password`."""
    member = expect(
        request(
            port,
            "POST",
            f"/v2/authentication-realms/{realm}/user-authentication-info",
            body={"data": {"type": "user_authentication_info", "name": name, "email": email}},
            headers=bearer(admin),
        ),
        201,
        f"member {email}",
    )["data"]["id"]
    expect(
        request(
            port,
            "POST",
            f"/v2/authentication-realms/{realm}/user-authentication-info/{member}"
            "/user-authentication-password-profile-info",
            body={
                "data": {
                    "type": "user_authentication_password_profile_info",
                    "password_profile_id": profile,
                    "username": email,
                    "password": password,
                }
            },
            headers=bearer(admin),
        ),
        201,
        f"password of {email}",
    )
    return member


def seed(port, database_url):
    """10,000 members with a password, 1,000 accounts (100 roots with 9 children each), 1–5
    memberships per member. The first-start records, the password profile and one template
    member come through the API, so the password hash is accountd's own argon2id PHC string;
    the bulk goes straight into the schema with SQL, every member sharing that hash (each
    login still costs a full argon2id verification)."""
    admin, implicit, realm = first_start(port)
    profile = create_password_profile(port, admin, realm)
    create_member_with_password(port, admin, realm, profile, "Template", "template@bench.example", PASSWORD)
    now = int(time.time() * 1000)
    sql(
        database_url,
        f"""
BEGIN;
CREATE TEMP TABLE template_hash AS
  SELECT password_hash FROM password_profile_infos WHERE username_lower = 'template@bench.example';
DELETE FROM users WHERE email_lower = 'template@bench.example';

INSERT INTO accounts (id, name, legal_name, registration_id, external_ref, parent_id, ancestor_ids,
                      created_at, updated_at)
SELECT md5('account-' || a)::uuid, 'Account ' || a, 'Account ' || a || ' Ltd', 'REG-' || a, NULL,
       NULL, '', {now} + a, {now} + a
FROM generate_series(1, {ROOT_ACCOUNTS}) a;
INSERT INTO accounts (id, name, legal_name, registration_id, external_ref, parent_id, ancestor_ids,
                      created_at, updated_at)
SELECT md5('account-' || a)::uuid, 'Account ' || a, NULL, 'REG-' || a, 'ext-' || a,
       md5('account-' || (1 + (a - {ROOT_ACCOUNTS + 1}) % {ROOT_ACCOUNTS}))::uuid,
       md5('account-' || (1 + (a - {ROOT_ACCOUNTS + 1}) % {ROOT_ACCOUNTS}))::uuid::text,
       {now} + a, {now} + a
FROM generate_series({ROOT_ACCOUNTS + 1}, {ACCOUNTS}) a;

INSERT INTO users (id, name, email, email_lower, given_name, middle_name, family_name,
                   tokens_valid_after, created_at, updated_at)
SELECT md5('member-' || g)::uuid, 'Member ' || g, 'member' || g || '@bench.example',
       'member' || g || '@bench.example', 'Member', NULL, 'No. ' || g, 0, {now} + g, {now} + g
FROM generate_series(1, {MEMBERS}) g;
INSERT INTO password_profile_infos (id, user_id, password_profile_id, username, username_lower,
                                    password_hash, created_at, updated_at)
SELECT md5('info-' || g)::uuid, md5('member-' || g)::uuid, '{profile}'::uuid,
       'member' || g || '@bench.example', 'member' || g || '@bench.example',
       (SELECT password_hash FROM template_hash), {now}, {now}
FROM generate_series(1, {MEMBERS}) g;
INSERT INTO account_memberships (id, account_id, account_member_id, created_at, updated_at)
SELECT md5('membership-' || g || '-' || j)::uuid,
       md5('account-' || (1 + (g * 7 + j * 131) % {ACCOUNTS}))::uuid,
       md5('member-' || g)::uuid, {now} + g, {now} + g
FROM generate_series(1, {MEMBERS}) g, generate_series(0, 4) j
WHERE j < 1 + g % 5;
COMMIT;
ANALYZE;
""",
    )
    counts = sql(
        database_url,
        "\\pset format unaligned\n\\pset tuples_only on\n"
        "SELECT (SELECT count(*) FROM users) || ' ' || (SELECT count(*) FROM accounts) || ' ' ||"
        " (SELECT count(*) FROM account_memberships);",
    ).split()
    log(f"  seeded {counts[0]} members, {counts[1]} accounts, {counts[2]} memberships")

    username = f"member{LOAD_MEMBER}@bench.example"
    login = expect(
        request(port, "POST", "/v2/account-members/tokens", body=login_body(profile, username, PASSWORD),
                headers=bearer(implicit)),
        201,
        "login of the load member",
    )
    tokens = login["data"]
    if len(tokens) != 3:
        raise SystemExit(f"the load member should have 3 memberships, has {len(tokens)}")
    account_token = tokens[0]["token"]
    RECORDER.hide(account_token, "ACCOUNT_TOKEN")
    return {
        "implicit": implicit,
        "profile": profile,
        "username": username,
        "account_id": tokens[0]["account_id"],
        "account_token": account_token,
        "memberships": len(tokens),
        "counts": [int(count) for count in counts],
    }


# --------------------------------------------------------------------------------------------
# Load


def oha(binary, url, concurrency, seconds, method="GET", headers=(), body=None, qps=None, breakdown=False):
    """One bounded oha run; returns throughput (2xx answers per second), latency percentiles
    (ms, of every answer; with `breakdown` also of 2xx and other answers apart) and the status
    mix. `-w` lets requests in flight at the deadline finish instead of counting as errors."""
    argv = [binary, "--no-tui", "--output-format", "json", "-z", f"{seconds}s", "-w", "-c", str(concurrency)]
    if qps:
        argv += ["-q", str(qps)]
    if breakdown:
        argv.append("--stats-success-breakdown")
    argv += ["-m", method]
    for header in headers:
        argv += ["-H", header]
    if body is not None:
        argv += ["-T", "application/json", "-d", json.dumps(body, separators=(",", ":"))]
    argv.append(url)
    result = run(argv, timeout=seconds + 120)
    data = json.loads(result.stdout)
    statuses = {int(code): count for code, count in data.get("statusCodeDistribution", {}).items()}
    errors = sum(data.get("errorDistribution", {}).values())
    def ms(key, table="latencyPercentiles"):
        value = (data.get(table) or {}).get(key)
        return None if value is None else value * 1000

    ok = sum(count for code, count in statuses.items() if 200 <= code < 300)
    total_seconds = data["summary"]["total"]
    return {
        "concurrency": concurrency,
        "rps": ok / total_seconds if total_seconds else 0.0,
        "p50": ms("p50"),
        "p99": ms("p99"),
        "statuses": statuses,
        "failures": sum(count for code, count in statuses.items() if not 200 <= code < 300) + errors,
        "errors": data.get("errorDistribution", {}),
        "seconds": total_seconds,
        "ok_p50": ms("p50", "latencyPercentilesSuccessful"),
        "ok_p99": ms("p99", "latencyPercentilesSuccessful"),
        "other_p50": ms("p50", "latencyPercentilesNotSuccessful"),
        "other_p99": ms("p99", "latencyPercentilesNotSuccessful"),
    }


class Floor:
    """examples/http_floor: behind the barest axum endpoint, pgbench's `-S` statement on the same
    lean pool as accountd (`/1`: no token-checked read can beat it, so `floor ÷ pgbench` is the
    ceiling of target 2 on this stack and machine) and, given `holder_read`, accountd's own store
    calls for the benchmark's read (`/holder`: the read minus accountd's HTTP layer) and switch
    (`/switch`: the switch minus its HTTP layer and its JWTs)."""

    def __init__(self, binary, database_url, port, log_path, holder_read=()):
        self.port = port
        argv = [str(binary), database_url, f"127.0.0.1:{port}", *holder_read]
        RECORDER.note(argv)
        log_file = open(log_path, "ab")
        self.process = subprocess.Popen(argv, stdout=log_file, stderr=log_file)
        log_file.close()
        deadline = time.monotonic() + 30
        while probe(port, "/1") != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("examples/http_floor did not answer; see the accountd log")
            time.sleep(0.01)

    def measure(self, concurrency, seconds, path="/1"):
        return oha(ARGS.oha, f"http://127.0.0.1:{self.port}{path}", concurrency, seconds)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


def jwt_part(token, index):
    """One part of a compact JWT (0: header, 1: claims), decoded without verification."""
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def jwt_header(token):
    return jwt_part(token, 0)


def holder_read_args(seed_data):
    """What `http_floor`'s `/holder` needs to make the benchmark's own token-checked read: the
    bearer's SHA-256 (as the store keeps it) and the account token's claims, read here without
    verification (the floor's store checks them against the database like the real read)."""
    claims = jwt_part(seed_data["account_token"], 1)
    bearer_hash = hashlib.sha256(seed_data["implicit"].encode()).hexdigest()
    return [bearer_hash, claims["sub"], claims["scope"], str(claims["iat"]), seed_data["account_id"]]


def paired_rounds(level, rounds, seconds, cores, loads):
    """`rounds` times pgbench -S and then every load, back to back. `loads` are callables that run
    one step each and return their rows by name. Each load's ratio is the median over the rounds
    of its rate ÷ the pgbench figure of its own round, so a machine that drifts during the run
    moves both sides of a ratio together. The round with the median ratio stands for the load
    (its latencies); failures add up over all rounds. Returns the pgbench row of the read's
    median round and the rows by name."""
    bases, steps = [], {}
    for _ in range(rounds):
        bases.append(pgbench(ARGS.database_url, level, seconds, cores))
        for load in loads:
            for name, row in load().items():
                steps.setdefault(name, []).append(row)

    def representative(rows):
        ratios = [row["rps"] / base["tps"] for row, base in zip(rows, bases)]
        middle = sorted(range(len(rows)), key=lambda index: ratios[index])[len(rows) // 2]
        return dict(rows[middle], ratio=ratios[middle], pgbench_tps=bases[middle]["tps"],
                    round_ratios=ratios, failures=sum(row["failures"] for row in rows)), middle

    chosen = {name: representative(rows) for name, rows in steps.items()}
    return bases[chosen["read"][1]], {name: row for name, (row, _) in chosen.items()}


def median_round(rows):
    """Login rounds of one concurrency: the round with the median ratio of logins ÷ its own bound
    stands for them (its rate and latencies); failures add up over all rounds and fairness is
    judged on the worst round."""
    ratios = [row["rps"] / row["bound"] for row in rows]
    middle = sorted(range(len(rows)), key=lambda index: ratios[index])[len(rows) // 2]
    spreads = [row["p99"] / row["p50"] if row["p50"] else float("inf") for row in rows]
    worst = max(range(len(rows)), key=lambda index: spreads[index])
    return dict(rows[middle], ratio=ratios[middle], round_ratios=ratios,
                round_rates=[row["rps"] for row in rows], round_bounds=[row["bound"] for row in rows],
                worst_p50=rows[worst]["p50"], worst_p99=rows[worst]["p99"],
                failures=sum(row["failures"] for row in rows))


def floor_steps(level, seconds, holder_read, log_path):
    """One step on each floor. The floor process lives for its own steps only, so its connections
    never sit beside pgbench's."""
    floor = Floor(ARGS.floor_binary, ARGS.database_url, ARGS.port + 3, log_path, holder_read)
    try:
        return {"floor": floor.measure(level, seconds), "store_floor": floor.measure(level, seconds, "/holder"),
                "switch_floor": floor.measure(level, seconds, "/switch")}
    finally:
        floor.stop()


def pgbench(database_url, concurrency, seconds, cores):
    argv = ["pgbench", "-n", "-S", "-M", "prepared", "-c", str(concurrency), "-j", str(min(concurrency, cores)),
            "-T", str(int(round(seconds))), database_url]
    output = run(argv, timeout=seconds + 120).stdout
    tps = None
    latency = None
    for line in output.splitlines():
        if line.startswith("tps =") and "without initial connection" in line:
            tps = float(line.split()[2])
        if line.startswith("latency average ="):
            latency = float(line.split()[3])
    if tps is None:
        raise SystemExit(f"cannot read pgbench output:\n{output}")
    return {"concurrency": concurrency, "tps": tps, "latency_ms": latency}


def argon2_bound(binary, threads, seconds):
    output = run([binary, str(threads), str(seconds)], timeout=seconds + 120).stdout
    return json.loads(output.strip().splitlines()[-1])


def login_username(index):
    """Login client `index` acts for a member of its own (every seeded member has the benchmark's
    password), so no pair key of the throttle ever sees two attempts in progress."""
    return f"member{100 + index % (MEMBERS - 100)}@bench.example"


def logins(port, seed_data, clients, seconds, qps=None):
    """Password logins from `clients` clients, each with its own username and loopback source
    address (bench/loadgen.py): the throttle's pair and address keys never refuse one, so the
    figure is the hash pool's, not the throttle's."""
    RECORDER.note(["bench/loadgen.py", f"{clients} clients, each its own member and 127.0.x.y address",
                   "POST /v2/account-members/tokens password login", f"{seconds}s"]
                  + ([f"{qps}/s offered"] if qps else []))
    return loadgen.logins(port, seed_data["implicit"], seed_data["profile"], login_username, PASSWORD,
                          clients, seconds, qps=qps)


def queue_bound_check(port, seed_data, clients, seconds, qps):
    """Logins offered at `qps` (several times what the pool verifies) from `clients` clients at a
    server with a small queue bound keep the pool busy and the queue full: those that find it full
    must get 503 with Retry-After straight away, not after waiting for a hash. Every answer is
    timed and its headers read. The offered rate is bounded so that clients retrying in a tight
    loop do not turn the check into a CPU benchmark."""
    load = logins(port, seed_data, clients, seconds, qps=qps)
    busy = load["statuses"].get(503, 0)
    return {
        "clients": clients,
        "qps": qps,
        "created": load["statuses"].get(201, 0),
        "busy": busy,
        "other": load["failures"] - busy,
        "created_p50_ms": load["ok_p50"],
        "busy_p50_ms": load["other_p50"],
        "busy_p99_ms": load["other_p99"],
        "probes": busy,
        "busy_probes": busy,
        "busy_probes_with_retry_after": load["refused_with_retry_after"],
    }


def management_port(port):
    """Each server's management listener, where /metrics is served: its API port + 1000."""
    return port + 1000


def scrape(port):
    status, text, _ = request(management_port(port), "GET", "/metrics")
    return text if status == 200 else ""


def metric(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def hash_work(text):
    """Seconds the hash pool has worked and hashes it has done, from /metrics."""
    return (metric(text, "accountd_hash_work_seconds_sum") or 0.0,
            metric(text, "accountd_hash_work_seconds_count") or 0.0)


def ms_per_verify(before, after):
    done = after[1] - before[1]
    return (after[0] - before[0]) / done * 1000 if done else None


# --------------------------------------------------------------------------------------------
# Report


def machine_facts():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = "unknown"
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    memory = f"{int(line.split()[1]) // 1024} MiB"
                    break
    except OSError:
        pass

    def output(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return "unknown"

    load = os.getloadavg()
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model,
        "memory": memory,
        "kernel": platform.release(),
        "rustc": output(["rustc", "--version"]),
        "postgres": output(["psql", "-X", "-At", "-c", "SHOW server_version", ARGS.database_url])
        or output(["pgbench", "--version"]),
        "oha": output([ARGS.oha, "--version"]),
        "commit": output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
        + (" (uncommitted changes)" if output(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"]) else ""),
        "load_before": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    }


def fmt(value, digits=1):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def verdict(ok):
    return "PASS" if ok else "FAIL"


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (reads, logins) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, rows, style in [
        ("token-checked read", results["reads"], "o"),
        ("switch (3 memberships)", results["switches"], "s"),
    ]:
        levels = [row["concurrency"] for row in rows]
        reads.plot(levels, [row["p50"] for row in rows], marker=style, label=f"{name} p50")
        reads.plot(levels, [row["p99"] for row in rows], marker=style, linestyle="--", label=f"{name} p99")
    levels = [row["concurrency"] for row in results["pgbench"]]
    reads.plot(levels, [row["latency_ms"] for row in results["pgbench"]], marker="^", color="grey",
               label="pgbench -S mean")
    reads.plot(levels, [row["p50"] for row in results["floor"]], marker="v", color="black",
               linestyle=":", label="HTTP floor p50")
    reads.plot(levels, [row["p50"] for row in results["store_floor"]], marker="<", color="dimgrey",
               linestyle=":", label="store floor p50")
    reads.set_title("Reads and switches")
    logins.set_title("Password logins (argon2id)")
    rows = results["logins"]
    levels = [row["concurrency"] for row in rows]
    logins.plot(levels, [row["p50"] for row in rows], marker="o", label="login p50")
    logins.plot(levels, [row["p99"] for row in rows], marker="o", linestyle="--", label="login p99")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    for axis, rows in ((reads, results["reads"]), (logins, results["logins"])):
        axis.set_xscale("log", base=2)
        axis.set_xticks([row["concurrency"] for row in rows])
        axis.xaxis.set_major_formatter(ScalarFormatter())
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_yscale("log")
        axis.set_xlabel("concurrent clients")
        axis.set_ylabel("latency (ms)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    label = "SMOKE RUN (--quick, busy machine)" if results["mode"] == "quick" else "full run"
    figure.suptitle(f"accountd latency vs concurrency — {results['date']} — {label}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def report(results, rows, path):
    facts = results["facts"]
    lines = []
    quick = results["mode"] == "quick"
    lines.append(f"# accountd benchmark — {results['date']}")
    lines.append("")
    if quick:
        lines.append(
            "> **Smoke run** (`bench/run --quick`, a few seconds per step) on a busy shared machine: it "
            "proves the harness works; the figures are noisy and not the verdict. A full run "
            "(`bench/run`) on a quiet machine replaces this file."
        )
    else:
        lines.append("> Full run (`bench/run`).")
    lines.append("")
    lines.append("## Targets")
    lines.append("")
    lines.append("| # | Figure | Measured | Target | Result |")
    lines.append("| --- | --- | --- | --- | --- |")
    for row in rows:
        lines.append(f"| {row[0]} | {row[1]} | {row[2]} | {row[3]} | {row[4]} |")
    lines.append("")
    for warning in warnings(results):
        lines.append(f"> **Noise:** {warning}")
        lines.append("")
    lines.append("![latency versus concurrency](latency.png)")
    lines.append("")
    lines.append("## Details")
    lines.append("")
    bound = results["argon2"]
    lines.append(
        f"argon2id bound: {bound['threads']} threads (the hash pool's size), "
        f"{fmt(bound['verifies_per_second'])} verifies/s over {bound['seconds']} s at best (measured "
        f"{len(results['argon2_runs'])} times, right before each login round: "
        f"{', '.join(fmt(rate) for rate in results['argon2_runs'])}); one thread alone "
        f"{bound['single_thread_seconds_per_verify'] * 1000:.1f} ms per verify, so the ideal "
        f"{bound['threads']} ÷ t would be {fmt(bound['ideal_verifies_per_second'])}/s "
        f"(parallel efficiency {bound['verifies_per_second'] / bound['ideal_verifies_per_second']:.2f})."
    )
    lines.append("")
    rounds = len(results["reads"][0]["round_ratios"])
    lines.append(
        f"Ratios of targets 2 and 3 and of the floors: {rounds} round(s) per concurrency of pgbench -S, "
        "the read, the switch and the three floors back to back; each ratio is the median over the rounds "
        "of the load's rate ÷ the pgbench figure of its own round (all rounds listed below), and the "
        "round with the median ratio gives the rates and latencies shown."
    )
    lines.append("")
    lines.append(
        "Floors, measured in the rounds with `examples/http_floor` behind the barest axum endpoint "
        "(no authentication, no JSON, no middleware), loaded by oha like the reads. The HTTP floor runs "
        "pgbench's own `-S` statement on the lean pool accountd uses: nothing that answers over HTTP and "
        "asks PostgreSQL once per request beats it on this stack and machine. The store floor makes "
        "accountd's own store call for the same token-checked read (bearer check, token liveness and "
        "the account row in one statement, batched under load): what is left between it and the read "
        "is accountd's HTTP layer (header parsing, JWT verification, middleware, JSON). The switch floor "
        "makes accountd's store call for the switch (the same checks, the settings and the member's "
        "accounts in one statement): the switch minus its HTTP layer and the JWTs it mints."
    )
    lines.append("")
    lines.append("| Concurrency | pgbench -S tps | HTTP floor req/s (of pgbench) | store floor req/s (of pgbench) | read req/s | read/pgbench | read/store floor | read p50 / p99 ms | switch floor req/s (of pgbench) | switch req/s | switch/pgbench | switch/switch floor | switch p50 / p99 ms |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for base, floor, store_floor, read, switch_floor, switch in zip(
            results["pgbench"], results["floor"], results["store_floor"], results["reads"],
            results["switch_floor"], results["switches"]):
        lines.append(
            f"| {base['concurrency']} | {fmt(base['tps'], 0)} | {fmt(floor['rps'], 0)} "
            f"({floor['ratio']:.0%}: {', '.join(f'{ratio:.0%}' for ratio in floor['round_ratios'])}) | "
            f"{fmt(store_floor['rps'], 0)} "
            f"({store_floor['ratio']:.0%}: {', '.join(f'{ratio:.0%}' for ratio in store_floor['round_ratios'])}) | "
            f"{fmt(read['rps'], 0)} | "
            f"{read['ratio']:.1%} ({', '.join(f'{ratio:.0%}' for ratio in read['round_ratios'])}) | "
            f"{read['ratio'] / store_floor['ratio']:.0%} | "
            f"{fmt(read['p50'], 2)} / {fmt(read['p99'], 2)} | "
            f"{fmt(switch_floor['rps'], 0)} "
            f"({switch_floor['ratio']:.0%}: {', '.join(f'{ratio:.0%}' for ratio in switch_floor['round_ratios'])}) | "
            f"{fmt(switch['rps'], 0)} | "
            f"{switch['ratio']:.1%} ({', '.join(f'{ratio:.0%}' for ratio in switch['round_ratios'])}) | "
            f"{switch['ratio'] / switch_floor['ratio']:.0%} | "
            f"{fmt(switch['p50'], 2)} / {fmt(switch['p99'], 2)} |"
        )
    lines.append("")
    bare_ms = sorted(bound["threads"] / rate * 1000 for rate in results["argon2_runs"])
    lines.append(
        f"Logins: \"ms per verify\" is the hash pool's own work time per argon2id verification during "
        f"the step (from /metrics); the bare loop took {bare_ms[0]:.1f}–{bare_ms[-1]:.1f} ms per verify "
        "per thread over its measurements. Equal "
        "figures with the rate below the bound mean the pool was busy throughout and lost only to the "
        "rest of each login sharing the cores."
    )
    lines.append("")
    lines.append(
        f"Each login concurrency ran {len(results['logins'][0]['round_ratios'])} rounds of the argon2id "
        "bound (server idle) and then the logins; the median round stands for it (its rate, bound and "
        "latencies), every round is listed as logins/s ÷ bound/s, fairness is the worst round's."
    )
    lines.append("")
    lines.append("| Login concurrency | logins/s | bound /s | of bound | every round | ms per verify | p50 ms | p99 ms | worst p99/p50 | non-201 |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for login in results["logins"]:
        every = ", ".join(f"{fmt(rate, 0)}/{fmt(bound, 0)} = {rate / bound:.0%}"
                          for rate, bound in zip(login["round_rates"], login["round_bounds"]))
        lines.append(
            f"| {login['concurrency']} | {fmt(login['rps'])} | {fmt(login['bound'])} | "
            f"{login['ratio']:.1%} | {every} | {fmt(login['pool_ms_per_verify'])} | "
            f"{fmt(login['p50'])} | {fmt(login['p99'])} | "
            f"{login['worst_p99'] / login['worst_p50']:.2f} | {login['failures']} |"
        )
    lines.append("")
    iso = results["isolation"]
    lines.append(
        f"Isolation: {iso['login_concurrency']} clients logging in (the pool saturated: "
        f"{fmt(iso['logins']['rps'])} logins/s, hash queue depth {fmt(iso['queue_depth'], 0)} mid-run); "
        f"meanwhile /healthz at {iso['healthz_qps']}/s answered p50 {fmt(iso['healthz']['p50'], 2)} ms, "
        f"p99 {fmt(iso['healthz']['p99'], 2)} ms, and token-checked reads at concurrency "
        f"{iso['read_concurrency']} ran {fmt(iso['reads']['rps'], 0)} req/s against "
        f"{fmt(iso['unloaded_rps'], 0)} unloaded."
    )
    lines.append("")
    queue = results["queue"]
    lines.append(
        f"Queue bound: ACCOUNTD_HASH_QUEUE_BOUND={queue['bound']}, logins offered at {queue['qps']}/s "
        f"from {queue['clients']} clients (each its own member and address; ACCOUNTD_HASH_QUEUE_SHARE=4, "
        "so only the bound refuses): "
        f"{queue['created']} × 201 (p50 {fmt(queue['created_p50_ms'])} ms), {queue['busy']} × 503 "
        f"(p50 {fmt(queue['busy_p50_ms'])} ms, p99 {fmt(queue['busy_p99_ms'])} ms), {queue['other']} other; "
        f"{queue['busy_probes_with_retry_after']} of {queue['busy_probes']} 503s carried Retry-After."
    )
    lines.append("")
    startup = results["startup_ms"]
    lines.append(
        f"Start-up (exec → /readyz 200, migrated database), {len(startup)} runs in ms: "
        + ", ".join(f"{value:.0f}" for value in startup)
        + "."
    )
    lines.append("")
    lines.append(
        f"Store: {results['seed']['counts'][0]:,} members, {results['seed']['counts'][1]:,} accounts, "
        f"{results['seed']['counts'][2]:,} memberships; loads act for a member of "
        f"{results['seed']['memberships']} accounts. pgbench scale {results['pgbench_scale']} in the same "
        "database on the same server. Per-address rate limit disabled (ACCOUNTD_RATE_LIMIT_PER_MINUTE=0); "
        "one client address may hold the whole hash queue (ACCOUNTD_HASH_QUEUE_SHARE equal to the bound), "
        "since oha's loads come from one address; logins come from bench/loadgen.py, each client with its "
        "own member and 127.0.x.y source address, so the login throttle (per pair and per address, "
        "attempts in progress counted) never refuses one and the login figures are the hash pool's. "
        f"Every load generator runs on the same {facts['nproc']} cores as accountd and PostgreSQL, loopback only."
    )
    lines.append("")
    lines.append("## Machine")
    lines.append("")
    for key in ["nproc", "cpu", "memory", "kernel", "rustc", "postgres", "oha", "commit", "load_before"]:
        label = {"load_before": "load average before the run"}.get(key, key)
        lines.append(f"- {label}: {facts[key]}")
    lines.append("")
    lines.append("## Commands")
    lines.append("")
    lines.append(f"`bench/run{' --quick' if quick else ''}` ran, in order (tokens as variables):")
    lines.append("")
    lines.append("```sh")
    lines.extend(results["commands"])
    lines.append("```")
    lines.append("")
    path.write_text("\n".join(lines))


# --------------------------------------------------------------------------------------------
# The run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=sorted(MODES), default="full")
    parser.add_argument("--binary", required=True)
    parser.add_argument("--bound-binary", required=True)
    parser.add_argument("--floor-binary", required=True)
    parser.add_argument("--oha", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--results", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--work", default="/tmp/accountd-bench")
    parser.add_argument("--port", type=int, default=18080)
    global ARGS
    ARGS = parser.parse_args()
    mode = MODES[ARGS.mode]
    results_dir = Path(ARGS.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    work = Path(ARGS.work)
    work.mkdir(parents=True, exist_ok=True)
    cores = len(os.sched_getaffinity(0)) or 1
    facts = machine_facts()
    results = {"mode": ARGS.mode, "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
               "facts": facts, "pgbench_scale": mode["pgbench_scale"]}

    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": ARGS.database_url,
            "ACCOUNTD_CLIENT_ID": CLIENT_ID,
            "ACCOUNTD_CLIENT_SECRET": CLIENT_SECRET,
            "ACCOUNTD_JWT_SECRET": JWT_SECRET,
            # The per-address rate limit would throttle a load generator on one address.
            "ACCOUNTD_RATE_LIMIT_PER_MINUTE": "0",
            # oha's loads come from one address, whose share of the hash queue would otherwise be
            # a quarter of the bound.
            "ACCOUNTD_HASH_QUEUE_SHARE": str(DEFAULT_HASH_QUEUE_BOUND),
            "RUST_LOG": os.environ.get("RUST_LOG", "info"),
        }
    )
    RECORDER.hide(CLIENT_SECRET, "ACCOUNTD_CLIENT_SECRET")
    RECORDER.hide(JWT_SECRET, "ACCOUNTD_JWT_SECRET")
    RECORDER.hide(PASSWORD, "BENCH_PASSWORD")
    log("==> the per-address rate limit is disabled: ACCOUNTD_RATE_LIMIT_PER_MINUTE=0")
    log(f"==> one address may hold the whole hash queue: ACCOUNTD_HASH_QUEUE_SHARE={DEFAULT_HASH_QUEUE_BOUND} "
        "(the default bound; the share's own figure is bench/hash_share.py's)")
    log("==> logins come from bench/loadgen.py: each client its own member and 127.0.x.y address, so the "
        "login throttle never refuses one")
    for key in ["ACCOUNTD_HASH_POOL_SIZE", "ACCOUNTD_HASH_QUEUE_BOUND"]:
        env.pop(key, None)  # The defaults are what the targets are about.
    log_path = work / "accountd.log"
    log_path.write_text("")

    log("==> accountd migrate")
    run([ARGS.binary, "migrate"], env=env)

    server = Server(ARGS.binary, env, ARGS.port, log_path)
    server.start()
    server.sample_memory()
    base = f"http://127.0.0.1:{ARGS.port}"
    try:
        log("==> seeding")
        seed_data = seed(ARGS.port, ARGS.database_url)
        results["seed"] = seed_data
        read_headers = [f"Authorization: Bearer {seed_data['implicit']}",
                        f"EP-Account-Management-Authentication-Token: {seed_data['account_token']}"]
        read_url = f"{base}/v2/accounts/{seed_data['account_id']}"
        switch_url = f"{base}/v2/account-members/tokens"

        log(f"==> pgbench -i -s {mode['pgbench_scale']}")
        run(["pgbench", "-i", "-q", "-s", str(mode["pgbench_scale"]), ARGS.database_url])

        # Warm the connection pools and caches once; not measured.
        oha(ARGS.oha, read_url, 16, 1.0, headers=read_headers)

        results["pgbench"], results["reads"], results["switches"] = [], [], []
        results["floor"], results["store_floor"], results["switch_floor"] = [], [], []
        holder_read = holder_read_args(seed_data)
        for level in mode["read_levels"]:
            log(f"==> concurrency {level}: {mode['rounds']} × (pgbench -S, token-checked read, switch, "
                f"HTTP floor, store floor, switch floor) ({mode['round_step']} s each)")
            baseline, steps = paired_rounds(
                level, mode["rounds"], mode["round_step"], cores,
                [
                    lambda: {"read": oha(ARGS.oha, read_url, level, mode["round_step"], headers=read_headers)},
                    lambda: {"switch": oha(ARGS.oha, switch_url, level, mode["round_step"], method="POST",
                                           headers=[read_headers[0], read_headers[1]], body=SWITCH_BODY)},
                    lambda: floor_steps(level, mode["round_step"], holder_read, log_path),
                ],
            )
            read, switch = steps["read"], steps["switch"]
            results["pgbench"].append(baseline)
            results["reads"].append(read)
            results["switches"].append(switch)
            results["floor"].append(steps["floor"])
            results["store_floor"].append(steps["store_floor"])
            results["switch_floor"].append(steps["switch_floor"])
            if results["store_floor"][-1]["failures"] or results["switch_floor"][-1]["failures"]:
                raise SystemExit("the store or switch floor's token-checked calls failed; see the accountd log")
            log(
                f"  pgbench {baseline['tps']:.0f} tps, read {read['rps']:.0f} req/s "
                f"({', '.join(f'{ratio:.0%}' for ratio in read['round_ratios'])} of pgbench), "
                f"switch {switch['rps']:.0f} req/s "
                f"({', '.join(f'{ratio:.0%}' for ratio in switch['round_ratios'])}), "
                f"HTTP floor {results['floor'][-1]['rps']:.0f} req/s "
                f"({', '.join(f'{ratio:.0%}' for ratio in results['floor'][-1]['round_ratios'])}), "
                f"store floor {results['store_floor'][-1]['rps']:.0f} req/s "
                f"({', '.join(f'{ratio:.0%}' for ratio in results['store_floor'][-1]['round_ratios'])}), "
                f"switch floor {results['switch_floor'][-1]['rps']:.0f} req/s "
                f"({', '.join(f'{ratio:.0%}' for ratio in results['switch_floor'][-1]['round_ratios'])})"
            )

        # The bound is measured with the server idle right before each login step, and each step
        # is judged against its own round's bound, as the reads are against their round's pgbench.
        bounds = []

        def login_round(level):
            bound = argon2_bound(ARGS.bound_binary, cores, mode["argon2_seconds"])
            bounds.append(bound)
            work_before = hash_work(scrape(ARGS.port))
            row = logins(ARGS.port, seed_data, level, mode["login_step"])
            row["pool_ms_per_verify"] = ms_per_verify(work_before, hash_work(scrape(ARGS.port)))
            row["bound"] = bound["verifies_per_second"]
            log(f"  bound {row['bound']:.1f} verifies/s, then {row['rps']:.1f} logins/s "
                f"({row['rps'] / row['bound']:.0%}), p50 {fmt(row['p50'])} ms, p99 {fmt(row['p99'])} ms, "
                f"{row['failures']} failed")
            return row

        results["logins"] = []
        for level in mode["login_levels"]:
            log(f"==> logins at concurrency {level}: {mode['login_rounds']} × (argon2id bound with "
                f"{cores} threads = the hash pool's default size, {mode['argon2_seconds']} s; logins, "
                f"{mode['login_step']} s)")
            results["logins"].append(
                median_round([login_round(level) for _ in range(mode["login_rounds"])])
            )
        results["argon2"] = max(bounds, key=lambda bound: bound["verifies_per_second"])
        results["argon2_runs"] = [bound["verifies_per_second"] for bound in bounds]

        log("==> isolation: reads and /healthz while logins saturate the hash pool")
        iso_level = mode["isolation_read_level"]
        login_clients = 16
        healthz_qps = 50
        outcome = {}

        def background_logins():
            outcome["logins"] = logins(ARGS.port, seed_data, login_clients, mode["step"] + 2)

        loader = threading.Thread(target=background_logins)
        loader.start()
        time.sleep(1.0)  # Let the queue fill before measuring.
        queue_depth = metric(scrape(ARGS.port), "accountd_hash_queue_depth")
        healthz_thread = threading.Thread(
            target=lambda: outcome.__setitem__(
                "healthz", oha(ARGS.oha, f"{base}/healthz", 1, mode["step"], qps=healthz_qps)
            )
        )
        healthz_thread.start()
        outcome["reads"] = oha(ARGS.oha, read_url, iso_level, mode["step"], headers=read_headers)
        healthz_thread.join()
        loader.join()
        unloaded = next(row["rps"] for row in results["reads"] if row["concurrency"] == iso_level)
        results["isolation"] = {
            "login_concurrency": login_clients,
            "read_concurrency": iso_level,
            "healthz_qps": healthz_qps,
            "queue_depth": queue_depth,
            "unloaded_rps": unloaded,
            **outcome,
        }
        log(
            f"  healthz p99 {fmt(outcome['healthz']['p99'], 2)} ms, reads {outcome['reads']['rps']:.0f} req/s "
            f"(unloaded {unloaded:.0f})"
        )
        results["metrics_sample"] = scrape(ARGS.port)
        results["peak_rss_kib"] = server.peak_rss_kib()
    finally:
        server.stop()
    log(f"==> peak resident memory of accountd: {results['peak_rss_kib'] / 1024:.1f} MiB")

    queue_qps = int(max(100, 3 * results["argon2"]["verifies_per_second"]))
    log(f"==> queue bound: a server with ACCOUNTD_HASH_QUEUE_BOUND=4, logins offered at {queue_qps}/s ({mode['step']} s)")
    queue_env = dict(env, ACCOUNTD_HASH_QUEUE_BOUND="4", ACCOUNTD_HASH_QUEUE_SHARE="4")
    queue_server = Server(ARGS.binary, queue_env, ARGS.port + 1, log_path)
    queue_server.start()
    try:
        results["queue"] = dict(queue_bound_check(ARGS.port + 1, seed_data, 32, mode["step"], queue_qps), bound=4)
    finally:
        queue_server.stop()
    log(f"  {results['queue']}")

    log(f"==> start-up: exec → /readyz 200 on the migrated database, {mode['startup_runs']} times")
    startup = []
    for _ in range(mode["startup_runs"]):
        probe_server = Server(ARGS.binary, env, ARGS.port + 2, log_path)
        try:
            startup.append(probe_server.start() * 1000)
        finally:
            probe_server.stop()
    results["startup_ms"] = startup
    log("  " + ", ".join(f"{value:.0f}" for value in startup) + " ms")

    rows = targets(results)
    results["commands"] = RECORDER.commands
    print_table(rows)
    for warning in warnings(results):
        print(f"NOISE: {warning}")
    plot(results, results_dir / "latency.png")
    report(results, rows, results_dir / "latest.md")
    (work / "results.json").write_text(json.dumps(results, indent=2, default=str))
    log(f"\nwrote {results_dir / 'latest.md'} and {results_dir / 'latency.png'}; raw figures in {work / 'results.json'}")
    return 0 if all(row[4] == "PASS" for row in rows) else 1


def targets(results):
    rows = []
    for login in results["logins"]:
        if login["concurrency"] not in TARGET_LOGIN_LEVELS:
            continue
        c = login["concurrency"]
        ratio = login["ratio"]
        rows.append(("1", f"login throughput at c={c} vs argon2id bound (median of "
                     f"{len(login['round_ratios'])} rounds: "
                     f"{', '.join(f'{value:.0%}' for value in login['round_ratios'])})",
                     f"{login['rps']:.1f}/s ÷ {login['bound']:.1f}/s = {ratio:.0%}", "≥ 90 %",
                     verdict(ratio >= 0.9)))
        rows.append(("1", f"login errors at c={c}", str(login["failures"]), "0", verdict(login["failures"] == 0)))
        spread = login["worst_p99"] / login["worst_p50"] if login["worst_p50"] else float("inf")
        rows.append(("1", f"login p99 / p50 at c={c} (worst round)",
                     f"{fmt(login['worst_p99'], 0)} / {fmt(login['worst_p50'], 0)} ms = {spread:.2f}", "≤ 2",
                     verdict(spread <= 2)))
    queue = results["queue"]
    # "At once" = without waiting for a hash: a 503 must come back faster than one argon2id
    # verification takes on this machine (the bound helper's single-thread time).
    t_verify_ms = results["argon2"]["single_thread_seconds_per_verify"] * 1000
    queue_ok = (
        queue["busy"] > 0
        and queue["other"] == 0
        and queue["busy_probes"] > 0
        and queue["busy_probes_with_retry_after"] == queue["busy_probes"]
        and queue["busy_p99_ms"] is not None
        and queue["busy_p99_ms"] <= t_verify_ms
    )
    rows.append(("1", f"past ACCOUNTD_HASH_QUEUE_BOUND={queue['bound']}: 503 + Retry-After at once",
                 f"{queue['busy']} × 503 (p99 {fmt(queue['busy_p99_ms'])} ms), {queue['other']} other, "
                 f"Retry-After on {queue['busy_probes_with_retry_after']}/{queue['busy_probes']}",
                 f"only 201/503, Retry-After, 503 p99 ≤ one verify ({t_verify_ms:.0f} ms)", verdict(queue_ok)))
    for base, read, floor, store_floor in zip(results["pgbench"], results["reads"], results["floor"],
                                              results["store_floor"]):
        ratio = read["ratio"]
        ok = ratio >= 0.4 and read["failures"] == 0
        rows.append(("2", f"token-checked read at c={base['concurrency']} vs pgbench -S ({read['pgbench_tps']:.0f} tps)",
                     f"{read['rps']:.0f} req/s = {ratio:.0%}" + (f", {read['failures']} failed" if read["failures"] else "")
                     + f" (HTTP floor {floor['ratio']:.0%}, store floor {store_floor['ratio']:.0%})",
                     "≥ 40 %", verdict(ok)))
    for base, switch, switch_floor in zip(results["pgbench"], results["switches"], results["switch_floor"]):
        ratio = switch["ratio"]
        ok = ratio >= 0.2 and switch["failures"] == 0
        rows.append(("3", f"switch (3 memberships) at c={base['concurrency']} vs pgbench -S ({switch['pgbench_tps']:.0f} tps)",
                     f"{switch['rps']:.0f} req/s = {ratio:.0%}" + (f", {switch['failures']} failed" if switch["failures"] else "")
                     + f" (switch floor {switch_floor['ratio']:.0%})",
                     "≥ 20 %", verdict(ok)))
    peak = results["peak_rss_kib"] / 1024
    rows.append(("4", "peak resident memory of accountd (VmHWM, whole run)", f"{peak:.1f} MiB", "≤ 64 MiB",
                 verdict(peak <= 64)))
    startup = results["startup_ms"]
    rows.append(("5", f"exec → /readyz 200, migrated database ({len(startup)} runs)",
                 f"median {statistics.median(startup):.0f} ms, max {max(startup):.0f} ms", "≤ 300 ms (max)",
                 verdict(max(startup) <= 300)))
    iso = results["isolation"]
    healthz_p99 = iso["healthz"]["p99"]
    rows.append(("6", "/healthz p99 while logins saturate the hash pool", f"{fmt(healthz_p99, 2)} ms", "≤ 20 ms",
                 verdict(healthz_p99 is not None and healthz_p99 <= 20 and iso["healthz"]["failures"] == 0)))
    kept = iso["reads"]["rps"] / iso["unloaded_rps"] if iso["unloaded_rps"] else 0
    rows.append(("6", f"token-checked reads at c={iso['read_concurrency']} while logins saturate the pool",
                 f"{iso['reads']['rps']:.0f} of {iso['unloaded_rps']:.0f} req/s = {kept:.0%}", "≥ 25 % of unloaded",
                 verdict(kept >= 0.25 and iso["reads"]["failures"] == 0)))
    return rows


def warnings(results):
    """Signs that the machine was too busy for the figures to mean much."""
    found = []
    bound = results["argon2"]["verifies_per_second"]
    for login in results["logins"]:
        fast = [f"{rate:.1f}/s after {bound:.1f}/s" for rate, bound in zip(login["round_rates"], login["round_bounds"])
                if rate > 1.05 * bound]
        if fast:
            found.append(
                f"logins at c={login['concurrency']} ran faster than the bare argon2id loop of their own "
                f"round ({', '.join(fast)}): other processes took CPU unevenly between the steps."
            )
    runs = results["argon2_runs"]
    if min(runs) < 0.9 * max(runs):
        found.append(
            f"the argon2id bound moved between {min(runs):.1f} and {max(runs):.1f}/s within the run "
            f"({', '.join(f'{rate:.1f}' for rate in runs)}); each login step is held against the bound "
            "of its own round and the median round decides."
        )
    efficiency = bound / results["argon2"]["ideal_verifies_per_second"]
    if efficiency < 0.7:
        found.append(
            f"{results['argon2']['threads']} argon2id threads reached only {efficiency:.0%} of "
            f"{results['argon2']['threads']} × the single-thread rate: the cores were shared."
        )
    return found


def print_table(rows):
    widths = [max(len(str(row[index])) for row in rows) for index in range(5)]
    header = ("#", "Figure", "Measured", "Target", "Result")
    widths = [max(width, len(title)) for width, title in zip(widths, header)]
    print()
    for row in [header, tuple("-" * width for width in widths), *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
    failed = sum(1 for row in rows if row[4] != "PASS")
    print(f"\n{len(rows) - failed} of {len(rows)} targets pass")


if __name__ == "__main__":
    sys.exit(main())
