"""What a request body is, in Chaperone's terms: its protocol, its action and the texts to scan.

A JSON body is recognized as an LLM API call (by path), or an MCP or A2A JSON-RPC message (by
body and headers); anything else is plain JSON or text. Each recognized body yields
``input.action`` for the policy and the texts that scanners read, each with its location in
the parsed document so it can be rewritten in place, and its *source*: who wrote it, which
decides whether prompt injection found in it is direct (user input) or indirect (a tool's
output coming back to the agent).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ext_proc.policy_input.http import is_json, media_type, parse_json
from ext_proc.protocols import a2a, detect, mcp
from ext_proc.protocols.llm import LlmRequest, Provider, detect_provider, parse_request, to_policy_input
from ext_proc.protocols.locations import string_leaves

LLM = "llm"
MCP = detect.MCP
A2A = detect.A2A

# Who wrote a text (``ScanText.source``).
USER = "user"  # the agent's user, or the calling agent (direct injection)
TOOL_RESULT = "tool_result"  # a tool's output fed back to a model (indirect injection)
OTHER = "other"  # assistant turns, system prompts, tool definitions, arguments, plain bodies
INJECTION_SOURCES = {USER: "direct", TOOL_RESULT: "indirect"}
_JSON_TYPES = ("application/json",)

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ScanText:
    path: Path  # in the parsed document; () is the whole (non-JSON) body
    text: str
    source: str
    kind: str
    json_value: bool = False  # the value at path is JSON whose serialization is `text`


@dataclass(frozen=True, slots=True)
class InspectedRequest:
    protocol: str | None  # "llm", "mcp", "a2a", or None for plain HTTP
    document: Any  # the parsed JSON body; None for a text body
    text: str | None  # the body as text, for a body that is not JSON
    action: Any  # input.action (an object, or an array for a JSON-RPC batch); None if unrecognized
    texts: tuple[ScanText, ...]
    provider: Provider | None = None
    llm: LlmRequest | None = None
    mcp_body: mcp.McpRequestBody | None = None
    a2a_body: a2a.A2aRequestBody | None = None


def inspect_request(
    method: str, path: str, headers: Mapping[str, str], body: bytes, text: str
) -> InspectedRequest:
    """Parse and recognize a complete request body (already decoded and valid UTF-8)."""
    content_type = headers.get("content-type")
    if not body or not is_json(content_type):
        if media_type(content_type).startswith("text/") or media_type(content_type).endswith(
            "x-www-form-urlencoded"
        ):
            return InspectedRequest(None, None, text, None, (ScanText((), text, OTHER, "body"),))
        return InspectedRequest(None, None, text, None, ())
    document = parse_json(body)
    provider = detect_provider(method, path)
    if provider is not None:
        return _llm(provider, document)
    protocol = detect.detect(method, path, headers, document)
    if protocol == MCP:
        return _mcp(document, headers.get(mcp.SESSION_HEADER))
    if protocol == A2A:
        return _a2a(document, headers.get(":authority", ""), path)
    texts = tuple(ScanText(t.path, t.text, OTHER, "body") for t in string_leaves(document, (), "body"))
    return InspectedRequest(None, document, None, None, texts)


def _llm(provider: Provider, document: Any) -> InspectedRequest:
    request = parse_request(provider, document)
    texts = tuple(
        ScanText(field.path, field.text, _llm_source(field.kind, field.role), field.kind, field.json_value)
        for field in request.texts
    )
    return InspectedRequest(
        LLM, document, None, to_policy_input(request), texts, provider=provider, llm=request
    )


def _llm_source(kind: str, role: str) -> str:
    if kind == "tool_result":
        return TOOL_RESULT
    if kind == "message" and role == "user":
        return USER
    return OTHER


def _mcp(document: Any, session_id: str | None) -> InspectedRequest:
    body = mcp.parse_request_body(document)
    texts: list[ScanText] = []
    for index, call in enumerate(body.calls):
        prefix: Path = (index,) if body.batch else ()
        if call.arguments:
            texts += _leaves(call.arguments, (*prefix, "params", "arguments"), OTHER, "arguments")
    action = mcp.to_policy_input(body, session_id)
    return InspectedRequest(MCP, document, None, action, tuple(texts), mcp_body=body)


def _a2a(document: Any, host: str, path: str) -> InspectedRequest:
    body = a2a.parse_request_body(document)
    texts: list[ScanText] = []
    for index, call in enumerate(body.calls):
        prefix: Path = (index,) if body.batch else ()
        texts += [ScanText((*prefix, *t.path), t.text, USER, "message") for t in call.texts]
    action = a2a.to_policy_input(body, a2a.A2aTarget(host=host, path=path, name=None))
    return InspectedRequest(A2A, document, None, action, tuple(texts), a2a_body=body)


def _leaves(value: Any, at: Path, source: str, kind: str) -> Iterable[ScanText]:
    return (ScanText(t.path, t.text, source, kind) for t in string_leaves(value, at, kind))


def is_candidate(headers: Mapping[str, str]) -> bool:
    """Should a request be inspected without the policy asking? (decided at the headers)"""
    method = headers.get(":method", "")
    path = headers.get(":path", "").split("?", 1)[0]
    if detect_provider(method, path) is not None:
        return True
    if any(name in headers for name in (mcp.SESSION_HEADER, mcp.PROTOCOL_VERSION_HEADER, "a2a-version")):
        return True
    content_type = media_type(headers.get("content-type"))
    return method == "POST" and (content_type in _JSON_TYPES or content_type.endswith("+json"))
