"""Every failure path reachable from outside, with a secret planted in it, through real Envoy and
directly on the gRPC port: each request gets a stable error code (never a reset or an UNKNOWN),
each refusal is in the audit trail with that code, and the secret is nowhere in what the service
and Envoy wrote (stdout, stderr, the audit file).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import orjson
import pytest
from aiohttp import web
from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc
from google.protobuf import json_format, struct_pb2
from google.rpc import code_pb2

from tests.harness import Stack, UpstreamServer, copy_policies, start_stack

pytestmark = pytest.mark.envoy

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
EMAIL = "ada.leak2@example.com"
PLANTED = f"{EMAIL} {AWS_KEY}"
SECRETS = (AWS_KEY, EMAIL, "ada.leak2")


def nested(depth: int, leaf: str = PLANTED) -> bytes:
    """A JSON document ``depth`` objects deep around the leaf (built as text: JSON libraries
    refuse to write it)."""
    return b'{"a":' * depth + orjson.dumps(leaf) + b"}" * depth


def sse(*events: bytes) -> bytes:
    return b"".join(b"data: " + event + b"\n\n" for event in events)


def chunk(content: str) -> bytes:
    delta = {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return orjson.dumps({"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o", **delta})


# Answers the upstream gives, by the x-scenario request header: each carries the secret.
RESPONSES: dict[str, tuple[str, bytes]] = {
    "after-done": ("text/event-stream", sse(chunk("hi"), b"[DONE]", chunk(PLANTED))),
    "bad-event": ("text/event-stream", sse(chunk("hi"), b'{"choices": [' + PLANTED.encode())),
    "deep-event": ("text/event-stream", sse(nested(250))),
    "deep-json": ("application/json", nested(300)),
    "bad-utf8": ("text/event-stream", sse(chunk("hi"), PLANTED.encode() + b"\xff\xfe")),
    "mcp-deep": ("application/json", b'{"jsonrpc": "2.0", "id": 1, "result": ' + nested(300) + b"}"),
}


# A deny rule a user added whose built-in fails on what the client sent: the engine's error names
# the value it could not convert.
FAILING_RULE = """package envoy.authz

import rego.v1

deny contains "too many" if {
	to_number(input.attributes.request.http.headers["x-count"]) > 10
}
"""


def upstream_app() -> web.Application:
    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        content_type, body = RESPONSES[request.headers.get("x-scenario", "deep-json")]
        response = web.StreamResponse(headers={"content-type": content_type})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):  # refused mid-way: Envoy resets the upstream
            for start in range(0, len(body), 97):  # in pieces, as a real upstream streams
                await response.write(body[start : start + 97])
                await asyncio.sleep(0.001)
            await response.write_eof()
        return response

    app = web.Application()
    for path in ("/v1/chat/completions", "/mcp", "/echo/{tail:.*}"):
        app.router.add_post(path, answer)
    return app


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("internal-errors")
    upstream = UpstreamServer(upstream_app()).start()
    try:
        policies = copy_policies("default", workdir / "policies")
        (policies / "failing.rego").write_text(FAILING_RULE)
        sections = {"logging": {"level": "debug"}, "audit": {"file": {"path": str(workdir / "audit.log")}}}
        yield from start_stack(workdir, policies, upstream, service_sections=sections)
    finally:
        upstream.stop()


def chat_body(messages: bytes, stream: bool = False) -> bytes:
    head = orjson.dumps({"model": "gpt-4o", "stream": stream})[:-1]
    return head + b', "messages": ' + messages + b"}"


def through_envoy(stack: Stack) -> list[tuple[str, int, bytes]]:
    """Each request's name, status and body."""
    json_headers = {"content-type": "application/json"}
    deep_message = (
        b'[{"role": "user", "content": [{"type": "text", "text": "x", "extra": ' + nested(300) + b"}]}]"
    )
    requests: list[tuple[str, str, bytes, dict[str, str]]] = [
        ("chat nested 300 deep", "/v1/chat/completions", chat_body(deep_message), json_headers),
        ("chat nested 600 deep", "/v1/chat/completions", chat_body(nested(600)), json_headers),
        ("chat nested 1023 deep", "/v1/chat/completions", chat_body(nested(1023)), json_headers),
        ("plain JSON nested 300 deep", "/echo/x", nested(300), json_headers),
        ("plain JSON nested 2000 deep", "/echo/x", nested(2000), json_headers),
        ("policy built-in fails on a header", "/echo/x", b"{}", {**json_headers, "x-count": PLANTED}),
    ]
    simple = chat_body(b'[{"role": "user", "content": "hello"}]', stream=True)
    for scenario in ("after-done", "bad-event", "deep-event", "bad-utf8"):
        requests.append(
            (f"SSE {scenario}", "/v1/chat/completions", simple, {**json_headers, "x-scenario": scenario})
        )
    mcp_call = orjson.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "get_customer", "arguments": {}},
        }
    )
    mcp_headers = {**json_headers, "accept": "application/json, text/event-stream", "x-scenario": "mcp-deep"}
    requests.append(("MCP result nested 300 deep", "/mcp", mcp_call, mcp_headers))
    answers = []
    with stack.client(timeout=20) as client:
        for name, path, body, headers in requests:
            with client.stream("POST", path, content=body, headers=headers) as response:
                try:
                    received = response.read()
                except httpx.HTTPError:  # a stream ended mid-way (the refusal after the headers)
                    received = b"<stream cut>"
                answers.append((name, response.status_code, received))
    return answers


def header_map(headers: dict[str, str]) -> Any:
    return base_pb2.HeaderMap(
        headers=[base_pb2.HeaderValue(key=k, raw_value=v.encode()) for k, v in headers.items()]
    )


def check(path: str, *, raw_body: bytes = b"", body: str = "", headers: dict[str, str] | None = None) -> Any:
    request = json_format.ParseDict(
        {"attributes": {"request": {"http": {"method": "POST", "path": path, "headers": headers or {}}}}},
        external_auth_pb2.CheckRequest(),
    )
    request.attributes.request.http.raw_body = raw_body
    request.attributes.request.http.body = body
    return request


def deep_struct(depth: int) -> struct_pb2.Struct:
    inner = struct_pb2.Struct()
    inner.update({"leak": PLANTED})
    for _ in range(depth):
        outer = struct_pb2.Struct()
        outer.fields["a"].struct_value.CopyFrom(inner)
        inner = outer
    return inner


def on_the_grpc_port(stack: Stack) -> list[tuple[str, Any]]:
    json_type = {"content-type": "application/json", "x-note": PLANTED}
    deep_raw = nested(300)
    checks = [
        ("Check //[x", check(f"//[x/{PLANTED}", headers=json_type)),
        ("Check raw_body nested 300 deep", check("/echo/x", raw_body=deep_raw, headers=json_type)),
        ("Check body nested 300 deep", check("/echo/x", body=deep_raw.decode(), headers=json_type)),
        ("Check body not JSON", check("/echo/x", body="{" + PLANTED, headers=json_type)),
        (
            "Check body not UTF-8",
            check(
                "/echo/x",
                raw_body=PLANTED.encode() + b"\xff",
                headers={"content-type": "application/x-www-form-urlencoded"},
            ),
        ),
        ("Check bad percent-escape", check(f"/echo/%zz{PLANTED}", headers=json_type)),
    ]
    results: list[tuple[str, Any]] = []
    with grpc.insecure_channel(stack.service.address) as channel:
        authz = external_auth_pb2_grpc.AuthorizationStub(channel)
        for name, request in checks:
            results.append((name, authz.Check(request, timeout=10)))
        extproc = external_processor_pb2_grpc.ExternalProcessorStub(channel)
        bad_metadata = pb.ProcessingRequest(
            request_headers=pb.HttpHeaders(headers=header_map({":path": "/echo/x", ":method": "POST"}))
        )
        bad_metadata.metadata_context.filter_metadata["envoy.filters.http.ext_authz"].update(
            {"chaperone": PLANTED}
        )
        deep_metadata = pb.ProcessingRequest(
            request_headers=pb.HttpHeaders(headers=header_map({":path": "/echo/x", ":method": "POST"}))
        )
        deep_metadata.metadata_context.filter_metadata["envoy.filters.http.ext_authz"].CopyFrom(
            deep_struct(300)
        )
        body_first = pb.ProcessingRequest(request_body=pb.HttpBody(body=PLANTED.encode(), end_of_stream=True))
        for name, message in (
            ("ext_proc bad metadata", bad_metadata),
            ("ext_proc metadata 300 deep", deep_metadata),
            ("ext_proc body first", body_first),
        ):
            results.append((name, list(extproc.Process(iter([message]), timeout=10))))
    return results


def written(stack: Stack) -> str:
    paths = [stack.service.log_path, stack.envoy.log_path, stack.service.workdir / "audit.log"]
    return "\n".join(path.read_text(errors="replace") for path in paths)


def audit_events(stack: Stack) -> list[dict[str, Any]]:
    lines = (stack.service.workdir / "audit.log").read_bytes().splitlines()
    return [orjson.loads(line) for line in lines]


def test_failures_are_refused_with_a_code_audited_and_leak_nothing(stack: Stack) -> None:
    answers = through_envoy(stack)
    for name, status, body in answers:
        assert AWS_KEY.encode() not in body, f"{name}: the planted key reached the client"
        if name.startswith("SSE"):  # the answer started: it ends with the provider's error event
            assert status == 200 and body.endswith(b"\n\n"), (name, body[-300:])
            last = orjson.loads(body.rstrip().rsplit(b"\n\n", 1)[-1].removeprefix(b"data: "))
            assert last["error"]["code"] in {"llm_response_invalid", "sse_decode_error"}, (name, last)
        elif name.startswith("MCP"):  # the upstream's answer cannot be read: 502, in JSON-RPC
            assert status == 502 and orjson.loads(body)["error"]["code"] < 0, (name, body[:300])
        elif name.startswith("policy"):  # an engine error is a deny with its stable code
            assert status == 403 and orjson.loads(body)["error"]["code"] == "policy_eval_error", body
        else:  # nested beyond the parser's limit, however deep: 400 at parse, never a 500
            assert status == 400, (name, status, body[:300])
            assert orjson.loads(body)["error"]["code"] == "body_too_deep", (name, body[:300])
    checks = on_the_grpc_port(stack)
    for name, reply in checks:
        if isinstance(reply, list):  # ext_proc: one immediate response with a code
            (only,) = reply
            assert only.HasField("immediate_response"), name
            assert only.immediate_response.details.startswith("chaperone_"), name
        else:
            assert reply.status.code == code_pb2.PERMISSION_DENIED, name
            assert b'"code"' in reply.denied_response.body.encode(), name
    stack.service.wait_for_event(lambda e: e.get("event") == "stream_summary")
    text = written(stack)
    for secret in SECRETS:
        assert secret not in text, f"{secret} was written"
    assert "Traceback" not in text
    decisions = [event for event in audit_events(stack) if event.get("event") == "decision"]
    assert {"body_too_deep", "policy_eval_error"} <= {event.get("error_code") for event in decisions}
    # A stream the service ended mid-way says why in its summary.
    summaries = [event for event in audit_events(stack) if event.get("event") == "stream_summary"]
    stopped = {event["stopped"]["reason"] for event in summaries if event.get("stopped")}
    assert {"llm_response_invalid", "sse_decode_error"} <= stopped, stopped
    codes = [event.get("error_code") for event in decisions[-len(checks) :]]
    # Deep nesting is refused at parse by the strict JSON parser (body_too_deep).
    deep = {"body_too_deep"}
    expected = [
        {None},  # //[x: a path like any other for opa-envoy-plugin (it is cut at "?" and unescaped, not
        # parsed as a URL with an authority): no parse error, the policy denies it
        deep,
        deep,
        {"body_parse_error"},
        {"body_decode_error"},
        {"request_parse_error"},  # a bad percent-escape
        {"protocol_error"},  # ext_proc: malformed hand-off metadata
        {"request_parse_error"},  # ext_proc: a message protobuf cannot decode
        {"protocol_error"},  # ext_proc: a body before the headers
    ]
    assert all(code in allowed for code, allowed in zip(codes, expected, strict=True)), codes
