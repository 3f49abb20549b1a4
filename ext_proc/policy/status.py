"""Which policy answers and how its hot reloads went: for the admin API, readiness and metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ext_proc.config import PolicyConfig
from ext_proc.policy.engine import PolicyEngine
from ext_proc.policy.reloader import PolicyReloader


@dataclass(frozen=True, slots=True)
class PolicyStatus:
    revision: str
    engine: str
    decision: str
    dry_run: bool
    directory: str | None
    reloads: int
    reload_errors: int
    last_error: str | None
    # When a reload last made a new set active (Unix time), None: the set loaded at start.
    last_change: float | None
    loaded: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "engine": self.engine,
            "decision": self.decision,
            "dry_run": self.dry_run,
            "directory": self.directory,
            "reloads": self.reloads,
            "reload_errors": self.reload_errors,
            "last_error": self.last_error,
            "last_change": self.last_change,
            "loaded": self.loaded,
        }


class PolicyStatusSource:
    """A snapshot of the policy's state on each call."""

    def __init__(self, config: PolicyConfig, engine: PolicyEngine, reloader: PolicyReloader | None) -> None:
        self._config = config
        self._engine = engine
        self._reloader = reloader

    def __call__(self) -> PolicyStatus:
        config = self._config
        reload = self._reloader.status if self._reloader is not None else None
        revision = self._engine.revision
        return PolicyStatus(
            revision=revision,
            engine=config.engine,
            decision=config.decision,
            dry_run=config.dry_run,
            directory=config.directory if config.engine == "regorus" else None,
            reloads=reload.reloads if reload else 0,
            reload_errors=reload.failures if reload else 0,
            last_error=reload.last_error if reload else None,
            last_change=(reload.last_change or None) if reload else None,
            # The embedded engine holds a compiled set once it has a revision; a remote OPA
            # holds its own policies (an unreachable one fails closed, request by request).
            loaded=bool(revision),
        )
