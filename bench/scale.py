#!/usr/bin/env python3
"""accountd with a million members: how fast the import brings them in, and whether the hot
paths and the filtered lists cost the same on a big store as on a small one.

1. Two JSON Lines files from one generator, written line by line (never held in memory): the
   big store (by default 1,000,000 members, 100,000 accounts, 1,000,000 memberships) and the
   small one (10,000 / 1,000 / 10,000). A tenth of the accounts are roots, the rest children
   of roots; every member has a login whose hash is accountd's own argon2id hash of bench.py's
   password, made through the API for a template member (as bench.py's seed does), so logins
   verify with accountd's own parameters; exactly 1,000 members of each store have
   `@example.com` emails, the rest are spread over 1,000 other domains.
2. `accountd import --quiet-events` of the big file into PostgreSQL (members/s, target
   ≥ 20,000/s; peak resident memory of the import process, target < 128 MiB), into a fresh
   SQLite file (members/s), and of the small file into PostgreSQL. The password profile is
   created through the API first and named with `--password-profile`.
3. Both PostgreSQL stores served at once, the loads alternating big small / small big in
   rounds so that whatever else the machine does lands on both: the password login
   (bench/loadgen.py, c=8, each client its own member and address), the token-checked read,
   the switch, and the two filtered lists (oha, c=16). Each figure on both stores and the time
   per request big ÷ small (small req/s ÷ big req/s, median of the rounds), target ≤ 1.5.
4. `page[offset]=10000` on the members and the accounts lists of the big store: oha at c=1, so
   the latency is the request's own, not a queue's.
5. `EXPLAIN (ANALYZE, BUFFERS)` on the big store of statements written to match those accountd
   compiles for the two filtered lists and the deep member page.

Misses are reported, never an exit status: it exits 0 unless the set-up fails. Writes
bench/results/scale.md. bench/run --scale creates the two PostgreSQL databases and calls this;
it runs alone on any two empty databases:

    bench/scale.py --binary target/production/accountd --oha PATH
        --database-url-big postgres://…/big --database-url-small postgres://…/small
        [--members 1000000] [--small-members 10000] [--seconds 10] [--rounds 3]
"""

import argparse
import contextlib
import datetime
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import bench
import compare
import loadgen

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024

PROFILE_NAME = "Storefront logins"
TEMPLATE_EMAIL = "template@bench.example"
EXAMPLE_DOMAIN = "example.com"
OTHER_DOMAINS = 1_000
LOOKED_UP_REF = "A123"
LOGIN_CONCURRENCY = 8
LIST_CONCURRENCY = 16
DEEP_OFFSET_CONCURRENCY = 1
DEEP_OFFSET = 10_000

IMPORT_RATE_TARGET = 20_000
IMPORT_MEMORY_TARGET_MIB = 128
COST_RATIO_TARGET = 1.5

LOADS = [
    ("login", f"password login, c={LOGIN_CONCURRENCY}", "logins/s"),
    ("read", f"token-checked read `GET /v2/accounts/{{id}}`, c={LIST_CONCURRENCY}", "req/s"),
    ("switch", f"switch `POST /v2/account-members/tokens`, c={LIST_CONCURRENCY}", "req/s"),
    ("members_ilike", f"`GET /v2/account-members?filter=ilike(email,*@{EXAMPLE_DOMAIN})`, "
                      f"c={LIST_CONCURRENCY}", "req/s"),
    ("accounts_external_ref", f"`GET /v2/accounts?filter=eq(external_ref,{LOOKED_UP_REF})`, "
                              f"c={LIST_CONCURRENCY}", "req/s"),
]
DEEP_PAGES = [
    ("members", f"/v2/account-members?page[limit]=100&page[offset]={DEEP_OFFSET}"),
    ("accounts", f"/v2/accounts?page[offset]={DEEP_OFFSET}"),
]

# The SQL of src/store/sql/mod.rs's `page` for these lists: a COUNT(*), then the page. The scope
# of an admin's list is `1 = 1`; the ilike filter, a suffix, compiles (src/query/sql.rs) to a LIKE
# on the ASCII-folded column with the operand bound as a pattern, and the range of the reversed
# folded column that holds the same rows; LIMIT and OFFSET are bound as int8 and the order is the
# lists' default, newest first with ties broken on the id.
FOLDED_EMAIL = "translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
FOLDED_EMAIL_LIKE = (rf"({FOLDED_EMAIL} LIKE $1 ESCAPE '\' AND reverse({FOLDED_EMAIL}) >= $2 "
                     rf"AND reverse({FOLDED_EMAIL}) < $3)")
# The binds of that filter: the pattern, and the reversed suffix and the first string past it.
EXAMPLE_SUFFIX = f"@{EXAMPLE_DOMAIN}"[::-1]
EXAMPLE_SUFFIX_BINDS = (f"'%@{EXAMPLE_DOMAIN}', '{EXAMPLE_SUFFIX}', "
                        f"'{EXAMPLE_SUFFIX[:-1]}{chr(ord(EXAMPLE_SUFFIX[-1]) + 1)}'")
USER_COLUMNS = "id, name, email, given_name, middle_name, family_name, created_at, updated_at"
ACCOUNT_COLUMNS = ("id, name, legal_name, registration_id, external_ref, parent_id, ancestor_ids, "
                   "created_at, updated_at")
NEWEST_FIRST = "ORDER BY created_at DESC, id ASC"
PLANS = [
    (f"members, ilike(email,*@{EXAMPLE_DOMAIN}): the count",
     f"SELECT COUNT(*) FROM users WHERE 1 = 1 AND {FOLDED_EMAIL_LIKE}",
     "text, text, text", EXAMPLE_SUFFIX_BINDS),
    (f"members, ilike(email,*@{EXAMPLE_DOMAIN}): the first page (25, the default length)",
     f"SELECT {USER_COLUMNS} FROM users WHERE 1 = 1 AND {FOLDED_EMAIL_LIKE} {NEWEST_FIRST} LIMIT $4 OFFSET $5",
     "text, text, text, int8, int8", f"{EXAMPLE_SUFFIX_BINDS}, 25, 0"),
    (f"accounts, eq(external_ref,{LOOKED_UP_REF}): the count",
     "SELECT COUNT(*) FROM accounts WHERE 1 = 1 AND external_ref = $1",
     "text", f"'{LOOKED_UP_REF}'"),
    (f"accounts, eq(external_ref,{LOOKED_UP_REF}): the first page",
     f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE 1 = 1 AND external_ref = $1 {NEWEST_FIRST} LIMIT $2 OFFSET $3",
     "text, int8, int8", f"'{LOOKED_UP_REF}', 25, 0"),
    ("members, no filter: the count",
     "SELECT COUNT(*) FROM users WHERE 1 = 1",
     "", ""),
    (f"members, no filter: page[limit]=100, page[offset]={DEEP_OFFSET}",
     f"SELECT {USER_COLUMNS} FROM users WHERE 1 = 1 {NEWEST_FIRST} LIMIT $1 OFFSET $2",
     "int8, int8", f"100, {DEEP_OFFSET}"),
]
# A prepared statement runs on custom plans first; from its sixth execution PostgreSQL may keep
# a generic plan, made without the parameters' values, when that one is estimated no dearer.
# accountd's driver prepares every statement, so a busy server meets both.
PLAN_MODES = [("custom plan (the parameters' values known)", "force_custom_plan"),
              ("generic plan (what a prepared statement may switch to)", "force_generic_plan")]


class StoreShape:
    """What one generated store holds; member, account and membership numbers start at 1."""

    def __init__(self, members, accounts, memberships, example_members):
        self.members = members
        self.accounts = accounts
        self.memberships = memberships
        self.example_members = min(example_members, members)
        self.roots = max(1, accounts // 10)
        # Every `stride`-th member has an @example.com email, so they are spread over the whole
        # store, oldest to newest, as a real domain's would be.
        self.stride = max(1, members // max(1, self.example_members))

    def email(self, member):
        index = member - 1
        if index % self.stride == 0 and index // self.stride < self.example_members:
            return f"member{member}@{EXAMPLE_DOMAIN}"
        return f"member{member}@company{member % OTHER_DOMAINS}.com"

    def membership(self, index):
        """Membership `index` (from 0): (member, account). Members take their turn in order, so
        each has memberships ÷ members of them, each time in the next account along."""
        member = 1 + index % self.members
        turn = index // self.members
        return member, 1 + (member - 1 + turn) % self.accounts

    def memberships_of(self, member):
        return len(range(member - 1, self.memberships, self.members))

    def load_member(self):
        """The member the read and the switch act for: one in the middle of the file that has a
        membership."""
        return 1 + (min(self.members, self.memberships) - 1) // 2

    def login_member(self, client):
        """Login client `client`'s own member, spread over the store."""
        return 1 + client * self.members // LOGIN_CONCURRENCY

    def describe(self):
        return (f"{self.members:,} members ({self.example_members:,} @{EXAMPLE_DOMAIN}), "
                f"{self.accounts:,} accounts ({self.roots:,} roots), {self.memberships:,} memberships")


def write_store_file(path, shape, password_hash):
    """The store as `accountd import` reads it (docs/moving-in.md): accounts, roots first, then
    members, then memberships, so every reference names a record earlier in the file."""
    hash_json = json.dumps(password_hash)
    with open(path, "w", buffering=MIB) as out:
        for account in range(1, shape.accounts + 1):
            parent = "null" if account <= shape.roots else f'"A{1 + (account - shape.roots - 1) % shape.roots}"'
            out.write(f'{{"type":"account","external_ref":"A{account}","name":"Account {account}",'
                      f'"parent_external_ref":{parent}}}\n')
        for member in range(1, shape.members + 1):
            email = shape.email(member)
            out.write(f'{{"type":"account_member","email":"{email}","name":"Member {member}",'
                      f'"username":"{email}","password_hash":{hash_json}}}\n')
        for index in range(shape.memberships):
            member, account = shape.membership(index)
            out.write(f'{{"type":"account_membership","account_external_ref":"A{account}",'
                      f'"member_email":"{shape.email(member)}"}}\n')
    return path.stat().st_size


class Steps:
    """Every step's wall time, printed as it ends and kept for the report."""

    def __init__(self):
        self.taken = []

    @contextlib.contextmanager
    def step(self, title):
        bench.log(f"==> {title}")
        started = time.monotonic()
        yield
        seconds = time.monotonic() - started
        self.taken.append((title, seconds))
        bench.log(f"    took {duration(seconds)}")


def duration(seconds):
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def psql_value(database_url, query):
    return bench.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", query, database_url]).stdout.strip()


def prepare_store(binary, database_url, port, work, name, template):
    """Migrates the store, creates the password profile the import names, and with `template`
    returns accountd's own hash of bench.py's password: a template member gets that password
    through the API, its hash is read with psql and the member deleted again. Returns the
    server's environment without its listeners (for the import), the profile id and the hash."""
    server = compare.start(binary, database_url, port, work, name)
    try:
        admin, _, realm = bench.first_start(port)
        profile = bench.create_password_profile(port, admin, realm, PROFILE_NAME)
        password_hash = None
        if template:
            member = bench.create_member_with_password(port, admin, realm, profile, "Template", TEMPLATE_EMAIL,
                                                       bench.PASSWORD)
            password_hash = psql_value(
                database_url,
                f"SELECT password_hash FROM password_profile_infos WHERE username_lower = '{TEMPLATE_EMAIL}'")
            bench.expect(bench.request(port, "DELETE",
                                       f"/v2/authentication-realms/{realm}/user-authentication-info/{member}",
                                       headers=bench.bearer(admin)), 204, "deleting the template member")
            if not password_hash.startswith("$argon2id$"):
                raise SystemExit(f"the template's hash is not accountd's argon2id: {password_hash[:20]}…")
    finally:
        server.stop()
    import_env = {key: value for key, value in server.env.items()
                  if key not in ("ACCOUNTD_LISTEN", "ACCOUNTD_MANAGEMENT_LISTEN")}
    return import_env, profile, password_hash


IMPORT_SUMMARY = re.compile(r"^import: (\d+) \w+: (\d+) created, (\d+) unchanged, (\d+) rejected")
# What the import writes every five seconds when its output is not a terminal.
IMPORT_PROGRESS = re.compile(r"^import: (\d+) lines \(")


def time_at(progress, line):
    """When the import had read `line` lines, interpolated between its progress reports
    (seconds since start, lines read)."""
    for (before_time, before_line), (after_time, after_line) in zip(progress, progress[1:]):
        if before_line <= line <= after_line:
            if after_line == before_line:
                return before_time
            return before_time + (after_time - before_time) * (line - before_line) / (after_line - before_line)
    return progress[-1][0]


def timed_import(binary, env, path, shape, log_path, timeout):
    """`accountd import --quiet-events` under GNU time, whose %M is the import process's peak
    resident memory (KiB). Each line the import writes is timed as it arrives, so its progress
    reports tell when the member lines began and ended. The import runs in a session of its own
    so that a timeout stops it and not only the `time` in front of it."""
    memory_path = log_path.with_suffix(".maxrss")
    argv = ["/usr/bin/time", "-f", "%M", "-o", memory_path, binary, "import", "--quiet-events",
            "--password-profile", PROFILE_NAME, path]
    bench.RECORDER.note(["env", *bench.server_env(env), *argv])
    started = time.monotonic()
    process = subprocess.Popen([str(part) for part in argv], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
    timed_out = threading.Event()

    def stop():
        timed_out.set()
        os.killpg(process.pid, signal.SIGKILL)

    deadline = threading.Timer(timeout, stop)
    deadline.start()
    output, progress = [], [(0.0, 0)]
    with open(log_path, "w") as log_file:
        for line in process.stdout:
            elapsed = time.monotonic() - started
            log_file.write(f"[{elapsed:9.1f} s] {line}")
            output.append(line.rstrip("\n"))
            if match := IMPORT_PROGRESS.match(line):
                progress.append((elapsed, int(match.group(1))))
    status = process.wait()
    deadline.cancel()
    seconds = time.monotonic() - started
    if timed_out.is_set():
        raise SystemExit(f"the import did not finish within {timeout:g} s; see {log_path}")
    summary = next((match for match in map(IMPORT_SUMMARY.match, reversed(output)) if match), None)
    if summary is None:
        raise SystemExit(f"the import ended ({status}) without its summary:\n" + "\n".join(output[-20:]))
    lines, created, unchanged, rejected = (int(value) for value in summary.groups())
    progress.append((seconds, lines))
    member_lines_seconds = (time_at(progress, shape.accounts + shape.members) - time_at(progress, shape.accounts))
    peak_kib = int(memory_path.read_text().split()[-1])
    result = {
        "status": status, "seconds": seconds, "lines": lines, "created": created,
        "unchanged": unchanged, "rejected": rejected, "peak_mib": peak_kib / 1024,
        "members_per_second": shape.members / seconds, "records_per_second": lines / seconds,
        "member_lines_seconds": member_lines_seconds,
        "member_lines_per_second": shape.members / member_lines_seconds if member_lines_seconds else None,
        "progress_reports": len(progress) - 2,
        "first_rejections": [line for line in output if line.startswith("line ")][:5],
        "log": str(log_path),
    }
    bench.log(f"    {lines:,} lines: {created:,} created, {unchanged:,} unchanged, {rejected:,} rejected in "
              f"{duration(seconds)}: {result['records_per_second']:,.0f} records/s; members "
              f"{result['members_per_second']:,.0f}/s over the whole file, "
              f"{fmt(result['member_lines_per_second'], 0)}/s while the member lines were read; peak resident "
              f"memory {result['peak_mib']:.1f} MiB")
    for line in result["first_rejections"]:
        bench.log(f"    {line}")
    return result


class ServedStore:
    """A store after its import, served: its bearers, its load member's account token and the
    requests of every load."""

    def __init__(self, name, binary, database_url, port, work, shape, profile):
        self.name = name
        self.shape = shape
        self.profile = profile
        self.port = port
        self.server = compare.start(binary, database_url, port, work, f"scale-{name}")
        self.results = {key: [] for key, _, _ in LOADS}
        self.deep_pages = {}
        admin, self.implicit, _ = bench.first_start(port)
        load_email = shape.email(shape.load_member())
        tokens = bench.expect(
            bench.request(port, "POST", "/v2/account-members/tokens",
                          body=bench.login_body(profile, load_email, bench.PASSWORD),
                          headers=bench.bearer(self.implicit)),
            201, f"login of {load_email} on the {name} store")["data"]
        account_token = tokens[0]["token"]
        bench.RECORDER.hide(account_token, "ACCOUNT_TOKEN")
        holder = [f"Authorization: Bearer {self.implicit}",
                  f"EP-Account-Management-Authentication-Token: {account_token}"]
        self.admin_only = [f"Authorization: Bearer {admin}"]
        self.base = f"http://127.0.0.1:{port}"
        self.requests = {
            "read": (f"/v2/accounts/{tokens[0]['account_id']}", "GET", holder, None),
            "switch": ("/v2/account-members/tokens", "POST", holder, bench.SWITCH_BODY),
            "members_ilike": (f"/v2/account-members?filter=ilike(email,*@{EXAMPLE_DOMAIN})", "GET",
                              self.admin_only, None),
            "accounts_external_ref": (f"/v2/accounts?filter=eq(external_ref,{LOOKED_UP_REF})", "GET",
                                      self.admin_only, None),
        }
        self.check_lists(admin, len(tokens))

    def check_lists(self, admin, memberships):
        """Every list answers 200 with what the generator put in, before anything is measured."""
        expected = {"members_ilike": self.shape.example_members, "accounts_external_ref": 1}
        for key, total in expected.items():
            path = self.requests[key][0]
            body = bench.expect(bench.request(self.port, "GET", path, headers=bench.bearer(admin)), 200, path)
            if body["meta"]["results"]["total"] != total:
                raise SystemExit(f"{path} on the {self.name} store: {body['meta']['results']['total']} results, "
                                 f"expected {total}")
        for name, path in DEEP_PAGES:
            body = bench.expect(bench.request(self.port, "GET", path, headers=bench.bearer(admin)), 200, path)
            self.deep_pages[name] = {"rows": len(body["data"]), "total": body["meta"]["results"]["total"]}
        bench.log(f"    {self.name}: the load member has {memberships} membership(s); "
                  f"ilike(email,*@{EXAMPLE_DOMAIN}) lists {self.shape.example_members:,}, "
                  f"eq(external_ref,{LOOKED_UP_REF}) 1")

    def measure(self, key, seconds):
        if key == "login":
            bench.RECORDER.note(["bench/loadgen.py", f"{LOGIN_CONCURRENCY} clients, each its own member and "
                                 "127.0.x.y address", "POST /v2/account-members/tokens password login",
                                 f"{seconds}s"])
            return loadgen.logins(self.port, self.implicit, self.profile,
                                  lambda client: self.shape.email(self.shape.login_member(client)),
                                  bench.PASSWORD, LOGIN_CONCURRENCY, seconds)
        path, method, headers, body = self.requests[key]
        return bench.oha(bench.ARGS.oha, self.base + path, LIST_CONCURRENCY, seconds, method=method,
                         headers=headers, body=body)

    def measure_deep_page(self, path, seconds):
        return bench.oha(bench.ARGS.oha, self.base + path, DEEP_OFFSET_CONCURRENCY, seconds,
                         headers=self.admin_only)

    def stop(self):
        self.server.stop()


def compare_stores(big, small):
    """Per load: each store's medians over the rounds and the time per request big ÷ small of
    every round (small req/s ÷ big req/s: both ran the same concurrency back to back)."""
    rows = []
    for key, label, unit in LOADS:
        big_rows, small_rows = big.results[key], small.results[key]
        ratios = [s["rps"] / b["rps"] if b["rps"] else float("inf") for b, s in zip(big_rows, small_rows)]
        ratio = statistics.median(ratios)
        failures = sum(row["failures"] for row in big_rows + small_rows)

        def medians(rows_of_store):
            return {field: statistics.median(row[field] for row in rows_of_store if row[field] is not None)
                    if any(row[field] is not None for row in rows_of_store) else None
                    for field in ("rps", "p50", "p99")}

        passed = ratio <= COST_RATIO_TARGET and failures == 0
        rows.append({"key": key, "label": label, "unit": unit, "big": medians(big_rows),
                     "small": medians(small_rows), "ratios": ratios, "ratio": ratio, "failures": failures,
                     "result": "PASS" if passed else ("FAIL (failures)" if failures else "FAIL")})
    return rows


def explain(database_url):
    """Each statement of PLANS prepared with its placeholders and types and executed once under
    EXPLAIN (ANALYZE, BUFFERS), with a custom plan and with a generic one."""
    plans = []
    for title, statement, types, values in PLANS:
        outputs = []
        for mode_label, mode in PLAN_MODES:
            script = (f"SET plan_cache_mode = {mode};\n"
                      f"PREPARE listed{f'({types})' if types else ''} AS {statement};\n"
                      f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE listed{f'({values})' if values else ''};\n")
            bench.RECORDER.note(["psql", database_url, "-c", f"SET plan_cache_mode = {mode}; PREPARE listed … ; "
                                 "EXPLAIN (ANALYZE, BUFFERS) EXECUTE listed(…)  -- statements in bench/scale.py"])
            result = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", database_url],
                                    input=script, capture_output=True, text=True, check=False, timeout=600)
            if result.returncode != 0:
                raise SystemExit(f"EXPLAIN of {title!r} failed: {result.stderr}")
            outputs.append((mode_label, result.stdout.rstrip()))
        plans.append({"title": title, "statement": statement, "types": types, "values": values,
                      "plans": outputs})
    return plans


def import_verdict(row):
    rate = row["member_lines_per_second"]
    rate_ok = rate is not None and rate >= IMPORT_RATE_TARGET
    memory_ok = row["peak_mib"] < IMPORT_MEMORY_TARGET_MIB
    verdict = f"rate {'PASS' if rate_ok else 'FAIL'}, memory {'PASS' if memory_ok else 'FAIL'}"
    return verdict + (f", {row['rejected']:,} lines refused" if row["rejected"] else "")


def fmt(value, digits=1):
    return bench.fmt(value, digits)


def write_report(report_path, args, results, steps):
    facts = results["facts"]
    big_shape, small_shape = results["shapes"]["big"], results["shapes"]["small"]
    trial = big_shape.members < 1_000_000
    lines = [f"# accountd with {big_shape.members:,} members — {results['date']}", ""]
    if trial:
        lines += ["> **Trial size**: the big store holds fewer than a million members, so these figures "
                  "show the harness works, not the verdict. `bench/run --scale` at its default sizes "
                  "replaces this file.", ""]
    lines += [
        f"> `bench/scale.py` (`bench/run --scale`): one generator wrote the big store "
        f"({big_shape.describe()}) and the small one ({small_shape.describe()}) as JSON Lines, every "
        "member with a login whose hash is accountd's own argon2id hash of the benchmark's password "
        f"(made through the API for a template member and read back with psql); `accountd import "
        f"--quiet-events --password-profile \"{PROFILE_NAME}\"` brought the big file into PostgreSQL and "
        "into a fresh SQLite file and the small file into PostgreSQL. Both PostgreSQL stores were then "
        "vacuumed and analysed, as autovacuum would shortly after a bulk load, and served at once: "
        f"{args.rounds} round(s) of every load on both ({args.seconds:g} s each), the order alternating big "
        "small / small big. Load average before "
        f"{results['load_before'][0]:.2f}, after {results['load_after'][0]:.2f} on {facts['nproc']} cores shared "
        "with the load generators and PostgreSQL (and whatever else ran on the machine).",
        "",
        "## Import",
        "",
        "Members/s twice: while the member lines were read (when the import's progress reports, one "
        "every five seconds, passed the first and the last member line, interpolated between reports; "
        "the target's figure), and the members ÷ the wall time of the whole file, its accounts and "
        "memberships included. Peak resident memory is GNU time's `%M` of the import process.",
        "",
        "| Import | lines: created / unchanged / rejected | wall time | members/s while reading members | "
        "members/s, whole file | records/s | peak resident memory | target | result |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, label in [("postgres_big", "big file → PostgreSQL"), ("sqlite_big", "big file → SQLite"),
                        ("postgres_small", "small file → PostgreSQL")]:
        row = results["imports"][name]
        target, result = "–", "–"
        if name == "postgres_big":
            target = f"≥ {IMPORT_RATE_TARGET:,} members/s, < {IMPORT_MEMORY_TARGET_MIB} MiB"
            result = import_verdict(row)
        lines.append(
            f"| {label} | {row['lines']:,}: {row['created']:,} / {row['unchanged']:,} / {row['rejected']:,} | "
            f"{duration(row['seconds'])} | {fmt(row['member_lines_per_second'], 0)} "
            f"({duration(row['member_lines_seconds'])}) | {row['members_per_second']:,.0f} | "
            f"{row['records_per_second']:,.0f} | {row['peak_mib']:.1f} MiB | {target} | {result} |")
    for name, row in results["imports"].items():
        for rejection in row["first_rejections"]:
            lines.append(f"\n{name}, first refusals: `{rejection}`")
    lines += [
        "",
        f"Sizes after the import: PostgreSQL big {results['sizes']['big']}, small {results['sizes']['small']}; "
        f"the SQLite file {results['sizes']['sqlite']}. The big file was {results['sizes']['big_file']}.",
        "",
        "## The same requests on both stores",
        "",
        "Medians over the rounds. Time per request big ÷ small is small req/s ÷ big req/s of each round "
        "(both at the same concurrency, back to back), median of the rounds; every round in brackets. "
        f"The read and the switch act for member {big_shape.load_member():,} of the big store "
        f"({big_shape.memberships_of(big_shape.load_member())} membership(s)) and member "
        f"{small_shape.load_member():,} of the small one; the lists are an admin's (client credentials), "
        "first page, 25 rows.",
        "",
        "| Load | big: rate, p50 / p99 ms | small: rate, p50 / p99 ms | time per request big ÷ small | "
        "failed | target | result |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in results["comparison"]:
        lines.append(
            f"| {row['label']} | {fmt(row['big']['rps'])} {row['unit']}, {fmt(row['big']['p50'], 2)} / "
            f"{fmt(row['big']['p99'], 2)} | {fmt(row['small']['rps'])} {row['unit']}, "
            f"{fmt(row['small']['p50'], 2)} / {fmt(row['small']['p99'], 2)} | {row['ratio']:.2f} "
            f"({', '.join(f'{ratio:.2f}' for ratio in row['ratios'])}) | {row['failures']} | "
            f"≤ {COST_RATIO_TARGET} | {row['result']} |")
    lines += [
        "",
        f"## page[offset]={DEEP_OFFSET} on the big store",
        "",
        f"oha at c={DEEP_OFFSET_CONCURRENCY} for {args.seconds:g} s each, an admin's bearer.",
        "",
        "| Request | rows on the page (of the list's total) | p50 ms | p99 ms | req/s | failed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, path in DEEP_PAGES:
        row = results["deep_pages"][name]
        page = results["deep_page_rows"][name]
        lines.append(f"| `GET {path}` | {page['rows']} (of {page['total']:,}) | {fmt(row['p50'], 2)} | "
                     f"{fmt(row['p99'], 2)} | {fmt(row['rps'])} | {row['failures']} |")
    lines += [
        "",
        "## Query plans on the big store",
        "",
        "The statements below are written to match the ones accountd compiles for these lists "
        "(src/store/sql/mod.rs `page`, src/query/sql.rs, the field tables of src/store/sql/users.rs and "
        "accounts.rs): the same text, the same placeholders and parameter types (text, int8), prepared "
        "and executed once with the values of the loads above. They are not captured from the server. "
        "A prepared statement starts on custom plans and may keep a generic one from its sixth "
        "execution, and accountd's driver prepares every statement, so both are shown.",
        "",
    ]
    for plan in results["plans"]:
        lines += [f"### {plan['title']}", "", "```sql", plan["statement"] + ";",
                  f"-- parameters ({plan['types'] or 'none'}): {plan['values'] or '–'}", "```", ""]
        for mode_label, output in plan["plans"]:
            lines += [f"{mode_label}:", "", "```", output, "```", ""]
    lines += ["## Steps", "", "| Step | took |", "| --- | --- |"]
    lines += [f"| {title} | {duration(seconds)} |" for title, seconds in steps.taken]
    lines += [f"| all | {duration(results['total_seconds'])} |", "", "## Machine", ""]
    for key in ["nproc", "cpu", "memory", "kernel", "postgres", "shared_buffers", "oha", "commit"]:
        lines.append(f"- {key}: {facts[key]}")
    lines += [f"- accountd: `{args.binary}`", "", "## Commands", "",
              "In order (tokens as variables):", "", "```sh", *results["commands"], "```", ""]
    report_path.write_text("\n".join(lines))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--oha", required=True)
    parser.add_argument("--database-url-big", required=True, help="an empty PostgreSQL database")
    parser.add_argument("--database-url-small", required=True, help="an empty PostgreSQL database")
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, help="default: a tenth of --members")
    parser.add_argument("--memberships", type=int, help="default: as many as --members")
    parser.add_argument("--small-members", type=int, default=10_000)
    parser.add_argument("--small-accounts", type=int, help="default: a tenth of --small-members")
    parser.add_argument("--small-memberships", type=int, help="default: as many as --small-members")
    parser.add_argument("--example-members", type=int, default=1_000,
                        help=f"members with an @{EXAMPLE_DOMAIN} email in each store")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load step")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--import-timeout", type=float, default=4 * 3600.0, help="seconds one import may take")
    parser.add_argument("--port", type=int, default=18110)
    parser.add_argument("--report", default=str(ROOT / "bench" / "results" / "scale.md"))
    parser.add_argument("--work", default="/tmp/accountd-bench")
    args = parser.parse_args()
    args.accounts = args.accounts or max(1, args.members // 10)
    args.memberships = args.memberships or args.members
    args.small_accounts = args.small_accounts or max(1, args.small_members // 10)
    args.small_memberships = args.small_memberships or args.small_members
    for members, accounts, memberships in [(args.members, args.accounts, args.memberships),
                                           (args.small_members, args.small_accounts, args.small_memberships)]:
        if members < args.example_members:
            parser.error(f"every store needs at least --example-members ({args.example_members}) members")
        if accounts < int(LOOKED_UP_REF[1:]):
            parser.error(f"every store needs at least {LOOKED_UP_REF[1:]} accounts: the accounts list looks "
                         f"up {LOOKED_UP_REF}")
        if memberships < 1:
            parser.error("every store needs memberships: the read and the switch act for a member of one")
    if not Path("/usr/bin/time").exists():
        parser.error("/usr/bin/time (GNU time, Debian's `time` package) measures the import's memory")
    return args


def main():
    args = parse_args()
    started = time.monotonic()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    bench.ARGS = argparse.Namespace(oha=args.oha, database_url=args.database_url_big)
    bench.RECORDER.hide(bench.CLIENT_SECRET, "ACCOUNTD_CLIENT_SECRET")
    bench.RECORDER.hide(bench.JWT_SECRET, "ACCOUNTD_JWT_SECRET")
    bench.RECORDER.hide(bench.PASSWORD, "BENCH_PASSWORD")
    facts = bench.machine_facts()
    facts["shared_buffers"] = psql_value(args.database_url_big, "SHOW shared_buffers")
    shapes = {
        "big": StoreShape(args.members, args.accounts, args.memberships, args.example_members),
        "small": StoreShape(args.small_members, args.small_accounts, args.small_memberships, args.example_members),
    }
    files = {name: work / f"scale-{name}.jsonl" for name in shapes}
    sqlite_path = work / "scale.sqlite"
    sqlite_url = f"sqlite://{sqlite_path}?mode=rwc"
    results = {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), "facts": facts,
               "shapes": shapes, "load_before": os.getloadavg(), "imports": {}, "sizes": {}}
    steps = Steps()
    bench.log("==> the per-address rate limit is disabled and one address may hold the whole hash queue "
              "(oha's loads come from one address); logins come from bench/loadgen.py, each client its own "
              "member and 127.0.x.y address, so the login throttle never refuses one")

    def remove_sqlite():
        for suffix in ["", "-wal", "-shm"]:
            Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)

    remove_sqlite()
    served = {}
    try:
        with steps.step("accountd's hash of the benchmark's password, and the password profile of each store"):
            env_big, profile_big, password_hash = prepare_store(
                args.binary, args.database_url_big, args.port, work, "scale-big-setup", template=True)
            env_small, profile_small, _ = prepare_store(
                args.binary, args.database_url_small, args.port + 1, work, "scale-small-setup", template=False)
            env_sqlite, _, _ = prepare_store(args.binary, sqlite_url, args.port + 2, work, "scale-sqlite-setup",
                                             template=False)
            bench.log(f"    {password_hash.split('$')[1]} {password_hash.split('$')[3]}; "
                      f"profile \"{PROFILE_NAME}\" on PostgreSQL big, small and SQLite")

        for name, shape in shapes.items():
            with steps.step(f"writing the {name} store's file: {shape.describe()}"):
                size = write_store_file(files[name], shape, password_hash)
                bench.log(f"    {files[name]}: {size / MIB:,.1f} MiB")
                if name == "big":
                    results["sizes"]["big_file"] = f"{size / MIB:,.1f} MiB"

        for name, env, file_name, shape, label in [
                ("postgres_big", env_big, "big", shapes["big"], "big file into PostgreSQL"),
                ("sqlite_big", env_sqlite, "big", shapes["big"], "big file into SQLite (a fresh file)"),
                ("postgres_small", env_small, "small", shapes["small"], "small file into PostgreSQL")]:
            with steps.step(f"accountd import --quiet-events: the {label}"):
                results["imports"][name] = timed_import(args.binary, env, files[file_name], shape,
                                                        work / f"scale-import-{name}.log", args.import_timeout)
            if name == "sqlite_big":
                results["sizes"]["sqlite"] = f"{sqlite_path.stat().st_size / MIB:,.1f} MiB"
                remove_sqlite()

        with steps.step("VACUUM (ANALYZE) of both PostgreSQL stores"):
            for name, url in [("big", args.database_url_big), ("small", args.database_url_small)]:
                bench.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "VACUUM (ANALYZE)", url])
                results["sizes"][name] = psql_value(url, "SELECT pg_size_pretty(pg_database_size(current_database()))")

        with steps.step("serving both PostgreSQL stores; a login each for the read and the switch"):
            for index, (name, url, profile) in enumerate([("big", args.database_url_big, profile_big),
                                                          ("small", args.database_url_small, profile_small)]):
                served[name] = ServedStore(name, args.binary, url, args.port + index, work, shapes[name], profile)

        with steps.step("warming both stores: every load once for 1 s, not counted"):
            for store in served.values():
                for key, _, _ in LOADS:
                    store.measure(key, 1.0)

        with steps.step(f"{args.rounds} round(s) of {len(LOADS)} loads on both stores, {args.seconds:g} s each"):
            for round_index in range(args.rounds):
                order = ["big", "small"] if round_index % 2 == 0 else ["small", "big"]
                for key, _, _ in LOADS:
                    for name in order:
                        served[name].results[key].append(served[name].measure(key, args.seconds))
                bench.log(f"    round {round_index + 1}: " + "; ".join(
                    f"{key} {served['big'].results[key][-1]['rps']:,.0f} / {served['small'].results[key][-1]['rps']:,.0f}"
                    for key, _, _ in LOADS) + " per s (big / small)")

        with steps.step(f"page[offset]={DEEP_OFFSET} on the big store, c={DEEP_OFFSET_CONCURRENCY}"):
            results["deep_pages"] = {}
            for name, path in DEEP_PAGES:
                row = served["big"].measure_deep_page(path, args.seconds)
                results["deep_pages"][name] = row
                bench.log(f"    GET {path}: p50 {fmt(row['p50'], 2)} ms, p99 {fmt(row['p99'], 2)} ms, "
                          f"{fmt(row['rps'])} req/s, {row['failures']} failed")
            results["deep_page_rows"] = served["big"].deep_pages
    finally:
        for store in served.values():
            store.stop()
        remove_sqlite()
        for path in files.values():
            path.unlink(missing_ok=True)

    with steps.step("EXPLAIN (ANALYZE, BUFFERS) on the big store"):
        results["plans"] = explain(args.database_url_big)

    results["comparison"] = compare_stores(served["big"], served["small"])
    results["load_after"] = os.getloadavg()
    results["commands"] = bench.RECORDER.commands
    results["total_seconds"] = time.monotonic() - started

    print()
    big_import = results["imports"]["postgres_big"]
    print(f"import into PostgreSQL: {fmt(big_import['member_lines_per_second'], 0)} members/s while reading "
          f"members, {big_import['members_per_second']:,.0f}/s over the whole file (target ≥ {IMPORT_RATE_TARGET:,}), "
          f"peak resident memory {big_import['peak_mib']:.1f} MiB (target < {IMPORT_MEMORY_TARGET_MIB}): "
          f"{import_verdict(big_import)}")
    sqlite_import = results["imports"]["sqlite_big"]
    print(f"import into SQLite: {fmt(sqlite_import['member_lines_per_second'], 0)} members/s while reading members, "
          f"{sqlite_import['members_per_second']:,.0f}/s over the whole file")
    for row in results["comparison"]:
        print(f"{row['label']}: big {fmt(row['big']['rps'])} {row['unit']} (p99 {fmt(row['big']['p99'], 2)} ms), "
              f"small {fmt(row['small']['rps'])} (p99 {fmt(row['small']['p99'], 2)} ms); time per request "
              f"big ÷ small {row['ratio']:.2f} (≤ {COST_RATIO_TARGET}): {row['result']}")
    for name, path in DEEP_PAGES:
        row = results["deep_pages"][name]
        print(f"GET {path} on the big store: p50 {fmt(row['p50'], 2)} ms, p99 {fmt(row['p99'], 2)} ms")
    print(f"all steps: {duration(results['total_seconds'])}")

    report_path = Path(args.report)
    write_report(report_path, args, results, steps)
    raw = dict(results, shapes={name: vars(shape) for name, shape in shapes.items()}, steps=steps.taken,
               loads={name: store.results for name, store in served.items()})
    (work / "scale.json").write_text(json.dumps(raw, indent=2, default=str))
    print(f"wrote {report_path}; raw figures in {work / 'scale.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
