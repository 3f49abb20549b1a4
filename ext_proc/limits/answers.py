"""What a client receives when a limit stops it, and the descriptors for Envoy's rate-limit filter.

Over a limit, budget or loop threshold: ``429 Too Many Requests`` with ``Retry-After`` (whole
seconds, at least 1; RFC 9110 §10.2.3) and a JSON body naming the limit, so an agent can back
off for the right one:

    {"error": {"code": "rate_limited" | "budget_exceeded" | "loop_detected",
               "limit": "<name>", "retry_after": 12}}

A kill switch answers ``503`` with ``{"error": {"code": "kill_switch", "scope": "agent"}}`` and
no ``Retry-After`` (an operator decides when it ends; the reason stays in the audit trail), and
a kill switch state that could not be read answers ``503 state_unavailable``.

Envoy's own rate limiting (the ``envoy.filters.http.ratelimit`` filter and a rate-limit service)
can count the same limits: ``rate_limit_metadata(limits)`` is an object to merge into the check
decision's ``dynamic_metadata``, which Envoy stores under the ext_authz filter's namespace, and
``envoy_rate_limits(names)`` the filter's ``rate_limits`` entries that turn each into a
descriptor ``(name, key)`` (a ``metadata`` action with ``source: DYNAMIC``). The rate-limit
filter must come after ext_authz in the chain; a request whose decision named no such limit
skips the descriptor (``skip_if_absent``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson

from ext_proc.errors import ErrorCode
from ext_proc.limits.budgets import BudgetExceeded
from ext_proc.limits.fields import RateLimit
from ext_proc.limits.kill_store import Kill
from ext_proc.limits.ratelimit import RateResult
from ext_proc.policy.evaluator import DenyResponse

TOO_MANY_REQUESTS = 429
SERVICE_UNAVAILABLE = 503
JSON = ("content-type", "application/json")
EXT_AUTHZ_NAMESPACE = "envoy.filters.http.ext_authz"
METADATA_KEY = "rate_limit"


def over_limit(code: ErrorCode, limit: str, retry_after_seconds: float) -> DenyResponse:
    retry_after = max(1, math.ceil(retry_after_seconds))
    body = {"error": {"code": code.value, "limit": limit, "retry_after": retry_after}}
    return DenyResponse(TOO_MANY_REQUESTS, (("retry-after", str(retry_after)), JSON), orjson.dumps(body))


def rate_limited(result: RateResult) -> DenyResponse:
    return over_limit(ErrorCode.RATE_LIMITED, result.limit_name or "", result.retry_after_seconds)


def budget_exceeded(exceeded: BudgetExceeded) -> DenyResponse:
    return over_limit(ErrorCode.BUDGET_EXCEEDED, exceeded.name, exceeded.retry_after_seconds)


def loop_detected(name: str, window_seconds: float) -> DenyResponse:
    """A policy's loop deny; the repeats have left the window after ``window_seconds`` at most."""
    return over_limit(ErrorCode.LOOP_DETECTED, name, window_seconds)


def killed(kill: Kill) -> DenyResponse:
    if kill.state_unavailable:
        error = {"code": ErrorCode.STATE_UNAVAILABLE.value, "message": "the kill switch state is unavailable"}
    else:
        error = {
            "code": ErrorCode.KILL_SWITCH.value,
            "scope": kill.scope,
            "message": "stopped by an operator",
        }
    return DenyResponse(SERVICE_UNAVAILABLE, (JSON,), orjson.dumps({"error": error}))


def rate_limit_metadata(limits: Sequence[RateLimit]) -> dict[str, Any]:
    """``{"rate_limit": {name: key}}``, to merge into the check decision's ``dynamic_metadata``."""
    return {METADATA_KEY: {limit.name: limit.key for limit in limits}}


def envoy_rate_limits(names: Sequence[str], namespace: str = EXT_AUTHZ_NAMESPACE) -> list[dict[str, Any]]:
    """The rate-limit filter's ``rate_limits``: one descriptor per limit name, read from the metadata."""
    return [
        {
            "actions": [
                {
                    "metadata": {
                        "descriptor_key": name,
                        "metadata_key": {"key": namespace, "path": [{"key": METADATA_KEY}, {"key": name}]},
                        "source": "DYNAMIC",
                        "skip_if_absent": True,
                    }
                }
            ]
        }
        for name in names
    ]
