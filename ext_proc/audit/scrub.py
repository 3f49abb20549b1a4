"""The audit trail's value scan: Chaperone's own scanner over the string values of an event.

The key-based step (logs.redact_sensitive) drops fields whose name says credential or body; this
step catches values that say it without a telling key: a policy reason quoting an email address,
a tool name or a path carrying a key. Each string is run through ``redact_text`` with the default
table (every finding type redacted), so it is written as ``[REDACTED:<TYPE>]``, and the event
says what was removed (``log_redactions``: counts by type, never values).

Cost is bounded: only strings are scanned, only up to ``MAX_SCANNED_CHARS`` each (a longer one is
replaced whole: cutting it first could split a secret into a prefix the scanner no longer
recognizes), at most ``MAX_VALUES`` per event, and values Chaperone writes itself (ids,
hashes, times, phase names) are skipped. Audit values repeat (models, hosts, paths, reasons), so
short strings are remembered and not scanned again: clean ones as they are, those that had to be
redacted by a digest of the original (the cache never holds a redacted value itself) with their
redacted form; a host written as an IP address is the common case.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import MutableMapping
from typing import Any

from ext_proc.scanning import redact_text

MAX_SCANNED_CHARS = 4096
MAX_VALUES = 256
MAX_DEPTH = 8
# Strings up to this length are memoized (the cache holds at most CACHE_SIZE of them).
CACHED_CHARS = 256
CACHE_SIZE = 4096
LOG_REDACTIONS_KEY = "log_redactions"
OMITTED = "[OMITTED:TOO_LONG]"
# Values Chaperone writes itself: never attacker-influenced, not scanned.
OWN_KEYS = frozenset(
    {
        "audit",
        "event",
        "time",
        "decision_id",
        "phase",
        "direction",
        "policy_revision",
        "error_code",
        "chain",
        "prev_chain",
        "prev",
        "hash",
        "category",
    }
)


_SCALARS = frozenset({bool, int, float, type(None)})


class ValueScan:
    """A structlog processor: redacts what the scanner finds in string values, in place."""

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        # Short strings in which nothing was found, remembered so that they are not scanned again.
        # Only clean strings are kept: the cache never holds a value that had to be redacted.
        self._clean: dict[str, None] = {}
        # Short strings that had to be redacted: digest -> (redacted text, counts by type).
        self._dirty: dict[bytes, tuple[str, tuple[tuple[str, int], ...]]] = {}
        self._cache_size = cache_size

    def __call__(
        self, _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        clean = self._clean
        walk: _Walk | None = None
        for key, value in event.items():
            kind = type(value)
            if key in OWN_KEYS or kind in _SCALARS or (kind is str and (not value or value in clean)):
                continue  # the common case: nothing to scan, or a string already found clean
            if walk is None:
                walk = _Walk(self)
            event[key] = walk.value(value, 0)
        if walk is not None and walk.found:
            event[LOG_REDACTIONS_KEY] = dict(walk.found)
        return event

    def string(self, text: str, walk: _Walk) -> str:
        if not text or text in self._clean:
            return text
        walk.budget -= 1
        if walk.budget < 0 or len(text) > MAX_SCANNED_CHARS:
            return OMITTED
        digest = _digest(text) if len(text) <= CACHED_CHARS else None
        known = self._dirty.get(digest) if digest is not None else None
        if known is not None:
            clean, counts = known
        else:
            clean, counts = _redact(text)
            if digest is not None:
                self._remember(text, digest, clean, counts)
        for finding_type, count in counts:
            walk.found[finding_type] += count
        return clean

    def _remember(self, text: str, digest: bytes, clean: str, counts: tuple[tuple[str, int], ...]) -> None:
        if not counts:
            if len(self._clean) >= self._cache_size:
                del self._clean[next(iter(self._clean))]  # the oldest entry
            self._clean[text] = None
            return
        if len(self._dirty) >= self._cache_size:
            del self._dirty[next(iter(self._dirty))]
        self._dirty[digest] = (clean, counts)


class _Walk:
    """One event's scan: what was found, and how many more strings may be scanned."""

    def __init__(self, scan: ValueScan) -> None:
        self._scan = scan
        self.found: Counter[str] = Counter()
        self.budget = MAX_VALUES

    def value(self, value: Any, depth: int) -> Any:
        if type(value) is str:
            return self._scan.string(value, self)
        if isinstance(value, dict | list | tuple):
            return OMITTED if depth >= MAX_DEPTH else self._container(value, depth + 1)
        return value

    def _container(self, value: dict[Any, Any] | list[Any] | tuple[Any, ...], depth: int) -> Any:
        # Copied only when something inside changed: callers' objects (the action summary is
        # the policy input's) are never modified.
        if isinstance(value, dict):
            changed: dict[Any, Any] | None = None
            for key, item in value.items():
                new = self.value(item, depth)
                if new is not item:
                    changed = changed if changed is not None else dict(value)
                    changed[key] = new
            return value if changed is None else changed
        items = [self.value(item, depth) for item in value]
        return items if any(new is not old for new, old in zip(items, value, strict=True)) else value


def _redact(text: str) -> tuple[str, tuple[tuple[str, int], ...]]:
    redaction = redact_text(text)
    if not redaction.findings:
        return text, ()
    return redaction.text, tuple(redaction.counts_by_type.items())


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
