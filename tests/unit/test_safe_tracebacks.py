"""No secret in a logged exception: no frame locals, no message that may quote a value.

Each test plants a secret where a failure would carry it (a local variable of the failing frame,
the exception's message, its cause, a library's log record, an uncaught exception in a thread or
a task) and searches everything written for it.
"""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import structlog

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.logs import configure_logging, install_exception_hooks
from ext_proc.safe_errors import describe, internal_error, safe_message

SECRET = "AKIAIOSFODNN7EXAMPLE"
EMAIL = "ada.leak2@example.com"


@pytest.fixture
def output() -> Iterator[io.BytesIO]:
    stream = io.BytesIO()
    configure_logging("debug", "json", stream=stream)
    try:
        yield stream
    finally:
        configure_logging("debug")


def lines(stream: io.BytesIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def parse_amount(body: dict[str, Any]) -> int:
    token = body["key"]  # a local of the failing frame holds the secret
    return int(token)  # ValueError: invalid literal for int() with base 10: '<the secret>'


def failing() -> None:
    body = {"key": SECRET, "nested": {"email": EMAIL}}
    try:
        parse_amount(body)
    except ValueError as exc:
        raise KeyError(EMAIL) from exc


def test_a_logged_traceback_has_frames_but_no_locals_or_messages(output: io.BytesIO) -> None:
    try:
        failing()
    except KeyError:
        structlog.get_logger("t").exception("boom", decision_id="d-1")
    written = output.getvalue()
    assert SECRET.encode() not in written and EMAIL.encode() not in written
    (line,) = lines(output)
    outer, cause = line["exception"]
    assert outer["type"] == "KeyError" and cause["type"] == "ValueError"
    assert outer["message"].startswith("[message withheld")
    assert [f["function"] for f in cause["frames"]][-2:] == ["failing", "parse_amount"]
    assert all(set(frame) == {"file", "line", "function"} for frame in cause["frames"])


def test_console_format_is_as_safe(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("debug", "console")
    try:
        try:
            failing()
        except KeyError as exc:
            structlog.get_logger("t").error("boom", exc_info=exc)
    finally:
        configure_logging("debug")
    written = capsys.readouterr().out
    assert "parse_amount" in written and SECRET not in written and EMAIL not in written


def test_messages_are_kept_only_where_they_carry_no_data() -> None:
    ours = ChaperoneError(ErrorCode.BODY_PARSE_ERROR, "the JSON body is malformed", detail=SECRET)
    assert safe_message(ours) == "body_parse_error: the JSON body is malformed"
    assert safe_message(RecursionError("maximum recursion depth exceeded")).startswith("maximum")
    denied = PermissionError(13, "Permission denied", f"/tmp/{SECRET}")
    assert safe_message(denied) == "[Errno 13] Permission denied"
    undecodable = UnicodeDecodeError("utf-8", SECRET.encode() + b"\xff", 20, 21, "invalid start byte")
    assert SECRET not in safe_message(undecodable) and "position 20" in safe_message(undecodable)
    for exc in (ValueError(SECRET), KeyError(SECRET), RuntimeError(f"x {SECRET}"), TypeError(SECRET)):
        assert SECRET not in safe_message(exc)


def test_exceptions_passed_as_values_and_unserializable_values_are_safe(output: io.BytesIO) -> None:
    structlog.get_logger("t").warning("x", error=ValueError(SECRET), raw=SECRET.encode(), obj=object())
    (line,) = lines(output)
    assert SECRET not in orjson.dumps(line).decode()
    assert line["raw"] == "<20 bytes>" and line["obj"] == "<object>"


def test_standard_library_records_keep_their_template_not_their_arguments(output: io.BytesIO) -> None:
    try:
        failing()
    except KeyError:
        logging.getLogger("grpc._cython.cygrpc").exception("Unexpected error: %s", SECRET)
    message = f"Task exception was never retrieved\nexception=ValueError('{SECRET}')"
    logging.getLogger("asyncio").error(message)
    written = output.getvalue()
    assert SECRET.encode() not in written and EMAIL.encode() not in written
    grpc_line, asyncio_line = lines(output)
    assert grpc_line["event"] == "Unexpected error: %s" and grpc_line["exception"][0]["type"] == "KeyError"
    assert asyncio_line["event"] == "Task exception was never retrieved"


def test_uncaught_exceptions_anywhere_are_logged_safely(output: io.BytesIO) -> None:
    saved = sys.excepthook, threading.excepthook, sys.unraisablehook
    install_exception_hooks()
    try:
        try:
            failing()
        except KeyError as exc:
            sys.excepthook(KeyError, exc, exc.__traceback__)
        thread = threading.Thread(target=failing, name="worker")
        thread.start()
        thread.join()

        class Leaky:
            def __del__(self) -> None:
                raise ValueError(SECRET)

        Leaky()
        gc.collect()
    finally:
        sys.excepthook, threading.excepthook, sys.unraisablehook = saved
    assert SECRET.encode() not in output.getvalue() and EMAIL.encode() not in output.getvalue()
    events = [line["event"] for line in lines(output)]
    assert events == ["uncaught_exception", "thread_exception", "exception_ignored"]


async def test_a_task_that_failed_unobserved_is_logged_safely(output: io.BytesIO) -> None:
    async def fail() -> None:
        failing()

    loop = asyncio.get_running_loop()
    task = loop.create_task(fail())
    await asyncio.sleep(0)
    del task
    gc.collect()
    await asyncio.sleep(0)
    assert SECRET.encode() not in output.getvalue() and EMAIL.encode() not in output.getvalue()
    assert [line["event"] for line in lines(output)] == ["Task exception was never retrieved"]


def test_an_internal_error_is_logged_and_becomes_a_fail_closed_error(output: io.BytesIO) -> None:
    try:
        failing()
    except KeyError as exc:
        error = internal_error("check_internal_error", exc, decision_id="d-2")
    assert error.code is ErrorCode.INTERNAL_ERROR and error.http_status == 500
    assert SECRET not in error.message and EMAIL not in error.message
    (line,) = lines(output)
    assert line["event"] == "check_internal_error" and line["decision_id"] == "d-2"
    assert SECRET.encode() not in output.getvalue()


def test_a_chain_that_loops_ends() -> None:
    first, second = ValueError("a"), ValueError("b")
    first.__context__, second.__context__ = second, first
    assert len(describe(first)) == 2
