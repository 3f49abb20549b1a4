"""Envoy ext_proc protobuf <-> the stream's domain events and actions.

The only module of the ext_proc path that knows the wire types. Responses that carry no change
are built once and reused: they are the common case and protobuf construction is not free.
"""

from __future__ import annotations

import datetime
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.type.v3 import http_status_pb2

from ext_proc.enforcement.handoff import read_handoff
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.policy.decision import BodyMode, Inspection, parse_inspection
from ext_proc.processing.events import (
    Action,
    BodyEvent,
    CheckSummary,
    Continue,
    Direction,
    Event,
    HeaderChanges,
    Headers,
    HeadersEvent,
    ProcessingMode,
    Reject,
    TrailersEvent,
)
from ext_proc.protoconv import dict_to_struct, struct_to_dict, value_to_python

# Where the ext_authz filter puts its dynamic metadata, the decision id at its top level (as
# opa-envoy-plugin puts it), and the key under which our ext_authz servicer leaves the rest of
# the decision for ext_proc (see authz/response.py).
AUTHZ_NAMESPACE = "envoy.filters.http.ext_authz"
DECISION_ID_KEY = "decision_id"
# On a route ext_proc decides alone, the route's context extensions come as gRPC metadata of the
# stream, each under this prefix (envoy_bootstrap/filters.py writes them).
ROUTE_CONTEXT_PREFIX = "x-chaperone-route-"
CHECK_METADATA_KEY = "chaperone"
# The route's ext_authz context extensions, beside the decision id (input.attributes.contextExtensions).
CONTEXT_EXTENSIONS_KEY = "context_extensions"
SENSITIVE_DATA_KEY = "sensitive_data"
# Where Envoy puts the request attributes listed in the filter's `request_attributes`.
ATTRIBUTES_NAMESPACE = "envoy.filters.http.ext_proc"

_MODE = processing_mode_pb2.ProcessingMode
_BODY_MODES = {
    BodyMode.NONE: _MODE.NONE,
    # BUFFERED stalls when a body over the buffer limit arrives while the headers are decided;
    # BUFFERED_PARTIAL sends what fits and the stream refuses an incomplete body (stream.py).
    BodyMode.BUFFERED: _MODE.BUFFERED_PARTIAL,
    BodyMode.STREAMED: _MODE.STREAMED,
}
# A request body is read in BUFFERED mode: only there does Envoy apply the header changes of a
# body phase (DESIGN §4), so a body that changes gets its new content-length and one that does
# not keeps its framing (BUFFERED_PARTIAL refuses the new length with a 500, and the old way,
# dropping content-length at the headers, turned every inspected body into a chunked one).
# Its stall is avoided at the headers: a declared length over the limit is refused there
# (stream.py), and Envoy answers 413 itself to a chunked body over its buffer limit.
_REQUEST_BODY_MODES = {**_BODY_MODES, BodyMode.BUFFERED: _MODE.BUFFERED}
_OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD

_UNCHANGED = {
    "request_headers": pb.ProcessingResponse(request_headers=pb.HeadersResponse()),
    "response_headers": pb.ProcessingResponse(response_headers=pb.HeadersResponse()),
    "request_body": pb.ProcessingResponse(request_body=pb.BodyResponse()),
    "response_body": pb.ProcessingResponse(response_body=pb.BodyResponse()),
    "request_trailers": pb.ProcessingResponse(request_trailers=pb.TrailersResponse()),
    "response_trailers": pb.ProcessingResponse(response_trailers=pb.TrailersResponse()),
}


# -- requests -----------------------------------------------------------------------------


def event_from_request(request: Any) -> tuple[str, Event]:
    """The message kind (the oneof name, which also names the response) and its event."""
    kind = request.WhichOneof("request")
    if kind == "request_headers":
        message = request.request_headers
        return kind, HeadersEvent(
            Direction.REQUEST,
            header_map_to_dict(message.headers),
            message.end_of_stream,
            check=_check_summary(request),
            attributes=_attributes(request),
        )
    if kind == "response_headers":
        message = request.response_headers
        return kind, HeadersEvent(
            Direction.RESPONSE, header_map_to_dict(message.headers), message.end_of_stream
        )
    if kind in ("request_body", "response_body"):
        message = getattr(request, kind)
        direction = Direction.REQUEST if kind == "request_body" else Direction.RESPONSE
        return kind, BodyEvent(direction, message.body, message.end_of_stream)
    if kind in ("request_trailers", "response_trailers"):
        direction = Direction.REQUEST if kind == "request_trailers" else Direction.RESPONSE
        return kind, TrailersEvent(direction)
    raise ChaperoneError(ErrorCode.PROTOCOL_ERROR, f"unexpected ext_proc message {kind!r}", http_status=500)


def header_map_to_dict(header_map: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for header in header_map.headers:
        value = _header_value(header)
        key = header.key.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return headers


def _header_value(header: Any) -> str:
    # Envoy sends raw_value (bytes) by default; value only under an old runtime flag.
    if not header.raw_value:
        return str(header.value)
    raw: bytes = header.raw_value
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # lossless: every byte maps to one code point


def _check_summary(request: Any) -> CheckSummary | None:
    namespaces = request.metadata_context.filter_metadata
    if AUTHZ_NAMESPACE not in namespaces:
        return None
    fields = namespaces[AUTHZ_NAMESPACE].fields
    if CHECK_METADATA_KEY not in fields:
        return None
    summary = value_to_python(fields[CHECK_METADATA_KEY])
    decision_id = value_to_python(fields[DECISION_ID_KEY]) if DECISION_ID_KEY in fields else None
    if not isinstance(summary, dict) or not isinstance(decision_id, str):
        raise ChaperoneError(
            ErrorCode.PROTOCOL_ERROR, "the ext_authz metadata for Chaperone is malformed", http_status=500
        )
    inspect: Inspection = parse_inspection(summary.get("inspect"))
    extensions = summary.get(CONTEXT_EXTENSIONS_KEY, {})
    if not isinstance(extensions, dict) or not all(isinstance(v, str) for v in extensions.values()):
        raise ChaperoneError(
            ErrorCode.PROTOCOL_ERROR, "the ext_authz context extensions are malformed", http_status=500
        )
    table = summary.get(SENSITIVE_DATA_KEY)
    if table is not None and (
        not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values())
    ):
        raise ChaperoneError(
            ErrorCode.PROTOCOL_ERROR, "the ext_authz sensitive-data table is malformed", http_status=500
        )
    return CheckSummary(
        decision_id=decision_id,
        inspect=inspect,
        context_extensions=extensions,
        sensitive_data=table,
        handoff=read_handoff(summary),
    )


def _attributes(request: Any) -> dict[str, Any]:
    if ATTRIBUTES_NAMESPACE not in request.attributes:
        return {}
    return struct_to_dict(request.attributes[ATTRIBUTES_NAMESPACE])


# -- responses ----------------------------------------------------------------------------


def deadline_extension(seconds: float) -> Any:
    """A message that only moves Envoy's deadline for the current message (up to the filter's
    max_message_timeout): sent before a wait, such as a call held for approval."""
    response = pb.ProcessingResponse()
    response.override_message_timeout.FromTimedelta(datetime.timedelta(seconds=seconds))
    return response


def response_for(kind: str, action: Action) -> Any:
    if isinstance(action, Reject):
        return pb.ProcessingResponse(immediate_response=_immediate(action))
    if action == _NO_CHANGE:
        return _UNCHANGED[kind]
    return _continue(kind, action)


_NO_CHANGE = Continue()


def _continue(kind: str, action: Continue) -> Any:
    response = pb.ProcessingResponse()
    if kind.endswith("_trailers"):
        getattr(response, kind).SetInParent()
    else:
        common = pb.CommonResponse()
        if action.headers:
            common.header_mutation.CopyFrom(_header_mutation(action.headers))
        if action.body is not None:
            common.body_mutation.body = action.body
        target = getattr(response, kind)
        target.response.CopyFrom(common)
    if action.mode is not None:
        response.mode_override.CopyFrom(_processing_mode(action.mode))
    if action.dynamic_metadata:
        response.dynamic_metadata.CopyFrom(dict_to_struct(action.dynamic_metadata))
    return response


def _header_mutation(changes: HeaderChanges) -> Any:
    return pb.HeaderMutation(set_headers=_header_options(changes.set), remove_headers=list(changes.remove))


def _header_options(headers: Headers) -> list[Any]:
    return [
        base_pb2.HeaderValueOption(
            header=base_pb2.HeaderValue(key=key, raw_value=value.encode("utf-8")), append_action=_OVERWRITE
        )
        for key, value in headers
    ]


def _processing_mode(mode: ProcessingMode) -> Any:
    return _MODE(
        request_header_mode=_MODE.SEND,
        response_header_mode=_MODE.SEND if mode.response_headers else _MODE.SKIP,
        request_body_mode=_REQUEST_BODY_MODES[mode.request_body],
        response_body_mode=_BODY_MODES[mode.response_body],
        request_trailer_mode=_MODE.SEND if mode.request_trailers else _MODE.SKIP,
        response_trailer_mode=_MODE.SEND if mode.response_trailers else _MODE.SKIP,
    )


def _immediate(reject: Reject) -> Any:
    return pb.ImmediateResponse(
        status=http_status_pb2.HttpStatus(code=reject.status),
        headers=pb.HeaderMutation(set_headers=_header_options(reject.headers)),
        body=reject.body,
        details=reject.details,
    )
