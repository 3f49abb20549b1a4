"""The ExternalProcessor gRPC servicer: receive, dispatch to the stream object, send.

Thin on purpose: all decisions live in stream.py; this loop only converts messages and makes
sure an unexpected failure ends the HTTP request with a deny rather than an open stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc

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
    def __init__(self, new_stream: Callable[[], StreamProcessor]) -> None:
        self._new_stream = new_stream

    async def Process(self, request_iterator: AsyncIterator[Any], context: Any) -> None:  # noqa: N802 (gRPC name)
        # Responses are written with context.write rather than yielded, so that a stream that
        # waits (a call held for approval) can first extend Envoy's deadline for the message.
        stream = self._new_stream()
        stream.route_context = route_context(context.invocation_metadata())

        async def extend_deadline(seconds: float) -> None:
            await context.write(deadline_extension(seconds))

        stream.extend_deadline = extend_deadline
        try:
            async for request in request_iterator:
                if isinstance(request, UndecodableMessage):
                    log.error("ext_proc_message_undecodable", size=request.size)
                    await context.write(response_for("", stream.refuse_message(request.error())))
                    return
                try:
                    kind, event = event_from_request(request)
                except ChaperoneError as exc:
                    log.error("ext_proc_protocol_error", code=exc.code.value, error=exc.message)
                    await context.write(response_for("", stream.refuse_message(exc)))
                    return
                except Exception as exc:
                    error = internal_error("ext_proc_message_unreadable", exc, decision_id=stream.decision_id)
                    await context.write(response_for("", stream.refuse_message(error)))
                    return
                try:
                    action = await stream.handle(event)  # refuses (audited) on any failure
                except Exception as exc:  # only a failure of the refusal itself (the audit trail)
                    internal_error("ext_proc_internal_error", exc, decision_id=stream.decision_id)
                    await context.write(response_for("", _internal_reject(ErrorCode.INTERNAL_ERROR)))
                    return
                await context.write(response_for(kind, action))
                if isinstance(action, Reject):
                    return  # Envoy ends the HTTP request after an immediate response
        finally:
            stream.close()


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
