"""Prometheus metrics behind a small typed facade (``Metrics``), served at the admin port's /metrics.

Components receive a ``Metrics`` and call it in one line (``metrics.decision(...)``,
``metrics.limit_hit("tokens")``...); with ``metrics.enabled: false`` they get ``NULL_METRICS``,
which records nothing.
"""

from ext_proc.metrics.facade import NULL_METRICS, ApprovalOutcome, FailMode, Metrics

__all__ = ["NULL_METRICS", "ApprovalOutcome", "FailMode", "Metrics"]
