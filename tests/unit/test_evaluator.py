"""Evaluation outcomes with the real embedded engine: every failure is a deny with a stable code."""

from __future__ import annotations

import gc
import os
import threading
import uuid
from pathlib import Path

import orjson
import pytest

from ext_proc.errors import ErrorCode
from ext_proc.policy.bundle import PolicyLoadError, load_bundle
from ext_proc.policy.evaluator import DecisionCache, Evaluator, deny_response, new_decision_id
from ext_proc.policy.regorus_engine import RegorusEngine

POLICY = """package envoy.authz

import rego.v1

allow := true if input.kind == "allow"
allow := false if input.kind == "deny"
allow := {"allowed": false, "http_status": 429, "reasons": ["slow"]} if input.kind == "object"
allow := "yes" if input.kind == "wrong_type"
allow := true if input.kind == "conflict"
allow := false if input.kind == "conflict"
allow := 1 / 0 == 1 if input.kind == "error"
allow := {"allowed": false, "body": "custom", "headers": {"x-a": "b"}} if input.kind == "body"
allow := {"allowed": false, "http_status": 429, "reasons": ["slow"], "json_error": true} if {
	input.kind == "json"
}
allow := {"allowed": false, "dynamic_metadata": {"rl": "x"}} if input.kind == "metadata"
"""


@pytest.fixture
def engine(tmp_path: Path) -> RegorusEngine:
    (tmp_path / "policy.rego").write_text(POLICY)
    return RegorusEngine(load_bundle(tmp_path), "envoy/authz/allow")


@pytest.mark.parametrize(
    ("kind", "allowed", "code"),
    [
        ("allow", True, None),
        ("deny", False, None),
        ("object", False, None),
        ("undefined", False, ErrorCode.POLICY_UNDEFINED),
        ("wrong_type", False, ErrorCode.DECISION_INVALID),
        ("conflict", False, ErrorCode.POLICY_MULTIPLE_RESULTS),
        ("error", False, ErrorCode.POLICY_EVAL_ERROR),
    ],
)
async def test_outcomes(engine: RegorusEngine, kind: str, allowed: bool, code: ErrorCode | None) -> None:
    outcome = await Evaluator(engine).decide({"kind": kind})
    assert outcome.decision.allowed is allowed
    assert (outcome.error.code if outcome.error else None) is code
    assert outcome.revision == engine.revision
    assert outcome.eval_ms >= 0


def test_a_bundle_without_the_decision_rule_is_refused(tmp_path: Path) -> None:
    (tmp_path / "policy.rego").write_text(POLICY)
    with pytest.raises(
        PolicyLoadError, match=r"no module defines the decision rule data\.envoy\.authz\.other"
    ):
        RegorusEngine(load_bundle(tmp_path), "envoy/authz/other")


async def test_error_deny_body_has_the_code_and_no_engine_text(engine: RegorusEngine) -> None:
    outcome = await Evaluator(engine, deny_status=451).decide({"kind": "conflict"})
    deny = deny_response(outcome, "d-1", 403)
    assert deny.status == 451
    body = orjson.loads(deny.body)
    assert body == {"error": {"code": "policy_multiple_results", "decision_id": "d-1"}}
    assert outcome.error is not None and outcome.error.detail and "conflict" in outcome.error.detail


async def test_policy_body_and_headers_are_used_as_given(engine: RegorusEngine) -> None:
    deny = deny_response(await Evaluator(engine).decide({"kind": "body"}), "d-2", 403)
    assert (deny.status, deny.body, deny.headers) == (403, b"custom", (("x-a", "b"),))


async def test_a_deny_without_body_is_empty_as_opa_envoy_plugin_sends_it(engine: RegorusEngine) -> None:
    for kind in ("deny", "object"):
        deny = deny_response(await Evaluator(engine).decide({"kind": kind}), "d-3", 403)
        assert (deny.body, deny.headers) == (b"", ())
    assert deny.status == 429


async def test_json_error_asks_for_the_json_body_with_the_reasons(engine: RegorusEngine) -> None:
    deny = deny_response(await Evaluator(engine).decide({"kind": "json"}), "d-3", 403)
    assert deny.status == 429
    assert ("content-type", "application/json") in deny.headers
    assert orjson.loads(deny.body) == {"error": {"code": "denied", "decision_id": "d-3", "reasons": ["slow"]}}


async def test_dry_run_allows_and_keeps_the_verdict(engine: RegorusEngine) -> None:
    outcome = await Evaluator(engine, dry_run=True).decide({"kind": "object"})
    assert outcome.decision.allowed is True
    assert outcome.dry_run is True
    assert outcome.verdict.allowed is False and outcome.verdict.reasons == ("slow",)


async def test_dry_run_keeps_the_dynamic_metadata_as_the_plugin_does(engine: RegorusEngine) -> None:
    outcome = await Evaluator(engine, dry_run=True).decide({"kind": "metadata"})
    assert outcome.decision.allowed is True and outcome.decision.dynamic_metadata == {"rl": "x"}


@pytest.mark.parametrize("kind", ["undefined", "wrong_type", "error"])
async def test_dry_run_does_not_wave_through_a_failing_policy(engine: RegorusEngine, kind: str) -> None:
    # opa-envoy-plugin's dry-run turns a deny into an allow; a failed evaluation still fails the check.
    outcome = await Evaluator(engine, dry_run=True).decide({"kind": kind})
    assert outcome.decision.allowed is False and outcome.dry_run is False


async def test_dry_run_does_not_change_an_allow(engine: RegorusEngine) -> None:
    outcome = await Evaluator(engine, dry_run=True).decide({"kind": "allow"})
    assert outcome.decision.allowed is True and outcome.dry_run is False


async def test_fail_open_never_applies_to_a_policy_verdict(engine: RegorusEngine) -> None:
    outcome = await Evaluator(engine, fail_open=True).decide({"kind": "wrong_type"})
    assert outcome.decision.allowed is False and not outcome.failed_open


def test_an_engine_collected_on_another_thread_is_dropped_on_its_own(tmp_path: Path) -> None:
    # regorus objects raise when dropped off their thread; the cyclic collector may run anywhere.
    (tmp_path / "policy.rego").write_text(POLICY)
    engine = RegorusEngine(load_bundle(tmp_path), "envoy/authz/allow")
    assert engine.evaluate_now({"kind": "allow"}) is True
    holder: dict[str, object] = {"engine": engine}
    holder["self"] = holder  # only the cyclic collector can free it
    del engine, holder
    gc.disable()  # collect on the other thread, not whenever this one allocates
    try:
        collector = threading.Thread(target=gc.collect)
        collector.start()
        collector.join()
    finally:
        gc.enable()
    (tmp_path / "other.rego").write_text("package other\n")
    survivor = RegorusEngine(load_bundle(tmp_path), "envoy/authz/allow")
    assert survivor.evaluate_now({"kind": "deny"}) is False  # and the orphans are dropped here


# -- decisions seen before, and decision ids ------------------------------------------------------


async def test_the_same_answer_is_the_same_decision_and_a_bad_one_is_never_kept(
    engine: RegorusEngine,
) -> None:
    evaluator = Evaluator(engine)
    first = await evaluator.decide({"kind": "object"})
    again = await evaluator.decide({"kind": "object"})
    assert again.decision is first.decision and first.decision.http_status == 429
    for _ in range(2):
        outcome = await evaluator.decide({"kind": "wrong_type"})
        assert not outcome.decision.allowed and outcome.error is not None
        assert outcome.error.code is ErrorCode.DECISION_INVALID


def test_the_decision_cache_is_bounded_and_tells_equal_values_apart() -> None:
    cache = DecisionCache(size=2)
    one = cache.parse({"allowed": True, "headers": {"x-a": "1"}})
    assert cache.parse({"allowed": True, "headers": {"x-a": "1"}}) is one
    assert cache.parse({"allowed": True, "headers": {"x-a": "2"}}).headers == (("x-a", "2"),)
    cache.parse({"allowed": False})
    assert cache.parse({"allowed": True, "headers": {"x-a": "1"}}) is not one  # evicted: parsed again
    huge = {"allowed": True, "dynamic_metadata": {"n": 2**70}}  # orjson cannot write it: parsed each time
    assert cache.parse(huge).dynamic_metadata == {"n": 2**70}


def test_decision_ids_are_distinct_version_4_uuids() -> None:
    ids = [new_decision_id() for _ in range(3 * 256 + 5)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_a_forked_worker_draws_decision_ids_of_its_own() -> None:
    new_decision_id()  # the parent's buffer holds ids not yet handed out
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the id it would give next
        try:
            os.write(write, new_decision_id().encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        child = os.read(read, 64).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert uuid.UUID(child).version == 4
    assert child != new_decision_id()  # the parent's next id is not the one the child gave
