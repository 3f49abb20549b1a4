"""Session trackers on both backends: memory, and a real redis-server (one key prefix per test)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest

from ext_proc.config import StateConfig
from ext_proc.sessions import MemorySessionTracker, RedisSessionTracker, SessionSettings, SessionTracker
from ext_proc.state.redis_client import connect
from tests.clock import FakeClock
from tests.redis_server import RedisServer

SETTINGS = SessionSettings(
    history=5, idle_seconds=1800, max_sessions=100, max_remembered=50, agent_memory_seconds=86400
)

TrackerFactory = Callable[..., SessionTracker]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "redis"])
async def make_tracker(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[TrackerFactory]:
    """Trackers of the test's backend; on Redis each call is another replica on the same keys."""
    prefix = f"test:{uuid.uuid4().hex}:"
    server: RedisServer | None = request.getfixturevalue("redis_server") if request.param == "redis" else None
    clients = []

    def make(**changes: float) -> SessionTracker:
        settings = replace(SETTINGS, **changes)
        if server is None:
            return MemorySessionTracker(settings, clock)
        client = connect(StateConfig(redis_url=server.url, redis_timeout_ms=2000))
        clients.append(client)
        return RedisSessionTracker(client, settings, clock, prefix=prefix)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def tracker(make_tracker: TrackerFactory) -> SessionTracker:
    return make_tracker()
