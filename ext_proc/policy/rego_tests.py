"""`chaperone policy test`: run the Rego unit tests of a directory, reporting like `opa test`.

Test cases are rules whose names start with ``test_``; a test passes when its rule is true,
fails when it is false or undefined, and errors when evaluation fails. Rules prefixed
``todo_test_`` are reported as skipped, as OPA does.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import orjson

from ext_proc.policy.bundle import PolicyBundle, load_bundle
from ext_proc.policy.rego_ast import package_path, rule_names
from ext_proc.policy.regorus_engine import (
    DEFAULT_REGO_VERSION,
    RegoVersion,
    build_engine,
    compile_engine,
    engine_message,
)

TEST_PREFIX = "test_"
TODO_PREFIX = "todo_test_"
EXIT_OK = 0
EXIT_LOAD_ERROR = 1
EXIT_FAILED = 2
RULE_LINE = "-" * 80


@dataclass(frozen=True, slots=True)
class TestCase:
    file: str
    rule: str  # data.<package>.<name>


@dataclass(frozen=True, slots=True)
class TestResult:
    case: TestCase
    outcome: str  # PASS, FAIL, ERROR, SKIPPED
    millis: float
    message: str = ""


def discover(bundle: PolicyBundle, engine: Any) -> list[TestCase]:
    cases: list[TestCase] = []
    modules = dict(bundle.modules)
    for module in orjson.loads(engine.get_ast_as_json()):
        path = module["source"]["file"]
        if path not in modules:
            continue
        package = package_path(module)
        seen: set[str] = set()
        for name in rule_names(module["ast"]["rules"]):
            if name.startswith((TEST_PREFIX, TODO_PREFIX)) and name not in seen:
                seen.add(name)  # a test may have several bodies; it is one case
                cases.append(TestCase(file=path, rule=f"{package}.{name}"))
    return cases


def run_tests(
    directory: str | Path, *, run: str | None = None, rego_version: RegoVersion = DEFAULT_REGO_VERSION
) -> list[TestResult]:
    bundle = load_bundle(directory)
    # No input, as in `opa test`: tests supply theirs with `with`.
    engine = build_engine(bundle, rego_version)
    compile_engine(engine, rego_version, bundle.modules)  # like `opa test`, refuse what does not compile
    pattern = re.compile(run) if run else None
    results = []
    for case in discover(bundle, engine):
        if pattern and not pattern.search(case.rule):
            continue
        results.append(_run_one(engine, case))
    return results


def report(results: list[TestResult], out: TextIO, *, verbose: bool = False) -> int:
    failed = [r for r in results if r.outcome in ("FAIL", "ERROR")]
    if failed:
        out.write(f"FAILURES\n{RULE_LINE}\n")
        for result in failed:
            out.write(_line(result) + "\n")
            if result.message:
                out.write(f"\n  {result.message}\n")
            out.write("\n")
        out.write(f"SUMMARY\n{RULE_LINE}\n")
    if failed or verbose:
        current = None
        for result in results:
            if result.case.file != current:
                current = result.case.file
                out.write(f"{current}:\n")
            out.write(_line(result) + "\n")
        out.write(f"{RULE_LINE}\n")
    total = len(results)
    for outcome in ("PASS", "FAIL", "SKIPPED", "ERROR"):
        count = sum(1 for r in results if r.outcome == outcome)
        if count:
            out.write(f"{outcome}: {count}/{total}\n")
    if not total:
        out.write("no test cases found\n")
    return EXIT_FAILED if failed else EXIT_OK


def _run_one(engine: Any, case: TestCase) -> TestResult:
    if case.rule.rsplit(".", 1)[1].startswith(TODO_PREFIX):
        return TestResult(case, "SKIPPED", 0.0)
    started = time.perf_counter()
    try:
        value = engine.eval_rule(case.rule)
    except RuntimeError as exc:
        return TestResult(case, "ERROR", _ms(started), engine_message(exc))
    outcome = "PASS" if value is True else "FAIL"
    return TestResult(case, outcome, _ms(started))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _line(result: TestResult) -> str:
    if result.outcome == "SKIPPED":
        return f"{result.case.rule}: SKIPPED"
    return f"{result.case.rule}: {result.outcome} ({result.millis:.3f}ms)"
