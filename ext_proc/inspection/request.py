"""What a request body is, in Chaperone's terms: its protocol, its actions and every text to scan.

On a route that declares an AI protocol (``protocols/declared.py``) the body is read as that
protocol, whatever its Content-Type says, or refused: strict JSON (``strict_json``), then the
protocol's own shape (an LLM API request, a JSON-RPC 2.0 message). On an undeclared route the
body is recognized by its content: whatever parses as JSON is JSON, whatever its label (and a
body that starts like JSON must be strict JSON), then an LLM API call (by path) or an MCP or
A2A message (by body and headers); anything else is plain JSON, or text.

Each recognized body yields ``input.action`` for the policy (one per call: the calls of a batch
are decided one by one) and its texts: every string of the body (``texts.py``), each with its
location in the parsed document so it can be rewritten in place, and its *source*: who wrote it,
which decides whether prompt injection found in it is direct (user input) or indirect (a tool's
output coming back to the agent).
"""

from __future__ import annotations

import codecs
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from ext_proc import strict_json
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.inspection.request_model import (
    A2A,
    INJECTION_SOURCES,
    LLM,
    MCP,
    OTHER,
    TOOL_RESULT,
    USER,
    Call,
    InspectedRequest,
    Path,
    ScanText,
)
from ext_proc.inspection.texts import SourceOf, every_text, part_group
from ext_proc.policy_input.http import is_json, media_type
from ext_proc.protocols import a2a, declared, detect, mcp
from ext_proc.protocols.llm import Provider, detect_provider, parse_request, to_policy_input

__all__ = [
    "A2A",
    "INJECTION_SOURCES",
    "LLM",
    "MCP",
    "OTHER",
    "TOOL_RESULT",
    "USER",
    "Call",
    "InspectedRequest",
    "ScanText",
    "inspect_request",
    "is_candidate",
]

_JSON_TYPES = ("application/json",)
_JSON_WHITESPACE = b" \t\r\n"
# MCP removed JSON-RPC batches in its 2025-06-18 revision (basic/transports, "Sending Messages").
_MCP_FIRST_WITHOUT_BATCHES = "2025-06-18"
_TOOL_OUTPUT_ITEMS = frozenset(
    {
        "function_call_output",
        "custom_tool_call_output",
        "computer_call_output",
        "local_shell_call_output",
        "shell_call_output",
        "apply_patch_call_output",
        "mcp_call",
        "mcp_list_tools",
        "web_search_call",
        "file_search_call",
        "code_interpreter_call",
        "image_generation_call",
    }
)


def inspect_request(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    text: str | None = None,
    *,
    declared_as: str | None = None,
) -> InspectedRequest:
    """Parse and recognize a complete request body (already decoded from its content-encoding).

    ``declared_as`` is the route's declared protocol; ``text`` the body as UTF-8 text when the
    caller already has it. Raises a ChaperoneError (with its status) for what is refused."""
    if declared_as in declared.AI_PROTOCOLS:
        return _declared(declared_as, method, path, headers, body)
    return _by_content(method, path, headers, body, text)


# -- a declared protocol ----------------------------------------------------------------------


def _declared(
    protocol: str, method: str, path: str, headers: Mapping[str, str], body: bytes
) -> InspectedRequest:
    strict_json.check_charset(headers.get("content-type"))
    if not body.strip(_JSON_WHITESPACE):
        if declared.body_required(protocol, method, path):
            raise ChaperoneError(ErrorCode.BODY_REQUIRED, "the request has no body", http_status=400)
        return InspectedRequest(None, None, "", None, (), declared=protocol)
    _refuse_foreign_encoding(body)
    document = strict_json.loads(body)
    if protocol in declared.LLM_PROTOCOLS:
        provider = declared.declared_provider(protocol, method, path)
        if provider is not None:
            return _llm(provider, document, protocol)
        return _llm_endpoint(protocol, path, document)
    if protocol == declared.MCP:
        return _mcp(document, headers, protocol)
    return _a2a(document, headers.get(":authority", ""), path, protocol)


def _llm_endpoint(protocol: str, path: str, document: Any) -> InspectedRequest:
    """A provider's endpoint other than the generation APIs Chaperone reads field by field
    (embeddings, moderations...): its model, and every string scanned."""
    body = document if isinstance(document, dict) else {}
    model = body.get("model")
    action = {
        "protocol": LLM,
        "provider": protocol,
        "operation": _operation(path),
        "model": model if isinstance(model, str) else None,
        "stream": body.get("stream") is True,
    }
    return InspectedRequest(LLM, document, None, action, every_text(document), declared=protocol)


def _operation(path: str) -> str:
    """``/v1/embeddings`` -> ``embeddings``; ``/openai/v1/images/generations`` -> ``images/generations``."""
    steps = [step for step in path.split("?", 1)[0].split("/") if step]
    for index, step in enumerate(steps):
        if len(step) > 1 and step[0] == "v" and step[1:].isdigit():
            return "/".join(steps[index + 1 :])
    return "/".join(steps)


# -- recognized by content --------------------------------------------------------------------

_NOT_JSON = object()


def _by_content(
    method: str, path: str, headers: Mapping[str, str], body: bytes, text: str | None
) -> InspectedRequest:
    content_type = headers.get("content-type")
    document = _json_by_content(body, content_type)
    if document is _NOT_JSON:
        return _text_body(body, text)
    provider = detect_provider(method, path)
    if provider is not None:
        return _llm(provider, document, None)
    protocol = detect.detect(method, path, headers, document)
    if protocol == MCP:
        return _mcp(document, headers, None)
    if protocol == A2A:
        return _a2a(document, headers.get(":authority", ""), path, None)
    return InspectedRequest(None, document, None, None, every_text(document))


def _json_by_content(body: bytes, content_type: str | None) -> Any:
    """The JSON value of a body that is JSON, whatever its label: labelled JSON, or starting
    like JSON (``{`` or ``[``: a lenient parser upstream, or one that ignores the label, would
    read it as JSON, so it must be strict JSON here). ``_NOT_JSON`` otherwise."""
    if not body:
        return _NOT_JSON
    _refuse_foreign_encoding(body)
    if is_json(content_type):
        strict_json.check_charset(content_type)
        return strict_json.loads(body)
    if body.lstrip(_JSON_WHITESPACE)[:1] in (b"{", b"["):
        return strict_json.loads(body)
    return _NOT_JSON


def _refuse_foreign_encoding(body: bytes) -> None:
    """JSON in UTF-16 or UTF-32, or after a byte-order mark, is refused (415): Python's own
    ``json.loads`` (Starlette's ``request.json()``, FastAPI) reads it, a strict reader does not."""
    encoding = json.detect_encoding(body[:4])
    if encoding == "utf-8":
        return
    if encoding != "utf-8-sig":
        try:
            head = codecs.decode(body[:64], encoding, errors="ignore")
        except LookupError:
            return
        if head.lstrip(" \t\r\n\ufeff")[:1] not in ("{", "["):
            return  # binary data that happens to start with NUL bytes
    raise ChaperoneError(
        ErrorCode.UNSUPPORTED_CHARSET, "the body is JSON in an encoding other than UTF-8", http_status=415
    )


def _text_body(body: bytes, text: str | None) -> InspectedRequest:
    """A body that is not JSON: scanned as one text when it is UTF-8 (a form, plain text)."""
    if text is None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return InspectedRequest(None, None, None, None, ())  # binary: no text to read
    texts = (ScanText((), text, OTHER, "body"),) if text else ()
    return InspectedRequest(None, None, text, None, texts)


# -- the protocols ----------------------------------------------------------------------------


def _llm(provider: Provider, document: Any, protocol: str | None) -> InspectedRequest:
    request = parse_request(provider, document)
    known = [
        ScanText(field.path, field.text, _llm_source(field.kind, field.role), field.kind, field.json_value)
        for field in request.texts
    ]
    texts = every_text(document, _grouped(known), _LLM_SOURCES[provider](document))
    return InspectedRequest(
        LLM,
        document,
        None,
        to_policy_input(request),
        texts,
        provider=provider,
        llm=request,
        declared=protocol,
    )


def _grouped(known: list[ScanText]) -> list[ScanText]:
    return [dataclasses.replace(text, group=part_group(text.path)) for text in known]


def _llm_source(kind: str, role: str) -> str:
    if kind == "tool_result":
        return TOOL_RESULT
    if kind == "message" and role == "user":
        return USER
    return OTHER


def _role_source(role: object) -> str:
    if role == "user":
        return USER
    if role in ("tool", "function"):
        return TOOL_RESULT
    return OTHER


# The instructions and tool definitions a developer wrote (read, never scored for injection);
# any other field outside the messages is content the caller sent, like a user turn.
_INSTRUCTION_FIELDS = frozenset({"system", "instructions", "tools", "functions", "tool_choice"})


def _outside_messages(path: Path) -> str:
    return OTHER if path and path[0] in _INSTRUCTION_FIELDS else USER


def _item(document: Any, key: str, path: Path) -> Any:
    """The item of array ``key`` a path starts in (``("messages", 2, ...)``), or None."""
    if len(path) < 2 or path[0] != key or not isinstance(path[1], int) or not isinstance(document, dict):
        return None
    items = document.get(key)
    if not isinstance(items, list) or path[1] >= len(items):
        return None
    item = items[path[1]]
    return item if isinstance(item, dict) else None


def _chat_sources(document: Any) -> SourceOf:
    """Chat Completions: a string in a message has its role's source; outside, it is content
    (``prediction``, ``metadata``, ``user``...) unless it is an instruction or a tool's definition."""

    def source_of(path: Path) -> str:
        message = _item(document, "messages", path)
        return _role_source(message.get("role")) if message is not None else _outside_messages(path)

    return source_of


def _responses_sources(document: Any) -> SourceOf:
    """Responses: an input item is a tool's output by its type, else its role's."""

    def source_of(path: Path) -> str:
        item = _item(document, "input", path)
        if item is None:
            return _outside_messages(path)
        if item.get("type") in _TOOL_OUTPUT_ITEMS:
            return TOOL_RESULT
        return _role_source(item.get("role", "user"))

    return source_of


def _anthropic_sources(document: Any) -> SourceOf:
    """Messages: a ``tool_result`` block is a tool's output; other strings have their role's source."""

    def source_of(path: Path) -> str:
        message = _item(document, "messages", path)
        if message is None:
            return _outside_messages(path)
        if len(path) >= 4 and path[2] == "content" and isinstance(path[3], int):
            block = _item(message, "content", path[2:])
            if block is not None and block.get("type") == "tool_result":
                return TOOL_RESULT
        return _role_source(message.get("role"))

    return source_of


_LLM_SOURCES = {
    "openai.chat": _chat_sources,
    "openai.responses": _responses_sources,
    "anthropic.messages": _anthropic_sources,
}


def _mcp(document: Any, headers: Mapping[str, str], protocol: str | None) -> InspectedRequest:
    body = mcp.parse_request_body(document)
    if body.batch and headers.get(mcp.PROTOCOL_VERSION_HEADER, "") >= _MCP_FIRST_WITHOUT_BATCHES:
        raise ChaperoneError(
            ErrorCode.JSONRPC_INVALID,
            f"invalid MCP message: batches are not part of MCP since {_MCP_FIRST_WITHOUT_BATCHES}",
            http_status=400,
        )
    session = headers.get(mcp.SESSION_HEADER)
    action = mcp.to_policy_input(body, session)
    if not body.batch:
        texts = every_text(document)
        return InspectedRequest(
            MCP,
            document,
            None,
            action,
            texts,
            mcp_body=body,
            declared=protocol,
            calls=(Call(None, action, texts),),
        )
    assert isinstance(action, list)
    calls = tuple(Call(i, action[i], every_text(document, at=(i,))) for i in range(len(body.calls)))
    texts = tuple(text for call in calls for text in call.texts)
    return InspectedRequest(MCP, document, None, action, texts, mcp_body=body, declared=protocol, calls=calls)


def _a2a(document: Any, host: str, path: str, protocol: str | None) -> InspectedRequest:
    body = a2a.parse_request_body(document)
    if body.batch:
        # The A2A SDKs answer a batch with "Batch requests are not supported".
        raise ChaperoneError(
            ErrorCode.JSONRPC_INVALID, "invalid A2A message: batches are not part of A2A", http_status=400
        )
    (call,) = body.calls
    known = [ScanText(t.path, t.text, USER, "message") for t in call.texts]
    texts = every_text(document, _grouped(known), _a2a_source)
    action = a2a.to_policy_input(body, a2a.A2aTarget(host=host, path=path, name=None))
    return InspectedRequest(
        A2A,
        document,
        None,
        action,
        texts,
        a2a_body=body,
        declared=protocol,
        calls=(Call(None, action, texts),),
    )


def _a2a_source(path: Path) -> str:
    """What the calling agent sends is its input (direct), its message and any other field."""
    return USER


def reads_body(declared_as: str | None) -> bool:
    """Is a request's body read whatever the policy asks? On a declared AI protocol, to read it
    as that protocol; on an undeclared route, to find what it is by its content (a body is JSON
    or text whatever it is labelled). Plain HTTP (``http``) bodies only when the policy asks."""
    return declared_as != declared.HTTP


def is_candidate(headers: Mapping[str, str]) -> bool:
    """Is a request agent traffic by its headers alone (an LLM API path, MCP or A2A headers, a
    JSON POST)? Decided at the headers, before any body."""
    method = headers.get(":method", "")
    path = headers.get(":path", "").split("?", 1)[0]
    if detect_provider(method, path) is not None:
        return True
    if any(name in headers for name in (mcp.SESSION_HEADER, mcp.PROTOCOL_VERSION_HEADER, "a2a-version")):
        return True
    content_type = media_type(headers.get("content-type"))
    return method == "POST" and (content_type in _JSON_TYPES or content_type.endswith("+json"))
