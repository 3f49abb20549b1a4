"""Approval stores on both backends: memory, and a real redis-server (one key prefix per test)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest

from ext_proc.approvals.memory_store import MemoryApprovalStore
from ext_proc.approvals.redis_store import RedisApprovalStore
from ext_proc.approvals.store import ApprovalStore, StoreSettings
from ext_proc.config import StateConfig
from ext_proc.state.redis_client import connect
from tests.clock import FakeClock
from tests.redis_server import RedisServer

SETTINGS = StoreSettings(retention_seconds=3600, max_pending=50, retry_window_seconds=600)
# Generous: other test runs share the machine, and these tests assert outcomes, not speed.
REDIS_TIMEOUT_MS = 2000


StoreFactory = Callable[..., ApprovalStore]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_store(
    backend: str, clock: FakeClock, request: pytest.FixtureRequest
) -> AsyncIterator[StoreFactory]:
    """Stores of the test's backend. On Redis, each call is another replica: its own client and
    subscription, the same keys. In memory, every call returns the one store."""
    stores: list[ApprovalStore] = []
    clients = []
    prefix = f"test:{uuid.uuid4().hex}:"
    server: RedisServer | None = request.getfixturevalue("redis_server") if backend == "redis" else None

    def make(**changes: float) -> ApprovalStore:
        settings = replace(SETTINGS, **changes)
        if server is None:
            if not stores:
                stores.append(MemoryApprovalStore(settings, clock))
            return stores[0]
        client = connect(StateConfig(redis_url=server.url, redis_timeout_ms=REDIS_TIMEOUT_MS))
        clients.append(client)
        store = RedisApprovalStore(client, settings, clock, prefix=prefix)
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()
    for client in clients:
        await client.aclose()


@pytest.fixture
def store(make_store: StoreFactory) -> ApprovalStore:
    return make_store()
