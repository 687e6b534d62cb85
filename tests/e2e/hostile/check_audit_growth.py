"""Disk filled through the audit trail: long usernames and endless throttled attempts must not
grow the database. A login username over 1,020 bytes is refused before any store work, and a
locked key writes at most one audit row per lock period."""

import hostile
from hostile import Server, check

ATTEMPTS = 1000
MEGABYTE = 1024 * 1024

# The per-address rate limit is off so that every attempt reaches the throttle: what is measured
# is what the audit trail and the throttle tables write, not the limiter.
with Server({"ACCOUNTD_RATE_LIMIT_PER_MINUTE": "0"}) as server:
    shopper = server.token("implicit")
    huge = "x" * 15_000 + "@example.com"
    before = server.database_bytes()
    statuses = {}
    for _ in range(ATTEMPTS):
        answer = server.login(huge, "wrong password", shopper=shopper)
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
    grown = server.database_bytes() - before
    check(
        "15 KB usernames are refused as a failed login",
        set(statuses) == {400},
        "every answer 400 authentication failed",
        f"statuses {statuses}",
    )
    check(
        f"{ATTEMPTS} attempts with 15 KB usernames",
        grown < MEGABYTE,
        "database grows < 1 MiB",
        f"grew {grown} bytes",
    )

    # A long username that is still allowed (1,000 bytes): lock its pair key, then keep trying.
    long_name = "y" * 988 + "@example.com"
    for _ in range(5):
        server.login(long_name, "wrong password", shopper=shopper)
    before = server.database_bytes()
    audit_before = server.admin("GET", "/v2/audit-events?page[limit]=1").json()["meta"][
        "results"
    ]["total"]
    statuses = {}
    for _ in range(ATTEMPTS):
        answer = server.login(long_name, "wrong password", shopper=shopper)
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
    grown = server.database_bytes() - before
    audit_after = server.admin("GET", "/v2/audit-events?page[limit]=1").json()["meta"][
        "results"
    ]["total"]
    check(
        "a locked pair key answers 429",
        set(statuses) == {429},
        "every answer 429",
        f"statuses {statuses}",
    )
    check(
        f"{ATTEMPTS} throttled attempts with a 1,000-byte username",
        grown < MEGABYTE,
        "database grows < 1 MiB",
        f"grew {grown} bytes",
    )
    check(
        "throttled attempts write at most one audit row per key per lock period",
        audit_after - audit_before <= 3,
        "at most one row per locked key (pair, address, username)",
        f"{audit_after - audit_before} rows",
    )
    longest = 0
    page = server.admin(
        "GET", "/v2/audit-events?page[limit]=100&filter=eq(event_type,login.failed)"
    ).json()
    for event in page["data"]:
        longest = max(longest, len(str(event.get("detail", {}).get("username", "")).encode()))
    check(
        "audit rows store at most 256 bytes of client text",
        longest <= 256,
        "username in an audit row <= 256 bytes",
        f"longest {longest} bytes",
    )

hostile.finish()
