#!/usr/bin/env bash
# The GPU check, one prepared script (≤ 8 minutes): the GPU tests, then the GPU benchmarks
# (benchmarks/gpu_check.py: MiniLM embed tokens/s in fp32 / fp16 / bf16, MaxSim, PLAID search,
# faiss-gpu flat / IVF), all written to one folder: gpu_check.json, gpu-tests.xml, logs.
#
#   bash scripts/gpu_check.sh --prepare    # here, with network: fill .gpu-carry/ (git-ignored)
#   bash scripts/gpu_check.sh [OUT_DIR]    # on the GPU machine (default OUT_DIR: $OUT or bench-out/gpu)
#
# A lent GPU machine has no network and its own python3 with CUDA torch, transformers and
# pytest. `--prepare` puts beside the code what it lacks: the default model with fp16 weights
# (the full fp32 wheel is over the device tool's 64 MiB carry limit; the benchmarks cast to
# the dtype they measure and compare with CPU fp32 of the same weights) and pure-Python wheels.
# Carry `.gpu-carry` with the run. Without CUDA everything still runs, on the CPU at small sizes
# (the fallback CI exercises), and the JSON says "cuda": false.
set -uo pipefail
cd "$(dirname "$0")/.."
CARRY=.gpu-carry

if [ "${1:-}" = "--prepare" ]; then
  set -e
  PY=${PYTHON:-.venv/bin/python}
  mkdir -p "$CARRY/model"
  "$PY" - "$CARRY/model" <<'PY'
import shutil, sys
from pathlib import Path
import torch
from safetensors.torch import load_file, save_file
from encoders.resolve import DEFAULT_MODEL, resolve_model
src, dst = resolve_model(DEFAULT_MODEL).path, Path(sys.argv[1])
for item in src.rglob("*"):
    target = dst / item.relative_to(src)
    if item.is_dir():
        target.mkdir(parents=True, exist_ok=True)
    elif item.name == "model.safetensors":
        save_file({k: v.to(torch.float16) for k, v in load_file(item).items()}, target)
    elif item.suffix not in {".bin", ".onnx", ".h5", ".msgpack", ".ot"}:
        shutil.copy2(item, target)
print(f"model (fp16 weights) -> {dst}")
PY
  du -sh "$CARRY"
  exit 0
fi

OUT_DIR=${1:-${OUT:-bench-out/gpu}}
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
if compgen -G "$CARRY/wheels/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/gpu-site "$CARRY"/wheels/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/gpu-site"
fi
MODEL=sentence-transformers/all-MiniLM-L6-v2
[ -f "$CARRY/model/config.json" ] && MODEL=$CARRY/model
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv

echo "== GPU tests"
# Only the files with GPU tests: the rest of the suite needs the project's full dev extras.
mapfile -t files < <(grep -rl "pytest.mark.gpu" tests --include='test_*.py' | sort)
timeout 240 "$PY" -m pytest -q -p no:cacheprovider -o addopts="" -m gpu \
  --junitxml "$OUT_DIR/gpu-tests.xml" "${files[@]}" 2>&1 | tee "$OUT_DIR/gpu-tests.log"
tests_rc=${PIPESTATUS[0]}

echo "== GPU benchmarks"
timeout 300 "$PY" benchmarks/gpu_check.py --model "$MODEL" --out "$OUT_DIR/gpu_check.json" \
  2>&1 | tee "$OUT_DIR/gpu-bench.log"
bench_rc=${PIPESTATUS[0]}
echo "tests exit $tests_rc, benchmarks exit $bench_rc; results in $OUT_DIR"
# pytest's 5 (nothing collected) is not a pass: the GPU tests must have run or been skipped.
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
