"""Runaway-loop facts: how often an agent repeated this exact tool call, how long its session is.

``observe(agent, session, tool, arguments)`` records one call and answers two counts, which the
policy reads in ``input.loop`` and compares with its own thresholds:

- ``repeats_in_window``: calls by this agent of this tool with the same arguments within the
  last ``limits.loops.window_seconds`` (this call included, so the first is 1). Arguments are
  compared canonically: object keys in any order, ``1`` and ``1.0`` are the same call. Counted
  per agent, not per session, so an agent that opens a new session per attempt is still seen.
- ``session_calls``: calls observed in this session (any tool), this one included; a session
  idle for ``limits.loops.session_ttl_seconds`` starts again from one; 0 without a session id.

Both counts are updated in one atomic step (one Lua script in Redis), so replicas sharing Redis
see one count. Keys are digests of (agent, tool, arguments) and (agent, session): arguments of
any size make keys of one size, and no separator can make two calls collide.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ext_proc.errors import ChaperoneError
from ext_proc.limits.guard import StateGuard, Stats
from ext_proc.limits.loop_store import LoopStore, LoopWindow
from ext_proc.metrics import NULL_METRICS, Metrics

Clock = Callable[[], float]
# Beyond 2**53 a float no longer holds every integer: keep such numbers as they are.
_EXACT_INTEGERS = 2**53


@dataclass(frozen=True, slots=True)
class LoopFacts:
    repeats_in_window: int
    session_calls: int
    window_seconds: float
    state_unavailable: bool = False  # not counted: the state did not answer, state.fail_open allowed

    def as_input(self) -> dict[str, Any]:
        """``input.loop`` for the policy."""
        return {
            "repeats_in_window": self.repeats_in_window,
            "session_calls": self.session_calls,
            "window_seconds": self.window_seconds,
            "state_unavailable": self.state_unavailable,
        }


class LoopDetector:
    def __init__(
        self,
        store: LoopStore,
        *,
        key_prefix: str,
        window_seconds: float,
        session_ttl_seconds: float,
        max_tracked: int,
        fail_open: bool = False,
        clock: Clock = time.time,
        metrics: Metrics = NULL_METRICS,
    ) -> None:
        self._store = store
        self._prefix = key_prefix
        self._window = LoopWindow(window_seconds, max_tracked, session_ttl_seconds)
        self._clock = clock
        self.stats = Stats("loop_detector")
        self._fail = StateGuard(self.stats, fail_open=fail_open, metrics=metrics)
        self._members = (f"{os.urandom(6).hex()}.{n}" for n in itertools.count())

    async def observe(
        self, agent: str, session: str | None, tool: str, arguments: Any, now: float | None = None
    ) -> LoopFacts:
        now = self._clock() if now is None else now
        repeats_key = f"{self._prefix}loop:{call_fingerprint(agent, tool, arguments)}"
        session_key = None if not session else f"{self._prefix}session:{_digest([agent, session])}"
        try:
            repeats, calls = await self._store.observe(
                repeats_key, session_key, now, next(self._members), self._window
            )
        except ChaperoneError as error:
            self._fail.unavailable(error, "observe")
            return LoopFacts(0, 0, self._window.window_seconds, state_unavailable=True)
        self._fail.available()
        self.stats.add("observed")
        return LoopFacts(repeats, calls, self._window.window_seconds)


def call_fingerprint(agent: str, tool: str, arguments: Any) -> str:
    """The same for two calls that differ only in key order or number spelling (1 and 1.0)."""
    return _digest([agent, tool, canonical(arguments)])


def canonical(value: Any) -> Any:
    """A JSON value with integral floats as integers (-0.0 as 0); object keys are sorted on encoding."""
    if isinstance(value, dict):
        return {str(key): canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT_INTEGERS:
        return int(value)
    return value


def _digest(parts: list[Any]) -> str:
    try:
        encoded = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS, default=str)
    except orjson.JSONEncodeError:
        # Integers beyond 64 bits, which orjson refuses; the standard encoder writes them.
        encoded = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]
