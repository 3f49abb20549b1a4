"""Budget counters, in memory and in Redis (one Lua script per operation), side by side.

A counter holds what a budget's window has used: reconciled usage plus the estimates of
reservations still open, as an integer (tokens, or nano-units of the currency). Operations:

- ``reserve``: if every counter has room for its amount, add them all and set the
  reservation's marker (with a time to live); otherwise add nothing and say which has no room;
- ``overrun``: a stream went past its estimate: add the extra if every counter has room, trying
  a rounded-up step first and the exact amount second (fewer round trips, no early stop);
- ``reconcile``: if the marker is still there, delete it and apply each counter's correction
  (the real usage minus what was charged); a counter whose window has gone is left alone.

Counters expire at their window's end plus the reservation time to live (the caller computes
``expire_at``), so old windows clean themselves up. Every expiry is judged by the caller's clock
(``now``), in Redis too (keys get a time to live of ``expiry - now``, and the marker holds its
expiry): both backends agree under an injected clock, which is how windows are tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis

from ext_proc.limits.lua import LuaScript
from ext_proc.state.redis_client import call

SWEEP_EVERY = 1024
STEP, EXACT = 1, 2


@dataclass(frozen=True, slots=True)
class Charge:
    key: str
    amount: int
    cap: int
    expire_at: float  # Unix seconds


@dataclass(frozen=True, slots=True)
class Refusal:
    index: int  # the counter without room
    used: int  # what it held


class BudgetStore(Protocol):
    async def reserve(
        self, marker: str, marker_expiry: float, charges: Sequence[Charge], now: float
    ) -> Refusal | None:
        """Add every amount and set the marker, or add nothing and say which counter is full."""

    async def overrun(self, steps: Sequence[Charge], exact: Sequence[int], now: float) -> int | Refusal:
        """Add the step amounts (STEP) or else the exact ones (EXACT) to every counter, or refuse."""

    async def reconcile(
        self, marker: str, charges: Sequence[Charge], deltas: Sequence[int], now: float
    ) -> bool:
        """Apply the corrections once, while the marker lives; False when it had gone."""

    async def used(self, keys: Sequence[str], now: float) -> list[int]: ...


class MemoryBudgetStore:
    """One process's counters; atomic because no operation yields to the event loop."""

    def __init__(self) -> None:
        self._counters: dict[str, tuple[int, float]] = {}  # value, expiry
        self._markers: dict[str, float] = {}  # expiry
        self._operations = 0

    async def reserve(
        self, marker: str, marker_expiry: float, charges: Sequence[Charge], now: float
    ) -> Refusal | None:
        amounts = [charge.amount for charge in charges]
        refusal = self._refusal(charges, amounts, now)
        if refusal is None:
            self._add(charges, amounts, now)
            self._markers[marker] = marker_expiry
        return refusal

    async def overrun(self, steps: Sequence[Charge], exact: Sequence[int], now: float) -> int | Refusal:
        live = [index for index, charge in enumerate(steps) if now < charge.expire_at]
        charges = [steps[index] for index in live]
        refusal: Refusal | None = None
        for which, amounts in ((STEP, [c.amount for c in charges]), (EXACT, [exact[i] for i in live])):
            refusal = self._refusal(charges, amounts, now)
            if refusal is None:
                self._add(charges, amounts, now)
                return which
        assert refusal is not None
        return Refusal(live[refusal.index], refusal.used)

    async def reconcile(
        self, marker: str, charges: Sequence[Charge], deltas: Sequence[int], now: float
    ) -> bool:
        expiry = self._markers.pop(marker, None)
        if expiry is None or expiry <= now:
            return False
        for charge, delta in zip(charges, deltas, strict=True):
            entry = self._live(charge.key, now)
            if entry is not None:
                self._counters[charge.key] = (max(0, entry[0] + delta), entry[1])
        return True

    async def used(self, keys: Sequence[str], now: float) -> list[int]:
        return [self._value(key, now) for key in keys]

    def _refusal(self, charges: Sequence[Charge], amounts: Sequence[int], now: float) -> Refusal | None:
        for index, (charge, amount) in enumerate(zip(charges, amounts, strict=True)):
            used = self._value(charge.key, now)
            if used + amount > charge.cap:
                return Refusal(index, used)
        return None

    def _add(self, charges: Sequence[Charge], amounts: Sequence[int], now: float) -> None:
        for charge, amount in zip(charges, amounts, strict=True):
            self._counters[charge.key] = (self._value(charge.key, now) + amount, charge.expire_at)
        self._sweep(now)

    def _value(self, key: str, now: float) -> int:
        entry = self._live(key, now)
        return 0 if entry is None else entry[0]

    def _live(self, key: str, now: float) -> tuple[int, float] | None:
        entry = self._counters.get(key)
        if entry is not None and entry[1] <= now:
            del self._counters[key]
            return None
        return entry

    def _sweep(self, now: float) -> None:
        self._operations += 1
        if self._operations % SWEEP_EVERY:
            return
        for key in [k for k, (_, expiry) in self._counters.items() if expiry <= now]:
            del self._counters[key]
        for marker in [m for m, expiry in self._markers.items() if expiry <= now]:
            del self._markers[marker]


RESERVE = LuaScript("""
-- KEYS[1]: the reservation's marker; KEYS[2..]: one counter per budget, of the window holding
-- now (so never past its expiry). ARGV: now, the marker's expiry (Unix s), then amount, cap and
-- expiry per counter. Expiries are relative to the caller's clock, as the memory store's are.
local now = tonumber(ARGV[1])
for i = 2, #KEYS do
  local base = 3 * (i - 2) + 2
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used + tonumber(ARGV[base + 1]) > tonumber(ARGV[base + 2]) then return {i - 1, used} end
end
for i = 2, #KEYS do
  local base = 3 * (i - 2) + 2
  redis.call('INCRBY', KEYS[i], ARGV[base + 1])
  redis.call('PEXPIRE', KEYS[i], math.ceil((tonumber(ARGV[base + 3]) - now) * 1000))
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', math.ceil((tonumber(ARGV[2]) - now) * 1000))
return {0, 0}
""")

OVERRUN = LuaScript("""
-- KEYS: one counter per budget. ARGV: now, then step amount, exact amount, cap and expiry per
-- counter. A counter past its expiry (its window long over) is left out, as if absent.
local now = tonumber(ARGV[1])
local function live(i) return now < tonumber(ARGV[4 * i + 1]) end
local function refusal(which)
  for i = 1, #KEYS do
    if live(i) then
      local used = tonumber(redis.call('GET', KEYS[i]) or '0')
      if used + tonumber(ARGV[4 * (i - 1) + 1 + which]) > tonumber(ARGV[4 * i]) then return i, used end
    end
  end
  return 0, 0
end
local which = 1
local full, used = refusal(1)
if full > 0 then
  which = 2
  full, used = refusal(2)
end
if full > 0 then return {0, full, used} end
for i = 1, #KEYS do
  if live(i) then
    redis.call('INCRBY', KEYS[i], ARGV[4 * (i - 1) + 1 + which])
    redis.call('PEXPIRE', KEYS[i], math.ceil((tonumber(ARGV[4 * i + 1]) - now) * 1000))
  end
end
return {which, 0, 0}
""")

RECONCILE = LuaScript("""
-- KEYS[1]: the reservation's marker; KEYS[2..]: its counters. ARGV: now, then each counter's
-- correction and expiry. The marker holds its own expiry, so it is judged by the caller's clock.
local now = tonumber(ARGV[1])
local marker = redis.call('GET', KEYS[1])
if not marker then return 0 end
redis.call('DEL', KEYS[1])
if tonumber(marker) <= now then return 0 end
for i = 2, #KEYS do
  local delta, expiry = ARGV[2 * i - 2], tonumber(ARGV[2 * i - 1])
  if now < expiry and redis.call('EXISTS', KEYS[i]) == 1 then
    if redis.call('INCRBY', KEYS[i], delta) < 0 then redis.call('SET', KEYS[i], 0, 'KEEPTTL') end
  end
end
return 1
""")


class RedisBudgetStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def reserve(
        self, marker: str, marker_expiry: float, charges: Sequence[Charge], now: float
    ) -> Refusal | None:
        args: list[int | str] = [repr(now), repr(marker_expiry)]
        for charge in charges:
            args += [charge.amount, charge.cap, repr(charge.expire_at)]
        keys = [marker, *(charge.key for charge in charges)]
        full, used = await call(RESERVE.run(self._client, keys, args), "budget reserve")
        return Refusal(int(full) - 1, int(used)) if int(full) else None

    async def overrun(self, steps: Sequence[Charge], exact: Sequence[int], now: float) -> int | Refusal:
        args: list[int | str] = [repr(now)]
        for charge, amount in zip(steps, exact, strict=True):
            args += [charge.amount, amount, charge.cap, repr(charge.expire_at)]
        keys = [charge.key for charge in steps]
        which, full, used = await call(OVERRUN.run(self._client, keys, args), "budget overrun")
        return int(which) if int(which) else Refusal(int(full) - 1, int(used))

    async def reconcile(
        self, marker: str, charges: Sequence[Charge], deltas: Sequence[int], now: float
    ) -> bool:
        args: list[int | str] = [repr(now)]
        for charge, delta in zip(charges, deltas, strict=True):
            args += [delta, repr(charge.expire_at)]
        keys = [marker, *(charge.key for charge in charges)]
        return bool(await call(RECONCILE.run(self._client, keys, args), "budget reconcile"))

    async def used(self, keys: Sequence[str], now: float) -> list[int]:
        if not keys:
            return []
        values = await call(self._client.mget(list(keys)), "budget usage")
        return [int(value or 0) for value in values]
