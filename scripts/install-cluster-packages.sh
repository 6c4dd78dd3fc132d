#!/usr/bin/env bash
# Installs the Debian packages `npm run cluster` runs: haproxy (the load balancer in front of the
# replicas) and postgresql (Temporal's database). Needs apt-get, and root or sudo. Does nothing when
# both are there. Installing them does not start Debian's own services where no init system runs
# (as in a container); the cluster runs its own processes with its own configs either way.
set -euo pipefail

missing=()
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && ! command -v postgres >/dev/null 2>&1; then
  missing+=(postgresql)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get not found: install ${missing[*]} with this system's package manager." >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo -n)
else
  echo "installing ${missing[*]} needs root: run this as root or install sudo." >&2
  exit 1
fi

echo "installing ${missing[*]} with apt-get" >&2
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
