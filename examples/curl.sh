#!/usr/bin/env bash
# The lock service from a shell script, with bash and curl only: acquire a permit (waiting out
# 409 answers as Retry-After says), renew it, check the token, release it.
# Usage: PERMIT_URL=http://127.0.0.1:8080 ./curl.sh <resource>
set -euo pipefail
url="${PERMIT_URL:-http://127.0.0.1:8080}"
resource="${1:?usage: $0 <resource>}"
tmp="$(mktemp -d)"
token=""
# Release on every way out, so a failing script does not keep the slot until the lease ends.
trap '[ -n "$token" ] && curl -s -o /dev/null -X DELETE "$url/permits/$token"; rm -rf "$tmp"' EXIT

for attempt in 1 2 3 4 5 6 7 8 9 10; do
  status=$(curl -sS -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X POST "$url/resources/$resource/acquire" \
    -H 'content-type: application/json' -d '{"leaseMs": 10000, "holder": "curl example"}')
  [ "$status" = 201 ] && break
  if [ "$status" != 409 ] || [ "$attempt" = 10 ]; then
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

curl -sS -f -o "$tmp/body" -X POST "$url/permits/$token/renew" -H 'content-type: application/json' -d '{"leaseMs": 10000}'
echo "renewed until $(sed -n 's/.*"expiresAt":"\([^"]*\)".*/\1/p' "$tmp/body")"

# The fencing check: 200 only while the permit is held (410 once it has ended).
status=$(curl -sS -o /dev/null -w '%{http_code}' "$url/permits/$token")
[ "$status" = 200 ] || { echo "the permit is no longer held: HTTP $status" >&2; exit 1; }
echo "token checked: still held"

status=$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "$url/permits/$token")
token=""
[ "$status" = 204 ] || { echo "release failed: HTTP $status" >&2; exit 1; }
echo "released"
