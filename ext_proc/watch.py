"""Files that change under a running service: stat fingerprints, a polling thread, watched files.

Polling (a stat per file, once a second by default) rather than inotify, because Kubernetes
updates a mounted ConfigMap or Secret by atomically renaming its ``..data`` symlink: watchers on
the visible names miss it, while a stat through the names sees the new inode at once. The
policy directory, API key files, key sets and secret files all reload this way.

The reads happen on the poller's thread, never on the event loop. A watched file's new value
replaces the old one by a single reference assignment, which readers on the loop see whole.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger("chaperone.watch")

T = TypeVar("T")

# What a change is judged by: a new inode (a symlink swap or an atomic rename), a new size, or a
# new modification time (an edit in place).
Stamp = tuple[int, int, int]
Fingerprint = tuple[tuple[str, int, int, int], ...]


class FileLoadError(Exception):
    """A file cannot be read or parsed; the message names the file, never its content."""


def file_stamp(path: Path) -> Stamp | None:
    """The file's (inode, size, mtime), following symlinks; None when it cannot be stat'ed."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def fingerprint_files(paths: Iterable[Path], root: Path) -> Fingerprint:
    """Stamps of ``paths`` named relative to ``root``; a file removed meanwhile is left out."""
    entries = []
    for path in paths:
        stamp = file_stamp(path)
        if stamp is not None:
            entries.append((str(path.relative_to(root)), *stamp))
    return tuple(entries)


def read_file(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, or FileLoadError naming the file and the reason (never the content)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise FileLoadError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise FileLoadError(f"{path} is larger than {max_bytes} bytes")
    return data


class WatchedFile(Generic[T]):
    """One file parsed into a value, parsed again when its stamp changes.

    The first load raises FileLoadError (a broken file at start-up is a configuration error).
    After that, a failed reload keeps the last good ``value`` and sets ``error``; the consumer
    decides whether a stale value is still usable (an API key set) or not (a credential).
    ``source`` names the file in logs (a config key), which never show its content.
    """

    def __init__(
        self, source: str, path: str | Path, parse: Callable[[bytes, Path], T], *, max_bytes: int
    ) -> None:
        self.source = source
        self.path = Path(path)
        self._parse = parse
        self._max_bytes = max_bytes
        self._stamp = file_stamp(self.path)  # before the read: a change during it is seen next poll
        self.value: T = parse(read_file(self.path, max_bytes), self.path)
        self.error: str | None = None

    def refresh(self) -> bool:
        """Re-read when the file changed; True when a new value replaced the old one."""
        stamp = file_stamp(self.path)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            value = self._parse(read_file(self.path, self._max_bytes), self.path)
        except FileLoadError as exc:
            self.error = str(exc)
            log.error("file_reload_failed", source=self.source, error=self.error)
            return False
        self.value = value
        self.error = None
        log.info("file_reloaded", source=self.source, path=str(self.path))
        return True


class Poller:
    """Calls ``poll`` every ``interval`` seconds on a daemon thread until stopped.

    ``poll`` must be quick and must not need the event loop; an exception it raises is logged and
    the thread carries on, so one surprise never stops reloading for good.
    """

    def __init__(self, name: str, interval_seconds: float, poll: Callable[[], object]) -> None:
        self._name = name
        self._interval = interval_seconds
        self._poll = poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._poll()
            except Exception:  # the watcher must outlive any surprise; the last good state stays
                log.exception("reload_crashed", watcher=self._name)
