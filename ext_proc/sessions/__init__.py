"""Per-session history of an agent's actions, for policies that decide on what came before
(``input.session``). See policies/README.md, "Sessions"."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from ext_proc.config import Config
from ext_proc.sessions.memory import MemorySessionTracker
from ext_proc.sessions.model import ActionRecord, Fact, Kind, SessionFacts, SessionKey, record_of
from ext_proc.sessions.redis_tracker import RedisSessionTracker
from ext_proc.sessions.tracker import Clock, SessionSettings, SessionTracker


def build_session_tracker(
    config: Config, redis: aioredis.Redis | None = None, clock: Clock = time.time
) -> SessionTracker:
    """Redis when ``state.redis_url`` is set (``redis`` is the service's client), else memory."""
    settings = SessionSettings.of(config.sessions)
    if config.state.redis_url is None:
        return MemorySessionTracker(settings, clock)
    if redis is None:
        raise ValueError("state.redis_url is set: pass the service's Redis client")
    return RedisSessionTracker(redis, settings, clock)


__all__ = [
    "ActionRecord",
    "Fact",
    "Kind",
    "MemorySessionTracker",
    "RedisSessionTracker",
    "SessionFacts",
    "SessionKey",
    "SessionSettings",
    "SessionTracker",
    "build_session_tracker",
    "record_of",
]
