"""Every limits component is tested on both backends: this process's memory and a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from ext_proc.config import Config, StateConfig
from ext_proc.limits.factory import Backend, Limits, build_limits, memory_backend, redis_backend
from ext_proc.limits.killswitch import KillEvent, log_event
from ext_proc.limits.settings import LimitsConfig, ModelPrice, PricesConfig
from ext_proc.state.redis_client import connect

# The deadline of a Redis call in these tests: the service's 50 ms default is for an idle Redis
# next door, not for a test machine under load (the outage tests set their own).
REDIS_TIMEOUT_MS = 2000

# 2026-11-21T10:00:00Z: tests move this clock; no test waits for a window to pass.
START = 1_795_255_200.0


@dataclass(slots=True)
class Clock:
    now: float = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


PRICES = PricesConfig(
    models={
        "example-large": ModelPrice(input_per_million=2.0, output_per_million=8.0),
        "example-*": ModelPrice(input_per_million=0.5, output_per_million=1.5),
    }
)


@dataclass(slots=True)
class State:
    """One backend under test: builds components (and more backends on the same Redis)."""

    kind: str
    prefix: str
    redis_url: str | None
    clock: Clock = field(default_factory=Clock)
    backends: list[Backend] = field(default_factory=list)

    def config(self, *, fail_open: bool = False, **limits: Any) -> Config:
        limits.setdefault("prices", PRICES)
        return Config(
            state=StateConfig(
                redis_url=self.redis_url, fail_open=fail_open, redis_timeout_ms=REDIS_TIMEOUT_MS
            ),
            limits=LimitsConfig(key_prefix=self.prefix, **limits),
        )

    def backend(self) -> Backend:
        """A new backend on the same state: the same memory stores, or a new client to the same Redis."""
        if self.kind == "memory":
            if not self.backends:
                self.backends.append(memory_backend())
            return self.backends[0]
        assert self.redis_url is not None
        state = StateConfig(redis_url=self.redis_url, redis_timeout_ms=REDIS_TIMEOUT_MS)
        backend = redis_backend(connect(state), self.prefix)
        self.backends.append(backend)
        return backend

    def limits(
        self,
        *,
        fail_open: bool = False,
        new_backend: bool = False,
        on_kill_event: Callable[[KillEvent], None] = log_event,
        **settings: Any,
    ) -> Limits:
        backend = self.backend() if new_backend or not self.backends else self.backends[-1]
        config = self.config(fail_open=fail_open, **settings)
        return build_limits(config, backend=backend, clock=self.clock, on_kill_event=on_kill_event)


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[State]:
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else None
    state = State(request.param, f"test:{uuid.uuid4().hex[:12]}:", url)
    yield state
    for backend in state.backends:
        await backend.close()


async def eventually(predicate: Callable[[], bool], within: float = 1.0) -> None:
    """Poll until the predicate holds; fail when the deadline passes first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"not true within {within} s")
        await asyncio.sleep(0.01)
