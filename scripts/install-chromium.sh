#!/usr/bin/env bash
# Installs Debian's chromium, the browser the dashboard test drives through playwright-core (which
# comes from npm and downloads no browser of its own). Needs apt-get, and root or sudo. Does
# nothing when chromium is already on PATH or CHROMIUM_PATH names a browser.
set -euo pipefail

if [ -n "${CHROMIUM_PATH:-}" ] && [ -x "$CHROMIUM_PATH" ]; then
  echo "using CHROMIUM_PATH=$CHROMIUM_PATH"
  exit 0
fi
if command -v chromium >/dev/null 2>&1; then
  echo "chromium is already installed: $(chromium --version 2>/dev/null | tail -n 1)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get not found: install chromium with this system's package manager, or set CHROMIUM_PATH." >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "installing chromium needs root: run this as root or install sudo." >&2
  exit 1
fi

echo "installing chromium (and a font for its text) with apt-get"
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-liberation
chromium --version 2>/dev/null | tail -n 1
