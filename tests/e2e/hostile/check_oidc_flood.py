"""Unauthenticated writes through the OpenID Connect login endpoint: each request with a valid
profile stores a login record, so a flood from one address is held to the per-address budget
(429 in the errors envelope, never a redirect), and the rows it did write stay bounded. A tiny
discovery document on loopback stands in for the identity provider."""

import http.server
import json
import math
import sqlite3
import threading
import time
import urllib.parse

import hostile
from hostile import Server, check, free_port, request

BUDGET = 60
FLOOD = 400

provider_port = free_port()
issuer = f"http://127.0.0.1:{provider_port}"


class Provider(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/.well-known/openid-configuration":
            body = json.dumps(
                {
                    "issuer": issuer,
                    "authorization_endpoint": f"{issuer}/authorize",
                    "token_endpoint": f"{issuer}/token",
                    "jwks_uri": f"{issuer}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                }
            ).encode()
        elif self.path == "/jwks":
            body = b'{"keys":[]}'
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


provider = http.server.ThreadingHTTPServer(("127.0.0.1", provider_port), Provider)
threading.Thread(target=provider.serve_forever, daemon=True).start()

with Server(
    {
        "ACCOUNTD_RATE_LIMIT_PER_MINUTE": str(BUDGET),
        "ACCOUNTD_ALLOW_PRIVATE_DESTINATIONS": "true",
    }
) as server:
    storefront = "http://localhost:3000/callback"
    server.admin(
        "PUT",
        f"/v2/authentication-realms/{server.realm}",
        {"data": {"type": "authentication-realm", "redirect_uris": [storefront]}},
    )
    created = server.admin(
        "POST",
        f"/v2/authentication-realms/{server.realm}/oidc-profiles",
        {
            "data": {
                "type": "oidc-profile",
                "name": "Loopback provider",
                "discovery_url": f"{issuer}/.well-known/openid-configuration",
                "client_id": "accountd",
                "client_secret": "a-client-secret",
            }
        },
    )
    if created.status != 201:
        raise RuntimeError(f"oidc profile: {created.status} {created.body!r}")
    profile = created.json()["data"]
    login = urllib.parse.urlsplit(profile["links"]["authorization-endpoint"])
    query = urllib.parse.urlencode(
        {
            "client_id": "account-management",
            "redirect_uri": storefront,
            "response_type": "code",
            "scope": "openid email",
            "state": "s" * 2000,
            "code_challenge": "E9Melhoa2OwvFrEMTJguCQ2YU7RfoE4qjV7H9zzR9A0",
            "code_challenge_method": "S256",
        }
    )
    target = f"{login.path}?{login.query}&{query}"
    started = time.monotonic()
    statuses = {}
    redirected_after_refusal = False
    bodies_ok = True
    for _ in range(FLOOD):
        answer = request(server.base, "GET", target, source="127.0.0.60")
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
        if answer.status == 429:
            if answer.header("location"):
                redirected_after_refusal = True
            if answer.json()["errors"][0]["detail"] != "too many attempts, try again later":
                bodies_ok = False
    elapsed = time.monotonic() - started
    # The budget refills continuously at BUDGET a minute while the flood runs.
    allowed = BUDGET + math.ceil(elapsed * BUDGET / 60) + 1
    check(
        f"{FLOOD} login requests from one address in {elapsed:.1f} s",
        statuses.get(303, 0) <= allowed and set(statuses) <= {303, 429},
        f"at most the budget and its refill ({allowed}) answered, the rest 429",
        f"statuses {statuses}",
    )
    check(
        "a refused login request",
        not redirected_after_refusal and bodies_ok,
        "429 in the errors envelope, never a redirect",
        "checked",
    )
    with sqlite3.connect(f"file:{server.database_path}?mode=ro", uri=True) as database:
        rows = database.execute("SELECT COUNT(*) FROM oidc_logins").fetchone()[0]
    check(
        "login records the flood wrote",
        rows <= allowed,
        f"at most one per admitted request ({allowed})",
        f"{rows} rows",
    )
    answer = request(server.base, "GET", target, source="127.0.0.61")
    check(
        "another address",
        answer.status == 303,
        "its own budget: 303 to the provider",
        f"{answer.status}",
    )

provider.shutdown()
hostile.finish()
