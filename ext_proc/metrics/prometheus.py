"""The facade over prometheus-client, with its own registry (served at the admin port's /metrics).

Label values are all bounded: phases, error codes, finding types, signal kinds, limit names.
Nothing a client sends becomes a label (no paths, models, tools or reasons).
Children are cached per label tuple: ``labels()`` takes a lock and builds a key each call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.multiprocess import MultiProcessCollector

from ext_proc.metrics.audit import AuditCollector
from ext_proc.metrics.facade import ApprovalOutcome, FailMode, Metrics
from ext_proc.metrics.policy import PolicyCollector
from ext_proc.policy.evaluator import REMOTE_FAILURES, Outcome
from ext_proc.policy.status import PolicyStatus

# 0.05 ms .. 1 s: an embedded evaluation takes ~0.1-0.5 ms, a remote one a few ms, a phase that
# scans a large body tens of ms.
LATENCY_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)


class PrometheusMetrics(Metrics):
    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        policy_status: Callable[[], PolicyStatus] | None = None,
        *,
        process: bool = True,
        multiprocess_dir: str | None = None,
    ) -> None:
        """``multiprocess_dir``: several worker processes write their values to files there
        (prometheus-client's multiprocess mode, set up by workers.py) and ``registry``, the
        one /metrics serves, adds up every worker's; this process's own are then kept apart."""
        # Counters and histograms without their `_created` series: a timestamp per label set that
        # doubles what a scrape carries and that dashboards do not use (prometheus-client's switch
        # is process-wide, and must be set before the metrics are made).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry or CollectorRegistry()
        r = self.registry
        if multiprocess_dir is not None:
            MultiProcessCollector(self.registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
            r = CollectorRegistry()
        self._decisions = Counter(
            "chaperone_decisions", "Policy decisions, by phase, result and code.",
            ("phase", "result", "code"), registry=r,
        )  # fmt: skip
        self._eval = Histogram(
            "chaperone_policy_evaluation_seconds", "Time to evaluate the policy, by phase.",
            ("phase",), buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self._phase = Histogram(
            "chaperone_phase_seconds", "Time spent on one message of a phase (check: one Check).",
            ("phase",), buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self._streams = Gauge(
            "chaperone_ext_proc_streams_open", "ext_proc streams open now.", registry=r,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self._redactions = Counter(
            "chaperone_redactions", "Values redacted, by direction and finding type.",
            ("direction", "type"), registry=r,
        )  # fmt: skip
        self._injections = Counter(
            "chaperone_injection_signals", "Prompt-injection signals found, by direction and kind.",
            ("direction", "kind"), registry=r,
        )  # fmt: skip
        self._limits = Counter(
            "chaperone_limits_hit", "Requests refused or cut by a limit.", ("limit",), registry=r
        )
        self._approvals_requested = Counter(
            "chaperone_approvals_requested", "Calls held for approval.", registry=r
        )
        self._approvals_decided = Counter(
            "chaperone_approvals_decided", "Held calls granted, denied or expired.", ("outcome",), registry=r
        )
        # Every worker counts the same shared store: the latest count is the count.
        self._approvals_pending = Gauge(
            "chaperone_approvals_pending",
            "Approvals waiting now.",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self._fail_mode = Counter(
            "chaperone_fail_mode_events",
            "Dependency failures let through (open) or refused (closed), by component.",
            ("component", "mode"), registry=r,
        )  # fmt: skip
        self._audit_errors = Counter(
            "chaperone_audit_write_errors", "Audit lines that a sink could not write.", registry=r
        )
        self._children: dict[tuple[Any, ...], Any] = {}
        if policy_status is not None:
            self.registry.register(PolicyCollector(policy_status))
        if process:  # this process's (worker 0's, with several workers)
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def decision(self, phase: str, allowed: bool, code: str, eval_ms: float) -> None:
        self._child(self._decisions, phase, "allowed" if allowed else "denied", code).inc()
        if eval_ms > 0:
            self._child(self._eval, phase).observe(eval_ms / 1000)

    def outcome(self, phase: str, outcome: Outcome) -> None:
        error = outcome.error
        code = _code(outcome)
        self.decision(phase, outcome.decision.allowed, code, outcome.eval_ms)
        if outcome.failed_open:
            self.fail_mode("policy", "open")
        elif error is not None and error.code in REMOTE_FAILURES:
            self.fail_mode("policy", "closed")

    def phase(self, phase: str, seconds: float) -> None:
        self._child(self._phase, phase).observe(seconds)

    def stream_opened(self) -> None:
        self._streams.inc()

    def stream_closed(self) -> None:
        self._streams.dec()

    def redactions(self, direction: str, counts: Mapping[str, int]) -> None:
        for finding_type, count in counts.items():
            self._child(self._redactions, direction, finding_type).inc(count)

    def injections(self, direction: str, kinds: Iterable[str]) -> None:
        for kind in kinds:
            self._child(self._injections, direction, kind).inc()

    def limit_hit(self, limit: str) -> None:
        self._child(self._limits, limit).inc()

    def approval_requested(self) -> None:
        self._approvals_requested.inc()

    def approval_decided(self, outcome: ApprovalOutcome) -> None:
        self._child(self._approvals_decided, outcome).inc()

    def approvals_pending(self, count: int) -> None:
        self._approvals_pending.set(count)

    def fail_mode(self, component: str, mode: FailMode) -> None:
        self._child(self._fail_mode, component, mode).inc()

    def audit_write_error(self) -> None:
        self._audit_errors.inc()

    def watch_audit(self, status: Callable[[], Any]) -> None:
        self.registry.register(AuditCollector(status))


def _code(outcome: Outcome) -> str:
    """The decision's code label: the error code, ``denied`` for a policy's deny, else ``none``.
    It is the policy's own verdict: a dry-run deny counts as allowed with code ``denied``."""
    if outcome.error is not None:
        return outcome.error.code.value
    return "none" if outcome.verdict.allowed else "denied"
