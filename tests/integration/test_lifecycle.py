"""The service's life through real Envoy: fail-closed, hot reload, shutdown, transports, modes."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ext_proc.demo.envoy_config import http_filters
from tests.harness import (
    ROOT,
    Stack,
    UpstreamServer,
    copy_policies,
    start_stack,
)
from tests.upstream_app import Gates

DENY_ALL = """package envoy.authz

import rego.v1

default allow := {"allowed": false, "reasons": ["%s"], "json_error": true}
"""
ALLOW_ALL = """package envoy.authz

import rego.v1

default allow := true
"""


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def stack(tmp_path: Path, upstream: UpstreamServer) -> Iterator[Stack]:
    yield from start_stack(tmp_path, copy_policies("rewrite", tmp_path / "policies"), upstream)


def _status(stack: Stack, path: str = "/echo/plain") -> int:
    with stack.client() as client:
        return client.get(path).status_code


# -- fail closed --------------------------------------------------------------------------------


def test_requests_fail_closed_when_the_service_is_down(stack: Stack) -> None:
    assert _status(stack) == 200
    stack.service.stop()
    with stack.client() as client:
        plain = client.get("/echo/plain")
        streamed = client.get("/stream/gated/never")
    assert plain.status_code == 503
    assert streamed.status_code == 503
    assert stack.envoy.stats("ext_authz")  # Envoy counted the failures it answered for us


# -- hot reload ---------------------------------------------------------------------------------


def test_policy_change_takes_effect_without_restart(stack: Stack) -> None:
    assert _status(stack) == 200
    (stack.policy_dir / "policy.rego").write_text(DENY_ALL % "reloaded")
    eventually(lambda: _status(stack) == 403)
    pid = stack.service.process.pid if stack.service.process else None
    assert stack.service.process is not None and stack.service.process.poll() is None and pid
    reloaded = [e for e in stack.service.log_events() if e.get("event") == "policy_reloaded"]
    assert reloaded


def test_broken_policy_is_rejected_and_the_last_good_one_stays(stack: Stack) -> None:
    (stack.policy_dir / "policy.rego").write_text("package envoy.authz\n\nallow if {\n")
    eventually(lambda: any(e.get("event") == "policy_reload_failed" for e in stack.service.log_events()))
    assert _status(stack) == 200, "the last good policy still answers"
    failure = next(e for e in stack.service.log_events() if e.get("event") == "policy_reload_failed")
    assert "policy.rego" in failure["error"]
    (stack.policy_dir / "policy.rego").write_text(DENY_ALL % "fixed")
    eventually(lambda: _status(stack) == 403)


def test_data_change_takes_effect(tmp_path: Path, upstream: UpstreamServer) -> None:
    policies = copy_policies("default", tmp_path / "policies")
    for stack in start_stack(tmp_path, policies, upstream):
        assert _status(stack, "/v1/models") == 200
        lines = (policies / "data.yaml").read_text().splitlines(keepends=True)
        (policies / "data.yaml").write_text("".join(line for line in lines if "/v1/models" not in line))
        eventually(lambda: _status(stack, "/v1/models") == 403)  # noqa: B023 (used within the loop)


def _configmap_generation(root: Path, name: str, files: dict[str, str]) -> None:
    """Publish a new generation the way the kubelet updates a ConfigMap volume."""
    generation = root / name
    generation.mkdir()
    for file_name, text in files.items():
        (generation / file_name).write_text(text)
    temporary = root / "..data_tmp"
    temporary.symlink_to(name)
    os.replace(temporary, root / "..data")  # the atomic swap
    for file_name in files:
        link = root / file_name
        if not link.is_symlink():
            link.symlink_to(Path("..data") / file_name)


def test_configmap_symlink_swap_reloads(tmp_path: Path, upstream: UpstreamServer) -> None:
    mount = tmp_path / "configmap"
    mount.mkdir()
    _configmap_generation(mount, "..2026_11_21_10_00_00.1", {"policy.rego": ALLOW_ALL})
    for stack in start_stack(tmp_path, mount, upstream):
        assert _status(stack) == 200
        _configmap_generation(mount, "..2026_11_21_10_05_00.2", {"policy.rego": DENY_ALL % "swapped"})
        eventually(lambda: _status(stack) == 403)  # noqa: B023 (used within the loop)
        with stack.client() as client:
            assert client.get("/echo/plain").json()["error"]["reasons"] == ["swapped"]


# -- shutdown -----------------------------------------------------------------------------------


def test_sigterm_lets_in_flight_streams_finish_and_refuses_new_ones(stack: Stack, gates: Gates) -> None:
    name = "shutdown"
    received: dict[str, Any] = {}

    def stream() -> None:
        with stack.client(timeout=30) as client, client.stream("GET", f"/stream/gated/{name}") as response:
            received["status"] = response.status_code
            received["body"] = "".join(response.iter_text())

    reader = threading.Thread(target=stream)
    reader.start()
    eventually(lambda: any(e.get("phase") == "response_body" for e in stack.service.log_events()))
    assert stack.service.process is not None
    stack.service.process.send_signal(signal.SIGTERM)
    eventually(lambda: any(e.get("event") == "shutting_down" for e in stack.service.log_events()))
    assert _status(stack) == 503, "new requests are refused once shutdown began"
    gates.open(name)
    reader.join(timeout=20)
    assert received == {
        "status": 200,
        "body": "first part: the [hidden] is here\nlast part: another [hidden]\n",
    }
    assert stack.service.process.wait(timeout=20) == 0


# -- transports and modes -----------------------------------------------------------------------


def test_unix_socket_transport(tmp_path: Path, upstream: UpstreamServer) -> None:
    policies = copy_policies("rewrite", tmp_path / "policies")
    for stack in start_stack(tmp_path, policies, upstream, unix_socket=True):
        assert stack.service.address.startswith("unix:")
        # Owner and group may connect (Envoy's container shares the pod's fsGroup), others not.
        mode = Path(stack.service.address.removeprefix("unix:")).stat().st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o660
        with stack.client() as client:
            assert client.get("/echo/plain").status_code == 200
            assert client.get("/deny/custom").status_code == 402
            assert client.post("/echo/rewrite", json={"action": "x"}).json()["body"] == (
                '{"action":"x","rewritten":true}'
            )


def test_dry_run_logs_the_real_decision_and_allows(tmp_path: Path, upstream: UpstreamServer) -> None:
    policies = copy_policies("rewrite", tmp_path / "policies")
    for stack in start_stack(tmp_path, policies, upstream, service_sections={"policy": {"dry_run": True}}):
        with stack.client() as client:
            response = client.get("/deny/custom")
        assert response.status_code == 404, "allowed through to the upstream, which has no such route"
        event = next(e for e in stack.service.log_events() if e.get("path") == "/deny/custom")
        assert event["dry_run"] is True
        assert event["policy_allowed"] is False
        assert event["reasons"] == ["custom deny"]


def _without_ext_authz(config: dict[str, Any]) -> None:
    filters = http_filters(config)
    filters[:] = [f for f in filters if f["name"] != "envoy.filters.http.ext_authz"]


def test_ext_proc_alone_decides_at_the_request_headers(tmp_path: Path, upstream: UpstreamServer) -> None:
    policies = copy_policies("rewrite", tmp_path / "policies")
    for stack in start_stack(tmp_path, policies, upstream, edit_envoy=_without_ext_authz):
        with stack.client() as client:
            allowed = client.get("/echo/plain", headers={"x-agent-secret": "zzz"})
            denied = client.get("/deny/custom")
            rewritten = client.post("/echo/rewrite", json={"action": "y"})
        assert allowed.status_code == 200
        seen = {k.lower(): v for k, v in allowed.json()["headers"].items()}
        assert seen["x-injected"] == "yes" and "x-agent-secret" not in seen
        assert allowed.headers["x-chaperone"] == "checked", "response headers added in the response phase"
        assert (denied.status_code, denied.text, denied.headers["x-deny-reason"]) == (
            402,
            "short and stout",
            "teapot",
        )
        assert rewritten.json()["body"] == '{"action":"y","rewritten":true}'
        phases = {e.get("phase") for e in stack.service.log_events() if e.get("event") == "decision"}
        assert "request_headers" in phases and "check" not in phases


# -- start-up errors ----------------------------------------------------------------------------


def _serve(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHAPERONE_")}
    return subprocess.run(
        [sys.executable, "-m", "ext_proc", "serve", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={**clean, **(env or {})},
    )


def test_a_broken_policy_at_start_is_a_clear_error(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "tests" / "fixtures" / "policies" / "broken", tmp_path / "broken")
    result = _serve([], {"CHAPERONE_POLICY__DIRECTORY": str(tmp_path / "broken")})
    assert result.returncode == 1
    assert "undefined_name" in result.stderr and "policy.rego" in result.stderr


def test_an_invalid_config_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("server:\n  max_concurrent_rpcs: many\n")
    result = _serve(["--config", str(config)])
    assert result.returncode == 1
    assert "server.max_concurrent_rpcs" in result.stderr


def test_envoy_health_answers_only_while_serving(stack: Stack) -> None:
    with grpc.insecure_channel(stack.service.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in (
            "",
            "envoy.service.auth.v3.Authorization",
            "envoy.service.ext_proc.v3.ExternalProcessor",
        ):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
