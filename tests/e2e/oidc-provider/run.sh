#!/usr/bin/env bash
# End-to-end OIDC login against an identity provider nobody here wrote: panva's oidc-provider
# (OpenID Certified), from npm at the exact versions of package-lock.json. Starts the provider and
# an accountd binary on loopback ports with a throw-away SQLite database, then runs driver.mjs,
# which creates the OIDC profile (the provider's issuer checked against the discovery URL),
# walks the browser flow and redeems accountd's code for account tokens. Bounded in time, and it removes everything it started or created on exit.
#
#   ACCOUNTD_BIN        accountd binary to test (default: target/debug/accountd, built if needed)
#   ACCOUNTD_E2E_CACHE  where npm packages are kept between runs (default: ~/.cache/accountd-ci)
#   ACCOUNTD_E2E_PORT_BASE  first of two loopback ports to use (default: ports the system picks)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)

if [ -z "${ACCOUNTD_BIN:-}" ]; then
  (cd "$repo" && cargo build --locked --quiet --bin accountd)
  ACCOUNTD_BIN="$repo/target/debug/accountd"
fi
lock_hash=$(sha256sum "$here/package-lock.json" | cut -c1-16)
modules="${ACCOUNTD_E2E_CACHE:-$HOME/.cache/accountd-ci}/oidc-provider-$lock_hash"

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
  if [ "$status" -ne 0 ]; then
    for log in "$work"/*.log; do
      [ -f "$log" ] && { echo "--- $(basename "$log") (last lines)"; tail -n 40 "$log"; }
    done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

if [ ! -d "$modules/node_modules/oidc-provider" ]; then
  echo "installing oidc-provider into $modules"
  mkdir -p "$modules"
  cp "$here/package.json" "$here/package-lock.json" "$modules/"
  (cd "$modules" && timeout 300 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi
cp "$here/provider.mjs" "$here/driver.mjs" "$here/package.json" "$work/"
ln -s "$modules/node_modules" "$work/node_modules"

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}
wait_for() {
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "$2 did not come up at $1" >&2
  return 1
}

if [ -n "${ACCOUNTD_E2E_PORT_BASE:-}" ]; then
  provider_port=$ACCOUNTD_E2E_PORT_BASE
  accountd_port=$((ACCOUNTD_E2E_PORT_BASE + 1))
else
  provider_port=$(free_port)
  accountd_port=$(free_port)
fi
issuer="http://127.0.0.1:$provider_port"
accountd="http://127.0.0.1:$accountd_port"

(cd "$work" && exec env PROVIDER_PORT="$provider_port" node provider.mjs) >"$work/provider.log" 2>&1 &
pids+=($!)

client_id="e2e-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
client_secret=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
(cd "$work" && exec env -i PATH="$PATH" HOME="$work" \
  DATABASE_URL="sqlite://$work/data/accountd.db?mode=rwc" \
  ACCOUNTD_LISTEN="127.0.0.1:$accountd_port" \
  ACCOUNTD_PUBLIC_BASE_URL="$accountd" \
  ACCOUNTD_CLIENT_ID="$client_id" ACCOUNTD_CLIENT_SECRET="$client_secret" \
  ACCOUNTD_JWT_SECRET="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" \
  ACCOUNTD_ALLOW_PRIVATE_DESTINATIONS=true \
  ACCOUNTD_HASH_POOL_SIZE=1 RUST_LOG=info \
  "$ACCOUNTD_BIN" serve) >"$work/accountd.log" 2>&1 &
pids+=($!)

wait_for "$issuer/.well-known/openid-configuration" "oidc-provider"
wait_for "$accountd/healthz" "accountd"

(cd "$work" && ACCOUNTD_URL="$accountd" PROVIDER_ISSUER="$issuer" \
  ACCOUNTD_CLIENT_ID="$client_id" ACCOUNTD_CLIENT_SECRET="$client_secret" \
  SECRET_FILE="$work/provider-client-secret" timeout 120 node driver.mjs)

# Secrets never reach accountd's log: neither its own client secret nor the provider's.
for secret in "$client_secret" "$(cat "$work/provider-client-secret")"; do
  if grep -qF -- "$secret" "$work/accountd.log"; then
    echo "a client secret reached accountd's log" >&2
    exit 1
  fi
done
