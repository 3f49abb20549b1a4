"""Where audit lines go: standard output, and a size-rotated file.

Each line is written whole and flushed at once (one ``write`` of the complete line): an event
that was hashed into the chain is on its way to the disk before the next one is built.

Rotation keeps the chain: the file is renamed ``audit.log.1`` (older ones shift to ``.2``...,
the oldest beyond ``backups`` is deleted) and the chain continues in a new ``audit.log``, so
``chaperone audit verify --with-backups audit.log`` checks the files oldest first as one log.
At start, the last audit event of the file (or of its newest backup) is where the new process's
segment links to.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson

# How much of a file's end is read to find its last audit event.
TAIL_BYTES = 256 * 1024


class Sink(Protocol):
    def write(self, line: bytes) -> None: ...

    def close(self) -> None: ...


class StreamSink:
    """A binary stream (standard output's buffer by default)."""

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._stream = stream

    def write(self, line: bytes) -> None:
        stream = self._stream or sys.stdout.buffer
        stream.write(line)
        stream.flush()

    def close(self) -> None:
        pass


class RotatingFileSink:
    def __init__(self, path: str | Path, max_bytes: int, backups: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size

    def write(self, line: bytes) -> None:
        if self._size and self._size + len(line) > self.max_bytes:
            self._rotate()
        os.write(self._fd, line)
        self._size += len(line)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

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
        os.close(self._fd)
        if self.backups > 0:
            for index in range(self.backups - 1, 0, -1):
                older = backup_path(self.path, index)
                if older.exists():
                    older.replace(backup_path(self.path, index + 1))
            self.path.replace(backup_path(self.path, 1))
        else:
            self.path.unlink(missing_ok=True)
        self._fd = self._open()
        self._size = 0


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
