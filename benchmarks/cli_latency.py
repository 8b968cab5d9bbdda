"""CLI start-up (issue 20): cold wall and CPU time of fresh processes running the command
line, this checkout against a baseline source tree, interleaved run by run in one session.

Probes: ``python -c pass`` (the interpreter floor), ``import retrieval``, ``import indexes``,
``retrieval --help``, ``retrieval info``, ``retrieval models``, a cold ``retrieval search``
(one query) on a small collection, and three floors of the search: ``import torch``;
torch + transformers' ``AutoConfig`` and ``AutoTokenizer`` of the model (what the search
still imports); and transformers alone loading the same model (``AutoConfig`` +
``AutoTokenizer`` + ``AutoModel.from_pretrained`` + one forward: the search before). The
collection is built by this checkout's CLI in a temporary folder from a few text files the
script writes (default kind: hybrid with the embedded all-MiniLM-L6-v2; ~50 chunks). Each
probe is a new process with one source tree first on ``PYTHONPATH``; CLI probes run
``adapters.cli`` through ``runpy`` as the ``retrieval`` script does and report which heavy
modules they loaded. CPU time (user + sys of the child) is reported beside wall time: on a
shared box it is the steadier number.

    git worktree add /tmp/cli-before BASE_COMMIT
    .venv/bin/python benchmarks/cli_latency.py --baseline /tmp/cli-before --repeat 7

``--importtime`` also prints ``python -X importtime``'s top offenders of the search probe in
this checkout (per top-level package and per module).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "faiss", "scipy", "sklearn", "numpy", "fastapi", "PIL")
QUERY = "how do glaciers carve valleys?"

_CLI = """import atexit, runpy, sys
def _report():
    top = {{m.split(".")[0] for m in list(sys.modules)}}
    print("HEAVY", ",".join(m for m in {heavy!r} if m in top), file=sys.stderr)
atexit.register(_report)
sys.argv = ["retrieval", *{args!r}]
runpy.run_module("adapters.cli", run_name="__main__")
"""
_CODE = """{code}
import sys
top = {{m.split(".")[0] for m in list(sys.modules)}}
print("HEAVY", ",".join(m for m in {heavy!r} if m in top), file=sys.stderr)
"""
_CONFIG_FLOOR = """import torch
from transformers import AutoConfig, AutoTokenizer
AutoConfig.from_pretrained({path!r})
AutoTokenizer.from_pretrained({path!r})
"""
_TRANSFORMERS_FLOOR = """import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer
path = {path!r}
AutoConfig.from_pretrained(path)
tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModel.from_pretrained(path).eval()
with torch.inference_mode():
    model(**tokenizer([{query!r}], return_tensors="pt"))
"""

TOPICS = {
    "glaciers": "glacier ice valley moraine erosion cirque meltwater snow flow carve",
    "bread": "bread flour yeast dough oven crust bake knead rise loaf",
    "violins": "violin bow string maple varnish bridge luthier tone scroll fiddle",
    "volcanoes": "volcano magma lava ash eruption crater basalt plume vent caldera",
    "rivers": "river delta flood bank current sediment estuary meander channel basin",
    "comets": "comet tail orbit nucleus dust sun ice coma perihelion meteor",
}
FILLER = "the a of and in to is was for on with as by at from that which it this".split()


def write_corpus(folder: Path, paragraphs: int = 8, words: int = 70) -> None:
    """Six small text files (one topic each), ~8 chunks of 100 tokens per file."""
    rng = random.Random(20)
    folder.mkdir(parents=True, exist_ok=True)
    for topic, vocabulary in TOPICS.items():
        terms = vocabulary.split()
        text = "\n\n".join(
            " ".join(rng.choice(terms if rng.random() < 0.4 else FILLER) for _ in range(words))
            + "."
            for _ in range(paragraphs)
        )
        (folder / f"{topic}.txt").write_text(text + "\n", encoding="utf-8")


def build_index(work: Path) -> Path:
    docs, index = work / "docs", work / "index"
    write_corpus(docs)
    cmd = [sys.executable, "-m", "adapters.cli", "index", str(docs), "--index", str(index),
           "--chunk-tokens", "100", "--quiet"]  # fmt: skip
    subprocess.run(cmd, env=_env(ROOT), cwd=work, check=True)
    return index


def probes(index: Path) -> dict[str, str]:
    def cli(*args: str) -> str:
        return _CLI.format(heavy=HEAVY, args=list(args))

    def code(text: str) -> str:
        return _CODE.format(code=text, heavy=HEAVY)

    return {
        "python -c pass": code("pass"),
        "import retrieval": code("import retrieval"),
        "import indexes": code("import indexes"),
        "retrieval --help": cli("--help"),
        "retrieval info": cli("info", "--index", str(index)),
        "retrieval models": cli("models"),
        "retrieval search": cli("search", "--index", str(index), "-k", "3", QUERY),
        "floor: import torch": code("import torch"),
        "floor: torch + transformers config and tokenizer": code(
            _CONFIG_FLOOR.format(path=_default_model_folder())
        ),
        "floor: transformers load + 1 forward": code(
            _TRANSFORMERS_FLOOR.format(path=_default_model_folder(), query=QUERY)
        ),
    }


def _default_model_folder() -> str:
    from encoders.resolve import DEFAULT_MODEL, resolve_model

    return str(resolve_model(DEFAULT_MODEL).path)


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}


def run_once(tree: Path, code: str, cwd: Path) -> tuple[float, float, str]:
    """``(wall seconds, CPU seconds of the child, heavy modules it loaded)``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=_env(tree), cwd=cwd,
                          capture_output=True, text=True, check=False)  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1) or "HEAVY" not in done.stderr:
        sys.exit(f"probe failed in {tree} (exit {done.returncode}):\n{done.stderr[-3000:]}")
    heavy = next(x for x in done.stderr.splitlines() if x.startswith("HEAVY")).split(" ", 1)
    return wall, cpu, heavy[1] if len(heavy) > 1 else ""


def importtime(code: str, cwd: Path, top: int) -> None:
    """Print ``-X importtime``'s biggest costs: self time per top-level package, and the
    modules with the most self time."""
    cmd = [sys.executable, "-X", "importtime", "-c", code]
    done = subprocess.run(cmd, env=_env(ROOT), cwd=cwd, capture_output=True, text=True,
                          check=False)  # fmt: skip
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((int(own), int(cumulative), name.strip()))
    packages: dict[str, int] = {}
    for own, _, name in rows:
        packages[name.split(".")[0]] = packages.get(name.split(".")[0], 0) + own
    total = sum(packages.values())
    print(f"\n`python -X importtime` of the search probe: {total / 1e6:.2f} s of imports")
    print("\n| top-level package | self time of its modules (s) | share |\n|---|---:|---:|")
    for name, own in sorted(packages.items(), key=lambda kv: -kv[1])[:top]:
        print(f"| {name} | {own / 1e6:.3f} | {own / total:.0%} |")
    print("\n| module | self (s) | cumulative (s) |\n|---|---:|---:|")
    for own, cumulative, name in sorted(rows, reverse=True)[:top]:
        print(f"| {name} | {own / 1e6:.3f} | {cumulative / 1e6:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", type=Path, help="a source tree to compare against")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--probes", default="", help="comma-separated probe names (default all)")
    parser.add_argument("--importtime", action="store_true", help="top import offenders")
    parser.add_argument("--top", type=int, default=15, help="rows of the importtime tables")
    args = parser.parse_args()
    trees = {"this": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    with tempfile.TemporaryDirectory(prefix="cli-latency-") as tmp:
        work = Path(tmp)
        index = build_index(work)
        table = probes(index)
        names = args.probes.split(",") if args.probes else list(table)
        loads = [os.getloadavg()]
        samples: dict[tuple[str, str], list[tuple[float, float, str]]] = {}
        for i in range(args.repeat):
            for name in names:
                order = list(trees.items()) if i % 2 else list(trees.items())[::-1]
                for label, tree in order:  # alternate, so load spikes hit both trees alike
                    samples.setdefault((name, label), []).append(run_once(tree, table[name], work))
            loads.append(os.getloadavg())
        _report(samples, trees, loads, args.repeat)
        if args.importtime:
            importtime(table["retrieval search"], work, args.top)


def _report(samples: dict, trees: dict, loads: list, repeat: int) -> None:
    one_minute = [load[0] for load in loads]
    print(f"load average (1 min) over the run: min {min(one_minute):.2f}, median "
          f"{statistics.median(one_minute):.2f}, max {max(one_minute):.2f}; {repeat} runs "
          f"per probe and tree, interleaved")  # fmt: skip
    print("\n| probe | tree | wall s median (min) | CPU s median (min) | heavy modules loaded |")
    print("|---|---|---:|---:|---|")
    results = []
    for (name, label), runs in samples.items():
        walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
        row = {"probe": name, "tree": label, "tree_path": str(trees[label]),
               "wall_median_s": statistics.median(walls), "wall_min_s": min(walls),
               "cpu_median_s": statistics.median(cpus), "cpu_min_s": min(cpus),
               "heavy": runs[-1][2]}  # fmt: skip
        results.append(row)
        wall = f"{row['wall_median_s']:.2f} ({row['wall_min_s']:.2f})"
        cpu = f"{row['cpu_median_s']:.2f} ({row['cpu_min_s']:.2f})"
        print(f"| `{name}` | {label} | {wall} | {cpu} | {row['heavy'] or '-'} |")
    print(json.dumps({"loads": loads, "results": results}))


if __name__ == "__main__":
    main()
