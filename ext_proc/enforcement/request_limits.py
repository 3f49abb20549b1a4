"""The limits of one recognized request (LLM call, MCP message, A2A call), in the body phases.

Before the decision: a kill switch on a tool it calls refuses it; an MCP tool call gets
``input.loop``; an LLM call gets ``input.usage`` (its estimate). After an allow: the decision's
rate limits are counted and its budgets (and those the check handed over) reserve the estimate.
While the answer streams: output past the estimate is charged, and a kill switch engaged
meanwhile ends the stream. At the end: the reservation is settled with the real usage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ext_proc.enforcement.budget_meter import BudgetMeter
from ext_proc.enforcement.components import Enforcement
from ext_proc.enforcement.limits import LimitRefusal, killed, loop_facts, rate_limited
from ext_proc.inspection.request import LLM, InspectedRequest
from ext_proc.inspection.texts import all_strings
from ext_proc.limits.budgets import Usage
from ext_proc.limits.fields import Budget
from ext_proc.limits.loops import LoopFacts
from ext_proc.policy.decision import Decision
from ext_proc.protocols.llm.model import Usage as ReportedUsage


class RequestLimits:
    def __init__(
        self,
        enforcement: Enforcement,
        *,
        agent: str | None,
        upstream: str | None,
        session: str | None,
        check_budgets: Sequence[Budget] = (),
    ) -> None:
        self._enforcement = enforcement
        self._agent = agent
        self._upstream = upstream
        self._session = session
        self._check_budgets = tuple(check_budgets)
        self.loop: LoopFacts | None = None
        self.meter: BudgetMeter | None = None
        self.usage: Usage | None = None  # the settled usage, once the call has ended

    async def before_decision(self, request: InspectedRequest) -> LimitRefusal | None:
        """A kill switch refusal, or None; sets ``loop`` and ``meter`` for the policy input."""
        limits = self._enforcement.limits
        refusal = killed(limits.kill_switch, self._agent, self._upstream, request.action)
        if refusal is not None:
            return refusal
        self.loop = await loop_facts(limits.loops, self._agent, self._session, request.action)
        if request.protocol == LLM and request.llm is not None:
            # Every text the call sends (tool schemas, metadata...), not only what is scanned.
            texts = list(all_strings(request.document)) if request.document is not None else []
            self.meter = await BudgetMeter.admit(
                limits.budgets, limits.prices, limits.tokens, request.llm, texts
            )
        return None

    def policy_input(self) -> dict[str, Any]:
        """``input.loop`` and ``input.usage``, when they apply."""
        document: dict[str, Any] = {}
        if self.loop is not None:
            document["loop"] = self.loop.as_input()
        if self.meter is not None:
            document["usage"] = self.meter.usage_input()
        return document

    async def after_allow(self, decision: Decision) -> LimitRefusal | None:
        """Count the rate limits, then reserve the budgets; the refusal when one is over."""
        refusal = await rate_limited(self._enforcement.limits.rate_limiter, decision.limits)
        if refusal is not None:
            return refusal
        budgets = (*self._check_budgets, *decision.budgets)
        if budgets and self.meter is not None:
            return await self.meter.reserve(budgets, decision.rewrite.max_tokens)
        return None

    async def while_streaming(self, output_chars: int) -> LimitRefusal | None:
        """Between chunks of an answer: a kill switch engaged since, or a budget crossed."""
        refusal = killed(self._enforcement.limits.kill_switch, self._agent, self._upstream, None)
        if refusal is None and self.meter is not None:
            refusal = await self.meter.charge(output_chars)
        return refusal

    async def settle(self, reported: ReportedUsage | None, output_chars: int) -> None:
        if self.meter is not None and not self.meter.settled:
            self.usage = await self.meter.settle(reported, output_chars)

    def settle_later(self, reported: ReportedUsage | None, output_chars: int) -> None:
        """The stream ended without an answer's end (an error status, a cut connection)."""
        if self.meter is not None and not self.meter.settled:
            self.usage = self.meter.actual(reported, output_chars)
            self._enforcement.in_background(self.meter.settle(reported, output_chars))

    def audit(self) -> dict[str, Any]:
        """The ``tokens`` and ``cost`` of the stream's audit summary."""
        if self.meter is None or self.usage is None:
            return {}
        usage = self.usage
        return {
            "tokens": {"input": usage.input_tokens, "output": usage.output_tokens},
            "cost": self.meter.cost(usage),
        }
