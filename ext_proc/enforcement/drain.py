"""Shutting down with streams open: end them in the client's protocol before the grace runs out.

On SIGTERM the server stops taking new streams and gives those in flight the grace period
(``server.grace_period_seconds``) to finish; at its end gRPC cancels them, which Envoy turns into
a reset the client sees as a broken connection. So a little before that (``margin``), a stream
still relaying an answer ends at its next chunk with the provider's own error event (an OpenAI
or Anthropic error, a JSON-RPC error for MCP and A2A), which the SDKs raise as a retryable API
error. Streams that finish within the grace are not touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

# The part of the grace period kept for ending streams cleanly: a quarter, at most 2 s.
MAX_MARGIN_SECONDS = 2.0


@dataclass(slots=True)
class Drain:
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    deadline: float | None = None

    def begin(self, grace_seconds: float) -> None:
        margin = min(MAX_MARGIN_SECONDS, grace_seconds / 4)
        self.deadline = self.clock() + max(0.0, grace_seconds - margin)

    def due(self) -> bool:
        """True once open streams should be ended."""
        return self.deadline is not None and self.clock() >= self.deadline
