#!/usr/bin/env bash
# Installs the servers the benchmark compares the lock service with: Debian's redis-server and
# etcd-server packages (binaries `redis-server` and `etcd`). It only installs them: the benchmark
# starts its own instances on free loopback ports and stops them when it ends. On a machine where
# the packages start a system service (systemd), that service is left as the package sets it up;
# the benchmark never uses it.
#
# Needs apt-get, and root or sudo. Does nothing when both binaries are already on PATH.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)

if [ ${#missing[@]} -eq 0 ]; then
  echo "redis-server and etcd are already installed:"
  redis-server --version
  etcd --version | head -n 1
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get not found: install ${missing[*]} with this system's package manager." >&2
  echo "npm run bench works without them; it skips the peers it cannot start." >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "installing ${missing[*]} needs root: run this as root or install sudo." >&2
  exit 1
fi

echo "installing ${missing[*]} with apt-get"
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
redis-server --version
etcd --version | head -n 1
