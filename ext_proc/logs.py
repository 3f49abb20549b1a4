"""structlog set-up: JSON lines on stdout, with a redaction step before rendering.

The redaction processor is the last line of defence: callers never pass credentials or bodies
on purpose, but any key that names one is replaced wholesale before a line is written.
Exceptions are rendered by ``safe_errors``: type, message only when it cannot carry data, and
file/line/function of each frame, never frame locals. Lines from the standard library's logging
(gRPC, asyncio, uvloop) and uncaught exceptions (the main thread, other threads, the event loop,
"exception ignored") take the same path, so no traceback reaches stderr unfiltered.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import MutableMapping
from pathlib import PurePath
from types import TracebackType
from typing import Any, BinaryIO, cast

import orjson
import structlog

from ext_proc.safe_errors import as_text, describe, safe_message

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


def render_exceptions(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """``exc_info`` becomes ``exception`` (safe_errors.describe); any exception passed as a
    value is replaced by its safe message."""
    exc_info = event_dict.pop("exc_info", None)
    exc = _exception_of(exc_info)
    if exc is not None:
        event_dict["exception"] = describe(exc)
    for key, value in event_dict.items():
        if isinstance(value, BaseException):
            event_dict[key] = safe_message(value)
    return event_dict


def _exception_of(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        return exc_info[1] if isinstance(exc_info[1], BaseException) else None
    if exc_info:
        return sys.exc_info()[1]
    return None


def _exception_as_text(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    chain = event_dict.get("exception")
    if isinstance(chain, list):
        event_dict["exception"] = as_text(chain)
    return event_dict


def _orjson_dumps(value: Any, **_kw: Any) -> bytes:
    return orjson.dumps(value, default=_safe_default)


def _safe_default(value: Any) -> str:
    # Objects orjson cannot serialize are logged by type: their str() or repr() may hold data
    # (bytes of a body, a library object's repr of its input).
    if isinstance(value, BaseException):
        return safe_message(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    return f"<{type(value).__name__}>"


class _NeverRaising:
    """The operational log's stream: a write that fails (a full disk, a closed pipe) is dropped
    rather than raised into whatever was being done when the line was logged. The audit trail
    has its own sinks, which do report failures (audit/delivery.py)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.dropped = 0

    def write(self, data: bytes) -> None:
        try:
            self._stream.write(data)
        except (OSError, ValueError):  # ValueError: the stream was closed
            self.dropped += 1

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            self.dropped += 1


class _StructlogHandler(logging.Handler):
    """Standard-library log records (gRPC, asyncio, uvloop) as structlog events.

    The event is the record's message template, never its arguments (a library's repr of a
    request or of an exception); a message built without a template is cut at its first line
    (asyncio puts the failing task's repr, exception message included, on later lines)."""

    def emit(self, record: logging.LogRecord) -> None:
        template = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
        if not record.args:
            template = template.split("\n", 1)[0]
        logger = structlog.get_logger(record.name)
        fields: dict[str, Any] = {"logger": record.name}
        if record.exc_info and record.exc_info[1] is not None:
            fields["exc_info"] = record.exc_info[1]
        logger.log(record.levelno, template[:300], **fields)


def install_exception_hooks() -> None:
    """Uncaught exceptions are logged the safe way instead of Python's default traceback (for
    the service's process; ``configure_logging`` first)."""
    log = structlog.get_logger("chaperone.uncaught")

    def on_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        log.critical("uncaught_exception", exc_info=exc.with_traceback(tb))

    def on_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            log.error("thread_exception", thread=getattr(args.thread, "name", None), exc_info=args.exc_value)

    def on_unraisable(args: Any) -> None:
        log.warning("exception_ignored", exc_info=args.exc_value)

    sys.excepthook = on_uncaught
    threading.excepthook = on_thread
    sys.unraisablehook = on_unraisable


def _route_standard_logging(level: int) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StructlogHandler):
            root.removeHandler(handler)
    root.addHandler(_StructlogHandler())
    root.setLevel(max(level, logging.INFO))


def configure_logging(level: str = "info", fmt: str = "json", stream: BinaryIO | None = None) -> None:
    """Route structlog to ``stream`` (stdout's bytes by default) as JSON lines or console text."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    shared: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_sensitive,
        render_exceptions,
    ]
    if fmt == "console":
        processors = [*shared, _exception_as_text, structlog.dev.ConsoleRenderer(colors=False)]
        factory: Any = structlog.PrintLoggerFactory(sys.stdout)
    else:
        processors = [*shared, structlog.processors.JSONRenderer(serializer=_orjson_dumps)]
        factory = structlog.BytesLoggerFactory(cast(BinaryIO, _NeverRaising(stream or sys.stdout.buffer)))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    _route_standard_logging(numeric)
