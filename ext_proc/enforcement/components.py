"""The enforcement components of one service, built from the configuration.

All the state that replicas share (approvals, sessions, limits, budgets, the kill switch) lives
on one backend: this process's memory, or the one Redis client of ``state.redis_url``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis

from ext_proc.admin.app import AdminExtension
from ext_proc.approvals import Approvals, build_approvals
from ext_proc.approvals.audit import Emit
from ext_proc.config import Config
from ext_proc.credentials.broker import CredentialBroker
from ext_proc.identity.identifier import Identifier
from ext_proc.metrics import NULL_METRICS, Metrics
from ext_proc.sessions import SessionTracker, build_session_tracker
from ext_proc.state.redis_client import connect


@dataclass(slots=True)
class Enforcement:
    identifier: Identifier
    broker: CredentialBroker
    approvals: Approvals
    sessions: SessionTracker
    # state.fail_open: carry on without the shared state when it does not answer.
    fail_open: bool = False
    # inspection.protocols: recognized traffic is decided on its body, in ext_proc.
    body_protocols: bool = True
    metrics: Metrics = NULL_METRICS
    redis: aioredis.Redis | None = None
    _started: bool = field(default=False, repr=False)

    @classmethod
    def build(
        cls, config: Config, *, emit: Emit | None = None, metrics: Metrics = NULL_METRICS
    ) -> Enforcement:
        """Reads the identity and credential files now (a missing one is a start-up error)."""
        redis = connect(config.state) if config.state.redis_url is not None else None
        return cls(
            identifier=Identifier.from_config(config),
            broker=CredentialBroker.from_config(config),
            approvals=build_approvals(config, redis, emit=emit, metrics=metrics),
            sessions=build_session_tracker(config, redis),
            fail_open=config.state.fail_open,
            body_protocols=config.inspection.protocols,
            metrics=metrics,
            redis=redis,
        )

    @classmethod
    def local(cls) -> Enforcement:
        """The default configuration's components: no identity, state in memory (tests, tools)."""
        return cls.build(Config())

    async def start(self) -> None:
        await self.identifier.start()
        await self.broker.start()
        self._started = True

    async def stop(self) -> None:
        if self._started:
            await self.identifier.stop()
            await self.broker.stop()
        await self.approvals.close()
        await self.sessions.close()
        if self.redis is not None:
            await self.redis.aclose()
        self._started = False

    def admin_extensions(self) -> list[AdminExtension]:
        return [self.approvals.admin_extension(), self.broker.admin_extension()]
