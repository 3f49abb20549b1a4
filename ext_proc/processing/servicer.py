"""The ExternalProcessor gRPC servicer: receive, dispatch to the stream object, send.

Thin on purpose: all decisions live in stream.py; this loop only converts messages and makes
sure an unexpected failure ends the HTTP request with a deny rather than an open stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import structlog
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc

from ext_proc.config import DEFAULT_STREAM_FIRST_MESSAGE_SECONDS, DEFAULT_STREAM_IDLE_SECONDS
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.grpc_services import UndecodableMessage
from ext_proc.processing.events import Reject
from ext_proc.processing.protocol import (
    ROUTE_CONTEXT_PREFIX,
    deadline_extension,
    event_from_request,
    response_for,
)
from ext_proc.processing.stream import StreamProcessor
from ext_proc.safe_errors import internal_error

log = structlog.get_logger("chaperone.ext_proc")


class ExternalProcessorServicer(external_processor_pb2_grpc.ExternalProcessorServicer):  # type: ignore[misc]
    def __init__(
        self,
        new_stream: Callable[[], StreamProcessor],
        *,
        first_message_seconds: float = DEFAULT_STREAM_FIRST_MESSAGE_SECONDS,
        idle_seconds: float = DEFAULT_STREAM_IDLE_SECONDS,
    ) -> None:
        self._new_stream = new_stream
        self._first_message_seconds = first_message_seconds
        self._idle_seconds = idle_seconds

    async def Process(self, request_iterator: AsyncIterator[Any], context: Any) -> None:  # noqa: N802 (gRPC name)
        # Responses are written with context.write rather than yielded, so that a stream that
        # waits (a call held for approval) can first extend Envoy's deadline for the message.
        stream = self._new_stream()
        stream.route_context = route_context(context.invocation_metadata())

        async def extend_deadline(seconds: float) -> None:
            await context.write(deadline_extension(seconds))

        stream.extend_deadline = extend_deadline
        # Envoy sends the request headers as soon as it opens a stream, and then a message per
        # phase it was asked for: a stream that stays silent is held for nothing (a peer that
        # opened streams and sent nothing, a client that never sends its body).
        watch = _IdleWatch()
        watch.arm(self._first_message_seconds)
        try:
            async for request in request_iterator:
                watch.disarm()  # the time spent deciding (an approval held) is not idle time
                if not await self._message(stream, request, context):
                    return
                watch.arm(self._idle_seconds)
        except asyncio.CancelledError:
            if not watch.fired:
                raise
            watch.uncancel()
            stream.idle_timeout(watch.seconds)
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "no ext_proc message in time")
        finally:
            watch.disarm()
            stream.close()

    async def _message(self, stream: StreamProcessor, request: Any, context: Any) -> bool:
        """Handle one message from Envoy; False when the stream ends with it."""
        if isinstance(request, UndecodableMessage):
            log.error("ext_proc_message_undecodable", size=request.size)
            await context.write(response_for("", stream.refuse_message(request.error())))
            return False
        try:
            kind, event = event_from_request(request)
        except ChaperoneError as exc:
            log.error("ext_proc_protocol_error", code=exc.code.value, error=exc.message)
            await context.write(response_for("", stream.refuse_message(exc)))
            return False
        except Exception as exc:
            error = internal_error("ext_proc_message_unreadable", exc, decision_id=stream.decision_id)
            await context.write(response_for("", stream.refuse_message(error)))
            return False
        try:
            action = await stream.handle(event)  # refuses (audited) on any failure
        except Exception as exc:  # only a failure of the refusal itself (the audit trail)
            internal_error("ext_proc_internal_error", exc, decision_id=stream.decision_id)
            await context.write(response_for("", _internal_reject(ErrorCode.INTERNAL_ERROR)))
            return False
        await context.write(response_for(kind, action))
        # Envoy ends the HTTP request after an immediate response.
        return not isinstance(action, Reject)


class _IdleWatch:
    """Cancels the stream's task when no message came in time: one timer per wait, about a
    microsecond, where wrapping each read in ``asyncio.wait_for`` would make a task per message."""

    def __init__(self) -> None:
        self._task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self.seconds = 0.0
        self.fired = False

    def arm(self, seconds: float) -> None:
        self.seconds = seconds
        self._handle = self._loop.call_later(seconds, self._fire)

    def disarm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def uncancel(self) -> None:
        if self._task is not None:
            self._task.uncancel()

    def _fire(self) -> None:
        self.fired = True
        if self._task is not None:
            self._task.cancel()


def route_context(metadata: Any) -> dict[str, str] | None:
    """The context extensions of a route that ext_proc decides alone, from the gRPC metadata
    Envoy's per-route config puts on the stream (envoy_bootstrap/filters.py); None elsewhere."""
    context = {
        key[len(ROUTE_CONTEXT_PREFIX) :]: value
        for key, value in metadata or ()
        if key.startswith(ROUTE_CONTEXT_PREFIX) and isinstance(value, str)
    }
    return context or None


def _internal_reject(code: ErrorCode) -> Reject:
    body = b'{"error":{"code":"' + code.value.encode() + b'"}}'
    return Reject(
        status=500, headers=(("content-type", "application/json"),), body=body, details=f"chaperone_{code}"
    )
