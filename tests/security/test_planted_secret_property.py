"""Property: a secret planted at any string of any OpenAI, Anthropic, MCP or A2A request never
reaches the upstream, through real Envoy.

Hypothesis builds request bodies of each protocol with random extra fields (random keys, random
nesting), plants a secret at a random string leaf (a field the protocol knows or not, under any
key, alone or inside a text) and sends the body to the route that declares the protocol; the
upstream (which records every byte it receives) must never see the secret. Many bodies are
forwarded (redacted): the last test checks that the property was not met by refusing everything.
"""

from __future__ import annotations

import string
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.conftest import Declared

pytestmark = pytest.mark.envoy

SECRETS = [
    "AKIA" + "Q3EGRX7NVDKP4ZLM",
    "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "xoxb-" + "1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
]
ROUTES = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages", "mcp": "/mcp", "a2a": "/a2a"}
OUTCOMES: dict[str, int] = {"forwarded": 0, "refused": 0}
REFUSALS: list[str] = []

keys = st.text(alphabet=string.ascii_letters + "_-", min_size=1, max_size=8)
words = st.text(alphabet=string.ascii_letters + " .,", max_size=20)
scalars = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | words
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3),
    max_leaves=8,
)
extras = st.dictionaries(keys.map(lambda key: "x_" + key), json_values, max_size=3)


@st.composite
def openai_body(draw: st.DrawFn) -> dict[str, Any]:
    content = draw(
        words
        | st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": words}), min_size=1, max_size=3)
    )
    message = {"role": "user", "content": content, **draw(extras)}
    body = {
        "model": "gpt-4o-mini",
        "messages": [message],
        "metadata": draw(st.dictionaries(keys, words, max_size=2)),
    }
    return {**body, **draw(extras)}


@st.composite
def anthropic_body(draw: st.DrawFn) -> dict[str, Any]:
    blocks = draw(
        st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": words}), min_size=1, max_size=3)
    )
    body = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": blocks}]}
    return {**body, **draw(extras)}


@st.composite
def mcp_body(draw: st.DrawFn) -> dict[str, Any]:
    arguments = draw(st.dictionaries(keys, json_values, max_size=4))
    params = {"name": "get_customer", "arguments": arguments, **draw(extras)}
    return {"jsonrpc": "2.0", "id": draw(st.integers(1, 10**6)), "method": "tools/call", "params": params}


@st.composite
def a2a_body(draw: st.DrawFn) -> dict[str, Any]:
    parts = draw(
        st.lists(st.fixed_dictionaries({"kind": st.just("text"), "text": words}), min_size=1, max_size=3)
    )
    message = {"kind": "message", "messageId": "m-1", "role": "user", "parts": parts}
    params = {"message": message, "metadata": draw(st.dictionaries(keys, json_values, max_size=3))}
    return {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": params}


BODIES = {"openai": openai_body(), "anthropic": anthropic_body(), "mcp": mcp_body(), "a2a": a2a_body()}


def string_leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in string_leaves(item, (*path, key))]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in string_leaves(item, (*path, index))]
    return []


def planted(body: Any, path: tuple[Any, ...], text: str) -> Any:
    if not path:
        return text
    head, rest = path[0], path[1:]
    if isinstance(body, dict):
        return {**body, head: planted(body[head], rest, text)}
    copy = list(body)
    copy[head] = planted(body[head], rest, text)
    return copy


@st.composite
def attack(draw: st.DrawFn) -> tuple[str, bytes, str]:
    protocol = draw(st.sampled_from(sorted(BODIES)))
    body = draw(BODIES[protocol])
    leaves = string_leaves(body)
    secret = draw(st.sampled_from(SECRETS))
    path = draw(st.sampled_from(leaves))
    wrapped = draw(st.sampled_from(["{}", "my key is {} ok", "{}\n"])).format(secret)
    return protocol, orjson.dumps(planted(body, path, wrapped)), secret


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attack())
def test_a_planted_secret_never_reaches_the_upstream(
    declared: Declared, case: tuple[str, bytes, str]
) -> None:
    protocol, body, secret = case
    mark = declared.recorder.mark()
    headers = {"content-type": "application/json"}
    response = httpx.post(
        declared.url(protocol) + ROUTES[protocol], content=body, headers=headers, timeout=15
    )
    received = declared.recorder.since(mark)
    for item in received:
        assert secret.encode() not in item.body, (protocol, body)
        assert secret not in str(item.headers)
    OUTCOMES["forwarded" if received else "refused"] += 1
    if not received:
        REFUSALS.append(response.text[:160])


def test_the_property_was_not_met_by_refusing_everything() -> None:
    total = OUTCOMES["forwarded"] + OUTCOMES["refused"]
    assert total >= 40
    # A secret planted in a field the protocol needs (the model, "jsonrpc", the tool's name) makes
    # the request one the policy or the protocol refuses; the others must go through, redacted.
    assert OUTCOMES["forwarded"] >= total // 4, (OUTCOMES, REFUSALS[:5])
