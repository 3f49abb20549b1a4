"""Test helpers: the fixtures, a stream relay that rewrites texts as the integrator will, the real
SDKs reading bytes in process (over an httpx2 mock transport: no network), and JSON mutations."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
from hypothesis import strategies as st

from ext_proc.protocols.llm import Provider, StreamEventView, stream_interpreter
from ext_proc.protocols.sse import SseParser

FIXTURES = Path(__file__).parents[2] / "fixtures" / "llm"


REQUESTS: dict[Provider, str] = {
    "openai.chat": "openai_chat_request.json",
    "openai.responses": "openai_responses_request.json",
    "anthropic.messages": "anthropic_request.json",
}
RESPONSES: dict[Provider, str] = {
    "openai.chat": "openai_chat_response.json",
    "openai.responses": "openai_responses_response.json",
    "anthropic.messages": "anthropic_response.json",
}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict[str, Any]:
    """A fresh copy of a JSON fixture."""
    value: dict[str, Any] = json.loads(fixture(name))
    return value


def shout(text: str) -> str:
    """A stand-in for redaction: it changes lengths, works piece by piece and keeps JSON valid."""
    return text.upper().replace("@", "(AT)")


class Relay:
    """Rewrites every text of a stream with ``transform``, holding back the last ``holdback``
    characters of each channel until more text comes or the channel closes (then they go out in
    an ``extra_delta``), and rewrites the complete texts to what was sent: the integrator's job."""

    def __init__(
        self, provider: Provider, transform: Callable[[str], str] = shout, holdback: int = 0
    ) -> None:
        self.interpreter = stream_interpreter(provider)
        self.transform = transform
        self.holdback = holdback
        self.held: dict[str, str] = {}
        self.sent: dict[str, str] = {}
        self.views: list[StreamEventView] = []
        self.rewritten = 0

    def run(self, data: bytes, chunk_size: int = 0) -> bytes:
        parser = SseParser()
        pieces = (
            [data] if not chunk_size else [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
        )
        out = bytearray()
        for piece in pieces:
            for event in parser.feed(piece):
                out += self.event(event)
        return bytes(out + parser.close())

    def event(self, event: object) -> bytes:
        view = self.interpreter.interpret(event)  # type: ignore[arg-type]
        self.views.append(view)
        closing = set(view.closed)
        new: list[str | None] = []
        for piece in view.texts:
            if piece.complete:
                new.append(None)
                continue
            text = self.held.pop(piece.channel, "") + self.transform(piece.text)
            if self.holdback and piece.channel not in closing and len(text) > self.holdback:
                text, self.held[piece.channel] = text[: -self.holdback], text[-self.holdback :]
            elif self.holdback and piece.channel not in closing:
                text, self.held[piece.channel] = "", text
            self.sent[piece.channel] = self.sent.get(piece.channel, "") + text
            new.append(text)
        out = b""
        for channel in view.closed:
            rest = self.held.pop(channel, "")
            if rest:
                out += self.interpreter.extra_delta(channel, rest, like=view.event).raw
                self.sent[channel] = self.sent.get(channel, "") + rest
        texts = [
            text if text is not None else self.sent.get(piece.channel, self.transform(piece.text))
            for text, piece in zip(new, view.texts, strict=True)
        ]
        if view.unchanged(texts):
            assert self.interpreter.rewrite(view, texts) is view.event
            return out + view.event.raw
        self.rewritten += 1
        return out + self.interpreter.rewrite(view, texts).raw


def _transport(body: bytes, chunk_size: int) -> httpx2.MockTransport:
    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), chunk_size):
            yield body[i : i + chunk_size]

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=chunks())

    return httpx2.MockTransport(handler)


def openai_client(body: bytes, chunk_size: int = 37) -> openai.OpenAI:
    http = httpx2.Client(transport=_transport(body, chunk_size))
    return openai.OpenAI(api_key="sk-test", base_url="http://llm.test/v1", http_client=http, max_retries=0)


def anthropic_client(body: bytes, chunk_size: int = 37) -> anthropic.Anthropic:
    http = httpx2.Client(transport=_transport(body, chunk_size))
    return anthropic.Anthropic(
        api_key="sk-ant-test", base_url="http://llm.test", http_client=http, max_retries=0
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)


def all_paths(node: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    paths = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            paths += all_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            paths += all_paths(value, (*path, index))
    return paths
