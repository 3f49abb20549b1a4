"""One ``finding`` event per kind of thing found, derived from a decision's or a stream's fields.

Sensitive data found in a request, or in an MCP/A2A result, is known when the policy decides
(``findings``, ``injection_signals`` in the decision's fields); what a streamed or whole LLM
response held is known when the stream ends (its ``stream_summary``). Each is reported once:
LLM responses from the summary, everything else from the decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ext_proc.scanning import FINDING_TYPES

INJECTION = "injection"


def decision_findings(phase: str, fields: Mapping[str, Any]) -> list[dict[str, Any]]:
    direction = "response" if phase.startswith("response") else "request"
    events = _typed(phase, direction, fields.get("findings"), fields.get("redactions"))
    for kind in fields.get("injection_signals") or ():
        events.append(
            {
                "phase": phase,
                "direction": direction,
                "finding": kind,
                "category": INJECTION,
                "count": 1,
                "score": fields.get("injection_score"),
            }
        )
    return events


def summary_findings(fields: Mapping[str, Any]) -> list[dict[str, Any]]:
    if fields.get("protocol") != "llm":
        return []  # MCP and A2A results were reported with their decisions
    return _typed(
        "response_body", "response", fields.get("response_findings"), fields.get("response_redactions")
    )


def _typed(phase: str, direction: str, counts: Any, redacted: Any) -> list[dict[str, Any]]:
    if not isinstance(counts, Mapping):
        return []
    redacted = redacted if isinstance(redacted, Mapping) else {}
    events = []
    for finding_type, count in counts.items():
        event = {
            "phase": phase,
            "direction": direction,
            "finding": finding_type,
            "category": FINDING_TYPES.get(finding_type, "unknown"),
            "count": count,
        }
        if finding_type in redacted:
            event["redacted"] = redacted[finding_type]
        events.append(event)
    return events
