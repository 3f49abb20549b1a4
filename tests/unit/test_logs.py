"""Log redaction: keys that name credentials or bodies never reach the output."""

from __future__ import annotations

import io

import orjson
import structlog

from ext_proc.logs import REDACTED, configure_logging, redact_sensitive


def test_sensitive_keys_are_redacted_at_any_depth() -> None:
    event = {
        "event": "x",
        "authorization": "Bearer abc",
        "headers": {"Cookie": "s=1", "x-request-id": "r-1", "nested": [{"api_key": "k"}]},
        "body": "{...}",
        "path": "/ok",
    }
    out = redact_sensitive(None, "info", dict(event))
    assert out["authorization"] == REDACTED
    assert out["body"] == REDACTED
    assert out["headers"]["Cookie"] == REDACTED
    assert out["headers"]["x-request-id"] == "r-1"
    assert out["headers"]["nested"][0]["api_key"] == REDACTED
    assert out["path"] == "/ok"


def test_json_lines_are_written_redacted() -> None:
    stream = io.BytesIO()
    configure_logging("info", "json", stream=stream)
    try:
        structlog.get_logger("t").info("hello", token="t0k3n", count=2)
    finally:
        configure_logging("debug")
    line = orjson.loads(stream.getvalue().splitlines()[0])
    assert line["event"] == "hello" and line["count"] == 2 and line["token"] == REDACTED
    assert b"t0k3n" not in stream.getvalue()
