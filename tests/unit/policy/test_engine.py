"""The embedded engine answers any decision path OPA accepts, in either Rego version, with exact
integers, and without limits OPA does not have; each answer is checked against real OPA."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from ext_proc.policy.bundle import PolicyLoadError, load_bundle
from ext_proc.policy.regorus_engine import RegorusEngine, RegoVersion
from tests.rego_oracle import Value, opa_engine, opa_outcome

PARTIAL_OBJECT = """package envoy.authz

default allow := false

allow if input.attributes.request.http.method == "GET"

result["allowed"] := allow

result["headers"] := {"x-checked": "yes"} if allow

result["http_status"] := 418 if not allow
"""


def engine_for(tmp_path: Path, source: str, decision: str, rego_version: RegoVersion = "v1") -> RegorusEngine:
    (tmp_path / "policy.rego").write_text(source)
    return RegorusEngine(load_bundle(tmp_path), decision, rego_version=rego_version)


def opa_answer(source: str, path: str, document: Any) -> Any:
    opa = opa_engine([("policy.rego", source)])
    try:
        outcome = opa_outcome(opa, path, document)
    finally:
        opa.close()
    return outcome.value if isinstance(outcome, Value) else None


def get(method: str) -> dict[str, Any]:
    return {"attributes": {"request": {"http": {"method": method}}}}


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("decision", ["envoy/authz/result", "envoy/authz", "envoy/authz/result/allowed"])
def test_a_partial_object_decision_answers_as_opa(tmp_path: Path, method: str, decision: str) -> None:
    engine = engine_for(tmp_path, PARTIAL_OBJECT, decision)
    expected = opa_answer(PARTIAL_OBJECT, decision.replace("/", "."), get(method))
    assert engine.evaluate_now(get(method)) == expected


def test_an_empty_partial_object_is_an_empty_object_not_undefined(tmp_path: Path) -> None:
    source = 'package envoy.authz\n\nresult["allowed"] := true if input.never\n'
    engine = engine_for(tmp_path, source, "envoy/authz/result")
    assert engine.evaluate_now({}) == {} == opa_answer(source, "envoy.authz.result", {})


def test_a_decision_path_nothing_defines_is_refused_at_load(tmp_path: Path) -> None:
    refusal = r"no module defines the decision rule data\.envoy\.authz\.alow"
    with pytest.raises(PolicyLoadError, match=refusal):
        engine_for(tmp_path, PARTIAL_OBJECT, "envoy/authz/alow")


V0_POLICY = """package envoy.authz

default allow = false

allow {
    input.attributes.request.http.method == "GET"
}

methods[m] { m := input.methods[_] }
"""


def test_rego_v0_runs_when_configured_and_is_refused_as_v1(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, V0_POLICY, "envoy/authz/allow", rego_version="v0")
    assert engine.evaluate_now(get("GET")) is True
    assert engine.evaluate_now(get("PUT")) is False
    with pytest.raises(PolicyLoadError):
        engine_for(tmp_path, V0_POLICY, "envoy/authz/allow", rego_version="v1")


def test_a_line_longer_than_1024_columns_loads(tmp_path: Path) -> None:
    names = ", ".join(f'"agent-{i:04d}"' for i in range(400))
    source = (
        f"package envoy.authz\n\nallowed_agents := {{{names}}}\n\nallow if input.agent in allowed_agents\n"
    )
    assert max(len(line) for line in source.splitlines()) > 5000
    engine = engine_for(tmp_path, source, "envoy/authz/allow")
    assert engine.evaluate_now({"agent": "agent-0399"}) is True
    assert engine.evaluate_now({"agent": "agent-0400"}) is None


BIG = 123456789012345678901234567890

BIG_INTEGERS = f"""package envoy.authz

default allow := false

allow if input.n == {BIG}

next := input.n + 1

bigger if input.n > {BIG - 1}

same if input.n == input.m
"""


@pytest.mark.parametrize(
    "document",
    [
        {"n": BIG},
        {"n": BIG + 1},
        {"n": -BIG},
        {"n": 2**64},
        {"n": 2**64, "m": 2**64 + 1},
        {"n": 2**63 - 1},
        {"n": 1.5},
        {"n": BIG, "text": 'quotes " and \\ and \u00e9 and \U0001f600 and \n'},
    ],
)
@pytest.mark.parametrize("rule", ["allow", "bigger", "same"])
def test_integers_of_any_size_compare_as_in_opa(tmp_path: Path, document: dict[str, Any], rule: str) -> None:
    engine = engine_for(tmp_path, BIG_INTEGERS, f"envoy/authz/{rule}")
    expected = opa_answer(BIG_INTEGERS, f"envoy.authz.{rule}", document)
    assert engine.evaluate_now(document) == expected


def test_every_thread_gets_an_engine_with_the_extensions(tmp_path: Path) -> None:
    source = "package envoy.authz\n\nallow := crypto.sha256(input.s)\n"
    engine = engine_for(tmp_path, source, "envoy/authz/allow")
    answers: list[Any] = []
    thread = threading.Thread(target=lambda: answers.append(engine.evaluate_now({"s": "a"})))
    thread.start()
    thread.join()
    assert (
        answers == [engine.evaluate_now({"s": "a"})] == [opa_answer(source, "envoy.authz.allow", {"s": "a"})]
    )
