#!/usr/bin/env bash
# The hostile-traffic suite: what an attacker holding only a storefront's public client id can
# try, replayed against live accountd processes on loopback. Every check_*.py here starts the
# server(s) it needs through hostile.py (a throw-away SQLite database each, or PostgreSQL when
# HOSTILE_DATABASE_URL names a server), sends a bounded number of requests from several
# 127.0.0.x source addresses, prints the bound it holds and the figure it measured, and stops by
# itself. Figures that could flake (latency, memory) live in bench/, not here.
#
#   ACCOUNTD_BIN   accountd binary to test (default: target/debug/accountd, built if needed)
#   HOSTILE_ONLY   run only the checks whose file name contains this text
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)

if [ -z "${ACCOUNTD_BIN:-}" ]; then
  (cd "$repo" && cargo build --locked --quiet --bin accountd)
  export ACCOUNTD_BIN="$repo/target/debug/accountd"
fi

failed=0
for check in "$here"/check_*.py; do
  name=$(basename "$check" .py)
  if [ -n "${HOSTILE_ONLY:-}" ] && [[ "$name" != *"$HOSTILE_ONLY"* ]]; then
    continue
  fi
  started=$(date +%s)
  echo "==> $name"
  if timeout 300 python3 "$check"; then
    echo "    $name passed in $(( $(date +%s) - started )) s"
  else
    echo "    $name FAILED after $(( $(date +%s) - started )) s"
    failed=1
  fi
done
exit "$failed"
