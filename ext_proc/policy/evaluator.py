"""One policy decision: evaluate, check the shape, map failures to a deny, apply dry-run.

This is the single place where an evaluation result becomes the decision that is enforced, for
ext_authz and for every ext_proc phase alike, so "undefined, several results, a wrong type or an
engine error is a deny" holds everywhere by construction.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.policy.decision import ALLOW, Decision, parse_decision
from ext_proc.policy.engine import PolicyEngine
from ext_proc.policy.input_projection import InputProjection

# Errors of a remote engine that `policy.opa.fail_open` may turn into an allow. A policy that
# answered badly (undefined, wrong shape) is never failed open: that is the policy's own verdict.
REMOTE_FAILURES = frozenset({ErrorCode.OPA_UNAVAILABLE, ErrorCode.OPA_TIMEOUT, ErrorCode.OPA_BAD_RESPONSE})
JSON_CONTENT_TYPE = ("content-type", "application/json")
# Decision objects parsed recently, by their JSON text: a policy answers the same few objects
# again and again (checking one costs ~10 µs, its JSON text ~0.3 µs).
DECISION_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Outcome:
    """What was decided, what the policy really said, and why."""

    decision: Decision  # enforced
    verdict: Decision  # the policy's own decision (or the error deny), before dry-run or fail-open
    error: ChaperoneError | None
    revision: str
    eval_ms: float
    dry_run: bool = False
    failed_open: bool = False


class _DecisionIds:
    """Random (version 4) UUIDs as text, from a buffer of random bytes refilled 256 ids at a time:
    half the cost of ``str(uuid.uuid4())``, which makes a system call and an object per id.

    A forked worker draws its own: the buffer is emptied in the child at fork (not by comparing
    ``os.getpid()`` on every id, a system call per decision)."""

    BATCH = 256

    def __init__(self) -> None:
        self._hex = ""
        self._next = 0
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget)

    def __call__(self) -> str:
        with self._lock:
            start = self._next
            if start >= len(self._hex):
                self._hex = os.urandom(16 * self.BATCH).hex()
                start = 0
            self._next = start + 32
            h = self._hex[start : start + 32]
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"

    def _forget(self) -> None:
        self._hex, self._next = "", 0
        self._lock = threading.Lock()  # a lock held by another thread at fork stays held in the child


# The RFC 4122 variant: the two high bits of the 17th hex digit are 10.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}

new_decision_id = _DecisionIds()


class Evaluator:
    def __init__(
        self, engine: PolicyEngine, *, dry_run: bool = False, deny_status: int = 403, fail_open: bool = False
    ) -> None:
        self.engine = engine
        self.dry_run = dry_run
        self.deny_status = deny_status
        self.fail_open = fail_open
        self._decisions = DecisionCache()
        # A condition that refuses every decision while it holds (the audit trail failing with
        # audit.on_failure: deny): returns the error, or None.
        self.unavailable: Callable[[], ChaperoneError | None] | None = None

    async def decide(self, document: dict[str, Any]) -> Outcome:
        if self.unavailable is not None and (refusal := self.unavailable()) is not None:
            return self.failure(refusal)
        started = time.perf_counter()
        error: ChaperoneError | None = None
        try:
            value = await self.engine.evaluate(document)
            if value is None:
                raise ChaperoneError(ErrorCode.POLICY_UNDEFINED, "the decision is undefined")
            decision = self._decisions.parse(value)
        except ChaperoneError as exc:
            error = exc
            decision = self.error_decision(exc)
        eval_ms = (time.perf_counter() - started) * 1000
        revision = self.engine.revision
        if error is not None and self.fail_open and error.code in REMOTE_FAILURES:
            return Outcome(ALLOW, decision, error, revision, eval_ms, failed_open=True)
        if self.dry_run and not decision.allowed and error is None:
            # As opa-envoy-plugin's dry-run: log what would have happened, enforce a plain allow
            # that keeps only the decision's dynamic metadata. A policy that fails (undefined,
            # wrong shape, engine error) still denies: the plugin fails those checks too.
            return Outcome(dry_run_allow(decision), decision, error, revision, eval_ms, dry_run=True)
        return Outcome(decision, decision, error, revision, eval_ms)

    def projection(self) -> InputProjection:
        """What the policy that answers now can read of an input."""
        return self.engine.input_projection()

    def error_decision(self, error: ChaperoneError) -> Decision:
        return Decision(allowed=False, http_status=self.deny_status, raw=None)

    def failure(self, error: ChaperoneError) -> Outcome:
        """The outcome for input that cannot be evaluated at all (malformed, undecodable, too large).

        Bad input fails closed even in dry-run: dry-run previews policy verdicts, it does not
        wave through requests that Chaperone cannot inspect.
        """
        decision = Decision(allowed=False, http_status=error.http_status, raw=None)
        return Outcome(decision, decision, error, self.engine.revision, 0.0)


class DecisionCache:
    """parse_decision, remembered for decision objects seen before (a Decision is immutable).

    Only valid decisions are kept; the oldest entry goes when the cache is full. A value orjson
    cannot write (an integer beyond 64 bits) is parsed every time."""

    def __init__(self, size: int = DECISION_CACHE_SIZE) -> None:
        self._size = size
        self._parsed: dict[bytes, Decision] = {}

    def parse(self, value: Any) -> Decision:
        if type(value) is not dict:
            return parse_decision(value)
        try:
            key = orjson.dumps(value)
        except TypeError:
            return parse_decision(value)
        decision = self._parsed.get(key)
        if decision is None:
            decision = parse_decision(value)
            if len(self._parsed) >= self._size:
                del self._parsed[next(iter(self._parsed))]
            self._parsed[key] = decision
        return decision


def dry_run_allow(verdict: Decision) -> Decision:
    if verdict.dynamic_metadata is None:
        return ALLOW
    return Decision(allowed=True, dynamic_metadata=verdict.dynamic_metadata, raw=True)


@dataclass(frozen=True, slots=True)
class DenyResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    policy_body: bool = False  # the policy wrote the body itself


def deny_response(outcome: Outcome, decision_id: str, default_status: int) -> DenyResponse:
    """What the client receives for a deny: the policy's own body, an empty one, or a JSON error.

    A policy deny without ``body`` (``false`` included) has an empty body and only the policy's
    headers, as opa-envoy-plugin sends it; ``json_error: true`` asks for Chaperone's JSON error
    instead. Chaperone's own refusals (a policy that failed, bad input) always get the JSON error.
    It carries the stable code and the decision id (to find the audit event), and the policy's
    reasons; never engine messages, which may quote policy internals.
    """
    decision = outcome.decision
    status = decision.http_status or default_status
    if decision.body is not None:
        return DenyResponse(status, decision.headers, decision.body, policy_body=True)
    if outcome.error is None and not decision.json_error:
        return DenyResponse(status, decision.headers, b"")
    error: dict[str, Any] = {
        "code": outcome.error.code.value if outcome.error else "denied",
        "decision_id": decision_id,
    }
    if decision.reasons:
        error["reasons"] = list(decision.reasons)
    headers = (*(h for h in decision.headers if h[0] != "content-type"), JSON_CONTENT_TYPE)
    return DenyResponse(status, headers, orjson.dumps({"error": error}))
