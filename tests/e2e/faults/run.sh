#!/usr/bin/env bash
# Fault tests against live accountd processes (tests/e2e/faults/faults.py lists the scenarios):
# a private PostgreSQL cluster restarted and stalled under load, SQLite killed mid-write, backups
# restored, and a rolling restart of two replicas behind HAProxy. Loopback only, bounded in time;
# the machine's own PostgreSQL is never touched.
#
#   ACCOUNTD_BIN   accountd binary to test (default: target/debug/accountd, built if needed)
#   tests/e2e/faults/run.sh [scenario ...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
if [ -z "${ACCOUNTD_BIN:-}" ]; then
  (cd "$repo" && cargo build --locked --quiet --bin accountd)
  export ACCOUNTD_BIN="$repo/target/debug/accountd"
fi
exec python3 "$here/faults.py" "$@"
