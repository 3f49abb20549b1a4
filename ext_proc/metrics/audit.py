"""The audit trail's state, read at scrape time: whether it is written, what waits, what was lost."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ext_proc.audit.log import AuditStatus


class AuditCollector(Collector):
    def __init__(self, status: Callable[[], AuditStatus]) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        status = self._status()
        yield GaugeMetricFamily(
            "chaperone_audit_healthy",
            "1 while every audit sink takes lines; 0 while one fails (lines wait or are lost).",
            value=int(status.healthy),
        )
        yield GaugeMetricFamily(
            "chaperone_audit_refusing",
            "1 while decisions are refused because the audit trail fails (audit.on_failure: deny).",
            value=int(status.refusing),
        )
        yield GaugeMetricFamily(
            "chaperone_audit_buffered_lines", "Audit lines waiting for a failing sink.", value=status.buffered
        )
        yield CounterMetricFamily(
            "chaperone_audit_lost_lines",
            "Audit lines a sink never received (each run recorded as an audit_gap event).",
            value=status.lost,
        )
