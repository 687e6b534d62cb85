"""One client cannot monopolise the argon2id pool: one-time-code requests (each always costs a
hash) flooding from one address get 503 once that address holds its share of the queue, while
another address's logins are never refused. The latency figure lives in bench/ (hash_share.py)."""

import threading
import time

import hostile
from hostile import Server, check, request

FLOOD_SECONDS = 6

with Server(
    {
        "ACCOUNTD_RATE_LIMIT_PER_MINUTE": "0",
        "ACCOUNTD_HASH_POOL_SIZE": "1",
        "ACCOUNTD_HASH_QUEUE_BOUND": "8",
    }
) as server:
    server.admin(
        "PUT",
        f"/v2/authentication-realms/{server.realm}/password-profiles/{server.profile}",
        {"data": {"type": "password_profile", "enable_one_time_password_token": True}},
    )
    flooder = "127.0.0.20"
    shopper = server.token("implicit", source=flooder)
    path = (
        f"/v2/authentication-realms/{server.realm}/password-profiles/{server.profile}"
        "/one-time-password-token-request"
    )
    body = {
        "data": {
            "type": "one_time_password_token_request",
            "username": "someone@example.com",
            "purpose": "passwordless_authentication",
        }
    }
    flood_statuses = {}
    retry_after_ok = True
    lock = threading.Lock()
    deadline = time.monotonic() + FLOOD_SECONDS

    def flood():
        global retry_after_ok
        while time.monotonic() < deadline:
            answer = request(
                server.base,
                "POST",
                path,
                body,
                {"Authorization": f"Bearer {shopper}"},
                source=flooder,
            )
            with lock:
                flood_statuses[answer.status] = flood_statuses.get(answer.status, 0) + 1
                if answer.status == 503 and answer.header("retry-after") != "1":
                    retry_after_ok = False

    threads = [threading.Thread(target=flood) for _ in range(12)]
    for thread in threads:
        thread.start()
    victim = "127.0.0.21"
    victim_token = server.token("implicit", source=victim)
    victim_statuses = {}
    while time.monotonic() < deadline:
        answer = server.login(server.username, hostile.PASSWORD, source=victim, shopper=victim_token)
        victim_statuses[answer.status] = victim_statuses.get(answer.status, 0) + 1
    for thread in threads:
        thread.join()
    check(
        "the flooding address past its share",
        flood_statuses.get(503, 0) > 0 and set(flood_statuses) <= {202, 503} and retry_after_ok,
        "202 or 503 with Retry-After: 1, some 503",
        f"statuses {flood_statuses}",
    )
    check(
        "another address's logins during the flood",
        set(victim_statuses) == {201},
        "every one 201, none refused",
        f"statuses {victim_statuses}",
    )

hostile.finish()
