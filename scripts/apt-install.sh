#!/usr/bin/env bash
# Installs Debian packages with apt-get, as root or through sudo: the one way this project's install
# scripts (browser, cluster, benchmark peers) get system packages. The callers decide what is missing.
#
#   scripts/apt-install.sh [--non-interactive] package...
#
# --non-interactive is for callers that are programs rather than people: sudo never asks for a
# password (sudo -n fails instead), and apt-get's output is terse and goes to stderr.
set -euo pipefail

non_interactive=false
if [ "${1:-}" = --non-interactive ]; then
  non_interactive=true
  shift
fi
if [ $# -eq 0 ]; then
  echo "usage: $0 [--non-interactive] package..." >&2
  exit 64
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get not found: install $* with this system's package manager." >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  if $non_interactive; then as_root=(sudo -n); else as_root=(sudo); fi
else
  echo "installing $* needs root: run this as root or install sudo." >&2
  exit 1
fi

echo "installing $* with apt-get" >&2
if $non_interactive; then
  "${as_root[@]}" apt-get update -qq >&2
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
else
  "${as_root[@]}" apt-get update
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
fi
