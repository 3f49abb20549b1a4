"""Token and cost budgets: reserved at admission, charged past the estimate, reconciled at the end.

A budget caps a key's tokens (input plus output) or cost over a calendar window, a UTC day or
month (windows.py: the counter's key carries the window's id and expires after the window).

- ``reserve(budgets, estimate)`` at admission: the estimate (prompt tokens counted, plus the
  request's output limit, or ``limits.budgets.default_output_tokens`` when it sets none; its cost
  from the price table) is added to every budget's counter at once, or to none when one has no
  room (``BudgetExceeded``, with the seconds until that window ends). Concurrent requests
  therefore never reserve beyond a cap together, on one replica or many.
- ``charge_output(reservation, tokens_so_far)`` as a stream goes: nothing to do (no I/O) while
  the output stays within the estimate. Past it, the extra is charged, in steps of
  ``OVERRUN_STEP`` tokens so that a long overrun costs one round trip per step, and the answer
  is ``BudgetExceeded`` when a budget has no room for it: the caller ends the stream.
- ``reconcile(reservation, actual)`` at the end: the estimate (and any extra) is replaced by the
  usage the upstream reported, priced at the reserved model. Every outcome must reconcile, with
  zero usage when nothing was sent, and with what was streamed when the client went away.

A reservation that is never reconciled (a crash, a lost stream) keeps its estimate counted: the
upstream may well have served and billed the call, so counting nothing would let failures spend
for free. Its marker expires after ``limits.budgets.reservation_ttl_seconds``; a reconcile after
that changes nothing (counted as ``late_reconciles``), and the counter itself goes with its
window. Usage beyond a cap is still counted (it happened): a counter can pass its cap by what a
stream produced before ``charge_output`` saw it, and then refuses every new reservation.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ext_proc.errors import ChaperoneError
from ext_proc.limits.budget_store import STEP, BudgetStore, Charge, Refusal
from ext_proc.limits.fields import Budget
from ext_proc.limits.guard import StateGuard, Stats
from ext_proc.limits.prices import NANOS, Price, PriceTable
from ext_proc.limits.windows import CalendarWindow, calendar_window
from ext_proc.metrics import NULL_METRICS, Metrics

Clock = Callable[[], float]
OVERRUN_STEP = 256


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one LLM call: an estimate at admission, the upstream's report at the end."""

    model: str
    input_tokens: int
    output_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class BudgetExceeded:
    budget: Budget
    used: float  # what the window had used, in the budget's unit (tokens, or currency)
    requested: float  # what this request needed on top, in the same unit
    retry_after_seconds: float  # until the window ends and a new one starts from zero

    @property
    def name(self) -> str:
        return self.budget.name


@dataclass(slots=True)
class Reservation:
    """One request's hold on its budgets; the caller keeps it until ``reconcile``."""

    id: str
    model: str
    estimate: Usage
    budgets: tuple[Budget, ...]
    charges: tuple[Charge, ...]  # the counters (keys, caps, expiries) and the reserved amounts
    charged: list[int]  # what each counter holds for this request so far
    price: Price | None = field(repr=False)  # the model's price, when a cost budget needs one
    extra_output_tokens: int = 0  # charged beyond the estimate by charge_output
    recorded: bool = True  # false: the state was unavailable and state.fail_open let it through
    open: bool = True

    @property
    def state_unavailable(self) -> bool:
        return not self.recorded


class BudgetLedger:
    def __init__(
        self,
        store: BudgetStore,
        prices: PriceTable,
        *,
        key_prefix: str,
        reservation_ttl_seconds: float,
        default_output_tokens: int,
        fail_open: bool = False,
        clock: Clock = time.time,
        metrics: Metrics = NULL_METRICS,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._prices = prices
        self._prefix = key_prefix
        self._ttl = reservation_ttl_seconds
        self.default_output_tokens = default_output_tokens
        self._clock = clock
        self.stats = Stats("budgets")
        self._fail = StateGuard(self.stats, fail_open=fail_open, metrics=metrics)

    def estimate(
        self, model: str, prompt_tokens: int, max_output_tokens: int | None, choices: int = 1
    ) -> Usage:
        """What to reserve for a call: its prompt, and its output limit (or the configured
        default) for each of the ``choices`` answers it asks for (OpenAI's ``n``)."""
        output = self.default_output_tokens if max_output_tokens is None else max_output_tokens
        return Usage(model, prompt_tokens, output * max(choices, 1))

    async def reserve(self, budgets: Sequence[Budget], estimate: Usage) -> Reservation | BudgetExceeded:
        """Hold the estimate in every budget, or in none; ``price_unknown`` for an unpriced cost budget."""
        now = self._clock()
        price = self._prices.require(estimate.model) if any(b.cost is not None for b in budgets) else None
        charges = tuple(self._charge(budget, estimate, price, now) for budget in budgets)
        reservation = Reservation(
            id=os.urandom(12).hex(),
            model=estimate.model,
            estimate=estimate,
            budgets=tuple(budgets),
            charges=charges,
            charged=[charge.amount for charge in charges],
            price=price,
        )
        if not budgets:
            return reservation
        try:
            refusal = await self._store.reserve(self._marker(reservation), now + self._ttl, charges, now)
        except ChaperoneError as error:
            self._fail.unavailable(error, "reserve")
            reservation.recorded = False
            return reservation
        self._fail.available()
        if refusal is not None:
            self.stats.add("refused")
            self._metrics.limit_hit("budget")
            return self._exceeded(budgets, charges, refusal, now)
        self.stats.add("reserved")
        return reservation

    async def charge_output(self, reservation: Reservation, tokens_so_far: int) -> BudgetExceeded | None:
        """None while the stream may go on; BudgetExceeded when it crossed a budget's cap.

        ``tokens_so_far`` counts the output streamed until now; calls for one reservation come
        one at a time (each awaited), as a stream's chunks do. A state that does not answer
        raises ``state_unavailable`` (the caller ends the stream), or, with state.fail_open,
        lets the stream go on.
        """
        over = tokens_so_far - reservation.estimate.output_tokens - reservation.extra_output_tokens
        if over <= 0 or not reservation.open or not reservation.recorded or not reservation.budgets:
            return None
        step = math.ceil(over / OVERRUN_STEP) * OVERRUN_STEP
        now = self._clock()
        steps = [
            self._extra(reservation, budget, charge, step) for budget, charge in self._pairs(reservation)
        ]
        exact = [
            self._extra(reservation, budget, charge, over).amount
            for budget, charge in self._pairs(reservation)
        ]
        try:
            outcome = await self._store.overrun(steps, exact, now)
        except ChaperoneError as error:
            self._fail.unavailable(error, "charge_output")
            return None
        self._fail.available()
        if isinstance(outcome, Refusal):
            self.stats.add("crossed")
            self._metrics.limit_hit("budget")
            return self._exceeded(reservation.budgets, tuple(steps), outcome, now, exact)
        tokens, amounts = (step, [c.amount for c in steps]) if outcome == STEP else (over, exact)
        reservation.extra_output_tokens += tokens
        reservation.charged = [
            held + amount for held, amount in zip(reservation.charged, amounts, strict=True)
        ]
        return None

    async def reconcile(self, reservation: Reservation, actual: Usage) -> bool:
        """Replace what was held with the real usage; False when nothing changed (late, or unrecorded).

        Never raises for the state: the response has gone by now, and an estimate left counted
        errs on the safe side (the failure is counted and logged).
        """
        if not reservation.open:
            return False
        reservation.open = False
        if not reservation.recorded or not reservation.budgets:
            return False
        real = [self._amount(budget, actual, reservation.price) for budget in reservation.budgets]
        deltas = [amount - held for amount, held in zip(real, reservation.charged, strict=True)]
        try:
            applied = await self._store.reconcile(
                self._marker(reservation), reservation.charges, deltas, self._clock()
            )
        except ChaperoneError as error:
            self._fail.record(error, "reconcile")
            return False
        self._fail.available()
        self.stats.add("reconciled" if applied else "late_reconciles")
        return applied

    async def used(self, budget: Budget, now: float | None = None) -> float:
        """What the budget's current window has used, in its unit (for operators and tests)."""
        now = self._clock() if now is None else now
        (value,) = await self._store.used([self._key(budget, calendar_window(budget.window, now))], now)
        return _in_unit(budget, value)

    def _charge(self, budget: Budget, estimate: Usage, price: Price | None, now: float) -> Charge:
        window = calendar_window(budget.window, now)
        cap = budget.tokens if budget.tokens is not None else round((budget.cost or 0.0) * NANOS)
        amount = self._amount(budget, estimate, price)
        return Charge(self._key(budget, window), amount, cap, window.end + self._ttl)

    def _extra(self, reservation: Reservation, budget: Budget, charge: Charge, tokens: int) -> Charge:
        extra = Usage(reservation.model, 0, tokens)
        return Charge(
            charge.key, self._amount(budget, extra, reservation.price), charge.cap, charge.expire_at
        )

    @staticmethod
    def _pairs(reservation: Reservation) -> list[tuple[Budget, Charge]]:
        return list(zip(reservation.budgets, reservation.charges, strict=True))

    @staticmethod
    def _amount(budget: Budget, usage: Usage, price: Price | None) -> int:
        if budget.tokens is not None:
            return usage.total_tokens
        assert price is not None  # reserve() required one for any cost budget
        return price.nanos(usage.input_tokens, usage.output_tokens)

    def _key(self, budget: Budget, window: CalendarWindow) -> str:
        return f"{self._prefix}budget:{budget.name}:{budget.key}:{window.id}"

    def _marker(self, reservation: Reservation) -> str:
        return f"{self._prefix}reservation:{reservation.id}"

    def _exceeded(
        self,
        budgets: Sequence[Budget],
        charges: Sequence[Charge],
        refusal: Refusal,
        now: float,
        amounts: Sequence[int] | None = None,
    ) -> BudgetExceeded:
        budget = budgets[refusal.index]
        requested = (amounts or [c.amount for c in charges])[refusal.index]
        return BudgetExceeded(
            budget,
            used=_in_unit(budget, refusal.used),
            requested=_in_unit(budget, requested),
            retry_after_seconds=calendar_window(budget.window, now).seconds_left(now),
        )


def _in_unit(budget: Budget, value: int) -> float:
    return float(value) if budget.tokens is not None else value / NANOS


def usage_input(usage: Usage, prices: PriceTable, *, estimated: bool) -> dict[str, Any]:
    """``input.usage`` for the policy: an estimate at admission, the reported usage at the end."""
    price = prices.price(usage.model)
    return {
        "model": usage.model,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "cost": None if price is None else price.nanos(usage.input_tokens, usage.output_tokens) / NANOS,
        "estimated": estimated,
    }
