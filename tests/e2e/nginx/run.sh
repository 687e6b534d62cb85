#!/usr/bin/env bash
# Forward auth through a real nginx (Debian's package), configured with the README's block as it
# stands: nginx_conf.py extracts it from README.md and changes only its three addresses, so the
# README cannot drift from what runs here. Starts an accountd binary with a throw-away SQLite
# database, echo_upstream.py as the service behind nginx (it echoes the headers it receives and
# counts requests) and nginx in a temporary prefix (pid, logs and temporary files there, in the
# foreground), all on loopback ports; then check.py asserts that requests without a live token
# get 401 from nginx without reaching the service, that the service sees accountd's identity
# headers and never the client's, and that a token the admin revokes is refused on the very next
# request. Bounded in time; it stops everything it started and removes what it created on exit.
#
#   ACCOUNTD_BIN  accountd binary to test (default: target/debug/accountd, built if needed)
#   NGINX_BIN     nginx binary (default: nginx on PATH, else /usr/sbin/nginx; `apt-get install
#                 nginx` provides it, with the auth_request module)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)

nginx_bin=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
if [ ! -x "$nginx_bin" ]; then
  echo "nginx not found; install Debian's nginx package (apt-get install nginx)" >&2
  exit 2
fi
if [ -z "${ACCOUNTD_BIN:-}" ]; then
  (cd "$repo" && cargo build --locked --quiet --bin accountd)
  ACCOUNTD_BIN="$repo/target/debug/accountd"
fi

work=$(mktemp -d)
# Started as root, nginx's workers run as nobody; they must reach their temporary folders.
chmod 711 "$work"
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
    for log in "$work"/*.log "$work"/nginx/error.log; do
      [ -s "$log" ] && { echo "--- $log (last lines)"; tail -n 40 "$log"; }
    done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
wait_for() {
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null)" != 000 ] && return 0
    sleep 0.2
  done
  echo "$2 did not come up at $1" >&2
  return 1
}
accountd_port=$(free_port)
upstream_port=$(free_port)
nginx_port=$(free_port)
accountd="http://127.0.0.1:$accountd_port"

client_id="e2e-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
client_secret=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
(cd "$work" && exec env -i PATH="$PATH" HOME="$work" \
  DATABASE_URL="sqlite://$work/data/accountd.db?mode=rwc" \
  ACCOUNTD_LISTEN="127.0.0.1:$accountd_port" \
  ACCOUNTD_MANAGEMENT_LISTEN=off ACCOUNTD_SHUTDOWN_DRAIN=0 \
  ACCOUNTD_PUBLIC_BASE_URL="$accountd" \
  ACCOUNTD_CLIENT_ID="$client_id" ACCOUNTD_CLIENT_SECRET="$client_secret" \
  ACCOUNTD_HASH_POOL_SIZE=1 RUST_LOG=info \
  "$ACCOUNTD_BIN" serve) >"$work/accountd.log" 2>&1 &
accountd_pid=$!
pids+=("$accountd_pid")

python3 "$here/echo_upstream.py" "$upstream_port" >"$work/upstream.log" 2>&1 &
pids+=($!)

mkdir -p "$work/nginx"
python3 "$here/nginx_conf.py" --prefix "$work/nginx" \
  --accountd "127.0.0.1:$accountd_port" --upstream "127.0.0.1:$upstream_port" \
  --listen "127.0.0.1:$nginx_port" >"$work/nginx/nginx.conf"
nginx_args=(-p "$work/nginx/" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log")
"$nginx_bin" -t -q "${nginx_args[@]}"
"$nginx_bin" "${nginx_args[@]}" &
pids+=($!)

wait_for "$accountd/healthz" "accountd"
wait_for "http://127.0.0.1:$upstream_port/__hits" "the echo upstream"
wait_for "http://127.0.0.1:$nginx_port/" "nginx"

# In the background, so that a SIGTERM to this script stops the check at once, through cleanup.
NGINX_URL="http://127.0.0.1:$nginx_port" ACCOUNTD_URL="$accountd" \
  UPSTREAM_URL="http://127.0.0.1:$upstream_port" ACCOUNTD_PID="$accountd_pid" \
  ACCOUNTD_CLIENT_ID="$client_id" ACCOUNTD_CLIENT_SECRET="$client_secret" \
  timeout 120 python3 "$here/check.py" &
pids+=($!)
result=0
wait "${pids[-1]}" || result=$?
[ "$result" -eq 0 ] || exit "$result"
echo "e2e forward auth through nginx ($("$nginx_bin" -v 2>&1 | sed 's/.*: //')), configured as the README shows: OK"
