"""Counters per component, and what a component does when the shared state does not answer.

``state.fail_open`` decides for every component: false (the default) refuses (the error,
``state_unavailable``, reaches the integrator, which denies); true carries on without the shared
state (the result says so). Either way the event is counted (in the component's ``Stats``, and
as ``fail_mode("state", "open" | "closed")`` in the service's metrics), and logged once when an
outage starts and once when it ends (not once per request, which would flood the log during one).
"""

from __future__ import annotations

from collections import Counter

import structlog

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.metrics import NULL_METRICS, Metrics

log = structlog.get_logger("chaperone.limits")


class Stats:
    """Monotonic counters a metrics layer can read (``snapshot()``), named per component."""

    def __init__(self, component: str) -> None:
        self.component = component
        self._counts: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        self._counts[name] += amount

    def __getitem__(self, name: str) -> int:
        return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        return dict(self._counts)


class StateGuard:
    def __init__(self, stats: Stats, *, fail_open: bool, metrics: Metrics = NULL_METRICS) -> None:
        self.stats = stats
        self.fail_open = fail_open
        self.metrics = metrics
        self._failing = 0

    def unavailable(self, error: ChaperoneError, operation: str) -> None:
        """Count a state failure; re-raise it when failing closed, return when failing open."""
        self.record(error, operation)
        self.stats.add("failed_open" if self.fail_open else "failed_closed")
        self.metrics.fail_mode("state", "open" if self.fail_open else "closed")
        if not self.fail_open:
            raise error

    def record(self, error: ChaperoneError, operation: str) -> None:
        """Count and log a state failure whose outcome does not depend on the fail mode."""
        if error.code is not ErrorCode.STATE_UNAVAILABLE:
            raise error
        self.stats.add("state_unavailable")
        if not self._failing:
            log.warning(
                "state_unavailable",
                component=self.stats.component,
                operation=operation,
                fail_open=self.fail_open,
                error=error.message,
                error_type=error.detail,
            )
        self._failing += 1

    def available(self) -> None:
        """The state answered: close an outage that was open."""
        if self._failing:
            log.info("state_available", component=self.stats.component, failures=self._failing)
            self._failing = 0
