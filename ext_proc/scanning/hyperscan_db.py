"""The one place that touches hyperscan (Vectorscan): a compiled block-mode pattern database.

The Python binding has traps, all handled here and nowhere else:

- The match callback is called from C with a borrowed reference. A temporary lambda handed to
  ``Database.stream()`` is freed while the stream still points at it and crashes the process.
  We never open hyperscan streams (streaming redaction needs to know how much text *could still
  become* a match, which hyperscan cannot say; see ``stream.py``), and the block-mode callback is
  a bound method of a per-thread object that lives as long as the database.
- ``Stream.size()`` crashes; streams are not used at all.
- A scratch space may be used by one scan at a time, and scans release the GIL, so two threads
  sharing the database's default scratch would collide. Every thread gets its own scratch,
  allocated on first use (``threading.local``). The service scans on its event-loop thread;
  tests and benchmarks may use others. A ``Scratch`` does not keep its database alive, so the
  database is referenced from the same object.
- Hyperscan reports every end offset at which a pattern matches, and the start only with
  ``HS_FLAG_SOM_LEFTMOST`` (the leftmost start for that end). Callers merge the overlapping spans.
- Hyperscan has no look-around and no back-references; callers rewrite their patterns.

Offsets. Hyperscan works on bytes, Python on characters. Instead of UTF-8 (where one character
is 1-4 bytes and every offset would need translating), the text is encoded with exactly one byte
per character: Latin-1 for U+0000-U+00FF and the byte 0x80 for anything above. The patterns
scanned here are ASCII, so a non-ASCII character can only ever match a negated class or ``.``,
which it still does as 0x80. Byte offsets are therefore character offsets of the ``str``.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import hyperscan
import numpy as np

from ext_proc.scanning.db_cache import DatabaseCache, database_key, default_cache

_ONE_BYTE_ERRORS = "chaperone.one_byte_per_char"


def _one_byte_per_char(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return "\x80" * (error.end - error.start), error.end


codecs.register_error(_ONE_BYTE_ERRORS, _one_byte_per_char)


def scan_bytes(text: str) -> bytes:
    """``text`` as one byte per character, so that byte offsets are character offsets: Latin-1,
    and 0x80 for any character beyond it."""
    if text.isascii():
        return text.encode("ascii")
    if len(text) < _VECTOR_FROM:
        return text.encode("latin-1", _ONE_BYTE_ERRORS)
    # The codec's error handler runs once per run of characters beyond Latin-1 (once per word
    # of a Cyrillic or Greek text); numpy does the whole text at once.
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return np.where(codes > 0xFF, 0x80, codes).astype(np.uint8).tobytes()


_VECTOR_FROM = 256


@dataclass(frozen=True, slots=True)
class HsPattern:
    """One expression for the database. ``id`` is reported back with each match."""

    id: int
    expression: str  # ASCII, hyperscan syntax (PCRE subset without look-around)
    caseless: bool = False
    dotall: bool = False
    # Report the leftmost start of each match (costlier; some long patterns cannot have it).
    start: bool = True
    # Report only the first match (the one ending first): each report is a Python callback.
    single: bool = False


Match = tuple[int, int, int]  # (pattern id, start or 0, end), character offsets


class _Collector:
    """Receives hyperscan's callbacks for one thread; lives as long as the database."""

    __slots__ = ("matches", "scratch")

    def __init__(self, scratch: hyperscan.Scratch) -> None:
        self.scratch = scratch
        self.matches: list[Match] = []

    def on_match(self, pattern_id: int, start: int, end: int, flags: int, context: object) -> bool:
        self.matches.append((pattern_id, start, end))
        return False  # keep scanning


class BlockDatabase:
    """Patterns compiled once into one block-mode database, shareable between threads; loaded
    from ``cache`` (``default_cache()`` unless given) when it holds the same database."""

    def __init__(self, patterns: Sequence[HsPattern], *, cache: DatabaseCache | None = None) -> None:
        if not patterns:
            raise ValueError("a pattern database needs at least one pattern")
        self._db = _cached_or_compiled(patterns, default_cache() if cache is None else cache)
        self._local = threading.local()

    def scan(self, data: bytes) -> list[Match]:
        """All (id, leftmost start, end) matches in ``data`` (from ``scan_bytes``), unordered; the
        start is 0 for patterns compiled without ``start``."""
        collector = self._collector()
        try:
            self._db.scan(data, match_event_handler=collector.on_match, scratch=collector.scratch)
            return collector.matches
        finally:
            collector.matches = []

    def _collector(self) -> _Collector:
        collector: _Collector | None = getattr(self._local, "collector", None)
        if collector is None:
            collector = _Collector(hyperscan.Scratch(self._db))
            self._local.collector = collector
        return collector


def _cached_or_compiled(patterns: Sequence[HsPattern], cache: DatabaseCache) -> hyperscan.Database:
    expressions = [p.expression.encode("ascii") for p in patterns]
    ids = [p.id for p in patterns]
    flags = [_flags(p) for p in patterns]
    key = database_key(hyperscan.HS_MODE_BLOCK, expressions, ids, flags)
    serialized = cache.load(key)
    if serialized is not None:
        try:
            return hyperscan.loadb(serialized, hyperscan.HS_MODE_BLOCK)
        except hyperscan.HyperscanError:
            pass  # another library version or CPU: compile, and replace the file
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(expressions=expressions, ids=ids, elements=len(patterns), flags=flags)
    cache.store(key, hyperscan.dumpb(database))
    return database


def _flags(pattern: HsPattern) -> int:
    flags = hyperscan.HS_FLAG_SOM_LEFTMOST if pattern.start else 0
    if pattern.caseless:
        flags |= hyperscan.HS_FLAG_CASELESS
    if pattern.dotall:
        flags |= hyperscan.HS_FLAG_DOTALL
    if pattern.single:
        flags |= hyperscan.HS_FLAG_SINGLEMATCH
    return flags
