"""Compiled hyperscan databases kept on disk, so that a service start does not compile them again.

Compiling the detectors' and the injection phrases' databases takes seconds of CPU (most of it the
start-of-match automata of the streaming "live" patterns); loading a serialized database takes
about a millisecond. A database is stored under a key that is the SHA-256 of everything that
decides its contents: the binding's version (it bundles the library), the machine, the mode and
every pattern with its id and flags. A changed pattern is a new key, never a stale database.

Where (``cache_directory``, from ``inspection.cache_dir``): the directory configured, or none for
``off``, or by default ``$XDG_CACHE_HOME/chaperone``, else ``~/.cache/chaperone``. The image builds
its cache at build time into a directory that a read-only root filesystem can still read; wherever
the directory cannot be created or written, the service compiles as before and says so once at
debug level.

A serialized database is code-like data handed to C: it is only read from a directory and a file
owned by this user that nobody else can write, and each file carries the SHA-256 of its contents
(a truncated or corrupted file is recompiled and replaced). Files are written to a temporary name
and renamed, so that workers starting together never read half a file. The library itself refuses
a database built for another version or for CPU features this machine lacks; that too falls back
to compiling.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import stat
import tempfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

NO_CACHE = "off"
_SUFFIX = ".hsdb"
_DIGEST = 32  # bytes of SHA-256 before the payload


def cache_directory(setting: str = "", environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where compiled databases are kept (``inspection.cache_dir``), or None for no cache."""
    if setting == NO_CACHE:
        return None
    if setting:
        return Path(setting)
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chaperone"


class _Settings:
    cache: DatabaseCache | None = None  # resolved at the first database, or by configure()


_SETTINGS = _Settings()


def configure(setting: str) -> None:
    """Keep compiled databases where ``inspection.cache_dir`` says (before the first one is built)."""
    _SETTINGS.cache = DatabaseCache(cache_directory(setting))


def default_cache() -> DatabaseCache:
    """The process's database cache: the configured one, else the user's cache directory."""
    if _SETTINGS.cache is None:
        _SETTINGS.cache = DatabaseCache(cache_directory())
    return _SETTINGS.cache


def database_key(*parts: object) -> str:
    """The key of a database built from ``parts`` (patterns, flags, mode) by this binding here."""
    digest = hashlib.sha256()
    for part in (_binding_version(), platform.machine(), *parts):
        digest.update(repr(part).encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


@cache
def _binding_version() -> str:
    return importlib.metadata.version("hyperscan")


class DatabaseCache:
    """Serialized databases by key in one directory; every failure is a miss, never an error."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._warned = False

    def load(self, key: str) -> bytes | None:
        """The stored serialized database for ``key``, if present, intact and trusted."""
        if self.directory is None:
            return None
        path = self.directory / (key + _SUFFIX)
        try:
            with open(path, "rb") as file:
                if not (_trusted(os.fstat(file.fileno())) and _trusted(os.stat(self.directory))):
                    self._note("untrusted", path)
                    return None
                content = file.read()
        except OSError:
            return None
        payload = content[_DIGEST:]
        if len(content) <= _DIGEST or hashlib.sha256(payload).digest() != content[:_DIGEST]:
            self._note("corrupt", path)
            return None
        return payload

    def store(self, key: str, payload: bytes) -> None:
        """Keep ``payload`` under ``key`` (atomically); a directory that cannot be written is skipped."""
        if self.directory is None:
            return
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not _trusted(os.stat(self.directory)):
                self._note("untrusted", self.directory)
                return
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=_SUFFIX)
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(hashlib.sha256(payload).digest() + payload)
                os.replace(temporary, self.directory / (key + _SUFFIX))
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError as error:
            self._note("not_writable", self.directory, error=type(error).__name__)

    def _note(self, reason: str, path: Path, **fields: str) -> None:
        if not self._warned:  # once per process: a read-only filesystem is a normal deployment
            self._warned = True
            log.debug("hyperscan_cache_unused", reason=reason, path=str(path), **fields)


def _trusted(status: os.stat_result) -> bool:
    """Owned by this user (or root) and writable by nobody else."""
    return status.st_uid in (os.geteuid(), 0) and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
