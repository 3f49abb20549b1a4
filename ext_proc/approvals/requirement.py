"""The ``require_approval`` decision field: the policy asks a person to approve this action.

::

    "require_approval": {"reason": "refund above 500", "group": "finance", "ttl_seconds": 120}

``reason`` (required, non-empty) is shown to the operator and to the agent when it is refused;
``group`` (optional) says who should decide, for the console and the webhook's routing;
``ttl_seconds`` (optional, positive) is how long the request stays pending, capped in hold mode
by ``approvals.hold_seconds``. Every shape error names the field (code ``decision_invalid``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.json_names import json_type

FIELD = "require_approval"
_KEYS = frozenset({"reason", "group", "ttl_seconds"})
# Longer texts are a policy bug (or input copied into the reason), not something to show.
MAX_TEXT_LENGTH = 500


@dataclass(frozen=True, slots=True)
class ApprovalRequirement:
    reason: str
    group: str | None = None
    ttl_seconds: float | None = None


def parse_require_approval(value: Any) -> ApprovalRequirement | None:
    """The field's value (None when the decision has none) as a requirement, or decision_invalid."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid(FIELD, "object", value)
    unknown = set(value) - _KEYS
    if unknown:
        raise ChaperoneError(
            ErrorCode.DECISION_INVALID, f"decision field {FIELD}: unknown key {sorted(unknown)[0]!r}"
        )
    return ApprovalRequirement(
        reason=_text(value, "reason", required=True) or "",
        group=_text(value, "group", required=False),
        ttl_seconds=_ttl(value.get("ttl_seconds")),
    )


def _text(value: dict[str, Any], key: str, *, required: bool) -> str | None:
    text = value.get(key)
    if text is None and not required:
        return None
    if not isinstance(text, str) or not text.strip():
        raise _invalid(f"{FIELD}.{key}", "non-empty string", text)
    if len(text) > MAX_TEXT_LENGTH:
        raise ChaperoneError(
            ErrorCode.DECISION_INVALID,
            f"decision field {FIELD}.{key}: longer than {MAX_TEXT_LENGTH} characters",
        )
    return text


def _ttl(value: Any) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise _invalid(f"{FIELD}.ttl_seconds", "positive number", value)
    return float(value)


def _invalid(name: str, expected: str, actual: Any) -> ChaperoneError:
    return ChaperoneError(
        ErrorCode.DECISION_INVALID, f"decision field {name}: expected {expected}, got {_json_type(actual)}"
    )


def _json_type(value: Any) -> str:
    # A blank string is named apart: "expected a non-empty string, got string" would puzzle.
    if isinstance(value, str) and not value.strip():
        return "empty string"
    return json_type(value)
