#!/usr/bin/env bash
# Quick start on the embedded default model (all-MiniLM-L6-v2, no network): index this
# project's own documentation, then answer a few questions about it (`retrieval quickstart`
# runs `retrieval index` and `retrieval search` in one process, so the model loads once).
# Re-runs are incremental: only changed files are embedded again.
#   bash scripts/demo.sh                     # after scripts/setup.sh
#   RETRIEVAL_DEMO_INDEX=/tmp/ix bash scripts/demo.sh "your question"
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
INDEX=${RETRIEVAL_DEMO_INDEX:-${XDG_CACHE_HOME:-$HOME/.cache}/retrieval-toolkit/demo-index}
"$PYTHON" -m adapters.cli quickstart --index "$INDEX" "$@"
