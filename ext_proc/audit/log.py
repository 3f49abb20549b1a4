"""The audit trail: one structured event per policy decision and per finding.

An event says who decided what about which request and why, with the timing and the policy
revision (the fields are documented in README.md, "Audit trail"). Before it is written, it goes
through a structlog processor chain: time, key-based redaction (logs.redact_sensitive), a scan
of its string values with Chaperone's own scanner (scrub.py), the hash chain (chain.py), JSON.
The line then goes to each sink (standard output, a rotating file) and to the decisions feed.

Events are sealed and written under one lock, so the chain order is the write order.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import orjson
import structlog

from ext_proc import __version__
from ext_proc.audit.chain import CHAIN_START, SCHEMA_VERSION, Chain, ChainHead
from ext_proc.audit.feed import DecisionFeed
from ext_proc.audit.findings import decision_findings, summary_findings
from ext_proc.audit.scrub import ValueScan
from ext_proc.audit.sinks import RotatingFileSink, Sink, StreamSink
from ext_proc.audit.summary import RequestSummary
from ext_proc.logs import redact_sensitive
from ext_proc.metrics import NULL_METRICS, Metrics
from ext_proc.policy.evaluator import Outcome

log = structlog.get_logger("chaperone.audit")

_TRAILING = ("chain", "seq", "prev", "hash")


class AuditLog:
    def __init__(
        self,
        sinks: Sequence[Sink] | None = None,
        *,
        feed: DecisionFeed | None = None,
        previous: ChainHead | None = None,
        metrics: Metrics = NULL_METRICS,
    ) -> None:
        self._sinks = list(sinks) if sinks is not None else [StreamSink()]
        self.feed = feed
        self._metrics = metrics
        self._chain = Chain(previous)
        # Reentrant: a decision and its findings are written as one run of the chain.
        self._lock = threading.RLock()
        self._sealed: dict[str, Any] = {}
        self._failed_sinks: set[int] = set()
        # bind(): a bound logger now, not the lazy proxy that would build one on every event.
        self._log = structlog.wrap_logger(
            _Writer(self._write),
            processors=[
                structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
                redact_sensitive,
                ValueScan(),
                self._seal,
                _render,
            ],
            wrapper_class=structlog.BoundLogger,
            context_class=dict,
            cache_logger_on_first_use=False,
        ).bind()
        self._emit(CHAIN_START, pid=os.getpid(), version=__version__, **self._chain.start_fields())

    @classmethod
    def to_file(
        cls,
        path: str,
        max_bytes: int,
        backups: int,
        *,
        stdout: bool = True,
        feed: DecisionFeed | None = None,
        metrics: Metrics = NULL_METRICS,
    ) -> AuditLog:
        """Standard output (unless ``stdout`` is false) and a rotating file whose chain it continues."""
        file = RotatingFileSink(path, max_bytes, backups)
        last = file.last_event()
        previous = ChainHead.of(last) if last is not None else None
        sinks: list[Sink] = [StreamSink(), file] if stdout else [file]
        return cls(sinks, feed=feed, previous=previous, metrics=metrics)

    def decision(
        self,
        *,
        decision_id: str,
        phase: str,
        request: RequestSummary,
        outcome: Outcome,
        status: int | None,
        agent: Any = None,
        upstream: str | None = None,
        tokens: Mapping[str, Any] | None = None,
        cost: float | None = None,
        approval: Mapping[str, Any] | None = None,
        phase_ms: float | None = None,
        **extra: Any,
    ) -> None:
        """One decision. ``extra`` carries what the caller knows of the action and what was found
        (``action``, ``findings``, ``redactions``, ``injection_score``, ``injection_signals``)."""
        fields: dict[str, Any] = {"decision_id": decision_id, "phase": phase}
        if agent is not None:
            fields["agent"] = agent
        if upstream is not None:
            fields["upstream"] = upstream
        fields["method"], fields["path"], fields["host"] = request.method, request.path, request.host
        action = extra.pop("action", None)
        if action is not None:
            fields["action"] = action
        _outcome_fields(fields, outcome, status)
        if extra:
            fields.update(extra)
        if tokens is not None:
            fields["tokens"] = tokens
        if cost is not None:
            fields["cost"] = cost
        if approval is not None:
            fields["approval"] = approval
        fields["eval_ms"] = round(outcome.eval_ms, 3)
        if phase_ms is not None:
            fields["phase_ms"] = round(phase_ms, 3)
        findings = decision_findings(phase, fields)
        with self._lock:
            self._emit("decision", **fields)
            if findings:
                context = {"decision_id": decision_id, **_present(agent=agent, upstream=upstream)}
                for finding in findings:
                    self._emit("finding", **context, **finding)

    def event(self, name: str, **fields: Any) -> None:
        """Any other audit event (``stream_summary`` at the end of an ext_proc stream...); fields
        that are None are left out."""
        fields = _present(**fields)
        with self._lock:
            self._emit(name, **fields)
            if name == "stream_summary":
                context = {key: fields[key] for key in ("decision_id", "agent", "upstream") if key in fields}
                for finding in summary_findings(fields):
                    self._emit("finding", **context, **finding)

    def close(self) -> None:
        for sink in self._sinks:
            sink.close()

    @property
    def head(self) -> ChainHead | None:
        """The last event written: a verifier that keeps it can tell if the log was cut short."""
        return self._chain.head

    # -- the pipeline -------------------------------------------------------------------------

    def _emit(self, name: str, **fields: Any) -> None:
        with self._lock:
            self._log.info(name, **fields)

    def _seal(self, _logger: Any, _method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
        ordered: dict[str, Any] = {
            "audit": SCHEMA_VERSION,
            "event": event.pop("event"),
            "time": event.pop("time"),
        }
        for key in _TRAILING:
            event.pop(key, None)  # never the caller's: the chain sets them
        ordered.update(event)
        self._sealed = self._chain.seal(ordered)
        return self._sealed

    def _write(self, line: bytes) -> None:
        for index, sink in enumerate(self._sinks):
            try:
                sink.write(line)
            except OSError as exc:
                self._metrics.audit_write_error()
                if index not in self._failed_sinks:  # say it once, not once per event
                    self._failed_sinks.add(index)
                    log.error("audit_write_failed", sink=type(sink).__name__, error=exc.strerror)
            else:
                self._failed_sinks.discard(index)
        if self.feed is not None:
            self.feed.publish(self._sealed)


class _Writer:
    """structlog's "logger": receives the rendered line."""

    def __init__(self, write: Any) -> None:
        self._write = write

    def info(self, line: bytes) -> None:
        self._write(line)


def _render(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> bytes:
    return orjson.dumps(event, default=str) + b"\n"


def _present(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _outcome_fields(fields: dict[str, Any], outcome: Outcome, status: int | None) -> None:
    """What was decided and why: the enforced result, the policy's own verdict and reasons."""
    verdict = outcome.verdict
    fields["allowed"] = outcome.decision.allowed
    if status is not None:
        fields["status"] = status
    if verdict.reasons:
        fields["reasons"] = list(verdict.reasons)
    rules = _rules(verdict.raw)
    if rules is not None:
        fields["rules"] = rules
    if outcome.error is not None:
        fields["error_code"] = outcome.error.code.value
        fields["error"] = outcome.error.message
    if outcome.dry_run:
        fields["dry_run"] = True
        fields["policy_allowed"] = verdict.allowed
    if outcome.failed_open:
        fields["failed_open"] = True
    fields["policy_revision"] = outcome.revision


def _rules(raw: Any) -> list[str] | None:
    """The rules a decision names (``"rules": [...]`` in the policy's object), if any."""
    rules = raw.get("rules") if isinstance(raw, dict) else None
    if isinstance(rules, list) and rules and all(isinstance(rule, str) for rule in rules):
        return rules
    return None
