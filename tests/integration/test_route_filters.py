"""One gRPC call per request where one is enough, through real Envoy.

`chaperone envoy-config` writes per-route filter settings: on a route that speaks an AI protocol
ext_proc reads every body anyway, so it also decides the request headers, as the check would
(ext_authz is off there); on a route declared `filters: ext_authz` no body is read, so ext_proc
is off. The same request gets the same input and decision either way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ext_proc.cli import main
from ext_proc.demo.envoy_config import LocalPorts, local_envoy_config
from tests.harness import (
    EnvoyProcess,
    ServiceProcess,
    Stack,
    UpstreamServer,
    free_port,
    service_config,
)

pytestmark = pytest.mark.envoy

# Every input the policy sees goes back to the client in a response header, so that the inputs
# of the two chains can be compared; a route can ask for a later phase with x-inspect.
POLICY = """package envoy.authz

import rego.v1

default allow := false

allow := {
	"allowed": true,
	"inspect": inspect,
	"response_headers_to_add": {"x-input": json.marshal(object.remove(input, ["agent"]))},
} if input.phase == "check"

allow := true if input.phase != "check"

default inspect := {}

inspect := {"response_headers": true} if input.attributes.request.http.headers["x-inspect"]
"""

CONFIG = """
upstreams:
  - name: upstream
    url: http://127.0.0.1:8080
    listen: 127.0.0.1:10000
    filters: {default}
    routes:
      - {{prefix: /v1/chat/completions, protocol: openai}}
      - {{prefix: /health, protocol: http, filters: ext_authz}}
"""
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def stack_with(workdir: Path, upstream: UpstreamServer, default_filters: str) -> Iterator[Stack]:
    workdir.mkdir(parents=True)
    (workdir / "policies").mkdir()
    (workdir / "policies" / "policy.rego").write_text(POLICY)
    source = workdir / "chaperone.yaml"
    source.write_text(CONFIG.format(default=default_filters))
    generated = workdir / "envoy-generated.yaml"
    assert main(["envoy-config", "--config", str(source), "--output", str(generated)]) == 0
    service_port, listener, admin = free_port(), free_port(), free_port()
    config = local_envoy_config(LocalPorts(listener, admin, upstream.port, service_port), source=generated)
    service = ServiceProcess(workdir, service_config(f"127.0.0.1:{service_port}", workdir / "policies"))
    envoy = EnvoyProcess(config, workdir, listener, admin)
    try:
        service.start()
        envoy.start()
        yield Stack(envoy, service, workdir / "policies")
    finally:
        envoy.stop()
        service.stop()


@pytest.fixture(scope="module")
def one_call(tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamServer) -> Iterator[Stack]:
    yield from stack_with(tmp_path_factory.mktemp("one") / "stack", upstream, "auto")


@pytest.fixture(scope="module")
def two_calls(tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamServer) -> Iterator[Stack]:
    yield from stack_with(tmp_path_factory.mktemp("two") / "stack", upstream, "both")


def checks(stack: Stack) -> int:
    return stack.envoy.stats("http.upstream.ext_authz").get("http.upstream.ext_authz.ok", 0)


def comparable(response: httpx.Response) -> dict[str, Any]:
    """The check's input, without what differs from one request to the next anyway."""
    document: dict[str, Any] = json.loads(response.headers["x-input"])
    request = document["attributes"]["request"]
    request.pop("time")
    request["http"].pop("id")
    request["http"].pop("host")  # each stack's Envoy listens on a port of its own
    request["http"]["headers"].pop(":authority")
    request["http"]["headers"].pop("x-request-id")
    for peer in ("source", "destination"):
        document["attributes"][peer]["address"]["socketAddress"].pop("portValue")
    document["version"].pop("ext_proc", None)
    return document


def test_an_ai_route_is_decided_by_ext_proc_alone_with_the_checks_input(
    one_call: Stack, two_calls: Stack
) -> None:
    before = checks(one_call)
    with one_call.client() as client:
        alone = client.post("/v1/chat/completions", json=CHAT)
    assert alone.status_code == 200 and checks(one_call) == before  # no ext_authz call
    with two_calls.client() as client:
        both = client.post("/v1/chat/completions", json=CHAT)
    assert both.status_code == 200
    one, two = comparable(alone), comparable(both)
    assert one["phase"] == "check" and one["attributes"]["contextExtensions"] == {
        "upstream": "upstream",
        "protocol": "openai",
    }
    assert one == two, json.dumps([one, two], indent=1, sort_keys=True)
    decisions = [e for e in one_call.service.log_events() if e.get("event") == "decision"]
    assert decisions[-1]["phase"] == "request_body" and decisions[-2]["phase"] == "check"


def test_a_route_declared_without_bodies_is_decided_by_ext_authz_alone(one_call: Stack) -> None:
    with one_call.client() as client:
        assert client.get("/health").status_code == 200
        refused = client.post("/health", content=b"x" * 10)
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "route_reads_no_body"
        asks_for_more = client.get("/health", headers={"x-inspect": "1"})
        assert asks_for_more.status_code == 500
        assert asks_for_more.json()["error"]["code"] == "route_not_inspected"
    streams = one_call.envoy.stats("http.upstream.ext_proc").get("http.upstream.ext_proc.streams_started", 0)
    with one_call.client() as client:
        assert client.get("/health").status_code == 200
    after = one_call.envoy.stats("http.upstream.ext_proc").get("http.upstream.ext_proc.streams_started", 0)
    assert after == streams  # no ext_proc stream for it
