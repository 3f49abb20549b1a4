"""The price table: what a call costs, from the configuration (``limits.prices``).

```yaml
limits:
  prices:
    currency: USD
    models:
      example-large:  {input_per_million: 2.0, output_per_million: 8.0}
      "example-*":    {input_per_million: 0.5, output_per_million: 1.5}
    default: {input_per_million: 5.0, output_per_million: 15.0}   # optional
```

A model is priced by its exact name, else by the longest ``prefix*`` pattern it starts with,
else by ``default``. Without a default, an unknown model has no price: a call under a cost
budget is then refused (``price_unknown``) rather than counted as free.

Budgets count cost in integer nano-units of the currency (a billionth): integer counters add
up exactly in Redis (INCRBY) where floating-point sums drift, a call's rounding error is half a
nano-unit, and a 64-bit counter holds billions of currency units.
"""

from __future__ import annotations

from dataclasses import dataclass

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.limits.settings import ModelPrice, PricesConfig

NANOS = 1_000_000_000
# A price per million tokens times tokens is in micro-units; a thousand nano-units each.
_NANOS_PER_MICRO = 1000


@dataclass(frozen=True, slots=True)
class Price:
    input_per_million: float
    output_per_million: float

    def nanos(self, input_tokens: int, output_tokens: int) -> int:
        micros = input_tokens * self.input_per_million + output_tokens * self.output_per_million
        return round(micros * _NANOS_PER_MICRO)


class PriceTable:
    def __init__(self, config: PricesConfig) -> None:
        self.currency = config.currency
        self._exact = {name: _price(p) for name, p in config.models.items() if not name.endswith("*")}
        patterns = [(name[:-1], _price(p)) for name, p in config.models.items() if name.endswith("*")]
        self._patterns = sorted(patterns, key=lambda item: len(item[0]), reverse=True)
        self._default = _price(config.default) if config.default is not None else None

    def price(self, model: str) -> Price | None:
        exact = self._exact.get(model)
        if exact is not None:
            return exact
        for prefix, price in self._patterns:
            if model.startswith(prefix):
                return price
        return self._default

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        """The cost in the table's currency; ``price_unknown`` when the model has no price."""
        return self.require(model).nanos(input_tokens, output_tokens) / NANOS

    def require(self, model: str) -> Price:
        price = self.price(model)
        if price is None:
            raise ChaperoneError(
                ErrorCode.PRICE_UNKNOWN,
                "the model has no price in limits.prices and there is no default: a cost budget "
                "cannot be charged",
            )
        return price


def _price(config: ModelPrice) -> Price:
    return Price(config.input_per_million, config.output_per_million)
