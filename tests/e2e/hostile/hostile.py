"""Shared pieces of the hostile-traffic suite: start an accountd process on loopback with a
throw-away database, seed a member who can log in, send requests from a chosen 127.0.0.x source
address, and report each bound with the figure measured. Standard library only."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

BINARY = os.path.abspath(os.environ.get("ACCOUNTD_BIN", "target/debug/accountd"))
CLIENT_ID = "hostile-suite"
CLIENT_SECRET = "hostile-suite-secret-that-is-long-enough"
PASSWORD = "correct horse battery staple"

_failures = []


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def check(name, ok, bound, measured):
    """Prints one line per bound: what must hold and what was seen."""
    verdict = "ok  " if ok else "FAIL"
    print(f"    {verdict} {name}: bound {bound}; measured {measured}", flush=True)
    if not ok:
        _failures.append(name)


def finish():
    """Exits non-zero when any check failed."""
    if _failures:
        print(f"    failed: {', '.join(_failures)}", flush=True)
        sys.exit(1)
    sys.exit(0)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())


def request(base, method, path, body=None, headers=None, source="127.0.0.1", timeout=30):
    """One HTTP/1.1 request on a new connection from `source` (a 127.0.0.x address)."""
    parsed = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(
        parsed.hostname, parsed.port, timeout=timeout, source_address=(source, 0)
    )
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        data = answer.read()
        return Response(
            answer.status, {k.lower(): v for k, v in answer.getheaders()}, data
        )
    finally:
        connection.close()


class Server:
    """An accountd process with its own database; `with Server(env) as server:` starts it,
    seeds a password profile and a member, and stops it afterwards."""

    def __init__(self, env=None, seed=True, port=None):
        self.extra_env = env or {}
        self.seed_member = seed
        self.work = tempfile.mkdtemp(prefix="accountd-hostile-")
        self.port = port or free_port()
        self.management_port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.management = f"http://127.0.0.1:{self.management_port}"
        self.database_path = os.path.join(self.work, "accountd.db")
        self.process = None
        self.log_path = os.path.join(self.work, "server.log")

    def __enter__(self):
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": os.environ.get(
                    "HOSTILE_DATABASE_URL",
                    f"sqlite://{self.database_path}?mode=rwc",
                ),
                "ACCOUNTD_LISTEN": f"127.0.0.1:{self.port}",
                "ACCOUNTD_MANAGEMENT_LISTEN": f"127.0.0.1:{self.management_port}",
                "ACCOUNTD_CLIENT_ID": CLIENT_ID,
                "ACCOUNTD_CLIENT_SECRET": CLIENT_SECRET,
                "RUST_LOG": "warn",
            }
        )
        env.update(self.extra_env)
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [BINARY, "serve"],
            env=env,
            cwd=self.work,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if request(self.base, "GET", "/readyz", timeout=2).status == 200:
                    break
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"accountd exited early:\n{self.logs()}")
            time.sleep(0.1)
        else:
            raise RuntimeError(f"accountd did not become ready:\n{self.logs()}")
        if self.seed_member:
            self.seed()
        return self

    def __exit__(self, *exc):
        self.stop()
        if exc[0] is not None:
            print(f"--- server log (last lines)\n{self.logs()[-4000:]}", flush=True)
        shutil.rmtree(self.work, ignore_errors=True)
        return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self.log.closed:
            self.log.close()

    def logs(self):
        try:
            with open(self.log_path, "rb") as log:
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def rss_kib(self):
        """Resident memory of the server process now (VmRSS)."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    # -- credentials and seed data -------------------------------------------------------

    def token(self, grant="client_credentials", source="127.0.0.1"):
        form = {"grant_type": grant, "client_id": CLIENT_ID}
        if grant == "client_credentials":
            form["client_secret"] = CLIENT_SECRET
        answer = request(
            self.base,
            "POST",
            "/oauth/access_token",
            urllib.parse.urlencode(form),
            {"Content-Type": "application/x-www-form-urlencoded"},
            source=source,
        )
        if answer.status != 200:
            raise RuntimeError(f"access token: {answer.status} {answer.body!r}")
        return answer.json()["access_token"]

    def admin(self, method, path, body=None):
        if not hasattr(self, "_admin"):
            self._admin = self.token()
        return request(
            self.base, method, path, body, {"Authorization": f"Bearer {self._admin}"}
        )

    def seed(self):
        settings = self.admin("GET", "/v2/settings/account-authentication").json()
        self.realm = settings["data"]["relationships"]["authentication_realm"]["data"]["id"]
        self.profile = self.admin(
            "POST",
            f"/v2/authentication-realms/{self.realm}/password-profiles",
            {"data": {"type": "password_profile", "name": "Hostile suite"}},
        ).json()["data"]["id"]
        self.account = self.admin(
            "POST", "/v2/accounts", {"data": {"type": "account", "name": "Victim Ltd"}}
        ).json()["data"]["id"]
        self.username = "victim@example.com"
        self.member = self.add_member(self.username)
        self.admin(
            "POST",
            f"/v2/accounts/{self.account}/account-memberships",
            {"data": {"type": "account_membership", "account_member_id": self.member}},
        )

    def add_member(self, username, password=PASSWORD):
        member = self.admin(
            "POST",
            f"/v2/authentication-realms/{self.realm}/user-authentication-info",
            {
                "data": {
                    "type": "user_authentication_info",
                    "name": username,
                    "email": username,
                }
            },
        ).json()["data"]["id"]
        answer = self.admin(
            "POST",
            f"/v2/authentication-realms/{self.realm}/user-authentication-info/{member}"
            "/user-authentication-password-profile-info",
            {
                "data": {
                    "type": "user_authentication_password_profile_info",
                    "password_profile_id": self.profile,
                    "username": username,
                    "password": password,
                }
            },
        )
        if answer.status != 201:
            raise RuntimeError(f"password profile info: {answer.status} {answer.body!r}")
        return member

    def login(self, username, password, source="127.0.0.1", shopper=None, timeout=30):
        """A password login through the token endpoint with an implicit bearer token."""
        shopper = shopper or self.token("implicit", source=source)
        return request(
            self.base,
            "POST",
            "/v2/account-members/tokens",
            {
                "data": {
                    "type": "account_management_authentication_token",
                    "authentication_mechanism": "password",
                    "password_profile_id": self.profile,
                    "username": username,
                    "password": password,
                }
            },
            {"Authorization": f"Bearer {shopper}"},
            source=source,
            timeout=timeout,
        )

    def database_bytes(self):
        """The SQLite database's size on disk, WAL included."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += os.path.getsize(self.database_path + suffix)
            except OSError:
                pass
        return total
