"""What the policy said of one response message or event, for the relays that apply it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ext_proc.scanning.actions import ActionTable


@dataclass(frozen=True, slots=True)
class Judgement:
    allowed: bool
    table: ActionTable
    strip: bool
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    # The policy's outcome, when a refusal replaces the whole response (its status, reasons).
    outcome: Any = field(default=None, compare=False, repr=False)


class Judge(Protocol):
    async def listed_tool_allowed(self, tool: dict[str, Any]) -> bool: ...

    async def judge(
        self,
        action: Any,
        findings: dict[str, Any],
        injection: dict[str, Any],
        is_error: bool,
        *,
        phase: str = "response_body",
        in_place: bool = True,
    ) -> Judgement:
        """``in_place``: a refusal is answered inside the response (an error message, a dropped
        message, an ended stream) and written to the audit trail here; otherwise the caller
        refuses the whole response with ``Judgement.outcome``."""
        ...
