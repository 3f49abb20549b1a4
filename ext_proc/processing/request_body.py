"""A request body read by Chaperone: recognized, every text scanned, each call decided, then what
was judged is what goes upstream.

1. **Read** (``inspection/request.py``): the route's declared protocol, or the body's content. A
   body that cannot be read as what it must be is refused in the protocol's own error shape.
2. **Decide, call by call.** The calls of a JSON-RPC batch are decided one by one, each with its
   own ``input.action`` and ``input.batch`` (``{"index", "size", "actions"}``) as context, its
   own findings, injection signals, kill switch and loop count; then the decisions' rate
   limits, budgets and approvals, call by call. **A batch is refused whole** when any of its
   calls is refused: every request in it gets a JSON-RPC error (the refused call its reasons,
   the others "not executed"), and nothing reaches the upstream. Partial execution would leave
   the client with answers to a batch it did not send, and MCP dropped batches (2025-06-18).
   A body that is not agent traffic (plain JSON, text) is decided only when the policy asked
   for it (``inspect``): its sensitive data is handled by the tables already in force.
3. **Forward what was judged.** Agent traffic goes upstream as the canonical serialization
   (``strict_json.dumps``) of the document the policy saw, with its redactions and rewrites,
   labelled ``application/json``; other bodies go as they came unless something was redacted.
   The body's new length is set in ``content-length`` (the request body is read in Envoy's
   BUFFERED mode, where a body phase's header changes apply).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ext_proc import strict_json
from ext_proc.enforcement.limits import TOO_MANY_REQUESTS, LimitRefusal, loop_refusal
from ext_proc.enforcement.request_limits import RequestLimits
from ext_proc.enforcement.sessions import observe
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.inspection import guard
from ext_proc.inspection.denial import batch_denial, protocol_denial, unreadable_denial
from ext_proc.inspection.request import Call, InspectedRequest, inspect_request, is_candidate
from ext_proc.inspection.rewrite import apply_rewrite
from ext_proc.policy.decision import Decision
from ext_proc.policy.evaluator import DenyResponse, Outcome
from ext_proc.policy_input.extproc import with_request_body
from ext_proc.processing.events import Action, Continue, HeaderChanges, Reject
from ext_proc.protocols import mcp
from ext_proc.protocols.llm import replace_at
from ext_proc.sessions import Fact

if TYPE_CHECKING:
    from ext_proc.processing.protocol_bodies import ProtocolBodies

PHASE = "request_body"
JSON_CONTENT_TYPE = ("content-type", "application/json")


@dataclass(slots=True)
class Judged:
    """One call on its way through the decision."""

    call: Call
    request: InspectedRequest  # the request as this call alone
    scans: tuple[guard.TextScan, ...]
    limits: RequestLimits
    outcome: Outcome | None = None  # None when no policy was asked
    applied: guard.Applied | None = None

    @property
    def decision(self) -> Decision | None:
        return self.outcome.decision if self.outcome is not None else None


class RequestBody:
    def __init__(self, flow: ProtocolBodies) -> None:
        self._flow = flow
        self._host = flow.host

    async def run(
        self,
        headers: Mapping[str, str],
        data: bytes,
        text: str | None,
        *,
        asked: bool,
        declared_as: str | None,
    ) -> Action:
        method = headers.get(":method", "")
        path = headers.get(":path", "").split("?", 1)[0]
        try:
            request = inspect_request(method, path, headers, data, text, declared_as=declared_as)
        except ChaperoneError as exc:
            return self._unreadable(exc, declared_as, method, path)
        flow = self._flow
        flow.request = request
        flow.summary["protocol"] = request.protocol
        if asked and request.protocol is None and request.text is None and request.document is None and data:
            # The policy asked to read a body that is neither JSON nor text.
            error = ChaperoneError(
                ErrorCode.BODY_DECODE_ERROR, "the body is not valid UTF-8", http_status=400
            )
            return self._unreadable(error, declared_as, method, path)
        if request.protocol is not None or is_candidate(headers):
            # (Other requests were recorded at the check, as plain HTTP.)
            enforcement = self._host.enforcement
            flow.session = await observe(
                enforcement.sessions,
                active=enforcement.sessions_on(),
                fail_open=enforcement.fail_open,
                agent=self._host.agent_id,
                headers=headers,
                action=request.action,
                upstream=self._host.upstream,
            )
        evaluate = asked or request.protocol is not None
        judged: list[Judged] = []
        for call in request.units:
            outcome_or_refusal = await self._judge(call, request, headers, text, evaluate)
            if isinstance(outcome_or_refusal, Reject):
                return outcome_or_refusal
            judged.append(outcome_or_refusal)
        refused = [item for item in judged if item.decision is not None and not item.decision.allowed]
        if refused:
            return self._deny(request, judged, refused[0])
        for item in judged:
            refusal = await self._enforce(item, request)
            if refusal is not None:
                return refusal
        return self._forward(request, judged)

    # -- reading ------------------------------------------------------------------------------

    def _unreadable(self, error: ChaperoneError, declared_as: str | None, method: str, path: str) -> Reject:
        """A body that is not what it must be: refused in the declared protocol's error shape."""
        outcome = self._host.failure(error)
        deny = unreadable_denial(declared_as, method, path, self._host.deny_of(outcome), error)
        return self._host.reject(PHASE, outcome, deny)

    # -- deciding -----------------------------------------------------------------------------

    async def _judge(
        self,
        call: Call,
        request: InspectedRequest,
        headers: Mapping[str, str],
        text: str | None,
        evaluate: bool,
    ) -> Judged | Reject:
        """Scan one call, check its limits, and ask the policy about it (when it is to be asked)."""
        host, flow = self._host, self._flow
        alone = (
            request
            if call.index is None
            else dataclasses.replace(request, action=call.action, texts=call.texts)
        )
        scans = guard.scan(call.texts)
        findings = guard.findings_input(scans)
        injection = guard.injection_input(scans)
        host.metrics.injections("request", [signal["kind"] for signal in injection["signals"]])
        _note_findings(flow.summary, findings, injection)
        if injection["indirect"] is not None:
            await flow.mark(Fact.RECEIVED_INJECTION)  # a tool's output fed back to the model
        limits = RequestLimits(
            host.enforcement,
            agent=host.agent_id,
            upstream=host.upstream,
            session=headers.get(mcp.SESSION_HEADER),
            check_budgets=host.check_budgets,
        )
        if flow.limits is None:
            flow.limits = limits  # the one that meters the answer (LLM calls are never batched)
        refusal = await limits.before_decision(alone)
        if refusal is not None:
            return self._refuse(request, refusal)
        judged = Judged(call, alone, scans, limits)
        if not evaluate:
            return judged
        document = with_request_body(host.request_document, text or "", request.document)
        document.update(action=call.action, findings=findings, injection=injection)
        document.update(limits.policy_input())
        if call.index is not None:
            actions = request.action if isinstance(request.action, list) else [request.action]
            document["batch"] = {"index": call.index, "size": len(actions), "actions": actions}
        if flow.session is not None:
            document["session"] = flow.session.as_input()
        judged.outcome = await host.decide(
            PHASE, document, audit=audit_fields(call.action, findings, injection)
        )
        return judged

    async def _enforce(self, item: Judged, request: InspectedRequest) -> Reject | None:
        """An allowed call's sensitive data, rate limits, budgets and approval, in that order."""
        host, flow = self._host, self._flow
        decision = item.decision
        layers = [*flow.layers, *([decision.sensitive_data] if decision and decision.sensitive_data else [])]
        if decision is not None:
            flow.layers.append(decision.sensitive_data or {})
        applied = guard.apply(
            item.scans, flow.table_of(layers), strip=bool(decision and decision.injection == "strip")
        )
        item.applied = applied
        host.metrics.redactions("request", applied.redacted)
        redactions = flow.summary.setdefault("request_redactions", {})
        for kind, count in applied.redacted.items():
            redactions[kind] = redactions.get(kind, 0) + count
        if applied.blocked_by is not None:
            message = f"the request contained sensitive data ({applied.blocked_by})"
            if item.outcome is None:
                return self._reject(request, host.failure(_blocked(applied.blocked_by)), message)
            denied = _refusal(item.outcome, f"the request contained {applied.blocked_by}")
            return self._reject(request, denied, message)
        if decision is None:
            return None
        refusal = await item.limits.after_allow(decision)
        if refusal is not None:
            return self._refuse(request, refusal)
        if decision.require_approval is not None:
            return await host.hold_for_approval(
                PHASE,
                decision.require_approval,
                action=item.call.action,
                request=request,
                outcome=item.outcome,
            )
        return None

    # -- refusing -----------------------------------------------------------------------------

    def _deny(self, request: InspectedRequest, judged: list[Judged], refused: Judged) -> Reject:
        assert refused.outcome is not None
        message = message_of(refused.outcome.decision, "the request was denied by policy")
        if not request.batch:
            return self._reject(request, refused.outcome, message, loop=refused.limits)
        reasons = {
            item.call.index: message_of(item.outcome.decision, "the request was denied by policy")
            for item in judged
            if item.outcome is not None and not item.outcome.decision.allowed
        }
        data = {"decision_id": self._host.decision_id}
        deny = batch_denial(request, self._host.deny_of(refused.outcome), reasons, data)
        return self._host.reject(PHASE, refused.outcome, deny)

    def _refuse(self, request: InspectedRequest, refusal: LimitRefusal) -> Reject:
        """A limit's refusal (kill switch, rate limit, budget), in the request's protocol."""
        data = {**refusal.data, "decision_id": self._host.decision_id}
        deny = protocol_denial(request, refusal.deny, refusal.error.message, data)
        return self._host.reject(PHASE, self._host.failure(refusal.error), deny)

    def _reject(
        self, request: InspectedRequest, outcome: Outcome, message: str, *, loop: RequestLimits | None = None
    ) -> Reject:
        facts = loop.loop if loop is not None else None
        if (
            facts is not None
            and outcome.decision.http_status == TOO_MANY_REQUESTS
            and outcome.decision.body is None
        ):
            # The policy refused a repeating tool call as too many: say so, with when to retry.
            refusal = loop_refusal(facts)
            loop_data = {**refusal.data, "decision_id": self._host.decision_id}
            if outcome.verdict.reasons:
                loop_data["reasons"] = list(outcome.verdict.reasons)
            return self._host.reject(
                PHASE, outcome, protocol_denial(request, refusal.deny, message, loop_data)
            )
        data: dict[str, Any] = {"decision_id": self._host.decision_id}
        if outcome.verdict.reasons:
            data["reasons"] = list(outcome.verdict.reasons)
        deny: DenyResponse = protocol_denial(request, self._host.deny_of(outcome), message, data)
        return self._host.reject(PHASE, outcome, deny)

    # -- forwarding ---------------------------------------------------------------------------

    def _forward(self, request: InspectedRequest, judged: list[Judged]) -> Continue:
        decisions = [item.decision for item in judged if item.decision is not None]
        changes = HeaderChanges()
        for decision in decisions:
            changes = changes.merged(HeaderChanges(decision.headers, decision.request_headers_to_remove))
        replaced = next((d.replace_body for d in decisions if d.replace_body is not None), None)
        body = replaced if replaced is not None else self._new_body(request, judged)
        if body is not None and replaced is None and request.protocol is not None:
            changes = changes.merged(HeaderChanges(set=(JSON_CONTENT_TYPE,)))
        return Continue(headers=changes, body=body)

    def _new_body(self, request: InspectedRequest, judged: list[Judged]) -> bytes | None:
        """The body that goes upstream: the judged document, redacted and rewritten, canonically
        serialized for agent traffic; None when a plain body goes as it came."""
        replacements = [pair for item in judged if item.applied for pair in item.applied.replacements]
        if request.document is None:
            # A text body: one text, the whole body.
            return replacements[0][1].encode() if replacements else None
        document = _replaced(request.document, replacements)
        for item in judged:
            if item.decision is not None and item.decision.rewrite:
                document = apply_rewrite(
                    dataclasses.replace(request, document=document),
                    item.decision.rewrite,
                    index=item.call.index,
                )
        if request.protocol is None and document is request.document:
            return None  # plain JSON, nothing changed: its bytes (and framing) are kept
        return strict_json.dumps(document)


def _replaced(document: Any, replacements: list[tuple[Any, str]]) -> Any:
    values = [(text.path, _value(text, new)) for text, new in replacements if not text.is_key]
    if values:
        document = replace_at(document, values)
    for text, new in replacements:
        if text.is_key:
            document = _renamed(document, text.path, new)
    return document


def _renamed(document: Any, path: tuple[Any, ...], new_key: str) -> Any:
    """A copy of ``document`` with the key of the value at ``path`` renamed (a redacted key)."""
    parent_path, old_key = path[:-1], path[-1]
    parent = document
    for step in parent_path:
        parent = parent[step]
    key = new_key
    while key in parent and key != old_key:
        key += "_"  # two keys redacted alike stay two keys
    renamed = {(key if name == old_key else name): value for name, value in parent.items()}
    return replace_at(document, [(parent_path, renamed)]) if parent_path else renamed


def _value(text: Any, new: str) -> Any:
    # A JSON-valued text (Anthropic tool_use.input) is written back parsed; if redaction made it
    # invalid JSON, the placeholder text stands in for the whole value.
    if not text.json_value:
        return new
    try:
        return strict_json.loads_text(new)
    except ChaperoneError:
        return new


def _note_findings(summary: dict[str, Any], findings: dict[str, Any], injection: dict[str, Any]) -> None:
    if findings["count"]:
        types = summary.setdefault("request_findings", {})
        for kind, count in findings["types"].items():
            types[kind] = types.get(kind, 0) + count
    if injection["signals"]:
        summary["injection_score"] = max(summary.get("injection_score", 0.0), injection["score"])


def audit_fields(action: Any, findings: dict[str, Any], injection: dict[str, Any]) -> dict[str, Any]:
    """What the audit event says of the action: its kind and target, never its content."""
    fields: dict[str, Any] = {}
    if isinstance(action, dict):
        summary = {key: action[key] for key in _ACTION_SUMMARY if action.get(key) is not None}
        if summary:
            fields["action"] = summary
    if findings["count"]:
        fields["findings"] = findings["types"]
    if injection["signals"]:
        fields["injection_score"] = injection["score"]
        fields["injection_signals"] = sorted({signal["kind"] for signal in injection["signals"]})
    return fields


_ACTION_SUMMARY = ("protocol", "provider", "model", "stream", "method", "tool", "uri", "prompt", "agent")


def message_of(decision: Decision, default: str) -> str:
    return "; ".join(decision.reasons) if decision.reasons else default


def _blocked(finding_type: str) -> ChaperoneError:
    return ChaperoneError(
        ErrorCode.SENSITIVE_DATA_BLOCKED, f"the request contained {finding_type}", http_status=403
    )


def _refusal(outcome: Outcome, reason: str) -> Outcome:
    denied = Decision(allowed=False, http_status=outcome.decision.http_status, reasons=(reason,), raw=None)
    return Outcome(denied, denied, None, outcome.revision, outcome.eval_ms)
