"""What a route declares it speaks, and what that requires of a request before its body is read.

An upstream (or a path prefix of it) declares its protocol in Chaperone's configuration
(``upstreams[].protocol``, ``upstreams[].routes[]``); ``chaperone envoy-config`` writes it into
the route's ext_authz context extensions (``protocol``), which reach every phase
(``input.attributes.contextExtensions.protocol``). The model is "inspected, or refused":

- ``openai``, ``anthropic``, ``mcp``, ``a2a``: every request body is read as that protocol,
  whatever its Content-Type says (a label is the attacker's to choose, and the upstream's SDKs
  parse JSON they were not told is JSON), and a body that is not one is refused in the
  protocol's own error shape: not JSON, empty where the API needs one, a repeated or conflicting
  Content-Type, a charset other than UTF-8, duplicate keys, no ``"jsonrpc": "2.0"``, a batch the
  protocol does not have. What goes upstream is the canonical serialization of what was judged.
- ``http``: plain HTTP; bodies are read only when the policy asks (``inspect``).
- none declared: each request is recognized by its content (``inspection/request.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.protocols.llm.detect import detect_provider
from ext_proc.protocols.llm.model import Provider

PROTOCOL_KEY = "protocol"
OPENAI = "openai"
ANTHROPIC = "anthropic"
MCP = "mcp"
A2A = "a2a"
HTTP = "http"
LLM_PROTOCOLS = frozenset({OPENAI, ANTHROPIC})
AI_PROTOCOLS = frozenset({OPENAI, ANTHROPIC, MCP, A2A})
PROTOCOLS = AI_PROTOCOLS | {HTTP}
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

# The provider each LLM protocol's known paths speak (detect_provider), by declaration.
_PROVIDERS: Mapping[str, frozenset[Provider]] = {
    OPENAI: frozenset({"openai.chat", "openai.responses"}),
    ANTHROPIC: frozenset({"anthropic.messages"}),
}


def declared_protocol(extensions: Mapping[str, str] | None) -> str | None:
    """The protocol a route declares; an unknown value is refused (the config is ours: someone
    else wrote it, so nothing about the route can be trusted)."""
    if not extensions:
        return None
    declared = extensions.get(PROTOCOL_KEY)
    if declared is None:
        return None
    if declared not in PROTOCOLS:
        raise ChaperoneError(
            ErrorCode.PROTOCOL_ERROR, "the route declares a protocol Chaperone does not know", http_status=500
        )
    return declared


def declared_provider(declared: str, method: str, path: str) -> Provider | None:
    """The LLM API of a request on a route declared ``openai`` or ``anthropic``: the API its path
    names, when that API is the declared provider's; None for the provider's other endpoints."""
    provider = detect_provider(method, path)
    if provider is not None and provider in _PROVIDERS.get(declared, frozenset()):
        return provider
    return None


def check_request_headers(
    declared: str, method: str, path: str, headers: Mapping[str, str], has_body: bool
) -> None:
    """What an AI protocol refuses before reading a body: a repeated or conflicting Content-Type
    (two labels, or a list of them, which parsers resolve differently: the MCP SDKs take the
    first or any part), a charset other than UTF-8, and no body where one is needed."""
    content_type = headers.get("content-type")
    if content_type is not None and "," in content_type:
        raise ChaperoneError(
            ErrorCode.CONTENT_TYPE_CONFLICT,
            "the request has several Content-Type values",
            http_status=415,
        )
    if not has_body and body_required(declared, method, path):
        raise ChaperoneError(ErrorCode.BODY_REQUIRED, "the request has no body", http_status=400)


def body_required(declared: str, method: str, path: str) -> bool:
    """JSON-RPC is always carried in a body; an LLM API's generation endpoints need one too (its
    other POSTs, such as cancelling a response, may have none)."""
    if method.upper() not in BODY_METHODS:
        return False
    if declared in (MCP, A2A):
        return True
    return declared_provider(declared, method, path) is not None
