#!/usr/bin/env bash
# One-time setup, safe to run again: the graphviz `dot` program (for pictures) and the
# package with its test and example extras, installed in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

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

"$PYTHON" -m pip install -q --disable-pip-version-check -e ".[test,examples]"
