"""MCP messages from the server: the texts the client will read, and ``tools/list`` filtering.

A response body is ``application/json`` (one JSON-RPC message, or a batch under 2025-03-26) or
``text/event-stream`` whose events each carry one message in ``data`` (basic/transports,
"Sending Messages to the Server"); ``parse_event_data`` reads one event's data, the SSE framing
is ``sse.py``'s. Every function here takes one message as a parsed dict and never changes it:
rewriting returns a new message that shares everything off the rewritten path.

``texts(message, method)`` lists what a scanner should read, each with its JSON location from
the top of the message, so that ``rewrite_text(message, text.path, new)`` can replace it:

- a ``tools/call`` result: the ``text`` of text items, the ``resource.text`` of embedded
  resources, and every string inside ``structuredContent`` (server/tools, "Tool Result");
- a ``resources/read`` result: ``contents[i].text`` (server/resources, "Reading Resources");
- a ``prompts/get`` result: the text of each message's content (server/prompts);
- a ``tools/list`` result: each tool's title and descriptions, including those of its input
  schema: the model reads them, and they are where tool poisoning hides;
- an error: its message and the strings in its data;
- requests the server sends the client (and 2026-07-28 ``inputRequests``): sampling messages
  and system prompt, which the client's model reads, and elicitation messages.

A result's method comes from the request it answers (``mcp.PendingCalls``); without one (a
stream resumed on GET replays responses to requests this stream never saw) it is inferred from
the result's shape, so that no text goes unread for want of correlation. Base64 content
(images, audio, blobs) is not text and is not listed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.json_names import json_type
from ext_proc.protocols import jsonrpc
from ext_proc.protocols.locations import Path, TextAt, rewrite_text, string_leaves

__all__ = [
    "filter_tools_list",
    "infer_method",
    "is_error",
    "parse_event_data",
    "rewrite_text",
    "strip_tools",
    "texts",
    "tool_result",
    "tools",
]

Message = Mapping[str, Any]

TEXT = "text"
RESOURCE = "resource"
STRUCTURED = "structured"
PROMPT = "prompt"
TOOL_DESCRIPTION = "tool_description"
ERROR = "error"
SAMPLING = "sampling"
ELICITATION = "elicitation"


def parse_event_data(data: str) -> jsonrpc.Body | None:
    """The message an SSE event carries; None for an event without data.

    From 2025-11-25 a server may open a stream with an event that has an id and empty data, so
    that the client can resume from it (basic/transports, "Resumability and Redelivery").
    """
    if not data:
        return None
    return jsonrpc.loads(data)


def texts(message: Message, method: str | None = None) -> tuple[TextAt, ...]:
    """The texts of a server message; ``method`` is that of the request a response answers."""
    if "error" in message:
        return tuple(_error_texts(message["error"]))
    if "result" in message:
        result = message["result"]
        return tuple(_result_texts(result, method or infer_method(result), ("result",)))
    if "method" in message:
        return tuple(_request_texts(message, ()))
    return ()


def infer_method(result: Any) -> str | None:
    """The request method a result answers, from its shape alone."""
    if not isinstance(result, dict):
        return None
    for key, method in (
        ("content", "tools/call"),
        ("contents", "resources/read"),
        ("messages", "prompts/get"),
        ("tools", "tools/list"),
    ):
        if key in result:
            return method
    return None


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A ``tools/call`` response as a scanner and the audit see it."""

    is_error: bool  # a JSON-RPC error, or ``isError`` (the tool ran and failed)
    structured: bool  # has ``structuredContent``
    texts: tuple[TextAt, ...]


def tool_result(message: Message) -> ToolResult:
    result = message.get("result")
    structured = isinstance(result, dict) and "structuredContent" in result
    return ToolResult(is_error(message), structured, texts(message, "tools/call"))


def is_error(message: Message) -> bool:
    """A JSON-RPC error, or a tool result that reports a failed call (``isError``)."""
    if "error" in message:
        return True
    result = message.get("result")
    return isinstance(result, dict) and result.get("isError") is True


def tools(message: Message) -> list[dict[str, Any]]:
    """The ``tools`` of a ``tools/list`` response; a malformed one is jsonrpc_invalid."""
    result = message.get("result")
    if not isinstance(result, dict):
        _fail('tools/list: field "result" must be an object')
    listed = result.get("tools")
    if not isinstance(listed, list):
        _fail(f'tools/list: field "result.tools" must be an array, got {json_type(listed)}')
    for i, tool in enumerate(listed):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            _fail(f"tools/list: tool {i} must be an object with a string name")
    return listed


def filter_tools_list(message: Message, keep: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """A copy of a ``tools/list`` response that lists only the tools ``keep`` accepts.

    The filtered list depends on who asks, so a 2026-07-28 ``cacheScope`` of "public" (which
    lets shared caches serve it to anyone) becomes "private".
    """
    kept = [tool for tool in tools(message) if keep(tool)]
    result = dict(message["result"])  # tools() checked that it is an object
    result["tools"] = kept
    if "cacheScope" in result:
        result["cacheScope"] = "private"
    return {**message, "result": result}


def strip_tools(message: Message, names: Collection[str]) -> dict[str, Any]:
    """A copy of a ``tools/list`` response without the tools named."""
    return filter_tools_list(message, lambda tool: tool["name"] not in names)


def _result_texts(result: Any, method: str | None, at: Path) -> Iterator[TextAt]:
    if not isinstance(result, dict):
        return
    if result.get("resultType") == "input_required":
        yield from _input_request_texts(result, at)
    elif method == "tools/call":
        yield from _tool_result_texts(result, at)
    elif method == "resources/read":
        yield from _resource_texts(result, at)
    elif method == "prompts/get":
        yield from _prompt_texts(result, at)
    elif method == "tools/list":
        yield from _tool_description_texts(result, at)


def _tool_result_texts(result: dict[str, Any], at: Path) -> Iterator[TextAt]:
    for i, item in enumerate(_array(result, "content", "tools/call")):
        yield from _content_texts(item, (*at, "content", i), TEXT, "tools/call")
    if "structuredContent" in result:
        yield from string_leaves(result["structuredContent"], (*at, "structuredContent"), STRUCTURED)


def _resource_texts(result: dict[str, Any], at: Path) -> Iterator[TextAt]:
    for i, item in enumerate(_array(result, "contents", "resources/read")):
        if not isinstance(item, dict):
            _fail(f"resources/read: content {i} must be an object")
        if "text" in item:
            yield _text(item, "text", (*at, "contents", i), RESOURCE, "resources/read")


def _prompt_texts(result: dict[str, Any], at: Path) -> Iterator[TextAt]:
    for i, item in enumerate(_array(result, "messages", "prompts/get")):
        if not isinstance(item, dict):
            _fail(f"prompts/get: message {i} must be an object")
        yield from _content_texts(item.get("content"), (*at, "messages", i, "content"), PROMPT, "prompts/get")


def _tool_description_texts(result: dict[str, Any], at: Path) -> Iterator[TextAt]:
    for i, tool in enumerate(tools({"result": result})):
        where = (*at, "tools", i)
        for key in ("title", "description"):
            if isinstance(tool.get(key), str):
                yield TextAt((*where, key), tool[key], TOOL_DESCRIPTION)
        schema = tool.get("inputSchema")
        for leaf in string_leaves(schema, (*where, "inputSchema"), TOOL_DESCRIPTION):
            if leaf.path[-1] in ("description", "title"):
                yield leaf


def _content_texts(item: Any, at: Path, kind: str, method: str) -> Iterator[TextAt]:
    """One content block (or, for sampling, a list of them): its text, if it has any."""
    if isinstance(item, list):
        for i, block in enumerate(item):
            yield from _content_texts(block, (*at, i), kind, method)
        return
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        _fail(f"{method}: a content block must be an object with a string type")
    if item["type"] == "text":
        yield _text(item, "text", at, kind, method)
    elif item["type"] == "resource" and isinstance(item.get("resource"), dict) and "text" in item["resource"]:
        yield _text(item["resource"], "text", (*at, "resource"), RESOURCE, method)


def _error_texts(error: Any) -> Iterator[TextAt]:
    if isinstance(error, dict):
        if isinstance(error.get("message"), str):
            yield TextAt(("error", "message"), error["message"], ERROR)
        if "data" in error:
            yield from string_leaves(error["data"], ("error", "data"), ERROR)


def _request_texts(request: Mapping[str, Any], at: Path) -> Iterator[TextAt]:
    """Texts of a request the server sends the client: what its model or its user will read."""
    params = request.get("params")
    if not isinstance(params, dict):
        return
    method = request.get("method")
    if method == "sampling/createMessage":
        for i, item in enumerate(_array(params, "messages", "sampling/createMessage")):
            content = item.get("content") if isinstance(item, dict) else None
            yield from _content_texts(content, (*at, "params", "messages", i, "content"), SAMPLING, method)
        if isinstance(params.get("systemPrompt"), str):
            yield TextAt((*at, "params", "systemPrompt"), params["systemPrompt"], SAMPLING)
    elif method == "elicitation/create" and isinstance(params.get("message"), str):
        yield TextAt((*at, "params", "message"), params["message"], ELICITATION)


def _input_request_texts(result: dict[str, Any], at: Path) -> Iterator[TextAt]:
    """2026-07-28: a result asking the client for input embeds the server's requests."""
    requests = result.get("inputRequests")
    if isinstance(requests, dict):
        for key, request in requests.items():
            if isinstance(request, dict):
                yield from _request_texts(request, (*at, "inputRequests", key))


def _array(container: Mapping[str, Any], key: str, method: str) -> list[Any]:
    value = container.get(key)
    if not isinstance(value, list):
        _fail(f'{method}: field "{key}" must be an array, got {json_type(value)}')
    return value


def _text(container: Mapping[str, Any], key: str, at: Path, kind: str, method: str) -> TextAt:
    value = container.get(key)
    if not isinstance(value, str):
        _fail(f'{method}: field "{key}" must be a string, got {json_type(value)}')
    return TextAt((*at, key), value, kind)


def _fail(message: str) -> NoReturn:
    raise ChaperoneError(ErrorCode.JSONRPC_INVALID, f"invalid MCP result: {message}", http_status=502)
