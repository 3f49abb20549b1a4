"""The per-stream state machine of ext_proc: one object per HTTP request, no I/O.

Envoy opens one ext_proc stream per HTTP request and sends the phases it was told to send:
request headers always (the filter's static mode), then whatever the request headers' answer
asked for through a mode override (DESIGN §4: overrides are only honoured in a headers
response). Two things ask for body phases:

- the policy, through ``inspect``: it then sees the body (buffered) or each chunk (streamed) and
  decides at each, as in ``policies/README.md``;
- Chaperone itself, for traffic it recognizes (LLM API calls, MCP, A2A; ``inspection.protocols``):
  the request body is read whole and the policy decides on the recognized action with the
  findings and injection signals, and the response is relayed through the protocol flow
  (``protocol_bodies.py``): redacted as it streams, MCP/A2A messages judged one by one.

When the ext_authz filter ran first, its decision reaches us in dynamic metadata (decision id,
phases to inspect, context extensions, sensitive-data table) and the request headers are not
evaluated again: one policy evaluation per request on the common path.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from ext_proc.approvals import ApprovalRequirement, parse_require_approval
from ext_proc.audit import AuditLog, RequestSummary
from ext_proc.config import DEFAULT_DENY_STATUS, DEFAULT_MAX_BODY_BYTES
from ext_proc.enforcement.components import Enforcement
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.identity.model import ANONYMOUS
from ext_proc.inspection.denial import unreadable_denial
from ext_proc.inspection.request import InspectedRequest, is_candidate, reads_body
from ext_proc.limits.fields import Budget, parse_budgets
from ext_proc.metrics import NULL_METRICS, Metrics
from ext_proc.policy.decision import NO_INSPECTION, BodyMode, Inspection
from ext_proc.policy.evaluator import (
    DenyResponse,
    Evaluator,
    Outcome,
    deny_response,
    new_decision_id,
)
from ext_proc.policy_input.extproc import (
    as_route_check,
    phase_document,
    request_document,
    with_check_attributes,
    with_request_body,
)
from ext_proc.policy_input.http import decode_utf8, parse_body
from ext_proc.processing.approval_hold import hold_for_approval
from ext_proc.processing.body_state import BodyState
from ext_proc.processing.codecs import decoder_for
from ext_proc.processing.events import (
    CONTINUE,
    NO_HEADER_CHANGES,
    Action,
    BodyEvent,
    Continue,
    Direction,
    Event,
    HeaderChanges,
    HeadersEvent,
    ProcessingMode,
    Reject,
    TrailersEvent,
    request_changes,
    response_changes,
)
from ext_proc.processing.protocol_bodies import ProtocolBodies
from ext_proc.processing.standalone import decide_request_headers
from ext_proc.protocols.declared import AI_PROTOCOLS, check_request_headers, declared_protocol
from ext_proc.safe_errors import internal_error

PHASE_CHECK = "check"
PHASE_REQUEST_HEADERS = "request_headers"
PHASE_REQUEST_BODY = "request_body"
PHASE_RESPONSE_HEADERS = "response_headers"
PHASE_RESPONSE_BODY = "response_body"

NO_OVERRIDE = ProcessingMode()
ANONYMOUS_INPUT = ANONYMOUS.as_input()


@dataclass(frozen=True, slots=True)
class StreamSettings:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    deny_status: int = DEFAULT_DENY_STATUS
    protocols: bool = True
    sensitive_data: dict[str, str] = field(default_factory=lambda: {"default": "redact"})


class StreamProcessor:
    def __init__(
        self,
        evaluator: Evaluator,
        audit: AuditLog,
        settings: StreamSettings,
        metrics: Metrics = NULL_METRICS,
        enforcement: Enforcement | None = None,
    ) -> None:
        self._evaluator = evaluator
        self._audit = audit
        self._settings = settings
        self.enforcement = enforcement or Enforcement.local()
        # input.agent: from the check's hand-off, or identified here when ext_proc runs alone.
        self.agent: dict[str, Any] = ANONYMOUS_INPUT
        # Budgets of the check decision, reserved where the tokens are known (the body phase).
        self.check_budgets: tuple[Budget, ...] = ()
        self.decision_id = new_decision_id()
        self.summary = RequestSummary("", "", "")
        self.request_document: dict[str, Any] = {}
        self._headers: dict[str, str] = {}
        self._headers_seen = False
        self._inspect = NO_INSPECTION
        self.pending_response_changes = NO_HEADER_CHANGES
        self.response: dict[str, Any] = {}
        self._bodies: dict[Direction, BodyState] = {}
        self._protocol: ProtocolBodies | None = None
        self._declared: str | None = None
        self._asked_for_request_body = False  # the policy's inspect asked for it (not Chaperone)
        self._chunk_evaluations = 0
        self._audit_extra: dict[str, Any] = {}
        self.rejected = False
        # Set by the servicer: the route's context extensions when ext_proc decides it alone.
        self.route_context: dict[str, str] | None = None
        # Set by the servicer: moves Envoy's deadline for the current message before a long wait.
        self.extend_deadline: Callable[[float], Awaitable[None]] | None = None
        self.metrics = metrics
        self._phase_started = 0.0
        self._last_outcome: Outcome | None = None
        metrics.stream_opened()

    # -- entry points ---------------------------------------------------------------------

    async def handle(self, event: Event) -> Action:
        self._phase_started = time.perf_counter()
        try:
            if isinstance(event, HeadersEvent) and event.direction is Direction.REQUEST:
                return await self._on_request_headers(event)
            if not self._headers_seen:  # Envoy always sends the request headers first
                raise _out_of_order()
            if isinstance(event, HeadersEvent):
                return await self._on_response_headers(event)
            if isinstance(event, BodyEvent):
                return await self._on_body(event)
            return await self._on_trailers(event)
        except ChaperoneError as exc:
            return self.reject(_phase_of(event), self._evaluator.failure(exc))
        except Exception as exc:  # logged without data, audited, refused: never a reset stream
            phase = _phase_of(event)
            error = internal_error("ext_proc_internal_error", exc, decision_id=self.decision_id, phase=phase)
            return self.reject(phase, self._evaluator.failure(error))
        finally:
            self.metrics.phase(_phase_of(event), time.perf_counter() - self._phase_started)

    def idle_timeout(self, seconds: float) -> None:
        """Envoy sent nothing for ``seconds``: the stream is ended (Envoy fails the request)."""
        fields: dict[str, Any] = {"seconds": seconds}
        if self._headers_seen:
            fields.update(decision_id=self.decision_id, path=self.summary.path, upstream=self.upstream)
            self._audit.event("stream_idle_timeout", **fields)
        structlog.get_logger("chaperone.ext_proc").warning("ext_proc_stream_idle", **fields)

    def refuse_message(self, error: ChaperoneError) -> Reject:
        """A message from Envoy that cannot be read at all: refused and audited like a phase."""
        self._phase_started = time.perf_counter()
        return self.reject("ext_proc_message", self._evaluator.failure(error))

    def close(self) -> None:
        """End of the ext_proc stream: one summary event for what was not logged one by one."""
        self.metrics.stream_closed()
        fields: dict[str, Any] = {}
        if self._chunk_evaluations:
            fields["chunk_decisions"] = self._chunk_evaluations
            fields["chunks_replaced"] = {d.value: b.replaced for d, b in self._bodies.items() if b.replaced}
        if self._protocol is not None:
            fields.update(self._protocol.finish_summary())
        if fields:
            self._audit.event(
                "stream_summary",
                decision_id=self.decision_id,
                path=self.summary.path,
                upstream=self.upstream,
                **fields,
            )

    # -- headers --------------------------------------------------------------------------

    async def _on_request_headers(self, event: HeadersEvent) -> Action:
        headers = event.headers
        self._headers = headers
        self._headers_seen = True
        self.summary = RequestSummary.of(
            headers.get(":method", ""), headers.get(":path", ""), headers.get(":authority", "")
        )
        self.request_document = request_document(headers, event.attributes)
        if event.check is not None:
            # ext_authz already decided on these headers; take its verdict instead of re-evaluating.
            check = event.check
            self.decision_id = check.decision_id
            if check.context_extensions:
                self.request_document["attributes"]["contextExtensions"] = check.context_extensions
            if check.handoff.attributes:
                with_check_attributes(self.request_document, dict(check.handoff.attributes))
            agent = check.handoff.agent
            self.set_agent(
                dict(agent) if agent is not None else ANONYMOUS_INPUT, check.handoff.hidden_headers
            )
            self.check_budgets = parse_budgets(check.handoff.budgets)
            requirement = parse_require_approval(check.handoff.require_approval)
            if requirement is not None:
                refusal = await self.hold_for_approval(PHASE_REQUEST_HEADERS, requirement)
                if refusal is not None:
                    return refusal
            return self.continue_request(event, NO_HEADER_CHANGES, check.inspect, check.sensitive_data)
        if self.route_context is not None:
            # A route without ext_authz (envoy_bootstrap/filters.py): decided here, as the check.
            principal = as_route_check(self.request_document, self.route_context, event.attributes)
            return await decide_request_headers(self, event, PHASE_CHECK, principal)
        return await decide_request_headers(self, event)

    def set_agent(self, agent: dict[str, Any], hidden_headers: tuple[str, ...]) -> None:
        self.agent = agent
        self.request_document["agent"] = agent
        if hidden_headers:
            http = self.request_document["attributes"]["request"]["http"]
            http["headers"] = {k: v for k, v in http["headers"].items() if k not in hidden_headers}

    @property
    def agent_id(self) -> str | None:
        agent_id = self.agent.get("id")
        return agent_id if isinstance(agent_id, str) else None

    def continue_request(
        self, event: HeadersEvent, changes: HeaderChanges, inspect: Inspection, check_table: Any
    ) -> Action:
        has_body = not event.end_of_stream
        headers = event.headers
        declared_as = declared_protocol(self.request_document["attributes"].get("contextExtensions"))
        self._declared = declared_as
        if declared_as in AI_PROTOCOLS:
            refusal = self._refuse_request_headers(declared_as, headers, has_body)
            if refusal is not None:
                return refusal
        self._asked_for_request_body = inspect.request_body is not BodyMode.NONE
        if self._reads_protocol(declared_as, headers, has_body, inspect):
            self._protocol = ProtocolBodies(self, self._settings.sensitive_data, check_table)
            if not has_body:
                self._protocol.expect_headers_only(headers, declared_as)
            elif inspect.request_body is not BodyMode.BUFFERED:
                # The body is read whole as what it is; a policy that asked for it chunk by
                # chunk decides on the whole body instead.
                inspect = dataclasses.replace(inspect, request_body=BodyMode.BUFFERED)
        self._inspect = inspect
        if inspect.request_body is not BodyMode.NONE and has_body:
            if inspect.request_body is BodyMode.BUFFERED:
                self._check_declared_length(headers)
            body = self._new_body(inspect.request_body, headers, unsupported_status=415)
            self._bodies[Direction.REQUEST] = body
            if body.decoder is not None:
                changes = changes.merged(HeaderChanges(remove=("content-encoding",)))
            if inspect.request_body is BodyMode.STREAMED:
                # A body rewritten chunk by chunk has no length until it ends: chunked upstream.
                # A buffered one keeps its framing; the body phase sets a new length if it changes.
                changes = changes.merged(HeaderChanges(remove=("content-length",)))
        if inspect.response_body is not BodyMode.NONE or self._protocol is not None:
            # The response body will be read as text: ask the upstream not to compress it.
            changes = changes.merged(HeaderChanges(set=(("accept-encoding", "identity"),)))
        mode = ProcessingMode(
            response_headers=bool(inspect.response_headers or inspect.response_body is not BodyMode.NONE)
            or bool(self.pending_response_changes)
            or self._protocol is not None,
            request_body=inspect.request_body if has_body else BodyMode.NONE,
            response_body=inspect.response_body,
            request_trailers=has_body and inspect.request_body is BodyMode.STREAMED,
            response_trailers=inspect.response_body is BodyMode.STREAMED,
        )
        return Continue(headers=changes, mode=None if mode == NO_OVERRIDE else mode)

    def _reads_protocol(
        self, declared_as: str | None, headers: dict[str, str], has_body: bool, inspect: Inspection
    ) -> bool:
        """A declared AI protocol is always read; plain HTTP only as the policy asks; an
        undeclared route's bodies (and its MCP/A2A streams) are read to find what they are,
        unless the policy asked to see the body chunk by chunk itself."""
        if declared_as in AI_PROTOCOLS:
            return True
        if not reads_body(declared_as) or not self._settings.protocols:
            return False
        if has_body:
            return inspect.request_body is not BodyMode.STREAMED
        return is_candidate(headers)

    def _refuse_request_headers(
        self, declared_as: str, headers: dict[str, str], has_body: bool
    ) -> Reject | None:
        method, path = headers.get(":method", ""), headers.get(":path", "").split("?", 1)[0]
        try:
            check_request_headers(declared_as, method, path, headers, has_body)
        except ChaperoneError as exc:
            outcome = self.failure(exc)
            return self.reject(
                PHASE_REQUEST_HEADERS,
                outcome,
                unreadable_denial(declared_as, method, path, self.deny_of(outcome), exc),
            )
        return None

    def _new_body(self, mode: BodyMode, headers: dict[str, str], *, unsupported_status: int) -> BodyState:
        """Body state; a compressed body is decoded for inspection and forwarded decoded."""
        try:
            decoder = decoder_for(headers.get("content-encoding"), max_output=self._settings.max_body_bytes)
        except ChaperoneError as exc:
            exc.http_status = unsupported_status
            raise
        return BodyState(mode, decoder)

    def _check_declared_length(self, headers: dict[str, str]) -> None:
        # Refuse at the headers what cannot be buffered: a body over Envoy's buffer limit that
        # arrives while the headers are being decided would otherwise stall the request.
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._settings.max_body_bytes:
            raise _too_large(self._settings.max_body_bytes)

    async def _on_response_headers(self, event: HeadersEvent) -> Action:
        status_text = event.headers.get(":status", "")
        status = int(status_text) if status_text.isdigit() else 0
        self.response = {"status": status, "headers": event.headers}
        changes = self.pending_response_changes
        inspect = self._inspect
        if inspect.response_headers:
            outcome = await self.decide(
                PHASE_RESPONSE_HEADERS,
                phase_document(self.request_document, PHASE_RESPONSE_HEADERS, response=self.response),
            )
            if not outcome.decision.allowed:
                return self.reject(PHASE_RESPONSE_HEADERS, outcome)
            changes = changes.merged(response_changes(outcome.decision))
            if outcome.decision.inspect.response_body is not BodyMode.NONE:
                inspect = dataclasses.replace(inspect, response_body=outcome.decision.inspect.response_body)
        self._inspect = inspect
        mode = inspect.response_body
        by_protocol = False
        if self._protocol is not None and not event.end_of_stream:
            # Agent traffic's answer is read by the protocol flow, even when the policy asked to
            # see it (it then decides on the whole answer): a policy that asks for the body must
            # not turn redaction off.
            read_as = self._protocol.response_mode(status, event.headers, asked=mode is not BodyMode.NONE)
            if read_as is not BodyMode.NONE:
                mode, by_protocol = read_as, True
        if mode is BodyMode.NONE or event.end_of_stream:
            return Continue(headers=changes)
        body = self._new_body(mode, event.headers, unsupported_status=502)
        body.by_protocol = by_protocol
        self._bodies[Direction.RESPONSE] = body
        # Inspected bodies may change size: their length is unknown until they end.
        changes = changes.merged(HeaderChanges(remove=("content-length",)))
        if body.decoder is not None:
            changes = changes.merged(HeaderChanges(remove=("content-encoding",)))
        streamed = mode is BodyMode.STREAMED
        return Continue(
            headers=changes,
            mode=ProcessingMode(response_headers=True, response_body=mode, response_trailers=streamed),
        )

    # -- bodies ---------------------------------------------------------------------------

    async def _on_body(self, event: BodyEvent) -> Action:
        body = self._bodies.get(event.direction)
        if body is None:
            return CONTINUE  # a phase nobody asked for (static filter config): untouched
        if body.mode is BodyMode.BUFFERED:
            return await self._on_buffered_body(event, body)
        if event.direction is Direction.RESPONSE and body.by_protocol and self._protocol is not None:
            data = body.decode(event.data, end=event.end_of_stream)
            return Continue(body=await self._protocol.response_chunk(data, end=event.end_of_stream))
        return await self._on_streamed_chunk(event, body)

    async def _on_buffered_body(self, event: BodyEvent, body: BodyState) -> Action:
        # Buffered inspection of a response runs in Envoy's BUFFERED_PARTIAL mode: a body over
        # Envoy's buffer limit arrives cut short (no end of stream) instead of stalling it. A
        # request's runs in BUFFERED mode (its length was checked at the headers), where the
        # body phase can set the new content-length of a body it changes.
        if len(event.data) > self._settings.max_body_bytes or not event.end_of_stream:
            # An answer too large to inspect is the upstream's fault: 502, as other answers
            # that cannot be inspected (413 would tell the client its request was too large).
            status = 413 if event.direction is Direction.REQUEST else 502
            raise _too_large(self._settings.max_body_bytes, status)
        data = body.decode(event.data, end=True)
        request_flow = event.direction is Direction.REQUEST and self._protocol is not None
        text = _text_or_none(data) if request_flow else decode_utf8(data)
        action = await self._buffered_action(event.direction, body, data, text)
        if isinstance(action, Continue) and action.body is None and body.decoder is not None:
            action = dataclasses.replace(
                action, body=data
            )  # forwarded decoded: its encoding header was removed
        if event.direction is Direction.REQUEST and isinstance(action, Continue) and action.body is not None:
            length = HeaderChanges(set=(("content-length", str(len(action.body))),), remove=())
            action = dataclasses.replace(action, headers=action.headers.merged(length))
        return action

    async def _buffered_action(
        self, direction: Direction, body: BodyState, data: bytes, text: str | None
    ) -> Action:
        protocol = self._protocol
        if direction is Direction.REQUEST:
            if protocol is not None:
                return await protocol.request_body(
                    self._headers, data, text, asked=self._asked_for_request_body, declared_as=self._declared
                )
            assert text is not None
            parsed = parse_body(self._headers.get("content-type"), data)
            document = with_request_body(self.request_document, text, parsed)
            return await self._policy_body(PHASE_REQUEST_BODY, document, request_changes)
        assert text is not None
        if body.by_protocol and protocol is not None:
            return await protocol.response_whole(data)
        parsed = parse_body(self.response["headers"].get("content-type"), data)
        response = {**self.response, "body": text, "parsed_body": parsed}
        document = phase_document(self.request_document, PHASE_RESPONSE_BODY, response=response)
        return await self._policy_body(PHASE_RESPONSE_BODY, document, response_changes)

    async def _policy_body(self, phase: str, document: dict[str, Any], changes_of: Any) -> Action:
        outcome = await self.decide(phase, document)
        if not outcome.decision.allowed:
            return self.reject(phase, outcome)
        return Continue(headers=changes_of(outcome.decision), body=outcome.decision.replace_body)

    async def _on_streamed_chunk(self, event: BodyEvent, body: BodyState) -> Action:
        index = body.chunks.index
        carried = body.chunks.carrying
        data = body.decode(event.data, end=event.end_of_stream)
        text = body.chunks.feed(data, final=event.end_of_stream)
        phase = PHASE_REQUEST_BODY if event.direction is Direction.REQUEST else PHASE_RESPONSE_BODY
        chunk = {"index": index, "text": text, "end_of_stream": event.end_of_stream}
        extra: dict[str, Any] = {"chunk": chunk}
        if event.direction is Direction.RESPONSE:
            extra["response"] = self.response
        outcome = await self.decide(phase, phase_document(self.request_document, phase, **extra), quiet=True)
        if not outcome.decision.allowed:
            return self.reject(phase, outcome)
        replacement = outcome.decision.replace_body
        if replacement is not None:
            body.replaced += 1
        elif carried or body.chunks.carrying or body.decoder is not None:
            # Send whole characters only, so that a later rewritten chunk never follows half a
            # character; and a compressed body goes out decoded.
            replacement = text.encode("utf-8")
        return Continue(body=replacement)

    async def _on_trailers(self, event: TrailersEvent) -> Action:
        body = self._bodies.get(event.direction)
        if body is None or body.mode is not BodyMode.STREAMED:
            return CONTINUE
        # The stream ended with trailers: a truncated compressed body or a dangling partial
        # character is an error. What a relay still holds cannot follow the trailers, and
        # ending without it would pass text that was never judged: the stream is cut.
        rest = body.decode(b"", end=True)
        if body.by_protocol and self._protocol is not None:
            if await self._protocol.response_chunk(rest, end=True):
                raise ChaperoneError(
                    ErrorCode.PROTOCOL_ERROR,
                    "the stream ended with trailers while text was held",
                    http_status=502,
                )
            return CONTINUE
        body.chunks.feed(rest, final=True)
        return CONTINUE

    # -- decisions (also the protocol flow's host interface) -----------------------------------

    async def decide(
        self,
        phase: str,
        document: dict[str, Any],
        *,
        quiet: bool = False,
        audit: dict[str, Any] | None = None,
    ) -> Outcome:
        """Evaluate; ``audit`` adds fields (the action, what was found) to this decision's event."""
        outcome = await self._evaluator.decide(document)
        self.metrics.outcome(phase, outcome)
        self._last_outcome = outcome
        self._audit_extra = audit or {}
        if quiet:
            self._chunk_evaluations += 1
            if outcome.decision.allowed and outcome.decision.replace_body is None and outcome.error is None:
                return outcome  # summarised at the end of the stream instead of one event per chunk
        if outcome.decision.allowed and outcome.decision.require_approval is None:
            # An allow on approval is written once the approval is settled (hold_for_approval).
            self.write_decision(phase, outcome, None)
        return outcome

    def write_decision(self, phase: str, outcome: Outcome, status: int | None) -> None:
        self._audit.decision(
            decision_id=self.decision_id,
            phase=phase,
            request=self.summary,
            outcome=outcome,
            status=status,
            **self._audit_fields(),
        )

    def deny_of(self, outcome: Outcome) -> DenyResponse:
        return deny_response(outcome, self.decision_id, self._settings.deny_status)

    def failure(self, error: ChaperoneError) -> Outcome:
        return self._evaluator.failure(error)

    async def hold_for_approval(
        self,
        phase: str,
        requirement: ApprovalRequirement,
        *,
        action: Any = None,
        request: InspectedRequest | None = None,
        outcome: Outcome | None = None,
    ) -> Reject | None:
        """The policy allowed this call on a person's approval (approval_hold.py)."""
        return await hold_for_approval(
            self, phase, requirement, action=action, request=request, outcome=outcome
        )

    def note_audit(self, fields: dict[str, Any]) -> None:
        """Fields for the audit event of the decision being made."""
        self._audit_extra = {**self._audit_extra, **fields}

    def reject(self, phase: str, outcome: Outcome, deny: DenyResponse | None = None) -> Reject:
        self.rejected = True
        deny = deny or self.deny_of(outcome)
        if outcome is not self._last_outcome:  # a refusal no evaluation made (bad input, blocked data)
            self.metrics.outcome(phase, outcome)
        self.write_decision(phase, outcome, deny.status)
        self._audit_extra = {}
        code = outcome.error.code.value if outcome.error else "denied"
        return Reject(status=deny.status, headers=deny.headers, body=deny.body, details=f"chaperone_{code}")

    def _audit_fields(self) -> dict[str, Any]:
        """The decision's own audit fields, after those of every decision of this stream: its
        upstream, and the time spent on the phase so far."""
        observed = {
            "agent": self.agent_id,
            "upstream": self.upstream,
            "phase_ms": (time.perf_counter() - self._phase_started) * 1000,
        }
        return {**observed, **self._audit_extra}

    @property
    def upstream(self) -> str | None:
        extensions = self.request_document.get("attributes", {}).get("contextExtensions") or {}
        upstream = extensions.get("upstream")
        return upstream if isinstance(upstream, str) else None

    @property
    def max_body_bytes(self) -> int:
        return self._settings.max_body_bytes


def _text_or_none(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None  # the protocol flow says what a body that is not UTF-8 is


def _too_large(limit: int, status: int = 413) -> ChaperoneError:
    return ChaperoneError(
        ErrorCode.BODY_TOO_LARGE,
        f"the body exceeds the inspection limit of {limit} bytes",
        http_status=status,
    )


def _out_of_order() -> ChaperoneError:
    message = "an ext_proc message before the request headers"
    return ChaperoneError(ErrorCode.PROTOCOL_ERROR, message, http_status=500)


def _phase_of(event: Event) -> str:
    if isinstance(event, HeadersEvent):
        return PHASE_REQUEST_HEADERS if event.direction is Direction.REQUEST else PHASE_RESPONSE_HEADERS
    if isinstance(event, BodyEvent):
        return PHASE_REQUEST_BODY if event.direction is Direction.REQUEST else PHASE_RESPONSE_BODY
    return f"{event.direction.value}_trailers"
