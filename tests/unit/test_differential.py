"""The embedded engine (regorus) and real OPA agree on every shipped policy and its fixtures.

Real OPA runs in process through opa-golib-python-bindings (a test-only dependency), so the
same modules and data are evaluated by both engines: decisions on the input fixtures, and each
Rego unit test of the bundle.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from opa_bindings import OpaEngine, OpaUndefinedError

from ext_proc.errors import ChaperoneError
from ext_proc.policy.bundle import load_bundle
from ext_proc.policy.rego_tests import discover
from ext_proc.policy.regorus_engine import RegorusEngine, build_engine
from tests.harness import POLICY_FIXTURES, ROOT
from tests.opa_server import opa_engine_for

FIXTURES = ROOT / "tests" / "fixtures" / "differential"
BUNDLES = {"default": ROOT / "policies", "rewrite": POLICY_FIXTURES / "rewrite"}
DECISION = "envoy/authz/allow"


def inputs(name: str) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = orjson.loads((FIXTURES / f"{name}.json").read_bytes())
    return documents


@pytest.fixture(scope="module", params=sorted(BUNDLES))
def engines(request: pytest.FixtureRequest) -> Iterator[tuple[str, RegorusEngine, OpaEngine]]:
    name = request.param
    opa = opa_engine_for(BUNDLES[name])
    yield name, RegorusEngine(load_bundle(BUNDLES[name]), DECISION), opa
    opa.close()


def regorus_value(engine: RegorusEngine, document: dict[str, Any]) -> Any:
    try:
        return engine.evaluate_now(document)
    except ChaperoneError as exc:
        return ("error", exc.code.value)


def opa_value(engine: OpaEngine, document: dict[str, Any]) -> Any:
    try:
        return engine.eval_document(DECISION.replace("/", "."), document)
    except OpaUndefinedError:
        return None


def test_every_fixture_gets_the_same_decision(engines: tuple[str, RegorusEngine, OpaEngine]) -> None:
    name, regorus_engine, opa = engines
    documents = inputs(name)
    assert len(documents) >= 10
    for index, document in enumerate(documents):
        assert regorus_value(regorus_engine, document) == opa_value(opa, document), f"{name} fixture #{index}"


def test_every_rego_unit_test_has_the_same_result(engines: tuple[str, RegorusEngine, OpaEngine]) -> None:
    name, _, opa = engines
    bundle = load_bundle(BUNDLES[name])
    engine = build_engine(bundle)
    for case in discover(bundle, engine):
        path = case.rule.removeprefix("data.")
        try:
            in_opa = opa.eval_document(path)
        except OpaUndefinedError:
            in_opa = None
        assert engine.eval_rule(case.rule) == in_opa, case.rule


def test_fixtures_exist_for_every_shipped_bundle() -> None:
    shipped = {p.stem for p in FIXTURES.glob("*.json")}
    assert set(BUNDLES) <= shipped
    assert Path(ROOT / "policies").is_dir()
