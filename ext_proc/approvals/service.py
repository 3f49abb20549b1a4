"""Build the approval components from the configuration: store, webhook, gate, operator API."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from ext_proc.admin.app import AdminExtension
from ext_proc.approvals.api import approvals_api
from ext_proc.approvals.audit import ApprovalAudit, Emit
from ext_proc.approvals.gate import ApprovalGate
from ext_proc.approvals.memory_store import MemoryApprovalStore
from ext_proc.approvals.redis_store import RedisApprovalStore
from ext_proc.approvals.store import ApprovalStore, Clock, StoreSettings
from ext_proc.approvals.webhook import Notifier, WebhookNotifier
from ext_proc.config import Config
from ext_proc.metrics import NULL_METRICS, Metrics


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
    config: Config,
    redis: aioredis.Redis | None = None,
    clock: Clock = time.time,
    *,
    emit: Emit | None = None,
    metrics: Metrics = NULL_METRICS,
) -> ApprovalStore:
    """Redis when ``state.redis_url`` is set (``redis`` is the service's client), else memory.
    ``emit`` writes the approval events to the audit trail (``AuditLog.event``)."""
    settings = StoreSettings.of(config.approvals)
    store: ApprovalStore
    if config.state.redis_url is None:
        store = MemoryApprovalStore(settings, clock)
    elif redis is None:
        raise ValueError("state.redis_url is set: pass the service's Redis client")
    else:
        store = RedisApprovalStore(redis, settings, clock)
    store.audit = ApprovalAudit(emit, metrics)
    return store


def build_approvals(
    config: Config,
    redis: aioredis.Redis | None = None,
    clock: Clock = time.time,
    *,
    emit: Emit | None = None,
    metrics: Metrics = NULL_METRICS,
) -> Approvals:
    store = build_store(config, redis, clock, emit=emit, metrics=metrics)
    notifier = WebhookNotifier.of(config.approvals)
    return Approvals(store, notifier, ApprovalGate.of(config.approvals, store, notifier))
