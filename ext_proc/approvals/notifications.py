"""Waking the calls that wait on a request when it changes.

In memory, the store sets the waiters' events itself. With Redis, a decision or an expiry is
published on a channel; each replica holds one subscription for all its waiting calls and wakes
those waiting on the published id. A subscription that breaks is restored with backoff, and
every waiter is woken once it is back (a message may have been missed meanwhile); waiting calls
also poll, so a lost message delays a release, never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from ext_proc.approvals.store import Watch

log = structlog.get_logger("chaperone.approvals")

# How long a waiting call waits for the subscription before relying on polling alone.
_SUBSCRIBE_WAIT_SECONDS = 1.0
_RESUBSCRIBE_SECONDS = 1.0
_RESUBSCRIBE_MAX_SECONDS = 30.0
_LISTEN_SECONDS = 1.0


class EventWatch:
    def __init__(self) -> None:
        self.event = asyncio.Event()

    async def changed(self, timeout: float) -> None:
        # A change signalled before this call leaves the event set: no wake-up is lost.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.event.wait()
        self.event.clear()


class Notifications:
    """One subscription per replica to the ``changed`` channel, shared by its waiting calls."""

    def __init__(self, client: aioredis.Redis, channel: str) -> None:
        self._client = client
        self._channel = channel
        self._watches: dict[str, set[EventWatch]] = {}
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def watch(self, approval_id: str) -> AsyncIterator[Watch]:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="approval-notifications")
        watch = EventWatch()
        self._watches.setdefault(approval_id, set()).add(watch)
        try:
            # Subscribed before the caller's first read, so no decision falls in between; if
            # Redis is slow to answer, the caller's polling covers it.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_SUBSCRIBE_WAIT_SECONDS):
                    await self._subscribed.wait()
            yield watch
        finally:
            watches = self._watches.get(approval_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[approval_id]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        delay = _RESUBSCRIBE_SECONDS
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                self._subscribed.set()
                delay = _RESUBSCRIBE_SECONDS
                self._wake(None)  # messages may have been missed while (re)subscribing
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=_LISTEN_SECONDS
                    )
                    if message is not None and message.get("type") == "message":
                        self._wake(bytes(message["data"]).decode())
            except Exception as exc:  # the listener must outlive any failure
                # Waiting calls keep polling meanwhile: a lost subscription delays, never loses.
                self._subscribed.clear()
                log.warning("approval_notifications_interrupted", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RESUBSCRIBE_MAX_SECONDS)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()

    def _wake(self, approval_id: str | None) -> None:
        groups = self._watches.values() if approval_id is None else [self._watches.get(approval_id, set())]
        for watches in groups:
            for watch in watches:
                watch.event.set()
