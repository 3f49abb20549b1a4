"""The kill switch: stop everything, one agent, one tool or one upstream, on every replica at once.

``blocked(agent, tool, upstream)`` is what the request path asks, and it never waits: it reads
a local copy of the active kills (a dictionary lookup or four). The copy follows the shared
state through a background task (``start()``/``stop()``): it re-reads the kills whenever a
change is announced (Redis pub/sub: milliseconds) and every ``refresh_interval_seconds`` anyway,
so a lost notification costs at most one interval. ``engage`` and ``release`` write the shared
state, announce the change, update this replica's copy at once, and emit an audit event; kills
persist in Redis until released, so a restarted replica finds them.

When the kills cannot be read (Redis unreachable), the copy ages. With ``state.fail_open``
false (the default) a copy older than ``stale_after_seconds``, or none at all (before the first
read), blocks everything with a kill marked ``state_unavailable``: the service cannot know that
no kill is engaged. With ``fail_open`` true the last copy keeps answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog

from ext_proc.errors import ChaperoneError
from ext_proc.limits.guard import StateGuard, Stats
from ext_proc.limits.kill_store import (
    ALL_TARGET,
    SCOPES,
    Kill,
    KillStore,
    MemoryKillStore,
    Scope,
    Subscription,
)
from ext_proc.metrics import NULL_METRICS, Metrics

log = structlog.get_logger("chaperone.kill_switch")
Clock = Callable[[], float]
T = TypeVar("T")
MAX_TARGET_LENGTH = 256
MAX_REASON_LENGTH = 500
MAX_ACTOR_LENGTH = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The longest a follower waits before it looks at whether it should stop.
STOP_CHECK_SECONDS = 0.25
# After a failed read of the shared state, the next attempt.
RETRY_SECONDS = 0.5

UNAVAILABLE = Kill(
    "all", ALL_TARGET, "the kill switches could not be read", "chaperone", 0.0, state_unavailable=True
)


@dataclass(frozen=True, slots=True)
class KillEvent:
    """An operator's action, for the audit trail."""

    action: str  # "engaged" or "released"
    kill: Kill
    actor: str
    reason: str


def log_event(event: KillEvent) -> None:
    """The default audit sink: one structured log line per engage and release."""
    log.warning(
        f"kill_switch_{event.action}",
        scope=event.kill.scope,
        target=event.kill.target,
        actor=event.actor,
        reason=event.reason,
    )


class KillSwitch:
    def __init__(
        self,
        store: KillStore,
        *,
        refresh_interval_seconds: float,
        stale_after_seconds: float,
        fail_open: bool = False,
        on_event: Callable[[KillEvent], None] = log_event,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
        metrics: Metrics = NULL_METRICS,
    ) -> None:
        self._store = store
        self._interval = refresh_interval_seconds
        self._stale_after = stale_after_seconds
        self._fail_open = fail_open
        self._on_event = on_event
        self._clock = clock
        self._monotonic = monotonic
        self.stats = Stats("kill_switch")
        self._fail = StateGuard(self.stats, fail_open=fail_open, metrics=metrics)
        self._kills: dict[tuple[str, str], Kill] = {}  # (scope, target)
        # In this process's memory, the copy is the state itself: it can never be stale.
        self._local = isinstance(store, MemoryKillStore)
        self._changes = 0  # engage/release on this replica, to spot a read they overtook
        self._read_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- the request path ---------------------------------------------------------------------

    def blocked(self, agent: str | None, tool: str | None = None, upstream: str | None = None) -> Kill | None:
        """The kill that stops this call, or None; never waits on the shared state."""
        if self._stale():
            self._fail.metrics.fail_mode("state", "open" if self._fail_open else "closed")
            if not self._fail_open:
                self.stats.add("blocked_unavailable")
                return UNAVAILABLE
            self.stats.add("stale_reads")
        kills = self._kills
        if not kills:
            return None
        kill = (
            kills.get(("all", ALL_TARGET))
            or (kills.get(("agent", agent)) if agent is not None else None)
            or (kills.get(("tool", tool)) if tool is not None else None)
            or (kills.get(("upstream", upstream)) if upstream is not None else None)
        )
        if kill is not None:  # a refusal, like a rate limit's or a budget's
            self._fail.metrics.limit_hit("kill_switch")
        return kill

    def refusing_all(self) -> bool:
        """Every call is refused now: the kills could not be read for ``stale_after_seconds`` (or
        not yet at all) and ``state.fail_open`` is false. Readiness says so."""
        return self._stale() and not self._fail_open

    def _stale(self) -> bool:
        if self._local:
            return False
        return self._read_at is None or self._monotonic() - self._read_at > self._stale_after

    # -- operators ----------------------------------------------------------------------------

    async def engage(self, scope: str, target: str, reason: str, actor: str) -> Kill:
        """Stop a scope; ``state_unavailable`` when it could not be stored (whatever the fail mode)."""
        scope_, target = check_kill(scope, target, reason, actor)
        kill = Kill(scope_, target, reason, actor, self._clock())
        await self._counted(self._store.engage(kill), "engage")
        self._kills = {**self._kills, (kill.scope, kill.target): kill}
        self._changes += 1
        self.stats.add("engaged")
        self._on_event(KillEvent("engaged", kill, actor, reason))
        return kill

    async def release(self, scope: str, target: str, reason: str, actor: str) -> Kill | None:
        """Lift a kill; None when none was engaged for this scope and target."""
        scope_, target = check_kill(scope, target, reason or "released", actor)
        kill = await self._counted(self._store.release(scope_, target), "release")
        self._kills = {key: k for key, k in self._kills.items() if key != (scope_, target)}
        self._changes += 1
        if kill is not None:
            self.stats.add("released")
            self._on_event(KillEvent("released", kill, actor, reason))
        return kill

    async def _counted(self, operation: Awaitable[T], name: str) -> T:
        """An operator's write: a state failure is counted and logged, and raised whatever the mode."""
        try:
            return await operation
        except ChaperoneError as error:
            self._fail.record(error, name)
            raise

    async def active(self) -> list[Kill]:
        """The kills engaged now, read from the shared state (and refreshing this replica's copy)."""
        await self.refresh()
        return sorted(self._kills.values(), key=lambda kill: (kill.engaged_at, kill.field))

    # -- keeping the copy current ---------------------------------------------------------------

    async def refresh(self) -> None:
        """Re-read the kills; ``state_unavailable`` when the state does not answer."""
        changes, first = self._changes, self._read_at is None
        kills = await self._store.load()
        self._read_at = self._monotonic()
        self._fail.available()
        if changes != self._changes:
            # An engage or release here overtook this read: keep the newer copy (the change's
            # announcement brings another read).
            return
        fresh: dict[tuple[str, str], Kill] = {(kill.scope, kill.target): kill for kill in kills}
        if fresh.keys() != self._kills.keys() and not first:
            log.info(
                "kill_switch_changed",
                engaged=sorted(k.field for key, k in fresh.items() if key not in self._kills),
                released=sorted(k.field for key, k in self._kills.items() if key not in fresh),
            )
        self._kills = fresh

    async def start(self) -> None:
        """Read the kills once (a failure is not fatal: see the fail mode), then follow changes."""
        if self._task is not None:
            return
        with contextlib.suppress(ChaperoneError):
            await self.refresh()
        self._stopping = False
        self._task = asyncio.create_task(self._follow(), name="kill-switch")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        # redis-py can swallow a cancellation (seen while a pub/sub connection was being set up,
        # and intermittently around a notification): the task then reads on. The flag ends the
        # loop regardless, at the latest one STOP_CHECK_SECONDS slice of waiting later.
        self._stopping = True
        task.cancel()
        await asyncio.wait({task}, timeout=STOP_CHECK_SECONDS + 1.0)
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("kill_switch_follower_failed", error=repr(task.exception()))

    async def _follow(self) -> None:
        subscription: Subscription | None = None
        try:
            while not self._stopping:
                try:
                    if subscription is None:
                        subscription = await self._store.subscribe()
                    # Subscribed first, then read: a change between the two is not missed.
                    if not self._stopping:
                        await self.refresh()
                        self.stats.add("refreshes")
                        await self._next_change(subscription)
                except ChaperoneError as error:
                    self._fail.record(error, "refresh")
                    self.stats.add("refresh_failures")
                    if subscription is not None:
                        await subscription.close()
                        subscription = None
                    # Soon, not a whole refresh interval later: the copy is stale until then.
                    await self._next_change(None, min(self._interval, RETRY_SECONDS))
        finally:
            if subscription is not None:
                await subscription.close()

    async def _next_change(self, subscription: Subscription | None, interval: float | None = None) -> None:
        """Until a change is announced or the refresh interval passes, in slices (see stop())."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._interval if interval is None else interval)
        while not self._stopping:
            left = deadline - loop.time()
            if left <= 0:
                return
            if subscription is None:
                await asyncio.sleep(min(left, STOP_CHECK_SECONDS))
            elif await subscription.wait(min(left, STOP_CHECK_SECONDS)):
                return


def check_kill(scope: str, target: str, reason: str, actor: str) -> tuple[Scope, str]:
    """The scope and target as stored; ValueError, with a message for the operator, otherwise."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    if scope == "all":
        if target not in ("", ALL_TARGET):
            raise ValueError('scope "all" takes no target (or "*")')
        target = ALL_TARGET
    _text("target", target, MAX_TARGET_LENGTH)
    _text("reason", reason, MAX_REASON_LENGTH)
    _text("actor", actor, MAX_ACTOR_LENGTH)
    return scope, target


def _text(name: str, value: str, limit: int) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > limit or _CONTROL.search(value):
        raise ValueError(f"{name} must be 1 to {limit} characters without control characters")
