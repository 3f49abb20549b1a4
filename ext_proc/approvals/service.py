"""Build the approval components from the configuration: store, webhook, gate, operator API."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from ext_proc.admin.app import AdminExtension
from ext_proc.approvals.api import approvals_api
from ext_proc.approvals.gate import ApprovalGate
from ext_proc.approvals.memory_store import MemoryApprovalStore
from ext_proc.approvals.redis_store import RedisApprovalStore
from ext_proc.approvals.store import ApprovalStore, Clock, StoreSettings
from ext_proc.approvals.webhook import Notifier, WebhookNotifier
from ext_proc.config import Config


@dataclass(frozen=True, slots=True)
class Approvals:
    store: ApprovalStore
    notifier: Notifier
    gate: ApprovalGate

    def admin_extension(self) -> AdminExtension:
        return approvals_api(self.store)

    async def close(self) -> None:
        await self.gate.close()
        await self.notifier.close()
        await self.store.close()


def build_store(
    config: Config, redis: aioredis.Redis | None = None, clock: Clock = time.time
) -> ApprovalStore:
    """Redis when ``state.redis_url`` is set (``redis`` is the service's client), else memory."""
    settings = StoreSettings.of(config.approvals)
    if config.state.redis_url is None:
        return MemoryApprovalStore(settings, clock)
    if redis is None:
        raise ValueError("state.redis_url is set: pass the service's Redis client")
    return RedisApprovalStore(redis, settings, clock)


def build_approvals(
    config: Config, redis: aioredis.Redis | None = None, clock: Clock = time.time
) -> Approvals:
    store = build_store(config, redis, clock)
    notifier = WebhookNotifier.of(config.approvals)
    return Approvals(store, notifier, ApprovalGate.of(config.approvals, store, notifier))
