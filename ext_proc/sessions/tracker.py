"""The session tracker: one interface, two backends (memory, Redis), the same answers.

A session is keyed by the agent and the transport's session id (MCP's ``Mcp-Session-Id``); an
agent's traffic without one is a session of its own that ends after ``sessions.idle_seconds``
without an action (the next action starts a new one, with a new id). Keying by the agent too
means an agent cannot read or poison another agent's session by sending its session id.

Time is read from an injected clock, on both backends, so expiry is decided the same way (Redis
key expiry only reclaims memory afterwards).
"""

from __future__ import annotations

import abc
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ext_proc.config import SessionsConfig
from ext_proc.sessions.model import Fact, SessionFacts, SessionKey

Clock = Callable[[], float]
SESSION_ID_PREFIX = "ses_"


@dataclass(frozen=True, slots=True)
class SessionSettings:
    history: int
    idle_seconds: float
    max_sessions: int
    max_remembered: int
    agent_memory_seconds: float

    @staticmethod
    def of(config: SessionsConfig) -> SessionSettings:
        return SessionSettings(
            config.history,
            config.idle_seconds,
            config.max_sessions,
            config.max_remembered,
            config.agent_memory_seconds,
        )


class SessionTracker(abc.ABC):
    def __init__(self, settings: SessionSettings, clock: Clock = time.time) -> None:
        self.settings = settings
        self._clock = clock

    @abc.abstractmethod
    async def observe(
        self,
        agent: str | None,
        session: str | None,
        action: Mapping[str, Any] | None,
        upstream: str | None,
    ) -> SessionFacts:
        """Record this action and return what came before it (``input.session``).

        ``session`` is the transport's session id (``Mcp-Session-Id``) or None; ``action`` the
        ``input.action`` document (one message: call once per message of a batch) or None.
        """

    @abc.abstractmethod
    async def mark(self, key: SessionKey, fact: Fact) -> None:
        """Note a fact on the session (ignored when the session has ended)."""

    async def close(self) -> None:  # noqa: B027 (backends without resources keep it)
        """Release the backend's resources."""


def new_session_id() -> str:
    return SESSION_ID_PREFIX + secrets.token_urlsafe(12)


def session_id(key: SessionKey) -> str:
    """The id a new session gets: the transport's, or a fresh one."""
    return key.session if key.session is not None else new_session_id()
