"""Sensitive data and prompt injection in the texts of a body (block mode).

Two steps, because the policy decides in between: ``scan`` finds what is there (the findings
and injection signals go into the policy input), then ``apply`` carries out the policy's
choices: redact or block per finding type, strip what carries an injection (hidden content, and
the sentences the detector flags) where one was found.
Nothing here holds or reports a found value: findings carry types and offsets only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ext_proc.inspection.request import INJECTION_SOURCES, ScanText
from ext_proc.scanning.actions import STOPPING_ACTIONS, ActionTable
from ext_proc.scanning.findings import Finding
from ext_proc.scanning.injection import InjectionResult, detect_injection
from ext_proc.scanning.injection_strip import strip_injection
from ext_proc.scanning.redaction import default_scanner, rewrite
from ext_proc.scanning.scanner import Scanner


@dataclass(frozen=True, slots=True)
class TextScan:
    text: ScanText
    findings: tuple[Finding, ...]
    injection: InjectionResult | None  # for the texts whose source can carry an injection


@dataclass(frozen=True, slots=True)
class Applied:
    replacements: tuple[tuple[ScanText, str], ...]  # texts that changed, with their new text
    blocked_by: str | None  # the finding type whose action refuses the body
    redacted: dict[str, int]  # redactions by type


def scan(
    texts: Sequence[ScanText],
    *,
    scanner: Scanner | None = None,
    injection: Callable[[str], InjectionResult] = detect_injection,
) -> tuple[TextScan, ...]:
    scanner = scanner or default_scanner()
    return tuple(
        TextScan(
            text,
            tuple(scanner.scan(text.text)),
            injection(text.text) if text.source in INJECTION_SOURCES else None,
        )
        for text in texts
    )


def findings_input(scans: Sequence[TextScan]) -> dict[str, Any]:
    """``input.findings``: counts by type, overall and by where the text came from."""
    by_type: Counter[str] = Counter()
    by_source: dict[str, Counter[str]] = {}
    for scanned in scans:
        for finding in scanned.findings:
            by_type[finding.type] += 1
            by_source.setdefault(scanned.text.source, Counter())[finding.type] += 1
    categories = Counter(f.category for scanned in scans for f in scanned.findings)
    return {
        "count": sum(by_type.values()),
        "types": dict(by_type),
        "categories": dict(categories),
        "by_source": {source: dict(counts) for source, counts in by_source.items()},
    }


def injection_input(scans: Sequence[TextScan]) -> dict[str, Any]:
    """``input.injection``: the highest score, per kind (direct, indirect), with the signals."""
    document: dict[str, Any] = {"score": 0.0, "signals": [], "direct": None, "indirect": None}
    for scanned in scans:
        result = scanned.injection
        if result is None or not result.signals:
            continue
        kind = INJECTION_SOURCES[scanned.text.source]
        signals = [{"kind": s.kind, "detail": s.detail, "weight": s.weight} for s in result.signals]
        current = document[kind]
        if current is None or result.score > current["score"]:
            document[kind] = {"score": result.score, "signals": signals}
        document["score"] = max(document["score"], result.score)
        document["signals"] += [s for s in signals if s not in document["signals"]]
    return document


def apply(scans: Sequence[TextScan], table: ActionTable, *, strip: bool) -> Applied:
    replacements: list[tuple[ScanText, str]] = []
    redacted: Counter[str] = Counter()
    blocked_by: str | None = None
    for scanned in scans:
        new_text, _ = rewrite(scanned.text.text, 0, scanned.findings, table, stop=False)
        for finding in scanned.findings:
            action = table.action_for(finding.type, finding.category)
            if action in STOPPING_ACTIONS and blocked_by is None:
                blocked_by = finding.type
            elif action == "redact":
                redacted[finding.type] += 1
        if strip and scanned.injection is not None and scanned.injection.signals:
            new_text = strip_injection(new_text)
        if new_text != scanned.text.text:
            replacements.append((scanned.text, new_text))
    return Applied(tuple(replacements), blocked_by, dict(redacted))
