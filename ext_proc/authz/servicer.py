"""The Authorization/Check servicer: input -> one decision -> CheckResponse, and an audit event."""

from __future__ import annotations

import time
from typing import Any

from envoy.service.auth.v3 import external_auth_pb2_grpc

from ext_proc.audit import AuditLog, RequestSummary
from ext_proc.authz.response import allowed_response, denied_response
from ext_proc.errors import ChaperoneError
from ext_proc.metrics import NULL_METRICS, Metrics
from ext_proc.policy.evaluator import Evaluator, Outcome, deny_response, new_decision_id
from ext_proc.policy_input.check import PHASE_CHECK, check_input


class AuthorizationServicer(external_auth_pb2_grpc.AuthorizationServicer):  # type: ignore[misc]
    def __init__(
        self, evaluator: Evaluator, audit: AuditLog, deny_status: int, metrics: Metrics = NULL_METRICS
    ) -> None:
        self._evaluator = evaluator
        self._audit = audit
        self._deny_status = deny_status
        self._metrics = metrics

    async def Check(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC name)
        started = time.perf_counter()
        decision_id = new_decision_id()
        http = request.attributes.request.http
        summary = RequestSummary.of(http.method, http.path, http.host)
        try:
            outcome = await self._evaluator.decide(check_input(request))
        except ChaperoneError as exc:
            outcome = self._evaluator.failure(exc)
        decision = outcome.decision
        observed = self._observe(request, outcome, started)
        if decision.allowed:
            self._audit.decision(
                decision_id=decision_id,
                phase=PHASE_CHECK,
                request=summary,
                outcome=outcome,
                status=None,
                **observed,
            )
            return allowed_response(decision, decision_id, request.attributes.context_extensions)
        deny = deny_response(outcome, decision_id, self._deny_status)
        self._audit.decision(
            decision_id=decision_id,
            phase=PHASE_CHECK,
            request=summary,
            outcome=outcome,
            status=deny.status,
            **observed,
        )
        return denied_response(deny, decision, decision_id)

    def _observe(self, request: Any, outcome: Outcome, started: float) -> dict[str, Any]:
        """Metrics for this decision; the audit fields of its upstream and timing."""
        elapsed = time.perf_counter() - started
        self._metrics.outcome(PHASE_CHECK, outcome)
        self._metrics.phase(PHASE_CHECK, elapsed)
        return {"upstream": request.attributes.context_extensions.get("upstream"), "phase_ms": elapsed * 1000}
