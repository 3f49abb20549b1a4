"""What the tests that drive a StreamProcessor in process share: the shipped default policy, and
an audit log that keeps nothing (their assertions are on what the processor answers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ext_proc.audit import AuditLog
from ext_proc.policy.bundle import load_bundle
from ext_proc.policy.evaluator import Evaluator
from ext_proc.policy.regorus_engine import RegorusEngine

POLICIES = Path(__file__).resolve().parents[1] / "policies"


class QuietAudit(AuditLog):
    def decision(self, **fields: Any) -> None:
        pass

    def event(self, name: str, **fields: Any) -> None:
        pass


def default_policy_evaluator() -> Evaluator:
    return Evaluator(RegorusEngine(load_bundle(POLICIES), "envoy/authz/allow"))
