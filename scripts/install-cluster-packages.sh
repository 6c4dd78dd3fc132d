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

exec bash "$(dirname "$0")/apt-install.sh" --non-interactive "${missing[@]}"
