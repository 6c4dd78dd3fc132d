#!/usr/bin/env bash
# Installs the servers the benchmark compares the lock service with:
# - Debian's redis-server and etcd-server packages (binaries `redis-server` and `etcd`), with apt-get;
# - Throttle (crates.io: throttle-server, binary `throttle`), built with `cargo install` into a cache
#   outside the repository: $TEMPORAL_CLI_CACHE_DIR/peers/throttle (default
#   ~/.cache/temporal-lock-service/peers/throttle), where the benchmark looks for it. Building it
#   takes a minute or two; an installed one is kept.
# It only installs them: the benchmark starts its own instances on free loopback ports and stops them
# when it ends. On a machine where the packages start a system service (systemd), that service is left
# as the package sets it up; the benchmark never uses it.
#
# apt-get needs root or sudo; cargo needs neither. A peer that cannot be installed is reported and
# skipped: npm run bench works without it.
set -uo pipefail

THROTTLE_VERSION=0.5.13
cache_dir="${TEMPORAL_CLI_CACHE_DIR:-$HOME/.cache/temporal-lock-service}"
throttle_root="$cache_dir/peers/throttle"
failed=0

install_apt_peers() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
  if [ ${#missing[@]} -eq 0 ]; then
    echo "redis-server and etcd are already installed:"
    redis-server --version
    etcd --version | head -n 1
    return 0
  fi
  bash "$(dirname "$0")/../scripts/apt-install.sh" "${missing[@]}" || return 1
  redis-server --version
  etcd --version | head -n 1
}

install_throttle() {
  if [ -x "$throttle_root/bin/throttle" ]; then
    echo "throttle is already installed in $throttle_root/bin"
    return 0
  fi
  local cargo
  cargo="$(command -v cargo || true)"
  [ -z "$cargo" ] && [ -x "$HOME/.cargo/bin/cargo" ] && cargo="$HOME/.cargo/bin/cargo"
  if [ -z "$cargo" ]; then
    echo "cargo not found: install Rust (https://rustup.rs) to build Throttle; the benchmark skips it meanwhile." >&2
    return 1
  fi
  echo "building throttle-server $THROTTLE_VERSION with cargo into $throttle_root (a minute or two; cargo prints its progress)"
  # --locked: the crate's own Cargo.lock, so the build is the one its author tested.
  "$cargo" install throttle-server --version "$THROTTLE_VERSION" --locked --root "$throttle_root" || return 1
  echo "throttle installed: $throttle_root/bin/throttle"
}

install_apt_peers || failed=1
install_throttle || failed=1
if [ "$failed" -ne 0 ]; then
  echo "some peers were not installed; npm run bench skips those it cannot start." >&2
  exit 1
fi
