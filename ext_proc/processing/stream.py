"""The per-stream state machine of ext_proc: one object per HTTP request, no I/O.

Envoy opens one ext_proc stream per HTTP request and sends the phases it was told to send:
request headers always (the filter's static mode), then whatever the decision at the request
headers asked for through a mode override (DESIGN §4: overrides are only honoured in a headers
response). The policy is evaluated at each phase it asked to see; the answer is a Continue
(possibly with header and body changes) or a Reject (an immediate response).

When the ext_authz filter ran first, its decision reaches us in dynamic metadata (decision id
and the phases to inspect) and the request-headers phase is not evaluated again: one policy
evaluation per request on the common path.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ext_proc.audit import AuditLog, RequestSummary
from ext_proc.config import DEFAULT_DENY_STATUS, DEFAULT_MAX_BODY_BYTES
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.policy.decision import NO_INSPECTION, BodyMode, Decision, Inspection
from ext_proc.policy.evaluator import Evaluator, Outcome, deny_response, new_decision_id
from ext_proc.policy_input.extproc import phase_document, request_document, with_request_body
from ext_proc.policy_input.http import decode_utf8, parse_body
from ext_proc.processing.chunks import Utf8Chunks
from ext_proc.processing.codecs import Decoder, decoder_for
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
)

PHASE_REQUEST_HEADERS = "request_headers"
PHASE_REQUEST_BODY = "request_body"
PHASE_RESPONSE_HEADERS = "response_headers"
PHASE_RESPONSE_BODY = "response_body"

NO_OVERRIDE = ProcessingMode()


@dataclass(frozen=True, slots=True)
class StreamSettings:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    deny_status: int = DEFAULT_DENY_STATUS


@dataclass(slots=True)
class _Body:
    """What one direction's body inspection has seen so far."""

    mode: BodyMode
    decoder: Decoder | None = None  # set when the body arrives compressed
    chunks: Utf8Chunks = dataclasses.field(default_factory=Utf8Chunks)
    replaced: int = 0

    def decode(self, data: bytes, *, end: bool) -> bytes:
        if self.decoder is None:
            return data
        return self.decoder.decode(data) + (self.decoder.finish() if end else b"")


class StreamProcessor:
    def __init__(self, evaluator: Evaluator, audit: AuditLog, settings: StreamSettings) -> None:
        self._evaluator = evaluator
        self._audit = audit
        self._settings = settings
        self.decision_id = new_decision_id()
        self._summary = RequestSummary("", "", "")
        self._request_doc: dict[str, Any] = {}
        self._inspect = NO_INSPECTION
        self._pending_response_changes = NO_HEADER_CHANGES
        self._response: dict[str, Any] = {}
        self._bodies: dict[Direction, _Body] = {}
        self._chunk_evaluations = 0
        self.rejected = False

    # -- entry points ---------------------------------------------------------------------

    async def handle(self, event: Event) -> Action:
        try:
            if isinstance(event, HeadersEvent):
                if event.direction is Direction.REQUEST:
                    return await self._on_request_headers(event)
                return await self._on_response_headers(event)
            if isinstance(event, BodyEvent):
                return await self._on_body(event)
            return self._on_trailers(event)
        except ChaperoneError as exc:
            return self._reject(_phase_of(event), self._evaluator.failure(exc))

    def close(self) -> None:
        """End of the ext_proc stream: summarise the chunk decisions that were not logged one by one."""
        if self._chunk_evaluations:
            self._audit.event(
                "stream_summary",
                decision_id=self.decision_id,
                path=self._summary.path,
                chunk_decisions=self._chunk_evaluations,
                chunks_replaced={d.value: b.replaced for d, b in self._bodies.items()},
                body_bytes={d.value: b.chunks.total_bytes for d, b in self._bodies.items()},
            )

    # -- headers --------------------------------------------------------------------------

    async def _on_request_headers(self, event: HeadersEvent) -> Action:
        headers = event.headers
        self._summary = RequestSummary.of(
            headers.get(":method", ""), headers.get(":path", ""), headers.get(":authority", "")
        )
        self._request_doc = request_document(headers, event.attributes)
        if event.check is not None:
            # ext_authz already decided on these headers; take its verdict instead of re-evaluating.
            self.decision_id = event.check.decision_id
            if event.check.context_extensions:
                self._request_doc["attributes"]["contextExtensions"] = event.check.context_extensions
            return self._continue_request(event, NO_HEADER_CHANGES, event.check.inspect)
        outcome = await self._decide(
            PHASE_REQUEST_HEADERS, phase_document(self._request_doc, PHASE_REQUEST_HEADERS)
        )
        if not outcome.decision.allowed:
            return self._reject(PHASE_REQUEST_HEADERS, outcome)
        decision = outcome.decision
        self._pending_response_changes = _response_changes(decision)
        return self._continue_request(event, _request_changes(decision), decision.inspect)

    def _continue_request(self, event: HeadersEvent, changes: HeaderChanges, inspect: Inspection) -> Action:
        self._inspect = inspect
        has_body = not event.end_of_stream
        if inspect.request_body is not BodyMode.NONE and has_body:
            if inspect.request_body is BodyMode.BUFFERED:
                self._check_declared_length(event.headers)
            body = self._new_body(inspect.request_body, event.headers, unsupported_status=415)
            self._bodies[Direction.REQUEST] = body
            if body.decoder is not None:
                changes = changes.merged(HeaderChanges(remove=("content-encoding",)))
            # The body may be rewritten, so its length is unknown until the body phase; Envoy
            # refuses a body mutation that disagrees with content-length (and ignores a
            # content-length mutation), so the upstream gets a chunked body instead.
            changes = changes.merged(HeaderChanges(remove=("content-length",)))
        if inspect.response_body is not BodyMode.NONE:
            # The response body will be read as text: ask the upstream not to compress it.
            changes = changes.merged(HeaderChanges(set=(("accept-encoding", "identity"),)))
        mode = ProcessingMode(
            response_headers=bool(inspect.response_headers or inspect.response_body is not BodyMode.NONE)
            or bool(self._pending_response_changes),
            request_body=inspect.request_body if has_body else BodyMode.NONE,
            response_body=inspect.response_body,
            request_trailers=has_body and inspect.request_body is BodyMode.STREAMED,
            response_trailers=inspect.response_body is BodyMode.STREAMED,
        )
        return Continue(headers=changes, mode=None if mode == NO_OVERRIDE else mode)

    def _new_body(self, mode: BodyMode, headers: dict[str, str], *, unsupported_status: int) -> _Body:
        """Body state; a compressed body is decoded for inspection and forwarded decoded."""
        try:
            decoder = decoder_for(headers.get("content-encoding"), max_output=self._settings.max_body_bytes)
        except ChaperoneError as exc:
            exc.http_status = unsupported_status
            raise
        return _Body(mode, decoder)

    def _check_declared_length(self, headers: dict[str, str]) -> None:
        # Refuse at the headers what cannot be buffered: a body over Envoy's buffer limit that
        # arrives while the headers are being decided would otherwise stall the request.
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._settings.max_body_bytes:
            raise _too_large(self._settings.max_body_bytes)

    async def _on_response_headers(self, event: HeadersEvent) -> Action:
        status = event.headers.get(":status", "")
        self._response = {"status": int(status) if status.isdigit() else 0, "headers": event.headers}
        changes = self._pending_response_changes
        inspect = self._inspect
        if inspect.response_headers:
            outcome = await self._decide(
                PHASE_RESPONSE_HEADERS,
                phase_document(self._request_doc, PHASE_RESPONSE_HEADERS, response=self._response),
            )
            if not outcome.decision.allowed:
                return self._reject(PHASE_RESPONSE_HEADERS, outcome)
            changes = changes.merged(_response_changes(outcome.decision))
            if outcome.decision.inspect.response_body is not BodyMode.NONE:
                inspect = dataclasses.replace(inspect, response_body=outcome.decision.inspect.response_body)
        self._inspect = inspect
        if inspect.response_body is BodyMode.NONE or event.end_of_stream:
            return Continue(headers=changes)
        body = self._new_body(inspect.response_body, event.headers, unsupported_status=502)
        self._bodies[Direction.RESPONSE] = body
        streamed = inspect.response_body is BodyMode.STREAMED
        if streamed or body.decoder is not None:
            changes = changes.merged(HeaderChanges(remove=("content-length",)))
        if body.decoder is not None:
            changes = changes.merged(HeaderChanges(remove=("content-encoding",)))
        mode = ProcessingMode(
            response_headers=True, response_body=inspect.response_body, response_trailers=streamed
        )
        return Continue(headers=changes, mode=mode)

    # -- bodies ---------------------------------------------------------------------------

    async def _on_body(self, event: BodyEvent) -> Action:
        body = self._bodies.get(event.direction)
        if body is None:
            return CONTINUE  # a phase the policy did not ask for (static filter config): untouched
        if body.mode is BodyMode.BUFFERED:
            return await self._on_buffered_body(event)
        return await self._on_streamed_chunk(event, body)

    async def _on_buffered_body(self, event: BodyEvent) -> Action:
        # Buffered inspection runs in Envoy's BUFFERED_PARTIAL mode: a body over Envoy's buffer
        # limit arrives cut short (no end of stream) instead of stalling the request.
        if len(event.data) > self._settings.max_body_bytes or not event.end_of_stream:
            raise _too_large(self._settings.max_body_bytes)
        body = self._bodies[event.direction]
        data = body.decode(event.data, end=True)
        text = decode_utf8(data)
        if event.direction is Direction.REQUEST:
            phase = PHASE_REQUEST_BODY
            parsed = parse_body(
                self._request_doc["attributes"]["request"]["http"]["headers"].get("content-type"), data
            )
            document = with_request_body(self._request_doc, text, parsed)
        else:
            phase = PHASE_RESPONSE_BODY
            parsed = parse_body(self._response["headers"].get("content-type"), data)
            response = {**self._response, "body": text, "parsed_body": parsed}
            document = phase_document(self._request_doc, phase, response=response)
        outcome = await self._decide(phase, document)
        if not outcome.decision.allowed:
            return self._reject(phase, outcome)
        decision = outcome.decision
        changes = (
            _request_changes(decision)
            if event.direction is Direction.REQUEST
            else _response_changes(decision)
        )
        replacement = decision.replace_body
        if replacement is None and body.decoder is not None:
            replacement = data  # forwarded decoded: its content-encoding header was removed
        return Continue(headers=changes, body=replacement)

    async def _on_streamed_chunk(self, event: BodyEvent, body: _Body) -> Action:
        index = body.chunks.index
        carried = body.chunks.carrying
        data = body.decode(event.data, end=event.end_of_stream)
        text = body.chunks.feed(data, final=event.end_of_stream)
        phase = PHASE_REQUEST_BODY if event.direction is Direction.REQUEST else PHASE_RESPONSE_BODY
        chunk = {"index": index, "text": text, "end_of_stream": event.end_of_stream}
        extra: dict[str, Any] = {"chunk": chunk}
        if event.direction is Direction.RESPONSE:
            extra["response"] = self._response
        outcome = await self._decide(phase, phase_document(self._request_doc, phase, **extra), quiet=True)
        if not outcome.decision.allowed:
            return self._reject(phase, outcome)
        replacement = outcome.decision.replace_body
        if replacement is not None:
            body.replaced += 1
        elif carried or body.chunks.carrying or body.decoder is not None:
            # Send whole characters only, so that a later rewritten chunk never follows half a
            # character; and a compressed body goes out decoded.
            replacement = text.encode("utf-8")
        return Continue(body=replacement)

    def _on_trailers(self, event: TrailersEvent) -> Action:
        body = self._bodies.get(event.direction)
        if body is not None and body.mode is BodyMode.STREAMED:
            # The stream ended: a truncated compressed body or a dangling partial character is an error.
            body.chunks.feed(body.decode(b"", end=True), final=True)
        return CONTINUE

    # -- decisions ------------------------------------------------------------------------

    async def _decide(self, phase: str, document: dict[str, Any], *, quiet: bool = False) -> Outcome:
        outcome = await self._evaluator.decide(document)
        if quiet:
            self._chunk_evaluations += 1
            if outcome.decision.allowed and outcome.decision.replace_body is None and outcome.error is None:
                return outcome  # summarised at the end of the stream instead of one event per chunk
        if outcome.decision.allowed:
            self._audit.decision(
                decision_id=self.decision_id, phase=phase, request=self._summary, outcome=outcome, status=None
            )
        return outcome

    def _reject(self, phase: str, outcome: Outcome) -> Reject:
        self.rejected = True
        deny = deny_response(outcome, self.decision_id, self._settings.deny_status)
        self._audit.decision(
            decision_id=self.decision_id,
            phase=phase,
            request=self._summary,
            outcome=outcome,
            status=deny.status,
        )
        code = outcome.error.code.value if outcome.error else "denied"
        return Reject(status=deny.status, headers=deny.headers, body=deny.body, details=f"chaperone_{code}")


def _request_changes(decision: Decision) -> HeaderChanges:
    return HeaderChanges(decision.headers, decision.request_headers_to_remove)


def _response_changes(decision: Decision) -> HeaderChanges:
    return HeaderChanges(decision.response_headers_to_add, decision.response_headers_to_remove)


def _too_large(limit: int) -> ChaperoneError:
    return ChaperoneError(
        ErrorCode.BODY_TOO_LARGE, f"the body exceeds the inspection limit of {limit} bytes", http_status=413
    )


def _phase_of(event: Event) -> str:
    if isinstance(event, HeadersEvent):
        return PHASE_REQUEST_HEADERS if event.direction is Direction.REQUEST else PHASE_RESPONSE_HEADERS
    if isinstance(event, BodyEvent):
        return PHASE_REQUEST_BODY if event.direction is Direction.REQUEST else PHASE_RESPONSE_BODY
    return f"{event.direction.value}_trailers"
