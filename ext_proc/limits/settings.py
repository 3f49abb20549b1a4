"""The ``limits`` configuration section: budgets, loop detection, kill switch and the price table.

The limits themselves (which key, how many per window, which budget) are the policy's decision;
this section holds what the service needs to enforce them. Where the state lives is the ``state``
section (``state.redis_url``, ``state.redis_timeout_ms``, ``state.fail_open``).

This module imports nothing from ``ext_proc.config`` (which imports it), so the section types are
plain msgspec structs with the same options as the other sections.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

DEFAULT_KEY_PREFIX = "chaperone:"
# A reservation's marker lives this long: a stream still running after it can no longer be
# reconciled, and its estimate stays counted (the upstream route timeout defaults to 300 s).
DEFAULT_RESERVATION_TTL_SECONDS = 3600.0
# The output-token estimate of an LLM call that sets no output limit.
DEFAULT_OUTPUT_TOKENS = 4096
DEFAULT_LOOP_WINDOW_SECONDS = 300.0
DEFAULT_SESSION_TTL_SECONDS = 3600.0
# Repeats are counted up to this many per window; thresholds are far lower.
DEFAULT_LOOP_MAX_TRACKED = 1000
# The safety net behind pub/sub: every replica re-reads the kill switches this often.
DEFAULT_KILL_REFRESH_SECONDS = 1.0
# With state.fail_open false, a replica that could not read the kill switches for this long
# treats everything as stopped.
DEFAULT_KILL_STALE_AFTER_SECONDS = 10.0

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
Price = Annotated[float, msgspec.Meta(ge=0)]


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ModelPrice(_Section, frozen=True):
    """Price of one model, in the table's currency per million tokens."""

    input_per_million: Price
    output_per_million: Price


class PricesConfig(_Section, frozen=True):
    # Model name to price. A name ending in "*" matches every model starting with what precedes
    # it; an exact name wins over patterns, and the longest pattern over shorter ones.
    models: dict[str, ModelPrice] = msgspec.field(default_factory=dict)
    # The price of a model the table does not name. Unset: a request under a cost budget for
    # such a model is refused (price_unknown), never counted as free.
    default: ModelPrice | None = None
    # The unit of every price and cost budget (shown to operators; no conversion is done).
    currency: str = "USD"

    def __post_init__(self) -> None:
        for name in self.models:
            if not name or "*" in name[:-1] or name == "*":
                raise ValueError(f"invalid model name {name!r} in limits.prices.models")


class BudgetsConfig(_Section, frozen=True):
    reservation_ttl_seconds: PositiveFloat = DEFAULT_RESERVATION_TTL_SECONDS
    default_output_tokens: PositiveInt = DEFAULT_OUTPUT_TOKENS


class LoopsConfig(_Section, frozen=True):
    window_seconds: PositiveFloat = DEFAULT_LOOP_WINDOW_SECONDS
    session_ttl_seconds: PositiveFloat = DEFAULT_SESSION_TTL_SECONDS
    max_tracked: PositiveInt = DEFAULT_LOOP_MAX_TRACKED


class KillSwitchConfig(_Section, frozen=True):
    refresh_interval_seconds: PositiveFloat = DEFAULT_KILL_REFRESH_SECONDS
    stale_after_seconds: PositiveFloat = DEFAULT_KILL_STALE_AFTER_SECONDS


class LimitsConfig(_Section, frozen=True):
    # Prefix of every Redis key and channel these components use.
    key_prefix: str = DEFAULT_KEY_PREFIX
    budgets: BudgetsConfig = msgspec.field(default_factory=BudgetsConfig)
    loops: LoopsConfig = msgspec.field(default_factory=LoopsConfig)
    kill_switch: KillSwitchConfig = msgspec.field(default_factory=KillSwitchConfig)
    prices: PricesConfig = msgspec.field(default_factory=PricesConfig)
