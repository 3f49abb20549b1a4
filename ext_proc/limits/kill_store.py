"""Where kill switches live, in memory and in Redis, with a change notification.

Redis: one hash (field ``scope:target``, value the kill as JSON) that persists until released,
and a pub/sub channel on which every change is announced. A notification carries no state (a
lost or reordered message cannot leave a replica wrong): a replica that hears one re-reads the
hash, and re-reads it anyway on a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import orjson
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from ext_proc.state.redis_client import call

Scope = Literal["all", "agent", "tool", "upstream"]
SCOPES: tuple[Scope, ...] = ("all", "agent", "tool", "upstream")
ALL_TARGET = "*"


@dataclass(frozen=True, slots=True)
class Kill:
    scope: Scope
    target: str  # "*" for scope "all"
    reason: str
    actor: str
    engaged_at: float  # Unix seconds
    state_unavailable: bool = False  # not an operator's kill: the state could not be read in time

    @property
    def field(self) -> str:
        return f"{self.scope}:{self.target}"

    def as_dict(self) -> dict[str, Any]:
        """The operator API's shape (target null for scope "all", as in the gRPC API)."""
        return {
            "scope": self.scope,
            "target": None if self.scope == "all" else self.target,
            "reason": self.reason,
            "actor": self.actor,
            "engaged_at": datetime.fromtimestamp(self.engaged_at, UTC).isoformat().replace("+00:00", "Z"),
            "state_unavailable": self.state_unavailable,
        }

    def encode(self) -> bytes:
        return orjson.dumps(
            {"scope": self.scope, "target": self.target, "reason": self.reason, "actor": self.actor,
             "engaged_at": self.engaged_at}
        )  # fmt: skip

    @staticmethod
    def decode(data: bytes | str) -> Kill | None:
        """A stored kill; None for a value this version cannot read (it is left alone)."""
        try:
            value = orjson.loads(data)
            scope = value["scope"]
            if scope not in SCOPES:
                return None
            return Kill(scope, str(value["target"]), str(value["reason"]), str(value["actor"]),
                        float(value["engaged_at"]))  # fmt: skip
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


class Subscription(Protocol):
    async def wait(self, timeout: float) -> bool:
        """Until a change is announced (True) or the timeout passes (False)."""

    async def close(self) -> None: ...


class KillStore(Protocol):
    async def load(self) -> list[Kill]: ...

    async def engage(self, kill: Kill) -> None: ...

    async def release(self, scope: Scope, target: str) -> Kill | None: ...

    async def subscribe(self) -> Subscription: ...


class _MemorySubscription:
    def __init__(self, store: MemoryKillStore) -> None:
        self._store = store
        self.changed = asyncio.Event()

    async def wait(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.changed.wait(), timeout)
        except TimeoutError:
            return False
        self.changed.clear()
        return True

    async def close(self) -> None:
        self._store.subscribers.discard(self)


class MemoryKillStore:
    """Kills of one process (lost when it exits); instances sharing the store see each other's."""

    def __init__(self) -> None:
        self._kills: dict[str, Kill] = {}
        self.subscribers: set[_MemorySubscription] = set()

    async def load(self) -> list[Kill]:
        return list(self._kills.values())

    async def engage(self, kill: Kill) -> None:
        self._kills[kill.field] = kill
        self._announce()

    async def release(self, scope: Scope, target: str) -> Kill | None:
        kill = self._kills.pop(f"{scope}:{target}", None)
        self._announce()
        return kill

    async def subscribe(self) -> Subscription:
        subscription = _MemorySubscription(self)
        self.subscribers.add(subscription)
        return subscription

    def _announce(self) -> None:
        for subscription in self.subscribers:
            subscription.changed.set()


class _RedisSubscription:
    def __init__(self, pubsub: PubSub) -> None:
        self._pubsub = pubsub

    async def wait(self, timeout: float) -> bool:
        # The read has this call's own timeout, not the client's (short) command deadline.
        message = await call(
            self._pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout),
            "kill switch notification",
        )
        return message is not None

    async def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            await self._pubsub.aclose()


class RedisKillStore:
    def __init__(self, client: aioredis.Redis, key_prefix: str) -> None:
        self._client = client
        self._hash = f"{key_prefix}kill-switch"
        self._channel = f"{key_prefix}kill-switch:changes"

    async def load(self) -> list[Kill]:
        entries = await call(self._client.hgetall(self._hash), "kill switch load")
        kills = (Kill.decode(value) for value in entries.values())
        return [kill for kill in kills if kill is not None]

    async def engage(self, kill: Kill) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(self._hash, kill.field, kill.encode())
            pipe.publish(self._channel, kill.field)
            await call(pipe.execute(), "kill switch engage")

    async def release(self, scope: Scope, target: str) -> Kill | None:
        field = f"{scope}:{target}"
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hget(self._hash, field)
            pipe.hdel(self._hash, field)
            pipe.publish(self._channel, field)
            value, _, _ = await call(pipe.execute(), "kill switch release")
        return None if value is None else Kill.decode(value)

    async def subscribe(self) -> Subscription:
        pubsub = self._client.pubsub()
        try:
            await call(pubsub.subscribe(self._channel), "kill switch subscribe")
        except BaseException:
            await _RedisSubscription(pubsub).close()
            raise
        return _RedisSubscription(pubsub)
