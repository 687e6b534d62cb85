#!/usr/bin/env bash
# Property-based API testing with schemathesis against a live accountd: every operation of
# /v2/openapi.json is fed generated and hostile input, and the run fails on any server error or
# any response that breaks the documented schema, status codes or content types.
# Usage: tests/e2e/schemathesis/run.sh <path to the accountd binary> <path to the schemathesis CLI>
set -euo pipefail

binary=${1:?the accountd binary}
schemathesis=${2:?the schemathesis CLI}
port=${ACCOUNTD_SCHEMATHESIS_PORT:-18590}
base="http://127.0.0.1:$port"
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

client_id=schemathesis
client_secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
DATABASE_URL="sqlite://$work/accountd.db?mode=rwc" \
ACCOUNTD_LISTEN="127.0.0.1:$port" \
ACCOUNTD_CLIENT_ID="$client_id" \
ACCOUNTD_CLIENT_SECRET="$client_secret" \
ACCOUNTD_RATE_LIMIT_PER_MINUTE=0 \
ACCOUNTD_ALLOW_PRIVATE_DESTINATIONS=true \
RUST_LOG=warn \
  "$binary" serve > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 50); do
  curl -fs "$base/readyz" > /dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "$base/readyz" > /dev/null

post() { curl -fs "$base$1" -H "Authorization: Bearer $admin" -d "$2"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

admin=$(curl -fs "$base/oauth/access_token" -d grant_type=client_credentials \
  -d client_id="$client_id" -d client_secret="$client_secret" | field "['access_token']")
realm=$(curl -fs "$base/v2/settings/account-authentication" -H "Authorization: Bearer $admin" \
  | field "['data']['relationships']['authentication_realm']['data']['id']")
store=$(curl -fs "$base/v2/openapi.json" > /dev/null; echo "00000000-0000-4000-8000-000000000000")
profile=$(post "/v2/authentication-realms/$realm/password-profiles" \
  '{"data":{"type":"password_profile","name":"Fuzzed"}}' | field "['data']['id']")
account=$(post /v2/accounts '{"data":{"type":"account","name":"Fuzzed"}}' | field "['data']['id']")
member=$(post "/v2/authentication-realms/$realm/user-authentication-info" \
  '{"data":{"type":"user_authentication_info","name":"Fuzz","email":"fuzz@example.com"}}' | field "['data']['id']")
info=$(post "/v2/authentication-realms/$realm/user-authentication-info/$member/user-authentication-password-profile-info" \
  "{\"data\":{\"type\":\"user_authentication_password_profile_info\",\"password_profile_id\":\"$profile\",\"username\":\"fuzz\",\"password\":\"fuzzing password\"}}" \
  | field "['data']['id']")
membership=$(post "/v2/accounts/$account/account-memberships" \
  "{\"data\":{\"type\":\"account_membership\",\"account_member_id\":\"$member\"}}" | field "['data']['id']")
key=$(post /v2/application-keys '{"data":{"type":"application_key","name":"Fuzzed"}}' | field "['data']['id']")
integration=$(post /v2/integrations \
  '{"data":{"type":"integration","name":"Fuzzed","observes":["account.event.created"],"configuration":{"url":"http://127.0.0.1:9/"}}}' \
  | field "['data']['id']")

cat > "$work/schemathesis.toml" <<TOML
[parameters]
"path.realm_id" = "$realm"
"path.store_id" = "$store"
"path.profile_id" = "$profile"
"path.account_id" = "$account"
"path.account_member_id" = "$member"
"path.user_id" = "$member"
"path.info_id" = "$info"
"path.membership_id" = "$membership"
"path.application_key_id" = "$key"
"path.integration_id" = "$integration"
TOML

cd "$work"
"$schemathesis" --config-file "$work/schemathesis.toml" run "$base/v2/openapi.json" \
  --header "Authorization: Bearer $admin" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --phases examples,fuzzing \
  --max-examples "${ACCOUNTD_SCHEMATHESIS_EXAMPLES:-30}" \
  --generation-deterministic
if grep -q "panicked" "$work/server.log"; then
  echo "accountd logged a panic during the run:" >&2
  grep -n "panicked" "$work/server.log" >&2
  exit 1
fi
