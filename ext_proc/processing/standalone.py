"""The request headers decided in ext_proc, when no ext_authz filter ran first (none in the chain,
or none on the route).

The same steps as the check (authz/servicer.py), so that a deployment with ext_proc alone
enforces the same: who is calling, the kill switch, the session of a request not decided on its
body, the policy, the decision's rate limits, brokered credentials with the agent's own removed,
and an approval to hold for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ext_proc.enforcement.credentials import upstream_credentials
from ext_proc.enforcement.limits import killed, rate_limited
from ext_proc.enforcement.sessions import decided_on_body, observe
from ext_proc.inspection.denial import provider_shaped
from ext_proc.policy.evaluator import DenyResponse, Outcome
from ext_proc.policy_input.extproc import phase_document
from ext_proc.processing.events import (
    Action,
    HeaderChanges,
    HeadersEvent,
    Reject,
    request_changes,
    response_changes,
)
from ext_proc.protocols.llm import detect_provider

if TYPE_CHECKING:
    from ext_proc.processing.stream import StreamProcessor

PHASE = "request_headers"


async def decide_request_headers(
    stream: StreamProcessor, event: HeadersEvent, phase: str = PHASE, principal: str | None = None
) -> Action:
    """``phase``: ``check`` on a route that has no ext_authz (the request headers are then decided
    as its check would), ``request_headers`` in a chain without ext_authz at all. ``principal``:
    the client certificate's URI SAN, for SPIFFE identities."""
    enforcement = stream.enforcement
    identity = await enforcement.identifier.identify(event.headers, principal)
    stream.set_agent(identity.as_input(), ())
    limits = enforcement.limits
    refusal = killed(limits.kill_switch, identity.agent_id, stream.upstream, None)
    if refusal is not None:
        return _refuse(stream, event, phase, stream.failure(refusal.error), refusal.deny)
    document = phase_document(stream.request_document, phase)
    if not decided_on_body(event.headers, enforcement.body_protocols):
        facts = await observe(
            enforcement.sessions,
            active=enforcement.sessions_on(),
            fail_open=enforcement.fail_open,
            agent=identity.agent_id,
            headers=event.headers,
            action=None,
            upstream=stream.upstream,
        )
        if facts is not None:
            document["session"] = facts.as_input()
    outcome = await stream.decide(phase, document)
    if not outcome.decision.allowed:
        return _refuse(stream, event, phase, outcome)
    decision = outcome.decision
    refusal = await rate_limited(limits.rate_limiter, decision.limits)
    if refusal is not None:
        return _refuse(stream, event, phase, stream.failure(refusal.error), refusal.deny)
    stream.check_budgets = decision.budgets
    credentials = upstream_credentials(decision, identity, enforcement.broker)
    # The later phases see the request as it leaves: without the agent's credential.
    stream.set_agent(stream.agent, (*identity.credential_headers, *credentials.injected))
    if decision.require_approval is not None:
        held = await stream.hold_for_approval(phase, decision.require_approval)
        if held is not None:
            return held
    stream.pending_response_changes = response_changes(decision)
    changes = request_changes(decision).merged(HeaderChanges(credentials.set, credentials.remove))
    return stream.continue_request(event, changes, decision.inspect, decision.sensitive_data)


def _refuse(
    stream: StreamProcessor,
    event: HeadersEvent,
    phase: str,
    outcome: Outcome,
    deny: DenyResponse | None = None,
) -> Reject:
    """A refusal before the body is read, as the check gives it: an LLM call's in its provider's
    error format, so that the SDK shows the message and not only the status."""
    deny = deny or stream.deny_of(outcome)
    provider = detect_provider(event.headers.get(":method", ""), event.headers.get(":path", ""))
    if provider is not None:
        deny = provider_shaped(provider, deny)
    return stream.reject(phase, outcome, deny)
