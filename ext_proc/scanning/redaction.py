"""Block-mode redaction: a whole text in, the rewritten text and what was found out.

``redact_text`` is the reference that streaming redaction (``stream.py``) reproduces exactly:
for any way of cutting a text into deltas, the stream emits this function's text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

from ext_proc.scanning import db_cache
from ext_proc.scanning.actions import REDACT_ALL, STOPPING_ACTIONS, ActionTable, placeholder
from ext_proc.scanning.findings import Finding
from ext_proc.scanning.scanner import Scanner

Verdict = Literal["block", "end_stream"]


@dataclass(frozen=True, slots=True)
class Redaction:
    text: str
    findings: tuple[Finding, ...]
    # "block" when any finding's action is block, else "end_stream" when any is, else None.
    verdict: Verdict | None
    counts_by_type: Mapping[str, int]
    # The first finding (by position) whose action is the verdict.
    stopped_by: Finding | None = None


@dataclass(slots=True)
class _Defaults:
    phone_region: str = "US"


_DEFAULTS = _Defaults()


def configure(*, phone_region: str, cache_dir: str = "") -> None:
    """Set what ``default_scanner()`` is built with (from ``inspection.phone_region`` at start) and
    where compiled pattern databases are kept (``inspection.cache_dir``, see ``db_cache.py``)."""
    _DEFAULTS.phone_region = phone_region
    db_cache.configure(cache_dir)


def default_scanner() -> Scanner:
    """The scanner with every detector, for the configured default region: compiled on first use
    (about 0.3 s), then shared."""
    return _scanner_for(_DEFAULTS.phone_region)


@cache
def _scanner_for(phone_region: str) -> Scanner:
    return Scanner(phone_region=phone_region)


def redact_text(text: str, table: ActionTable = REDACT_ALL, *, scanner: Scanner | None = None) -> Redaction:
    findings = (scanner or default_scanner()).scan(text)
    rewritten, _ = rewrite(text, 0, findings, table, stop=False)
    stopping = [f for f in findings if table.action_for(f.type, f.category) in STOPPING_ACTIONS]
    verdict: Verdict | None = None
    stopped_by = None
    if stopping:
        actions = [table.action_for(f.type, f.category) for f in stopping]
        verdict = "block" if "block" in actions else "end_stream"
        stopped_by = stopping[actions.index(verdict)]
    return Redaction(rewritten, tuple(findings), verdict, count_types(findings), stopped_by)


def rewrite(
    text: str, base: int, findings: Sequence[Finding], table: ActionTable, *, stop: bool
) -> tuple[str, Finding | None]:
    """``text`` (which starts at offset ``base``) with each redact-finding replaced by its
    placeholder. With ``stop``, the output ends where the first block/end_stream finding starts and
    that finding is returned; without, those findings are replaced too."""
    pieces: list[str] = []
    cursor = 0
    for finding in findings:
        action = table.action_for(finding.type, finding.category)
        if action == "allow":
            continue
        start, end = finding.start - base, finding.end - base
        pieces.append(text[cursor:start])
        if stop and action in STOPPING_ACTIONS:
            return "".join(pieces), finding
        pieces.append(placeholder(finding.type))
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces), None


def count_types(findings: Iterable[Finding]) -> dict[str, int]:
    return dict(Counter(f.type for f in findings))
