#!/usr/bin/env bash
# One-time setup, safe to run again: the graphviz `dot` program (for pictures) and the
# package in editable mode with the extras for `demo` (examples), `test` (examples,
# tests, the dask backend, and the reference libraries the tests compare against),
# `lint` (ruff) or `docs` (Sphinx, for the API reference).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
MODE=${1:-test}

if ! command -v dot >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq graphviz >/dev/null
  elif command -v brew >/dev/null 2>&1; then
    brew install graphviz
  else
    echo "warning: install graphviz (the 'dot' program) to render pictures" >&2
  fi
fi

case "$MODE" in
  demo) EXTRAS="examples" ;;
  test) EXTRAS="test,examples,oracles,dask" ;;
  lint) EXTRAS="lint" ;;
  docs) EXTRAS="docs" ;;
  *) echo "usage: $0 [demo|test|lint|docs]" >&2; exit 2 ;;
esac
"$PYTHON" -m pip install -q --disable-pip-version-check -e ".[$EXTRAS]"
