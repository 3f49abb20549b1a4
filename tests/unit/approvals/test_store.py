"""Approval store semantics, the same on both backends (memory and a real Redis)."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import orjson
import pytest

from ext_proc.approvals.model import ID_PATTERN, Approval, Mode, Status, fingerprint
from ext_proc.approvals.store import ApprovalStore
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.logs import configure_logging
from tests.clock import FakeClock
from tests.unit.approvals.conftest import StoreFactory

ACTION = {
    "protocol": "mcp",
    "method": "tools/call",
    "tool": "refund_payment",
    "arguments": {"order": "A-17", "amount": 900, "note": "[REDACTED:EMAIL]", "tags": []},
}
AGENT = "spiffe://example.org/agent/support-bot"


async def _create(store: ApprovalStore, mode: Mode = Mode.HOLD, ttl: float = 120, **changes: Any) -> Approval:
    fields: dict[str, Any] = {
        "agent": AGENT,
        "action": ACTION,
        "reason": "refund above 500",
        "group": "finance",
        "decision_id": "d-1",
        "ttl_seconds": ttl,
        "mode": mode,
        **changes,
    }
    return await store.create(**fields)


async def test_a_new_request_is_pending_and_reads_back_unchanged(
    store: ApprovalStore, clock: FakeClock
) -> None:
    approval = await _create(store)
    assert ID_PATTERN.match(approval.id)
    assert approval.status is Status.PENDING
    assert approval.created_at == clock.now and approval.expires_at == clock.now + 120
    assert approval.fingerprint == fingerprint(AGENT, ACTION)
    again = await store.get(approval.id)
    assert again == approval
    # Empty arrays and objects survive the round trip (the Redis record never passes through cjson).
    assert again is not None and again.action == ACTION
    assert [a.id for a in await store.list(Status.PENDING)] == [approval.id]
    assert await store.get("apr_" + "x" * 22) is None


async def test_ids_are_unguessable_and_distinct(store: ApprovalStore) -> None:
    ids = {(await _create(store)).id for _ in range(20)}
    assert len(ids) == 20


async def test_an_operator_approves_once(store: ApprovalStore, clock: FakeClock) -> None:
    approval = await _create(store)
    clock.advance(5)
    decided = await store.decide(approval.id, True, "alice", "checked the order")
    assert decided.status is Status.APPROVED
    assert (decided.decided_by, decided.decided_at, decided.comment) == (
        "alice",
        clock.now,
        "checked the order",
    )
    assert await store.get(approval.id) == decided
    with pytest.raises(ChaperoneError) as error:
        await store.decide(approval.id, False, "bob", "")
    assert error.value.code is ErrorCode.APPROVAL_NOT_PENDING and error.value.http_status == 409
    assert (await store.get(approval.id)) == decided


async def test_a_denial_without_a_comment(store: ApprovalStore) -> None:
    approval = await _create(store)
    denied = await store.decide(approval.id, False, "bob")
    assert denied.status is Status.DENIED and denied.comment is None and denied.decided_by == "bob"


async def test_an_unknown_request_cannot_be_decided(store: ApprovalStore) -> None:
    with pytest.raises(ChaperoneError) as error:
        await store.decide("apr_" + "y" * 22, True, "alice")
    assert error.value.code is ErrorCode.APPROVAL_NOT_FOUND and error.value.http_status == 404


async def test_an_agent_cannot_approve_its_own_request(store: ApprovalStore) -> None:
    approval = await _create(store)
    with pytest.raises(ChaperoneError) as error:
        await store.decide(approval.id, True, AGENT, "looks fine to me")
    assert error.value.code is ErrorCode.APPROVAL_SELF_DECISION and error.value.http_status == 403
    assert "own" in error.value.message
    still = await store.get(approval.id)
    assert still is not None and still.status is Status.PENDING
    assert (await store.decide(approval.id, True, "alice")).status is Status.APPROVED


async def test_a_request_without_an_agent_can_be_decided_by_anyone(store: ApprovalStore) -> None:
    approval = await _create(store, agent=None)
    assert (await store.decide(approval.id, True, "admin")).status is Status.APPROVED


async def test_a_request_expires_and_can_no_longer_be_decided(store: ApprovalStore, clock: FakeClock) -> None:
    approval = await _create(store, ttl=60)
    clock.advance(60)
    with pytest.raises(ChaperoneError) as error:
        await store.decide(approval.id, True, "alice")
    assert error.value.code is ErrorCode.APPROVAL_NOT_PENDING
    assert "expired" in error.value.message
    expired = await store.get(approval.id)
    assert expired is not None and expired.status is Status.EXPIRED and expired.decided_by is None


async def test_reading_an_overdue_request_marks_it_expired(store: ApprovalStore, clock: FakeClock) -> None:
    approval = await _create(store, ttl=30)
    clock.advance(31)
    assert [a.id for a in await store.list(Status.PENDING)] == []
    assert [a.id for a in await store.list(Status.EXPIRED)] == [approval.id]
    current = await store.get(approval.id)
    assert current is not None and current.status is Status.EXPIRED and current.decided_at == clock.now


async def test_list_is_newest_first_with_status_and_limit(store: ApprovalStore, clock: FakeClock) -> None:
    created = []
    for _ in range(4):
        created.append(await _create(store))
        clock.advance(1)
    await store.decide(created[1].id, False, "bob")
    assert [a.id for a in await store.list()] == [a.id for a in reversed(created)]
    assert [a.id for a in await store.list(Status.PENDING)] == [created[3].id, created[2].id, created[0].id]
    assert [a.id for a in await store.list(Status.DENIED)] == [created[1].id]
    assert [a.id for a in await store.list(limit=2)] == [created[3].id, created[2].id]


async def test_pending_requests_are_bounded(make_store: StoreFactory, clock: FakeClock) -> None:
    store = make_store(max_pending=3)
    first = await _create(store, ttl=10)
    for _ in range(2):
        await _create(store, ttl=100)
    with pytest.raises(ChaperoneError) as error:
        await _create(store)
    assert error.value.code is ErrorCode.APPROVAL_LIMIT and error.value.http_status == 429
    await store.decide(first.id, False, "bob")  # a decided request no longer counts
    await _create(store, ttl=10)
    clock.advance(11)  # nor does one past its expiry, read or not
    await _create(store)


async def test_wait_returns_when_an_operator_decides(store: ApprovalStore) -> None:
    approval = await _create(store)
    waiting = asyncio.create_task(store.wait(approval.id, timeout=60))
    await asyncio.sleep(0)
    await store.decide(approval.id, True, "alice")
    async with asyncio.timeout(30):
        result = await waiting
    assert result.status is Status.APPROVED and result.decided_by == "alice"


async def test_wait_on_a_decided_request_returns_at_once(store: ApprovalStore) -> None:
    approval = await _create(store)
    await store.decide(approval.id, False, "bob")
    assert (await store.wait(approval.id, timeout=60)).status is Status.DENIED


async def test_wait_marks_the_request_expired_at_its_timeout(store: ApprovalStore) -> None:
    approval = await _create(store, ttl=600)
    result = await store.wait(approval.id, timeout=0.05)
    assert result.status is Status.EXPIRED
    with pytest.raises(ChaperoneError) as error:
        await store.decide(approval.id, True, "alice")
    assert error.value.code is ErrorCode.APPROVAL_NOT_PENDING


async def test_wait_for_an_unknown_request(store: ApprovalStore) -> None:
    with pytest.raises(ChaperoneError) as error:
        await store.wait("apr_" + "z" * 22, timeout=1)
    assert error.value.code is ErrorCode.APPROVAL_NOT_FOUND


async def test_a_decision_wins_over_a_later_expiry(store: ApprovalStore) -> None:
    approval = await _create(store)
    await store.decide(approval.id, True, "alice")
    assert (await store.expire(approval.id)).status is Status.APPROVED


async def test_an_approved_retry_passes_once_even_under_concurrency(make_store: StoreFactory) -> None:
    replicas = [make_store() for _ in range(3)]
    approval = await _create(replicas[0], mode=Mode.RETRY)
    key = approval.fingerprint
    assert await replicas[1].find_approved(key) is None  # pending: nothing to use yet
    await replicas[2].decide(approval.id, True, "alice")
    found = await asyncio.gather(*(replicas[i % 3].find_approved(key) for i in range(12)))
    used = [a for a in found if a is not None]
    assert len(used) == 1
    assert used[0].id == approval.id and used[0].used_at is not None
    assert await replicas[0].find_approved(key) is None
    stored = await replicas[1].get(approval.id)
    assert stored is not None and stored.used_at == used[0].used_at


async def test_each_approval_is_used_once(store: ApprovalStore) -> None:
    first = await _create(store, mode=Mode.RETRY)
    second = await _create(store, mode=Mode.RETRY)
    await store.decide(first.id, True, "alice")
    await store.decide(second.id, True, "alice")
    used = [await store.find_approved(first.fingerprint) for _ in range(3)]
    assert [a.id if a else None for a in used] == [first.id, second.id, None]


async def test_a_held_call_approval_is_not_a_retry_approval(store: ApprovalStore) -> None:
    approval = await _create(store, mode=Mode.HOLD)
    await store.decide(approval.id, True, "alice")
    assert await store.find_approved(approval.fingerprint) is None


async def test_a_denied_or_stale_approval_does_not_pass(store: ApprovalStore, clock: FakeClock) -> None:
    denied = await _create(store, mode=Mode.RETRY)
    await store.decide(denied.id, False, "bob")
    assert await store.find_approved(denied.fingerprint) is None
    approved = await _create(store, mode=Mode.RETRY)
    await store.decide(approved.id, True, "alice")
    clock.advance(store.settings.retry_window_seconds)
    assert await store.find_approved(approved.fingerprint) is None


async def test_latest_retry_request_is_forgotten_once(store: ApprovalStore) -> None:
    approval = await _create(store, mode=Mode.RETRY)
    latest = await store.find_latest(approval.fingerprint)
    assert latest is not None and latest.id == approval.id
    assert await store.forget_latest(approval.fingerprint, "apr_" + "q" * 22) is False
    results = await asyncio.gather(
        *(store.forget_latest(approval.fingerprint, approval.id) for _ in range(5))
    )
    assert sorted(results) == [False] * 4 + [True]
    assert await store.find_latest(approval.fingerprint) is None


async def test_the_stored_action_is_a_copy(store: ApprovalStore) -> None:
    action: dict[str, Any] = {"protocol": "http", "arguments": {"n": 1}}
    approval = await _create(store, action=action)
    action["arguments"]["n"] = 2
    stored = await store.get(approval.id)
    assert stored is not None and stored.action == {"protocol": "http", "arguments": {"n": 1}}


async def test_audit_events_say_who_decided_and_never_the_arguments(make_store: StoreFactory) -> None:
    stream = io.BytesIO()
    configure_logging("info", "json", stream=stream)
    try:
        store = make_store()
        approval = await _create(store)
        with pytest.raises(ChaperoneError):
            await store.decide(approval.id, True, AGENT, "self")
        await store.decide(approval.id, True, "alice", "order A-17 checked")
        other = await _create(store)
        await store.wait(other.id, timeout=0.01)
    finally:
        configure_logging("debug")
    events = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    audit = [e for e in events if e["event"].startswith("approval_")]
    assert [e["event"] for e in audit] == [
        "approval_requested",
        "approval_self_decision_refused",
        "approval_decided",
        "approval_requested",
        "approval_expired",
    ]
    decided = audit[2]
    assert decided["approval_id"] == approval.id and decided["operator"] == "alice"
    assert decided["outcome"] == "approved" and decided["agent"] == AGENT
    assert decided["tool"] == "refund_payment" and decided["method"] == "tools/call"
    assert audit[4]["cause"] == "timeout"
    raw = stream.getvalue()
    # The arguments by their names (a bare 900 could appear in a random id or a time).
    for secret in (b"A-17", b'"amount"', b"REDACTED:EMAIL", b"checked"):
        assert secret not in raw
