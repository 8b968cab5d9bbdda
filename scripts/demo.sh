#!/usr/bin/env bash
# Quick start on the embedded default model (all-MiniLM-L6-v2, no network): index this
# project's own documentation, then answer a few questions about it. Re-runs are incremental:
# only changed files are embedded again.
#   bash scripts/demo.sh                     # after scripts/setup.sh
#   RETRIEVAL_DEMO_INDEX=/tmp/ix bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
INDEX=${RETRIEVAL_DEMO_INDEX:-${XDG_CACHE_HOME:-$HOME/.cache}/retrieval-toolkit/demo-index}
DOCS=(README.md BENCHMARKS.md notebooks)
[ -d docs ] && DOCS+=(docs)
"$PYTHON" -m adapters.cli index "${DOCS[@]}" --index "$INDEX"
"$PYTHON" -m adapters.cli search --index "$INDEX" -k 3 \
  "How do I run the tests?" \
  "Where are models loaded from without network access?" \
  "How fast is MaxSim?"
echo
echo "Index: $INDEX  (retrieval info --index $INDEX; retrieval search --index $INDEX \"your question\")"
