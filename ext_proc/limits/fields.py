"""The ``limits`` and ``budgets`` decision fields: the policy says which limits apply.

```
"limits":  [{"name": "agent-rpm", "key": "agent:support-bot", "limit": 60, "window_seconds": 60}]
"budgets": [{"name": "agent-daily-tokens", "key": "agent:support-bot", "tokens": 100000, "window": "day"},
            {"name": "team-monthly-cost", "key": "team:support", "cost": 50.0, "window": "month"}]
```

A name identifies the limit (it is what a refusal reports, and an Envoy descriptor key), so it is
restricted to ``[A-Za-z0-9_.-]`` and unique within its field; a key is the policy's choice of
whom the limit counts (per agent, tool, upstream...). Together they name the counter: two
decisions that give the same name and key share it, whatever else they say. Every shape error
raises ``decision_invalid`` naming the field, as the other decision fields do.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.json_names import json_type

NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_KEY_LENGTH = 256
# One atomic operation checks them all: keep the script's argument list small.
MAX_ENTRIES = 16
# A sliding log keeps one entry per counted request: this bounds its memory per key.
MAX_RATE_LIMIT = 100_000
MAX_WINDOW_SECONDS = 31 * 86400
WINDOWS = ("day", "month")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Window = Literal["day", "month"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    name: str
    key: str
    limit: int
    window_seconds: float


@dataclass(frozen=True, slots=True)
class Budget:
    """A cap on tokens (``tokens``) or on cost (``cost``, in the price table's currency)."""

    name: str
    key: str
    window: Window
    tokens: int | None = None
    cost: float | None = None

    @property
    def unit(self) -> Literal["tokens", "cost"]:
        return "tokens" if self.tokens is not None else "cost"

    @property
    def cap(self) -> float:
        return float(self.tokens) if self.tokens is not None else float(self.cost or 0.0)


def parse_limits(value: Any) -> tuple[RateLimit, ...]:
    """The ``limits`` decision field (absent or null: none)."""
    entries = _entries("limits", value)
    limits = tuple(_rate_limit(f"limits[{index}]", entry) for index, entry in enumerate(entries))
    _unique_names("limits", [limit.name for limit in limits])
    return limits


def parse_budgets(value: Any) -> tuple[Budget, ...]:
    """The ``budgets`` decision field (absent or null: none)."""
    entries = _entries("budgets", value)
    budgets = tuple(_budget(f"budgets[{index}]", entry) for index, entry in enumerate(entries))
    _unique_names("budgets", [budget.name for budget in budgets])
    return budgets


def _rate_limit(path: str, entry: Any) -> RateLimit:
    _object(path, entry, required={"name", "key", "limit", "window_seconds"}, optional=set())
    limit = entry["limit"]
    if not _is_int(limit) or not 1 <= limit <= MAX_RATE_LIMIT:
        _fail(f"{path}.limit", f"an integer from 1 to {MAX_RATE_LIMIT}", limit)
    window = entry["window_seconds"]
    if not _is_number(window) or not 0 < window <= MAX_WINDOW_SECONDS:
        _fail(f"{path}.window_seconds", f"a number above 0, at most {MAX_WINDOW_SECONDS}", window)
    return RateLimit(_name(path, entry["name"]), _key(path, entry["key"]), int(limit), float(window))


def _budget(path: str, entry: Any) -> Budget:
    _object(path, entry, required={"name", "key", "window"}, optional={"tokens", "cost"})
    if ("tokens" in entry) == ("cost" in entry):
        raise _invalid(f"{path}: expected exactly one of tokens and cost")
    window = entry["window"]
    if window not in WINDOWS:
        _fail(f"{path}.window", '"day" or "month"', window)
    name, key = _name(path, entry["name"]), _key(path, entry["key"])
    if "tokens" in entry:
        tokens = entry["tokens"]
        if not _is_int(tokens) or tokens < 1:
            _fail(f"{path}.tokens", "a positive integer", tokens)
        return Budget(name, key, window, tokens=int(tokens))
    cost = entry["cost"]
    if not _is_number(cost) or cost <= 0:
        _fail(f"{path}.cost", "a positive number", cost)
    return Budget(name, key, window, cost=float(cost))


def _entries(field: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        _fail(field, "array of objects", value)
    if len(value) > MAX_ENTRIES:
        raise _invalid(f"{field}: at most {MAX_ENTRIES} entries, got {len(value)}")
    return value


def _object(path: str, entry: Any, *, required: set[str], optional: set[str]) -> None:
    if not isinstance(entry, dict):
        _fail(path, "object", entry)
    missing = required - set(entry)
    if missing:
        raise _invalid(f"{path}: missing key {sorted(missing)[0]!r}")
    unknown = set(entry) - required - optional
    if unknown:
        raise _invalid(f"{path}: unknown key {sorted(unknown)[0]!r}")


def _name(path: str, name: Any) -> str:
    if not isinstance(name, str):
        _fail(f"{path}.name", "string", name)
    if not NAME.fullmatch(name):
        raise _invalid(f"{path}.name: expected 1 to 64 of A-Z a-z 0-9 _ . -")
    return str(name)


def _key(path: str, key: Any) -> str:
    if not isinstance(key, str):
        _fail(f"{path}.key", "string", key)
    if not key or len(key) > MAX_KEY_LENGTH or _CONTROL.search(key):
        raise _invalid(f"{path}.key: expected 1 to {MAX_KEY_LENGTH} characters, no control characters")
    return str(key)


def _unique_names(field: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise _invalid(f"{field}: the name {name!r} is used twice")
        seen.add(name)


def _is_int(value: Any) -> bool:
    # JSON has one number type: 60.0 is the integer 60, as in Rego.
    return _is_number(value) and float(value).is_integer()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _invalid(message: str) -> ChaperoneError:
    return ChaperoneError(ErrorCode.DECISION_INVALID, f"decision field {message}")


def _fail(path: str, expected: str, actual: Any) -> NoReturn:
    raise _invalid(f"{path}: expected {expected}, got {json_type(actual)}")
