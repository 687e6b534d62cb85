"""Verifies accountd's account tokens with libraries nobody here wrote, as downstream services
would: jose (through the README's verifier module, in a node process, jose_verifier.mjs) and
PyJWT's PyJWKClient against the JWK Set, Authlib's RFC 7662 client against introspection.

One accountd process at a time, on one SQLite database and one loopback port:

1. under EdDSA: both libraries verify a token and refuse a re-signed one and the wrong
   algorithm; introspection answers active;
2. restarted under ES256, so the EdDSA key is retired (it keeps verifying, and stays published,
   until its tokens could have expired): ES256 tokens verify, the EdDSA token still does;
   a 60-second token verifies and is active;
3. `accountd keys rotate` and `accountd keys remove <the EdDSA kid>` against the running server,
   which takes both up within a minute, while the 60-second token expires;
4. the removed key's token is refused by fresh verifiers and introspection; the expired token is
   refused as expired and is inactive; a token of the rotated key verifies with the verifiers of
   step 2, which refetch the set for its kid;
5. the admin revokes the member's tokens: introspection answers inactive at once, while offline
   verification cannot know (docs/account-tokens.md#downstream-verification).

Each check prints one line; the script exits non-zero if any failed. Every wait is bounded.
"""

import base64
import ctypes
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import uuid

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session

BINARY = os.environ["ACCOUNTD_BIN"]
WORK = os.environ["WORK"]
JOSE_DIR = os.environ["JOSE_DIR"]

STORE_ID = str(uuid.uuid4())
CLIENT_ID = "e2e-" + uuid.uuid4().hex[:16]
CLIENT_SECRET = uuid.uuid4().hex + uuid.uuid4().hex
PASSWORD = "downstream libraries password"
REQUIRED_CLAIMS = ["sub", "scope", "store_id", "realm_id", "iat", "exp", "jti"]
# The shortest token timeout the settings accept.
SHORT_TIMEOUT = 60
DEFAULT_TIMEOUT = 86_400
# Servers take rotated and removed keys up within this (the refresh interval), plus a margin.
KEY_REFRESH_BOUND = 75

failures = []


def passed(message):
    print(f"  ok   {message}", flush=True)


def failed(message):
    print(f"  FAIL {message}", flush=True)
    failures.append(message)


def check(ok, message, detail=""):
    if ok:
        passed(message)
    else:
        failed(f"{message}: {detail}" if detail else message)
    return ok


def fatal(message):
    print(f"  FAIL {message}", flush=True)
    sys.exit(1)


def die_with_this_process():
    """In the child: SIGTERM when check.py ends, however it ends (Linux prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def claims_of(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def kid_of(token):
    return jwt.get_unverified_header(token)["kid"]


class Accountd:
    """The server under test, started and stopped by this script; the database outlives it."""

    def __init__(self):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = None
        self.log = open(os.path.join(WORK, "accountd.log"), "ab")

    def env(self, algorithm):
        return {
            "PATH": os.environ["PATH"],
            "HOME": WORK,
            "DATABASE_URL": f"sqlite://{WORK}/data/accountd.db?mode=rwc",
            "ACCOUNTD_LISTEN": f"127.0.0.1:{self.port}",
            "ACCOUNTD_MANAGEMENT_LISTEN": "off",
            "ACCOUNTD_PUBLIC_BASE_URL": self.base,
            "ACCOUNTD_STORE_ID": STORE_ID,
            "ACCOUNTD_CLIENT_ID": CLIENT_ID,
            "ACCOUNTD_CLIENT_SECRET": CLIENT_SECRET,
            "ACCOUNTD_JWT_ALG": algorithm,
            "ACCOUNTD_SHUTDOWN_DRAIN": "0",
            "ACCOUNTD_HASH_POOL_SIZE": "1",
            "RUST_LOG": "info",
        }

    def start(self, algorithm):
        self.algorithm = algorithm
        self.process = subprocess.Popen(
            [BINARY, "serve"], env=self.env(algorithm), cwd=WORK, stdout=self.log,
            stderr=subprocess.STDOUT, preexec_fn=die_with_this_process)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                fatal(f"accountd exited at start ({self.process.returncode})")
            try:
                if requests.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        fatal("accountd was not ready within 30 s")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def keys(self, *arguments):
        """`accountd keys …` on the same database, as an operator runs it beside the server."""
        result = subprocess.run([BINARY, "keys", *arguments], env=self.env(self.algorithm), cwd=WORK,
                                capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            fatal(f"accountd keys {' '.join(arguments)}: {result.stderr.strip()}")
        return result.stdout

    def jwks(self):
        answer = requests.get(f"{self.base}/.well-known/jwks.json", timeout=10)
        answer.raise_for_status()
        return answer.json()["keys"]

    def call(self, method, path, bearer=None, body=None, form=None):
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        answer = requests.request(method, f"{self.base}{path}", headers=headers, json=body,
                                  data=form, timeout=10)
        return answer.status_code, answer.json() if answer.content else None


def expect(reply, status, what):
    if reply[0] != status:
        fatal(f"{what}: expected {status}, got {reply[0]} {reply[1]}")
    return reply[1]


class Store:
    """An account and a member of it who logs in with a password."""

    def __init__(self, server):
        self.server = server
        self.admin = self.bearer("client_credentials")
        settings = expect(server.call("GET", "/v2/settings/account-authentication", self.admin),
                          200, "settings")
        self.realm = settings["data"]["relationships"]["authentication_realm"]["data"]["id"]
        realm_path = f"/v2/authentication-realms/{self.realm}"
        self.profile = expect(server.call("POST", f"{realm_path}/password-profiles", self.admin, {
            "data": {"type": "password_profile", "name": "downstream libraries"}}),
            201, "password profile")["data"]["id"]
        self.account = expect(server.call("POST", "/v2/accounts", self.admin, {
            "data": {"type": "account", "name": "Downstream Libraries Ltd"}}),
            201, "account")["data"]["id"]
        self.username = "libraries@downstream.example"
        self.member = expect(server.call("POST", f"{realm_path}/user-authentication-info", self.admin, {
            "data": {"type": "user_authentication_info", "name": "Libby", "email": self.username}}),
            201, "member")["data"]["id"]
        expect(server.call(
            "POST", f"{realm_path}/user-authentication-info/{self.member}"
            "/user-authentication-password-profile-info", self.admin, {
                "data": {"type": "user_authentication_password_profile_info",
                         "password_profile_id": self.profile, "username": self.username,
                         "password": PASSWORD}}),
            201, "password")
        expect(self.server.call("POST", f"/v2/accounts/{self.account}/account-memberships", self.admin, {
            "data": {"type": "account_membership", "account_member_id": self.member}}),
            201, "membership")

    def bearer(self, grant):
        form = {"grant_type": grant, "client_id": CLIENT_ID}
        if grant == "client_credentials":
            form["client_secret"] = CLIENT_SECRET
        return expect(self.server.call("POST", "/oauth/access_token", form=form),
                      200, grant)["access_token"]

    def login(self):
        body = {"data": {"type": "account_management_authentication_token",
                         "authentication_mechanism": "password", "password_profile_id": self.profile,
                         "username": self.username, "password": PASSWORD}}
        reply = self.server.call("POST", "/v2/account-members/tokens", self.bearer("implicit"), body)
        return expect(reply, 201, "login")["data"][0]["token"]

    def token_timeout(self, seconds):
        expect(self.server.call("PUT", "/v2/settings/account-authentication", self.admin, {
            "data": {"type": "account_authentication_settings",
                     "account_management_authentication_token_timeout_secs": seconds}}),
            200, "token timeout setting")

    def revoke_tokens(self):
        expect(self.server.call("DELETE", f"/v2/account-members/{self.member}/tokens", self.admin),
               204, "revoking the member's tokens")


class Jose:
    """The node process that holds the README's jose verifiers."""

    def __init__(self):
        self.process = subprocess.Popen(
            ["node", "jose_verifier.mjs"], cwd=JOSE_DIR, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, preexec_fn=die_with_this_process)

    def ask(self, request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], 30)
        if not ready:
            fatal(f"jose did not answer within 30 s: {request}")
        line = self.process.stdout.readline()
        if not line:
            fatal(f"the jose process ended ({self.process.poll()})")
        return json.loads(line)

    def verifier(self, name, server, algorithm, store):
        self.ask({"create": name, "accountd": server.base, "algorithm": algorithm,
                  "storeId": STORE_ID, "realmId": store.realm})

    def verify(self, name, token):
        return self.ask({"verify": name, "token": token})

    def close(self):
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def pyjwt_client(server):
    """PyJWKClient as a Python service would keep one: the set cached for its max-age, refetched
    for an unknown kid at most every five seconds."""
    return jwt.PyJWKClient(f"{server.base}/.well-known/jwks.json", lifespan=300, cooldown_duration=5,
                           timeout=10)


def pyjwt_verify(client, token, algorithm, store):
    """Claims, or raises PyJWT's error: the key by kid from the set, only `algorithm` accepted."""
    if jwt.get_unverified_header(token).get("typ") != "JWT":
        raise jwt.InvalidTokenError("typ is not JWT")
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=[algorithm], options={"require": REQUIRED_CLAIMS})
    if claims["store_id"] != STORE_ID or claims["realm_id"] != store.realm:
        raise jwt.InvalidTokenError("an account token of another store")
    return claims


def pyjwt_refusal(client, token, algorithm, store):
    """The name of PyJWT's error, or None when the token verified."""
    try:
        pyjwt_verify(client, token, algorithm, store)
        return None
    except jwt.PyJWTError as error:
        return type(error).__name__


def introspection_client():
    """Authlib's OAuth 2.0 client, authenticating with the application key as HTTP Basic."""
    return OAuth2Session(CLIENT_ID, CLIENT_SECRET, token_endpoint_auth_method="client_secret_basic")


def introspect(client, server, token):
    answer = client.introspect_token(f"{server.base}/oauth/introspect", token=token,
                                     token_type_hint="access_token", timeout=10)
    if answer.status_code != 200:
        fatal(f"introspection: {answer.status_code} {answer.text}")
    return answer.json()


def tampered(token):
    head, payload, signature = token.split(".")
    flipped = ("B" if signature[10] == "A" else "A")
    return f"{head}.{payload}.{signature[:10]}{flipped}{signature[11:]}"


def listed(keys):
    return {key["kid"]: key for key in keys}


def run():
    server = Accountd()
    jose = None
    try:
        jose = Jose()
        scenario(server, jose)
    finally:
        if jose:
            jose.close()
        server.stop()


def scenario(server, jose):
    # 1. EdDSA.
    server.start("EdDSA")
    store = Store(server)
    eddsa = store.login()
    eddsa_kid = kid_of(eddsa)
    keys = listed(server.jwks())
    key = keys.get(eddsa_kid, {})
    check((key.get("kty"), key.get("crv"), key.get("alg"), key.get("use")) == ("OKP", "Ed25519", "EdDSA", "sig"),
          f"the JWK Set publishes the EdDSA key {eddsa_kid}", json.dumps(keys))

    jose.verifier("eddsa", server, "EdDSA", store)
    jose.verifier("es256", server, "ES256", store)
    answer = jose.verify("eddsa", eddsa)
    check(answer.get("ok") and answer["identity"]["accountId"] == store.account
          and answer["identity"]["memberId"] == store.member,
          "jose verifies an EdDSA token against the JWK Set: its account and member", answer)
    pyjwt = pyjwt_client(server)
    try:
        claims = pyjwt_verify(pyjwt, eddsa, "EdDSA", store)
    except jwt.PyJWTError as error:
        fatal(f"PyJWT (PyJWKClient) verifies an EdDSA token: {type(error).__name__}: {error}")
    check((claims["scope"], claims["sub"]) == (store.account, store.member),
          "PyJWT (PyJWKClient) verifies an EdDSA token against the JWK Set: its account and member",
          claims)
    answer = jose.verify("eddsa", tampered(eddsa))
    check(answer.get("code") == "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
          "jose refuses the EdDSA token with one signature character changed", answer)
    refusal = pyjwt_refusal(pyjwt, tampered(eddsa), "EdDSA", store)
    check(refusal == "InvalidSignatureError",
          "PyJWT refuses the EdDSA token with one signature character changed", refusal)
    answer = jose.verify("es256", eddsa)
    check(answer.get("code") == "ERR_JOSE_ALG_NOT_ALLOWED",
          "jose configured for ES256 refuses the EdDSA token", answer)
    refusal = pyjwt_refusal(pyjwt, eddsa, "ES256", store)
    check(refusal == "InvalidAlgorithmError", "PyJWT configured for ES256 refuses the EdDSA token",
          refusal)

    authlib = introspection_client()
    answer = introspect(authlib, server, eddsa)
    expected = {"active": True, "token_type": "account_management_authentication_token",
                "sub": store.member, "scope": store.account, "account_id": store.account,
                "account_name": "Downstream Libraries Ltd", "store_id": STORE_ID,
                "iat": claims["iat"], "exp": claims["exp"], "jti": claims["jti"]}
    check(answer == expected, "Authlib introspects the EdDSA token: active, with its claims and account",
          answer)

    # 2. ES256: the start rotates to an ES256 key pair; the EdDSA key is retired.
    server.stop()
    server.start("ES256")
    es256 = store.login()
    es256_kid = kid_of(es256)
    store.token_timeout(SHORT_TIMEOUT)
    short = store.login()
    store.token_timeout(DEFAULT_TIMEOUT)
    short_claims = claims_of(short)
    keys = server.jwks()
    check([key["kid"] for key in keys][:1] == [es256_kid] and eddsa_kid in listed(keys)
          and listed(keys)[es256_kid].get("alg") == "ES256" and listed(keys)[es256_kid].get("crv") == "P-256",
          "after the move to ES256 the JWK Set lists the ES256 key first and the retired EdDSA key",
          json.dumps(keys))
    # The first client fetched the set moments ago, so its cooldown would refuse the new kid;
    # a service starting now has a fresh one. The first client meets a new kid again in step 4.
    fresh = pyjwt_client(server)
    for name, token in [("an ES256 token", es256), (f"a {SHORT_TIMEOUT}-second ES256 token", short)]:
        answer = jose.verify("es256", token)
        check(answer.get("ok") and answer["identity"]["accountId"] == store.account,
              f"jose verifies {name}", answer)
        refusal = pyjwt_refusal(fresh, token, "ES256", store)
        check(refusal is None, f"PyJWT verifies {name}", refusal)
    answer = jose.verify("eddsa", eddsa)
    check(answer.get("ok"), "jose still verifies the token of the retired EdDSA key", answer)
    refusal = pyjwt_refusal(pyjwt_client(server), eddsa, "EdDSA", store)
    check(refusal is None, "PyJWT, with a fresh JWK Set, still verifies the token of the retired EdDSA key",
          refusal)
    check(introspect(authlib, server, eddsa).get("active") is True,
          "Authlib: the retired EdDSA key's token is still active")
    check(introspect(authlib, server, short).get("active") is True,
          f"Authlib: the {SHORT_TIMEOUT}-second token is active")

    # 3. Rotate and remove against the running server; it takes both up within a minute.
    rotated = server.keys("rotate")
    server.keys("remove", eddsa_kid)
    passed(f"accountd keys rotate ({rotated.split(' key ')[1].split('.')[0]}), "
           f"accountd keys remove {eddsa_kid}")
    deadline = time.monotonic() + KEY_REFRESH_BOUND
    print(f"       waiting for the server to take the keys up and the {SHORT_TIMEOUT}-second token "
          f"to expire (at most {KEY_REFRESH_BOUND} s)", flush=True)
    while True:
        kids = [key["kid"] for key in server.jwks()]
        if kids and kids[0] not in (es256_kid, eddsa_kid) and eddsa_kid not in kids \
                and time.time() >= short_claims["exp"] + 1:
            break
        if time.monotonic() > deadline:
            fatal(f"within {KEY_REFRESH_BOUND} s: the JWK Set is {kids}, the token expires at "
                  f"{short_claims['exp']}, now {time.time():.0f}")
        time.sleep(1)
    check(es256_kid in kids, "the JWK Set lists the new key first, keeps the retired ES256 key and "
          "drops the removed EdDSA key", kids)

    # 4. The removed key, the expired token, the rotated key.
    jose.verifier("eddsa-fresh", server, "EdDSA", store)
    answer = jose.verify("eddsa-fresh", eddsa)
    check(answer.get("code") == "ERR_JWKS_NO_MATCHING_KEY",
          "jose, with a fresh JWK Set, refuses the token of the removed EdDSA key", answer)
    refusal = pyjwt_refusal(pyjwt_client(server), eddsa, "EdDSA", store)
    check(refusal == "PyJWKClientError",
          "PyJWT, with a fresh JWK Set, refuses the token of the removed EdDSA key", refusal)
    answer = introspect(authlib, server, eddsa)
    check(answer == {"active": False}, "Authlib: the removed key's token is inactive", answer)

    answer = jose.verify("es256", short)
    check(answer.get("code") == "ERR_JWT_EXPIRED",
          f"jose refuses the {SHORT_TIMEOUT}-second token as expired", answer)
    refusal = pyjwt_refusal(fresh, short, "ES256", store)
    check(refusal == "ExpiredSignatureError",
          f"PyJWT refuses the {SHORT_TIMEOUT}-second token as expired", refusal)
    answer = introspect(authlib, server, short)
    check(answer == {"active": False}, f"Authlib: the expired {SHORT_TIMEOUT}-second token is inactive",
          answer)

    newest = store.login()
    newest_kid = kid_of(newest)
    check(newest_kid == kids[0], "the running server signs with the rotated key", newest_kid)
    answer = jose.verify("es256", newest)
    check(answer.get("ok"), "jose, holding the set from before the rotation, refetches it and "
          "verifies a token of the new key", answer)
    refusal = pyjwt_refusal(pyjwt, newest, "ES256", store)
    check(refusal is None, "PyJWT, holding the set from before the rotation, refetches it and "
          "verifies a token of the new key", refusal)
    answer = jose.verify("es256", es256)
    check(answer.get("ok"), "jose still verifies the token of the retired ES256 key", answer)
    answer = introspect(authlib, server, newest)
    check(answer.get("active") is True and answer.get("jti") == claims_of(newest)["jti"],
          "Authlib: a token of the new key is active", answer)

    # 5. Revoked by the admin. Tokens minted in the second of the revocation survive it
    # (docs/account-tokens.md#lifetime-and-revocation), so the revocation waits for the next one.
    while time.time() < claims_of(newest)["iat"] + 1.05:
        time.sleep(0.05)
    store.revoke_tokens()
    answer = introspect(authlib, server, newest)
    check(answer == {"active": False}, "Authlib: the token is inactive once the admin revoked it", answer)
    answer = jose.verify("es256", newest)
    check(answer.get("ok"), "jose still accepts the revoked token until it expires: offline "
          "verification cannot see revocations, as documented", answer)

    wrong = OAuth2Session(CLIENT_ID, "not-the-secret", token_endpoint_auth_method="client_secret_basic")
    answer = wrong.introspect_token(f"{server.base}/oauth/introspect", token=newest, timeout=10)
    check(answer.status_code == 401 and answer.json()["errors"][0]["status"] == "401",
          "Authlib with a wrong client secret gets 401", f"{answer.status_code} {answer.text}")


def main():
    # A SIGTERM (from `timeout`) unwinds through the finally blocks that stop the processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    run()
    if failures:
        print(f"  {len(failures)} check(s) failed", flush=True)
        sys.exit(1)
    print(f"  all checks passed in {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
