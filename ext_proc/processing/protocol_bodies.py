"""The protocol-aware bodies of one HTTP request (LLM API calls, MCP, A2A).

Request: the body is recognized (``inspection.request``), its texts scanned for sensitive data
and prompt injection, and the policy decides at ``request_body`` with ``input.action``,
``input.findings`` and ``input.injection``. The decision's sensitive-data table is then applied
(redact in place, or refuse), hidden content stripped if it asks, and its ``rewrite`` applied
(model, max tokens, tools, pinned tool arguments). A deny reaches the client in its protocol.

Response (``protocol_responses.py``): read as what the protocol allows whatever its status or
label, as it streams (SSE) or whole (JSON): every string scanned, LLM texts redacted per channel
with adaptive holdback; MCP and A2A messages are judged one by one and a ``tools/list`` result is
filtered by the rule that gates ``tools/call``.

No I/O here: the stream processor (the host) evaluates the policy and writes the audit trail.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from ext_proc.approvals import ApprovalRequirement
from ext_proc.enforcement.components import Enforcement
from ext_proc.enforcement.limits import TOO_MANY_REQUESTS, LimitRefusal, loop_refusal
from ext_proc.enforcement.request_limits import RequestLimits
from ext_proc.enforcement.sessions import mark, observe
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.inspection import guard
from ext_proc.inspection.denial import protocol_denial
from ext_proc.inspection.judgement import Judgement
from ext_proc.inspection.llm_stream import LlmStreamRelay
from ext_proc.inspection.request import MCP, InspectedRequest, inspect_request
from ext_proc.inspection.rewrite import apply_rewrite
from ext_proc.limits.fields import Budget
from ext_proc.metrics import Metrics
from ext_proc.policy.decision import BodyMode, Decision
from ext_proc.policy.evaluator import DenyResponse, Outcome
from ext_proc.policy_input.extproc import phase_document, with_request_body
from ext_proc.processing.events import Action, Continue, HeaderChanges, Reject
from ext_proc.processing.protocol_responses import ResponseBodies
from ext_proc.protocols import mcp
from ext_proc.protocols.llm import replace_at
from ext_proc.scanning.actions import ActionTable
from ext_proc.sessions import Fact, SessionFacts

PHASE_REQUEST_BODY = "request_body"
PHASE_RESPONSE_BODY = "response_body"


class Host(Protocol):
    """What the stream processor lends the protocol flow."""

    decision_id: str
    request_document: dict[str, Any]
    response: dict[str, Any]
    metrics: Metrics
    enforcement: Enforcement
    check_budgets: tuple[Budget, ...]

    @property
    def agent_id(self) -> str | None: ...

    @property
    def upstream(self) -> str | None: ...

    @property
    def max_body_bytes(self) -> int: ...

    async def decide(
        self,
        phase: str,
        document: dict[str, Any],
        *,
        quiet: bool = False,
        audit: dict[str, Any] | None = None,
    ) -> Outcome: ...

    def reject(self, phase: str, outcome: Outcome, deny: DenyResponse | None = None) -> Reject: ...

    def deny_of(self, outcome: Outcome) -> DenyResponse: ...

    def write_decision(self, phase: str, outcome: Outcome, status: int | None) -> None: ...

    def failure(self, error: ChaperoneError) -> Outcome: ...

    async def hold_for_approval(
        self,
        phase: str,
        requirement: ApprovalRequirement,
        *,
        action: Any = None,
        request: InspectedRequest | None = None,
        outcome: Outcome | None = None,
    ) -> Reject | None: ...


class ProtocolBodies:
    def __init__(
        self, host: Host, default_table: Mapping[str, str], check_table: Mapping[str, str] | None
    ) -> None:
        self._host = host
        self._layers: list[Mapping[str, str]] = [default_table, *([check_table] if check_table else [])]
        self.request: InspectedRequest | None = None
        self.host = host
        self.responses: ResponseBodies | None = None
        self.summary: dict[str, Any] = {}
        self.session: SessionFacts | None = None
        self.limits: RequestLimits | None = None
        self._marked: set[Fact] = set()

    # -- request ----------------------------------------------------------------------------------

    def expect_headers_only(self, headers: Mapping[str, str]) -> None:
        """A request without a body (an MCP GET stream, say): recognized by its headers alone."""
        if any(name in headers for name in (mcp.SESSION_HEADER, mcp.PROTOCOL_VERSION_HEADER)):
            self.request = InspectedRequest(MCP, None, None, None, ())

    async def request_body(
        self, headers: Mapping[str, str], data: bytes, text: str, *, asked: bool
    ) -> Action:
        method = headers.get(":method", "")
        path = headers.get(":path", "").split("?", 1)[0]
        request = inspect_request(method, path, headers, data, text)
        self.request = request
        scans = guard.scan(request.texts)
        findings = guard.findings_input(scans)
        injection = guard.injection_input(scans)
        self._host.metrics.injections("request", [signal["kind"] for signal in injection["signals"]])
        self._note_request(request, findings, injection)
        enforcement = self._host.enforcement
        self.session = await observe(
            enforcement.sessions,
            active=enforcement.sessions_on(),
            fail_open=enforcement.fail_open,
            agent=self._host.agent_id,
            headers=headers,
            action=request.action,
            upstream=self._host.upstream,
        )
        if injection["indirect"] is not None:
            await self._mark(Fact.RECEIVED_INJECTION)  # a tool's output fed back to the model
        self.limits = RequestLimits(
            enforcement,
            agent=self._host.agent_id,
            upstream=self._host.upstream,
            session=headers.get(mcp.SESSION_HEADER),
            check_budgets=self._host.check_budgets,
        )
        refusal = await self.limits.before_decision(request)
        if refusal is not None:
            return self._refuse(refusal)
        if not (asked or request.protocol or findings["count"] or injection["signals"]):
            return Continue()  # plain traffic with nothing found: nothing to decide
        document = with_request_body(self._host.request_document, text, request.document)
        document.update(action=request.action, findings=findings, injection=injection)
        document.update(self.limits.policy_input())
        if self.session is not None:
            document["session"] = self.session.as_input()
        audit = _audit_fields(request.action, findings, injection)
        outcome = await self._host.decide(PHASE_REQUEST_BODY, document, audit=audit)
        if not outcome.decision.allowed:
            return self._reject_request(
                outcome, _message(outcome.decision, "the request was denied by policy")
            )
        decision = outcome.decision
        self._layers.append(decision.sensitive_data or {})
        applied = guard.apply(scans, self.table(), strip=decision.injection == "strip")
        self._host.metrics.redactions("request", applied.redacted)
        self.summary["request_redactions"] = applied.redacted
        if applied.blocked_by is not None:
            denied = _refusal(outcome, f"the request contained {applied.blocked_by}")
            return self._reject_request(
                denied, f"the request contained sensitive data ({applied.blocked_by})"
            )
        refusal = await self.limits.after_allow(decision)
        if refusal is not None:
            return self._refuse(refusal)
        if decision.require_approval is not None:
            held = await self._host.hold_for_approval(
                PHASE_REQUEST_BODY,
                decision.require_approval,
                action=request.action,
                request=request,
                outcome=outcome,
            )
            if held is not None:
                return held
        body = self._new_request_body(request, applied.replacements, decision)
        changes = HeaderChanges(decision.headers, decision.request_headers_to_remove)
        return Continue(headers=changes, body=body)

    def _new_request_body(
        self, request: InspectedRequest, replacements: tuple[Any, ...], decision: Decision
    ) -> bytes | None:
        if decision.replace_body is not None:
            return decision.replace_body
        if request.document is None:
            # A text body: one text, the whole body.
            return replacements[0][1].encode() if replacements else None
        document = request.document
        if replacements:
            document = replace_at(document, [(text.path, _value(text, new)) for text, new in replacements])
        rewritten = apply_rewrite(_with_document(request, document), decision.rewrite)
        if rewritten is request.document:
            return None
        return orjson.dumps(rewritten)

    def _refuse(self, refusal: LimitRefusal) -> Reject:
        """A limit's refusal (kill switch, rate limit, budget), in the request's protocol."""
        data = {**refusal.data, "decision_id": self._host.decision_id}
        deny = protocol_denial(self.request, refusal.deny, refusal.error.message, data)
        return self._host.reject(PHASE_REQUEST_BODY, self._host.failure(refusal.error), deny)

    def _reject_request(self, outcome: Outcome, message: str) -> Reject:
        loop = self.limits.loop if self.limits is not None else None
        if (
            loop is not None
            and outcome.decision.http_status == TOO_MANY_REQUESTS
            and outcome.decision.body is None
        ):
            # The policy refused a repeating tool call as too many: say so, with when to retry.
            refusal = loop_refusal(loop)
            loop_data = {**refusal.data, "decision_id": self._host.decision_id}
            if outcome.verdict.reasons:
                loop_data["reasons"] = list(outcome.verdict.reasons)
            denial = protocol_denial(self.request, refusal.deny, message, loop_data)
            return self._host.reject(PHASE_REQUEST_BODY, outcome, denial)
        deny = self._host.deny_of(outcome)
        data: dict[str, Any] = {"decision_id": self._host.decision_id}
        if outcome.verdict.reasons:
            data["reasons"] = list(outcome.verdict.reasons)
        return self._host.reject(
            PHASE_REQUEST_BODY, outcome, protocol_denial(self.request, deny, message, data)
        )

    def _note_request(
        self, request: InspectedRequest, findings: dict[str, Any], injection: dict[str, Any]
    ) -> None:
        self.summary["protocol"] = request.protocol
        if findings["count"]:
            self.summary["request_findings"] = findings["types"]
        if injection["signals"]:
            self.summary["injection_score"] = injection["score"]

    def table(self) -> ActionTable:
        merged: dict[str, str] = {}
        for layer in self._layers:
            merged.update(layer)
        return ActionTable.from_decision(merged)

    # -- response (protocol_responses.py) -----------------------------------------------------------

    def response_mode(self, status: int, headers: Mapping[str, str], *, asked: bool = False) -> BodyMode:
        """How to read the response body; NONE when it is not agent traffic's to read. ``asked``:
        the policy asked for the body (it then decides on every answer)."""
        request = self.request
        if request is None or request.protocol is None:
            return BodyMode.NONE
        self.responses = ResponseBodies(self, request, self.host.max_body_bytes, asked=asked)
        return self.responses.mode(status, headers)

    async def response_chunk(self, data: bytes, *, end: bool) -> bytes:
        if self.responses is None:
            return data
        return await self.responses.chunk(data, end=end)

    async def response_whole(self, data: bytes) -> Action:
        """A complete response body (buffered)."""
        if self.responses is None:
            return Continue()
        return await self.responses.whole(data)

    def block_response(self, message: str) -> Reject:
        outcome = self._host_failure(message)
        deny = self._host.deny_of(outcome)
        data = {"decision_id": self._host.decision_id, "code": "chaperone_sensitive_data"}
        return self._host.reject(
            PHASE_RESPONSE_BODY, outcome, protocol_denial(self.request, deny, message, data)
        )

    def _host_failure(self, message: str) -> Outcome:
        return self._host.failure(ChaperoneError(ErrorCode.SENSITIVE_DATA_BLOCKED, message, http_status=403))

    def finish_summary(self) -> dict[str, Any]:
        responses = self.responses
        relay = responses.relay if responses is not None else None
        if self.limits is not None:
            stats = relay.stats if isinstance(relay, LlmStreamRelay) else None
            self.limits.settle_later(stats.usage if stats else None, stats.output_chars if stats else 0)
            self.summary.update(self.limits.audit())
        if responses is not None:
            responses.summarize(self.summary)
        self._host.metrics.redactions("response", self.summary.get("response_redactions") or {})
        return {key: value for key, value in self.summary.items() if value not in (None, {}, 0)}

    async def mark(self, fact: Fact) -> None:
        await self._mark(fact)

    def judge_adapter(self) -> _Judge:
        return _Judge(self)

    async def _mark(self, fact: Fact) -> None:
        """What this answer carried, for the session's later decisions (once per fact)."""
        if fact not in self._marked:
            self._marked.add(fact)
            await mark(self._host.enforcement.sessions, self.session, fact)

    # -- judging JSON-RPC responses ---------------------------------------------------------------

    async def listed_tool_allowed(self, tool: dict[str, Any]) -> bool:
        session = (
            self.request.action.get("session_id")
            if self.request and isinstance(self.request.action, dict)
            else None
        )
        document = phase_document(self._host.request_document, PHASE_REQUEST_BODY)
        document["action"] = mcp.listing_action(tool, session)
        outcome = await self._host.decide(PHASE_REQUEST_BODY, document, quiet=True)
        return outcome.decision.allowed

    async def judge(
        self,
        action: Any,
        findings: dict[str, Any],
        injection: dict[str, Any],
        is_error: bool,
        *,
        phase: str = PHASE_RESPONSE_BODY,
    ) -> Judgement:
        """The policy on one message (or event) coming back: a result, or a message the server
        sends on its own (``server_request``, ``server_notification``)."""
        document = phase_document(self._host.request_document, phase, response=self._host.response)
        document.update(action=action, findings=findings, injection=injection)
        if phase == PHASE_RESPONSE_BODY:
            document["result"] = {"is_error": is_error}
        quiet = not (findings["count"] or injection["signals"])
        self._host.metrics.injections("response", [signal["kind"] for signal in injection["signals"]])
        audit = _audit_fields(action, findings, injection)
        if findings["count"]:
            await self._mark(Fact.READ_SENSITIVE_DATA)
        if injection["signals"]:
            await self._mark(Fact.RECEIVED_INJECTION)
        outcome = await self._host.decide(phase, document, quiet=quiet, audit=audit)
        decision = outcome.decision
        if not decision.allowed:
            # The message is answered in place (an error, or dropped): no reject writes it.
            self._host.write_decision(phase, outcome, None)
        layers = [*self._layers, decision.sensitive_data or {}]
        merged: dict[str, str] = {}
        for layer in layers:
            merged.update(layer)
        data: dict[str, Any] = {"decision_id": self._host.decision_id}
        if outcome.verdict.reasons:
            data["reasons"] = list(outcome.verdict.reasons)
        return Judgement(
            allowed=decision.allowed,
            table=ActionTable.from_decision(merged),
            strip=decision.injection == "strip",
            message=_message(outcome.verdict, "the response was denied by policy"),
            data=data,
        )


class _Judge:
    """Adapts ProtocolBodies to the JSON-RPC relay's judge interface."""

    def __init__(self, flow: ProtocolBodies) -> None:
        self._flow = flow

    async def listed_tool_allowed(self, tool: dict[str, Any]) -> bool:
        return await self._flow.listed_tool_allowed(tool)

    async def judge(
        self,
        action: Any,
        findings: dict[str, Any],
        injection: dict[str, Any],
        is_error: bool,
        *,
        phase: str = PHASE_RESPONSE_BODY,
    ) -> Judgement:
        return await self._flow.judge(action, findings, injection, is_error, phase=phase)


def _audit_fields(action: Any, findings: dict[str, Any], injection: dict[str, Any]) -> dict[str, Any]:
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


def _message(decision: Decision, default: str) -> str:
    return "; ".join(decision.reasons) if decision.reasons else default


def _value(text: Any, new: str) -> Any:
    # A JSON-valued text (Anthropic tool_use.input) is written back parsed; if redaction made it
    # invalid JSON, the placeholder text stands in for the whole value.
    if not text.json_value:
        return new
    try:
        return orjson.loads(new)
    except orjson.JSONDecodeError:
        return new


def _with_document(request: InspectedRequest, document: Any) -> InspectedRequest:
    return dataclasses.replace(request, document=document)


def _refusal(outcome: Outcome, reason: str) -> Outcome:
    denied = Decision(allowed=False, http_status=outcome.decision.http_status, reasons=(reason,), raw=None)
    return Outcome(denied, denied, None, outcome.revision, outcome.eval_ms)
