"""The per-stream state machine, driven with domain events and the real embedded engine."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import brotli
import orjson
import pytest

from ext_proc.audit import AuditLog
from ext_proc.enforcement.handoff import Handoff
from ext_proc.policy.bundle import load_bundle
from ext_proc.policy.decision import BodyMode, Inspection
from ext_proc.policy.evaluator import Evaluator
from ext_proc.policy.regorus_engine import RegorusEngine
from ext_proc.processing.events import (
    CONTINUE,
    BodyEvent,
    CheckSummary,
    Continue,
    Direction,
    HeadersEvent,
    ProcessingMode,
    Reject,
    TrailersEvent,
)
from ext_proc.processing.stream import StreamProcessor, StreamSettings

POLICY = """package envoy.authz

import rego.v1

default allow := {"allowed": false, "reasons": ["default"]}

path := input.attributes.request.http.path

allow := {"allowed": true, "headers": {"x-set": "1"}, "request_headers_to_remove": ["x-drop"],
	"response_headers_to_add": {"x-resp": "r"}} if {
	input.phase == "request_headers"
	path == "/headers"
}

allow := {"allowed": false, "http_status": 410, "body": "gone", "headers": {"x-why": "law"}} if {
	input.phase == "request_headers"
	path == "/blocked"
}

allow := {"allowed": true, "inspect": {"request_body": "buffered"}} if {
	input.phase == "request_headers"
	path == "/buffered"
}

allow := {"allowed": true, "replace_body": {"model": "pinned", "was": input.parsed_body.model}} if {
	input.phase == "request_body"
	path == "/buffered"
	input.parsed_body.model != "forbidden"
}

allow := {"allowed": false, "reasons": ["model"], "json_error": true} if {
	input.phase == "request_body"
	path == "/buffered"
	input.parsed_body.model == "forbidden"
}

allow := {"allowed": true, "replace_body": input.attributes.contextExtensions.upstream} if {
	input.phase == "request_body"
	path == "/context"
}

allow := {"allowed": true, "replace_body": upper(input.chunk.text)} if {
	input.phase in {"request_body", "response_body"}
	path == "/upper"
	not contains(input.chunk.text, "STOP")
}

allow := {"allowed": false, "reasons": ["stop word"]} if {
	input.phase == "response_body"
	contains(input.chunk.text, "STOP")
}

allow := {"allowed": true, "inspect": {"response_headers": true}} if {
	input.phase == "request_headers"
	path == "/late"
}

allow := {
	"allowed": true,
	"inspect": {"response_body": "streamed"},
	"response_headers_to_add": {"x-late": "1"},
} if {
	input.phase == "response_headers"
	input.response.status == 200
}

allow := {"allowed": false, "http_status": 502} if {
	input.phase == "response_headers"
	input.response.status >= 500
}

allow := true if {
	input.phase == "response_body"
	path == "/late"
}
"""


class RecordingAudit(AuditLog):
    def __init__(self) -> None:
        super().__init__()
        self.decisions: list[dict[str, Any]] = []
        self.events: list[tuple[str, dict[str, Any]]] = []

    def decision(self, **fields: Any) -> None:  # type: ignore[override]
        self.decisions.append(fields)

    def event(self, name: str, **fields: Any) -> None:
        self.events.append((name, fields))


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory: pytest.TempPathFactory) -> Evaluator:
    directory = tmp_path_factory.mktemp("policy")
    (directory / "policy.rego").write_text(POLICY)
    return Evaluator(RegorusEngine(load_bundle(directory), "envoy/authz/allow"))


@pytest.fixture
def audit() -> RecordingAudit:
    return RecordingAudit()


def stream(evaluator: Evaluator, audit: AuditLog, **settings: Any) -> StreamProcessor:
    return StreamProcessor(evaluator, audit, StreamSettings(**settings))


def request_headers(
    path: str, eos: bool = False, check: CheckSummary | None = None, **extra: str
) -> HeadersEvent:
    headers = {":method": "POST", ":path": path, ":authority": "api", ":scheme": "http", **extra}
    return HeadersEvent(Direction.REQUEST, headers, eos, check=check)


def response_headers(status: int = 200, eos: bool = False, **extra: str) -> HeadersEvent:
    return HeadersEvent(Direction.RESPONSE, {":status": str(status), **extra}, eos)


def body(data: bytes, eos: bool, direction: Direction = Direction.REQUEST) -> BodyEvent:
    return BodyEvent(direction, data, eos)


# -- request headers ------------------------------------------------------------------------------


async def test_ext_authz_verdict_is_reused_without_evaluating(
    evaluator: Evaluator, audit: RecordingAudit
) -> None:
    check = CheckSummary("from-authz", Inspection(response_body=BodyMode.STREAMED))
    processor = stream(evaluator, audit)
    action = await processor.handle(request_headers("/anything", True, check=check))
    assert isinstance(action, Continue)
    assert processor.decision_id == "from-authz"
    assert audit.decisions == []
    assert ("accept-encoding", "identity") in action.headers.set
    assert action.mode == ProcessingMode(
        response_headers=True, response_body=BodyMode.STREAMED, response_trailers=True
    )


async def test_nothing_to_inspect_means_no_mode_override(evaluator: Evaluator, audit: RecordingAudit) -> None:
    action = await stream(evaluator, audit).handle(
        request_headers("/x", True, check=CheckSummary("d", Inspection()))
    )
    assert action == CONTINUE


async def test_later_phases_have_what_the_check_saw(evaluator: Evaluator, audit: RecordingAudit) -> None:
    carried = {
        "request": {"time": "2026-12-04T10:00:00Z", "http": {"size": "16"}},
        "metadataContext": {},
        "source": {"address": {"socketAddress": {"address": "10.0.0.1"}}, "principal": "spiffe://a/b"},
    }
    check = CheckSummary("d", Inspection(request_body=BodyMode.BUFFERED), handoff=Handoff(attributes=carried))
    processor = stream(evaluator, audit)
    await processor.handle(request_headers("/buffered", check=check, **{"content-type": "application/json"}))
    document = processor.request_document
    attributes = document["attributes"]
    assert attributes["request"]["time"] == "2026-12-04T10:00:00Z"
    assert attributes["request"]["http"]["size"] == "16"
    assert attributes["request"]["http"]["method"] == "POST", "what ext_proc reads itself stays"
    assert attributes["metadataContext"] == {}
    assert attributes["source"]["principal"] == "spiffe://a/b"
    assert document["version"] == {"ext_authz": "v3", "ext_proc": "v3", "encoding": "protojson"}


async def test_an_undeclared_route_reads_a_body_to_find_what_it_is(
    evaluator: Evaluator, audit: RecordingAudit
) -> None:
    action = await stream(evaluator, audit).handle(
        request_headers("/x", check=CheckSummary("d", Inspection()), **{"content-type": "text/plain"})
    )
    assert isinstance(action, Continue) and action.mode is not None
    assert action.mode.request_body is BodyMode.BUFFERED
    assert "content-length" not in action.headers.remove, "a buffered body keeps its framing"


async def test_request_headers_are_decided_without_ext_authz(
    evaluator: Evaluator, audit: RecordingAudit
) -> None:
    processor = stream(evaluator, audit)
    action = await processor.handle(request_headers("/headers", True))
    assert isinstance(action, Continue)
    assert action.headers.set == (("x-set", "1"),)
    assert action.headers.remove == ("x-drop",)
    assert action.mode == ProcessingMode(response_headers=True), "to add the response header later"
    later = await processor.handle(response_headers(200, eos=True))
    assert isinstance(later, Continue) and later.headers.set == (("x-resp", "r"),)
    assert [d["phase"] for d in audit.decisions] == ["request_headers"]


async def test_request_headers_deny_is_an_immediate_response(
    evaluator: Evaluator, audit: RecordingAudit
) -> None:
    action = await stream(evaluator, audit).handle(request_headers("/blocked"))
    assert action == Reject(410, (("x-why", "law"),), b"gone", "chaperone_denied")
    assert audit.decisions[0]["status"] == 410


async def test_compressed_request_body_is_inspected_decoded(
    evaluator: Evaluator, audit: RecordingAudit
) -> None:
    processor = stream(evaluator, audit)
    headers = {"content-type": "application/json", "content-encoding": "br"}
    first = await processor.handle(request_headers("/buffered", **headers))
    assert isinstance(first, Continue) and "content-encoding" in first.headers.remove
    action = await processor.handle(body(brotli.compress(b'{"model": "gpt"}'), True))
    assert isinstance(action, Continue)
    assert orjson.loads(action.body or b"") == {"model": "pinned", "was": "gpt"}


async def test_unknown_request_encoding_is_refused(evaluator: Evaluator, audit: RecordingAudit) -> None:
    action = await stream(evaluator, audit).handle(
        request_headers("/buffered", **{"content-encoding": "zstd"})
    )
    assert isinstance(action, Reject) and action.status == 415
    assert orjson.loads(action.body)["error"]["code"] == "unsupported_content_encoding"


async def test_declared_length_over_the_limit_is_refused_at_the_headers(
    evaluator: Evaluator, audit: RecordingAudit
) -> None:
    action = await stream(evaluator, audit, max_body_bytes=10).handle(
        request_headers("/buffered", **{"content-length": "11"})
    )
    assert isinstance(action, Reject) and action.status == 413


# -- buffered bodies ------------------------------------------------------------------------------


async def buffered(
    evaluator: Evaluator, audit: AuditLog, data: bytes, eos: bool = True, **settings: Any
) -> Any:
    processor = stream(evaluator, audit, **settings)
    first = await processor.handle(request_headers("/buffered", **{"content-type": "application/json"}))
    assert isinstance(first, Continue)
    assert first.mode is not None and first.mode.request_body is BodyMode.BUFFERED
    assert "content-length" not in first.headers.remove, "an unchanged body keeps its framing"
    return await processor.handle(body(data, eos))


async def test_buffered_body_is_replaced(evaluator: Evaluator, audit: RecordingAudit) -> None:
    action = await buffered(evaluator, audit, b'{"model": "gpt"}')
    assert isinstance(action, Continue)
    assert orjson.loads(action.body or b"") == {"model": "pinned", "was": "gpt"}
    assert ("content-length", str(len(action.body or b""))) in action.headers.set


async def test_buffered_body_deny(evaluator: Evaluator, audit: RecordingAudit) -> None:
    action = await buffered(evaluator, audit, b'{"model": "forbidden"}')
    assert isinstance(action, Reject) and action.status == 403
    assert orjson.loads(action.body)["error"]["reasons"] == ["model"]


@pytest.mark.parametrize(
    ("data", "eos", "status", "code"),
    [
        (b'{"model": ', True, 400, "body_parse_error"),
        (b'{"model": "\xff"}', True, 400, "body_decode_error"),
        (b'{"model": "x"}', False, 413, "body_too_large"),
        (b'{"model": "' + b"x" * 64 + b'"}', True, 413, "body_too_large"),
    ],
)
async def test_bad_buffered_bodies_fail_closed(
    evaluator: Evaluator, audit: RecordingAudit, data: bytes, eos: bool, status: int, code: str
) -> None:
    action = await buffered(evaluator, audit, data, eos, max_body_bytes=40)
    assert isinstance(action, Reject)
    assert action.status == status
    assert orjson.loads(action.body)["error"]["code"] == code


# -- streamed bodies ------------------------------------------------------------------------------

TEXT = "stream ✓ with é and 𝄞 across chunks"


async def run_streamed(evaluator: Evaluator, audit: AuditLog, pieces: list[bytes]) -> list[bytes]:
    """Feed a streamed request body in pieces; return what each chunk becomes on the wire."""
    processor = stream(evaluator, audit)
    check = CheckSummary("d", Inspection(request_body=BodyMode.STREAMED))
    first = await processor.handle(request_headers("/upper", check=check))
    assert isinstance(first, Continue) and first.mode is not None
    assert first.mode.request_body is BodyMode.STREAMED and first.mode.request_trailers
    out = []
    for i, piece in enumerate(pieces):
        action = await processor.handle(body(piece, i == len(pieces) - 1))
        assert isinstance(action, Continue)
        out.append(piece if action.body is None else action.body)
    processor.close()
    return out


@pytest.mark.parametrize("split", range(len(TEXT.encode()) + 1))
async def test_streamed_rewrite_at_every_split_point(
    evaluator: Evaluator, audit: RecordingAudit, split: int
) -> None:
    data = TEXT.encode()
    out = await run_streamed(evaluator, audit, [data[:split], data[split:]])
    assert b"".join(out).decode() == TEXT.upper()
    for chunk in out:
        chunk.decode()  # every chunk on the wire holds whole characters only


async def test_streamed_one_byte_at_a_time(evaluator: Evaluator, audit: RecordingAudit) -> None:
    data = TEXT.encode()
    out = await run_streamed(evaluator, audit, [data[i : i + 1] for i in range(len(data))])
    assert b"".join(out).decode() == TEXT.upper()
    summary = next(fields for name, fields in audit.events if name == "stream_summary")
    assert summary["chunk_decisions"] == len(data)


async def test_streamed_response_deny_mid_stream(evaluator: Evaluator, audit: RecordingAudit) -> None:
    processor = stream(evaluator, audit)
    check = CheckSummary("d", Inspection(response_body=BodyMode.STREAMED))
    await processor.handle(request_headers("/upper", eos=True, check=check))
    headers = await processor.handle(response_headers(200, **{"content-length": "99"}))
    assert isinstance(headers, Continue) and headers.headers.remove == ("content-length",)
    ok = await processor.handle(body(b"fine ", False, Direction.RESPONSE))
    assert isinstance(ok, Continue) and ok.body == b"FINE "
    stop = await processor.handle(body(b"then STOP", False, Direction.RESPONSE))
    assert isinstance(stop, Reject)
    assert audit.decisions[-1]["phase"] == "response_body"


async def test_trailers_end_the_stream_and_catch_a_dangling_character(
    evaluator: Evaluator, audit: RecordingAudit
) -> None:
    processor = stream(evaluator, audit)
    check = CheckSummary("d", Inspection(request_body=BodyMode.STREAMED))
    await processor.handle(request_headers("/upper", check=check))
    await processor.handle(body("é".encode()[:1], False))
    action = await processor.handle(TrailersEvent(Direction.REQUEST))
    assert isinstance(action, Reject) and action.status == 400


async def test_body_phases_nobody_asked_for_pass_untouched(
    evaluator: Evaluator, audit: RecordingAudit
) -> None:
    processor = stream(evaluator, audit)
    await processor.handle(request_headers("/x", check=CheckSummary("d", Inspection())))
    assert await processor.handle(body(b"\xff\xfe binary", True)) == CONTINUE
    assert await processor.handle(TrailersEvent(Direction.RESPONSE)) == CONTINUE


# -- response headers -----------------------------------------------------------------------------


async def test_response_headers_decision_can_switch_on_the_response_body(
    evaluator: Evaluator, audit: RecordingAudit
) -> None:
    processor = stream(evaluator, audit)
    first = await processor.handle(request_headers("/late", eos=True))
    assert isinstance(first, Continue) and first.mode == ProcessingMode(response_headers=True)
    action = await processor.handle(response_headers(200))
    assert isinstance(action, Continue)
    assert ("x-late", "1") in action.headers.set
    assert action.mode == ProcessingMode(
        response_headers=True, response_body=BodyMode.STREAMED, response_trailers=True
    )
    assert await processor.handle(body(b"text", True, Direction.RESPONSE)) == CONTINUE


async def test_response_headers_decision_can_replace_the_response(
    evaluator: Evaluator, audit: RecordingAudit
) -> None:
    processor = stream(evaluator, audit)
    await processor.handle(request_headers("/late", eos=True))
    action = await processor.handle(response_headers(503))
    assert isinstance(action, Reject) and action.status == 502


async def test_compressed_streamed_response_is_forwarded_decoded(
    evaluator: Evaluator, audit: RecordingAudit
) -> None:
    processor = stream(evaluator, audit)
    check = CheckSummary("d", Inspection(response_body=BodyMode.STREAMED))
    await processor.handle(request_headers("/upper", eos=True, check=check))
    headers = await processor.handle(response_headers(200, **{"content-encoding": "gzip"}))
    assert isinstance(headers, Continue)
    assert {"content-encoding", "content-length"} <= set(headers.headers.remove)
    encoded = gzip.compress("stream ✓ text".encode())
    out = []
    for i in range(len(encoded)):
        action = await processor.handle(body(encoded[i : i + 1], i == len(encoded) - 1, Direction.RESPONSE))
        assert isinstance(action, Continue) and action.body is not None
        out.append(action.body)
    assert b"".join(out).decode() == "STREAM ✓ TEXT"


async def test_unknown_response_encoding_is_refused(evaluator: Evaluator, audit: RecordingAudit) -> None:
    processor = stream(evaluator, audit)
    await processor.handle(request_headers("/late", eos=True))
    action = await processor.handle(response_headers(200, **{"content-encoding": "compress"}))
    assert isinstance(action, Reject) and action.status == 502
    assert orjson.loads(action.body)["error"]["code"] == "unsupported_content_encoding"


async def test_truncated_compressed_stream_is_cut(evaluator: Evaluator, audit: RecordingAudit) -> None:
    processor = stream(evaluator, audit)
    check = CheckSummary("d", Inspection(response_body=BodyMode.STREAMED))
    await processor.handle(request_headers("/upper", eos=True, check=check))
    await processor.handle(response_headers(200, **{"content-encoding": "gzip"}))
    encoded = gzip.compress(b"some text that will be cut")
    await processor.handle(body(encoded[:10], False, Direction.RESPONSE))
    action = await processor.handle(TrailersEvent(Direction.RESPONSE))
    assert isinstance(action, Reject) and orjson.loads(action.body)["error"]["code"] == "body_decode_error"


@pytest.mark.parametrize(("payload", "allowed"), [(b'{"ok": true}', True), (b'{"ok": false}', False)])
async def test_response_input_carries_status_headers_body_and_request(
    tmp_path: Path, audit: RecordingAudit, payload: bytes, allowed: bool
) -> None:
    (tmp_path / "p.rego").write_text(
        """package envoy.authz
import rego.v1
default allow := false
allow := {"allowed": true, "inspect": {"response_headers": true}} if input.phase == "request_headers"
allow := {"allowed": true, "inspect": {"response_body": "buffered"}} if {
	input.phase == "response_headers"
	input.response.headers["content-type"] == "application/json"
	input.attributes.request.http.method == "POST"
}
allow if {
	input.phase == "response_body"
	input.response.parsed_body.ok == true
	input.response.status == 200
	input.response.body != ""
}
"""
    )
    evaluator = Evaluator(RegorusEngine(load_bundle(tmp_path), "envoy/authz/allow"))
    processor = stream(evaluator, audit)
    first = await processor.handle(request_headers("/r", eos=True))
    assert isinstance(first, Continue) and first.mode == ProcessingMode(response_headers=True)
    action = await processor.handle(response_headers(200, **{"content-type": "application/json"}))
    assert isinstance(action, Continue) and action.mode is not None
    assert action.mode.response_body is BodyMode.BUFFERED
    final = await processor.handle(body(payload, True, Direction.RESPONSE))
    assert isinstance(final, Continue) is allowed


async def test_context_extensions_of_the_check_reach_the_body_phases(
    evaluator: Evaluator, audit: RecordingAudit
) -> None:
    processor = stream(evaluator, audit)
    check = CheckSummary("d", Inspection(request_body=BodyMode.STREAMED), {"upstream": "openai"})
    await processor.handle(request_headers("/context", check=check))
    action = await processor.handle(body(b"anything", True))
    assert isinstance(action, Continue) and action.body == b"openai"


async def test_an_answer_too_large_to_inspect_is_a_bad_gateway_not_a_413(audit: RecordingAudit) -> None:
    shipped = Evaluator(
        RegorusEngine(load_bundle(Path(__file__).resolve().parents[2] / "policies"), "envoy/authz/allow")
    )
    processor = stream(shipped, audit, max_body_bytes=1000)
    processor.route_context = {"protocol": "openai", "upstream": "openai"}
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    first = await processor.handle(
        request_headers("/v1/chat/completions", **{"content-type": "application/json"})
    )
    assert isinstance(first, Continue)
    assert isinstance(await processor.handle(body(orjson.dumps(chat), True)), Continue)
    answer = HeadersEvent(Direction.RESPONSE, {":status": "200", "content-type": "application/json"}, False)
    assert isinstance(await processor.handle(answer), Continue)
    action = await processor.handle(body(b'{"a": "' + b"x" * 3000 + b'"}', True, Direction.RESPONSE))
    assert isinstance(action, Reject) and action.status == 502
    assert orjson.loads(action.body)["error"]["code"] == "body_too_large"
