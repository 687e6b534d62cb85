#!/usr/bin/env bash
# The admin console (docs/console.md) walked through in a real headless Chromium: Debian's
# chromium package, driven by playwright-core, with axe-core checking every page (both from npm, at
# the versions of package-lock.json; no browser is downloaded). walkthrough.mjs starts accountd
# with ACCOUNTD_CONSOLE=true on a throw-away SQLite database, then on a fresh PostgreSQL database
# this script creates on the machine's server, each on a loopback port, and walks through sign-in,
# accounts, members, memberships, a login seen on the dashboard and in the audit trail, a lockout
# cleared, tokens revoked and a form refused without its CSRF token, printing one line per check
# and saving a full-page screenshot of every page. Bounded in time; it stops everything it
# started and drops the database it created on exit.
#
#   ACCOUNTD_BIN        accountd binary to test (default: target/debug/accountd under
#                       CARGO_TARGET_DIR or the repository, built if needed)
#   ACCOUNTD_E2E_CACHE  where the npm packages are kept between runs (default: ~/.cache/accountd-ci)
#   ACCOUNTD_E2E_OUT    where the screenshots go, in sqlite/ and postgres/ (default: out/ here)
#   CHROMIUM            the browser (default: /usr/bin/chromium, Debian's package)
#   PGHOST PGPORT PGUSER  the machine's PostgreSQL (default 127.0.0.1, 5432, postgres)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cache=${ACCOUNTD_E2E_CACHE:-$HOME/.cache/accountd-ci}
out=${ACCOUNTD_E2E_OUT:-$here/out}
chromium=${CHROMIUM:-/usr/bin/chromium}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}

if [ ! -x "$chromium" ]; then
  echo "no browser at $chromium: install Debian's chromium (apt-get install chromium) or set CHROMIUM" >&2
  exit 1
fi
if ! pg_isready -h "$PGHOST" -p "$PGPORT" -q; then
  echo "PostgreSQL is not answering on $PGHOST:$PGPORT; the walk runs on both backends" >&2
  exit 1
fi

if [ -z "${ACCOUNTD_BIN:-}" ]; then
  (cd "$repo" && cargo build --locked --quiet --bin accountd)
  ACCOUNTD_BIN="${CARGO_TARGET_DIR:-$repo/target}/debug/accountd"
fi

lock_hash=$(sha256sum "$here/package-lock.json" | cut -c1-16)
modules="$cache/console-$lock_hash"
if [ ! -d "$modules/node_modules/playwright-core" ] || [ ! -d "$modules/node_modules/axe-core" ]; then
  echo "installing playwright-core and axe-core into $modules"
  mkdir -p "$modules"
  cp "$here/package.json" "$here/package-lock.json" "$modules/"
  # playwright-core has no install script; the variable keeps any future one from fetching a browser.
  (cd "$modules" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 300 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
database=accountd_console_e2e_$$
database_created=""
walker=""
cleanup() {
  status=$?
  if [ -n "$walker" ]; then
    kill "$walker" 2>/dev/null || true
    wait "$walker" 2>/dev/null || true
  fi
  if [ -n "$database_created" ]; then
    dropdb -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" --if-exists --force "$database" || true
  fi
  if [ "$status" -ne 0 ] && [ -f "$work/accountd.log" ]; then
    echo "--- accountd.log (last lines)"
    tail -n 40 "$work/accountd.log"
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

createdb -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" "$database"
database_created=1

mkdir -p "$work/walk"
cp "$here/walkthrough.mjs" "$here/package.json" "$work/walk/"
ln -s "$modules/node_modules" "$work/walk/node_modules"

# walkthrough.mjs owns accountd (which dies with it: setpriv --pdeathsig) and Chromium (which
# Playwright kills when it exits). It runs in the background so that a SIGTERM to this script
# reaches it at once, through cleanup.
ACCOUNTD_BIN="$ACCOUNTD_BIN" WORK="$work" OUT="$out" CHROMIUM="$chromium" \
  POSTGRES_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$database" \
  timeout 480 node "$work/walk/walkthrough.mjs" &
walker=$!
result=0
wait "$walker" || result=$?
walker=""
[ "$result" -eq 0 ] || exit "$result"
echo "e2e admin console in headless Chromium on SQLite and PostgreSQL: OK"
