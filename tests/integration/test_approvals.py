"""Human approval through real Envoy, with the real MCP client and server, on shared Redis.

A tool call the policy wants approved waits (hold mode) until an operator decides through the
operator API of another replica of the service: approved, it goes through unchanged; denied or
not decided in time, the MCP client gets the refusal as the call's error. A plain HTTP call held
by the check's decision waits the same way, and in retry mode it is refused at once with the
request's id and passes once after the approval.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from mcp.shared.exceptions import MCPError

from tests.harness import (
    ServiceProcess,
    Stack,
    UpstreamServer,
    copy_policies,
    free_port,
    service_config,
    start_stack,
)
from tests.mcp_server import McpServerThread
from tests.mcp_server import call_tool as mcp_call_tool
from tests.redis_server import RedisServer

pytestmark = pytest.mark.envoy

TOKEN = "tok-finance"
AUTH = {"authorization": f"Bearer {TOKEN}"}


WEBHOOK_SECRET = "a-webhook-secret-for-the-receiver"


class Receiver:
    """The webhook's receiver: an HTTP server that keeps what it was sent."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        app = web.Application()
        app.router.add_post("/hooks/approvals", self._receive)
        self.server = UpstreamServer(app)

    async def _receive(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/hooks/approvals"


RECEIVER = Receiver()


def _sections(workdir: Path, redis_url: str | None, **approvals: Any) -> dict[str, dict[str, Any]]:
    (workdir / "tokens").write_text(f"frank {TOKEN}\n")
    sections: dict[str, dict[str, Any]] = {
        "admin": {"token_file": str(workdir / "tokens")},
        "approvals": {"hold_seconds": 60, **approvals},
    }
    if redis_url is not None:
        sections["state"] = {"redis_url": redis_url}
    return sections


@pytest.fixture(scope="module")
def held(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[tuple[Stack, ServiceProcess]]:
    """Envoy in front of replica A and the MCP server; replica B shares A's Redis and is where
    operators decide."""
    workdir = tmp_path_factory.mktemp("approvals")
    redis_url = redis_server.url.replace("/0", "/5")
    policies = copy_policies("approvals", workdir / "policies")
    (workdir / "webhook-secret").write_text(WEBHOOK_SECRET + "\n")
    webhook = {"webhook_url": RECEIVER.url, "webhook_secret_file": str(workdir / "webhook-secret")}
    sections = _sections(workdir, redis_url, **webhook)
    other = ServiceProcess(
        workdir / "replica-b",
        service_config(f"127.0.0.1:{free_port()}", policies, **_sections(workdir, redis_url)),
    )
    other.workdir.mkdir()
    server = McpServerThread().start()
    RECEIVER.server.start()
    try:
        other.start()
        for stack in start_stack(workdir, policies, server, service_sections=sections):  # type: ignore[arg-type]
            yield stack, other
    finally:
        other.stop()
        server.stop()
        RECEIVER.server.stop()


def pending(service: ServiceProcess, reason: str, timeout: float = 10.0) -> dict[str, Any]:
    """The pending approval with this reason, once it shows in the operator API."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(f"{service.admin_url}/api/approvals?status=pending", headers=AUTH)
        assert response.status_code == 200, response.text
        found = [a for a in response.json()["approvals"] if a["reason"] == reason]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no pending approval {reason!r}")


def decide(service: ServiceProcess, approval_id: str, verdict: str, comment: str = "") -> dict[str, Any]:
    response = httpx.post(
        f"{service.admin_url}/api/approvals/{approval_id}/{verdict}", headers=AUTH, json={"comment": comment}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def call_tool(stack: Stack, name: str, arguments: dict[str, Any]) -> Any:
    return await mcp_call_tool(f"{stack.url}/mcp", name, arguments)


async def test_a_held_call_goes_through_once_an_operator_on_another_replica_approves(
    held: tuple[Stack, ServiceProcess],
) -> None:
    stack, replica_b = held
    call = asyncio.create_task(call_tool(stack, "refund_payment", {"order_id": "o-77", "amount": 900}))
    approval = await asyncio.to_thread(pending, replica_b, "refund of 900")
    assert not call.done(), "the call waits for the operator"
    assert approval["agent"] is None and approval["group"] == "finance"
    assert approval["action"]["tool"] == "refund_payment"
    assert approval["action"]["arguments"] == {"order_id": "o-77", "amount": 900}
    await asyncio.to_thread(_gauge_reads, stack, "chaperone_approvals_pending 1.0")
    decided = await asyncio.to_thread(decide, replica_b, approval["id"], "approve", "order checked")
    assert decided["status"] == "approved" and decided["decided_by"] == "frank"
    result = await asyncio.wait_for(call, 10)
    assert not result.is_error and "refunded 900" in result.content[0].text.lower()
    requested = re.search(r"^chaperone_approvals_requested_total (\S+)$", _metrics(stack.service), re.M)
    assert requested is not None and float(requested[1]) >= 1  # counted where the call was held
    assert 'chaperone_approvals_decided_total{outcome="granted"} 1.0' in _metrics(replica_b)  # and decided


def _metrics(service: ServiceProcess) -> str:
    return httpx.get(f"{service.admin_url}/metrics").text


def _gauge_reads(stack: Stack, line: str, timeout: float = 10.0) -> None:
    """The metric shows on the held call's replica (refreshed every few seconds)."""
    deadline = time.monotonic() + timeout
    while line not in httpx.get(f"{stack.service.admin_url}/metrics").text:
        assert time.monotonic() < deadline, f"no {line!r} in /metrics"
        time.sleep(0.1)


async def test_a_denied_call_gets_the_operators_refusal(held: tuple[Stack, ServiceProcess]) -> None:
    stack, replica_b = held
    call = asyncio.create_task(call_tool(stack, "refund_payment", {"order_id": "o-78", "amount": 5000}))
    approval = await asyncio.to_thread(pending, replica_b, "refund of 5000")
    await asyncio.to_thread(decide, replica_b, approval["id"], "deny")
    refused = await asyncio.wait_for(call, 10)
    assert isinstance(refused, MCPError)
    assert refused.error.data["code"] == "approval_denied"
    assert refused.error.data["approval_id"] == approval["id"]
    assert "an operator denied this action" in refused.error.message


async def test_a_call_nobody_decides_expires(held: tuple[Stack, ServiceProcess]) -> None:
    stack, _ = held
    started = time.monotonic()
    refused = await call_tool(stack, "delete_user", {"user_id": "u-1"})
    assert isinstance(refused, MCPError) and refused.error.data["code"] == "approval_expired"
    assert 0.9 <= time.monotonic() - started < 10  # the policy's ttl_seconds: 1


async def test_calls_that_need_no_approval_are_not_held(held: tuple[Stack, ServiceProcess]) -> None:
    stack, _ = held
    result = await asyncio.wait_for(
        call_tool(stack, "refund_payment", {"order_id": "o-79", "amount": 20}), 10
    )
    assert not result.is_error


def test_each_new_request_is_announced_to_the_webhook_signed(held: tuple[Stack, ServiceProcess]) -> None:
    announced = []
    for headers, body in RECEIVER.received:
        stamp, _, signature = headers["x-chaperone-signature"].partition(",v1=")
        signed = stamp.removeprefix("t=").encode() + b"." + body
        expected = hmac.new(WEBHOOK_SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(signature, expected), "the signature verifies"
        assert headers["x-chaperone-event"] == "approval_requested"
        announced.append(orjson.loads(body))
    refund = next(event for event in announced if event["reason"] == "refund of 900")
    assert refund["id"].startswith("apr_") and refund["group"] == "finance" and refund["mode"] == "hold"
    assert refund["link"].endswith(f"/console#approval={refund['id']}")


def test_the_audit_trail_says_who_approved_what(held: tuple[Stack, ServiceProcess]) -> None:
    stack, replica_b = held
    requested = [e for e in stack.service.log_events() if e.get("event") == "approval_requested"]
    assert {e["reason"] for e in requested} >= {"refund of 900", "refund of 5000", "deleting a user"}
    decided = [e for e in replica_b.log_events() if e.get("event") == "approval_decided"]
    assert {(e["operator"], e["outcome"]) for e in decided} >= {("frank", "approved"), ("frank", "denied")}
    decisions = [e for e in stack.service.log_events() if e.get("event") == "decision" and e.get("approval")]
    outcomes = {(e["approval"]["status"], e["allowed"]) for e in decisions}
    assert outcomes >= {("approved", True), ("denied", False), ("expired", False)}
    text = stack.service.log_path.read_text() + replica_b.log_path.read_text()
    assert "o-77" not in text, "arguments stay out of the logs"


# -- plain HTTP, held by the check's decision ----------------------------------------------------


@pytest.fixture(scope="module", params=["hold", "retry"])
def http_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamServer
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp(f"approvals-{request.param}")
    sections = _sections(workdir, None, mode=request.param)
    yield from start_stack(
        workdir, copy_policies("approvals", workdir / "policies"), upstream, service_sections=sections
    )


def test_a_plain_http_call_waits_or_is_refused_with_the_request_id(http_stack: Stack) -> None:
    service = http_stack.service
    mode = service.config["approvals"]["mode"]
    with http_stack.client(timeout=30) as client:
        if mode == "hold":
            answer: dict[str, httpx.Response] = {}
            thread = threading.Thread(
                target=lambda: answer.setdefault("r", client.post("/echo/payout", json={"amount": 10}))
            )
            thread.start()
            approval = pending(service, "a payout")
            decide(service, approval["id"], "approve")
            thread.join(15)
            assert answer["r"].status_code == 200 and answer["r"].json()["path"] == "/echo/payout"
            return
        first = client.post("/echo/payout", json={"amount": 10})
        assert first.status_code == 403
        error = first.json()["error"]
        assert error["code"] == "approval_required" and error["reason"] == "a payout"
        again = client.post("/echo/payout", json={"amount": 10})
        assert again.json()["error"]["approval_id"] == error["approval_id"], "no duplicate request"
        decide(service, error["approval_id"], "approve")
        assert client.post("/echo/payout", json={"amount": 10}).status_code == 200
        after = client.post("/echo/payout", json={"amount": 10})
        assert after.status_code == 403 and after.json()["error"]["approval_id"] != error["approval_id"]
