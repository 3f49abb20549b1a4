"""Webhook delivery to a real local HTTP receiver: payload, signature, retries, a receiver that is down."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from ext_proc.approvals import ApprovalGate, ApprovalRequirement, Mode, Status
from ext_proc.approvals.memory_store import MemoryApprovalStore
from ext_proc.approvals.model import Approval
from ext_proc.approvals.store import ApprovalStore
from ext_proc.approvals.webhook import NullNotifier, WebhookNotifier
from ext_proc.config import ApprovalsConfig
from tests.harness import free_port
from tests.unit.approvals.conftest import SETTINGS

ACTION = {"protocol": "mcp", "method": "tools/call", "tool": "refund", "arguments": {"amount": 900}}


@dataclass
class Receiver:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    # Answers to give, in order (then 204): a status, or "slow" to answer after the client gave up.
    script: list[int | str] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver(url="")

    async def hook(request: web.Request) -> web.Response:
        state.received.append((dict(request.headers), await request.read()))
        answer = state.script.pop(0) if state.script else 204
        if answer == "slow":
            await asyncio.sleep(1)
            answer = 204
        return web.Response(status=int(answer))

    app = web.Application()
    app.router.add_post("/hooks/approvals", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    state.url = f"http://127.0.0.1:{port}/hooks/approvals"
    yield state
    await runner.cleanup()


@pytest.fixture
async def store() -> AsyncIterator[ApprovalStore]:
    memory = MemoryApprovalStore(SETTINGS)
    yield memory
    await memory.close()


async def _approval(store: ApprovalStore) -> Approval:
    return await store.create(
        agent="agent-1", action=ACTION, reason="refund above 500", group="finance", ttl_seconds=120
    )


def _notifier(url: str, **options: Any) -> WebhookNotifier:
    return WebhookNotifier(
        url, timeout_seconds=options.pop("timeout_seconds", 2.0), backoff_seconds=0.01, **options
    )


async def test_a_new_request_is_posted_signed(
    receiver: Receiver, store: ApprovalStore, tmp_path: Path
) -> None:
    secret = tmp_path / "webhook-secret"
    secret.write_text("whsec-test-123\n")
    notifier = _notifier(receiver.url, secret_file=str(secret), console_base_url="https://chaperone.example/")
    approval = await _approval(store)
    assert await notifier.deliver(approval) is True
    await notifier.close()
    ((headers, body),) = receiver.received
    sent = orjson.loads(body)
    assert sent == {
        "event": "approval_requested",
        "id": approval.id,
        "agent": "agent-1",
        "action": ACTION,
        "reason": "refund above 500",
        "group": "finance",
        "mode": "hold",
        "created_at": approval.as_json()["created_at"],
        "expires_at": approval.as_json()["expires_at"],
        "link": f"https://chaperone.example/console#approval={approval.id}",
    }
    assert headers["x-chaperone-event"] == "approval_requested"
    # A receiver checks the signature as documented: HMAC-SHA256 of "<t>.<body>".
    parts = dict(item.split("=", 1) for item in headers["x-chaperone-signature"].split(","))
    expected = hmac.new(b"whsec-test-123", parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)


async def test_without_a_base_url_the_link_is_a_path(receiver: Receiver, store: ApprovalStore) -> None:
    notifier = _notifier(receiver.url)
    approval = await _approval(store)
    await notifier.deliver(approval)
    await notifier.close()
    ((headers, body),) = receiver.received
    assert orjson.loads(body)["link"] == f"/console#approval={approval.id}"
    assert "x-chaperone-signature" not in {key.lower() for key in headers}


async def test_server_errors_are_retried_with_the_same_delivery_id(
    receiver: Receiver, store: ApprovalStore
) -> None:
    receiver.script = [503, 500]
    notifier = _notifier(receiver.url, attempts=3)
    assert await notifier.deliver(await _approval(store)) is True
    await notifier.close()
    assert len(receiver.received) == 3
    assert len({headers["x-chaperone-delivery"] for headers, _ in receiver.received}) == 1


async def test_a_slow_receiver_times_out_and_is_retried(receiver: Receiver, store: ApprovalStore) -> None:
    receiver.script = ["slow"]
    notifier = _notifier(receiver.url, attempts=2, timeout_seconds=0.2)
    assert await notifier.deliver(await _approval(store)) is True
    await notifier.close()
    assert len(receiver.received) == 2


async def test_a_client_error_is_final(receiver: Receiver, store: ApprovalStore) -> None:
    receiver.script = [400, 400]
    notifier = _notifier(receiver.url, attempts=3)
    assert await notifier.deliver(await _approval(store)) is False
    await notifier.close()
    assert len(receiver.received) == 1


async def test_attempts_are_bounded(receiver: Receiver, store: ApprovalStore) -> None:
    receiver.script = [502] * 5
    notifier = _notifier(receiver.url, attempts=3)
    assert await notifier.deliver(await _approval(store)) is False
    await notifier.close()
    assert len(receiver.received) == 3


async def test_an_unreadable_secret_never_sends_unsigned(
    receiver: Receiver, store: ApprovalStore, tmp_path: Path
) -> None:
    notifier = _notifier(receiver.url, secret_file=str(tmp_path / "missing"))
    assert await notifier.deliver(await _approval(store)) is False
    await notifier.close()
    assert receiver.received == []


async def test_a_held_call_is_unaffected_by_a_receiver_that_is_down(store: ApprovalStore) -> None:
    down = f"http://127.0.0.1:{free_port()}/hooks"
    notifier = _notifier(down, attempts=3)
    gate = ApprovalGate(store, notifier, mode=Mode.HOLD, hold_seconds=60, ttl_seconds=900)
    held = asyncio.create_task(gate.check(ApprovalRequirement("r"), agent="agent-1", action=ACTION))
    async with asyncio.timeout(30):
        while not (pending := await store.list(Status.PENDING)):
            await asyncio.sleep(0.01)
        await store.decide(pending[0].id, True, "alice")
        result = await held
    assert result.proceed
    await notifier.drain()  # every attempt failed, in the background
    await notifier.close()


async def test_notify_returns_at_once_and_delivers_in_the_background(
    receiver: Receiver, store: ApprovalStore
) -> None:
    receiver.script = ["slow"]
    notifier = _notifier(receiver.url, attempts=1, timeout_seconds=10)
    notifier.notify(await _approval(store))  # the receiver takes 1 s: notify must not wait for it
    assert receiver.received == []
    await notifier.close()  # cancels the delivery in flight


def test_without_a_url_nothing_is_sent() -> None:
    assert isinstance(WebhookNotifier.of(ApprovalsConfig()), NullNotifier)
    configured = WebhookNotifier.of(ApprovalsConfig(webhook_url="https://hooks.example/x"))
    assert isinstance(configured, WebhookNotifier)
