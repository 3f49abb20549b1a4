"""Scan results as plain data for the policy input and the audit event.

Suggested keys (documented with the policy input): ``input.findings`` from ``findings_input`` and
``input.injection`` from ``injection_input``. Both hold names, counts, offsets and weights only,
never scanned text, so they can be logged and exported as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ext_proc.scanning.actions import ActionTable
from ext_proc.scanning.findings import Finding
from ext_proc.scanning.injection import INJECTION_THRESHOLD, InjectionResult
from ext_proc.scanning.redaction import count_types

# A body can hold thousands of findings; the policy needs the summary, and a few to look at.
MAX_ITEMS = 100


def findings_input(findings: Sequence[Finding], table: ActionTable | None = None) -> dict[str, Any]:
    """``{"count", "by_type", "types", "categories", "items", "truncated"}``; each item is
    ``{"type", "category", "start", "end"}`` plus ``"action"`` when a table is given."""
    items = []
    for finding in findings[:MAX_ITEMS]:
        item: dict[str, Any] = {
            "type": finding.type,
            "category": finding.category,
            "start": finding.start,
            "end": finding.end,
        }
        if table is not None:
            item["action"] = table.action_for(finding.type, finding.category)
        items.append(item)
    by_type = count_types(findings)
    return {
        "count": len(findings),
        "by_type": by_type,
        "types": sorted(by_type),
        "categories": sorted({f.category for f in findings}),
        "items": items,
        "truncated": len(findings) > MAX_ITEMS,
    }


def injection_input(result: InjectionResult) -> dict[str, Any]:
    """``{"score", "flagged", "threshold", "kinds", "signals"}``; each signal is
    ``{"kind", "detail", "weight"}``."""
    return {
        "score": result.score,
        "flagged": result.flagged,
        "threshold": INJECTION_THRESHOLD,
        "kinds": sorted({s.kind for s in result.signals}),
        "signals": [{"kind": s.kind, "detail": s.detail, "weight": s.weight} for s in result.signals],
    }
