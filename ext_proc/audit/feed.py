"""The recent audit events, in memory, and live subscribers (the admin API's decisions feed).

Events arrive here after redaction and sealing, exactly as written to the log. A subscriber has
a bounded queue: one that does not keep up loses events (it is told how many) rather than
holding memory or slowing the request path.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any

DEFAULT_RECENT = 500
SUBSCRIBER_QUEUE = 1000


class Subscription:
    def __init__(self, feed: DecisionFeed, backlog: list[dict[str, Any]]) -> None:
        self._feed = feed
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._loop = asyncio.get_running_loop()
        self.dropped = 0
        for event in backlog:
            self._queue.put_nowait(event)

    def offer(self, event: dict[str, Any] | None) -> None:
        """Called by the feed, from any thread."""
        if threading.get_ident() == self._feed.loop_thread:
            self._put(event)
        else:
            self._loop.call_soon_threadsafe(self._put, event)

    def _put(self, event: dict[str, Any] | None) -> None:
        if event is None:
            while self._queue.full():  # make room for the end marker
                self._queue.get_nowait()
            self._queue.put_nowait(None)
        elif self._queue.full():
            self.dropped += 1
        else:
            self._queue.put_nowait(event)

    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The next event; ``{}`` when none came within ``timeout``; None when the feed closed."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return {}

    def close(self) -> None:
        self._feed.unsubscribe(self)


class DecisionFeed:
    def __init__(self, size: int = DEFAULT_RECENT) -> None:
        self._recent: deque[dict[str, Any]] = deque(maxlen=size)
        self._subscribers: set[Subscription] = set()
        self._lock = threading.Lock()
        self.loop_thread: int | None = None

    def publish(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._recent.append(event)
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber.offer(event)

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` events, oldest first."""
        with self._lock:
            events = list(self._recent)
        return events[-limit:] if limit > 0 else []

    def subscribe(self, backlog: int = 0) -> Subscription:
        """Live events, after the last ``backlog`` recent ones (none missed in between)."""
        self.loop_thread = threading.get_ident()
        with self._lock:
            backlog = min(backlog, SUBSCRIBER_QUEUE)
            subscription = Subscription(self, list(self._recent)[-backlog:] if backlog > 0 else [])
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)

    def close(self) -> None:
        """End every subscription (the admin server is stopping)."""
        with self._lock:
            subscribers = list(self._subscribers)
            self._subscribers.clear()
        for subscriber in subscribers:
            subscriber.offer(None)
