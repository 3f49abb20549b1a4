"""Exceptions rendered for a log line without the data they may carry.

A traceback is where a secret leaks by accident: a frame's local variables hold the request body
being parsed, and an exception's message quotes the value it choked on (``int('…')``,
``KeyError('…')``, a library's repr of its input). So a logged exception is its type, where it
was raised (file, line, function: code, never data) and a message only when the message is known
to carry none:

- a ``ChaperoneError``'s ``message``, which names fields and types by contract (its ``detail``,
  text we do not control, is never rendered);
- an ``OSError``'s errno and its fixed description (no file names or arguments);
- a ``UnicodeError``'s codec, reason and position (not the bytes);
- the message of a few exception types whose text is fixed by the interpreter;
- for any other exception, only the message's length.
"""

from __future__ import annotations

import asyncio
import traceback
from types import TracebackType
from typing import Any

import structlog

from ext_proc.errors import ChaperoneError, ErrorCode

MAX_FRAMES = 30
MAX_CHAIN = 5

# Their messages are written by the interpreter or asyncio, never built from a value.
FIXED_MESSAGE_TYPES: tuple[type[BaseException], ...] = (
    RecursionError,
    MemoryError,
    NotImplementedError,
    TimeoutError,
    asyncio.CancelledError,
    asyncio.InvalidStateError,
    StopIteration,
    StopAsyncIteration,
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
)


def safe_message(exc: BaseException) -> str:
    """The exception's message when it cannot carry data; else a placeholder with its length."""
    if isinstance(exc, ChaperoneError):
        return f"{exc.code.value}: {exc.message}"
    if isinstance(exc, UnicodeDecodeError | UnicodeEncodeError):
        return f"{exc.encoding} cannot {_codec_verb(exc)} at position {exc.start}: {exc.reason}"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"[Errno {exc.errno}] {exc.strerror}"
    if isinstance(exc, FIXED_MESSAGE_TYPES):
        return str(exc)[:200]
    text = str(exc)
    return f"[message withheld: {len(text)} characters]" if text else ""


def _codec_verb(exc: UnicodeError) -> str:
    return "decode" if isinstance(exc, UnicodeDecodeError) else "encode"


def exception_type(exc: BaseException) -> str:
    kind = type(exc)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def frames(tb: TracebackType | None) -> list[dict[str, Any]]:
    """Where it happened, innermost last: file, line and function of each frame, no locals."""
    summary = traceback.extract_tb(tb)[-MAX_FRAMES:]
    return [{"file": frame.filename, "line": frame.lineno, "function": frame.name} for frame in summary]


def describe(exc: BaseException) -> list[dict[str, Any]]:
    """The exception and what caused it (outermost first), each safe to log."""
    chain: list[dict[str, Any]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(chain) < MAX_CHAIN:
        seen.add(id(current))
        chain.append(
            {
                "type": exception_type(current),
                "message": safe_message(current),
                "frames": frames(current.__traceback__),
            }
        )
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return chain


def as_text(chain: list[dict[str, Any]]) -> str:
    """The described chain as a few lines of text (the console log format)."""
    lines: list[str] = []
    for entry in chain:
        lines.append(f"{entry['type']}: {entry['message']}")
        lines.extend(f"  {f['file']}:{f['line']} in {f['function']}" for f in entry["frames"])
    return "\n".join(lines)


def internal_error(event: str, exc: BaseException, **fields: Any) -> ChaperoneError:
    """Log an unexpected failure (safely, as above) and turn it into the fail-closed error that
    the request is refused with, so that it is audited like any other refusal."""
    structlog.get_logger("chaperone.internal").error(event, exc_info=exc, **fields)
    if isinstance(exc, RecursionError):
        message = "the input is nested too deeply to be processed"
    else:
        message = f"an internal error ({exception_type(exc)})"
    return ChaperoneError(ErrorCode.INTERNAL_ERROR, message, http_status=500)
