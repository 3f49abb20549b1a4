"""The audit trail: one structured event per policy decision.

An event says who decided what about which request and why, with the timing and the policy
revision; it carries no header values, no query string and no body (the path is logged without
its query, which often holds keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from ext_proc.policy.evaluator import Outcome


@dataclass(frozen=True, slots=True)
class RequestSummary:
    method: str
    path: str
    host: str

    @staticmethod
    def of(method: str, path: str, host: str) -> RequestSummary:
        return RequestSummary(method=method, path=path.split("?", 1)[0], host=host)


class AuditLog:
    def __init__(self) -> None:
        self._log = structlog.get_logger("chaperone.audit")

    def decision(
        self,
        *,
        decision_id: str,
        phase: str,
        request: RequestSummary,
        outcome: Outcome,
        status: int | None,
        **extra: Any,
    ) -> None:
        decision = outcome.decision
        fields: dict[str, Any] = {
            "decision_id": decision_id,
            "phase": phase,
            "method": request.method,
            "path": request.path,
            "host": request.host,
            "allowed": decision.allowed,
            "policy_revision": outcome.revision,
            "eval_ms": round(outcome.eval_ms, 3),
        }
        if status is not None:
            fields["status"] = status
        if outcome.error is not None:
            fields["error_code"] = outcome.error.code.value
            fields["error"] = outcome.error.message
        if outcome.verdict.reasons:
            fields["reasons"] = list(outcome.verdict.reasons)
        if outcome.dry_run:
            fields["dry_run"] = True
            fields["policy_allowed"] = outcome.verdict.allowed
        if outcome.failed_open:
            fields["failed_open"] = True
        fields.update(extra)
        self._log.info("decision", **fields)

    def event(self, name: str, **fields: Any) -> None:
        self._log.info(name, **fields)
