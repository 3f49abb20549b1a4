"""Budgets: reserved at admission (never beyond a cap), charged past the estimate, reconciled."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.limits.budgets import OVERRUN_STEP, BudgetExceeded, Reservation, Usage, usage_input
from ext_proc.limits.fields import Budget
from ext_proc.limits.settings import BudgetsConfig, ModelPrice, PricesConfig
from tests.unit.limits.conftest import PRICES, State

DAILY_TOKENS = Budget("agent-daily-tokens", "agent:support-bot", "day", tokens=1000)
MONTHLY_COST = Budget("team-monthly-cost", "team:support", "month", cost=0.01)


def reserved(result: Reservation | BudgetExceeded) -> Reservation:
    assert isinstance(result, Reservation), result
    return result


async def test_reservations_stop_at_the_cap(state: State) -> None:
    ledger = state.limits().budgets
    results = [await ledger.reserve([DAILY_TOKENS], Usage("gpt-4o", 100, 200)) for _ in range(4)]
    assert [isinstance(r, Reservation) for r in results] == [True, True, True, False]
    refused = results[3]
    assert isinstance(refused, BudgetExceeded)
    assert (refused.name, refused.used, refused.requested) == ("agent-daily-tokens", 900.0, 300.0)
    # 10:00 UTC: the day's window ends in 14 hours.
    assert refused.retry_after_seconds == 14 * 3600
    assert await ledger.used(DAILY_TOKENS) == 900


async def test_one_budget_without_room_reserves_in_none(state: State) -> None:
    ledger = state.limits().budgets
    roomy = Budget("roomy", "agent:a", "day", tokens=10_000)
    tight = Budget("tight", "tool:t", "day", tokens=250)
    reserved(await ledger.reserve([roomy, tight], Usage("gpt-4o", 100, 100)))
    result = await ledger.reserve([roomy, tight], Usage("gpt-4o", 100, 100))
    assert isinstance(result, BudgetExceeded) and result.name == "tight"
    assert await ledger.used(roomy) == 200  # the refused request held nothing


async def test_reconcile_replaces_the_estimate_with_the_real_usage(state: State) -> None:
    ledger = state.limits().budgets
    reservation = reserved(await ledger.reserve([DAILY_TOKENS], Usage("gpt-4o", 100, 500)))
    assert await ledger.used(DAILY_TOKENS) == 600
    assert await ledger.reconcile(reservation, Usage("gpt-4o", 96, 42))
    assert await ledger.used(DAILY_TOKENS) == 138
    # Once only: a second reconcile changes nothing.
    assert not await ledger.reconcile(reservation, Usage("gpt-4o", 1, 1))
    assert await ledger.used(DAILY_TOKENS) == 138
    assert ledger.stats["reconciled"] == 1


async def test_reconcile_can_charge_more_than_was_reserved(state: State) -> None:
    ledger = state.limits().budgets
    reservation = reserved(await ledger.reserve([DAILY_TOKENS], Usage("claude-x", 100, 100)))
    assert await ledger.reconcile(reservation, Usage("claude-x", 180, 900))
    assert await ledger.used(DAILY_TOKENS) == 1080  # beyond the cap: it was used
    result = await ledger.reserve([DAILY_TOKENS], Usage("claude-x", 1, 0))
    assert isinstance(result, BudgetExceeded)


async def test_an_unreconciled_reservation_keeps_its_estimate_and_expires(state: State) -> None:
    ledger = state.limits(budgets=BudgetsConfig(reservation_ttl_seconds=600)).budgets
    reservation = reserved(await ledger.reserve([DAILY_TOKENS], Usage("gpt-4o", 100, 300)))
    state.clock.advance(601)
    assert not await ledger.reconcile(reservation, Usage("gpt-4o", 10, 10))
    assert ledger.stats["late_reconciles"] == 1
    assert await ledger.used(DAILY_TOKENS) == 400


async def test_charge_output_is_silent_within_the_estimate(state: State) -> None:
    ledger = state.limits().budgets
    reservation = reserved(await ledger.reserve([DAILY_TOKENS], Usage("gpt-4o", 100, 300)))
    for tokens in (1, 150, 300):
        assert await ledger.charge_output(reservation, tokens) is None
    assert await ledger.used(DAILY_TOKENS) == 400
    assert reservation.extra_output_tokens == 0


async def test_a_stream_past_its_estimate_is_charged_in_steps(state: State) -> None:
    ledger = state.limits().budgets
    reservation = reserved(await ledger.reserve([DAILY_TOKENS], Usage("gpt-4o", 100, 100)))
    assert await ledger.charge_output(reservation, 101) is None
    assert reservation.extra_output_tokens == OVERRUN_STEP
    assert await ledger.used(DAILY_TOKENS) == 200 + OVERRUN_STEP
    assert await ledger.charge_output(reservation, 100 + OVERRUN_STEP) is None  # within the step
    assert await ledger.used(DAILY_TOKENS) == 200 + OVERRUN_STEP
    assert await ledger.reconcile(reservation, Usage("gpt-4o", 100, 300))
    assert await ledger.used(DAILY_TOKENS) == 400


async def test_a_stream_that_crosses_the_cap_is_told(state: State) -> None:
    ledger = state.limits().budgets
    cap = Budget("small", "agent:s", "day", tokens=500)
    reservation = reserved(await ledger.reserve([cap], Usage("gpt-4o", 100, 200)))
    # 300 held; the step (256) would reach 556, the exact overrun (150) fits: charged exactly.
    assert await ledger.charge_output(reservation, 350) is None
    assert await ledger.used(cap) == 450
    assert reservation.extra_output_tokens == 150
    crossed = await ledger.charge_output(reservation, 401)
    assert isinstance(crossed, BudgetExceeded) and crossed.name == "small"
    assert (crossed.used, crossed.requested) == (450, 51)
    assert ledger.stats["crossed"] == 1
    # What was streamed is still reconciled, beyond the cap.
    assert await ledger.reconcile(reservation, Usage("gpt-4o", 100, 401))
    assert await ledger.used(cap) == 501


async def test_cost_budgets_are_priced_by_the_table(state: State) -> None:
    ledger = state.limits().budgets
    # example-large: 2.0 in, 8.0 out per million: 1000 in + 500 out = 0.002 + 0.004.
    reservation = reserved(await ledger.reserve([MONTHLY_COST], Usage("example-large", 1000, 500)))
    assert await ledger.used(MONTHLY_COST) == pytest.approx(0.006)
    result = await ledger.reserve([MONTHLY_COST], Usage("example-large", 1000, 500))
    assert isinstance(result, BudgetExceeded)
    assert (result.used, result.requested) == (pytest.approx(0.006), pytest.approx(0.006))
    # The pattern "example-*" prices the small model: 0.5 in, 1.5 out.
    assert await ledger.reconcile(reservation, Usage("example-large", 1000, 0))
    assert await ledger.used(MONTHLY_COST) == pytest.approx(0.002)
    reserved(await ledger.reserve([MONTHLY_COST], Usage("example-small", 2000, 2000)))
    assert await ledger.used(MONTHLY_COST) == pytest.approx(0.006)


async def test_an_unpriced_model_under_a_cost_budget_is_refused(state: State) -> None:
    ledger = state.limits().budgets
    with pytest.raises(ChaperoneError) as error:
        await ledger.reserve([DAILY_TOKENS, MONTHLY_COST], Usage("unknown-model", 10, 10))
    assert error.value.code is ErrorCode.PRICE_UNKNOWN
    assert await ledger.used(DAILY_TOKENS) == 0
    # Token budgets need no price.
    reserved(await ledger.reserve([DAILY_TOKENS], Usage("unknown-model", 10, 10)))


async def test_the_default_price_covers_unknown_models(state: State) -> None:
    prices = PricesConfig(models=PRICES.models, default=ModelPrice(input_per_million=1, output_per_million=1))
    ledger = state.limits(prices=prices).budgets
    reserved(await ledger.reserve([MONTHLY_COST], Usage("unknown-model", 3000, 1000)))
    assert await ledger.used(MONTHLY_COST) == pytest.approx(0.004)


async def test_a_new_day_starts_from_zero(state: State) -> None:
    ledger = state.limits().budgets
    state.clock.now = datetime(2026, 11, 21, 23, 59, 59, tzinfo=UTC).timestamp()
    reserved(await ledger.reserve([DAILY_TOKENS], Usage("gpt-4o", 500, 500)))
    refused = await ledger.reserve([DAILY_TOKENS], Usage("gpt-4o", 1, 0))
    assert isinstance(refused, BudgetExceeded) and refused.retry_after_seconds == 1
    state.clock.advance(1)  # 2026-11-22T00:00:00Z
    reserved(await ledger.reserve([DAILY_TOKENS], Usage("gpt-4o", 500, 500)))


async def test_a_reservation_made_before_midnight_reconciles_into_its_own_day(state: State) -> None:
    ledger = state.limits().budgets
    state.clock.now = datetime(2026, 11, 21, 23, 59, 0, tzinfo=UTC).timestamp()
    reservation = reserved(await ledger.reserve([DAILY_TOKENS], Usage("gpt-4o", 100, 900)))
    state.clock.advance(120)
    assert await ledger.used(DAILY_TOKENS) == 0  # the new day
    assert await ledger.reconcile(reservation, Usage("gpt-4o", 100, 50))
    assert await ledger.used(DAILY_TOKENS) == 0
    assert await ledger.used(DAILY_TOKENS, now=state.clock.now - 3600) == 150


async def test_months_end_on_the_first_of_the_next_month(state: State) -> None:
    ledger = state.limits().budgets
    state.clock.now = datetime(2026, 12, 31, 18, 0, tzinfo=UTC).timestamp()
    reserved(await ledger.reserve([MONTHLY_COST], Usage("example-large", 2500, 0)))
    refused = await ledger.reserve([MONTHLY_COST], Usage("example-large", 2500, 1))
    assert isinstance(refused, BudgetExceeded) and refused.retry_after_seconds == 6 * 3600
    state.clock.now = datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    reserved(await ledger.reserve([MONTHLY_COST], Usage("example-large", 2500, 0)))


async def test_no_budgets_is_a_reservation_that_touches_nothing(state: State) -> None:
    ledger = state.limits().budgets
    reservation = reserved(await ledger.reserve([], Usage("gpt-4o", 10, 10)))
    assert await ledger.charge_output(reservation, 10_000) is None
    assert not await ledger.reconcile(reservation, Usage("gpt-4o", 1, 1))
    assert ledger.stats.snapshot() == {}


async def test_replicas_on_one_state_share_a_budget(state: State) -> None:
    first = state.limits().budgets
    second = state.limits(new_backend=True).budgets
    reserved(await first.reserve([DAILY_TOKENS], Usage("gpt-4o", 300, 300)))
    assert isinstance(await second.reserve([DAILY_TOKENS], Usage("gpt-4o", 300, 300)), BudgetExceeded)
    assert await second.used(DAILY_TOKENS) == 600


def test_the_estimate_uses_the_default_output_when_the_request_sets_none(state: State) -> None:
    ledger = state.limits(budgets=BudgetsConfig(default_output_tokens=2048)).budgets
    assert ledger.estimate("gpt-4o", 120, None) == Usage("gpt-4o", 120, 2048)
    assert ledger.estimate("gpt-4o", 120, 64) == Usage("gpt-4o", 120, 64)
    # n answers are n times the output (OpenAI's n).
    assert ledger.estimate("gpt-4o", 120, 64, 3) == Usage("gpt-4o", 120, 192)
    assert ledger.estimate("gpt-4o", 120, None, 2) == Usage("gpt-4o", 120, 4096)


async def test_cost_counters_add_up_exactly(state: State) -> None:
    """0.1 + 0.2 in floating point is not 0.3; the counters are integers and add up exactly."""
    prices = PricesConfig(models={"m": ModelPrice(input_per_million=0.1, output_per_million=0.2)})
    ledger = state.limits(prices=prices).budgets
    cap = Budget("exact", "k", "month", cost=0.0003)
    for _ in range(1000):
        reserved(await ledger.reserve([cap], Usage("m", 1, 1)))
    assert isinstance(await ledger.reserve([cap], Usage("m", 1, 1)), BudgetExceeded)
    assert await ledger.used(cap) == pytest.approx(0.0003)


def test_usage_for_the_policy(state: State) -> None:
    limits = state.limits()
    estimate = limits.budgets.estimate("example-large", 1000, None)
    assert usage_input(estimate, limits.prices, estimated=True) == {
        "model": "example-large",
        "input_tokens": 1000,
        "output_tokens": 4096,
        "total_tokens": 5096,
        "cost": pytest.approx(0.002 + 4096 * 8.0 / 1e6),
        "estimated": True,
    }
    assert usage_input(Usage("unpriced", 1, 1), limits.prices, estimated=False)["cost"] is None
