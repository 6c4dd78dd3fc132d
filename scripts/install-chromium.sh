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

# A font for its text comes with it.
if ! bash "$(dirname "$0")/apt-install.sh" chromium fonts-liberation; then
  echo "or set CHROMIUM_PATH to a Chromium or Chrome binary." >&2
  exit 1
fi
chromium --version 2>/dev/null | tail -n 1
