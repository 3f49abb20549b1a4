"""The Authorization/Check servicer: who is calling, one decision, what it grants, an audit event.

The order of a check: the agent's credentials are verified (``input.agent``); a kill switch
engaged for everything, the agent or the upstream refuses at once (503); a request that is not
decided on its body is recorded in its session (``input.session``); the policy decides; an
allow is counted against the decision's rate limits (429 over one), then gets its brokered
credential, the agent's own credential is removed, and what the later ext_proc phases need (the
agent, an approval to hold for, budgets to reserve) is handed to them.
"""

from __future__ import annotations

import time
from typing import Any

from envoy.service.auth.v3 import external_auth_pb2_grpc

from ext_proc.audit import AuditLog, RequestSummary
from ext_proc.authz.response import allowed_response, denied_response
from ext_proc.enforcement.components import Enforcement
from ext_proc.enforcement.credentials import UpstreamCredentials, upstream_credentials
from ext_proc.enforcement.handoff import NO_HANDOFF, Handoff
from ext_proc.enforcement.limits import killed, rate_limited
from ext_proc.enforcement.sessions import decided_on_body, observe
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.grpc_services import UndecodableMessage
from ext_proc.identity.model import ANONYMOUS, AgentIdentity
from ext_proc.inspection.denial import provider_shaped
from ext_proc.metrics import NULL_METRICS, Metrics
from ext_proc.policy.decision import Decision
from ext_proc.policy.directives import NO_REWRITE
from ext_proc.policy.evaluator import DenyResponse, Evaluator, Outcome, deny_response, new_decision_id
from ext_proc.policy_input.check import PHASE_CHECK, carried_attributes, check_input
from ext_proc.protocols.llm import detect_provider
from ext_proc.safe_errors import internal_error

UPSTREAM_KEY = "upstream"
# The route's context extension when only ext_authz runs there (envoy_bootstrap/filters.py).
FILTERS_KEY = "filters"
EXT_AUTHZ_ONLY = "ext_authz"


class AuthorizationServicer(external_auth_pb2_grpc.AuthorizationServicer):  # type: ignore[misc]
    def __init__(
        self,
        evaluator: Evaluator,
        audit: AuditLog,
        deny_status: int,
        metrics: Metrics = NULL_METRICS,
        enforcement: Enforcement | None = None,
        *,
        parse_body: bool = True,
    ) -> None:
        """``parse_body``: False is opa-envoy-plugin's skip-request-body-parse."""
        self._evaluator = evaluator
        self._parse_body = parse_body
        self._audit = audit
        self._deny_status = deny_status
        self._metrics = metrics
        self._enforcement = enforcement or Enforcement.local()

    async def Check(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC name)
        started = time.perf_counter()
        decision_id = new_decision_id()
        if isinstance(request, UndecodableMessage):
            return self._refuse_undecodable(request, decision_id, started)
        attributes = request.attributes
        http = attributes.request.http
        summary = RequestSummary.of(http.method, http.path, http.host)
        upstream = attributes.context_extensions.get(UPSTREAM_KEY)
        enforcement = self._enforcement
        identity = ANONYMOUS
        limits = enforcement.limits
        deny: DenyResponse | None = None
        credentials: UpstreamCredentials | None = None
        carried: dict[str, Any] | None = None
        try:
            identity = await enforcement.identifier.identify(
                http.headers, attributes.source.principal or None
            )
            refusal = killed(limits.kill_switch, identity.agent_id, upstream, None)
            no_ext_proc = attributes.context_extensions.get(FILTERS_KEY) == EXT_AUTHZ_ONLY
            if no_ext_proc and _has_body(http.headers):
                raise ChaperoneError(
                    ErrorCode.ROUTE_READS_NO_BODY, "this route reads no request body", http_status=400
                )
            if refusal is None:
                document = await self._input(request, identity, upstream)
                # What the later phases cannot read again, of what the policy can read (the input
                # holds nothing else); a request in flight across a reload carries what the
                # policy of its check could read.
                carried = carried_attributes(document)
                outcome = await self._evaluator.decide(document)
                if no_ext_proc and outcome.decision.allowed and _needs_ext_proc(outcome.decision):
                    raise ChaperoneError(
                        ErrorCode.ROUTE_NOT_INSPECTED,
                        "the decision asks for a later phase on a route without ext_proc",
                        http_status=500,
                    )
                if outcome.decision.allowed:
                    refusal = await rate_limited(limits.rate_limiter, outcome.decision.limits)
                    if refusal is None:
                        credentials = upstream_credentials(outcome.decision, identity, enforcement.broker)
            if refusal is not None:
                outcome, deny = self._evaluator.failure(refusal.error), refusal.deny
        except ChaperoneError as exc:
            outcome, credentials = self._evaluator.failure(exc), None
        except Exception as exc:  # never an unlogged UNKNOWN: a logged, audited internal_error
            error = internal_error("check_internal_error", exc, decision_id=decision_id)
            outcome, credentials = self._evaluator.failure(error), None
        decision = outcome.decision
        observed = self._observe(outcome, started, identity, upstream)
        if credentials is not None:
            self._audit.decision(
                decision_id=decision_id,
                phase=PHASE_CHECK,
                request=summary,
                outcome=outcome,
                status=None,
                **observed,
            )
            return allowed_response(
                decision,
                decision_id,
                attributes.context_extensions,
                credentials,
                _handoff(decision, identity, credentials.injected, carried),
            )
        deny = deny or deny_response(outcome, decision_id, self._deny_status)
        provider = detect_provider(http.method, http.path)
        if provider is not None:  # an LLM call: its SDK shows the error's message
            deny = provider_shaped(provider, deny)
        self._audit.decision(
            decision_id=decision_id,
            phase=PHASE_CHECK,
            request=summary,
            outcome=outcome,
            status=deny.status,
            **observed,
        )
        return denied_response(deny, decision, decision_id)

    def _refuse_undecodable(self, message: UndecodableMessage, decision_id: str, started: float) -> Any:
        outcome = self._evaluator.failure(message.error())
        deny = deny_response(outcome, decision_id, self._deny_status)
        observed = self._observe(outcome, started, ANONYMOUS, None)
        summary = RequestSummary("", "", "")
        self._audit.decision(
            decision_id=decision_id,
            phase=PHASE_CHECK,
            request=summary,
            outcome=outcome,
            status=deny.status,
            **observed,
        )
        return denied_response(deny, outcome.decision, decision_id)

    async def _input(self, request: Any, identity: AgentIdentity, upstream: str | None) -> dict[str, Any]:
        document = check_input(request, parse_body=self._parse_body, projection=self._evaluator.projection())
        document["agent"] = identity.as_input()
        headers = request.attributes.request.http.headers
        enforcement = self._enforcement
        if not decided_on_body(headers, enforcement.body_protocols):
            facts = await observe(
                enforcement.sessions,
                active=enforcement.sessions_on(),
                fail_open=enforcement.fail_open,
                agent=identity.agent_id,
                headers=headers,
                action=None,
                upstream=upstream,
            )
            if facts is not None:
                document["session"] = facts.as_input()
        return document

    def _observe(
        self, outcome: Outcome, started: float, identity: AgentIdentity, upstream: str | None
    ) -> dict[str, Any]:
        """Metrics for this decision; the audit fields of its agent, upstream and timing."""
        elapsed = time.perf_counter() - started
        self._metrics.outcome(PHASE_CHECK, outcome)
        self._metrics.phase(PHASE_CHECK, elapsed)
        fields: dict[str, Any] = {
            "agent": identity.agent_id,
            "upstream": upstream,
            "phase_ms": elapsed * 1000,
        }
        if identity.error is not None:
            fields["identity_error"] = identity.error.value
        return fields


def _has_body(headers: Any) -> bool:
    length = headers.get("content-length", "")
    return "transfer-encoding" in headers or (length != "" and length.strip() != "0")


def _needs_ext_proc(decision: Decision) -> bool:
    """What only a later ext_proc phase can apply."""
    return bool(
        decision.inspect.any
        or decision.require_approval is not None
        or decision.budgets
        or decision.rewrite is not NO_REWRITE
        or decision.replace_body is not None
        or decision.response_headers_to_remove
    )


def _handoff(
    decision: Decision, identity: AgentIdentity, injected: tuple[str, ...], carried: dict[str, Any] | None
) -> Handoff:
    agent = identity.as_input() if identity.authenticated or identity.error else None
    raw = decision.raw if isinstance(decision.raw, dict) else {}
    approval, budgets = raw.get("require_approval"), raw.get("budgets")
    if agent is None and approval is None and not budgets and not injected and not carried:
        return NO_HANDOFF
    return Handoff(
        agent=agent, require_approval=approval, budgets=budgets, hidden_headers=injected, attributes=carried
    )
