#!/usr/bin/env bash
# Build, once, the virtual environment a reference library runs in for the differential tests
# (tests/reference/): libraries whose pins clash with the project's (PyLate pins an older
# sentence-transformers / transformers, fast-plaid pins torch 2.11) live in their own venv.
#   bash scripts/reference_env.sh NAME     # prints the environment's python
#   bash scripts/reference_env.sh --all    # builds every environment (what CI's set-up may call)
# Each environment is described by scripts/reference_envs/NAME.sh, a list of `pip_install ...`
# lines run in order (torch first, so pip never pulls a CUDA build). It is cached under
# $RETRIEVAL_REFERENCE_ENVS (default ~/.cache/retrieval-toolkit/reference-envs) and rebuilt only
# when its description changes (the folder name carries the description's hash).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
CACHE=${RETRIEVAL_REFERENCE_ENVS:-$HOME/.cache/retrieval-toolkit/reference-envs}

build() {
  local name=$1 spec=scripts/reference_envs/$1.sh
  [ -f "$spec" ] || { echo "no reference environment '$name': $spec is missing" >&2; exit 2; }
  local key env
  key=$(sha256sum "$spec" | cut -c1-12)
  env=$CACHE/$name-$key
  if [ ! -f "$env/.complete" ]; then
    rm -rf "$env"
    mkdir -p "$CACHE"
    "$PYTHON" -m venv "$env" >&2
    pip_install() { "$env/bin/python" -m pip --disable-pip-version-check -q install "$@" >&2; }
    pip_install --upgrade pip
    # shellcheck source=/dev/null
    source "$spec"
    touch "$env/.complete"
  fi
  echo "$env/bin/python"
}

if [ "${1:-}" = "--all" ]; then
  for spec in scripts/reference_envs/*.sh; do
    [ -e "$spec" ] || continue
    build "$(basename "$spec" .sh)" >/dev/null
  done
else
  build "${1:?usage: reference_env.sh NAME | --all}"
fi
