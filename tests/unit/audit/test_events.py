"""The audit events' fields, as documented in README.md ("Audit trail")."""

from __future__ import annotations

from ext_proc.audit import RequestSummary
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.policy.decision import ALLOW, Decision
from ext_proc.policy.evaluator import Outcome
from tests.unit.audit.helpers import REQUEST, events, memory_log, outcome


def test_a_decision_event_has_every_field_it_was_given() -> None:
    audit, buffer = memory_log()
    audit.decision(
        decision_id="d-1",
        phase="request_body",
        request=REQUEST,
        outcome=outcome(False, reasons=("over budget",), raw={"allowed": False, "rules": ["budget"]}),
        status=429,
        agent="agent-7",
        upstream="openai",
        tokens={"input": 120, "output": 0},
        cost=0.0042,
        approval={"id": "a-1", "status": "denied", "decided_by": "alice"},
        phase_ms=1.23456,
        action={"protocol": "llm", "model": "gpt-4o"},
    )
    [start, decision] = events(buffer.getvalue())
    assert start["event"] == "chain_start" and start["seq"] == 0
    assert decision == {
        "audit": 1,
        "event": "decision",
        "time": decision["time"],
        "decision_id": "d-1",
        "phase": "request_body",
        "agent": "agent-7",
        "upstream": "openai",
        "method": "POST",
        "path": "/v1/chat/completions",
        "host": "api.example.com",
        "action": {"protocol": "llm", "model": "gpt-4o"},
        "allowed": False,
        "status": 429,
        "reasons": ["over budget"],
        "rules": ["budget"],
        "policy_revision": "rev-1",
        "tokens": {"input": 120, "output": 0},
        "cost": 0.0042,
        "approval": {"id": "a-1", "status": "denied", "decided_by": "alice"},
        "eval_ms": 0.25,
        "phase_ms": 1.235,
        "chain": start["chain"],
        "seq": 1,
        "prev": start["hash"],
        "hash": decision["hash"],
    }
    assert decision["time"].endswith("Z")


def test_dry_run_errors_and_fail_open_are_recorded() -> None:
    audit, buffer = memory_log()
    denied = Decision(allowed=False, reasons=("no",))
    error = ChaperoneError(ErrorCode.OPA_UNAVAILABLE, "OPA at http://opa:8181 is unreachable")
    audit.decision(
        decision_id="d",
        phase="check",
        request=REQUEST,
        outcome=Outcome(ALLOW, denied, None, "r", 0.1, dry_run=True),
        status=None,
    )
    audit.decision(
        decision_id="e",
        phase="check",
        request=REQUEST,
        outcome=Outcome(ALLOW, denied, error, "r", 0.1, failed_open=True),
        status=None,
    )
    dry, failed = events(buffer.getvalue())[1:]
    assert (dry["allowed"], dry["dry_run"], dry["policy_allowed"]) == (True, True, False)
    assert (failed["error_code"], failed["failed_open"]) == ("opa_unavailable", True)


def test_one_finding_event_per_type_and_signal() -> None:
    audit, buffer = memory_log()
    audit.decision(
        decision_id="d",
        phase="request_body",
        request=RequestSummary.of("POST", "/mcp", "h"),
        outcome=outcome(),
        status=None,
        upstream="crm",
        findings={"EMAIL": 2, "AWS_ACCESS_KEY": 1},
        injection_score=0.9,
        injection_signals=["instruction_override"],
    )
    findings = [e for e in events(buffer.getvalue()) if e["event"] == "finding"]
    assert [(f["finding"], f["category"], f["count"], f["direction"]) for f in findings] == [
        ("EMAIL", "pii", 2, "request"),
        ("AWS_ACCESS_KEY", "secret", 1, "request"),
        ("instruction_override", "injection", 1, "request"),
    ]
    assert all(f["decision_id"] == "d" and f["upstream"] == "crm" for f in findings)
    assert findings[2]["score"] == 0.9


def test_llm_responses_are_reported_from_the_stream_summary_only() -> None:
    audit, buffer = memory_log()
    summary = {"response_findings": {"US_SSN": 2}, "response_redactions": {"US_SSN": 2}}
    audit.event("stream_summary", decision_id="d", upstream=None, protocol="llm", **summary)
    audit.event("stream_summary", decision_id="m", protocol="mcp", **summary)
    written = events(buffer.getvalue())
    findings = [e for e in written if e["event"] == "finding"]
    assert [(f["decision_id"], f["finding"], f["count"], f["redacted"], f["phase"]) for f in findings] == [
        ("d", "US_SSN", 2, 2, "response_body")
    ]
    assert "upstream" not in written[1], "fields without a value are left out"
