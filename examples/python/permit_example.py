#!/usr/bin/env python3
"""The lock service from Python's standard library: acquire a permit (waiting out 409 answers as
Retry-After says), renew it, check the token, release it.

Usage: PERMIT_URL=http://127.0.0.1:8080 PERMIT_API_KEY=<key> python3 permit_example.py <resource>
(PERMIT_CA_FILE=<pem> for an https:// service whose certificate a private CA signed)
"""
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

URL = os.environ.get("PERMIT_URL", "http://127.0.0.1:8080")
API_KEY = os.environ.get("PERMIT_API_KEY")
CONTEXT = ssl.create_default_context(cafile=os.environ["PERMIT_CA_FILE"]) if os.environ.get("PERMIT_CA_FILE") else None


def call(method, path, body=None):
    """One request; returns (status, headers, JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {} if body is None else {"content-type": "application/json"}
    if API_KEY:
        headers["authorization"] = f"Bearer {API_KEY}"
    request = urllib.request.Request(URL + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10, context=CONTEXT) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:  # 4xx and 5xx carry the API's JSON error body too
        status, headers, raw = error.code, error.headers, error.read()
    if status in (401, 403):  # no key or an unknown one (401); a key that may not do this (403)
        message = json.loads(raw)["message"] if raw else ""
        print(f"the service refused the API key: HTTP {status} {message}", file=sys.stderr)
        sys.exit(77)
    return status, headers, json.loads(raw) if raw else None


def acquire(resource, attempts=10):
    path = f"/resources/{urllib.parse.quote(resource)}/acquire"
    for attempt in range(1, attempts + 1):
        status, headers, answer = call("POST", path, {"leaseMs": 10000, "holder": "python example"})
        if status == 201:
            return answer
        # 409: busy; 429: this key sent too many requests or has too many waiting acquires.
        if status not in (409, 429) or attempt == attempts:
            sys.exit(f"acquire failed: HTTP {status} {answer}")
        wait = int(headers.get("Retry-After", "1"))
        print(f"busy ({answer['error']}); retrying in {wait}s")
        time.sleep(wait)


def main():
    sys.stdout.reconfigure(line_buffering=True)  # each step shows as it happens, even through a pipe
    resource = sys.argv[1] if len(sys.argv) == 2 else sys.exit("usage: permit_example.py <resource>")
    permit = acquire(resource)
    token = permit["runId"]
    print(f"acquired {resource} slot {permit['slot']}, token {token}")
    try:
        status, _, renewed = call("POST", f"/permits/{token}/renew", {"leaseMs": 10000})
        if status != 200:
            sys.exit(f"renew failed: HTTP {status} {renewed}")
        print(f"renewed until {renewed['expiresAt']}")
        # The fencing check: 200 only while the permit is held; a store compares tokens for equality.
        status, _, held = call("GET", f"/permits/{token}")
        if status != 200 or held["fencingToken"] != token:
            sys.exit(f"the permit is no longer held: HTTP {status} {held}")
        print("token checked: still held")
    finally:  # release on every way out, so the slot does not wait for the lease to end
        status, _, answer = call("DELETE", f"/permits/{token}")
        print("released" if status == 204 else f"release answered HTTP {status} {answer}")


if __name__ == "__main__":
    main()
