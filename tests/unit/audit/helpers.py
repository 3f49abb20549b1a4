"""Audit logs written to memory or files, and the events of a log's lines."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ext_proc.audit import AuditLog, RequestSummary
from ext_proc.audit.sinks import StreamSink
from ext_proc.policy.decision import Decision
from ext_proc.policy.evaluator import Outcome

REQUEST = RequestSummary.of("POST", "/v1/chat/completions?key=abc", "api.example.com")


def outcome(allowed: bool = True, reasons: tuple[str, ...] = (), raw: Any = None) -> Outcome:
    decision = Decision(allowed=allowed, reasons=reasons, raw=raw)
    return Outcome(decision, decision, None, "rev-1", 0.25)


def memory_log() -> tuple[AuditLog, io.BytesIO]:
    buffer = io.BytesIO()
    return AuditLog([StreamSink(buffer)]), buffer


def write_decisions(audit: AuditLog, count: int, **fields: Any) -> None:
    for index in range(count):
        audit.decision(
            decision_id=f"decision-{index}",
            phase="check",
            request=REQUEST,
            outcome=outcome(),
            status=None,
            **fields,
        )


def events(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)
