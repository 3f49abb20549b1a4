"""Operator authentication for the admin gRPC services: the admin HTTP port's bearer tokens.

The token comes in the ``authorization`` metadata (``Bearer <token>``) and is checked against
``admin.token_file``, read on each call as the HTTP API does. The admin services authenticate
inside their methods rather than in a server interceptor, so that Envoy's ext_authz and ext_proc
calls on the same port pay nothing for it.
"""

from __future__ import annotations

from typing import Any, NoReturn

import grpc

from ext_proc.admin.app import bearer_operator, operator_tokens


class OperatorAuth:
    def __init__(self, token_file: str | None) -> None:
        self._token_file = token_file

    async def require(self, context: Any) -> str:
        """The calling operator's name; ends the call with UNAUTHENTICATED without a valid token."""
        tokens = operator_tokens(self._token_file)
        if not tokens:
            await _unauthenticated(context, "the operator API is disabled: it needs admin.token_file")
        metadata = context.invocation_metadata() or ()
        values = [value for key, value in metadata if key == "authorization"]
        operator = bearer_operator(tokens, values[0]) if len(values) == 1 else None
        if operator is None:
            await _unauthenticated(context, "a valid bearer token is required (authorization metadata)")
        return operator


async def _unauthenticated(context: Any, message: str) -> NoReturn:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
    raise AssertionError("abort returned")  # grpc.aio's abort always raises
