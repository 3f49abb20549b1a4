"""Workload identity through real Envoy, configured by `upstreams[].listen_tls` alone.

The Envoy config is what `chaperone envoy-config` writes for the test's Chaperone config: two
listeners with TLS and required client certificates of the trust domain cluster.local, their
PEM files in a directory laid out as the kubelet lays out a Secret (``..data`` swapped
atomically on update). Certificates are minted by the test (tests/tls_certs.py): workload
certificates carry a SPIFFE ID, as SPIRE's and cert-manager's do. One listener fronts the
echo upstream (which answers with the headers it received), the other a real MCP server
called with the `mcp` SDK's client presenting the workload's certificate.
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import yaml
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from ext_proc.cli import main
from ext_proc.envoy_bootstrap.listeners import CLIENT_CERTIFICATE_HEADERS
from tests.harness import (
    EnvoyProcess,
    ServiceProcess,
    UpstreamServer,
    copy_policies,
    free_port,
    service_config,
)
from tests.k8s.manifests import publish_volume
from tests.mcp_server import McpServerThread
from tests.tls_certs import Issued, ThrowawayCa

pytestmark = pytest.mark.envoy

TRUST_DOMAIN = "cluster.local"
SUPPORT_ID = f"spiffe://{TRUST_DOMAIN}/ns/agents/sa/support-bot"
BILLING_ID = f"spiffe://{TRUST_DOMAIN}/ns/agents/sa/billing-bot"


@dataclass
class Listeners:
    """Envoy, Chaperone and the two TLS listeners; the Secret-like directory of their PEM files."""

    workdir: Path
    envoy: EnvoyProcess
    service: ServiceProcess
    tls_dir: Path
    ports: dict[str, int]
    generation: int = 1

    def url(self, name: str) -> str:
        return f"https://127.0.0.1:{self.ports[name]}"

    def publish(self, server: Issued, *cas: ThrowawayCa) -> None:
        """A new generation of the listeners' certificate and client CA bundle (a Secret update)."""
        self.generation += 1
        bundle = b"".join(ca.cert_pem() for ca in cas)
        cert, key = server.pem()
        publish_volume(self.tls_dir, {"tls.crt": cert, "tls.key": key, "ca.crt": bundle}, self.generation)

    def verify_failures(self) -> int:
        stats = self.envoy.stats("listener.")
        return sum(
            v for k, v in stats.items() if ".ssl.fail_verify" in k or k.endswith(".ssl.connection_error")
        )


def client_context(client: Issued | None, *cas: ThrowawayCa) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata="".join(ca.cert_pem().decode() for ca in cas))
    if client is not None:
        context.load_cert_chain(str(client.cert), str(client.key))
    return context


def start_listeners(
    workdir: Path, ca: ThrowawayCa, upstream: UpstreamServer, mcp: McpServerThread
) -> Listeners:
    tls_dir = workdir / "tls"
    server = ca.issue("envoy", ip="127.0.0.1")
    cert, key = server.pem()
    publish_volume(tls_dir, {"tls.crt": cert, "tls.key": key, "ca.crt": ca.cert_pem()}, 1)
    listen_tls = {
        "certificate_file": str(tls_dir / "tls.crt"),
        "private_key_file": str(tls_dir / "tls.key"),
        "client_ca_file": str(tls_dir / "ca.crt"),
        "require_client_certificate": True,
        "trust_domains": [TRUST_DOMAIN],
    }
    ports = {"echo": free_port(), "tools": free_port()}
    config = service_config(
        f"127.0.0.1:{free_port()}",
        copy_policies("workload", workdir / "policies"),
        identity={"spiffe": {"trust_domain": TRUST_DOMAIN, "agent_from": "/ns/agents/sa/{agent}"}},
    )
    config["upstreams"] = [
        {"name": "echo", "url": f"http://127.0.0.1:{upstream.port}", "listen": f"127.0.0.1:{ports['echo']}"},
        {"name": "tools", "url": f"http://127.0.0.1:{mcp.port}", "listen": f"127.0.0.1:{ports['tools']}"},
    ]
    for item in config["upstreams"]:
        item["listen_tls"] = listen_tls
    (workdir / "chaperone.yaml").write_text(yaml.safe_dump(config))
    admin = free_port()
    rendered = workdir / "envoy-config" / "envoy.yaml"
    rendered.parent.mkdir()
    command = ["envoy-config", "--config", str(workdir / "chaperone.yaml"), "--admin-address"]
    command += [f"127.0.0.1:{admin}", "--sds-directory", str(rendered.parent), "--output", str(rendered)]
    assert main(command) == 0
    service = ServiceProcess(workdir, config).start()
    envoy = EnvoyProcess(yaml.safe_load(rendered.read_text()), workdir, ports["echo"], admin)
    try:
        envoy.start()
    except BaseException:
        service.stop()
        raise
    return Listeners(workdir, envoy, service, tls_dir, ports)


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[McpServerThread]:
    server = McpServerThread().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayCa:
    return ThrowawayCa(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def listeners(
    tmp_path_factory: pytest.TempPathFactory,
    ca: ThrowawayCa,
    upstream: UpstreamServer,
    mcp_server: McpServerThread,
) -> Iterator[Listeners]:
    stack = start_listeners(tmp_path_factory.mktemp("mtls"), ca, upstream, mcp_server)
    yield stack
    stack.envoy.stop()
    stack.service.stop()


def echo(
    listeners: Listeners, context: ssl.SSLContext, headers: dict[str, str] | None = None
) -> httpx.Response:
    with httpx.Client(base_url=listeners.url("echo"), verify=context, timeout=10) as http:
        return http.post("/echo/hello", json={"q": 1}, headers=headers)


def received(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {k.lower(): v for k, v in response.json()["headers"].items()}


def assert_refused_at_handshake(listeners: Listeners, context: ssl.SSLContext) -> None:
    before = listeners.verify_failures()
    with pytest.raises(httpx.TransportError):
        echo(listeners, context)
    assert listeners.verify_failures() > before, "Envoy refused the certificate, not something else"


# -- who the workload is ---------------------------------------------------------------------


def test_a_workload_certificate_names_the_agent(listeners: Listeners, ca: ThrowawayCa) -> None:
    client = ca.issue("support", uri=SUPPORT_ID)
    headers = received(echo(listeners, client_context(client, ca)))
    assert headers["x-agent"] == "support-bot"
    assert headers["x-spiffe-id"] == SUPPORT_ID


def test_a_path_the_mapping_does_not_name_is_refused_by_chaperone(
    listeners: Listeners, ca: ThrowawayCa
) -> None:
    client = ca.issue("stranger", uri=f"spiffe://{TRUST_DOMAIN}/ns/default/sa/web")
    response = echo(listeners, client_context(client, ca))
    assert response.status_code == 401
    assert response.json()["error"]["reasons"] == ["agent credential refused: spiffe_id_not_mapped"]


# -- what Envoy refuses before any request -----------------------------------------------------


def test_a_workload_of_another_trust_domain_is_refused(listeners: Listeners, ca: ThrowawayCa) -> None:
    client = ca.issue("foreign", uri="spiffe://other.example/ns/agents/sa/support-bot")
    assert_refused_at_handshake(listeners, client_context(client, ca))


def test_an_expired_certificate_is_refused(listeners: Listeners, ca: ThrowawayCa) -> None:
    now = datetime.datetime.now(datetime.UTC)
    expired = ca.issue(
        "expired",
        uri=SUPPORT_ID,
        not_before=now - datetime.timedelta(hours=2),
        not_after=now - datetime.timedelta(minutes=5),
    )
    assert_refused_at_handshake(listeners, client_context(expired, ca))
    early = ca.issue("early", uri=SUPPORT_ID, not_before=now + datetime.timedelta(hours=1))
    assert_refused_at_handshake(listeners, client_context(early, ca))


def test_a_certificate_of_another_ca_is_refused(
    listeners: Listeners, ca: ThrowawayCa, tmp_path: Path
) -> None:
    impostor = ThrowawayCa(tmp_path, name="impostor-ca").issue("support", uri=SUPPORT_ID)
    assert_refused_at_handshake(listeners, client_context(impostor, ca))


def test_a_certificate_without_a_spiffe_id_is_refused(listeners: Listeners, ca: ThrowawayCa) -> None:
    assert_refused_at_handshake(listeners, client_context(ca.issue("plain", dns="support.example"), ca))


def test_a_client_without_a_certificate_is_refused(listeners: Listeners, ca: ThrowawayCa) -> None:
    assert_refused_at_handshake(listeners, client_context(None, ca))


def test_plain_http_gets_nothing(listeners: Listeners) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.get(listeners.url("echo").replace("https://", "http://") + "/echo/hello", timeout=5)


# -- what the upstream sees --------------------------------------------------------------------


def test_the_upstream_never_sees_client_certificate_headers(listeners: Listeners, ca: ThrowawayCa) -> None:
    client = ca.issue("support-spoof", uri=SUPPORT_ID)
    # The client claims another identity in every header a proxy might use to pass one on.
    spoofed = {
        name: f"By=spiffe://{TRUST_DOMAIN}/ns/agents/sa/billing-bot" for name in CLIENT_CERTIFICATE_HEADERS
    }
    headers = received(echo(listeners, client_context(client, ca), spoofed))
    assert headers["x-agent"] == "support-bot", "the certificate decides, not a header"
    assert not set(headers) & set(CLIENT_CERTIFICATE_HEADERS), headers
    assert "billing-bot" not in str(headers)


# -- a tool bound to a workload, with the real MCP client --------------------------------------


async def call_tool(
    listeners: Listeners, context: ssl.SSLContext, name: str, arguments: dict[str, Any]
) -> Any:
    async with (
        httpx2.AsyncClient(verify=context, timeout=10) as http,
        streamable_http_client(listeners.url("tools") + "/mcp", http_client=http) as streams,
        ClientSession(*streams[:2]) as session,
    ):
        await session.initialize()
        try:
            return await session.call_tool(name, arguments)
        except MCPError as error:
            return error


def test_each_workload_calls_only_its_own_tools(listeners: Listeners, ca: ThrowawayCa) -> None:
    support = client_context(ca.issue("support-mcp", uri=SUPPORT_ID), ca)
    billing = client_context(ca.issue("billing-mcp", uri=BILLING_ID), ca)
    result = asyncio.run(call_tool(listeners, support, "get_customer", {"customer_id": 7}))
    assert not isinstance(result, MCPError) and not result.is_error, result
    refused = asyncio.run(call_tool(listeners, support, "refund_payment", {"order_id": "A-1", "amount": 10}))
    assert isinstance(refused, MCPError), refused
    assert "support-bot may not call refund_payment" in str(refused)
    allowed = asyncio.run(call_tool(listeners, billing, "refund_payment", {"order_id": "A-1", "amount": 10}))
    assert not isinstance(allowed, MCPError) and not allowed.is_error, allowed


# -- rotation: new certificates while traffic flows --------------------------------------------


def served_certificate(port: int) -> bytes:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, context.wrap_socket(raw) as tls:
        certificate = tls.getpeercert(binary_form=True)
    assert certificate is not None
    return certificate


class Traffic(threading.Thread):
    """Calls in a loop, each on a new connection (a new handshake), until stopped."""

    def __init__(self, listeners: Listeners, context: ssl.SSLContext) -> None:
        super().__init__(daemon=True)
        self.listeners, self.context = listeners, context
        self.outcomes: list[str] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set() and len(self.outcomes) < 2000:
            try:
                self.outcomes.append(str(echo(self.listeners, self.context).status_code))
            except httpx.TransportError as error:
                self.outcomes.append(type(error).__name__)

    def stop(self) -> list[str]:
        self.stopped.set()
        self.join(timeout=15)
        return self.outcomes


def until(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the change did not take effect"
        time.sleep(0.05)


def test_certificates_rotate_while_traffic_flows(
    tmp_path: Path, upstream: UpstreamServer, mcp_server: McpServerThread
) -> None:
    old_ca, new_ca = ThrowawayCa(tmp_path, name="ca-2026"), ThrowawayCa(tmp_path, name="ca-2027")
    stack = start_listeners(tmp_path / "stack", old_ca, upstream, mcp_server)
    try:
        port = stack.ports["echo"]
        old_client = client_context(old_ca.issue("old", uri=SUPPORT_ID), old_ca, new_ca)
        new_client = client_context(new_ca.issue("new", uri=SUPPORT_ID), old_ca, new_ca)
        first_served = served_certificate(port)
        traffic = Traffic(stack, old_client)
        traffic.start()
        until(lambda: len(traffic.outcomes) >= 5)
        # 1. The new CA joins the bundle and the listener gets a certificate it signed.
        stack.publish(new_ca.issue("envoy-2027", ip="127.0.0.1"), old_ca, new_ca)
        until(lambda: served_certificate(port) != first_served)
        until(lambda: echo(stack, new_client).status_code == 200)
        seen = len(traffic.outcomes)
        until(lambda: len(traffic.outcomes) >= seen + 5)
        during = traffic.stop()
        # Not one call failed while the files changed: every handshake had a full pair.
        assert set(during) == {"200"}, during
        # 2. The old CA leaves the bundle: its workloads are refused, the new ones are not.
        stack.publish(new_ca.issue("envoy-2027b", ip="127.0.0.1"), new_ca)
        until(lambda: _refused(stack, old_client))
        assert echo(stack, new_client).status_code == 200
        assert stack.envoy.process is not None and stack.envoy.process.poll() is None, "no restart"
    finally:
        stack.envoy.stop()
        stack.service.stop()


def _refused(stack: Listeners, context: ssl.SSLContext) -> bool:
    try:
        echo(stack, context)
    except httpx.TransportError:
        return True
    return False
