"""The protocol-aware bodies of one HTTP request (LLM API calls, MCP, A2A).

Request (``request_body.py``): the body is read as its route declares or recognized by its
content, every string scanned for sensitive data and prompt injection, and the policy decides
at ``request_body`` with ``input.action``, ``input.findings`` and ``input.injection``, call by
call for a batch. The decisions' sensitive-data tables are then applied (redact in place, or
refuse), hidden content stripped if asked, and their ``rewrite`` applied (model, max tokens,
tools, pinned tool arguments); what was judged is what goes upstream. A deny reaches the client
in its protocol.

Response (``protocol_responses.py``): read as what the protocol allows whatever its status or
label, as it streams (SSE) or whole (JSON): every string scanned, LLM texts redacted per channel
with adaptive holdback; MCP and A2A messages are judged one by one and a ``tools/list`` result is
filtered by the rule that gates ``tools/call``.

No I/O here: the stream processor (the host) evaluates the policy and writes the audit trail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ext_proc.approvals import ApprovalRequirement
from ext_proc.enforcement.components import Enforcement
from ext_proc.enforcement.request_limits import RequestLimits
from ext_proc.enforcement.sessions import mark
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.inspection.denial import protocol_denial
from ext_proc.inspection.judgement import Judgement
from ext_proc.inspection.llm_stream import LlmStreamRelay
from ext_proc.inspection.request import MCP, InspectedRequest
from ext_proc.limits.fields import Budget
from ext_proc.metrics import Metrics
from ext_proc.policy.decision import BodyMode
from ext_proc.policy.evaluator import DenyResponse, Outcome
from ext_proc.policy_input.extproc import phase_document
from ext_proc.processing.events import Action, Continue, Reject
from ext_proc.processing.protocol_responses import ResponseBodies
from ext_proc.processing.request_body import RequestBody, audit_fields, message_of
from ext_proc.protocols import mcp
from ext_proc.protocols.declared import AI_PROTOCOLS
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

    # -- request (request_body.py) -----------------------------------------------------------------

    def expect_headers_only(self, headers: Mapping[str, str], declared_as: str | None = None) -> None:
        """A request without a body (an MCP GET stream, say): recognized by its headers alone,
        or by its route's declaration."""
        if declared_as == MCP or any(
            name in headers for name in (mcp.SESSION_HEADER, mcp.PROTOCOL_VERSION_HEADER)
        ):
            self.request = InspectedRequest(MCP, None, None, None, (), declared=declared_as)
        elif declared_as in AI_PROTOCOLS:
            # Another endpoint of a declared AI upstream (a models list, an agent card): its
            # answer is read all the same.
            self.request = InspectedRequest(None, None, None, None, (), declared=declared_as)

    async def request_body(
        self,
        headers: Mapping[str, str],
        data: bytes,
        text: str | None,
        *,
        asked: bool,
        declared_as: str | None = None,
    ) -> Action:
        """The request body: read, scanned, decided call by call, forwarded as judged."""
        return await RequestBody(self).run(headers, data, text, asked=asked, declared_as=declared_as)

    @property
    def layers(self) -> list[Mapping[str, str]]:
        """The sensitive-data tables in force, the later ones overriding the earlier."""
        return self._layers

    def table(self) -> ActionTable:
        return self.table_of(self._layers)

    @staticmethod
    def table_of(layers: list[Mapping[str, str]]) -> ActionTable:
        merged: dict[str, str] = {}
        for layer in layers:
            merged.update(layer)
        return ActionTable.from_decision(merged)

    # -- response (protocol_responses.py) -----------------------------------------------------------

    def response_mode(self, status: int, headers: Mapping[str, str], *, asked: bool = False) -> BodyMode:
        """How to read the response body; NONE when it is not agent traffic's to read. ``asked``:
        the policy asked for the body (it then decides on every answer)."""
        request = self.request
        if request is None or (request.protocol is None and request.declared not in AI_PROTOCOLS):
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
        in_place: bool = True,
    ) -> Judgement:
        """The policy on one message (or event) coming back: a result, or a message the server
        sends on its own (``server_request``, ``server_notification``). ``in_place``: see
        ``Judge.judge``."""
        document = phase_document(self._host.request_document, phase, response=self._host.response)
        document.update(action=action, findings=findings, injection=injection)
        if phase == PHASE_RESPONSE_BODY:
            document["result"] = {"is_error": is_error}
        quiet = not (findings["count"] or injection["signals"])
        self._host.metrics.injections("response", [signal["kind"] for signal in injection["signals"]])
        audit = audit_fields(action, findings, injection)
        if findings["count"]:
            await self._mark(Fact.READ_SENSITIVE_DATA)
        if injection["signals"]:
            await self._mark(Fact.RECEIVED_INJECTION)
        outcome = await self._host.decide(phase, document, quiet=quiet, audit=audit)
        decision = outcome.decision
        if not decision.allowed and in_place:
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
            message=message_of(outcome.verdict, "the response was denied by policy"),
            data=data,
            outcome=outcome,
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
        in_place: bool = True,
    ) -> Judgement:
        return await self._flow.judge(action, findings, injection, is_error, phase=phase, in_place=in_place)
