"""Which LLM API a request speaks, from its method and path.

The API paths are matched at the end of the path, so that the same API under a prefix (a
gateway's ``/openai/v1/chat/completions``, Azure's ``/openai/deployments/{name}/chat/completions``)
is recognized too. Anthropic's path must keep its ``/v1``: a bare ``/messages`` suffix is also
OpenAI's Assistants ``/v1/threads/{id}/messages``, another API.
"""

from __future__ import annotations

from ext_proc.protocols.llm.model import Provider

_SUFFIXES: tuple[tuple[str, Provider], ...] = (
    ("/chat/completions", "openai.chat"),
    ("/responses", "openai.responses"),
    ("/v1/messages", "anthropic.messages"),
)


def detect_provider(method: str, path: str) -> Provider | None:
    """The API of a ``POST`` to a known path (query string ignored), else None."""
    if method.upper() != "POST":
        return None
    path = path.partition("?")[0].partition("#")[0]
    if path.endswith("/") and len(path) > 1:
        path = path[:-1]
    if not path.startswith("/"):
        path = "/" + path
    for suffix, provider in _SUFFIXES:
        if path.endswith(suffix):
            return provider
    return None
