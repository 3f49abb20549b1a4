"""The response side of agent traffic: what an AI upstream answers is inspected, or refused.

Whatever its status (a 4xx/5xx error body is a document of the same protocol) and whatever its
Content-Type (the upstream's word: missing, doubled, lying), the body is read as what the
protocol allows, decided from its bytes (``inspection.body_format``):

- JSON: every string in it scanned (``llm_json`` for LLM APIs, ``jsonrpc_responses`` for MCP
  and A2A), redacted per the policy's table; the policy judges what carries prompt injection;
- an event stream: relayed event by event (``llm_stream`` / ``jsonrpc_responses``), strictly
  parsed; a line that is not an SSE field or an event the protocol cannot read ends the stream
  with the protocol's error event;
- anything else: refused in the protocol's error shape, with 502 (bad gateway).

The body is read as it streams when it is labelled an event stream or a stream was asked for
(then JSON is held until it ends, and a refusal can only be an error event), and whole
otherwise (then a refusal replaces the response, and the Content-Type is set to what was read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.inspection.body_format import Format, label_of, labelled_stream, sniff, without_bom
from ext_proc.inspection.denial import protocol_denial
from ext_proc.inspection.guard import findings_input
from ext_proc.inspection.jsonrpc_responses import JsonRpcResponses
from ext_proc.inspection.judgement import Judgement
from ext_proc.inspection.llm_json import JsonOutcome, apply_llm_json, read_llm_json
from ext_proc.inspection.llm_stream import LlmStreamRelay, PendingEvent
from ext_proc.inspection.plain_responses import PlainResponses
from ext_proc.inspection.request import A2A, LLM, MCP, InspectedRequest
from ext_proc.policy.decision import BodyMode
from ext_proc.processing.events import Action, Continue, HeaderChanges, Reject
from ext_proc.protocols.sse import SseParser
from ext_proc.sessions import Fact

if TYPE_CHECKING:
    from ext_proc.processing.protocol_bodies import ProtocolBodies

PHASE_RESPONSE_BODY = "response_body"
_SHUTTING_DOWN = ChaperoneError(
    ErrorCode.SHUTTING_DOWN, "the gateway is shutting down: retry the request", http_status=503
)
BAD_GATEWAY = 502
# Whitespace before the first byte that tells the format: held, up to this much.
_MAX_LEADING_WHITESPACE = 64 * 1024
_A2A_STREAMS = frozenset({"message/stream", "tasks/resubscribe"})  # 0.3 names (1.0's map to them)


class ResponseBodies:
    """One response of recognized agent traffic."""

    def __init__(
        self, flow: ProtocolBodies, request: InspectedRequest, max_bytes: int, *, asked: bool = False
    ) -> None:
        self._flow = flow
        self._asked = asked  # the policy asked for the body: it decides on every LLM answer
        self._host = flow.host
        self._request = request
        self._max_bytes = max_bytes
        self.relay: LlmStreamRelay | JsonRpcResponses | PlainResponses | None = None
        self.status = 0
        self._format: Format | None = None
        self._held = bytearray()  # bytes not yet relayed: before the format is known, or JSON
        # What the agent sent, which an LLM API may repeat in its answer (not injection from it).
        self._echo = frozenset(text.text for text in request.texts)

    @property
    def _llm(self) -> bool:
        return self._request.protocol == LLM and self._request.provider is not None

    def mode(self, status: int, headers: Mapping[str, str]) -> BodyMode:
        self.status = status
        request = self._request
        if request.protocol in (MCP, A2A):
            self.relay = JsonRpcResponses(request, self._flow.judge_adapter(), table=self._flow.table())
        elif not self._llm:
            # A declared AI upstream's other endpoints (models, embeddings, agent cards): every
            # string read, without a protocol parser.
            self.relay = PlainResponses(
                request.declared or "",
                request.action,
                self._flow.judge_adapter(),
                self._flow.table(),
                is_error=status >= 400,
                judge_always=self._asked,
            )
        streamed = labelled_stream(headers.get("content-type")) or (
            200 <= status < 300 and _expects_stream(self._request)
        )
        return BodyMode.STREAMED if streamed else BodyMode.BUFFERED

    # -- a body read as it streams ------------------------------------------------------------------

    async def chunk(self, data: bytes, *, end: bool) -> bytes:
        if self._format is None:
            self._held += data
            self._format = sniff(bytes(self._held), end=end)
            if self._format is None:
                if len(self._held) > _MAX_LEADING_WHITESPACE:  # nothing but whitespace, endlessly
                    self._held.clear()
                    self._format = "sse"
                    return self._error_event(_too_large(_MAX_LEADING_WHITESPACE))
                return b""
            data = bytes(self._held)
            self._held.clear()
        if self._format == "sse":
            return await self._stream(data, end=end)
        if self._format == "empty":
            return data
        return await self._json_in_stream(data, end=end)

    async def _stream(self, data: bytes, *, end: bool) -> bytes:
        relay = self._sse_relay()
        if self._host.enforcement.drain.due():  # shutting down: end in the client's protocol
            self._flow.summary.setdefault("stopped", {"reason": ErrorCode.SHUTTING_DOWN.value, "type": None})
            return self._error_event(_SHUTTING_DOWN)
        if isinstance(relay, JsonRpcResponses | PlainResponses):
            return await relay.feed(data) + (relay.finish() if end else b"")
        out = await self._relay_llm(relay, data)
        if end:
            out += relay.finish()
        if relay.stopped is not None:
            self._flow.summary["stopped"] = {
                "reason": relay.stopped.reason,
                "type": relay.stopped.finding_type,
            }
        if end:
            if relay.stats.findings:
                await self._flow.mark(Fact.READ_SENSITIVE_DATA)
            if self._flow.limits is not None:
                await self._flow.limits.settle(relay.stats.usage, relay.stats.output_chars)
        return out

    async def _relay_llm(self, relay: LlmStreamRelay, data: bytes) -> bytes:
        """One chunk of a streamed answer; between events, a budget crossed or a kill switch
        engaged ends the stream there (before the provider's end-of-stream event), and an event
        carrying prompt injection is judged by the policy."""
        limits = self._flow.limits
        out = bytearray()
        for piece in relay.feed_events(data):
            if isinstance(piece, PendingEvent):
                out += piece.resolve(await self._judge_llm(piece.findings, piece.injection))
            else:
                out += piece
            if relay.stopped is None and limits is not None:
                refusal = await limits.while_streaming(relay.stats.output_chars)
                if refusal is not None:
                    out += relay.stop(refusal.error.code.value, refusal.error.message)
                    break
        return bytes(out)

    async def _json_in_stream(self, data: bytes, *, end: bool) -> bytes:
        """JSON where a stream was expected: held whole, then inspected; a refusal can only be an
        error event now (the headers have gone)."""
        self._held += data
        if len(self._held) > self._max_bytes:
            self._held.clear()
            return self._error_event(_too_large(self._max_bytes))
        if not end:
            return b""
        body = bytes(self._held)
        self._held.clear()
        try:
            action = await self._json(body)
        except ChaperoneError as exc:
            return self._error_event(exc)
        if isinstance(action, Reject):
            return self._error_event(ChaperoneError(ErrorCode.SENSITIVE_DATA_BLOCKED, _reason(action)))
        return action.body if action.body is not None else body

    def _error_event(self, error: ChaperoneError) -> bytes:
        relay = self._sse_relay()
        if isinstance(relay, LlmStreamRelay):
            return relay.stop(error.code.value, error.message)
        return relay.error_event(error.code.value, error.message)

    # -- a body read whole -----------------------------------------------------------------------

    async def whole(self, data: bytes) -> Action:
        fmt = sniff(data, end=True)
        try:
            if fmt == "empty":
                return Continue()
            action = await (self._json(data) if fmt == "json" else self._buffered_stream(data))
        except ChaperoneError as exc:
            return self._refuse(exc)
        if isinstance(action, Continue) and fmt is not None:
            action = _labelled(action, fmt, self._host.response.get("headers", {}))
        return action

    async def _buffered_stream(self, data: bytes) -> Action:
        # Read it all once first: what is not an event stream at all is refused with a status,
        # which a stream read as it comes can no longer do.
        parser = SseParser(strict=True)
        try:
            parser.feed(data + b"\n")  # a last line without its line end is checked too
        except ChaperoneError as exc:
            code = ErrorCode.LLM_RESPONSE_INVALID if self._llm else ErrorCode.JSONRPC_INVALID
            raise ChaperoneError(
                code, f"the response is neither JSON nor an event stream ({exc.message})", http_status=502
            ) from None
        parser.close()
        out = await self._stream(data, end=True)
        return Continue(body=out)

    async def _json(self, data: bytes) -> Action:
        data = without_bom(data)
        if isinstance(self.relay, JsonRpcResponses):
            return Continue(body=await self.relay.json_body(data))
        if isinstance(self.relay, PlainResponses):
            outcome = await self.relay.json_body(data)
            if outcome.refused is not None:
                return self._deny(outcome.refused)
            return Continue(body=outcome.body)
        return await self._llm_json(data)

    async def _llm_json(self, data: bytes) -> Action:
        provider = self._request.provider
        assert provider is not None
        read = read_llm_json(provider, data, echo=self._echo)
        injection = read.injection
        judgement = self._by_table()
        if injection["signals"] or self._asked:
            judgement = await self._judge_llm(findings_input(read.scans), injection, in_place=False)
            if not judgement.allowed:
                return self._deny(judgement)
        outcome = apply_llm_json(read, judgement.table, strip=judgement.strip)
        await self._settle_json(outcome)
        if outcome.blocked_by is not None:
            return self._flow.block_response(f"the response contained {outcome.blocked_by}")
        return Continue(body=outcome.body)

    async def _settle_json(self, outcome: JsonOutcome) -> None:
        summary = self._flow.summary
        summary["response_findings"] = dict(outcome.findings)
        summary["response_redactions"] = dict(outcome.redacted)
        if outcome.findings:
            await self._flow.mark(Fact.READ_SENSITIVE_DATA)
        if self._flow.limits is not None:
            await self._flow.limits.settle(outcome.usage, 0)
        if outcome.usage is not None:
            summary["usage"] = {
                "input_tokens": outcome.usage.input_tokens,
                "output_tokens": outcome.usage.output_tokens,
            }

    # -- judging and refusing -----------------------------------------------------------------

    async def _judge_llm(
        self, findings: dict[str, Any], injection: dict[str, Any], *, in_place: bool = True
    ) -> Judgement:
        if injection["signals"]:
            await self._flow.mark(Fact.RECEIVED_INJECTION)
        return await self._flow.judge(
            self._request.action, findings, injection, self.status >= 400, in_place=in_place
        )

    def _by_table(self) -> Judgement:
        return Judgement(allowed=True, table=self._flow.table(), strip=False)

    def _deny(self, judgement: Judgement) -> Reject:
        """The policy refused the whole answer: its status and reasons, in the protocol's shape."""
        host = self._host
        outcome = judgement.outcome
        if outcome is None:  # refused for what it holds, not by a decision
            return self._flow.block_response(judgement.message)
        deny = protocol_denial(self._request, host.deny_of(outcome), judgement.message, judgement.data)
        return host.reject(PHASE_RESPONSE_BODY, outcome, deny)

    def _refuse(self, error: ChaperoneError) -> Reject:
        """A body that is not what the protocol allows: 502, in the protocol's error shape."""
        error.http_status = BAD_GATEWAY
        host = self._host
        outcome = host.failure(error)
        message = f"the upstream's response could not be inspected: {error.message}"
        data = {"decision_id": host.decision_id, "code": error.code.value}
        deny = protocol_denial(self._request, host.deny_of(outcome), message, data)
        deny = type(deny)(BAD_GATEWAY, deny.headers, deny.body, deny.policy_body)
        return host.reject(PHASE_RESPONSE_BODY, outcome, deny)

    def _sse_relay(self) -> LlmStreamRelay | JsonRpcResponses | PlainResponses:
        if self.relay is None:
            provider = self._request.provider
            assert provider is not None
            self.relay = LlmStreamRelay(provider, self._flow.table(), judged=True, echo=self._echo)
        return self.relay

    # -- the stream's summary -------------------------------------------------------------------

    def summarize(self, summary: dict[str, Any]) -> None:
        relay = self.relay
        if isinstance(relay, LlmStreamRelay):
            llm = relay.stats
            summary["response_findings"] = dict(llm.findings)
            summary["response_redactions"] = dict(llm.redacted)
            if llm.usage is not None:
                summary["usage"] = {
                    "input_tokens": llm.usage.input_tokens,
                    "output_tokens": llm.usage.output_tokens,
                }
        elif isinstance(relay, PlainResponses):
            summary.update(
                response_denied=relay.stats.denied,
                response_findings=dict(relay.stats.findings),
                response_redactions=dict(relay.stats.redacted),
            )
        elif isinstance(relay, JsonRpcResponses):
            rpc = relay.stats
            summary.update(
                response_messages=rpc.messages,
                response_denied=rpc.denied,
                tools_hidden=rpc.tools_hidden,
                response_findings=rpc.findings,
                response_redactions=rpc.redacted,
            )


def _expects_stream(request: InspectedRequest) -> bool:
    """The request asked for an event stream: it is read as it streams, whatever its label."""
    if request.llm is not None:
        return request.llm.stream
    if request.protocol == MCP:
        return request.mcp_body is None  # a GET stream
    body = request.a2a_body
    return body is not None and any(call.method in _A2A_STREAMS for call in body.calls)


def _labelled(action: Continue, fmt: Format, headers: Mapping[str, str]) -> Continue:
    """The client is told what was read: the label of the format, not the upstream's."""
    label = label_of(fmt)
    current = headers.get("content-type", "")
    if label is None or current.split(";", 1)[0].strip().lower() == label:
        return action
    changes = action.headers.merged(HeaderChanges(set=(("content-type", label),)))
    return Continue(
        headers=changes, body=action.body, mode=action.mode, dynamic_metadata=action.dynamic_metadata
    )


def _reason(reject: Reject) -> str:
    return (
        "the response was refused by policy" if reject.status != BAD_GATEWAY else "the response was refused"
    )


def _too_large(limit: int) -> ChaperoneError:
    return ChaperoneError(
        ErrorCode.BODY_TOO_LARGE, f"the body exceeds the inspection limit of {limit} bytes", http_status=502
    )
