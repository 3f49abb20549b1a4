"""Approvals in this process's memory (no ``state.redis_url``): one replica, bounded.

Every primitive runs without an ``await`` between its read and its write, so on one event loop
each is atomic, as the Redis scripts are.
"""

from __future__ import annotations

import contextlib
import heapq
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

from ext_proc.approvals.model import Approval, Mode, Status
from ext_proc.approvals.notifications import EventWatch
from ext_proc.approvals.store import (
    ApprovalStore,
    Clock,
    Outcome,
    StoreSettings,
    Watch,
    decided,
    expired,
    usable,
)

# Decided and expired requests kept at most (the oldest go first), whatever the retention.
MAX_RETAINED = 10_000
# Requests past their retention are dropped at most this often (a scan of the records).
PRUNE_INTERVAL_SECONDS = 60.0


class MemoryApprovalStore(ApprovalStore):
    def __init__(self, settings: StoreSettings, clock: Clock = time.time) -> None:
        super().__init__(settings, clock)
        self._records: dict[str, Approval] = {}  # in creation order
        self._pending: set[str] = set()
        self._expiries: list[tuple[float, str]] = []  # heap of the pending ids by expiry
        self._approved: dict[str, deque[str]] = {}  # fingerprint -> approved retry-mode ids
        self._latest_ids: dict[str, str] = {}  # fingerprint -> its latest retry-mode request
        self._watches: dict[str, set[EventWatch]] = {}
        self._pruned_at = float("-inf")

    async def _insert(self, approval: Approval, now: float) -> bool:
        self._expire_overdue(now)
        self._prune(now)
        if len(self._pending) >= self.settings.max_pending:
            return False
        self._records[approval.id] = approval
        self._pending.add(approval.id)
        heapq.heappush(self._expiries, (approval.expires_at, approval.id))
        if approval.mode is Mode.RETRY:
            self._latest_ids[approval.fingerprint] = approval.id
        return True

    async def _load(self, approval_id: str) -> Approval | None:
        return self._records.get(approval_id)

    async def _newest_first(self, pending_only: bool) -> AsyncIterator[Approval]:
        for approval in reversed(list(self._records.values())):
            if not pending_only or approval.status is Status.PENDING:
                yield approval

    async def _decide(
        self, approval_id: str, status: Status, operator: str, comment: str | None, now: float
    ) -> tuple[Outcome, Approval | None]:
        approval = self._records.get(approval_id)
        if approval is None:
            return Outcome.MISSING, None
        if approval.status is not Status.PENDING:
            return Outcome.NOT_PENDING, approval
        if approval.agent is not None and approval.agent == operator:
            return Outcome.SELF, approval
        if approval.overdue(now):
            return Outcome.OVERDUE, self._settle(expired(approval, now))
        settled = self._settle(decided(approval, status, operator, comment, now))
        if status is Status.APPROVED and settled.mode is Mode.RETRY:
            self._approved.setdefault(settled.fingerprint, deque()).append(settled.id)
        return Outcome.DONE, settled

    async def _expire(self, approval_id: str, now: float) -> tuple[bool, Approval | None]:
        approval = self._records.get(approval_id)
        if approval is None or approval.status is not Status.PENDING:
            return False, approval
        return True, self._settle(expired(approval, now))

    async def _take_approved(self, action_fingerprint: str, now: float) -> Approval | None:
        queue = self._approved.get(action_fingerprint)
        while queue:
            approval = self._records.get(queue.popleft())
            if approval is not None and usable(approval, now, self.settings.retry_window_seconds):
                used = replace(approval, used_at=now)
                self._records[used.id] = used
                return used
        self._approved.pop(action_fingerprint, None)
        return None

    async def _latest(self, action_fingerprint: str) -> str | None:
        return self._latest_ids.get(action_fingerprint)

    async def _forget_latest(self, action_fingerprint: str, approval_id: str) -> bool:
        if self._latest_ids.get(action_fingerprint) != approval_id:
            return False
        del self._latest_ids[action_fingerprint]
        return True

    @contextlib.asynccontextmanager
    async def _watch(self, approval_id: str) -> AsyncIterator[Watch]:
        watch = EventWatch()
        self._watches.setdefault(approval_id, set()).add(watch)
        try:
            yield watch
        finally:
            watches = self._watches.get(approval_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[approval_id]

    def _settle(self, approval: Approval) -> Approval:
        """Store a request that left the pending state, and wake whoever waits on it."""
        self._records[approval.id] = approval
        self._pending.discard(approval.id)
        for watch in self._watches.get(approval.id, ()):
            watch.event.set()
        return approval

    def _prune(self, now: float) -> None:
        settled = len(self._records) - len(self._pending)
        if settled <= MAX_RETAINED and now - self._pruned_at < PRUNE_INTERVAL_SECONDS:
            return
        self._pruned_at = now
        horizon = now - self.settings.retention_seconds
        overflow = max(settled - MAX_RETAINED, 0)
        for approval in list(self._settled_oldest_first()):
            if overflow > 0 or (approval.decided_at or approval.expires_at) < horizon:
                del self._records[approval.id]
                overflow -= 1
        self._latest_ids = {fp: i for fp, i in self._latest_ids.items() if i in self._records}
        self._approved = {fp: q for fp, q in self._approved.items() if any(i in self._records for i in q)}

    def _expire_overdue(self, now: float) -> None:
        """Mark the requests nobody read since their expiry (they no longer count as pending)."""
        while self._expiries and self._expiries[0][0] <= now:
            _, approval_id = heapq.heappop(self._expiries)
            if approval_id in self._pending:
                self._audit.expired(self._settle(expired(self._records[approval_id], now)), "ttl")

    def _settled_oldest_first(self) -> Iterator[Approval]:
        return (a for a in self._records.values() if a.status is not Status.PENDING)
