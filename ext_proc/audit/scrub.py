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
the results for short strings are memoized.
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
# Values Chaperone generates: never attacker-influenced, not scanned.
GENERATED_KEYS = frozenset(
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


class ValueScan:
    """A structlog processor: redacts what the scanner finds in string values, in place."""

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        # Keyed by a digest of the string, so the cache never holds a value it redacted.
        self._cache: dict[bytes, tuple[str, tuple[tuple[str, int], ...]]] = {}
        self._cache_size = cache_size

    def __call__(
        self, _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        found: Counter[str] = Counter()
        budget = [MAX_VALUES]
        for key, value in event.items():
            if key not in GENERATED_KEYS:
                event[key] = self._scan(value, found, budget, 0)
        if found:
            event[LOG_REDACTIONS_KEY] = dict(found)
        return event

    def _scan(self, value: Any, found: Counter[str], budget: list[int], depth: int) -> Any:
        if isinstance(value, str):
            return self._scan_string(value, found, budget)
        if isinstance(value, dict):
            if depth >= MAX_DEPTH:
                return OMITTED
            return {k: self._scan(v, found, budget, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple):
            if depth >= MAX_DEPTH:
                return OMITTED
            return [self._scan(v, found, budget, depth + 1) for v in value]
        return value

    def _scan_string(self, text: str, found: Counter[str], budget: list[int]) -> str:
        if not text:
            return text
        budget[0] -= 1
        if budget[0] < 0 or len(text) > MAX_SCANNED_CHARS:
            return OMITTED
        clean, counts = self._cached(text) if len(text) <= CACHED_CHARS else _redact(text)
        for finding_type, count in counts:
            found[finding_type] += count
        return clean

    def _cached(self, text: str) -> tuple[str, tuple[tuple[str, int], ...]]:
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        result = self._cache.get(key)
        if result is None:
            result = _redact(text)
            if len(self._cache) >= self._cache_size:
                del self._cache[next(iter(self._cache))]  # the oldest entry
            self._cache[key] = result
        return result


def _redact(text: str) -> tuple[str, tuple[tuple[str, int], ...]]:
    redaction = redact_text(text)
    if not redaction.findings:
        return text, ()
    return redaction.text, tuple(redaction.counts_by_type.items())
