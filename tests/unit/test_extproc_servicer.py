"""ExternalProcessor/Process over a real grpc.aio server: the message loop and its replies."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc

from ext_proc.audit import AuditLog
from ext_proc.audit.sinks import StreamSink
from ext_proc.authz.response import allowed_response
from ext_proc.policy.bundle import load_bundle
from ext_proc.policy.decision import parse_decision
from ext_proc.policy.evaluator import Evaluator
from ext_proc.policy.regorus_engine import RegorusEngine
from ext_proc.processing.events import HeadersEvent
from ext_proc.processing.protocol import event_from_request
from ext_proc.processing.servicer import ExternalProcessorServicer
from ext_proc.processing.stream import StreamProcessor, StreamSettings
from ext_proc.protoconv import dict_to_struct
from tests.unit.audit.helpers import events

FIXTURES = Path(__file__).parents[1] / "fixtures"
MODE = processing_mode_pb2.ProcessingMode


@pytest.fixture(scope="module")
def servicer() -> ExternalProcessorServicer:
    engine = RegorusEngine(load_bundle(FIXTURES / "policies" / "rewrite"), "envoy/authz/allow")
    evaluator, audit = Evaluator(engine), AuditLog()
    return ExternalProcessorServicer(lambda: StreamProcessor(evaluator, audit, StreamSettings()))


@pytest.fixture
async def stub(grpc_channel_for: Any, servicer: ExternalProcessorServicer) -> Any:
    channel = await grpc_channel_for(
        external_processor_pb2_grpc.add_ExternalProcessorServicer_to_server, servicer
    )
    return external_processor_pb2_grpc.ExternalProcessorStub(channel)


async def process(stub: Any, messages: list[Any]) -> list[Any]:
    return [reply async for reply in stub.Process(iter(messages))]


def header_map(headers: dict[str, str]) -> Any:
    return base_pb2.HeaderMap(
        headers=[base_pb2.HeaderValue(key=k, raw_value=v.encode()) for k, v in headers.items()]
    )


def request_headers(
    path: str, method: str = "POST", eos: bool = False, authz: dict[str, Any] | None = None
) -> Any:
    message = pb.ProcessingRequest(
        request_headers=pb.HttpHeaders(
            headers=header_map(
                {":method": method, ":path": path, ":authority": "h", "content-type": "text/plain"}
            ),
            end_of_stream=eos,
        )
    )
    if authz is not None:
        hand_off = dict(authz)
        decision_id = hand_off.pop("decision_id")
        message.metadata_context.filter_metadata["envoy.filters.http.ext_authz"].CopyFrom(
            dict_to_struct({"decision_id": decision_id, "chaperone": hand_off})
        )
    return message


async def test_streamed_request_body_is_rewritten_chunk_by_chunk(stub: Any) -> None:
    messages = [
        request_headers("/stream/chunks"),
        pb.ProcessingRequest(request_body=pb.HttpBody(body="héllo ".encode()[:2], end_of_stream=False)),
        pb.ProcessingRequest(request_body=pb.HttpBody(body="héllo ".encode()[2:], end_of_stream=False)),
        pb.ProcessingRequest(request_body=pb.HttpBody(body=b"world", end_of_stream=True)),
    ]
    replies = await process(stub, messages)
    assert len(replies) == 4
    mode = replies[0].mode_override
    assert (mode.request_body_mode, mode.response_body_mode) == (MODE.STREAMED, MODE.STREAMED)
    assert "content-length" in replies[0].request_headers.response.header_mutation.remove_headers
    bodies = [r.request_body.response.body_mutation.body for r in replies[1:]]
    assert b"".join(bodies).decode() == "HÉLLO WORLD"


async def test_ext_authz_metadata_skips_the_header_decision(stub: Any) -> None:
    inspect = {"request_body": "none", "response_headers": False, "response_body": "none"}
    replies = await process(
        stub, [request_headers("/deny/custom", eos=True, authz={"decision_id": "x", "inspect": inspect})]
    )
    assert replies[0].WhichOneof("response") == "request_headers", "ext_authz already allowed it"
    assert not replies[0].HasField("mode_override")


async def test_deny_is_an_immediate_response_and_ends_the_stream(stub: Any) -> None:
    messages = [request_headers("/deny/custom", method="GET", eos=True), request_headers("/never")]
    replies = await process(stub, messages)
    assert len(replies) == 1
    immediate = replies[0].immediate_response
    assert immediate.status.code == 402
    assert immediate.body == b"short and stout"
    assert {h.header.key: h.header.raw_value for h in immediate.headers.set_headers}[
        "x-deny-reason"
    ] == b"teapot"


async def test_malformed_hand_off_metadata_fails_closed(stub: Any) -> None:
    replies = await process(stub, [request_headers("/echo/plain", authz={"decision_id": 7})])
    assert replies[0].immediate_response.status.code == 500
    assert b"protocol_error" in replies[0].immediate_response.body


def test_context_extensions_travel_from_the_check_to_ext_proc() -> None:
    decision = parse_decision({"allowed": True, "inspect": {"request_body": "streamed"}})
    check = allowed_response(decision, "d-1", {"upstream": "openai"})
    message = request_headers("/x")
    message.metadata_context.filter_metadata["envoy.filters.http.ext_authz"].CopyFrom(check.dynamic_metadata)
    _, event = event_from_request(message)
    assert isinstance(event, HeadersEvent) and event.check is not None
    assert (event.check.decision_id, event.check.context_extensions) == ("d-1", {"upstream": "openai"})


async def test_malformed_context_extensions_fail_closed(stub: Any) -> None:
    inspect = {"request_body": "none", "response_headers": False, "response_body": "none"}
    authz = {"decision_id": "x", "inspect": inspect, "context_extensions": {"upstream": 7}}
    replies = await process(stub, [request_headers("/echo/plain", authz=authz)])
    assert replies[0].immediate_response.status.code == 500


async def test_a_stream_that_stays_silent_is_ended(grpc_channel_for: Any) -> None:
    engine = RegorusEngine(load_bundle(FIXTURES / "policies" / "rewrite"), "envoy/authz/allow")
    log = io.BytesIO()
    audit = AuditLog([StreamSink(log)])
    servicer = ExternalProcessorServicer(
        lambda: StreamProcessor(Evaluator(engine), audit, StreamSettings()),
        first_message_seconds=0.2,
        idle_seconds=0.3,
    )
    channel = await grpc_channel_for(
        external_processor_pb2_grpc.add_ExternalProcessorServicer_to_server, servicer
    )
    stub = external_processor_pb2_grpc.ExternalProcessorStub(channel)
    silent = stub.Process()  # opened, nothing sent
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await asyncio.wait_for(silent.read(), 5)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # After the headers (answered), nothing more: ended after the idle time, and audited.
    started = stub.Process()
    await started.write(request_headers("/stream/chunks", eos=False))
    assert (await started.read()).HasField("request_headers")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await asyncio.wait_for(started.read(), 5)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    idle = [e for e in events(log.getvalue()) if e["event"] == "stream_idle_timeout"]
    assert len(idle) == 1 and idle[0]["seconds"] == 0.3 and idle[0]["path"] == "/stream/chunks"
