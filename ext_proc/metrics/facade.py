"""The metrics facade: one method per thing counted, so that a call site is one line.

``Metrics`` itself records nothing: it is what runs when ``metrics.enabled`` is false, and what
components get by default (tests, tools). ``PrometheusMetrics`` (prometheus.py) records.
Callers never branch on whether metrics are on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # the policy package's decision fields import components that take metrics
    from ext_proc.policy.evaluator import Outcome

ApprovalOutcome = Literal["granted", "denied", "expired"]
FailMode = Literal["open", "closed"]


class Metrics:
    # -- decisions (ext_authz servicer, ext_proc stream) -----------------------------------------

    def decision(self, phase: str, allowed: bool, code: str, eval_ms: float) -> None:
        """One decision: ``code`` is the error code, ``denied`` for a policy's deny, else ``none``."""

    def outcome(self, phase: str, outcome: Outcome) -> None:
        """One evaluated outcome: the decision, and a fail-open or fail-closed event if it was one."""

    def phase(self, phase: str, seconds: float) -> None:
        """The time Chaperone spent on one message of a phase (check, request_headers...)."""

    def stream_opened(self) -> None:
        """An ext_proc stream started."""

    def stream_closed(self) -> None:
        """An ext_proc stream ended."""

    # -- inspection ------------------------------------------------------------------------------

    def redactions(self, direction: str, counts: Mapping[str, int]) -> None:
        """Values redacted, by finding type; ``direction`` is ``request`` or ``response``."""

    def injections(self, direction: str, kinds: Iterable[str]) -> None:
        """Prompt-injection signals found, by kind."""

    # -- limits, approvals, state ------------------------------------------------------------------

    def limit_hit(self, limit: str) -> None:
        """A request was refused or cut by a limit (``limit`` names it: rate, tokens, budget...)."""

    def approval_requested(self) -> None:
        """A call was held for approval."""

    def approval_decided(self, outcome: ApprovalOutcome) -> None:
        """A held call was granted, denied, or expired undecided."""

    def approvals_pending(self, count: int) -> None:
        """How many approvals wait now (set by the approvals store, which knows the count)."""

    def fail_mode(self, component: str, mode: FailMode) -> None:
        """A dependency failed (``policy`` for a remote OPA, ``state`` for Redis...) and the
        request was let through (``open``) or refused (``closed``) because of it."""

    def audit_write_error(self) -> None:
        """An audit line could not be written to one of its sinks."""

    def watch_audit(self, status: Callable[[], Any]) -> None:
        """Report the audit trail's state (an ``AuditStatus``) at each scrape."""


NULL_METRICS = Metrics()
