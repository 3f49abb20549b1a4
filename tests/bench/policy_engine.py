"""Policy engine benchmark (not a test): microseconds per decision, default engine vs compiled.

    .venv/bin/python -m tests.bench.policy_engine [--iterations 3000] [--repeat 5]

The default engine (regorus's tree-walking ``Engine``, as ``RegorusEngine.evaluate_now`` runs
it, input conversion included) is measured on the shipped policy and its differential fixtures,
next to regorus's compiled evaluator (``Program`` run by an ``Rvm``) on the same policy and
inputs in the same run. The compiled evaluator does not serve: it is not OPA-exact (it treats an
assignment from an undefined reference, and ``not`` over an undefined call, as satisfied); it is
here only to show what that speed would buy. CPU time, best of ``repeat``; compare the ratio.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import orjson
import regorus

from ext_proc.policy.bundle import load_bundle
from ext_proc.policy.regorus_engine import RegorusEngine
from tests.harness import ROOT

DECISION = "envoy/authz/allow"
RULE = "data.envoy.authz.allow"


def measure(step: Callable[[int], Any], iterations: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time_ns()
        for i in range(iterations):
            step(i)
        best = min(best, (time.process_time_ns() - started) / iterations / 1000)
    return best


def compiled_evaluator(bundle: Any) -> Any:
    data = bundle.data_json.decode()
    program = regorus.Program.compile_from_modules(data, list(bundle.modules), [RULE])
    vm = regorus.Rvm()
    vm.load_program(program)
    vm.set_data_json(data)
    return vm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bundle = load_bundle(ROOT / "policies")
    documents = orjson.loads((ROOT / "tests" / "fixtures" / "differential" / "default.json").read_bytes())
    engine = RegorusEngine(bundle, DECISION)
    engine.warm()
    vm = compiled_evaluator(bundle)

    def default(i: int) -> Any:
        return engine.evaluate_now(documents[i % len(documents)])

    def compiled(i: int) -> Any:
        vm.set_input_json(orjson.dumps(documents[i % len(documents)]).decode())
        return vm.execute_entry_point(RULE)

    tree = measure(default, args.iterations, args.repeat)
    fast = measure(compiled, args.iterations, args.repeat)
    print(f"policy decision, shipped policy, {len(documents)} fixture inputs (CPU µs per decision)")
    print(f"  compiled Program/Rvm (not served, not OPA-exact): {fast:8.1f} µs  (baseline)")
    print(f"  default tree-walking Engine (served):             {tree:8.1f} µs  ({tree / fast:.1f}x)")


if __name__ == "__main__":
    main()
