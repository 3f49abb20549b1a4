"""The Envoy services registered on the gRPC server with deserializers that never fail the RPC.

gRPC turns a message that does not decode (protobuf nesting beyond its limit of 100, in metadata
structs for example) into an UNKNOWN status before any servicer code runs: no log line, no
audit event, a detail string that quotes the decoder's error to Envoy. Here such a message is
handed to the servicer as an ``UndecodableMessage``, which refuses it like any other bad input
(``request_parse_error``), logged and audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from envoy.service.auth.v3 import external_auth_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2
from google.protobuf.message import DecodeError

from ext_proc.errors import ChaperoneError, ErrorCode

AUTHZ_SERVICE = "envoy.service.auth.v3.Authorization"
EXTPROC_SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor"


@dataclass(frozen=True, slots=True)
class UndecodableMessage:
    """A request message that protobuf could not decode."""

    type_name: str
    size: int

    def error(self) -> ChaperoneError:
        return ChaperoneError(
            ErrorCode.REQUEST_PARSE_ERROR,
            f"a {self.type_name} message of {self.size} bytes could not be decoded",
            http_status=400,
        )


def tolerant_parser(message_type: Any) -> Callable[[bytes], Any]:
    name = message_type.DESCRIPTOR.name
    parse = message_type.FromString

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except DecodeError:
            return UndecodableMessage(name, len(data))

    return deserialize


def add_authorization_service(servicer: Any, server: Any) -> None:
    handlers = {
        "Check": grpc.unary_unary_rpc_method_handler(
            servicer.Check,
            request_deserializer=tolerant_parser(external_auth_pb2.CheckRequest),
            response_serializer=external_auth_pb2.CheckResponse.SerializeToString,
        )
    }
    _register(server, AUTHZ_SERVICE, handlers)


def add_external_processor_service(servicer: Any, server: Any) -> None:
    handlers = {
        "Process": grpc.stream_stream_rpc_method_handler(
            servicer.Process,
            request_deserializer=tolerant_parser(external_processor_pb2.ProcessingRequest),
            response_serializer=external_processor_pb2.ProcessingResponse.SerializeToString,
        )
    }
    _register(server, EXTPROC_SERVICE, handlers)


def _register(server: Any, service: str, handlers: dict[str, Any]) -> None:
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    server.add_registered_method_handlers(service, handlers)
