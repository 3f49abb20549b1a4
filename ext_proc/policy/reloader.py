"""Hot reload: poll the policy directory and swap in a new bundle once it compiles.

Polling (a stat of each file, once a second by default) rather than inotify, because a
Kubernetes ConfigMap update is an atomic rename of the ``..data`` symlink (see ext_proc/watch.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import structlog

from ext_proc.policy.bundle import Fingerprint, PolicyBundle, PolicyLoadError, fingerprint, load_bundle
from ext_proc.watch import Poller

log = structlog.get_logger("chaperone.policy")


class SwappableEngine(Protocol):
    @property
    def revision(self) -> str: ...

    def swap(self, bundle: PolicyBundle) -> None: ...


@dataclass(slots=True)
class ReloadStatus:
    revision: str
    reloads: int = 0
    failures: int = 0
    last_error: str | None = None
    last_change: float = 0.0


class PolicyReloader:
    def __init__(self, engine: SwappableEngine, directory: str | Path, interval_seconds: float) -> None:
        self._engine = engine
        self._directory = Path(directory)
        self._seen: Fingerprint | None = self._safe_fingerprint()
        self._poller = Poller("policy-reloader", interval_seconds, self.poll_once)
        self.status = ReloadStatus(revision=engine.revision)
        # Called (on the watcher thread) after a new bundle became active.
        self.on_reload: Callable[[], object] | None = None

    def start(self) -> None:
        self._poller.start()

    def stop(self) -> None:
        self._poller.stop()

    def poll_once(self) -> bool:
        """Reload if the directory changed; True when a new bundle became active.

        A directory that cannot be read (deleted, unmounted) or a set that does not compile
        keeps the last good set answering, and is an error until fixed: ``status.last_error``
        (the admin API, readiness, metrics) says so, and it is logged once, not every poll."""
        try:
            current = fingerprint(self._directory)
        except PolicyLoadError as exc:
            self._seen = None  # whatever comes back is loaded again
            self._failed("policy_directory_unreadable", str(exc))
            return False
        if current == self._seen:
            return False
        self._seen = current
        try:
            bundle = load_bundle(self._directory)
            if bundle.revision != self._engine.revision:
                self._engine.swap(bundle)
        except PolicyLoadError as exc:
            self._failed("policy_reload_failed", str(exc))
            return False
        if self.status.last_error is not None:
            log.info("policy_error_cleared", revision=bundle.revision)
            self.status.last_error = None
        if bundle.revision == self.status.revision:
            return False  # the active set, back as it was
        self.status.reloads += 1
        self.status.revision = bundle.revision
        self.status.last_change = time.time()
        log.info("policy_reloaded", revision=bundle.revision, modules=bundle.module_paths)
        if self.on_reload is not None:
            self.on_reload()
        return True

    def _failed(self, event: str, error: str) -> None:
        if error == self.status.last_error:
            return
        self.status.failures += 1
        self.status.last_error = error
        log.error(event, error=error, active_revision=self._engine.revision)

    def _safe_fingerprint(self) -> Fingerprint | None:
        try:
            return fingerprint(self._directory)
        except PolicyLoadError:
            return None
