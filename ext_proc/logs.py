"""structlog set-up: JSON lines on stdout, with a redaction step before rendering.

The redaction processor is the last line of defence: callers never pass credentials or bodies
on purpose, but any key that names one is replaced wholesale before a line is written.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, BinaryIO

import orjson
import structlog

REDACTED = "[REDACTED]"
SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "api_key",
        "apikey",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "credential",
        "credentials",
        "body",
        "raw_body",
        "rawbody",
        "parsed_body",
        "text",
    }
)


def redact_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: REDACTED if str(k).lower() in SENSITIVE_KEYS else redact_value(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def redact_sensitive(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if key in SENSITIVE_KEYS or (not key.islower() and key.lower() in SENSITIVE_KEYS):
            event_dict[key] = REDACTED
        elif type(value) in _CONTAINERS:
            event_dict[key] = redact_value(value)
    return event_dict


_CONTAINERS = frozenset({dict, list, tuple})


def _orjson_dumps(value: Any, **_kw: Any) -> bytes:
    return orjson.dumps(value, default=str)


def configure_logging(level: str = "info", fmt: str = "json", stream: BinaryIO | None = None) -> None:
    """Route structlog to ``stream`` (stdout's bytes by default) as JSON lines or console text."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    shared: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_sensitive,
        structlog.processors.dict_tracebacks,
    ]
    if fmt == "console":
        processors = [*shared, structlog.dev.ConsoleRenderer(colors=False)]
        factory: Any = structlog.PrintLoggerFactory(sys.stdout)
    else:
        processors = [*shared, structlog.processors.JSONRenderer(serializer=_orjson_dumps)]
        factory = structlog.BytesLoggerFactory(stream or sys.stdout.buffer)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
