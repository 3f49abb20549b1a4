"""MCP and A2A responses, message by message, as JSON bodies or SSE streams.

Every text that comes back to the agent (tool results, resource contents, prompt messages,
tool descriptions, task artifacts) is scanned for sensitive data and for prompt injection: it is
content from outside that will reach a model. Each response to a request this stream carried is
judged by the policy (phase ``response_body``) with the request's action, the findings and the
injection signals: a deny replaces the message with a JSON-RPC error carrying the same id; an
allow may strip hidden content and redacts per the sensitive-data table. A ``tools/list`` result
is filtered by evaluating, for each tool, the same rule that gates ``tools/call``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ext_proc.inspection.guard import apply, findings_input, injection_input, scan
from ext_proc.inspection.request import MCP, TOOL_RESULT, InspectedRequest, ScanText
from ext_proc.protocols import a2a_results, jsonrpc, mcp, mcp_results
from ext_proc.protocols.llm import replace_at
from ext_proc.protocols.locations import TextAt
from ext_proc.protocols.sse import SseParser, with_data
from ext_proc.scanning.actions import ActionTable
from ext_proc.scanning.scanner import Scanner


@dataclass(frozen=True, slots=True)
class Judgement:
    allowed: bool
    table: ActionTable
    strip: bool
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class Judge(Protocol):
    async def listed_tool_allowed(self, tool: dict[str, Any]) -> bool: ...

    async def judge(
        self, action: Any, findings: dict[str, Any], injection: dict[str, Any], is_error: bool
    ) -> Judgement: ...


@dataclass(slots=True)
class ResponseStats:
    messages: int = 0
    denied: int = 0
    tools_hidden: int = 0
    findings: dict[str, int] = field(default_factory=dict)
    redacted: dict[str, int] = field(default_factory=dict)


class JsonRpcResponses:
    def __init__(self, request: InspectedRequest, judge: Judge, *, scanner: Scanner | None = None) -> None:
        self._request = request
        self._judge = judge
        self._scanner = scanner
        self._pending = mcp.PendingCalls()
        if request.mcp_body is not None:
            self._pending.add(request.mcp_body)
        self._parser = SseParser()
        self.stats = ResponseStats()

    async def json_body(self, data: bytes) -> bytes | None:
        """A complete JSON body: the new body, or None when nothing changed."""
        body = jsonrpc.loads(data)
        messages = [await self._message(message) for message in body.messages]
        if all(new is None for new in messages):
            return None
        raws = [new if new is not None else old.raw for new, old in zip(messages, body.messages, strict=True)]
        return jsonrpc.dumps(raws if body.batch else raws[0])

    async def feed(self, chunk: bytes) -> bytes:
        """A chunk of an SSE stream whose events each carry one message (or a batch)."""
        out = bytearray()
        for event in self._parser.feed(chunk):
            body = mcp_results.parse_event_data(event.data)
            if body is None:
                out += event.raw
                continue
            messages = [await self._message(message) for message in body.messages]
            if all(new is None for new in messages):
                out += event.raw
                continue
            raws = [
                new if new is not None else old.raw for new, old in zip(messages, body.messages, strict=True)
            ]
            out += with_data(event, jsonrpc.dumps(raws if body.batch else raws[0]).decode()).raw
        out += self._parser.take_idle()
        return bytes(out)

    def finish(self) -> bytes:
        self._parser.close()  # an unfinished event is not dispatched by clients: nothing to send
        return b""

    # -- one message --------------------------------------------------------------------------

    async def _message(self, message: jsonrpc.Message) -> dict[str, Any] | None:
        self.stats.messages += 1
        raw = message.raw
        if self._request.protocol == MCP:
            call = self._pending.match(message)
            method = call.method if call is not None else None
            if (
                isinstance(message, jsonrpc.Response)
                and (method or mcp_results.infer_method(message.result)) == mcp.TOOLS_LIST
            ):
                raw = await self._filtered_tools(raw)
            texts: Sequence[TextAt] = mcp_results.texts(raw, method)
            action = mcp.action(call, self._session_id()) if call is not None else None
        else:
            texts = a2a_results.texts(raw)
            action = self._request.action
        if not isinstance(message, jsonrpc.Response | jsonrpc.ErrorResponse):
            return self._rewritten(raw, message.raw, texts, None)
        return await self._judged(message, raw, texts, action)

    async def _judged(
        self,
        message: jsonrpc.Response | jsonrpc.ErrorResponse,
        raw: dict[str, Any],
        texts: Sequence[TextAt],
        action: Any,
    ) -> dict[str, Any] | None:
        scans = scan([ScanText(t.path, t.text, TOOL_RESULT, t.kind) for t in texts], scanner=self._scanner)
        is_error = isinstance(message, jsonrpc.ErrorResponse) or mcp_results.is_error(raw)
        judgement = await self._judge.judge(action, findings_input(scans), injection_input(scans), is_error)
        _add(self.stats.findings, findings_input(scans)["types"])
        if not judgement.allowed:
            self.stats.denied += 1
            return jsonrpc.error_response(
                message.id, jsonrpc.POLICY_DENIED, judgement.message, judgement.data
            )
        applied = apply(scans, judgement.table, strip=judgement.strip)
        _add(self.stats.redacted, applied.redacted)
        if applied.blocked_by is not None:
            self.stats.denied += 1
            return jsonrpc.error_response(
                message.id,
                jsonrpc.POLICY_DENIED,
                f"the response contained {applied.blocked_by}",
                judgement.data,
            )
        if not applied.replacements:
            return raw if raw is not message.raw else None
        rewritten: dict[str, Any] = replace_at(raw, [(text.path, new) for text, new in applied.replacements])
        return rewritten

    def _rewritten(
        self, raw: dict[str, Any], original: dict[str, Any], texts: Sequence[TextAt], _action: Any
    ) -> dict[str, Any] | None:
        # Requests and notifications from the server (sampling, elicitation): redacted by default.
        scans = scan([ScanText(t.path, t.text, TOOL_RESULT, t.kind) for t in texts], scanner=self._scanner)
        applied = apply(scans, ActionTable(), strip=False)
        if not applied.replacements:
            return raw if raw is not original else None
        rewritten: dict[str, Any] = replace_at(raw, [(text.path, new) for text, new in applied.replacements])
        return rewritten

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


def _add(totals: dict[str, int], counts: dict[str, int]) -> None:
    for key, count in counts.items():
        totals[key] = totals.get(key, 0) + count
