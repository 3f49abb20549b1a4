"""Limits around a decision: the kill switch, rate limits, loop facts, and their refusals.

A refusal carries the error for the audit event (its code and message) and the answer the client
gets (429 with ``Retry-After`` for a limit, 503 for a kill switch; limits/answers.py). The
protocol flow turns the answer into the client's own protocol (an MCP JSON-RPC error, a
provider's error body).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.limits import answers
from ext_proc.limits.budgets import BudgetExceeded
from ext_proc.limits.fields import RateLimit
from ext_proc.limits.kill_store import Kill
from ext_proc.limits.killswitch import KillSwitch
from ext_proc.limits.loops import LoopDetector, LoopFacts
from ext_proc.limits.ratelimit import RateLimiter
from ext_proc.policy.evaluator import DenyResponse
from ext_proc.protocols.detect import MCP

ANONYMOUS_AGENT = "-"  # the loop detector's key for requests without an agent identity
LOOP_LIMIT = "loop"
TOO_MANY_REQUESTS = answers.TOO_MANY_REQUESTS


@dataclass(frozen=True, slots=True)
class LimitRefusal:
    error: ChaperoneError  # for the audit event
    deny: DenyResponse  # for the client

    @property
    def data(self) -> dict[str, Any]:
        """What a protocol error carries beside its message: the code and the limit."""
        error = orjson.loads(self.deny.body).get("error", {})
        return {key: value for key, value in error.items() if key != "message"}


def kill_refusal(kill: Kill) -> LimitRefusal:
    if kill.state_unavailable:
        error = ChaperoneError(
            ErrorCode.STATE_UNAVAILABLE, "the kill switch state could not be read", http_status=503
        )
    else:
        error = ChaperoneError(
            ErrorCode.KILL_SWITCH, f"stopped by an operator ({kill.scope})", http_status=503
        )
    return LimitRefusal(error, answers.killed(kill))


def killed(
    kill_switch: KillSwitch, agent: str | None, upstream: str | None, action: Any
) -> LimitRefusal | None:
    """The kill that stops this request (everything, its agent or upstream, or a tool it calls)."""
    tools = [call.get("tool") for call in _calls(action) if call.get("method") == "tools/call"] or [None]
    for tool in tools:
        kill = kill_switch.blocked(agent, tool if isinstance(tool, str) else None, upstream)
        if kill is not None:
            return kill_refusal(kill)
    return None


async def rate_limited(limiter: RateLimiter, limits: Sequence[RateLimit]) -> LimitRefusal | None:
    """Count the request against the decision's limits (all or none); raises state_unavailable
    when the state does not answer and state.fail_open is false."""
    if not limits:
        return None
    result = await limiter.hit(limits)
    if result.allowed:
        return None
    error = ChaperoneError(
        ErrorCode.RATE_LIMITED, f"over the rate limit {result.limit_name}", http_status=429
    )
    return LimitRefusal(error, answers.rate_limited(result))


def budget_refusal(exceeded: BudgetExceeded) -> LimitRefusal:
    error = ChaperoneError(ErrorCode.BUDGET_EXCEEDED, f"over the budget {exceeded.name}", http_status=429)
    return LimitRefusal(error, answers.budget_exceeded(exceeded))


def loop_refusal(facts: LoopFacts) -> LimitRefusal:
    error = ChaperoneError(ErrorCode.LOOP_DETECTED, "the policy refused a repeating call", http_status=429)
    return LimitRefusal(error, answers.loop_detected(LOOP_LIMIT, facts.window_seconds))


async def loop_facts(
    detector: LoopDetector, agent: str | None, session: str | None, action: Any
) -> LoopFacts | None:
    """``input.loop`` for the MCP tool calls of a request (for a batch, its most repeated call)."""
    facts: LoopFacts | None = None
    for call in _calls(action):
        if call.get("method") != "tools/call" or call.get("listing") or not isinstance(call.get("tool"), str):
            continue
        seen = await detector.observe(agent or ANONYMOUS_AGENT, session, call["tool"], call.get("arguments"))
        if facts is None or seen.repeats_in_window > facts.repeats_in_window:
            facts = seen
    return facts


def is_tool_call(action: Any) -> bool:
    return any(call.get("method") == "tools/call" for call in _calls(action))


def _calls(action: Any) -> list[dict[str, Any]]:
    if isinstance(action, dict):
        return [action] if action.get("protocol") == MCP else []
    if isinstance(action, list):
        return [call for call in action if isinstance(call, dict) and call.get("protocol") == MCP]
    return []
