"""Sessions in Redis: every replica sees the same history. One Lua script per observation
(one round trip, atomic): two replicas recording actions of one session at once neither lose
an action nor both report the same tool as new.

Keys, under a prefix (``chaperone:sessions:``), named by a hash of the agent and session id
(those come from the traffic: hashed, they cannot shape key names):

- ``s:<hash>``: the session's hash (``id``, ``count``, ``last_seen``, ``fact:<name>``);
- ``a:<hash>``: its last ``history`` action records (JSON), oldest first;
- ``t:<hash of agent>``, ``u:<hash of agent>``: the agent's tools and upstreams, scored by
  when each was last used.

Idle sessions and forgotten names are decided by the tracker's clock (``last_seen`` and the
scores); key expiry only reclaims the memory later.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

import orjson
import redis.asyncio as aioredis

from ext_proc.sessions.model import ActionRecord, Fact, SessionFacts, SessionKey, record_of
from ext_proc.sessions.tracker import Clock, SessionSettings, SessionTracker, session_id
from ext_proc.state.redis_client import call

DEFAULT_PREFIX = "chaperone:sessions:"
_FACT_PREFIX = "fact:"

# KEYS: session, actions, tools, upstreams. ARGV: now, idle, new id, record, history, tool,
# upstream, forget-before, max remembered, session ttl ms, agent ttl ms.
_OBSERVE = """
local now = tonumber(ARGV[1])
local last = redis.call('HGET', KEYS[1], 'last_seen')
if last and now - tonumber(last) > tonumber(ARGV[2]) then redis.call('DEL', KEYS[1], KEYS[2]) end
redis.call('HSETNX', KEYS[1], 'id', ARGV[3])
local count = redis.call('HINCRBY', KEYS[1], 'count', 1) - 1
redis.call('HSET', KEYS[1], 'last_seen', ARGV[1])
local session = redis.call('HGETALL', KEYS[1])
local earlier = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('RPUSH', KEYS[2], ARGV[4])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[5]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[10])
redis.call('PEXPIRE', KEYS[2], ARGV[10])
local function remember(key, name)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. ARGV[8])
  local seen = redis.call('ZRANGE', key, 0, -1)
  if name ~= '' then
    redis.call('ZADD', key, ARGV[1], name)
    redis.call('ZREMRANGEBYRANK', key, 0, -tonumber(ARGV[9]) - 1)
    redis.call('PEXPIRE', key, ARGV[11])
  end
  return seen
end
local fields = {}
for i = 1, #session, 2 do fields[session[i]] = session[i + 1] end
local function names(list)
  if #list == 0 then return '[]' end
  return cjson.encode(list)
end
-- One JSON document: a single bulk reply parses in one step (the records are JSON already).
return '{"count":' .. count .. ',"session":' .. cjson.encode(fields) .. ',"earlier":['
  .. table.concat(earlier, ',') .. '],"tools":' .. names(remember(KEYS[3], ARGV[6]))
  .. ',"upstreams":' .. names(remember(KEYS[4], ARGV[7])) .. '}'
"""

# KEYS: session. ARGV: field, now, idle.
_MARK = """
local last = redis.call('HGET', KEYS[1], 'last_seen')
if last and tonumber(ARGV[2]) - tonumber(last) <= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], ARGV[1], '1')
end
return 0
"""


class RedisSessionTracker(SessionTracker):
    def __init__(
        self,
        client: aioredis.Redis,
        settings: SessionSettings,
        clock: Clock = time.time,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        super().__init__(settings, clock)
        self._prefix = prefix
        self._observe = client.register_script(_OBSERVE)
        self._mark = client.register_script(_MARK)

    async def observe(
        self,
        agent: str | None,
        session: str | None,
        action: Mapping[str, Any] | None,
        upstream: str | None,
    ) -> SessionFacts:
        now = self._clock()
        key = SessionKey(agent, session)
        record = record_of(action, upstream, now)
        agent_hash = _hash(agent)
        keys = [self._session_key(key), self._prefix + "a:" + _hash(key), self._prefix + "t:" + agent_hash]
        keys.append(self._prefix + "u:" + agent_hash)
        settings = self.settings
        args: list[str | int | bytes] = [
            repr(now), repr(settings.idle_seconds), session_id(key), orjson.dumps(record.as_json()),
            settings.history, record.tool or "", record.upstream or "",
            repr(now - settings.agent_memory_seconds), settings.max_remembered,
            _ms(settings.idle_seconds), _ms(settings.agent_memory_seconds),
        ]  # fmt: skip
        reply = orjson.loads(await call(self._observe(keys=keys, args=args), "session observe"))
        session_fields: dict[str, str] = reply["session"]
        tools_seen, upstreams_seen = tuple(sorted(reply["tools"])), tuple(sorted(reply["upstreams"]))
        return SessionFacts(
            key=key,
            id=session_fields["id"],
            count=int(reply["count"]),
            actions=tuple(ActionRecord.from_json(item) for item in reply["earlier"]),
            new_tool=record.tool is not None and record.tool not in tools_seen,
            new_upstream=record.upstream is not None and record.upstream not in upstreams_seen,
            tools_seen=tools_seen,
            upstreams_seen=upstreams_seen,
            facts=_facts(session_fields),
        )

    async def mark(self, key: SessionKey, fact: Fact) -> None:
        args = [
            _FACT_PREFIX + Fact(fact).value,
            repr(self._clock()),
            repr(self.settings.idle_seconds),
        ]
        await call(self._mark(keys=[self._session_key(key)], args=args), "session mark")

    def _session_key(self, key: SessionKey) -> str:
        return self._prefix + "s:" + _hash(key)


def _hash(value: SessionKey | str | None) -> str:
    if isinstance(value, SessionKey):
        parts = orjson.dumps([value.agent, value.session])
    else:
        parts = orjson.dumps([value])
    return hashlib.sha256(parts).hexdigest()[:32]


def _facts(fields: Mapping[str, str]) -> frozenset[Fact]:
    known = {fact.value for fact in Fact}
    names = (name[len(_FACT_PREFIX) :] for name in fields if name.startswith(_FACT_PREFIX))
    return frozenset(Fact(name) for name in names if name in known)


def _ms(seconds: float) -> int:
    # The memory is reclaimed a little after the clock says the state is gone.
    return int(seconds * 1000) + 60_000
