"""Deny rules added to the default policy the way policies/README.md shows combine with it.

Each `deny contains ...` example of the README is added, in a file of its own, to a copy of the
default policy; the result must be a decision (never `policy_multiple_results` or another engine
error) on every differential fixture, the same in regorus and in real OPA, and the README's own
example must refuse what it says it refuses while the rest of the default policy still works.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from ext_proc.errors import ChaperoneError
from ext_proc.policy.bundle import load_bundle
from ext_proc.policy.regorus_engine import RegorusEngine
from tests.harness import ROOT
from tests.opa_server import opa_engine_for

DECISION = "envoy/authz/allow"
HEADER = "package envoy.authz\n\nimport rego.v1\n\n"


def readme_deny_examples() -> list[str]:
    text = (ROOT / "policies" / "README.md").read_text()
    blocks = re.findall(r"```rego\n(.*?)```", text, flags=re.DOTALL)
    examples = [block for block in blocks if "deny contains" in block]
    assert len(examples) >= 3, "policies/README.md shows how to add deny rules"
    return [block if block.startswith("package ") else HEADER + block for block in examples]


def composed_policy(tmp_path: Path, extra: str) -> Path:
    directory = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", directory)
    (directory / "extra.rego").write_text(extra)
    return directory


def decide_both(directory: Path, document: dict[str, Any]) -> Any:
    answers = []
    engine = RegorusEngine(load_bundle(directory), DECISION)
    try:
        answers.append(engine.evaluate_now(document))
    except ChaperoneError as exc:  # pragma: no cover - reported by the assertion below
        answers.append(("error", exc.code.value))
    opa = opa_engine_for(directory)
    try:
        answers.append(opa.eval_document(DECISION.replace("/", "."), document))
    finally:
        opa.close()
    assert answers[0] == answers[1], answers
    return answers[0]


def fixtures() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = orjson.loads(
        (ROOT / "tests" / "fixtures" / "differential" / "default.json").read_bytes()
    )
    return documents


def tool_call(tool: str, agent: str | None) -> dict[str, Any]:
    return {
        "attributes": {"request": {"http": {"method": "POST", "path": "/mcp", "headers": {}}}},
        "phase": "request_body",
        "agent": {"authenticated": agent is not None, "id": agent, "error": None},
        "action": {"protocol": "mcp", "method": "tools/call", "tool": tool, "arguments": {}},
        "findings": {"count": 0, "types": {}},
        "injection": {"score": 0, "signals": []},
    }


@pytest.mark.parametrize("index", range(len(readme_deny_examples())))
def test_each_readme_deny_example_composes(tmp_path: Path, index: int) -> None:
    directory = composed_policy(tmp_path, readme_deny_examples()[index])
    for document in fixtures():
        decision = decide_both(directory, document)
        assert isinstance(decision, dict) and isinstance(decision["allowed"], bool), decision


def test_the_added_reasons_refuse_alongside_the_shipped_ones(tmp_path: Path) -> None:
    directory = composed_policy(tmp_path, readme_deny_examples()[0])
    paused = decide_both(directory, tool_call("refund_payment", None))
    assert paused == {
        "allowed": False,
        "http_status": 403,
        "reasons": ["refunds are paused"],
        "json_error": True,
    }
    both = decide_both(directory, tool_call("delete_user", "support-bot"))
    expected = ["agent support-bot may not call delete_user", 'tool "delete_user" is not allowed']
    assert both["reasons"] == expected
    assert decide_both(directory, tool_call("get_customer", "support-bot"))["allowed"] is True


def test_two_files_of_deny_rules_combine(tmp_path: Path) -> None:
    rule = 'deny contains "{}" if input.action.tool == "get_customer"\n'
    directory = composed_policy(tmp_path, HEADER + rule.format("first"))
    (directory / "more.rego").write_text(HEADER + rule.format("second"))
    decision = decide_both(directory, tool_call("get_customer", None))
    assert decision["reasons"] == ["first", "second"]
