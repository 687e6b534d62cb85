#!/usr/bin/env bash
# End-to-end webhook signatures, verified by a library nobody here wrote: the Standard Webhooks
# reference library for Python (`standardwebhooks` from PyPI, at the version of requirements.txt).
# Starts an accountd binary with a throw-away SQLite database and check.py, which runs a
# receiver on loopback that verifies every delivery with the library, creates two integrations
# (one that sends its key in clear, one that does not), triggers events and asserts that every
# delivery verified; then it shows the library refusing a replayed, re-timed or altered delivery.
# Bounded in time; it removes everything it started or created on exit.
#
#   ACCOUNTD_BIN            accountd binary to test (default: target/debug/accountd, built if needed)
#   ACCOUNTD_E2E_CACHE      where the Python library is kept between runs (default: ~/.cache/accountd-ci)
#   ACCOUNTD_E2E_PORT_BASE  first of two loopback ports to use (default: ports the system picks)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)

if [ -z "${ACCOUNTD_BIN:-}" ]; then
  (cd "$repo" && cargo build --locked --quiet --bin accountd)
  ACCOUNTD_BIN="$repo/target/debug/accountd"
fi
requirements_hash=$(sha256sum "$here/requirements.txt" | cut -c1-16)
venv="${ACCOUNTD_E2E_CACHE:-$HOME/.cache/accountd-ci}/standardwebhooks-$requirements_hash"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import standardwebhooks' 2>/dev/null; then
  echo "installing standardwebhooks into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  timeout 300 "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi

work=$(mktemp -d)
pids=()
cleanup() {
  status=$?
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ] && [ -f "$work/accountd.log" ]; then
    echo "--- accountd.log (last lines)"
    tail -n 40 "$work/accountd.log"
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

free_port() {
  "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
if [ -n "${ACCOUNTD_E2E_PORT_BASE:-}" ]; then
  accountd_port=$ACCOUNTD_E2E_PORT_BASE
  receiver_port=$((ACCOUNTD_E2E_PORT_BASE + 1))
else
  accountd_port=$(free_port)
  receiver_port=$(free_port)
fi
accountd="http://127.0.0.1:$accountd_port"

client_id="e2e-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
client_secret=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
# The receiver listens on loopback over plain http: a development destination.
(cd "$work" && exec env -i PATH="$PATH" HOME="$work" \
  DATABASE_URL="sqlite://$work/data/accountd.db?mode=rwc" \
  ACCOUNTD_LISTEN="127.0.0.1:$accountd_port" \
  ACCOUNTD_MANAGEMENT_LISTEN=off \
  ACCOUNTD_PUBLIC_BASE_URL="$accountd" \
  ACCOUNTD_CLIENT_ID="$client_id" ACCOUNTD_CLIENT_SECRET="$client_secret" \
  ACCOUNTD_ALLOW_PRIVATE_DESTINATIONS=true \
  ACCOUNTD_HASH_POOL_SIZE=1 RUST_LOG=info \
  "$ACCOUNTD_BIN" serve) >"$work/accountd.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$accountd/healthz" 2>/dev/null && break
  sleep 0.2
done
curl -fsS -o /dev/null "$accountd/healthz"

(cd "$work" && ACCOUNTD_URL="$accountd" ACCOUNTD_CLIENT_ID="$client_id" \
  ACCOUNTD_CLIENT_SECRET="$client_secret" RECEIVER_PORT="$receiver_port" \
  SIGNATURES_FILE="$work/signatures" timeout 120 "$venv/bin/python" "$here/check.py")

# webhook-signature values never reach accountd's log.
while read -r signature; do
  if grep -qF -- "$signature" "$work/accountd.log"; then
    echo "a webhook-signature reached accountd's log" >&2
    exit 1
  fi
done <"$work/signatures"
echo "e2e webhook signatures verified by standardwebhooks: OK"
