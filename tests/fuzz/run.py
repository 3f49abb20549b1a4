"""`make fuzz`: every parser of untrusted input under a million generated and mutated inputs.

Each target of ``targets.py`` runs in a process of its own under atheris (libFuzzer, guided by
the coverage of ext_proc's code), from the seeds of ``seeds.py``, for ``--runs`` inputs; the
whole request/response ``exchange`` gets a tenth of that, being a hundred times slower. A crash
(any exception but a ``ChaperoneError`` refusal, or an ``internal_error`` refusal in the
exchange) stops that target and is reported with the file libFuzzer wrote the input to; the
command exits 1 when any target crashed. Without atheris (a Python it has no wheel for), the same
targets run under hypothesis (random and mutated seeds, not coverage-guided).

    .venv/bin/python -m tests.fuzz.run [--runs N] [--only NAME,...] [--artifacts DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.fuzz.seeds import SEEDS
from tests.fuzz.targets import TARGETS
from tests.harness import ROOT

SLOW = {"exchange": 10}  # targets that get a fraction of the runs
MAX_LEN = 8192


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000, help="inputs per target (default 100,000)")
    parser.add_argument("--only", help="comma-separated target names")
    parser.add_argument("--artifacts", default=str(ROOT / ".fuzz"), help="where crashing inputs go")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(TARGETS)
    artifacts = Path(args.artifacts)
    artifacts.mkdir(parents=True, exist_ok=True)
    engine = "atheris" if importlib.util.find_spec("atheris") is not None else "hypothesis"
    print(f"fuzzing {len(names)} targets with {engine}", flush=True)
    crashed: list[str] = []
    total = 0
    for name in names:
        runs = max(1, args.runs // SLOW.get(name, 1))
        started = time.monotonic()
        ok, detail = (run_atheris if engine == "atheris" else run_hypothesis)(name, runs, artifacts)
        total += runs
        status = "ok" if ok else f"CRASH {detail}"
        print(f"  {name:20} {runs:>9} inputs  {time.monotonic() - started:7.1f} s  {status}", flush=True)
        if not ok:
            crashed.append(name)
    print(f"{total} inputs; {len(crashed)} targets crashed{': ' + ', '.join(crashed) if crashed else ''}")
    return 1 if crashed else 0


def run_atheris(name: str, runs: int, artifacts: Path) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as corpus:
        for index, seed in enumerate(SEEDS[name]):
            (Path(corpus) / f"seed-{index}").write_bytes(seed)
        command = [
            sys.executable, "-m", "tests.fuzz.atheris_main", name,
            f"-runs={runs}", f"-max_len={MAX_LEN}", f"-artifact_prefix={artifacts}/{name}-",
            "-print_final_stats=0", corpus,
        ]  # fmt: skip
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode == 0:
        return True, ""
    written = [line for line in result.stderr.splitlines() if "Test unit written to" in line]
    where = written[-1].split("Test unit written to", 1)[1].strip() if written else "(no artifact)"
    error = [line for line in result.stderr.splitlines() if "Error" in line or "Exception" in line]
    return False, f"{error[-1] if error else 'exit ' + str(result.returncode)}; input: {where}"


def run_hypothesis(name: str, runs: int, artifacts: Path) -> tuple[bool, str]:
    from tests.fuzz.strategies import drive  # noqa: PLC0415 (only without atheris)

    try:
        drive(name, runs)
    except Exception as exc:  # the target's crash, already shrunk by hypothesis
        return False, f"{type(exc).__name__} (see the falsifying example above; {artifacts})"
    return True, ""


if __name__ == "__main__":
    sys.exit(main())
