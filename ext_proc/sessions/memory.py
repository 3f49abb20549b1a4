"""Sessions in this process's memory: bounded (least recently used sessions and agents go
first), idle sessions and forgotten tools decided by the tracker's clock."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ext_proc.sessions.model import ActionRecord, Fact, SessionFacts, SessionKey, record_of
from ext_proc.sessions.tracker import Clock, SessionSettings, SessionTracker, session_id


@dataclass
class _Session:
    id: str
    actions: deque[ActionRecord]
    last_seen: float
    count: int = 0
    facts: set[Fact] = field(default_factory=set)


class _Remembered:
    """Names an agent used, most recently used last, bounded in number and age."""

    def __init__(self) -> None:
        self._last_used: OrderedDict[str, float] = OrderedDict()

    def seen(self, horizon: float) -> tuple[str, ...]:
        while self._last_used and next(iter(self._last_used.values())) < horizon:
            self._last_used.popitem(last=False)
        return tuple(sorted(self._last_used))

    def use(self, name: str | None, now: float, bound: int) -> None:
        if name is None:
            return
        self._last_used[name] = now
        self._last_used.move_to_end(name)
        while len(self._last_used) > bound:
            self._last_used.popitem(last=False)


@dataclass
class _Agent:
    tools: _Remembered = field(default_factory=_Remembered)
    upstreams: _Remembered = field(default_factory=_Remembered)


class MemorySessionTracker(SessionTracker):
    def __init__(self, settings: SessionSettings, clock: Clock = time.time) -> None:
        super().__init__(settings, clock)
        self._sessions: OrderedDict[SessionKey, _Session] = OrderedDict()
        self._agents: OrderedDict[str | None, _Agent] = OrderedDict()

    async def observe(
        self,
        agent: str | None,
        session: str | None,
        action: Mapping[str, Any] | None,
        upstream: str | None,
    ) -> SessionFacts:
        now = self._clock()
        key = SessionKey(agent, session)
        state = self._session(key, now)
        memory = self._agent(agent)
        record = record_of(action, upstream, now)
        horizon = now - self.settings.agent_memory_seconds
        tools, upstreams = memory.tools.seen(horizon), memory.upstreams.seen(horizon)
        facts = SessionFacts(
            key=key,
            id=state.id,
            count=state.count,
            actions=tuple(state.actions),
            new_tool=record.tool is not None and record.tool not in tools,
            new_upstream=record.upstream is not None and record.upstream not in upstreams,
            tools_seen=tools,
            upstreams_seen=upstreams,
            facts=frozenset(state.facts),
        )
        state.actions.append(record)
        state.count += 1
        state.last_seen = now
        memory.tools.use(record.tool, now, self.settings.max_remembered)
        memory.upstreams.use(record.upstream, now, self.settings.max_remembered)
        return facts

    async def mark(self, key: SessionKey, fact: Fact) -> None:
        state = self._sessions.get(key)
        if state is not None and not self._idle(state, self._clock()):
            state.facts.add(Fact(fact))

    def _session(self, key: SessionKey, now: float) -> _Session:
        state = self._sessions.get(key)
        if state is None or self._idle(state, now):
            state = _Session(session_id(key), deque(maxlen=self.settings.history), now)
            self._sessions[key] = state
        self._sessions.move_to_end(key)
        while len(self._sessions) > self.settings.max_sessions:
            self._sessions.popitem(last=False)
        return state

    def _agent(self, agent: str | None) -> _Agent:
        memory = self._agents.get(agent)
        if memory is None:
            memory = self._agents[agent] = _Agent()
        self._agents.move_to_end(agent)
        while len(self._agents) > self.settings.max_sessions:
            self._agents.popitem(last=False)
        return memory

    def _idle(self, state: _Session, now: float) -> bool:
        return now - state.last_seen > self.settings.idle_seconds
