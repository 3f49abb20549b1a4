"""Redis unreachable: every component fails closed by default, open when configured; counted, logged once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from ext_proc.config import Config, StateConfig
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.limits.budgets import Reservation, Usage
from ext_proc.limits.factory import Limits, build_limits
from ext_proc.limits.fields import Budget, RateLimit
from ext_proc.limits.killswitch import UNAVAILABLE, KillSwitch
from ext_proc.limits.settings import LimitsConfig
from ext_proc.metrics import FailMode, Metrics
from tests.harness import free_port
from tests.redis_server import RedisServer

LIMIT = RateLimit("rpm", "agent:a", 10, 60.0)
BUDGET = Budget("daily", "agent:a", "day", tokens=1000)


def unreachable(*, fail_open: bool) -> Limits:
    url = f"redis://127.0.0.1:{free_port()}/0"
    return build_limits(Config(state=StateConfig(redis_url=url, redis_timeout_ms=50, fail_open=fail_open)))


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, to stop and start again."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


async def test_fail_closed_refuses_with_state_unavailable() -> None:
    limits = unreachable(fail_open=False)
    try:
        for attempt in (
            limits.rate_limiter.hit([LIMIT]),
            limits.budgets.reserve([BUDGET], Usage("gpt-4o", 10, 10)),
            limits.loops.observe("a", "s", "tool", {}),
        ):
            with pytest.raises(ChaperoneError) as error:
                await attempt
            assert error.value.code is ErrorCode.STATE_UNAVAILABLE
        stats = limits.stats()
        for component in ("rate_limiter", "budgets", "loop_detector"):
            assert stats[component] == {"state_unavailable": 1, "failed_closed": 1}
    finally:
        await limits.stop()


async def test_fail_open_carries_on_and_says_so() -> None:
    limits = unreachable(fail_open=True)
    try:
        result = await limits.rate_limiter.hit([LIMIT])
        assert result.allowed and result.state_unavailable
        reservation = await limits.budgets.reserve([BUDGET], Usage("gpt-4o", 10, 10))
        assert isinstance(reservation, Reservation) and reservation.state_unavailable
        assert await limits.budgets.charge_output(reservation, 10_000) is None
        assert not await limits.budgets.reconcile(reservation, Usage("gpt-4o", 10, 10))
        facts = await limits.loops.observe("a", "s", "tool", {})
        assert (facts.repeats_in_window, facts.session_calls, facts.state_unavailable) == (0, 0, True)
        assert limits.stats()["rate_limiter"] == {"state_unavailable": 1, "failed_open": 1}
    finally:
        await limits.stop()


async def test_a_reconcile_that_cannot_reach_the_state_never_raises(own_redis: RedisServer) -> None:
    limits = build_limits(Config(state=StateConfig(redis_url=own_redis.url)))
    try:
        reservation = await limits.budgets.reserve([BUDGET], Usage("gpt-4o", 10, 10))
        assert isinstance(reservation, Reservation)
        own_redis.stop()
        assert not await limits.budgets.reconcile(reservation, Usage("gpt-4o", 1, 1))
        assert limits.budgets.stats["state_unavailable"] == 1
    finally:
        await limits.stop()


async def test_an_outage_is_logged_when_it_starts_and_when_it_ends(own_redis: RedisServer) -> None:
    limits = build_limits(Config(state=StateConfig(redis_url=own_redis.url, fail_open=True)))
    try:
        with capture_logs() as logs:
            assert not (await limits.rate_limiter.hit([LIMIT])).state_unavailable
            own_redis.stop()
            for _ in range(5):
                assert (await limits.rate_limiter.hit([LIMIT])).state_unavailable
            own_redis.start()
            assert not (await limits.rate_limiter.hit([LIMIT])).state_unavailable
        events = [
            (entry["event"], entry.get("failures")) for entry in logs if entry["event"].startswith("state_")
        ]
        assert events == [("state_unavailable", None), ("state_available", 5)]
        assert limits.rate_limiter.stats["state_unavailable"] == 5
        assert "redis://" not in repr(logs)  # nothing about where the state lives, no credentials
    finally:
        await limits.stop()


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def kill_switch(url: str, *, fail_open: bool, monotonic: Monotonic) -> tuple[Limits, KillSwitch]:
    config = Config(state=StateConfig(redis_url=url, fail_open=fail_open), limits=LimitsConfig())
    limits = build_limits(config)
    switch = KillSwitch(
        limits.backend.kills,
        refresh_interval_seconds=0.05,
        stale_after_seconds=5,
        fail_open=fail_open,
        monotonic=monotonic,
    )
    return limits, switch


@pytest.mark.parametrize("fail_open", [False, True])
async def test_kill_switch_state_that_ages_blocks_everything_unless_failing_open(
    own_redis: RedisServer, fail_open: bool
) -> None:
    monotonic = Monotonic()
    limits, switch = kill_switch(own_redis.url, fail_open=fail_open, monotonic=monotonic)
    await switch.start()
    try:
        await switch.engage("tool", "wire_transfer", "incident", "ops")
        assert switch.blocked("bot", "search") is None
        own_redis.stop()
        monotonic.now += 4.9  # not stale yet
        assert switch.blocked("bot", "search") is None
        monotonic.now += 0.2
        if fail_open:
            assert switch.blocked("bot", "search") is None
            assert switch.blocked("bot", "wire_transfer") is not None  # the last copy still applies
        else:
            assert switch.blocked("bot", "search") is UNAVAILABLE
            assert switch.stats["blocked_unavailable"] == 1
    finally:
        await switch.stop()
        await limits.stop()


async def test_a_kill_switch_that_never_read_its_state_fails_closed() -> None:
    monotonic = Monotonic()
    limits, switch = kill_switch(f"redis://127.0.0.1:{free_port()}/0", fail_open=False, monotonic=monotonic)
    await switch.start()  # not fatal
    try:
        assert switch.blocked("bot") is UNAVAILABLE
        with pytest.raises(ChaperoneError) as error:
            await switch.engage("agent", "bot", "r", "ops")  # an operator must know it did not take
        assert error.value.code is ErrorCode.STATE_UNAVAILABLE
    finally:
        await switch.stop()
        await limits.stop()


class Recorder(Metrics):
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def fail_mode(self, component: str, mode: FailMode) -> None:
        self.calls.append(("fail_mode", component, mode))

    def limit_hit(self, limit: str) -> None:
        self.calls.append(("limit_hit", limit))


@pytest.mark.parametrize("fail_open", [False, True])
async def test_state_failures_reach_the_service_metrics(fail_open: bool) -> None:
    metrics = Recorder()
    url = f"redis://127.0.0.1:{free_port()}/0"
    limits = build_limits(Config(state=StateConfig(redis_url=url, fail_open=fail_open)), metrics=metrics)
    try:
        with contextlib.suppress(ChaperoneError):
            await limits.rate_limiter.hit([LIMIT])
        with contextlib.suppress(ChaperoneError):
            await limits.loops.observe("a", None, "t", {})
        limits.kill_switch.blocked("bot")  # never read: stale
    finally:
        await limits.stop()
    mode = "open" if fail_open else "closed"
    assert metrics.calls == [("fail_mode", "state", mode)] * 3


async def test_refusals_reach_the_service_metrics() -> None:
    metrics = Recorder()
    limits = build_limits(Config(), metrics=metrics)
    one = RateLimit("one", "k", 1, 60.0)
    await limits.rate_limiter.hit([one])
    await limits.rate_limiter.hit([one])
    small = Budget("small", "k", "day", tokens=10)
    await limits.budgets.reserve([small], Usage("gpt-4o", 20, 0))
    assert metrics.calls == [("limit_hit", "rate"), ("limit_hit", "budget")]
