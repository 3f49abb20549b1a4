"""Approvals in Redis (``state.redis_url``): every replica sees and decides the same requests.

Keys, under a prefix (``chaperone:approvals:``):

- ``rec:<id>``: a hash per request. ``request`` holds the immutable part as JSON; ``status``,
  ``agent``, ``mode``, ``expires_at`` and ``fingerprint`` are fields of their own so the Lua
  scripts can check them without decoding JSON (cjson would turn ``[]`` into ``{}`` in a
  re-encoded action); ``decided_by``, ``decided_at``, ``comment``, ``used_at`` are set later.
  It expires ``retention_seconds`` after the request settles.
- ``pending``: sorted set of pending ids by expiry (the ``max_pending`` count, the pending list);
  ``index``: every id by creation time (the list, newest first).
- ``approved:<fingerprint>``: retry mode's approved, unused ids; ``LPOP`` hands each to one caller.
- ``latest:<fingerprint>``: retry mode's most recent request for an action.

A decision or an expiry publishes the id on ``<prefix>changed``; each replica holds one
subscription for all its waiting calls, and the waiting calls also re-read their request every
``poll_seconds`` in case a message was missed (a reconnect, a replica that subscribed late).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis

from ext_proc.approvals.model import Approval, Mode, Status
from ext_proc.approvals.notifications import Notifications
from ext_proc.approvals.store import ApprovalStore, Clock, Outcome, StoreSettings, Watch, usable
from ext_proc.state.redis_client import call

DEFAULT_PREFIX = "chaperone:approvals:"
# The index keeps at most this many ids (the oldest go first); records expire on their own.
MAX_INDEX = 100_000
_PAGE = 100

_CREATE = """
if redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[2], '+inf') >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 9))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[8]) - 1)
if tonumber(ARGV[7]) > 0 then redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[7]) end
return 1
"""

# KEYS: record, pending, approved:<fp>. ARGV: id, status, operator, comment, now, keep_ms,
# window_ms, channel. Returns {outcome, record} (record absent when missing).
_DECIDE = """
local f = redis.call('HMGET', KEYS[1], 'status', 'expires_at', 'agent', 'mode')
if not f[1] then return {'missing'} end
if f[1] ~= 'pending' then return {'not_pending', redis.call('HGETALL', KEYS[1])} end
if f[3] and f[3] == ARGV[3] then return {'self', redis.call('HGETALL', KEYS[1])} end
local outcome = 'done'
if tonumber(f[2]) <= tonumber(ARGV[5]) then
  outcome = 'overdue'
  redis.call('HSET', KEYS[1], 'status', 'expired', 'decided_at', ARGV[5])
else
  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'decided_by', ARGV[3], 'decided_at', ARGV[5])
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'comment', ARGV[4]) end
  if ARGV[2] == 'approved' and f[4] == 'retry' then
    redis.call('RPUSH', KEYS[3], ARGV[1])
    redis.call('PEXPIRE', KEYS[3], ARGV[7])
  end
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[6]) + tonumber(ARGV[7]))
redis.call('PUBLISH', ARGV[8], ARGV[1])
return {outcome, redis.call('HGETALL', KEYS[1])}
"""

# KEYS: record, pending. ARGV: id, now, keep_ms, channel. Returns {changed, record}.
_EXPIRE = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {0} end
if status ~= 'pending' then return {0, redis.call('HGETALL', KEYS[1])} end
redis.call('HSET', KEYS[1], 'status', 'expired', 'decided_at', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[1])
return {1, redis.call('HGETALL', KEYS[1])}
"""

_FORGET = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisApprovalStore(ApprovalStore):
    def __init__(
        self,
        client: aioredis.Redis,
        settings: StoreSettings,
        clock: Clock = time.time,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        super().__init__(settings, clock)
        self._client = client
        self._prefix = prefix
        self._channel = prefix + "changed"
        self._pending_key = prefix + "pending"
        self._index_key = prefix + "index"
        self._create = client.register_script(_CREATE)
        self._decide_script = client.register_script(_DECIDE)
        self._expire_script = client.register_script(_EXPIRE)
        self._forget = client.register_script(_FORGET)
        self._notifications = Notifications(client, self._channel)

    async def close(self) -> None:
        await self._notifications.close()

    async def _insert(self, approval: Approval, now: float) -> bool:
        keep = approval.expires_at - now + self._settled_keep_seconds()
        latest_ms = _ms(approval.expires_at - now + self.settings.retry_window_seconds)
        args: list[bytes | str | int] = [
            approval.id, repr(now), self.settings.max_pending, _ms(keep), repr(approval.expires_at),
            repr(approval.created_at), latest_ms if approval.mode is Mode.RETRY else 0, MAX_INDEX,
            *_fields(approval),
        ]  # fmt: skip
        keys = [self._record(approval.id), self._pending_key, self._index_key, self._latest_key(approval)]
        created = await call(self._create(keys=keys, args=args), "approval create")
        return bool(created)

    async def _load(self, approval_id: str) -> Approval | None:
        fields = await call(self._client.hgetall(self._record(approval_id)), "approval get")
        return _approval(_bytes_dict(fields)) if fields else None

    async def _newest_first(self, pending_only: bool) -> AsyncIterator[Approval]:
        if pending_only:
            pending = await call(self._client.zrange(self._pending_key, 0, -1), "approval list")
            found = await self._load_many(_members(pending), self._pending_key)
            for approval in sorted(found, key=lambda a: a.created_at, reverse=True):
                yield approval
            return
        start = 0
        while True:
            page = self._client.zrevrange(self._index_key, start, start + _PAGE - 1)
            ids = _members(await call(page, "approval list"))
            for approval in await self._load_many(ids, self._index_key):
                yield approval
            if len(ids) < _PAGE:
                return
            start += _PAGE

    async def _load_many(self, ids: Sequence[bytes], index: str) -> list[Approval]:
        pipe = self._client.pipeline(transaction=False)
        for approval_id in ids:
            pipe.hgetall(self._record(approval_id.decode()))
        records: list[dict[bytes, bytes]] = await call(pipe.execute(), "approval list")
        gone = [approval_id for approval_id, fields in zip(ids, records, strict=True) if not fields]
        if gone:  # records that expired: drop them from the index too
            await call(self._client.zrem(index, *gone), "approval list")
        return [_approval(fields) for fields in records if fields]

    async def _decide(
        self, approval_id: str, status: Status, operator: str, comment: str | None, now: float
    ) -> tuple[Outcome, Approval | None]:
        current = await self._load(approval_id)
        if current is None:
            return Outcome.MISSING, None
        keys = [self._record(approval_id), self._pending_key, self._approved_key(current.fingerprint)]
        args = [
            approval_id, status.value, operator, comment or "", repr(now),
            _ms(self._settled_keep_seconds()), _ms(self.settings.retry_window_seconds), self._channel,
        ]  # fmt: skip
        reply = await call(self._decide_script(keys=keys, args=args), "approval decide")
        outcome = Outcome(reply[0].decode())
        return outcome, _approval(_pairs(reply[1])) if len(reply) > 1 else None

    async def _expire(self, approval_id: str, now: float) -> tuple[bool, Approval | None]:
        keys = [self._record(approval_id), self._pending_key]
        args: list[str | int] = [approval_id, repr(now), _ms(self._settled_keep_seconds()), self._channel]
        reply = await call(self._expire_script(keys=keys, args=args), "approval expire")
        return bool(reply[0]), _approval(_pairs(reply[1])) if len(reply) > 1 else None

    async def _take_approved(self, action_fingerprint: str, now: float) -> Approval | None:
        key = self._prefix + "approved:" + action_fingerprint
        while True:
            # LPOP gives each id to one caller only: two concurrent retries cannot both take it.
            popped = await call(self._client.lpop(key), "approval find")
            if not isinstance(popped, bytes):
                return None
            approval = await self._load(popped.decode())
            if approval is None or not usable(approval, now, self.settings.retry_window_seconds):
                continue
            record = self._record(approval.id)
            if await call(self._client.hsetnx(record, "used_at", repr(now)), "approval find"):
                return await self._load(approval.id)

    async def _latest(self, action_fingerprint: str) -> str | None:
        value = await call(self._client.get(self._prefix + "latest:" + action_fingerprint), "approval find")
        return value.decode() if isinstance(value, bytes) else None

    async def _forget_latest(self, action_fingerprint: str, approval_id: str) -> bool:
        keys = [self._prefix + "latest:" + action_fingerprint]
        return bool(await call(self._forget(keys=keys, args=[approval_id]), "approval forget"))

    def _watch(self, approval_id: str) -> contextlib.AbstractAsyncContextManager[Watch]:
        return self._notifications.watch(approval_id)

    def _record(self, approval_id: str) -> str:
        return self._prefix + "rec:" + approval_id

    def _approved_key(self, action_fingerprint: str) -> str:
        return self._prefix + "approved:" + action_fingerprint

    def _latest_key(self, approval: Approval) -> str:
        return self._prefix + "latest:" + approval.fingerprint

    def _settled_keep_seconds(self) -> float:
        return self.settings.retention_seconds + self.settings.retry_window_seconds


def _fields(approval: Approval) -> list[bytes | str]:
    request = {
        "id": approval.id,
        "mode": approval.mode.value,
        "agent": approval.agent,
        "action": approval.action,
        "fingerprint": approval.fingerprint,
        "reason": approval.reason,
        "group": approval.group,
        "decision_id": approval.decision_id,
        "created_at": approval.created_at,
        "expires_at": approval.expires_at,
    }
    fields: list[bytes | str] = [
        "request", orjson.dumps(request), "status", approval.status.value, "mode", approval.mode.value,
        "expires_at", repr(approval.expires_at), "fingerprint", approval.fingerprint,
    ]  # fmt: skip
    if approval.agent is not None:
        fields += ["agent", approval.agent]
    return fields


def _approval(fields: dict[bytes, bytes]) -> Approval:
    request = orjson.loads(fields[b"request"])
    return Approval(
        id=request["id"],
        status=Status(fields[b"status"].decode()),
        mode=Mode(request["mode"]),
        agent=request["agent"],
        action=request["action"],
        fingerprint=request["fingerprint"],
        reason=request["reason"],
        group=request["group"],
        decision_id=request["decision_id"],
        created_at=request["created_at"],
        expires_at=request["expires_at"],
        decided_by=_text(fields.get(b"decided_by")),
        decided_at=_number(fields.get(b"decided_at")),
        comment=_text(fields.get(b"comment")),
        used_at=_number(fields.get(b"used_at")),
    )


def _bytes_dict(fields: dict[bytes | str, bytes | str]) -> dict[bytes, bytes]:
    # The client is built with decode_responses=False: keys and values are bytes.
    return {_b(key): _b(value) for key, value in fields.items()}


def _members(ids: Sequence[Any]) -> list[bytes]:
    return [_b(member) for member in ids]


def _b(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _pairs(flat: Sequence[bytes]) -> dict[bytes, bytes]:
    """A Lua HGETALL reply (a flat array) as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _number(value: bytes | None) -> float | None:
    return None if value is None else float(value)


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)
