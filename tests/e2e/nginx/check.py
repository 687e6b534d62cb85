"""Drives nginx, configured as the README shows, in front of echo_upstream.py and accountd, and
checks what the service behind it sees: nothing without a live account token, and with one,
accountd's identity headers and never the client's.

Run by run.sh, which starts the three processes. Standard library only; every request has a
timeout; the first surprise exits non-zero.
"""

import base64
import http.client
import json
import os
import signal
import sys
import time
import urllib.parse
import uuid
from datetime import datetime, timezone

NGINX = os.environ["NGINX_URL"]
ACCOUNTD = os.environ["ACCOUNTD_URL"]
UPSTREAM = os.environ["UPSTREAM_URL"]
CLIENT_ID = os.environ["ACCOUNTD_CLIENT_ID"]
CLIENT_SECRET = os.environ["ACCOUNTD_CLIENT_SECRET"]
ACCOUNTD_PID = int(os.environ["ACCOUNTD_PID"])

TOKEN_HEADER = "EP-Account-Management-Authentication-Token"
IDENTITY_HEADERS = ["x-account-id", "x-account-member-id", "x-account-name", "x-account-token-expires"]
ACCOUNT_NAME = "Café Ünïcode & Söhne"
PASSWORD = "nginx suite password, long enough"


def passed(message):
    print(f"  ok   {message}", flush=True)


def fail(message):
    print(f"  FAIL {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def call(base, method, path, headers=(), body=None):
    """(status, parsed JSON body or text or None). Headers are (name, value) pairs or a dict, sent
    as given: letter case kept, a repeated name sent twice."""
    parsed = urllib.parse.urlsplit(base)
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
    data = None
    if isinstance(body, dict):
        data = json.dumps(body).encode()
        pairs.append(("Content-Type", "application/json"))
    elif isinstance(body, str):
        data = body.encode()
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in pairs:
            connection.putheader(name, value)
        if data is not None:
            connection.putheader("Content-Length", str(len(data)))
        connection.endheaders(data)
        response = connection.getresponse()
        text = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(text) if text else None
    except ValueError:
        return response.status, text.decode(errors="replace")


def expect(reply, status, what):
    if reply[0] != status:
        fail(f"{what}: expected {status}, got {reply[0]} {reply[1]}")
    return reply[1]


def admin_token():
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
    })
    reply = call(ACCOUNTD, "POST", "/oauth/access_token",
                 {"Content-Type": "application/x-www-form-urlencoded"}, form)
    return expect(reply, 200, "admin token")["access_token"]


def implicit_token():
    form = urllib.parse.urlencode({"grant_type": "implicit", "client_id": CLIENT_ID})
    reply = call(ACCOUNTD, "POST", "/oauth/access_token",
                 {"Content-Type": "application/x-www-form-urlencoded"}, form)
    return expect(reply, 200, "implicit token")["access_token"]


class Store:
    """One account, one member who belongs to it and logs in with a password."""

    def __init__(self):
        self.admin = admin_token()
        bearer = self.bearer = {"Authorization": f"Bearer {self.admin}"}
        settings = expect(call(ACCOUNTD, "GET", "/v2/settings/account-authentication", bearer),
                          200, "settings")
        realm = settings["data"]["relationships"]["authentication_realm"]["data"]["id"]
        self.profile = expect(call(ACCOUNTD, "POST", f"/v2/authentication-realms/{realm}/password-profiles",
                                   bearer, {"data": {"type": "password_profile", "name": "nginx suite"}}),
                              201, "password profile")["data"]["id"]
        self.account = expect(call(ACCOUNTD, "POST", "/v2/accounts", bearer,
                                   {"data": {"type": "account", "name": ACCOUNT_NAME}}),
                              201, "account")["data"]["id"]
        self.username = "gate@nginx.example"
        self.member = expect(call(ACCOUNTD, "POST", f"/v2/authentication-realms/{realm}/user-authentication-info",
                                  bearer, {"data": {"type": "user_authentication_info",
                                                    "name": "Gate Keeper", "email": self.username}}),
                             201, "member")["data"]["id"]
        expect(call(ACCOUNTD, "POST",
                    f"/v2/authentication-realms/{realm}/user-authentication-info/{self.member}"
                    "/user-authentication-password-profile-info",
                    bearer, {"data": {"type": "user_authentication_password_profile_info",
                                      "password_profile_id": self.profile, "username": self.username,
                                      "password": PASSWORD}}),
               201, "password")
        expect(call(ACCOUNTD, "POST", f"/v2/accounts/{self.account}/account-memberships", bearer,
                    {"data": {"type": "account_membership", "account_member_id": self.member}}),
               201, "membership")

    def login(self):
        """A fresh account token and its claims."""
        reply = call(ACCOUNTD, "POST", "/v2/account-members/tokens",
                     {"Authorization": f"Bearer {implicit_token()}"},
                     {"data": {"type": "account_management_authentication_token",
                               "authentication_mechanism": "password",
                               "password_profile_id": self.profile,
                               "username": self.username, "password": PASSWORD}})
        token = expect(reply, 201, "login")["data"][0]["token"]
        payload = token.split(".")[1]
        return token, json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def hits():
    return expect(call(UPSTREAM, "GET", "/__hits"), 200, "upstream hit count")["hits"]


def refused_without_calling_the_service(headers, what, status=401):
    before = hits()
    reply = call(NGINX, "GET", "/orders/42", headers)
    body = expect(reply, status, what)
    if status == 401:
        errors = (body or {}).get("errors") if isinstance(body, dict) else None
        if not errors or errors[0].get("status") != "401" or errors[0].get("title") != "Unauthorized":
            fail(f"{what}: expected the errors envelope, got {body!r}")
    after = hits()
    if after != before:
        fail(f"{what}: the service was called ({before} → {after} requests)")
    passed(f"{what}: {status} from nginx, the service not called (still {after} requests)")


def seen_by_the_service(reply, what):
    """The echo's record of one request that must have reached it."""
    body = expect(reply, 200, what)
    if not isinstance(body, dict) or "headers" not in body:
        fail(f"{what}: expected the echo upstream's answer, got {body!r}")
    return body


def header_values(seen, name):
    return [value for header, value in seen["headers"] if header.lower() == name]


def main():
    store = Store()
    token, claims = store.login()
    forged_account, forged_member = str(uuid.uuid4()), str(uuid.uuid4())

    if hits() != 0:
        fail("the service was called before the first request")
    refused_without_calling_the_service({}, "no account token")
    refused_without_calling_the_service({TOKEN_HEADER: "not.a.token"}, "a malformed account token")
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    refused_without_calling_the_service({TOKEN_HEADER: tampered}, "a token with a changed signature")
    refused_without_calling_the_service(
        {"X-Account-Id": forged_account, "X-Account-Member-Id": forged_member},
        "identity headers forged without a token")

    # A live token: the service sees accountd's identity.
    before = hits()
    seen = seen_by_the_service(call(NGINX, "GET", "/orders/42", {TOKEN_HEADER: token}), "a live token")
    if hits() != before + 1:
        fail("a live token: the service was not called exactly once")
    expected = {
        "x-account-id": store.account,
        "x-account-member-id": store.member,
        "x-account-token-expires": datetime.fromtimestamp(claims["exp"], timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    for name, value in expected.items():
        if header_values(seen, name) != [value]:
            fail(f"a live token: {name} is {header_values(seen, name)}, expected [{value!r}]")
    names = header_values(seen, "x-account-name")
    if len(names) != 1 or urllib.parse.unquote(names[0], errors="strict") != ACCOUNT_NAME:
        fail(f"a live token: x-account-name is {names}, expected {ACCOUNT_NAME!r} percent-encoded")
    if header_values(seen, TOKEN_HEADER.lower()) != [token]:
        fail("a live token: the account token did not reach the service")
    passed(f"a live token: the service sees X-Account-Id {store.account}, X-Account-Member-Id "
           f"{store.member}, X-Account-Name {names[0]} and X-Account-Token-Expires "
           f"{expected['x-account-token-expires']}")

    # Forged identity beside a live token, in every letter case, repeated, and with underscores.
    forged = [
        (TOKEN_HEADER, token),
        ("X-Account-Id", forged_account),
        ("x-account-id", str(uuid.uuid4())),
        ("X-ACCOUNT-MEMBER-ID", forged_member),
        ("X-Account-Name", "Forged%20Ltd"),
        ("X-Account-Token-Expires", "2999-01-01T00:00:00.000Z"),
        ("X_Account_Id", forged_account),
        ("X_Account_Member_Id", forged_member),
    ]
    seen = seen_by_the_service(call(NGINX, "GET", "/orders/42", forged), "forged identity headers")
    for name in IDENTITY_HEADERS:
        values = header_values(seen, name)
        wanted = [names[0]] if name == "x-account-name" else [expected[name]]
        if values != wanted:
            fail(f"forged identity headers: the service saw {name} {values}, expected {wanted}")
    smuggled = [header for header, _ in seen["headers"] if "_" in header]
    if smuggled:
        fail(f"forged identity headers: the service saw {smuggled}")
    passed("forged X-Account-* headers beside a live token (any case, repeated, with underscores): "
           "the service sees accountd's values only, once each")

    # The request itself reaches the service whole: method, path, body, the service's own
    # Authorization header.
    seen = seen_by_the_service(
        call(NGINX, "POST", "/orders?page=2",
             {TOKEN_HEADER: token, "Authorization": "Basic b3JkZXJzOnNlY3JldA=="},
             {"items": ["x" * 1000]}),
        "a POST with a body")
    if (seen["method"], seen["path"]) != ("POST", "/orders?page=2") or seen["body_length"] < 1000:
        fail(f"a POST with a body: the service saw {seen['method']} {seen['path']}, "
             f"{seen['body_length']} body bytes")
    if header_values(seen, "authorization") != ["Basic b3JkZXJzOnNlY3JldA=="]:
        fail("a POST with a body: the service's own Authorization header did not pass through")
    passed(f"a POST with a {seen['body_length']}-byte body and the service's own Authorization "
           "header reaches the service unchanged")

    # Revoked through the admin API: refused on the very next request. Tokens minted in the
    # second of the revocation survive it (docs/account-tokens.md#lifetime-and-revocation), so
    # the revocation waits for the token's second to pass.
    while time.time() < claims["iat"] + 1.05:
        time.sleep(0.05)
    expect(call(ACCOUNTD, "DELETE", f"/v2/account-members/{store.member}/tokens", store.bearer),
           204, "revoking the member's tokens")
    refused_without_calling_the_service({TOKEN_HEADER: token},
                                        "the next request after the admin revoked the token")
    fresh, _ = store.login()
    seen_by_the_service(call(NGINX, "GET", "/orders/42", {TOKEN_HEADER: fresh}),
                        "a token minted after the revocation")
    passed("a token minted after the revocation passes")

    # accountd unreachable: nginx refuses (500) rather than letting the request through.
    os.kill(ACCOUNTD_PID, signal.SIGINT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            call(ACCOUNTD, "GET", "/healthz")
        except OSError:
            break
        time.sleep(0.1)
    else:
        fail("accountd did not stop within 20 s")
    refused_without_calling_the_service({TOKEN_HEADER: fresh}, "a live token while accountd is down",
                                        status=500)


if __name__ == "__main__":
    main()
