"""The kill switch: engaged on one replica, effective on the others within a second; persistent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis

from ext_proc.limits.kill_store import Kill, MemoryKillStore
from ext_proc.limits.killswitch import KillEvent, KillSwitch
from ext_proc.limits.settings import KillSwitchConfig
from tests.unit.limits.conftest import State, eventually

# A long refresh interval: within a second, only the change notification can have told a replica.
NOTIFIED = KillSwitchConfig(refresh_interval_seconds=30, stale_after_seconds=60)


@pytest.fixture
async def replicas(state: State) -> AsyncIterator[tuple[KillSwitch, KillSwitch]]:
    """Two kill switches on the same shared state (for Redis: each with its own connections)."""
    first = state.limits(kill_switch=NOTIFIED, new_backend=True).kill_switch
    second = state.limits(kill_switch=NOTIFIED, new_backend=True).kill_switch
    await first.start()
    await second.start()
    yield first, second
    await first.stop()
    await second.stop()


async def test_an_agent_stopped_on_one_replica_is_stopped_on_the_other(
    replicas: tuple[KillSwitch, KillSwitch],
) -> None:
    first, second = replicas
    assert second.blocked("support-bot", "refund", "openai") is None
    kill = await first.engage("agent", "support-bot", "refund loop", "alice")
    assert first.blocked("support-bot") == kill  # at once on the replica that engaged it
    await eventually(lambda: second.blocked("support-bot", "refund", "openai") is not None)
    seen = second.blocked("support-bot")
    assert seen is not None and (seen.scope, seen.target, seen.reason, seen.actor) == (
        "agent", "support-bot", "refund loop", "alice",
    )  # fmt: skip
    assert second.blocked("other-bot", "refund", "openai") is None

    assert await first.release("agent", "support-bot", "fixed", "bob") is not None
    assert first.blocked("support-bot") is None
    await eventually(lambda: second.blocked("support-bot") is None)


async def test_each_scope_stops_what_it_names(replicas: tuple[KillSwitch, KillSwitch]) -> None:
    first, second = replicas
    await first.engage("tool", "delete_user", "incident", "ops")
    await first.engage("upstream", "anthropic", "incident", "ops")
    await eventually(lambda: second.blocked("bot", "search", "anthropic") is not None)
    assert second.blocked("bot", "delete_user", "openai") is not None
    assert second.blocked("bot", "search", "openai") is None
    assert second.blocked("bot") is None
    everything = await first.engage("all", "", "stop everything", "ops")
    assert everything.target == "*"
    await eventually(lambda: second.blocked("bot", "search", "openai") is not None)
    blocked = second.blocked(None)
    assert blocked is not None and blocked.scope == "all"


async def test_kills_persist_across_restarts(state: State) -> None:
    before = state.limits(kill_switch=NOTIFIED, new_backend=True).kill_switch
    await before.start()
    await before.engage("tool", "wire_transfer", "audit", "ops")
    await before.stop()
    after = state.limits(kill_switch=NOTIFIED, new_backend=True).kill_switch
    await after.start()
    try:
        assert after.blocked("bot", "wire_transfer") is not None
        assert [(k.scope, k.target) for k in await after.active()] == [("tool", "wire_transfer")]
    finally:
        await after.stop()


async def test_engage_and_release_are_audited(state: State) -> None:
    events: list[KillEvent] = []
    switch = state.limits(kill_switch=NOTIFIED, on_kill_event=events.append).kill_switch
    await switch.start()
    try:
        await switch.engage("agent", "bot", "runaway costs", "alice")
        await switch.release("agent", "bot", "budget raised", "bob")
        assert await switch.release("agent", "bot", "again", "bob") is None  # nothing to release
    finally:
        await switch.stop()
    assert [(e.action, e.kill.target, e.actor, e.reason) for e in events] == [
        ("engaged", "bot", "alice", "runaway costs"),
        ("released", "bot", "bob", "budget raised"),
    ]
    assert switch.stats["engaged"] == 1 and switch.stats["released"] == 1


async def test_engaging_again_replaces_the_reason(replicas: tuple[KillSwitch, KillSwitch]) -> None:
    first, second = replicas
    await first.engage("agent", "bot", "first", "ops")
    await first.engage("agent", "bot", "second", "ops")
    kills = await second.active()
    assert [(k.target, k.reason) for k in kills] == [("bot", "second")]


@pytest.mark.parametrize(
    ("scope", "target", "reason", "actor"),
    [
        ("planet", "x", "r", "a"),
        ("agent", "", "r", "a"),
        ("agent", "bot", "", "a"),
        ("agent", "bot", "r", ""),
        ("all", "bot", "r", "a"),
        ("agent", "bot\n", "r", "a"),
        ("agent", "b" * 257, "r", "a"),
    ],
)
async def test_malformed_kills_are_refused(
    state: State, scope: str, target: str, reason: str, actor: str
) -> None:
    switch = state.limits().kill_switch
    with pytest.raises(ValueError):
        await switch.engage(scope, target, reason, actor)
    assert await switch.active() == []


@pytest.mark.parametrize("state", ["redis"], indirect=True)
async def test_a_lost_notification_is_made_up_by_the_refresh(state: State) -> None:
    switch = state.limits(kill_switch=KillSwitchConfig(refresh_interval_seconds=0.05)).kill_switch
    await switch.start()
    try:
        # Written behind the service's back, without an announcement.
        kill = Kill("agent", "bot", "written directly", "test", 0.0)
        assert state.redis_url is not None
        client = redis.Redis.from_url(state.redis_url)
        try:
            client.hset(f"{state.prefix}kill-switch", kill.field, kill.encode())
        finally:
            client.close()
        await eventually(lambda: switch.blocked("bot") is not None)
    finally:
        await switch.stop()


async def test_blocked_never_waits(state: State) -> None:
    """The check reads the local copy: it is a plain function, callable without an event loop turn."""
    switch = state.limits(kill_switch=NOTIFIED).kill_switch
    await switch.start()
    try:
        await switch.engage("agent", "bot", "r", "a")
        assert not asyncio.iscoroutinefunction(switch.blocked)
        assert switch.blocked("bot") is not None
    finally:
        await switch.stop()


class SlowReads(MemoryKillStore):
    """Reads that wait at a gate, to let a change overtake one."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()

    async def load(self) -> list[Kill]:
        kills = await super().load()
        await self.gate.wait()
        return kills


async def test_a_read_overtaken_by_this_replicas_change_does_not_undo_it() -> None:
    store = SlowReads()
    switch = KillSwitch(store, refresh_interval_seconds=30, stale_after_seconds=60)
    await switch.refresh()
    store.gate.clear()
    stale_read = asyncio.create_task(switch.refresh())  # reads "no kills", then waits
    await asyncio.sleep(0)
    await switch.engage("agent", "bot", "incident", "ops")
    store.gate.set()
    await stale_read
    assert switch.blocked("bot") is not None


async def test_in_memory_the_copy_is_the_state_and_never_stale() -> None:
    # A single process keeps its kill switches in memory: there is nothing to read, nor to miss.
    switch = KillSwitch(MemoryKillStore(), refresh_interval_seconds=30, stale_after_seconds=0.001)
    assert switch.blocked("support-bot") is None  # never started, never read: still answers
    await switch.engage("agent", "support-bot", "incident", "ops")
    await asyncio.sleep(0.01)
    blocked = switch.blocked("support-bot")
    assert blocked is not None and not blocked.state_unavailable
