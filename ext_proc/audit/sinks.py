"""Where audit lines go: standard output, and a size-rotated file.

Each line is written whole and flushed at once (one ``write`` of the complete line): an event
that was hashed into the chain is on its way to the disk before the next one is built. A write
that fails raises ``OSError`` (delivery.py holds the line for a retry); a short write (a full
disk) is cut back off the file, so no torn line is left, and raised as ``ENOSPC``.

A file that someone removed or replaced (logrotate's rename, ``rm``) would swallow every later
line into an inode nobody can read: ``reopen_if_moved`` (run every second) notices and opens the
path again.

Rotation keeps the chain: the file is renamed ``audit.log.1`` (older ones shift to ``.2``...,
the oldest beyond ``backups`` is deleted) and the chain continues in a new ``audit.log``, so
``chaperone audit verify --with-backups audit.log`` checks the files oldest first as one log.
At start, the last audit event of the file (or of its newest backup) is where the new process's
segment links to.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson

# How much of a file's end is read to find its last audit event.
TAIL_BYTES = 256 * 1024


class Sink(Protocol):
    name: str

    def write(self, line: bytes) -> None: ...

    def close(self) -> None: ...


class StreamSink:
    """A binary stream (standard output's buffer by default)."""

    name = "stdout"

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._stream = stream

    def write(self, line: bytes) -> None:
        stream = self._stream or sys.stdout.buffer
        stream.write(line)
        stream.flush()

    def close(self) -> None:
        pass


class RotatingFileSink:
    name = "file"

    def __init__(self, path: str | Path, max_bytes: int, backups: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size
        # A partial line that could not be cut off: the next line starts on a line of its own.
        self._torn = False

    def write(self, line: bytes) -> None:
        if self._fd < 0:
            self._reopen()
        if self._size and self._size + len(line) > self.max_bytes:
            self._rotate()
        if self._torn:
            line = b"\n" + line
        written = os.write(self._fd, line)
        if written < len(line):
            self._cut_short_write(written)
        self._size += written
        self._torn = False

    def _cut_short_write(self, written: int) -> None:
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            self._size += written
            self._torn = True
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def reopen_if_moved(self) -> str | None:
        """``removed`` or ``replaced`` when the path no longer names the open file (it is opened
        again, empty or as found), else None."""
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            reason = "removed"
        else:
            if self._fd >= 0 and os.path.samestat(named, os.fstat(self._fd)):
                return None
            reason = "replaced"
        self._reopen()
        return reason

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _reopen(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = self._open()
        self.close()
        self._fd = fd
        self._size = os.fstat(fd).st_size
        self._torn = False

    def last_event(self) -> dict[str, Any] | None:
        """The newest audit event in the file, else in its newest backup (after a rotation)."""
        for path in (self.path, backup_path(self.path, 1)):
            event = last_audit_event(path)
            if event is not None:
                return event
        return None

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def _rotate(self) -> None:
        # The old file stays open until the new one is: a failure here leaves a working sink.
        if self.backups > 0:
            for index in range(self.backups - 1, 0, -1):
                older = backup_path(self.path, index)
                if older.exists():
                    older.replace(backup_path(self.path, index + 1))
            self.path.replace(backup_path(self.path, 1))
        else:
            self.path.unlink(missing_ok=True)
        self._reopen()


def backup_path(path: Path, index: int) -> Path:
    return path.with_name(f"{path.name}.{index}")


def rotated_set(path: Path) -> list[Path]:
    """The file and its backups that exist, oldest first (the order to verify them in)."""
    backups: list[Path] = []
    index = 1
    while backup_path(path, index).exists():
        backups.append(backup_path(path, index))
        index += 1
    return [*reversed(backups), *([path] if path.exists() else [])]


def last_audit_event(path: Path) -> dict[str, Any] | None:
    try:
        with path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - TAIL_BYTES))
            tail = file.read()
    except FileNotFoundError:
        return None
    for line in reversed(tail.splitlines()):
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict) and "audit" in event:
            return event
    return None
