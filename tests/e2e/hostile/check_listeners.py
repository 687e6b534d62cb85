"""/metrics as an oracle: its gauges move with what the API hides, so it is served only on the
management listener (ACCOUNTD_MANAGEMENT_LISTEN); /healthz and /readyz answer on both. A busy
default management address only warns (two servers on one machine keep working); an explicitly
configured address that cannot be bound stops the start."""

import shutil
import socket

import hostile
from hostile import Server, check


def status(base, path):
    try:
        return hostile.request(base, "GET", path, timeout=5).status
    except OSError as error:
        return f"no answer ({error.__class__.__name__})"


with Server(seed=False) as server:
    api = hostile.request(server.base, "GET", "/metrics", source="127.0.0.8")
    check(
        "GET /metrics on the API listener",
        api.status == 404 and api.json()["errors"][0]["detail"] == "route not found",
        "404 route not found",
        f"{api.status} {api.body[:80]!r}",
    )
    metrics = hostile.request(server.management, "GET", "/metrics")
    check(
        "GET /metrics on the management listener",
        metrics.status == 200 and b"accountd_http_requests_total" in metrics.body,
        "200 with the accountd_ series",
        f"{metrics.status}, {len(metrics.body)} bytes",
    )
    probes = {
        f"{name} {path}": status(base, path)
        for name, base in [("API", server.base), ("management", server.management)]
        for path in ["/healthz", "/readyz"]
    }
    check(
        "the probes answer on both listeners",
        set(probes.values()) == {200},
        "200 on each",
        str(probes),
    )

# The default address, held here (or by some other process already): the server must start.
holder = socket.socket()
try:
    holder.bind(("127.0.0.1", 9464))
    holder.listen()
except OSError:
    pass
try:
    with Server({"ACCOUNTD_MANAGEMENT_LISTEN": ""}, seed=False) as second:
        served = status(second.base, "/healthz")
        warned = "management listener (/metrics) is not served" in second.logs()
    check(
        "a busy default management address",
        served == 200 and warned,
        "the API is served and a warning logged",
        f"/healthz {served}; warning {'logged' if warned else 'missing'}",
    )
finally:
    holder.close()

# An explicitly configured address that is taken stops the start.
taken = socket.socket()
taken.bind(("127.0.0.1", 0))
taken.listen()
refused = Server({"ACCOUNTD_MANAGEMENT_LISTEN": f"127.0.0.1:{taken.getsockname()[1]}"}, seed=False)
try:
    refused.__enter__()
    outcome = "it started"
except RuntimeError:
    outcome = f"exit status {refused.process.returncode}"
finally:
    refused.stop()
    log = refused.logs()
    shutil.rmtree(refused.work, ignore_errors=True)
    taken.close()
check(
    "a configured management address that is taken",
    outcome.startswith("exit status") and outcome != "exit status 0" and "cannot listen on" in log,
    "the start stops with 'cannot listen on …'",
    outcome,
)

hostile.finish()
