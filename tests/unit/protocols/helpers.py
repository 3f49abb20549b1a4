"""Fixture loading and a test-only SSE splitter for the protocol tests.

``SseData`` is deliberately minimal (``data``/``id``/``event`` fields only): it lets
these tests feed SSE bodies in arbitrary pieces to code that takes event data. The service's
SSE parser is ``ext_proc/protocols/sse.py``, tested on its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import regorus

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


# An MCP policy: the billing agent may use two tools; listing and the session's housekeeping pass.
POLICY = """
package envoy.authz

import rego.v1

default allow := false

allow if input.action.method in {"initialize", "server/discover", "ping", "tools/list"}

allow if input.action.kind == "notification"

allow if {
	input.action.method == "tools/call"
	input.action.tool in data.agents[input.agent].tools
}
"""
POLICY_DATA = {"agents": {"billing": {"tools": ["get_payment", "refund_payment"]}}}


def policy_allows(action: dict[str, Any] | list[dict[str, Any]]) -> bool:
    """The decision for ``input.action``, evaluated as the service does: by the Rego engine."""
    engine = regorus.Engine()
    engine.add_policy("policy.rego", POLICY)
    engine.add_data_json(orjson.dumps(POLICY_DATA).decode())
    engine.set_input_json(orjson.dumps({"agent": "billing", "action": action}).decode())
    return engine.eval_rule("data.envoy.authz.allow") is True


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass(frozen=True)
class Event:
    data: str
    id: str | None = None
    event: str | None = None


class SseData:
    def __init__(self) -> None:
        self._buffer = b""
        self._cr = b""

    def feed(self, chunk: bytes) -> list[Event]:
        # Line ends may be CRLF, CR or LF (sse-starlette writes CRLF); a CR at the end of a chunk
        # waits to see whether an LF follows.
        self._buffer += self._cr + chunk
        self._cr = b"\r" if self._buffer.endswith(b"\r") else b""
        if self._cr:
            self._buffer = self._buffer[:-1]
        self._buffer = self._buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        events = []
        while b"\n\n" in self._buffer:
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            events.append(_event(block.decode()))
        return events


def _event(block: str) -> Event:
    fields: dict[str, list[str]] = {}
    for line in block.split("\n"):
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value.removeprefix(" "))
    return Event(
        "\n".join(fields.get("data", [])),
        (fields.get("id") or [None])[-1],
        (fields.get("event") or [None])[-1],
    )


def encode_event(event: Event) -> bytes:
    lines = [f"event: {event.event}"] if event.event else []
    lines += [f"id: {event.id}"] if event.id is not None else []
    lines += [f"data: {line}" for line in event.data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


def split_at(data: bytes, points: list[int]) -> list[bytes]:
    cuts = sorted({min(max(point, 0), len(data)) for point in points})
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def events_in(pieces: list[bytes]) -> list[Event]:
    parser = SseData()
    return [event for piece in pieces for event in parser.feed(piece)]
