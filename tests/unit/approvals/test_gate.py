"""Hold and retry modes, on both backends: what happens to a call that needs approval."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ext_proc.approvals import ApprovalGate, ApprovalRequirement, Mode, Status, fingerprint
from ext_proc.approvals.model import Approval
from ext_proc.approvals.store import ApprovalStore
from ext_proc.errors import ErrorCode
from tests.clock import FakeClock

AGENT = "agent-7"
ACTION: dict[str, Any] = {"protocol": "mcp", "method": "tools/call", "tool": "refund", "arguments": {"n": 1}}
NEED = ApprovalRequirement("refund above 500", "finance")


class RecordingNotifier:
    """Collects announced requests, so a test can act as the operator who received them."""

    def __init__(self) -> None:
        self.announced: asyncio.Queue[Approval] = asyncio.Queue()

    def notify(self, approval: Approval) -> None:
        self.announced.put_nowait(approval)

    async def close(self) -> None:
        return None

    async def next(self) -> Approval:
        async with asyncio.timeout(30):
            return await self.announced.get()


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


def _gate(store: ApprovalStore, notifier: RecordingNotifier, mode: Mode, hold: float = 60) -> ApprovalGate:
    return ApprovalGate(store, notifier, mode=mode, hold_seconds=hold, ttl_seconds=900)


async def test_hold_an_approved_call_proceeds(store: ApprovalStore, notifier: RecordingNotifier) -> None:
    gate = _gate(store, notifier, Mode.HOLD)
    held = asyncio.create_task(gate.check(NEED, agent=AGENT, action=ACTION, decision_id="d-9"))
    announced = await notifier.next()
    assert (announced.status, announced.mode, announced.decision_id) == (Status.PENDING, Mode.HOLD, "d-9")
    assert (announced.reason, announced.group) == ("refund above 500", "finance")
    await store.decide(announced.id, True, "alice")
    async with asyncio.timeout(30):
        result = await held
    assert result.proceed and result.refusal is None and result.approval.decided_by == "alice"


async def test_hold_a_denied_call_is_refused(store: ApprovalStore, notifier: RecordingNotifier) -> None:
    gate = _gate(store, notifier, Mode.HOLD)
    held = asyncio.create_task(gate.check(NEED, agent=AGENT, action=ACTION))
    await store.decide((await notifier.next()).id, False, "bob", "not this one")
    async with asyncio.timeout(30):
        result = await held
    assert not result.proceed
    assert result.refusal is not None and result.refusal.code is ErrorCode.APPROVAL_DENIED


async def test_hold_a_call_nobody_decides_is_refused_at_the_timeout(
    store: ApprovalStore, notifier: RecordingNotifier
) -> None:
    result = await _gate(store, notifier, Mode.HOLD, hold=0.05).check(NEED, agent=AGENT, action=ACTION)
    assert result.refusal is not None and result.refusal.code is ErrorCode.APPROVAL_EXPIRED
    assert result.approval.status is Status.EXPIRED


async def test_hold_the_decisions_ttl_shortens_the_hold(
    store: ApprovalStore, notifier: RecordingNotifier, clock: FakeClock
) -> None:
    short = ApprovalRequirement("r", ttl_seconds=0.05)
    result = await _gate(store, notifier, Mode.HOLD, hold=600).check(short, agent=AGENT, action=ACTION)
    assert result.approval.status is Status.EXPIRED
    assert result.approval.expires_at == pytest.approx(clock.now + 0.05)


async def test_hold_an_abandoned_call_expires_its_request(
    store: ApprovalStore, notifier: RecordingNotifier
) -> None:
    gate = _gate(store, notifier, Mode.HOLD)
    held = asyncio.create_task(gate.check(NEED, agent=AGENT, action=ACTION))
    announced = await notifier.next()
    held.cancel()
    with pytest.raises(asyncio.CancelledError):
        await held
    await gate.close()
    current = await store.get(announced.id)
    assert current is not None and current.status is Status.EXPIRED


async def test_retry_refuses_at_once_then_passes_once_approved(
    store: ApprovalStore, notifier: RecordingNotifier
) -> None:
    gate = _gate(store, notifier, Mode.RETRY)
    first = await gate.check(NEED, agent=AGENT, action=ACTION)
    assert first.refusal is not None and first.refusal.code is ErrorCode.APPROVAL_REQUIRED
    assert first.approval.mode is Mode.RETRY
    again = await gate.check(NEED, agent=AGENT, action=ACTION)
    assert again.refusal is not None and again.approval.id == first.approval.id  # no duplicate request
    assert notifier.announced.qsize() == 1
    await store.decide(first.approval.id, True, "alice")
    passed = await gate.check(NEED, agent=AGENT, action=ACTION)
    assert passed.proceed and passed.approval.id == first.approval.id and passed.approval.used_at is not None
    after = await gate.check(NEED, agent=AGENT, action=ACTION)  # used: a new request
    assert after.refusal is not None and after.refusal.code is ErrorCode.APPROVAL_REQUIRED
    assert after.approval.id != first.approval.id


async def test_retry_concurrent_retries_pass_once(store: ApprovalStore, notifier: RecordingNotifier) -> None:
    gate = _gate(store, notifier, Mode.RETRY)
    first = await gate.check(NEED, agent=AGENT, action=ACTION)
    await store.decide(first.approval.id, True, "alice")
    results = await asyncio.gather(*(gate.check(NEED, agent=AGENT, action=ACTION) for _ in range(8)))
    assert sum(result.proceed for result in results) == 1


async def test_retry_a_denial_is_reported_once_then_asked_anew(
    store: ApprovalStore, notifier: RecordingNotifier
) -> None:
    gate = _gate(store, notifier, Mode.RETRY)
    first = await gate.check(NEED, agent=AGENT, action=ACTION)
    await store.decide(first.approval.id, False, "bob")
    told = await gate.check(NEED, agent=AGENT, action=ACTION)
    assert told.refusal is not None and told.refusal.code is ErrorCode.APPROVAL_DENIED
    assert told.approval.id == first.approval.id
    anew = await gate.check(NEED, agent=AGENT, action=ACTION)
    assert anew.refusal is not None and anew.refusal.code is ErrorCode.APPROVAL_REQUIRED
    assert anew.approval.id != first.approval.id


async def test_retry_an_expired_request_is_reported(
    store: ApprovalStore, notifier: RecordingNotifier, clock: FakeClock
) -> None:
    gate = _gate(store, notifier, Mode.RETRY)
    first = await gate.check(ApprovalRequirement("r", ttl_seconds=30), agent=AGENT, action=ACTION)
    clock.advance(30)
    told = await gate.check(NEED, agent=AGENT, action=ACTION)
    assert told.refusal is not None and told.refusal.code is ErrorCode.APPROVAL_EXPIRED
    assert told.approval.id == first.approval.id


async def test_retry_the_approval_is_for_that_action_and_agent_only(
    store: ApprovalStore, notifier: RecordingNotifier
) -> None:
    gate = _gate(store, notifier, Mode.RETRY)
    first = await gate.check(NEED, agent=AGENT, action=ACTION)
    await store.decide(first.approval.id, True, "alice")
    other_arguments = {**ACTION, "arguments": {"n": 2}}
    assert not (await gate.check(NEED, agent=AGENT, action=other_arguments)).proceed
    assert not (await gate.check(NEED, agent="agent-8", action=ACTION)).proceed
    # The request id of JSON-RPC changes between attempts: it is not part of the action.
    assert (await gate.check(NEED, agent=AGENT, action={**ACTION, "id": 99})).proceed


async def test_retry_redacted_summaries_keep_different_actions_apart(
    store: ApprovalStore, notifier: RecordingNotifier
) -> None:
    gate = _gate(store, notifier, Mode.RETRY)
    shown = {**ACTION, "arguments": {"email": "[REDACTED:EMAIL]"}}
    real_a = {**ACTION, "arguments": {"email": "a@example.com"}}
    real_b = {**ACTION, "arguments": {"email": "b@example.com"}}
    first = await gate.check(NEED, agent=AGENT, action=shown, action_fingerprint=fingerprint(AGENT, real_a))
    assert first.approval.action == shown
    await store.decide(first.approval.id, True, "alice")
    other = await gate.check(NEED, agent=AGENT, action=shown, action_fingerprint=fingerprint(AGENT, real_b))
    assert not other.proceed
    same = await gate.check(NEED, agent=AGENT, action=shown, action_fingerprint=fingerprint(AGENT, real_a))
    assert same.proceed
