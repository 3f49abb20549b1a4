"""Replicas sharing one Redis: a decision on one releases a call held on another."""

from __future__ import annotations

import asyncio

import pytest
import redis

from ext_proc.approvals.model import Status
from tests.redis_server import RedisServer
from tests.unit.approvals.conftest import StoreFactory

# Far longer than the test may take: only the published notification can release the wait.
NO_POLLING = 3600.0


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
async def test_a_decision_on_replica_a_releases_a_wait_on_replica_b(make_store: StoreFactory) -> None:
    replica_a = make_store(poll_seconds=NO_POLLING)
    replica_b = make_store(poll_seconds=NO_POLLING)
    approval = await replica_b.create(agent="agent-1", action={"tool": "t"}, reason="r", ttl_seconds=600)
    held = [asyncio.create_task(replica_b.wait(approval.id, timeout=600)) for _ in range(3)]
    other = await replica_b.create(agent="agent-1", action={"tool": "u"}, reason="r", ttl_seconds=600)
    unrelated = asyncio.create_task(replica_b.wait(other.id, timeout=600))
    await asyncio.sleep(0.1)  # let the waits subscribe (they poll at once otherwise: same result)
    decided = await replica_a.decide(approval.id, True, "alice", "ok")
    async with asyncio.timeout(30):
        results = await asyncio.gather(*held)
    assert all(result == decided for result in results)
    assert not unrelated.done()
    await replica_a.decide(other.id, False, "bob")
    async with asyncio.timeout(30):
        assert (await unrelated).status is Status.DENIED


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
async def test_polling_covers_a_missed_notification(make_store: StoreFactory) -> None:
    replica_b = make_store(poll_seconds=0.05)
    approval = await replica_b.create(agent=None, action={}, reason="r", ttl_seconds=600)
    waiting = asyncio.create_task(replica_b.wait(approval.id, timeout=600))
    await asyncio.sleep(0.1)
    # Decided by a replica whose notifications go to another channel: B never hears of it.
    replica_a = make_store()
    replica_a._channel = "elsewhere"  # type: ignore[attr-defined]
    await replica_a.decide(approval.id, True, "alice")
    async with asyncio.timeout(30):
        assert (await waiting).status is Status.APPROVED


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
async def test_a_lost_subscription_is_restored(make_store: StoreFactory, redis_server: RedisServer) -> None:
    replica_a = make_store(poll_seconds=NO_POLLING)
    replica_b = make_store(poll_seconds=NO_POLLING)
    approval = await replica_b.create(agent=None, action={}, reason="r", ttl_seconds=600)
    waiting = asyncio.create_task(replica_b.wait(approval.id, timeout=600))
    await asyncio.sleep(0.1)
    admin = redis.Redis(port=redis_server.port)
    try:
        assert admin.client_kill_filter(_type="pubsub") >= 1  # the server drops every subscriber
    finally:
        admin.close()
    await replica_a.decide(approval.id, True, "alice")  # published while B has no subscription
    async with asyncio.timeout(30):
        assert (await waiting).status is Status.APPROVED  # B re-reads once it subscribes again
