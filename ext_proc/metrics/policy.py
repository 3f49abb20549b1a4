"""Policy reload counters and the active revision, read from the reloader's status at scrape time.

The reloader keeps its own counts (policy/reloader.py, ``ReloadStatus``); reading them when
Prometheus scrapes keeps the reloader free of metrics code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ext_proc.policy.status import PolicyStatus


class PolicyCollector(Collector):
    def __init__(self, status: Callable[[], PolicyStatus]) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        status = self._status()
        yield CounterMetricFamily(
            "chaperone_policy_reloads", "Hot reloads that made a new policy set active.", value=status.reloads
        )
        yield CounterMetricFamily(
            "chaperone_policy_reload_errors",
            "Hot reloads refused because the new set did not load (the last good set stays).",
            value=status.reload_errors,
        )
        info = GaugeMetricFamily(
            "chaperone_policy_info",
            "The active policy set (value 1).",
            labels=("revision", "engine", "dry_run"),
        )
        info.add_metric((status.revision, status.engine, str(status.dry_run).lower()), 1)
        yield info
        yield GaugeMetricFamily(
            "chaperone_policy_loaded", "1 when a policy is loaded and answering.", value=int(status.loaded)
        )
        if status.last_change is not None:
            yield GaugeMetricFamily(
                "chaperone_policy_last_reload_timestamp_seconds",
                "When a reload last made a new set active.",
                value=status.last_change,
            )
