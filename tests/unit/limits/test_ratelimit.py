"""Rate limits: exactly `limit` per sliding window, all limits of a request counted or none."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ext_proc.config import StateConfig
from ext_proc.limits.fields import RateLimit
from ext_proc.limits.rate_store import MemoryRateStore, RedisRateStore
from ext_proc.limits.ratelimit import RateLimiter
from ext_proc.state.redis_client import connect
from tests.redis_server import RedisServer
from tests.unit.limits.conftest import REDIS_TIMEOUT_MS, START, Clock, State

AGENT_RPM = RateLimit("agent-rpm", "agent:support-bot", 3, 60.0)


async def test_admits_the_limit_then_refuses_with_the_wait(state: State) -> None:
    limiter = state.limits().rate_limiter
    results = []
    for _ in range(4):
        results.append(await limiter.hit([AGENT_RPM]))
        state.clock.advance(10)
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.remaining for r in results[:3]] == [2, 1, 0]
    refused = results[3]
    assert refused.limit_name == "agent-rpm"
    # The first request (t=0) leaves the 60 s window at t=60; the refusal came at t=30.
    assert refused.retry_after_seconds == pytest.approx(30.0)


async def test_the_window_slides(state: State) -> None:
    limiter = state.limits().rate_limiter
    for offset in (0, 20, 40):
        state.clock.now = START + offset
        assert (await limiter.hit([AGENT_RPM])).allowed
    state.clock.now = START + 59.5  # all three are still within (now - 60, now]
    assert not (await limiter.hit([AGENT_RPM])).allowed
    state.clock.now = START + 60  # the one at 0 has left the window
    assert (await limiter.hit([AGENT_RPM])).allowed
    assert not (await limiter.hit([AGENT_RPM])).allowed


async def test_refused_requests_are_not_counted(state: State) -> None:
    limiter = state.limits().rate_limiter
    small = RateLimit("tight", "k", 1, 10.0)
    assert (await limiter.hit([small])).allowed
    for _ in range(5):
        state.clock.advance(1)
        assert not (await limiter.hit([small])).allowed
    state.clock.advance(5)  # t=10: only the first request ever counted, and it has left
    assert (await limiter.hit([small])).allowed


async def test_a_refusal_by_one_limit_consumes_none_of_the_others(state: State) -> None:
    limiter = state.limits().rate_limiter
    per_agent = RateLimit("agent", "agent:a", 5, 60.0)
    per_tool = RateLimit("tool", "tool:refund", 1, 60.0)
    assert (await limiter.hit([per_agent, per_tool])).allowed
    for _ in range(3):
        result = await limiter.hit([per_agent, per_tool])
        assert not result.allowed
        assert result.limit_name == "tool"
    # The agent limit counted only the admitted request: 4 more fit.
    results = [await limiter.hit([per_agent]) for _ in range(5)]
    assert [r.allowed for r in results] == [True, True, True, True, False]


async def test_the_refusal_names_the_limit_with_the_longest_wait(state: State) -> None:
    limiter = state.limits().rate_limiter
    minute = RateLimit("per-minute", "k", 1, 60.0)
    hour = RateLimit("per-hour", "k", 1, 3600.0)
    assert (await limiter.hit([minute, hour])).allowed
    state.clock.advance(1)
    result = await limiter.hit([minute, hour])
    assert (result.limit_name, result.retry_after_seconds) == ("per-hour", pytest.approx(3599.0))


async def test_names_and_keys_count_separately(state: State) -> None:
    limiter = state.limits().rate_limiter
    one = RateLimit("a", "x", 1, 60.0)
    assert (await limiter.hit([one])).allowed
    assert (await limiter.hit([RateLimit("a", "y", 1, 60.0)])).allowed
    assert (await limiter.hit([RateLimit("b", "x", 1, 60.0)])).allowed
    assert not (await limiter.hit([one])).allowed


async def test_no_limits_is_allowed_without_touching_the_state(state: State) -> None:
    limiter = state.limits().rate_limiter
    result = await limiter.hit([])
    assert result.allowed and result.remaining is None
    assert limiter.stats.snapshot() == {}


async def test_many_requests_at_the_same_instant_are_each_counted(state: State) -> None:
    limiter = state.limits().rate_limiter
    limit = RateLimit("burst", "k", 50, 1.0)
    results = [await limiter.hit([limit]) for _ in range(60)]
    assert sum(r.allowed for r in results) == 50
    assert limiter.stats["allowed"] == 50 and limiter.stats["refused"] == 10


async def test_replicas_on_one_state_share_the_limit(state: State) -> None:
    first = state.limits().rate_limiter
    second = state.limits(new_backend=True).rate_limiter
    limit = RateLimit("shared", "k", 2, 60.0)
    assert (await first.hit([limit])).allowed
    assert (await second.hit([limit])).allowed
    assert not (await first.hit([limit])).allowed
    assert not (await second.hit([limit])).allowed


@pytest.mark.parametrize("state", ["redis"], indirect=True)
async def test_a_redis_that_lost_its_scripts_is_sent_the_script_again(state: State) -> None:
    limiter = state.limits().rate_limiter
    assert (await limiter.hit([AGENT_RPM])).allowed
    assert state.redis_url is not None
    client = redis.Redis.from_url(state.redis_url)
    try:
        client.script_flush()
    finally:
        client.close()
    assert (await limiter.hit([AGENT_RPM])).allowed  # EVALSHA -> NOSCRIPT -> EVAL
    assert (await limiter.hit([AGENT_RPM])).allowed
    assert not (await limiter.hit([AGENT_RPM])).allowed


class Reference:
    """The definition: admitted when each limit has fewer than `limit` requests in (now - window, now]."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}

    def hit(self, limits: list[RateLimit], now: float) -> tuple[bool, str | None, float]:
        worst, wait = None, -1.0
        for limit in limits:
            inside = sorted(t for t in self.times.get(limit.name, []) if t > now - limit.window_seconds)
            if len(inside) >= limit.limit:
                until = inside[len(inside) - limit.limit] + limit.window_seconds - now
                if until > wait:
                    worst, wait = limit.name, until
        if worst is not None:
            return False, worst, wait
        for limit in limits:
            self.times.setdefault(limit.name, []).append(now)
        return True, None, 0.0


CANDIDATES = [RateLimit("a", "k", 3, 10.0), RateLimit("b", "k", 5, 30.0), RateLimit("c", "k2", 2, 4.0)]
steps = st.lists(
    st.tuples(st.floats(0, 6, allow_nan=False), st.sets(st.sampled_from(range(3)), min_size=1)), max_size=40
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_both_backends_follow_the_definition(
    redis_server: RedisServer, steps: list[tuple[float, set[int]]]
) -> None:
    async def run() -> None:
        clock = Clock()
        prefix = f"prop:{uuid.uuid4().hex[:8]}:"
        memory = RateLimiter(MemoryRateStore(), key_prefix=prefix, clock=clock)
        client = connect(StateConfig(redis_url=redis_server.url, redis_timeout_ms=REDIS_TIMEOUT_MS))
        shared = RateLimiter(RedisRateStore(client), key_prefix=prefix, clock=clock)
        reference = Reference()
        try:
            for advance, chosen in steps:
                clock.advance(advance)
                limits = [CANDIDATES[i] for i in sorted(chosen)]
                allowed, name, wait = reference.hit(limits, clock.now)
                for limiter in (memory, shared):
                    result = await limiter.hit(limits)
                    assert (result.allowed, result.limit_name) == (allowed, name)
                    assert result.retry_after_seconds == pytest.approx(wait, abs=1e-6)
        finally:
            await client.aclose()

    asyncio.run(run())
