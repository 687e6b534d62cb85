"""Login throttling against concurrency and against lock-out: concurrent guesses on one
(profile, username, address) pair cannot slip past the lock, an attacker failing from one
address never locks the member out elsewhere, and distributed guessing does lock the username,
with the one 429 body."""

import threading

import hostile
from hostile import Server, check

THROTTLED = (
    b'{"errors":[{"status":"429","title":"Too Many Requests",'
    b'"detail":"too many attempts, try again later"}]}'
)

with Server({"ACCOUNTD_RATE_LIMIT_PER_MINUTE": "0"}) as server:
    # 45 wrong guesses for the victim at once from one address.
    attacker = "127.0.0.8"
    shopper = server.token("implicit", source=attacker)
    answers = []
    lock = threading.Lock()

    def guess():
        answer = server.login(server.username, "wrong password", source=attacker, shopper=shopper)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=guess) for _ in range(45)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = {}
    for answer in answers:
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
    check(
        "45 concurrent guesses on one pair",
        statuses.get(400, 0) <= 5 and set(statuses) <= {400, 429},
        "at most 5 reach argon2id (400), the rest 429",
        f"statuses {statuses}",
    )
    bodies_exact = all(a.body == THROTTLED for a in answers if a.status == 429)
    check("every 429 body", bodies_exact, "exactly the one throttle body", "checked")

    # The attacker's address is locked for this username; the member, elsewhere, is not.
    victim = "127.0.0.50"
    answer = server.login(server.username, hostile.PASSWORD, source=victim)
    check(
        "the member logs in from another address",
        answer.status == 201,
        "201 while the attacker's pair is locked",
        f"{answer.status}",
    )
    answer = server.login(server.username, hostile.PASSWORD, source=attacker, shopper=shopper)
    check(
        "the attacker's own pair stays locked",
        answer.status == 429 and answer.body == THROTTLED,
        "429 even with the right password",
        f"{answer.status}",
    )

with Server({"ACCOUNTD_RATE_LIMIT_PER_MINUTE": "0"}) as server:
    # Distributed guessing: ten addresses, five failures each.
    failures = 0
    for index in range(10, 20):
        source = f"127.0.0.{index}"
        shopper = server.token("implicit", source=source)
        for _ in range(5):
            if server.login(server.username, "wrong", source=source, shopper=shopper).status == 400:
                failures += 1
    answer = server.login(server.username, hostile.PASSWORD, source="127.0.0.99")
    check(
        f"{failures} failures from 10 addresses lock the username",
        answer.status == 429 and answer.body == THROTTLED and answer.header("retry-after"),
        "429 with the exact body and Retry-After, even with the right password",
        f"{answer.status} {answer.body[:80]!r} Retry-After {answer.header('retry-after')}",
    )

hostile.finish()
