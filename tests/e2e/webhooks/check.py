"""Receives accountd's webhooks on loopback and verifies each with the Standard Webhooks
reference library, as a receiver written by someone else would; then shows that the library
refuses the same delivery replayed later, re-timed, altered or checked with another key.

Run by run.sh, which starts accountd. Every wait is bounded; the script exits non-zero on the
first surprise.
"""

import base64
import json
import os
import sys
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks.webhooks as library
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

ACCOUNTD = os.environ["ACCOUNTD_URL"]
CLIENT_ID = os.environ["ACCOUNTD_CLIENT_ID"]
CLIENT_SECRET = os.environ["ACCOUNTD_CLIENT_SECRET"]
RECEIVER_PORT = int(os.environ["RECEIVER_PORT"])
SIGNATURES_FILE = os.environ["SIGNATURES_FILE"]

# Two integrations: one keeps Elastic Path's clear-text key, one sends only signatures.
KEYS = {
    "/loud": "loud-webhook-secret-" + base64.b16encode(os.urandom(8)).decode(),
    "/quiet": "quiet-webhook-secret-" + base64.b16encode(os.urandom(8)).decode(),
}
EVENTS = ["account.event.created", "account.event.updated", "account-member.event.created"]
EXPECTED = len(KEYS) * len(EVENTS)

received = []
lock = threading.Lock()


def step(message):
    print(f"  - {message}", flush=True)


def fail(message):
    print(f"FAILED: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        key = KEYS.get(self.path)
        verdict = "unknown path"
        if key is not None:
            try:
                # The key is used raw, as accountd signs with the secret_key's bytes.
                Webhook(key.encode()).verify(body, headers)
                verdict = "verified"
            except WebhookVerificationError as error:
                verdict = f"refused: {error}"
        with lock:
            received.append({"path": self.path, "headers": headers, "body": body, "verdict": verdict})
        self.send_response(204 if verdict == "verified" else 400)
        self.end_headers()

    def log_message(self, *args):
        pass


def call(method, path, body=None, bearer=None, form=None):
    headers = {}
    data = None
    if form is not None:
        data = "&".join(f"{name}={value}" for name, value in form.items()).encode()
        headers["content-type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    if bearer:
        headers["authorization"] = f"Bearer {bearer}"
    request = urllib.request.Request(f"{ACCOUNTD}{path}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def expect(status, reply, what):
    if reply[0] != status:
        fail(f"{what}: expected {status}, got {reply[0]} {reply[1]}")
    return reply[1]


def main():
    server = ThreadingHTTPServer(("127.0.0.1", RECEIVER_PORT), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver = f"http://127.0.0.1:{RECEIVER_PORT}"

    token = expect(200, call("POST", "/oauth/access_token", form={
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
    }), "admin token")["access_token"]
    for path, key in KEYS.items():
        configuration = {"url": receiver + path, "secret_key": key}
        if path == "/quiet":
            configuration["send_secret_key"] = False
        created = expect(201, call("POST", "/v2/integrations", bearer=token, body={"data": {
            "type": "integration", "name": f"standardwebhooks {path}", "observes": EVENTS,
            "configuration": configuration,
        }}), f"integration {path}")["data"]
        if created["configuration"]["send_secret_key"] != (path == "/loud"):
            fail(f"send_secret_key of {path}: {created['configuration']}")
    step("two integrations: one sends its key in clear, one only signs")

    account = expect(201, call("POST", "/v2/accounts", bearer=token, body={"data": {
        "type": "account", "name": "Standard Webhooks Ltd"}}), "account")["data"]
    expect(200, call("PUT", f"/v2/accounts/{account['id']}", bearer=token, body={"data": {
        "type": "account", "name": "Standard Webhooks plc"}}), "account update")
    realm = expect(200, call("GET", "/v2/settings/account-authentication", bearer=token),
                   "settings")["data"]["relationships"]["authentication_realm"]["data"]["id"]
    expect(201, call("POST", f"/v2/authentication-realms/{realm}/user-authentication-info",
                     bearer=token, body={"data": {"type": "user_authentication_info",
                                                  "name": "Ann Hook", "email": "ann@hooks.example"}}),
           "member")
    step(f"{len(EVENTS)} events triggered")

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with lock:
            if len(received) >= EXPECTED:
                break
        time.sleep(0.1)
    with lock:
        deliveries = list(received)
    if len(deliveries) < EXPECTED:
        fail(f"expected {EXPECTED} deliveries within 30 s, got {len(deliveries)}")
    for delivery in deliveries:
        if delivery["verdict"] != "verified":
            fail(f"{delivery['path']}: {delivery['verdict']}")
        envelope = json.loads(delivery["body"])
        if delivery["headers"].get("webhook-id") != envelope["id"]:
            fail("webhook-id is not the envelope id")
        clear = delivery["headers"].get("x-moltin-secret-key")
        echoed = envelope["configuration"].get("secret_key")
        key = KEYS[delivery["path"]]
        if delivery["path"] == "/loud" and (clear != key or echoed != key):
            fail("the loud integration did not send its key")
        if delivery["path"] == "/quiet" and (clear is not None or echoed is not None or key.encode() in delivery["body"]):
            fail("the quiet integration sent its key")
    step(f"{len(deliveries)} deliveries, every one verified by standardwebhooks")

    # The integrations' logs agree: every attempt succeeded.
    logs = expect(200, call("GET", "/v2/integrations/logs", bearer=token), "logs")
    if logs["meta"]["results"]["total"] != EXPECTED or not all(log["succeeded"] for log in logs["data"]):
        fail(f"integration logs: {logs}")

    original = next(d for d in deliveries if d["path"] == "/loud")
    key = KEYS["/loud"].encode()
    headers = original["headers"]
    Webhook(key).verify(original["body"], headers)

    def refused(what, body=original["body"], headers=headers, key=key):
        try:
            Webhook(key).verify(body, headers)
        except WebhookVerificationError as error:
            step(f"{what}: refused ({error})")
            return
        fail(f"{what} was accepted")

    refused("the body altered", body=original["body"].replace(b'"attempt":1', b'"attempt":2'))
    later = str(int(headers["webhook-timestamp"]) + 60)
    refused("the timestamp moved a minute", headers={**headers, "webhook-timestamp": later})
    refused("another webhook-id", headers={**headers, "webhook-id": "replayed-" + headers["webhook-id"]})
    refused("another key", key=KEYS["/quiet"].encode())

    # The same delivery presented ten minutes later, unchanged: the library's clock check.
    real_datetime = library.datetime

    class TenMinutesLater(datetime):
        @classmethod
        def now(cls, tz=None):
            return real_datetime.now(tz=tz or timezone.utc) + timedelta(minutes=10)

    library.datetime = TenMinutesLater
    try:
        refused("the delivery replayed ten minutes later")
    finally:
        library.datetime = real_datetime

    with open(SIGNATURES_FILE, "w") as out:
        for delivery in deliveries:
            out.write(delivery["headers"]["webhook-signature"].removeprefix("v1,") + "\n")
    server.shutdown()


if __name__ == "__main__":
    main()
