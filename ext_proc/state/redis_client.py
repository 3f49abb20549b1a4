"""The one Redis client of the service, with the request path's deadline on every call.

Failures become ``ChaperoneError(state_unavailable)``: the caller applies ``state.fail_open``
(deny by default) and the failure is logged and counted, never silent.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ext_proc.config import StateConfig
from ext_proc.errors import ChaperoneError, ErrorCode

T = TypeVar("T")


def connect(config: StateConfig) -> aioredis.Redis:
    """A pooled async client; nothing is sent until the first command."""
    if config.redis_url is None:
        raise ValueError("state.redis_url is not set")
    timeout = config.redis_timeout_ms / 1000
    client: aioredis.Redis = aioredis.Redis.from_url(
        config.redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry_on_timeout=False,
        health_check_interval=30,
        decode_responses=False,
    )
    return client


async def call(operation: Awaitable[T], what: str) -> T:
    """Await one Redis operation; any failure is state_unavailable, a 503 wherever it refuses a
    request (the value is never logged)."""
    try:
        return await operation
    except (RedisError, OSError, TimeoutError) as exc:
        raise ChaperoneError(
            ErrorCode.STATE_UNAVAILABLE,
            f"the shared state (Redis) did not answer: {what}",
            http_status=503,
            detail=type(exc).__name__,
        ) from None
