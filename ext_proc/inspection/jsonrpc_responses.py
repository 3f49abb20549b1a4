"""MCP and A2A responses, message by message, as JSON bodies or SSE streams.

Every string that comes back to the agent is scanned for sensitive data and for prompt
injection, object keys included: tool results, resource contents, prompt messages, tool
descriptions and schemas (property names, defaults, enums, ``outputSchema``), ``_meta``, error
objects, task artifacts and data parts, and fields no version of the protocol names. It is
content from outside that will reach a model. The protocol layer (``mcp_results``,
``a2a_results``) checks each message's shape and adds meaning: which request a result answers.

Each response to a request this stream carried is judged by the policy (phase
``response_body``) with the request's action, the findings and the injection signals: a deny
replaces the message with a JSON-RPC error carrying the same id; an allow may strip hidden
content and redacts per the sensitive-data table. A ``tools/list`` result is filtered by
evaluating, for each tool, the same rule that gates ``tools/call``. A request or notification
the server sends the client (sampling, elicitation, roots, logging, progress) is judged too, at
phase ``server_request`` or ``server_notification`` with its own action: a deny drops it.

An event stream is parsed strictly (``SseParser(strict=True)``): what cannot be read ends it
with a JSON-RPC error event for each request it was answering.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ext_proc.errors import ChaperoneError
from ext_proc.inspection.guard import apply, findings_input, injection_input
from ext_proc.inspection.judgement import Judge, Judgement
from ext_proc.inspection.leaf_scan import LeafScanner
from ext_proc.inspection.leaves import rewrite
from ext_proc.inspection.request import MCP, TOOL_RESULT, InspectedRequest
from ext_proc.inspection.sse_sides import Sides
from ext_proc.protocols import a2a, a2a_results, jsonrpc, mcp, mcp_results
from ext_proc.protocols.sse import SseParser, make_event, with_data
from ext_proc.scanning.actions import ActionTable
from ext_proc.scanning.scanner import Scanner

PHASE_RESPONSE_BODY = "response_body"
PHASE_SERVER_REQUEST = "server_request"
PHASE_SERVER_NOTIFICATION = "server_notification"
_DROPPED = object()  # a server message the policy refused: not forwarded


@dataclass(slots=True)
class ResponseStats:
    messages: int = 0
    denied: int = 0
    tools_hidden: int = 0
    findings: Counter[str] = field(default_factory=Counter)
    redacted: Counter[str] = field(default_factory=Counter)


class JsonRpcResponses:
    def __init__(
        self,
        request: InspectedRequest,
        judge: Judge,
        *,
        table: ActionTable | None = None,
        scanner: Scanner | None = None,
    ) -> None:
        self._request = request
        self._judge = judge
        self._pending = mcp.PendingCalls()
        if request.mcp_body is not None:
            self._pending.add(request.mcp_body)
        self._parser = SseParser(strict=True)
        self._leaves = LeafScanner(TOOL_RESULT, scanner=scanner)
        self.stats = ResponseStats()
        self._sides = Sides(
            table or ActionTable(),
            scanner=scanner,
            findings=self.stats.findings,
            redacted=self.stats.redacted,
        )
        self.stopped = False

    async def json_body(self, data: bytes) -> bytes | None:
        """A complete JSON body: the new body, or None when nothing changed."""
        body = jsonrpc.loads(data)
        messages = [await self._message(message) for message in body.messages]
        if all(new is None for new in messages):
            return None
        raws = [old.raw if new is None else new for new, old in zip(messages, body.messages, strict=True)]
        kept = [raw for raw in raws if raw is not _DROPPED]
        if not kept:
            return b""
        return jsonrpc.dumps(kept if body.batch else kept[0])

    async def feed(self, chunk: bytes) -> bytes:
        """A chunk of an SSE stream whose events each carry one message (or a batch)."""
        if self.stopped:
            return b""
        out = bytearray()
        try:
            for parsed in self._parser.feed(chunk):
                event = self._sides.event(parsed)
                if self._sides.stopped_by is not None:
                    return bytes(out + self._stop(f"the stream contained {self._sides.stopped_by}"))
                out += await self._event(event)
            idle = self._sides.idle(self._parser.take_idle())
        except ChaperoneError as exc:
            # What cannot be read is not passed on unread: the stream ends with an error.
            return bytes(out + self._stop(f"the upstream stream could not be inspected: {exc.message}"))
        if self._sides.stopped_by is not None:
            return bytes(out + self._stop(f"the stream contained {self._sides.stopped_by}"))
        return bytes(out + idle)

    async def _event(self, event: Any) -> bytes:
        body = mcp_results.parse_event_data(event.data)
        if body is None:
            return bytes(event.raw)
        messages = [await self._message(message) for message in body.messages]
        if all(new is None for new in messages):
            return bytes(event.raw)
        raws = [old.raw if new is None else new for new, old in zip(messages, body.messages, strict=True)]
        kept = [raw for raw in raws if raw is not _DROPPED]
        if not kept:
            return b""
        return with_data(event, jsonrpc.dumps(kept if body.batch else kept[0]).decode()).raw

    def finish(self) -> bytes:
        self._parser.close()  # an unfinished event is not dispatched by clients: nothing to send
        return b""

    def error_event(self, code: str, message: str) -> bytes:
        """End the stream with an error for each request it answers (the SDKs raise it)."""
        return self._stop(message, code)

    def _stop(self, message: str, code: str = "protocol_error") -> bytes:
        if self.stopped:
            return b""
        self.stopped = True
        ids = [call.id for call in self._open_requests()] or [None]
        errors = [jsonrpc.error_response(i, jsonrpc.INTERNAL_ERROR, message, {"code": code}) for i in ids]
        return b"".join(make_event(jsonrpc.dumps(error).decode()).raw for error in errors)

    def _open_requests(self) -> list[Any]:
        if self._request.mcp_body is not None:
            return list(self._request.mcp_body.requests)
        if self._request.a2a_body is not None:
            return [call for call in self._request.a2a_body.calls if call.kind is a2a.Kind.REQUEST]
        return []

    # -- one message --------------------------------------------------------------------------

    async def _message(self, message: jsonrpc.Message) -> Any:
        """The message to forward: None when unchanged, a new message, or ``_DROPPED``."""
        self.stats.messages += 1
        raw = message.raw
        action: Any
        if self._request.protocol == MCP:
            call = self._pending.match(message)
            method = call.method if call is not None else None
            if (
                isinstance(message, jsonrpc.Response)
                and (method or mcp_results.infer_method(message.result)) == mcp.TOOLS_LIST
            ):
                raw = await self._filtered_tools(raw)
            mcp_results.texts(raw, method)  # the shape the protocol allows, or jsonrpc_invalid
            action = mcp.action(call, self._session_id()) if call is not None else None
        else:
            a2a_results.texts(raw)
            action = self._request.action
        if isinstance(message, jsonrpc.Request | jsonrpc.Notification):
            return await self._from_server(message, raw)
        is_error = isinstance(message, jsonrpc.ErrorResponse) or mcp_results.is_error(raw)
        return await self._judged(message, raw, action, is_error, PHASE_RESPONSE_BODY)

    async def _from_server(self, message: jsonrpc.Request | jsonrpc.Notification, raw: dict[str, Any]) -> Any:
        """A request or notification from the server (sampling, elicitation, roots, logging...):
        judged with its own action; a deny drops it (the client never sees it)."""
        request = isinstance(message, jsonrpc.Request)
        phase = PHASE_SERVER_REQUEST if request else PHASE_SERVER_NOTIFICATION
        action = mcp.action(mcp.parse_call(message), self._session_id())
        action["protocol"] = self._request.protocol
        return await self._judged(message, raw, action, False, phase)

    async def _judged(
        self, message: jsonrpc.Message, raw: dict[str, Any], action: Any, is_error: bool, phase: str
    ) -> Any:
        scans = self._leaves.scan(raw)
        findings, injection = findings_input(scans), injection_input(scans)
        judgement = await self._judge.judge(action, findings, injection, is_error, phase=phase)
        self.stats.findings.update(findings["types"])
        if not judgement.allowed:
            self.stats.denied += 1
            return self._refused(message, judgement.message, judgement)
        applied = apply(scans, judgement.table, strip=judgement.strip)
        self.stats.redacted.update(applied.redacted)
        if applied.blocked_by is not None:
            self.stats.denied += 1
            return self._refused(message, f"the response contained {applied.blocked_by}", judgement)
        if not applied.replacements:
            return raw if raw is not message.raw else None
        return rewrite(raw, [(text.path, new) for text, new in applied.replacements])

    @staticmethod
    def _refused(message: jsonrpc.Message, reason: str, judgement: Judgement) -> Any:
        if isinstance(message, jsonrpc.Response | jsonrpc.ErrorResponse):
            return jsonrpc.error_response(message.id, jsonrpc.POLICY_DENIED, reason, judgement.data)
        return _DROPPED

    async def _filtered_tools(self, raw: dict[str, Any]) -> dict[str, Any]:
        allowed = {
            tool["name"] for tool in mcp_results.tools(raw) if await self._judge.listed_tool_allowed(tool)
        }
        filtered = mcp_results.filter_tools_list(raw, lambda tool: tool["name"] in allowed)
        self.stats.tools_hidden += len(mcp_results.tools(raw)) - len(allowed)
        return filtered

    def _session_id(self) -> str | None:
        action = self._request.action
        if isinstance(action, dict):
            session = action.get("session_id")
            return session if isinstance(session, str) else None
        return None
