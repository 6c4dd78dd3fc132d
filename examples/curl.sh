#!/usr/bin/env bash
# The lock service from a shell script, with bash and curl only: acquire a permit (waiting out
# 409 answers as Retry-After says), renew it, check the token, release it.
# Usage: PERMIT_URL=http://127.0.0.1:8080 PERMIT_API_KEY=<key> ./curl.sh <resource>
# (PERMIT_CA_FILE=<pem> for an https:// service whose certificate a private CA signed)
set -euo pipefail
url="${PERMIT_URL:-http://127.0.0.1:8080}"
resource="${1:?usage: $0 <resource>}"
tmp="$(mktemp -d)"
token=""
opts=(-sS)
if [ -n "${PERMIT_API_KEY:-}" ]; then
  # The key goes in a header file, so it never shows in the process list.
  printf 'authorization: Bearer %s\n' "$PERMIT_API_KEY" > "$tmp/auth"
  opts+=(-H "@$tmp/auth")
fi
[ -n "${PERMIT_CA_FILE:-}" ] && opts+=(--cacert "$PERMIT_CA_FILE")
# Release on every way out, so a failing script does not keep the slot until the lease ends.
trap '[ -n "$token" ] && curl -s "${opts[@]}" -o /dev/null -X DELETE "$url/permits/$token"; rm -rf "$tmp"' EXIT

# 401: no key or an unknown one; 403: the key may not use this resource (its role or prefixes).
refused() {
  message=$(sed -n 's/.*"message":"\(\([^"\\]\|\\.\)*\)".*/\1/p' "$tmp/body" | sed 's/\\"/"/g')
  echo "the service refused the API key: HTTP $1 $message" >&2
  exit 77
}

for attempt in 1 2 3 4 5 6 7 8 9 10; do
  status=$(curl -sS "${opts[@]}" -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X POST "$url/resources/$resource/acquire" \
    -H 'content-type: application/json' -d '{"leaseMs": 10000, "holder": "curl example"}')
  [ "$status" = 201 ] && break
  case "$status" in 401 | 403) refused "$status" ;; esac
  # 409: busy; 429: this key sent too many requests or has too many waiting acquires. Both say when to retry.
  if { [ "$status" != 409 ] && [ "$status" != 429 ]; } || [ "$attempt" = 10 ]; then
    echo "acquire failed: HTTP $status $(cat "$tmp/body")" >&2
    exit 1
  fi
  wait=$(sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p' "$tmp/headers")
  echo "busy ($(sed -n 's/.*"error":"\([^"]*\)".*/\1/p' "$tmp/body")); retrying in ${wait:-1}s"
  sleep "${wait:-1}"
done
# The answers are flat JSON, so sed can pick a field; use jq where you have it.
token=$(sed -n 's/.*"runId":"\([^"]*\)".*/\1/p' "$tmp/body")
echo "acquired $resource, token $token"

curl -sS -f "${opts[@]}" -o "$tmp/body" -X POST "$url/permits/$token/renew" -H 'content-type: application/json' -d '{"leaseMs": 10000}'
echo "renewed until $(sed -n 's/.*"expiresAt":"\([^"]*\)".*/\1/p' "$tmp/body")"

# The fencing check: 200 only while the permit is held (410 once it has ended).
status=$(curl -sS "${opts[@]}" -o /dev/null -w '%{http_code}' "$url/permits/$token")
[ "$status" = 200 ] || { echo "the permit is no longer held: HTTP $status" >&2; exit 1; }
echo "token checked: still held"

status=$(curl -sS "${opts[@]}" -o /dev/null -w '%{http_code}' -X DELETE "$url/permits/$token")
token=""
[ "$status" = 204 ] || { echo "release failed: HTTP $status" >&2; exit 1; }
echo "released"
