"""engine: opa — the same input and decision contract, answered by a real OPA engine over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.policy.remote_opa import RemoteOpaEngine
from tests.harness import POLICY_FIXTURES, Stack, UpstreamServer, free_port, start_stack
from tests.opa_server import OpaDataApiServer

CONFLICT = """package envoy.authz

import rego.v1

allow := true if input.a
allow := false if input.b
"""


@pytest.fixture(scope="module")
def opa() -> Iterator[OpaDataApiServer]:
    server = OpaDataApiServer(POLICY_FIXTURES / "rewrite").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def opa_stack(
    tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamServer, opa: OpaDataApiServer
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("opa")
    empty = workdir / "unused-policies"
    empty.mkdir()
    sections = {"policy": {"engine": "opa", "opa": {"url": opa.url, "timeout_ms": 300}}}
    yield from start_stack(workdir, empty, upstream, service_sections=sections)


def test_remote_opa_decides_through_envoy(opa_stack: Stack, opa: OpaDataApiServer) -> None:
    before = opa.requests
    with opa_stack.client() as client:
        allowed = client.get("/echo/plain", headers={"x-agent-secret": "x"})
        denied = client.get("/deny/custom")
        rewritten = client.post("/echo/rewrite", json={"action": "z"})
    assert allowed.status_code == 200
    assert {k.lower(): v for k, v in allowed.json()["headers"].items()}["x-injected"] == "yes"
    assert (denied.status_code, denied.text) == (402, "short and stout")
    assert rewritten.json()["body"] == '{"action":"z","rewritten":true}'
    assert opa.requests - before == 4  # three checks and one request-body phase


def test_remote_opa_timeout_fails_closed(opa_stack: Stack, opa: OpaDataApiServer) -> None:
    opa.delay_seconds = 0.6
    try:
        with opa_stack.client() as client:
            response = client.get("/echo/plain")
    finally:
        opa.delay_seconds = 0.0
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "opa_timeout"


def test_unreachable_opa_fails_closed_by_default(tmp_path: Path, upstream: UpstreamServer) -> None:
    sections = {"policy": {"engine": "opa", "opa": {"url": f"http://127.0.0.1:{free_port()}"}}}
    for stack in start_stack(tmp_path, tmp_path, upstream, service_sections=sections):
        with stack.client() as client:
            response = client.get("/echo/plain")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "opa_unavailable"


def test_the_credentials_of_the_opa_url_are_in_no_log(tmp_path: Path, upstream: UpstreamServer) -> None:
    """An OPA behind basic authentication (``https://user:password@opa``): unreachable, every
    decision fails, and neither the refusal, the log nor the audit names the password."""
    password = "opa-pass-" + "Zq81vX"
    url = f"http://chaperone:{password}@127.0.0.1:{free_port()}"
    sections = {"policy": {"engine": "opa", "opa": {"url": url}}, "logging": {"level": "debug"}}
    for stack in start_stack(tmp_path, tmp_path, upstream, service_sections=sections):
        with stack.client() as client:
            response = client.get("/echo/plain")
        assert response.json()["error"]["code"] == "opa_unavailable"
        stack.service.wait_for_event(lambda e: e.get("error_code") == "opa_unavailable")
        assert password not in response.text
        assert password not in stack.service.log_path.read_text()


def test_unreachable_opa_can_be_configured_to_fail_open(tmp_path: Path, upstream: UpstreamServer) -> None:
    sections = {
        "policy": {"engine": "opa", "opa": {"url": f"http://127.0.0.1:{free_port()}", "fail_open": True}}
    }
    for stack in start_stack(tmp_path, tmp_path, upstream, service_sections=sections):
        with stack.client() as client:
            assert client.get("/echo/plain").status_code == 200
        event = next(e for e in stack.service.log_events() if e.get("event") == "decision")
        assert event["failed_open"] is True and event["error_code"] == "opa_unavailable"


async def test_a_refusal_names_the_opa_url_without_its_credentials() -> None:
    engine = RemoteOpaEngine(f"http://chaperone:pw-Zq81@127.0.0.1:{free_port()}/", "envoy/authz/allow", 300)
    try:
        with pytest.raises(ChaperoneError) as raised:
            await engine.evaluate({})
    finally:
        await engine.close()
    assert raised.value.code == ErrorCode.OPA_UNAVAILABLE
    assert "pw-Zq81" not in str(raised.value) and "***@127.0.0.1" in raised.value.message
    with pytest.raises(ChaperoneError) as invalid:
        RemoteOpaEngine("ftp://chaperone:pw-Zq81@opa", "envoy/authz/allow", 300)
    assert "pw-Zq81" not in str(invalid.value)


async def test_client_maps_undefined_and_conflicts(tmp_path: Path) -> None:
    (tmp_path / "policy.rego").write_text(CONFLICT)
    server = OpaDataApiServer(tmp_path).start()
    engine = RemoteOpaEngine(server.url, "envoy/authz/allow", timeout_ms=500)
    missing = RemoteOpaEngine(server.url, "envoy/authz/nothing_here", timeout_ms=500)
    try:
        assert await engine.evaluate({"a": True}) is True
        assert await engine.evaluate({}) is None
        with pytest.raises(ChaperoneError) as conflict:
            await engine.evaluate({"a": True, "b": True})
        assert conflict.value.code is ErrorCode.POLICY_MULTIPLE_RESULTS
        assert await missing.evaluate({}) is None
    finally:
        await engine.close()
        await missing.close()
        server.stop()


async def test_client_reuses_its_connection(tmp_path: Path) -> None:
    (tmp_path / "policy.rego").write_text(CONFLICT)
    server = OpaDataApiServer(tmp_path).start()
    engine = RemoteOpaEngine(server.url, "envoy/authz/allow", timeout_ms=500)
    try:
        for _ in range(5):
            assert await engine.evaluate({"a": True}) is True
        assert server.connections == 1, "keep-alive: one connection for every decision"
    finally:
        await engine.close()
        server.stop()
