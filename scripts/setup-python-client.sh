#!/usr/bin/env bash
# The Python client's test environment: a virtualenv in .venv (git-ignored) with pytest and mypy from
# PyPI, and the client installed from clients/python as a user would install it (a built wheel, not
# the source tree). Safe to run again: it re-installs the client, whose source may have changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# setuptools >= 70.1 builds wheels without the separate `wheel` package.
.venv/bin/python -m pip install --quiet --disable-pip-version-check 'setuptools>=70.1' 'pytest>=7' 'mypy>=1.5'
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps --force-reinstall ./clients/python
rm -rf clients/python/build clients/python/src/*.egg-info
