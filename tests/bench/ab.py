"""One in-process benchmark on two versions of the code, alternately, in one run (not a test).

    .venv/bin/python -m tests.bench.ab [--base main] [--rounds 4] [module]

The benchmark module (``tests.bench.inspection`` by default) is this tree's; the ``ext_proc``
it measures is the base revision's (checked out in a temporary git worktree) or this tree's,
turn by turn, so that both see the same machine load. Each output line that carries a number
is reported with its median over the rounds on each side and their ratio (this tree / base).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r"(\d+(?:\.\d+)?)")


# The venv's editable install finds ext_proc before any path entry: the child drops its finder,
# imports ext_proc from the code under test, then the benchmark module from this tree.
CHILD = """
import runpy, sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "")
                    and "editable" not in getattr(f, "__name__", "")]
sys.path.insert(0, sys.argv[1])
import ext_proc
assert ext_proc.__file__.startswith(sys.argv[1]), ext_proc.__file__
sys.path.insert(0, sys.argv[2])
runpy.run_module(sys.argv[3], run_name="__main__")
"""


def run(module: str, code: Path) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(code), str(ROOT), module],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.splitlines()


def first_number(line: str) -> float | None:
    # The figure after the label (labels hold no digits but counts such as "~4 characters").
    match = NUMBER.search(line, 30)
    return float(match.group(1)) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", nargs="?", default="tests.bench.inspection")
    parser.add_argument("--base", default="main")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        base = Path(workdir) / "base"
        add = ["git", "worktree", "add", "--detach", "-q", str(base), args.base]
        subprocess.run(add, cwd=ROOT, check=True)
        try:
            outputs: dict[str, list[list[str]]] = {"base": [], "this": []}
            for _ in range(args.rounds):
                outputs["base"].append(run(args.module, base))
                outputs["this"].append(run(args.module, ROOT))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=True)
    print(f"{args.module}: {args.base} against this tree, median of {args.rounds} alternating runs")
    for index, line in enumerate(outputs["this"][0]):
        values = {
            side: [first_number(lines[index]) for lines in runs if index < len(lines)]
            for side, runs in outputs.items()
        }
        if any(v is None for v in values["base"] + values["this"]) or not values["base"]:
            continue
        old = statistics.median(v for v in values["base"] if v is not None)
        new = statistics.median(v for v in values["this"] if v is not None)
        label = line[:38].strip()
        ratio = new / old if old else float("nan")
        print(f"  {label:38} base {old:9.1f}   this {new:9.1f}   this/base {ratio:5.2f}")


if __name__ == "__main__":
    main()
