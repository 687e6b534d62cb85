#!/usr/bin/env python3
"""How long the admin console's pages take to render on the benchmark store (issue 24: under
100 ms server-side).

1. The store of bench/scale.py, made with its own building blocks: its generator's JSON Lines
   file (by default the big size: 1,000,000 members, 100,000 accounts, 1,000,000 memberships),
   `accountd import --quiet-events` into a fresh PostgreSQL database, then VACUUM (ANALYZE).
2. accountd serving it with `ACCOUNTD_CONSOLE=true` and scale.py's settings. Through the API:
   an account with child accounts and members of its own (created after the import, as a
   merchant's newest customers are), a few hundred password logins that succeed, some that fail
   and three members locked out by wrong passwords, so the dashboard and the audit trail have an
   hour's worth of rows to show.
3. A sign-in as a browser makes it: `GET /admin/sign-in`, the `accountd_console` cookie and the
   hidden `csrf_token` read from the answer, `POST /admin/sign-in` with the bootstrap application
   key's client id and secret, the new cookie kept.
4. Every page of PAGES: one GET to see whether it exists (a `404` means it is not built yet: the
   page is skipped and the report names it), a warm-up, then `--requests` timed GETs of each,
   one at a time on one keep-alive loopback connection, the pages taken in turn (round-robin) so
   that whatever else the machine does lands on all of them alike. The time is from sending the
   request to reading the whole answer: the server's time plus a loopback round trip and the
   client's parsing, so an upper bound of the time spent in accountd.
5. For each page whose p95 is at least half the bound: accountd is restarted with PostgreSQL's
   `log_min_duration_statement` set on this database, the page fetched a few times, and the
   statements that took longest are reported (from the server log, when this user may read it).

Writes bench/results/console.md. bench/run --console builds, creates the database and calls this;
it runs alone on any empty PostgreSQL database:

    bench/console.py --binary /work/bench-target/release/accountd
        --database-url postgres://postgres@127.0.0.1:5432/accountd_console
        [--members 1000000] [--requests 200] [--warm-up 20]

Standard library only. Exits 0 when every page measured has p95 under the bound, 1 when one does
not, 2 on a set-up error.
"""

import argparse
import datetime
import http.client
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import bench
import compare
import loadgen
import scale

ROOT = Path(__file__).resolve().parent.parent
BOUND_MS = 100.0
COOKIE = "accountd_console"
# The settings of scale.py's servers, with the console on the API listener.
CONSOLE_ENV = {"ACCOUNTD_CONSOLE": "true"}

# The account the console's account page shows with children and members of its own, and how
# many of each it gets through the API.
FRESH_CHILDREN = 5
FRESH_MEMBERS = 10
# Activity for the dashboard and the audit trail: at least this many successful logins (eight
# clients, each its own member and address), one wrong password each for FAILED_MEMBERS members,
# and LOCKED_MEMBERS members given wrong passwords until their pair locks (five failures; the
# next attempts answer 429 and count as throttled).
SUCCESSFUL_LOGINS = 300
FAILED_MEMBERS = 40
LOCKED_MEMBERS = 3
ATTEMPTS_PER_LOCKED_MEMBER = 7
WRONG_PASSWORD = "not-the-bench-password"

# Statements slower than this are logged by PostgreSQL during the diagnosis pass.
LOG_MIN_DURATION_MS = 5
DIAGNOSIS_REQUESTS = 10
POSTGRES_LOG = Path("/var/log/postgresql")


def pages(ids):
    """(label, path) of every page measured; `ids` holds the records they name."""
    email_filter = urllib.parse.quote(f"ilike(email,*@{scale.EXAMPLE_DOMAIN})", safe="")
    name_filter = urllib.parse.quote("ilike(name,*1234*)", safe="")
    return [
        ("dashboard", "/admin"),
        ("accounts", "/admin/accounts"),
        ("accounts, ilike(name,*1234*)", f"/admin/accounts?filter={name_filter}"),
        (f"account imported with the store ({ids['imported_children']} children, "
         f"{ids['imported_members']} members)", f"/admin/accounts/{ids['imported_account']}"),
        (f"account created after the import ({FRESH_CHILDREN} children, {FRESH_MEMBERS} members)",
         f"/admin/accounts/{ids['fresh_account']}"),
        ("members", "/admin/members"),
        (f"members, ilike(email,*@{scale.EXAMPLE_DOMAIN}) ({ids['example_members']:,} match)",
         f"/admin/members?filter={email_filter}"),
        (f"member ({ids['member_memberships']} memberships)", f"/admin/members/{ids['member']}"),
        ("audit trail", "/admin/audit"),
        ("application keys", "/admin/application-keys"),
        ("integrations", "/admin/integrations"),
        ("realms", "/admin/realms"),
        ("realm (its password profile)", f"/admin/realms/{ids['realm']}"),
        ("settings", "/admin/settings"),
    ]


# --------------------------------------------------------------------------------------------
# The browser's side


class Browser:
    """One keep-alive connection and the console's cookie, as a browser holds them."""

    def __init__(self, port):
        self.port = port
        self.connection = None
        self.cookie = None

    def send(self, method, path, form=None):
        """(status, headers, body text); the session cookie is kept from any `Set-Cookie`."""
        headers = {"Accept": "text/html"}
        if self.cookie:
            headers["Cookie"] = f"{COOKIE}={self.cookie}"
        payload = None
        if form is not None:
            payload = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.connection.request(method, path, body=payload, headers=headers)
                answer = self.connection.getresponse()
                body = answer.read().decode("utf-8", "replace")
                break
            except (OSError, http.client.HTTPException):
                # A keep-alive connection the server closed between requests: open another once.
                self.close()
                if attempt:
                    raise
        for name, value in answer.getheaders():
            if name.lower() == "set-cookie" and value.startswith(f"{COOKIE}="):
                self.cookie = value.split(";", 1)[0].split("=", 1)[1] or None
        if answer.getheader("Connection", "").lower() == "close":
            self.close()
        return answer.status, answer, body

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def sign_in(self, client_id, client_secret):
        status, _, body = self.send("GET", "/admin/sign-in")
        if status != 200 or not self.cookie:
            raise SystemExit(f"GET /admin/sign-in: {status}, cookie {'set' if self.cookie else 'missing'}")
        match = re.search(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"', body) or \
            re.search(r'<input[^>]*value="([^"]+)"[^>]*name="csrf_token"', body)
        if not match:
            raise SystemExit("GET /admin/sign-in: no hidden csrf_token field in the form")
        before = self.cookie
        status, answer, body = self.send("POST", "/admin/sign-in", form={
            "csrf_token": match.group(1), "client_id": client_id, "client_secret": client_secret})
        if status != 303 or answer.getheader("Location") != "/admin" or self.cookie == before:
            raise SystemExit(f"POST /admin/sign-in: {status} to {answer.getheader('Location')}, "
                             f"cookie {'renewed' if self.cookie != before else 'not renewed'}: {body[:300]}")

    def timed_get(self, path):
        """(milliseconds from sending to the last byte read, status, body length)."""
        started = time.perf_counter()
        status, _, body = self.send("GET", path)
        return (time.perf_counter() - started) * 1000, status, len(body)


# --------------------------------------------------------------------------------------------
# The store and its activity


def api(port, method, path, token, body=None, status=200, what=None):
    return bench.expect(bench.request(port, method, path, body=body, headers=bench.bearer(token)),
                        status, what or f"{method} {path}")


def find_one(port, admin, path, what):
    data = api(port, "GET", path, admin)["data"]
    if len(data) != 1:
        raise SystemExit(f"{what}: {len(data)} found by {path}")
    return data[0]


def filter_path(base, expression):
    return f"{base}?filter={urllib.parse.quote(expression, safe='')}"


def records(port, admin, realm, shape):
    """The records the pages name: an imported root account with its children and members, one
    created through the API with children and members of its own, and a member of both."""
    imported = find_one(port, admin, filter_path("/v2/accounts", "eq(external_ref,A1)"), "account A1")
    fresh = api(port, "POST", "/v2/accounts", admin, status=201, body={
        "data": {"type": "account", "name": "Console bench customer", "legal_name": "Console Bench Ltd",
                 "external_ref": f"console-bench-{int(time.time())}"}})["data"]
    for child in range(1, FRESH_CHILDREN + 1):
        api(port, "POST", "/v2/accounts", admin, status=201, body={
            "data": {"type": "account", "name": f"Console bench branch {child}", "parent_id": fresh["id"]}})
    first_member = None
    for number in range(1, FRESH_MEMBERS + 1):
        member = find_one(port, admin, filter_path("/v2/account-members", f"eq(email,{shape.email(number)})"),
                          f"member {number}")
        api(port, "POST", f"/v2/accounts/{fresh['id']}/account-memberships", admin, status=201,
            body={"data": {"type": "account_membership", "account_member_id": member["id"]}})
        first_member = first_member or member
    memberships = api(port, "GET", f"/v2/account-members/{first_member['id']}/account-memberships", admin)
    return {
        "imported_account": imported["id"],
        # The generator makes every tenth account a root with nine children, and gives account a
        # the members a, a + accounts, …
        "imported_children": len(range(1 + shape.roots, shape.accounts + 1, shape.roots)),
        "imported_members": len(range(1, shape.memberships + 1, shape.accounts)),
        "fresh_account": fresh["id"],
        "member": first_member["id"],
        "member_memberships": memberships["meta"]["results"]["total"],
        "example_members": shape.example_members,
        "realm": realm,
    }


def activity(port, implicit, profile, shape):
    """Logins through the API for the dashboard and the audit trail: returns the answers' status
    counts of the successful, the failed and the locked-out members' attempts."""
    counts = {"succeeded": {}, "failed": {}, "locked": {}}
    started = time.monotonic()
    while sum(counts["succeeded"].values()) < SUCCESSFUL_LOGINS and time.monotonic() - started < 60:
        result = loadgen.logins(port, implicit, profile, lambda client: shape.email(shape.login_member(client)),
                                bench.PASSWORD, scale.LOGIN_CONCURRENCY, 1.0)
        for status, count in result["statuses"].items():
            counts["succeeded"][status] = counts["succeeded"].get(status, 0) + count

    def attempts(kind, member_numbers, repeat, first_source):
        # Each member from an address of its own: an address's own key locks after 50 failures.
        for offset, number in enumerate(member_numbers):
            source = loadgen.client_source(first_source + offset)
            method, path, headers, body = loadgen.login_request(implicit, profile, shape.email(number),
                                                                WRONG_PASSWORD)
            for _ in range(repeat):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
                try:
                    connection.request(method, path, body=body, headers=headers)
                    status = connection.getresponse().status
                finally:
                    connection.close()
                counts[kind][status] = counts[kind].get(status, 0) + 1

    # Members in the second half of the store, away from those the pages show.
    middle = shape.members // 2
    attempts("failed", range(middle + 1, middle + 1 + FAILED_MEMBERS), 1, 500)
    attempts("locked", range(middle + 1 + FAILED_MEMBERS, middle + 1 + FAILED_MEMBERS + LOCKED_MEMBERS),
             ATTEMPTS_PER_LOCKED_MEMBER, 600)
    return counts


# --------------------------------------------------------------------------------------------
# Measuring


def stats(samples):
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50": loadgen.percentile(ordered, 0.50),
        "p95": loadgen.percentile(ordered, 0.95),
        "p99": loadgen.percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else None,
        "mean": sum(ordered) / len(ordered) if ordered else None,
    }


def discover(browser, page_list):
    """Splits the pages into those answering 200, those not built yet (404) and those answering
    anything else (broken: reported as failing, not measured, so one broken page does not cost
    the figures of the others)."""
    present, skipped, broken = [], [], []
    for label, path in page_list:
        status, answer, body = browser.send("GET", path)
        if status == 404:
            skipped.append((label, path))
        elif status == 200 and "text/html" in (answer.getheader("Content-Type") or ""):
            present.append((label, path))
        else:
            text = " ".join(re.sub(r"<[^>]+>", " ", body).split())[:200]
            broken.append((label, path, f"{status} {answer.getheader('Location') or ''} {text}".strip()))
    return present, skipped, broken


def measure(browser, page_list, requests, warm_up):
    """`warm_up` then `requests` rounds, each one GET of every page in turn. Returns per page its
    figures and the statuses other than 200, and the range of the load average over the rounds."""
    samples = {path: [] for _, path in page_list}
    other = {path: {} for _, path in page_list}
    sizes = {}
    loads = []
    for round_index in range(warm_up + requests):
        loads.append(os.getloadavg()[0])
        for _, path in page_list:
            milliseconds, status, size = browser.timed_get(path)
            if status == 200:
                sizes[path] = size
            elif round_index >= warm_up:
                other[path][status] = other[path].get(status, 0) + 1
            if round_index >= warm_up:
                samples[path].append(milliseconds)
        if (round_index + 1) % 50 == 0:
            bench.log(f"    round {round_index + 1} of {warm_up + requests}")
    figures = {path: dict(stats(values), bytes=sizes.get(path, 0), other_statuses=other[path])
               for path, values in samples.items()}
    return figures, (min(loads), max(loads))


# --------------------------------------------------------------------------------------------
# Why a page is slow: the statements PostgreSQL logs while it is fetched


def postgres_log():
    candidates = sorted(POSTGRES_LOG.glob("postgresql-*.log"), key=lambda path: path.stat().st_mtime)
    return candidates[-1] if candidates else None


def diagnose(args, work, slow_pages):
    """Restarts accountd with `log_min_duration_statement` on this database, fetches each slow
    page DIAGNOSIS_REQUESTS times, and returns per page the logged statements, longest first."""
    log_path = postgres_log()
    if not slow_pages:
        return {}
    if log_path is None or not os.access(log_path, os.R_OK):
        return {path: {"error": f"PostgreSQL's log under {POSTGRES_LOG} is not readable here"}
                for _, path in slow_pages}
    database = urllib.parse.urlparse(args.database_url).path.lstrip("/")
    found = {}
    bench.run(["psql", "-X", "-q", "-c",
               f"ALTER DATABASE {database} SET log_min_duration_statement = '{LOG_MIN_DURATION_MS}ms'",
               args.database_url])
    server = None
    try:
        server = compare.start(args.binary, args.database_url, args.port, work, "console-diagnosis", CONSOLE_ENV)
        browser = Browser(args.port)
        browser.sign_in(bench.CLIENT_ID, bench.CLIENT_SECRET)
        for _, path in slow_pages:
            browser.timed_get(path)  # The pool's connections prepare their statements.
            start = log_path.stat().st_size
            times = [browser.timed_get(path)[0] for _ in range(DIAGNOSIS_REQUESTS)]
            time.sleep(0.5)  # PostgreSQL writes its log asynchronously to us.
            with open(log_path, errors="replace") as log_file:
                log_file.seek(start)
                text = log_file.read()
            statements = logged_statements(text, database)
            for statement in statements[:EXPLAINED_PER_PAGE]:
                statement["plan"] = explain(args.database_url, statement["statement"], statement["parameters"])
            found[path] = {"page_ms": stats(times), "statements": statements}
        browser.close()
    finally:
        if server:
            server.stop()
        bench.run(["psql", "-X", "-q", "-c", f"ALTER DATABASE {database} RESET log_min_duration_statement",
                   args.database_url])
    return found


LOG_PARAMETER = re.compile(r"\$(\d+) = ('(?:[^']|'')*'|NULL)")
EXPLAINED_PER_PAGE = 2


def explain(database_url, statement, parameters):
    """EXPLAIN (ANALYZE, BUFFERS) of a logged statement, prepared as accountd's driver prepares it
    and executed once with the logged parameters (literals of unknown type, which take the types
    PostgreSQL inferred for the placeholders)."""
    values = {int(number): value for number, value in LOG_PARAMETER.findall(parameters)}
    arguments = ", ".join(values[number] for number in sorted(values))
    script = (f"PREPARE logged AS {statement};\n"
              f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE logged{f'({arguments})' if arguments else ''};\n")
    result = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", database_url],
                            input=script, capture_output=True, text=True, check=False, timeout=120)
    return result.stdout.rstrip() if result.returncode == 0 else f"EXPLAIN failed: {result.stderr.strip()}"


LOG_PARAMETERS = re.compile(r"DETAIL:\s+parameters:\s*(.*)", re.IGNORECASE)
LOG_DURATION = re.compile(r"duration: ([0-9.]+) ms\s+(?:execute|statement|parse|bind)[^:]*:\s*(.*)")


def logged_statements(text, database):
    """Statements of `database` in a piece of PostgreSQL's log: per statement text, how often it
    was logged, its total and its longest time, and the parameters of its longest run."""
    statements = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if f"@{database} " not in line:
            continue
        match = LOG_DURATION.search(line)
        if not match:
            continue
        statement = match.group(2).strip()
        # A statement's text continues on the lines that do not start a new log entry.
        follow = index + 1
        while follow < len(lines) and not re.match(r"^\d{4}-\d\d-\d\d ", lines[follow]):
            statement += " " + lines[follow].strip()
            follow += 1
        detail = LOG_PARAMETERS.search(lines[follow]) if follow < len(lines) else None
        parameters = detail.group(1).strip() if detail else ""
        milliseconds = float(match.group(1))
        entry = statements.setdefault(statement, {"count": 0, "total_ms": 0.0, "max_ms": 0.0, "parameters": ""})
        entry["count"] += 1
        entry["total_ms"] += milliseconds
        if milliseconds >= entry["max_ms"]:
            entry["max_ms"], entry["parameters"] = milliseconds, parameters
    return sorted(({"statement": key, **value} for key, value in statements.items()),
                  key=lambda row: row["total_ms"], reverse=True)


# --------------------------------------------------------------------------------------------
# The report


def fmt(value, digits=1):
    return bench.fmt(value, digits)


def write_report(path, args, results):
    facts = results["facts"]
    shape = results["shape"]
    measured = results["measured"]
    lines = [f"# The admin console's pages on the benchmark store — {results['date']}", ""]
    if shape.members < 1_000_000:
        lines += ["> **Smaller store**: fewer than a million members; `bench/run --console` at its default "
                  "size replaces this file.", ""]
    verdict = "PASS" if results["passed"] else "FAIL"
    lines += [
        f"**{verdict}**: {sum(row['pass'] for row in measured)} of {len(measured)} pages measured have a p95 "
        f"under {BOUND_MS:g} ms (issue 24: \"the pages render in under 100 ms server-side on the benchmark "
        f"store\"); {len(results['skipped'])} page(s) skipped because they answer `404` (not built yet)"
        + (f"; {len(results['broken'])} page(s) broken (neither 200 nor 404), not measured" if results["broken"] else "")
        + ".",
        "",
        "## How it was measured",
        "",
        f"`bench/console.py` (`bench/run --console`). The store is bench/scale.py's: its generator's file "
        f"({shape.describe()}; a tenth of the accounts roots with nine children each, every member with an "
        f"argon2id login) brought in with `accountd import --quiet-events`, then `VACUUM (ANALYZE)` "
        + (f"(import: {scale.duration(results['import']['seconds'])}" if not args.reuse_store
           else "(imported by an earlier run, `--reuse-store`")
        + f", database {results['database_size']}). "
        f"accountd ({results['binary_label']}) served it with `ACCOUNTD_CONSOLE=true` and scale.py's "
        "settings (per-address rate limit off, `RUST_LOG=warn`).",
        "",
        f"Before measuring, through the API: an account created after the import with {FRESH_CHILDREN} "
        f"child accounts and {FRESH_MEMBERS} members, and logins for the dashboard and the audit trail: "
        f"{results['activity_text']}.",
        "",
        "The console was signed in to as a browser does it: `GET /admin/sign-in`, the `accountd_console` "
        "cookie and the form's hidden `csrf_token` kept, `POST /admin/sign-in` with the bootstrap "
        "application key's `client_id` and `client_secret` (303 to `/admin`, a new cookie). Then each "
        f"page was fetched {args.warm_up} times as a warm-up and {args.requests} times measured, one "
        "request at a time on one keep-alive loopback connection, the pages taken in turn round after "
        "round. A time runs from sending the request to reading the last byte of the answer: accountd's "
        "time plus a loopback round trip and Python's parsing, an upper bound of the server-side time.",
        "",
        f"The bound is on p95 (p95 < {BOUND_MS:g} ms), so a rare pause of a machine shared with other "
        "work does not decide it; p99 and the maximum are shown beside it.",
        "",
        "## Pages",
        "",
        "| Page | request | size | p50 ms | p95 ms | p99 ms | max ms | result |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in measured:
        figures = row["stats"]
        lines.append(f"| {row['label']} | `GET {row['path']}` | {figures['bytes'] / 1024:,.1f} KiB | "
                     f"{fmt(figures['p50'])} | {fmt(figures['p95'])} | {fmt(figures['p99'])} | "
                     f"{fmt(figures['max'])} | {'PASS' if row['pass'] else 'FAIL'}"
                     + (f" (answers other than 200: {figures['other_statuses']})" if figures["other_statuses"] else "")
                     + " |")
    for label, page_path, answer in results["broken"]:
        lines.append(f"| {label} | `GET {page_path}` | – | – | – | – | – | FAIL (not measured: {answer}) |")
    lines.append("")
    if results["skipped"]:
        lines += ["Skipped, because they answer `404` on this build (not built yet):", ""]
        lines += [f"- {label}: `GET {page_path}`" for label, page_path in results["skipped"]]
        lines.append("")
    lines += ["## Where the slow pages spend their time", ""]
    if not results["diagnosis"]:
        lines += [f"No page's p95 reached {BOUND_MS / 2:g} ms, half the bound; nothing was traced.", ""]
    else:
        lines += [
            f"Each page whose p95 reached {BOUND_MS / 2:g} ms was fetched {DIAGNOSIS_REQUESTS} more times by a "
            f"fresh accountd with PostgreSQL's `log_min_duration_statement = {LOG_MIN_DURATION_MS}ms` on this "
            "database; below, the statements PostgreSQL logged for those fetches, by total time (count, "
            "total and longest; the parameters of the longest run).",
            "",
        ]
        labels = {row["path"]: row["label"] for row in measured}
        for page_path, found in results["diagnosis"].items():
            lines += [f"### {labels.get(page_path, page_path)}: `GET {page_path}`", ""]
            if "error" in found:
                lines += [found["error"], ""]
                continue
            lines += [f"{DIAGNOSIS_REQUESTS} fetches while logging: p50 {fmt(found['page_ms']['p50'])} ms, "
                      f"max {fmt(found['page_ms']['max'])} ms.", ""]
            if not found["statements"]:
                lines += [f"No statement took {LOG_MIN_DURATION_MS} ms or more.", ""]
            for statement in found["statements"][:6]:
                lines += [f"- {statement['count']}×, {statement['total_ms']:,.1f} ms in all, longest "
                          f"{statement['max_ms']:,.1f} ms"
                          + (f" (parameters: `{statement['parameters'][:300]}`)" if statement["parameters"] else "")
                          + ":", "", "  ```sql", f"  {statement['statement'][:1500]}", "  ```", ""]
                if statement.get("plan"):
                    lines += ["  Its plan, executed again with those parameters:", "", "  ```",
                              *(f"  {line}" for line in statement["plan"].splitlines()), "  ```", ""]
        if results.get("causes"):
            lines += ["### Causes", ""] + results["causes"] + [""]
    lines += ["## Machine", ""]
    for key in ["nproc", "cpu", "memory", "kernel", "postgres", "commit"]:
        lines.append(f"- {key}: {facts[key]}")
    lines += [f"- PostgreSQL shared_buffers: {facts['shared_buffers']}",
              f"- load average (1 min) while measuring: from {results['load_range'][0]:.2f} to "
              f"{results['load_range'][1]:.2f}, on {facts['nproc']} cores shared with PostgreSQL, the client and "
              "whatever else ran on the machine",
              f"- accountd: `{args.binary}`", "", "## Steps", "", "| Step | took |", "| --- | --- |"]
    lines += [f"| {title} | {scale.duration(seconds)} |" for title, seconds in results["steps"].taken]
    lines += ["", "## Commands", "", "In order (secrets and tokens as variables):", "", "```sh",
              *results["commands"], "```", ""]
    path.write_text("\n".join(lines))


# --------------------------------------------------------------------------------------------


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--database-url", required=True, help="an empty PostgreSQL database")
    parser.add_argument("--binary-label", default="release profile",
                        help="how the report names the build (its profile)")
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, help="default: a tenth of --members")
    parser.add_argument("--memberships", type=int, help="default: as many as --members")
    parser.add_argument("--example-members", type=int, default=1_000,
                        help=f"members with an @{scale.EXAMPLE_DOMAIN} email")
    parser.add_argument("--requests", type=int, default=200, help="measured GETs of each page")
    parser.add_argument("--warm-up", type=int, default=20, help="GETs of each page before measuring")
    parser.add_argument("--import-timeout", type=float, default=1800.0)
    parser.add_argument("--reuse-store", action="store_true",
                        help="the database already holds this store from an earlier run: skip the import")
    parser.add_argument("--port", type=int, default=18130)
    parser.add_argument("--report", default=str(ROOT / "bench" / "results" / "console.md"))
    parser.add_argument("--work", default="/tmp/accountd-bench")
    args = parser.parse_args()
    args.accounts = args.accounts or max(1, args.members // 10)
    args.memberships = args.memberships or args.members
    if args.members < args.example_members or args.accounts < 10 or args.memberships < FRESH_MEMBERS:
        parser.error("the store needs at least --example-members members, 10 accounts and 10 memberships")
    return args


def main():
    args = parse_args()
    started = time.monotonic()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    bench.ARGS = argparse.Namespace(oha="oha", database_url=args.database_url)
    for secret, name in [(bench.CLIENT_SECRET, "ACCOUNTD_CLIENT_SECRET"), (bench.JWT_SECRET, "ACCOUNTD_JWT_SECRET"),
                         (bench.PASSWORD, "BENCH_PASSWORD")]:
        bench.RECORDER.hide(secret, name)
    facts = bench.machine_facts()
    facts["shared_buffers"] = scale.psql_value(args.database_url, "SHOW shared_buffers")
    shape = scale.StoreShape(args.members, args.accounts, args.memberships, args.example_members)
    steps = scale.Steps()
    results = {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), "facts": facts,
               "shape": shape, "steps": steps, "binary_label": args.binary_label}

    if args.reuse_store:
        profile = scale.psql_value(args.database_url,
                                   f"SELECT id FROM password_profiles WHERE name = '{scale.PROFILE_NAME}'")
        results["import"] = {"seconds": 0.0}
    else:
        store_file = work / "console-store.jsonl"
        try:
            with steps.step("accountd's hash of the benchmark's password and the password profile"):
                env, profile, password_hash = scale.prepare_store(args.binary, args.database_url, args.port, work,
                                                                  "console-setup", template=True)
            with steps.step(f"writing the store's file: {shape.describe()}"):
                size = scale.write_store_file(store_file, shape, password_hash)
                bench.log(f"    {store_file}: {size / scale.MIB:,.1f} MiB")
            with steps.step("accountd import --quiet-events into PostgreSQL"):
                results["import"] = scale.timed_import(args.binary, env, store_file, shape,
                                                       work / "console-import.log", args.import_timeout)
        finally:
            store_file.unlink(missing_ok=True)
        if results["import"]["rejected"]:
            raise SystemExit(f"the import refused {results['import']['rejected']} lines")
        with steps.step("VACUUM (ANALYZE)"):
            bench.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "VACUUM (ANALYZE)", args.database_url])
    results["database_size"] = scale.psql_value(args.database_url,
                                                "SELECT pg_size_pretty(pg_database_size(current_database()))")

    server = None
    try:
        with steps.step("accountd with the console; records for the pages and logins through the API"):
            server = compare.start(args.binary, args.database_url, args.port, work, "console", CONSOLE_ENV)
            admin, implicit, realm = bench.first_start(args.port)
            ids = records(args.port, admin, realm, shape)
            counts = activity(args.port, implicit, profile, shape)
            bench.log(f"    login answers by status: {counts}")
            results["activity_text"] = (
                f"{sum(counts['succeeded'].values())} password logins from {scale.LOGIN_CONCURRENCY} clients, "
                f"each its own member and address (answers {counts['succeeded']}); one wrong password for each "
                f"of {FAILED_MEMBERS} members ({counts['failed']}); {ATTEMPTS_PER_LOCKED_MEMBER} wrong "
                f"passwords for each of {LOCKED_MEMBERS} members, whose pairs lock after five ({counts['locked']})")
        browser = Browser(args.port)
        with steps.step("signing in to the console as a browser does"):
            browser.sign_in(bench.CLIENT_ID, bench.CLIENT_SECRET)
            present, skipped, broken = discover(browser, pages(ids))
            results["skipped"], results["broken"] = skipped, broken
            bench.log(f"    {len(present)} pages answer 200; skipped (404): "
                      + (", ".join(path for _, path in skipped) or "none"))
            for label, path, answer in broken:
                bench.log(f"    broken, not measured: GET {path}: {answer}")
        with steps.step(f"{args.warm_up} warm-up and {args.requests} measured GETs of each of {len(present)} pages"):
            figures, results["load_range"] = measure(browser, present, args.requests, args.warm_up)
        browser.close()
    finally:
        if server:
            server.stop()

    measured = []
    for label, path in present:
        row = {"label": label, "path": path, "stats": figures[path]}
        row["pass"] = row["stats"]["p95"] < BOUND_MS and not row["stats"]["other_statuses"]
        measured.append(row)
        bench.log(f"{label}: p50 {fmt(row['stats']['p50'])} ms, p95 {fmt(row['stats']['p95'])}, "
                  f"p99 {fmt(row['stats']['p99'])}, max {fmt(row['stats']['max'])}: "
                  f"{'PASS' if row['pass'] else 'FAIL'}")
    results["measured"] = measured
    results["passed"] = all(row["pass"] for row in measured) and not results["broken"]
    slow = [(row["label"], row["path"]) for row in measured if row["stats"]["p95"] >= BOUND_MS / 2]
    with steps.step(f"statements of the {len(slow)} page(s) with p95 ≥ {BOUND_MS / 2:g} ms"):
        results["diagnosis"] = diagnose(args, work, slow)
    results["commands"] = bench.RECORDER.commands
    results["total_seconds"] = time.monotonic() - started
    report_path = Path(args.report)
    write_report(report_path, args, results)
    raw = {"measured": measured, "skipped": results["skipped"], "broken": results["broken"],
           "diagnosis": results["diagnosis"],
           "shape": vars(shape), "steps": steps.taken}
    (work / "console.json").write_text(json.dumps(raw, indent=2, default=str))
    print(f"{'PASS' if results['passed'] else 'FAIL'}: wrote {report_path}; raw figures in {work / 'console.json'}")
    return 0 if results["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
