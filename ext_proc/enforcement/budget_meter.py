"""One LLM call's tokens and cost, from admission to the end of its answer.

At admission the call's estimate is its prompt (counted offline with the model's tokenizer) and
its output limit (``input.usage``, ``estimated: true``); when budgets apply, the estimate is
reserved in all of them at once. While an answer streams, output beyond the estimate is charged
as it goes, and crossing a budget ends the stream. When the call ends, however it ends, the
reservation is replaced by the usage the upstream reported, or by what was seen of the answer
when it reported none.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

from ext_proc.enforcement.limits import LimitRefusal, budget_refusal
from ext_proc.limits.budgets import BudgetExceeded, BudgetLedger, Reservation, Usage, usage_input
from ext_proc.limits.fields import Budget
from ext_proc.limits.prices import PriceTable
from ext_proc.limits.tokens import TokenCounter, encoding_for_model
from ext_proc.protocols.llm.model import LlmRequest
from ext_proc.protocols.llm.model import Usage as ReportedUsage

# Prompts larger than this are counted on a worker thread (tiktoken releases the GIL), so a
# large prompt does not hold the event loop for milliseconds.
THREAD_COUNT_CHARS = 16_384
# Output seen while streaming is estimated from its size, on the high side (tokens.py).
CHARS_PER_OUTPUT_TOKEN = 3


class BudgetMeter:
    def __init__(self, ledger: BudgetLedger, prices: PriceTable, estimate: Usage, choices: int = 1) -> None:
        self._ledger = ledger
        self._prices = prices
        self.estimate = estimate
        self._choices = max(choices, 1)
        self.reservation: Reservation | None = None
        self.settled = False

    @classmethod
    async def admit(
        cls,
        ledger: BudgetLedger,
        prices: PriceTable,
        counter: TokenCounter,
        llm: LlmRequest,
        texts: Sequence[str],
    ) -> BudgetMeter | None:
        """The call's estimate (None for a request that names no model): ``texts`` are every
        text the call sends, and its output is counted once per answer it asks for (``n``)."""
        if not llm.model:
            return None
        prompt = await _count(counter, llm.model, texts)
        choices = max(llm.choices, 1)
        return cls(ledger, prices, ledger.estimate(llm.model, prompt, llm.max_tokens, choices), choices)

    def usage_input(self) -> dict[str, Any]:
        return usage_input(self.estimate, self._prices, estimated=True)

    async def reserve(self, budgets: Sequence[Budget], max_tokens: int | None) -> LimitRefusal | None:
        """Hold the estimate (its output capped by a rewritten ``max_tokens``) in every budget."""
        if not budgets:
            return None
        capped = None if max_tokens is None else max_tokens * self._choices
        if capped is not None and capped < self.estimate.output_tokens:
            self.estimate = Usage(self.estimate.model, self.estimate.input_tokens, capped)
        held = await self._ledger.reserve(budgets, self.estimate)
        if isinstance(held, BudgetExceeded):
            return budget_refusal(held)
        self.reservation = held
        return None

    async def charge(self, output_chars: int) -> LimitRefusal | None:
        """A streamed answer so far; a refusal when it crossed a budget (the stream ends)."""
        if self.reservation is None:
            return None
        crossed = await self._ledger.charge_output(self.reservation, output_tokens(output_chars))
        return budget_refusal(crossed) if crossed is not None else None

    async def settle(self, reported: ReportedUsage | None, output_chars: int) -> Usage:
        """Replace the reservation with the real usage (once); returns that usage."""
        actual = self.actual(reported, output_chars)
        if not self.settled:
            self.settled = True
            if self.reservation is not None:
                await self._ledger.reconcile(self.reservation, actual)
        return actual

    def actual(self, reported: ReportedUsage | None, output_chars: int) -> Usage:
        if reported is not None and (reported.input_tokens or reported.output_tokens):
            return Usage(self.estimate.model, reported.input_tokens or 0, reported.output_tokens or 0)
        # No report (a stream without usage, a cut connection): the prompt, and what was seen.
        return Usage(self.estimate.model, self.estimate.input_tokens, output_tokens(output_chars))

    def cost(self, usage: Usage) -> float | None:
        cost: float | None = usage_input(usage, self._prices, estimated=False)["cost"]
        return cost


def output_tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_OUTPUT_TOKEN)


async def _count(counter: TokenCounter, model: str, texts: Sequence[str]) -> int:
    size = sum(len(text) for text in texts)
    name = encoding_for_model(model)
    if size > THREAD_COUNT_CHARS or (name is not None and not counter.loaded(name)):
        return await asyncio.to_thread(counter.count_tokens, model, texts)
    return counter.count_tokens(model, texts)
