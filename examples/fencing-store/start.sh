#!/usr/bin/env bash
# Starts the fencing store: its own PostgreSQL (Debian's postgresql package, on a free port, data in a
# temp dir) and the store in front of it. Prints "fencing store listening on <url>"; Ctrl-C stops both.
# PORT chooses the store's port (default: a free one).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec node --import tsx examples/fencing-store/main.ts
