#!/usr/bin/env bash
# Install portfleet with its test extras into ./.venv and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
pip install -q --upgrade pip
pip install -q -e '.[test,postgresql,kerberos]'
python -m pytest -q "$@"
