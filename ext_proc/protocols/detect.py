"""Which protocol a request speaks: "mcp", "a2a", one a hook names (such as "llm"), or None.

The rules, first match wins:

1. The body, when it is JSON-RPC 2.0 (an object or a batch with ``"jsonrpc": "2.0"``), by the
   methods of its requests and notifications:

   - a method only MCP has (``initialize``, ``tools/call``, ``notifications/initialized``...):
     "mcp" (a batch mixing both protocols counts as MCP: its A2A methods then reach the policy
     as unknown MCP methods, which an allow-list denies);
   - a method only A2A has (``message/send``, ``SendMessage``...): "a2a";
   - a method both have (``tasks/get``, ``tasks/cancel``): the protocol headers
     below if any, else MCP when the params name the task ``taskId`` (MCP 2025-11-25 tasks)
     and A2A when they name it ``id`` (A2A 0.3).

2. The headers alone (so a decision can be made before the body is read):
   ``mcp-session-id`` (sent on every request after initialize, basic/transports "Session
   Management"), ``mcp-protocol-version`` (every request from 2025-06-18 on) or
   ``mcp-method`` (2026-07-28): "mcp"; ``a2a-version`` (sent by A2A 1.0 clients): "a2a".
   This also catches MCP's GET (the server's stream) and DELETE (the session's end).

3. A JSON-RPC POST whose ``accept`` lists both ``application/json`` and
   ``text/event-stream``, as MCP requires of its clients (basic/transports, "Sending Messages
   to the Server"): "mcp", whatever its method.

4. The hooks, in order: ``(name, predicate)`` pairs, each predicate called with the same
   arguments as ``detect``; the first that returns True names the protocol. The LLM layer
   registers its own this way, so this module knows nothing of LLM APIs.

``None`` means no protocol layer applies: the request is decided as plain HTTP. ``body`` is the
parsed JSON body, or None when it is not (yet) available.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ext_proc.protocols import a2a, jsonrpc, mcp

MCP = "mcp"
A2A = "a2a"

Hook = Callable[[str, str, Mapping[str, str], object], bool]

_MCP_HEADERS = (mcp.SESSION_HEADER, mcp.PROTOCOL_VERSION_HEADER, mcp.METHOD_HEADER)
_SHARED_METHODS = mcp.CLIENT_METHODS & a2a.METHODS
_MCP_ONLY = mcp.CLIENT_METHODS - a2a.METHODS
_A2A_ONLY = a2a.METHODS - mcp.CLIENT_METHODS


def detect(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: object | None,
    *,
    hooks: Sequence[tuple[str, Hook]] = (),
) -> str | None:
    """The protocol of a request (the rules are in the module docstring)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    is_jsonrpc = jsonrpc.is_jsonrpc(body)
    found = _by_body(body, lowered) if is_jsonrpc else None
    found = found or _by_headers(lowered)
    if found is None and is_jsonrpc and method.upper() == "POST" and _accepts_mcp(lowered):
        found = MCP
    if found is None:
        found = next((name for name, hook in hooks if hook(method, path, headers, body)), None)
    return found


def _by_body(body: object, headers: Mapping[str, str]) -> str | None:
    messages = body if isinstance(body, list) else [body]
    calls = [m for m in messages if isinstance(m, dict) and isinstance(m.get("method"), str)]
    methods = {call["method"] for call in calls}
    if methods & _MCP_ONLY:
        return MCP
    if methods & _A2A_ONLY:
        return A2A
    shared = [call for call in calls if call["method"] in _SHARED_METHODS]
    if not shared:
        return None
    hinted = _by_headers(headers)
    if hinted is not None:
        return hinted
    params = shared[0].get("params")
    return MCP if isinstance(params, dict) and "taskId" in params else A2A


def _by_headers(headers: Mapping[str, str]) -> str | None:
    if any(name in headers for name in _MCP_HEADERS):
        return MCP
    if a2a.VERSION_HEADER in headers:
        return A2A
    return None


def _accepts_mcp(headers: Mapping[str, str]) -> bool:
    accepted = {item.split(";", 1)[0].strip().lower() for item in headers.get("accept", "").split(",")}
    return {"application/json", "text/event-stream"} <= accepted
