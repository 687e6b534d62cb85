#!/usr/bin/env bash
# Downstream verification with libraries nobody here wrote: jose (npm, through the README's
# verifier module, which this script extracts from README.md) and PyJWT with PyJWKClient (PyPI)
# verify EdDSA and ES256 account tokens against the JWK Set accountd serves, follow a key
# rotation, and refuse a token once its key was retired and removed, or once it expired; Authlib's
# RFC 7662 client (PyPI) introspects active, expired and revoked tokens. check.py starts an
# accountd binary (a throw-away SQLite database, loopback port), restarts it with another
# algorithm and runs `accountd keys rotate` and `accountd keys remove` against it, printing one
# line per check. About 70 s, most of it waiting for a 60-second token (the shortest token
# timeout) to expire and for the server to take the key changes up (within a minute). Bounded in
# time; it stops everything it started and removes what it created on exit.
#
#   ACCOUNTD_BIN        accountd binary to test (default: target/debug/accountd, built if needed)
#   ACCOUNTD_E2E_CACHE  where the npm and PyPI packages are kept between runs (default:
#                       ~/.cache/accountd-ci), at the versions of package-lock.json and
#                       requirements.txt
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cache=${ACCOUNTD_E2E_CACHE:-$HOME/.cache/accountd-ci}

if [ -z "${ACCOUNTD_BIN:-}" ]; then
  (cd "$repo" && cargo build --locked --quiet --bin accountd)
  ACCOUNTD_BIN="$repo/target/debug/accountd"
fi

lock_hash=$(sha256sum "$here/package-lock.json" | cut -c1-16)
modules="$cache/downstream-jose-$lock_hash"
if [ ! -d "$modules/node_modules/jose" ]; then
  echo "installing jose into $modules"
  mkdir -p "$modules"
  cp "$here/package.json" "$here/package-lock.json" "$modules/"
  (cd "$modules" && timeout 300 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi
requirements_hash=$(sha256sum "$here/requirements.txt" | cut -c1-16)
venv="$cache/downstream-python-$requirements_hash"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import jwt, authlib, requests' 2>/dev/null; then
  echo "installing PyJWT and Authlib into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  timeout 300 "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
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

# The README's jose module, as it stands, beside the worker that imports it.
mkdir -p "$work/jose"
awk '/^<!-- BEGIN jose verifier/ { inside = 1; next } /^<!-- END jose verifier/ { inside = 0 }
     inside && !/^```/' "$repo/README.md" >"$work/jose/account_token.mjs"
if ! grep -q 'export function accountTokenVerifier' "$work/jose/account_token.mjs"; then
  echo "README.md: no 'export function accountTokenVerifier' between the jose verifier markers" >&2
  exit 1
fi
cp "$here/jose_verifier.mjs" "$here/package.json" "$work/jose/"
ln -s "$modules/node_modules" "$work/jose/node_modules"

# check.py owns the accountd and node processes; they die with it (PR_SET_PDEATHSIG). It runs in
# the background so that a SIGTERM to this script reaches it at once, through cleanup.
ACCOUNTD_BIN="$ACCOUNTD_BIN" WORK="$work" JOSE_DIR="$work/jose" \
  timeout 240 "$venv/bin/python" "$here/check.py" &
checker=$!
result=0
wait "$checker" || result=$?
checker=""
[ "$result" -eq 0 ] || exit "$result"
echo "e2e downstream verification with jose, PyJWT and Authlib: OK"
