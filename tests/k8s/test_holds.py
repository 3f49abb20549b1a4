"""Nothing in a pod's Envoy ends a call held for approval before Chaperone does.

A call held for a person's approval waits in an ext_proc phase before Envoy's router has the
request: no byte moves on its stream until the operator decides or approvals.hold_seconds pass.
Chaperone first moves the ext_proc message deadline (up to max_message_timeout); the stream idle
timeout of Envoy's connection manager still runs and, at its default of 5 minutes, would end a
longer hold with 504. The route timeout starts only once the router has the request.

The first test reads the overlays' Envoy configs against their Chaperone configs; the others
show, with real Envoy and short timers, that these are the timers that matter, for a call held
in the request headers phase and one held in the body phase: a stream idle timeout shorter than
the hold cuts it, a route timeout shorter than the hold does not.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ext_proc.config import MAX_APPROVAL_HOLD_SECONDS
from ext_proc.demo.upstream import create_app
from ext_proc.enforcement.approval import DEADLINE_MARGIN_SECONDS
from tests.harness import (
    EnvoyProcess,
    ServiceProcess,
    UpstreamServer,
    copy_policies,
    free_port,
    render_envoy_config,
    service_config,
)
from tests.k8s import check
from tests.k8s.manifests import OVERLAYS, PodLayout, container, find, overlays, pod_spec, render

# Envoy's default when a connection manager sets no stream_idle_timeout.
ENVOY_DEFAULT_STREAM_IDLE = timedelta(minutes=5)
DEPLOYMENTS = {"egress": "agent", "ingress": "mcp-server"}
EXT_PROC = "envoy.filters.http.ext_proc"


def seconds(duration: str) -> timedelta:
    assert duration.endswith("s"), duration
    return timedelta(seconds=float(duration[:-1]))


def upstream_connection_managers(envoy: dict[str, Any]) -> list[dict[str, Any]]:
    """The connection managers of the listeners whose filter chain has ext_proc."""
    managers = []
    for listener in envoy["static_resources"]["listeners"]:
        for chain in listener["filter_chains"]:
            for network_filter in chain["filters"]:
                hcm = network_filter["typed_config"]
                if any(f["name"] == EXT_PROC for f in hcm.get("http_filters", [])):
                    managers.append(hcm)
    return managers


@pytest.mark.parametrize("overlay", [o.name for o in overlays()])
def test_no_envoy_timer_ends_a_hold_before_chaperone(overlay: str, tmp_path: Path) -> None:
    objects = render(OVERLAYS / overlay)
    spec = pod_spec(objects, DEPLOYMENTS[overlay])
    secrets, problems = check.user_secrets(spec, objects, check.documented_secrets(OVERLAYS / overlay))
    assert problems == []
    config = check.container_config(
        PodLayout(tmp_path, spec, objects, secrets).materialize(), container(spec, "chaperone")
    )
    (envoy_volume,) = [v for v in spec["volumes"] if v["name"] == "envoy-config"]
    (config_map,) = find(objects, "ConfigMap", envoy_volume["configMap"]["name"])
    envoy = yaml.safe_load(config_map["data"]["envoy.yaml"])
    managers = upstream_connection_managers(envoy)
    assert managers
    # The longest deadline Chaperone asks for: this config's hold, and any hold the service allows.
    longest_hold = timedelta(seconds=max(config.approvals.hold_seconds, MAX_APPROVAL_HOLD_SECONDS))
    longest_deadline = longest_hold + timedelta(seconds=DEADLINE_MARGIN_SECONDS)
    for hcm in managers:
        (ext_proc,) = [f["typed_config"] for f in hcm["http_filters"] if f["name"] == EXT_PROC]
        max_message = seconds(ext_proc["max_message_timeout"])
        assert max_message >= longest_deadline
        idle = (
            seconds(hcm["stream_idle_timeout"]) if "stream_idle_timeout" in hcm else ENVOY_DEFAULT_STREAM_IDLE
        )
        assert idle > max_message, "a held stream is idle: the idle timeout must outlast the hold"
        # Nothing else bounds the whole stream, nor the request's arrival.
        assert not {"request_timeout", "max_stream_duration", "request_headers_timeout"} & set(hcm)
        assert "max_stream_duration" not in hcm.get("common_http_protocol_options", {})
        for host in hcm["route_config"]["virtual_hosts"]:
            for route in host["routes"]:
                assert not {"idle_timeout", "max_stream_duration"} & set(route.get("route", {}))


# -- Envoy's timers around a hold, with short timers ------------------------------------------

HOLD_SECONDS = 2.0
SHORT = "0.5s"
# The approvals fixture policy holds a plain GET by the check's decision (Chaperone holds it in
# the request headers phase), and an MCP refund above 500 in the request body phase.
HELD_CALLS: dict[str, dict[str, Any]] = {
    "headers": {"method": "GET", "url": "/echo/payout"},
    "body": {
        "method": "POST",
        "url": "/echo/mcp",
        "headers": {"accept": "application/json, text/event-stream"},
        "json": {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "refund_payment", "arguments": {"order_id": "o-1", "amount": 900}},
        },
    },
}


@pytest.fixture(scope="module")
def held_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceProcess, UpstreamServer]]:
    """Chaperone with the policy that holds both calls for approval (nobody approves)."""
    workdir = tmp_path_factory.mktemp("holds")
    policies = copy_policies("approvals", workdir / "policies")
    (workdir / "tokens").write_text("frank token-0123456789\n")
    sections = {"admin": {"token_file": str(workdir / "tokens")}, "approvals": {"hold_seconds": HOLD_SECONDS}}
    service = ServiceProcess(workdir, service_config(f"127.0.0.1:{free_port()}", policies, **sections))
    upstream = UpstreamServer(create_app()).start()
    try:
        service.start()
        yield service, upstream
    finally:
        service.stop()
        upstream.stop()


def held_call(
    held: tuple[ServiceProcess, UpstreamServer], workdir: Path, edit: Any, phase: str
) -> tuple[int, str, float]:
    """One held call through an Envoy of the shipped config, edited: its status, body and time."""
    service, upstream = held
    workdir.mkdir()
    listener, admin = free_port(), free_port()
    config = render_envoy_config(
        listener_port=listener,
        admin_port=admin,
        upstream_port=upstream.port,
        service_port=int(service.address.rpartition(":")[2]),
        edit=edit,
    )
    envoy = EnvoyProcess(config, workdir, listener, admin).start()
    try:
        request = HELD_CALLS[phase]
        started = time.monotonic()
        response = httpx.request(**{**request, "url": envoy.url + request["url"]}, timeout=30)
        return response.status_code, response.text, time.monotonic() - started
    finally:
        envoy.stop()


def connection_manager(config: dict[str, Any]) -> dict[str, Any]:
    (listener,) = config["static_resources"]["listeners"]
    hcm: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return hcm


@pytest.mark.envoy
@pytest.mark.parametrize("phase", sorted(HELD_CALLS))
def test_a_stream_idle_timeout_shorter_than_the_hold_cuts_it(
    held_service: tuple[ServiceProcess, UpstreamServer], tmp_path: Path, phase: str
) -> None:
    def edit(config: dict[str, Any]) -> None:
        connection_manager(config)["stream_idle_timeout"] = SHORT

    status, text, took = held_call(held_service, tmp_path / "idle", edit, phase)
    assert status == 504 and "stream timeout" in text
    assert took < HOLD_SECONDS


@pytest.mark.envoy
@pytest.mark.parametrize("phase", sorted(HELD_CALLS))
def test_a_route_timeout_shorter_than_the_hold_does_not(
    held_service: tuple[ServiceProcess, UpstreamServer], tmp_path: Path, phase: str
) -> None:
    def edit(config: dict[str, Any]) -> None:
        for host in connection_manager(config)["route_config"]["virtual_hosts"]:
            for route in host["routes"]:
                route["route"]["timeout"] = SHORT

    status, text, took = held_call(held_service, tmp_path / "route", edit, phase)
    # Chaperone's own answer once nobody decided within the hold (to MCP, a JSON-RPC error).
    assert status == {"headers": 403, "body": 200}[phase] and "approval_expired" in text
    assert took >= HOLD_SECONDS
