"""The audit trail: one structured event per policy decision and per finding.

An event says who decided what about which request and why, with the timing and the policy
revision (the fields are documented in README.md, "Audit trail"). Before it is written, it goes
through a structlog processor chain: time, key-based redaction (logs.redact_sensitive), a scan
of its string values with Chaperone's own scanner (scrub.py), the hash chain (chain.py), JSON.
The line then goes to each sink (standard output, a rotating file) and to the decisions feed.

Events are sealed and written under one lock, so the chain order is the write order.

Failures are loud, never silent (delivery.py, checkpoints.py): a line a sink refuses waits in a
bounded buffer and is written first when the sink recovers; lines beyond the buffer are lost and
recorded as an ``audit_gap`` event; while any sink fails, the log is not ``healthy`` (readiness,
``chaperone_audit_healthy``) and with ``audit.on_failure: deny`` every new decision is refused
(``audit_unavailable``). A file removed or replaced under the service is opened again.
Checkpoints (signed, anchored) mark the chain's head so that a log cut short is detectable.

One process writes one file: several processes appending to one audit file would interleave
their segments (and race on rotation); give each its own ``audit.file.path``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from ext_proc import __version__
from ext_proc.audit.chain import CHAIN_START, SCHEMA_VERSION, Chain, ChainHead
from ext_proc.audit.checkpoints import CHECKPOINT, Cadence, signature_fields, write_anchor
from ext_proc.audit.clock import UtcStamper
from ext_proc.audit.delivery import Delivery, Gap
from ext_proc.audit.feed import DecisionFeed
from ext_proc.audit.findings import decision_findings, summary_findings
from ext_proc.audit.scrub import ValueScan
from ext_proc.audit.sinks import RotatingFileSink, Sink, StreamSink
from ext_proc.audit.summary import RequestSummary
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.logs import redact_sensitive
from ext_proc.metrics import NULL_METRICS, Metrics
from ext_proc.policy.evaluator import Outcome

log = structlog.get_logger("chaperone.audit")

_TRAILING = ("chain", "seq", "prev", "hash")
Processor = Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]
AUDIT_GAP = "audit_gap"
DEFAULT_BUFFER_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CheckpointSettings:
    every_events: int = 1000
    every_seconds: float = 60.0
    key: Any = None  # an Ed25519 private key: checkpoints are signed
    anchor_file: str | None = None


@dataclass(frozen=True, slots=True)
class AuditStatus:
    healthy: bool
    failing_sinks: tuple[str, ...]
    buffered: int  # lines waiting for a failing sink
    lost: int  # lines never written to some sink (recorded as audit_gap events)
    refusing: bool  # on_failure deny and not healthy: decisions are refused


class AuditLog:
    def __init__(
        self,
        sinks: Sequence[Sink] | None = None,
        *,
        feed: DecisionFeed | None = None,
        previous: ChainHead | None = None,
        metrics: Metrics = NULL_METRICS,
        on_failure: str = "deny",
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        checkpoints: CheckpointSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sinks = list(sinks) if sinks is not None else [StreamSink()]
        self._deliveries = [Delivery(sink, buffer_bytes) for sink in self._sinks]
        self.feed = feed
        self._metrics = metrics
        self._chain = Chain(previous)
        self.deny_on_failure = on_failure == "deny"
        self._checkpoints = checkpoints or CheckpointSettings()
        self._cadence = Cadence(self._checkpoints.every_events, self._checkpoints.every_seconds)
        self._clock = clock
        # Reentrant: a decision and its findings are written as one run of the chain.
        self._lock = threading.RLock()
        self._sealed: dict[str, Any] = {}
        self._recovering = False
        self._lost = 0
        self._closed = False
        # The processor chain, structlog's contract (logger, method name, event dict), run here
        # directly: a structlog logger around it (context copy, proxying) cost as much again as
        # some of the processors, for nothing an audit event uses.
        self._processors: tuple[Processor, ...] = (
            UtcStamper("time"),
            redact_sensitive,
            ValueScan(),
            self._seal,
        )
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
        **options: Any,
    ) -> AuditLog:
        """Standard output (unless ``stdout`` is false) and a rotating file whose chain it continues."""
        file = RotatingFileSink(path, max_bytes, backups)
        last = file.last_event()
        previous = ChainHead.of(last) if last is not None else None
        sinks: list[Sink] = [StreamSink(), file] if stdout else [file]
        return cls(sinks, feed=feed, previous=previous, metrics=metrics, **options)

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
        """A final checkpoint (what was held is written first, if it can be), then the sinks close."""
        with self._lock:
            if self._closed:
                return
            self._recover()
            self._checkpoint(final=True)
            self._closed = True
            for delivery in self._deliveries:
                if delivery.failing:  # nothing more can be done for them: said loudly
                    log.error("audit_lines_lost_at_shutdown", sink=delivery.name, held=delivery.buffered)
                delivery.sink.close()

    def maintain(self) -> None:
        """Every second or so: reopen a file moved away, retry what a failing sink holds, and
        write a checkpoint that is due by time."""
        with self._lock:
            if self._closed:
                return
            for sink in self._sinks:
                if isinstance(sink, RotatingFileSink):
                    self._reopen(sink)
            self._recover()
            if self._cadence.due(self._clock()):
                self._checkpoint()

    @property
    def healthy(self) -> bool:
        return not any(delivery.failing for delivery in self._deliveries)

    def unavailable(self) -> ChaperoneError | None:
        """With ``on_failure: deny``, the error that refuses a decision while the trail fails."""
        if not self.deny_on_failure or self.healthy:
            return None
        return ChaperoneError(
            ErrorCode.AUDIT_UNAVAILABLE, "the audit trail cannot be written", http_status=503
        )

    def status(self) -> AuditStatus:
        failing = tuple(d.name for d in self._deliveries if d.failing)
        return AuditStatus(
            healthy=not failing,
            failing_sinks=failing,
            buffered=sum(d.buffered for d in self._deliveries),
            lost=self._lost,
            refusing=bool(failing) and self.deny_on_failure,
        )

    @property
    def head(self) -> ChainHead | None:
        """The last event written: a verifier that keeps it can tell if the log was cut short."""
        return self._chain.head

    # -- the pipeline -------------------------------------------------------------------------

    def _emit(self, name: str, **fields: Any) -> None:
        with self._lock:
            self._recover()
            self._log(name, fields)
            self._cadence.written(self._clock())
            if name != CHECKPOINT and self._cadence.full():
                self._checkpoint()

    def _recover(self) -> None:
        """Write what failing sinks hold; record each run of lost lines as an audit_gap event."""
        if self._recovering or self.healthy:
            return
        self._recovering = True
        try:
            for delivery in self._deliveries:
                if delivery.failing and delivery.flush():
                    head = self._chain.head
                    gap = delivery.take_gap(head.seq) if head is not None else None
                    self._recovered(delivery, gap)
        finally:
            self._recovering = False

    def _recovered(self, delivery: Delivery, gap: Gap | None) -> None:
        log.warning("audit_sink_recovered", sink=delivery.name, lost=gap.lost if gap else 0)
        if gap is None:
            return
        self._lost += gap.lost
        self._log(
            AUDIT_GAP,
            {
                "sink": gap.sink,
                "first_seq": gap.first_seq,
                "last_seq": gap.last_seq,
                "lost": gap.lost,
                "reason": gap.reason,
            },
        )
        self._checkpoint()  # the gap record itself is signed and anchored at once

    def _reopen(self, sink: RotatingFileSink) -> None:
        try:
            reason = sink.reopen_if_moved()
        except OSError as exc:
            log.error("audit_file_reopen_failed", path=str(sink.path), error=exc.strerror)
            return
        if reason is not None:
            log.warning("audit_file_reopened", path=str(sink.path), reason=reason)
            self._log("audit_file_reopened", {"path": str(sink.path), "reason": reason})

    def _checkpoint(self, *, final: bool = False) -> None:
        head = self._chain.head
        self._cadence.reset()
        if head is None:
            return
        fields: dict[str, Any] = {"final": True} if final else {}
        key = self._checkpoints.key
        if key is not None:
            fields.update(signature_fields(key, head.chain, head.seq, head.hash))
        self._log(CHECKPOINT, fields)
        anchor = self._checkpoints.anchor_file
        if anchor is not None:
            try:
                write_anchor(anchor, _render(None, "", dict(self._sealed)))
            except OSError as exc:
                log.error("audit_anchor_failed", path=anchor, error=exc.strerror)

    def _log(self, name: str, fields: dict[str, Any]) -> None:
        """Run one event through the processors, render it and write it (the lock is held)."""
        event: MutableMapping[str, Any] = {**fields, "event": name}
        for processor in self._processors:
            event = processor(None, "info", event)
        self._write(_render(None, "info", event))

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
        seq = int(self._sealed["seq"])
        for delivery in self._deliveries:
            was_failing = delivery.failing
            if delivery.deliver(seq, line):
                continue
            self._metrics.audit_write_error()
            if not was_failing:  # say it once per outage, not once per event
                log.error(
                    "audit_write_failed",
                    sink=delivery.name,
                    error=delivery.reason,
                    refusing=self.deny_on_failure,
                )
        if self.feed is not None:
            self.feed.publish(self._sealed)


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
