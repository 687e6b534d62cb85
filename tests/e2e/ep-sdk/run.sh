#!/usr/bin/env bash
# Elastic Path's JS SDK (@elasticpath/js-sdk, npm, at the version of package-lock.json) against
# accountd, as a storefront and an admin would call it: check.mjs starts an accountd binary under
# HS256, EdDSA and ES256 in turn (each on a throw-away SQLite database and a loopback port), sets
# up a password profile, accounts, a member and memberships with the admin gateway, logs the member
# in with the storefront's implicit gateway, uses the account token for account-holder calls and
# asks for a one-time password, printing one line per check. A few seconds. Bounded in time; it
# stops everything it started and removes what it created on exit.
#
#   ACCOUNTD_BIN        accountd binary to test (default: target/debug/accountd, built if needed)
#   ACCOUNTD_E2E_CACHE  where the npm packages are kept between runs (default: ~/.cache/accountd-ci)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cache=${ACCOUNTD_E2E_CACHE:-$HOME/.cache/accountd-ci}

if [ -z "${ACCOUNTD_BIN:-}" ]; then
  (cd "$repo" && cargo build --locked --quiet --bin accountd)
  ACCOUNTD_BIN="$repo/target/debug/accountd"
fi

lock_hash=$(sha256sum "$here/package-lock.json" | cut -c1-16)
modules="$cache/ep-sdk-$lock_hash"
if [ ! -d "$modules/node_modules/@elasticpath/js-sdk" ]; then
  echo "installing @elasticpath/js-sdk into $modules"
  mkdir -p "$modules"
  cp "$here/package.json" "$here/package-lock.json" "$modules/"
  (cd "$modules" && timeout 300 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi

work=$(mktemp -d)
checker=""
cleanup() {
  status=$?
  if [ -n "$checker" ]; then
    kill "$checker" 2>/dev/null || true
    wait "$checker" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -f "$work/accountd.log" ]; then
    echo "--- accountd.log (last lines)"
    tail -n 40 "$work/accountd.log"
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

mkdir -p "$work/sdk"
cp "$here/check.mjs" "$here/package.json" "$work/sdk/"
ln -s "$modules/node_modules" "$work/sdk/node_modules"

# check.mjs owns the accountd processes; they die with it (setpriv --pdeathsig). It runs in the
# background so that a SIGTERM to this script reaches it at once, through cleanup.
ACCOUNTD_BIN="$ACCOUNTD_BIN" WORK="$work" timeout 120 node "$work/sdk/check.mjs" &
checker=$!
result=0
wait "$checker" || result=$?
checker=""
[ "$result" -eq 0 ] || exit "$result"
echo "e2e Elastic Path JS SDK under HS256, EdDSA and ES256: OK"
