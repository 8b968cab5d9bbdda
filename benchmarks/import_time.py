"""Start-up cost: wall time of fresh interpreters importing the packages (or running the CLI),
this checkout against a baseline source tree, alternated run by run in one session.

Each probe is a new ``python -c CODE`` process with one source tree first on ``PYTHONPATH``;
the wall time includes interpreter start-up (``python -c pass`` is reported as the floor).
Also reported: whether torch was loaded, and the time the probe's code itself took inside the
process (start-up excluded). Find what an import pulls in with ``python -X importtime -c ...``.

    git archive BASE_COMMIT | tar -x -C /tmp/base
    .venv/bin/python benchmarks/import_time.py --baseline /tmp/base --repeat 15
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBES = {
    "python -c pass": "pass",
    "import retrieval": "import retrieval",
    "import indexes": "import indexes",
    "from indexes import FaissIndex, SparseIndex": "from indexes import FaissIndex, SparseIndex",
    "retrieval --help": (
        "import runpy, sys\nsys.argv = ['retrieval', '--help']\n"
        "try:\n    runpy.run_module('adapters.cli', run_name='__main__')\n"
        "except SystemExit:\n    pass"
    ),
}
_BEFORE = "import time as _time\n_start = _time.perf_counter()\n"
_AFTER = (
    "\nimport sys\n"
    "print('PROBE', _time.perf_counter() - _start, 'torch' in sys.modules, file=sys.stderr)"
)


def run_once(tree: Path, code: str) -> tuple[float, float, bool]:
    """``(wall seconds, seconds inside the process, torch loaded)``."""
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-c", _BEFORE + code + _AFTER]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"probe failed in {tree}:\n{done.stderr[-2000:]}")
    line = next(x for x in done.stderr.splitlines() if x.startswith("PROBE "))
    _, inside, torch = line.split()
    return wall, float(inside), torch == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", type=Path, help="a source tree to compare against")
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--probes", default=",".join(PROBES), help="comma-separated probe names")
    args = parser.parse_args()
    trees = {"this": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    names = args.probes.split(",")
    samples: dict[tuple[str, str], list[tuple[float, float, bool]]] = {}
    for i in range(args.repeat):
        for name in names:
            order = list(trees.items()) if i % 2 else list(trees.items())[::-1]
            for label, tree in order:  # alternate, so load spikes hit both trees alike
                samples.setdefault((name, label), []).append(run_once(tree, PROBES[name]))
    print("| probe | tree | wall s median (min) | in-process s median | torch loaded |")
    print("|---|---|---|---|---|")
    results = []
    for (name, label), runs in samples.items():
        walls = [r[0] for r in runs]
        row = {
            "probe": name,
            "tree": label,
            "wall_median_s": statistics.median(walls),
            "wall_min_s": min(walls),
            "inside_median_s": statistics.median(r[1] for r in runs),
            "torch": any(r[2] for r in runs),
        }
        results.append(row)
        print(
            f"| `{name}` | {label} | {row['wall_median_s']:.3f} ({row['wall_min_s']:.3f}) "
            f"| {row['inside_median_s']:.3f} | {'yes' if row['torch'] else 'no'} |"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
