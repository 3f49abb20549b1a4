"""Fuzz targets: every parser of untrusted input, each a function of bytes.

A target may refuse its input with a ``ChaperoneError`` (the documented fail-closed answer: a
stable code and a status); any other exception is a crash. Inputs arrive whole and also cut at
split points taken from the input itself, since Envoy's chunks fall anywhere. The last target,
``exchange``, drives a whole request and response through the ext_proc stream object (no gRPC):
protocol recognition, the strict JSON parser, the policy input, the Rego engine, the response
relays and the codecs together; there a crash is a refusal with ``internal_error``.

Used by ``make fuzz`` (tests/fuzz/run.py, coverage-guided, a million inputs and more) and by a
short run in ``make test`` (tests/unit/test_fuzz_targets.py).
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import brotli
from envoy.service.auth.v3 import external_auth_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2
from google.protobuf.message import DecodeError

from ext_proc import strict_json
from ext_proc.audit import AuditLog
from ext_proc.config import ApprovalsConfig, Config
from ext_proc.enforcement.components import Enforcement
from ext_proc.errors import ChaperoneError
from ext_proc.inspection.llm_json import read_llm_json
from ext_proc.inspection.llm_stream import LlmStreamRelay, PendingEvent
from ext_proc.inspection.request import inspect_request
from ext_proc.policy.bundle import load_bundle
from ext_proc.policy.evaluator import Evaluator
from ext_proc.policy.regorus_engine import RegorusEngine
from ext_proc.policy_input.check import check_input
from ext_proc.policy_input.http import parse_body, parse_path_and_query
from ext_proc.processing.codecs import decoder_for
from ext_proc.processing.events import BodyEvent, Continue, Direction, HeadersEvent, Reject
from ext_proc.processing.protocol import event_from_request
from ext_proc.processing.stream import StreamProcessor, StreamSettings
from ext_proc.protocols import a2a, jsonrpc, mcp
from ext_proc.protocols.a2a_results import parse_event_data
from ext_proc.protocols.llm.model import PROVIDERS
from ext_proc.protocols.llm.parse import parse_request, parse_response
from ext_proc.protocols.sse import SseParser
from ext_proc.scanning import Scanner, default_scanner
from ext_proc.scanning.actions import ActionTable
from tests.harness import ROOT

Target = Callable[[bytes], None]


def splits(data: bytes) -> Iterator[bytes]:
    """The input cut into pieces at offsets taken from its own first bytes."""
    if not data:
        yield data
        return
    cuts = sorted({b % (len(data) + 1) for b in data[:3]})
    start = 0
    for cut in cuts:
        yield data[start:cut]
        start = cut
    yield data[start:]


def refused(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except ChaperoneError:
        return None


# -- parsers, one by one ----------------------------------------------------------------------


def sse(data: bytes) -> None:
    for strict in (True, False):
        parser = SseParser(strict=strict)
        try:
            for piece in splits(data):
                parser.feed(piece)
            parser.close()
        except ChaperoneError:
            pass


def json_body(data: bytes) -> None:
    value = refused(lambda: strict_json.loads(data))
    if value is not None:
        strict_json.dumps(value)  # what was accepted can be written back


def jsonrpc_messages(data: bytes) -> None:
    body = refused(lambda: jsonrpc.loads(data))
    if body is None:
        return
    value = refused(lambda: strict_json.loads(data))
    refused(lambda: mcp.parse_request_body(value))
    refused(lambda: a2a.parse_request_body(value))
    refused(lambda: parse_event_data(data.decode("utf-8", "replace")))


def llm_requests(data: bytes) -> None:
    for provider in PROVIDERS:
        refused(lambda p=provider: parse_request(p, data))  # type: ignore[misc]


def llm_responses(data: bytes) -> None:
    for provider in PROVIDERS:
        refused(lambda p=provider: parse_response(p, data))  # type: ignore[misc]
        refused(lambda p=provider: read_llm_json(p, data))  # type: ignore[misc]


def llm_streams(data: bytes) -> None:
    for provider in PROVIDERS:
        relay = LlmStreamRelay(provider, ActionTable(), scanner=_scanner())
        try:
            for piece in splits(data):
                for out in relay.feed_events(piece):
                    if isinstance(out, PendingEvent):  # an event with injection signals
                        out.resolve(None)
            relay.finish()
        except ChaperoneError:
            pass


@cache
def _scanner() -> Scanner:
    return default_scanner()


REQUEST_ROUTES = (
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/responses"),
    ("POST", "/v1/messages"),
    ("POST", "/mcp"),
    ("POST", "/a2a"),
    ("POST", "/echo/x"),
)
CONTENT_TYPES = (
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "text/event-stream",
    "",
)


def request_inspection(data: bytes) -> None:
    selector = data[0] if data else 0
    method, path = REQUEST_ROUTES[selector % len(REQUEST_ROUTES)]
    content_type = CONTENT_TYPES[(selector >> 4) % len(CONTENT_TYPES)]
    headers = {"content-type": content_type} if content_type else {}
    body = data[1:]
    refused(lambda: inspect_request(method, path, headers, body))
    refused(lambda: parse_body(content_type, body))


def http_path(data: bytes) -> None:
    refused(lambda: parse_path_and_query(data.decode("utf-8", "replace")))


def check_request(data: bytes) -> None:
    """The policy input of an ext_authz Check, from whatever protobuf the bytes decode to."""
    try:
        request = external_auth_pb2.CheckRequest.FromString(data)
    except DecodeError:
        return
    refused(lambda: check_input(request))


def ext_proc_message(data: bytes) -> None:
    try:
        request = external_processor_pb2.ProcessingRequest.FromString(data)
    except DecodeError:
        return
    refused(lambda: event_from_request(request))


CODINGS = ("gzip", "deflate", "br", "gzip, br", "identity")


def codecs(data: bytes) -> None:
    """Each decoder on the input as such and on a valid encoding of it cut short or altered."""
    encoded = {
        "gzip": gzip.compress(data, compresslevel=1),
        "deflate": zlib.compress(data, 1),
        "br": brotli.compress(data, quality=1),
    }
    for coding in CODINGS:
        for payload in (data, encoded.get(coding, data), encoded.get(coding, data)[: len(data) // 2]):
            decoder = refused(lambda c=coding: decoder_for(c, max_output=1 << 20))  # type: ignore[misc]
            if decoder is None:
                continue
            try:
                for piece in splits(payload):
                    decoder.decode(piece)
                decoder.finish()
            except ChaperoneError:
                pass


# -- a whole exchange through the ext_proc stream object --------------------------------------

RESPONSE_TYPES = ("text/event-stream", "application/json", "text/plain", "")


class CrashError(Exception):
    """The stream refused with internal_error: an unexpected exception inside the service."""


@cache
def _exchange_parts() -> tuple[Evaluator, AuditLog, StreamSettings, Enforcement, asyncio.AbstractEventLoop]:
    engine = RegorusEngine(load_bundle(ROOT / "policies"), "envoy/authz/allow")
    # Approvals in retry mode: a call that needs one is refused at once, never held.
    config = Config(approvals=ApprovalsConfig(mode="retry"))
    return (
        Evaluator(engine),
        AuditLog([]),
        StreamSettings(),
        Enforcement.build(config),
        asyncio.new_event_loop(),
    )


def exchange(data: bytes) -> None:
    """Byte 0 picks the route and the response's type, byte 1 the content-encodings, byte 2 where
    the request body ends and the response body begins."""
    evaluator, audit, settings, enforcement, loop = _exchange_parts()
    loop.run_until_complete(
        _exchange(data, StreamProcessor(evaluator, audit, settings, enforcement=enforcement))
    )


async def _exchange(data: bytes, stream: StreamProcessor) -> None:
    data = data + b"\0\0\0"
    method, path = REQUEST_ROUTES[data[0] % len(REQUEST_ROUTES)]
    response_type = RESPONSE_TYPES[(data[0] >> 4) % len(RESPONSE_TYPES)]
    request_coding = CODINGS[data[1] % len(CODINGS)] if data[1] & 0x80 else None
    middle = 3 + data[2] * max(1, len(data) - 3) // 256
    request_body, response_body = data[3:middle], data[middle:]
    headers = {":method": method, ":path": path, ":authority": "fuzz", "content-type": "application/json"}
    if request_coding is not None:
        headers["content-encoding"] = request_coding
    action = await _step(stream, HeadersEvent(Direction.REQUEST, headers, end_of_stream=False))
    mode = action.mode if isinstance(action, Continue) else None
    if mode is None or isinstance(action, Reject):
        return
    if not await _body(stream, Direction.REQUEST, request_body, mode.request_body.value):
        return
    response_headers = {":status": "200"}
    if response_type:
        response_headers["content-type"] = response_type
    action = await _step(stream, HeadersEvent(Direction.RESPONSE, response_headers, end_of_stream=False))
    if isinstance(action, Continue) and action.mode is not None:
        await _body(stream, Direction.RESPONSE, response_body, action.mode.response_body.value)
    stream.close()


async def _body(stream: StreamProcessor, direction: Direction, body: bytes, mode: str) -> bool:
    """As Envoy sends it: whole when buffered, in pieces when streamed; False on a refusal."""
    pieces = [body] if mode == "buffered" else list(splits(body))
    for index, piece in enumerate(pieces):
        action = await _step(stream, BodyEvent(direction, piece, end_of_stream=index == len(pieces) - 1))
        if isinstance(action, Reject):
            return False
    return mode != "none"


async def _step(stream: StreamProcessor, event: HeadersEvent | BodyEvent) -> Any:
    action = await stream.handle(event)
    if isinstance(action, Reject) and action.details == "chaperone_internal_error":
        raise CrashError(f"{event.__class__.__name__} {event.direction.value}: internal_error")
    return action


TARGETS: dict[str, Target] = {
    "sse": sse,
    "json_body": json_body,
    "jsonrpc": jsonrpc_messages,
    "llm_requests": llm_requests,
    "llm_responses": llm_responses,
    "llm_streams": llm_streams,
    "request_inspection": request_inspection,
    "http_path": http_path,
    "check_request": check_request,
    "ext_proc_message": ext_proc_message,
    "codecs": codecs,
    "exchange": exchange,
}
