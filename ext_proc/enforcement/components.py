"""The enforcement components of one service, built from the configuration.

All the state that replicas share (approvals, sessions, limits, budgets, the kill switch) lives
on one backend: this process's memory, or the one Redis client of ``state.redis_url`` (and the
rate limits' pipelined connection to the same Redis).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
import structlog

from ext_proc.admin.app import AdminExtension
from ext_proc.approvals import Approvals, Status, build_approvals
from ext_proc.config import Config
from ext_proc.credentials.broker import CredentialBroker
from ext_proc.enforcement.drain import Drain
from ext_proc.errors import ChaperoneError
from ext_proc.identity.identifier import Identifier
from ext_proc.limits.factory import Limits, build_limits, memory_backend, redis_backend
from ext_proc.metrics import NULL_METRICS, Metrics
from ext_proc.sessions import SessionTracker, build_session_tracker
from ext_proc.state.redis_client import connect

if TYPE_CHECKING:
    from ext_proc.audit import AuditLog

log = structlog.get_logger("chaperone.enforcement")
PENDING_GAUGE_SECONDS = 5.0


@dataclass(slots=True)
class Enforcement:
    identifier: Identifier
    broker: CredentialBroker
    approvals: Approvals
    sessions: SessionTracker
    limits: Limits
    # state.fail_open: carry on without the shared state when it does not answer.
    fail_open: bool = False
    # inspection.protocols: recognized traffic is decided on its body, in ext_proc.
    body_protocols: bool = True
    metrics: Metrics = NULL_METRICS
    redis: aioredis.Redis | None = None
    audit: AuditLog | None = None
    # Whether sessions are recorded now (sessions.record; "auto" follows the loaded policy).
    sessions_on: Callable[[], bool] = field(default=lambda: True, repr=False)
    # Set at shutdown: streams still open near the end of the grace period are ended (drain.py).
    drain: Drain = field(default_factory=Drain)
    _started: bool = field(default=False, repr=False)
    _background: set[asyncio.Task[Any]] = field(default_factory=set, repr=False)
    _pending_task: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls, config: Config, *, audit: AuditLog | None = None, metrics: Metrics = NULL_METRICS
    ) -> Enforcement:
        """Reads the identity and credential files now (a missing one is a start-up error)."""
        redis = connect(config.state) if config.state.redis_url is not None else None
        # One Redis client for every component; this object closes it (and the backend's own
        # pipelined connection, in stop()).
        backend = memory_backend() if redis is None else redis_backend(redis, config.limits.key_prefix)
        backend = dataclasses.replace(backend, client=None)
        return cls(
            identifier=Identifier.from_config(config),
            broker=CredentialBroker.from_config(config),
            approvals=build_approvals(
                config, redis, emit=audit.event if audit is not None else None, metrics=metrics
            ),
            sessions=build_session_tracker(config, redis),
            limits=build_limits(config, backend=backend, metrics=metrics),
            fail_open=config.state.fail_open,
            body_protocols=config.inspection.protocols,
            sessions_on=(lambda: config.sessions.record != "never"),
            metrics=metrics,
            redis=redis,
            audit=audit,
        )

    @classmethod
    def local(cls) -> Enforcement:
        """The default configuration's components: no identity, state in memory (tests, tools)."""
        return cls.build(Config())

    async def start(self) -> None:
        await self.identifier.start()
        await self.broker.start()
        await self.limits.kill_switch.start()
        self._pending_task = asyncio.create_task(self._count_pending(), name="approvals-pending")
        # The tokenizers load in about half a second of Python that holds the GIL: before serving,
        # since loading them while serving stalls the event loop that long (measured: a 100 ms
        # OPA deadline missed during the load).
        await asyncio.to_thread(self.limits.tokens.prepare)
        self._started = True

    async def stop(self) -> None:
        if self._pending_task is not None:
            self._pending_task.cancel()
            await asyncio.gather(self._pending_task, return_exceptions=True)
            self._pending_task = None
        if self._started:
            await self.identifier.stop()
            await self.broker.stop()
            await self.limits.kill_switch.stop()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.approvals.close()
        await self.sessions.close()
        await self.limits.backend.close()
        if self.redis is not None:
            await self.redis.aclose()
        self._started = False

    def admin_extensions(self) -> list[AdminExtension]:
        return [
            self.approvals.admin_extension(),
            self.broker.admin_extension(),
            self.limits.admin_extension(self.audit),
        ]

    async def _count_pending(self) -> None:
        """The pending approvals gauge, from the shared store (every replica reports the same)."""
        store = self.approvals.store
        while True:
            try:
                pending = await store.list(Status.PENDING, limit=store.settings.max_pending)
                self.metrics.approvals_pending(len(pending))
            except ChaperoneError:
                pass  # the store's outage is counted and logged where requests meet it
            await asyncio.sleep(PENDING_GAUGE_SECONDS)

    def in_background(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run work that no request waits for (a reconcile after the answer has gone)."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background_task_failed", error=type(task.exception()).__name__)
