"""What a scan reports: a finding's type, category and place, never its value.

A ``Finding`` holds no part of the text it found, so its repr, an audit event or a log line built
from it cannot leak the value. Offsets are ``str`` character offsets into the scanned text (for a
stream: into the whole text of that stream so far, counted from its first delta).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Category = Literal["pii", "secret"]


@dataclass(frozen=True, slots=True)
class Finding:
    type: str
    category: Category
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Hit:
    """A validated match before overlaps are settled: ``rank`` is the detector's priority (lower
    wins a tie), ``match_end`` is where the pattern's match ended (it can end after the finding,
    e.g. the closing quote of an assigned password)."""

    rank: int
    start: int
    end: int
    match_start: int
    match_end: int
    # The type found, when it is not the detector's own: a segment detector reports the type of
    # the value found in the decoded segment; a finding in a normalized view keeps its type.
    kind: str | None = None


def settle_overlaps(hits: list[Hit]) -> list[Hit]:
    """Keep non-overlapping hits: the earliest start first, then the longest, then the detector
    listed first (so a specific key type beats a generic assignment of the same value)."""
    hits.sort(key=lambda hit: (hit.start, hit.start - hit.end, hit.rank))
    kept: list[Hit] = []
    reached = -1
    for hit in hits:
        if hit.start >= reached:
            kept.append(hit)
            reached = hit.end
    return kept
