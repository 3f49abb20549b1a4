"""Tell people a request waits for them: each new approval request is POSTed to a webhook.

Delivery runs in a background task, off the request path: a slow, failing or unreachable
receiver never delays or fails the held call. Each attempt has a short timeout; connection
errors, timeouts, 408, 429 and 5xx are retried with exponential backoff, other answers are
final. Deliveries in flight are bounded; beyond the bound a notification is dropped and logged.

Body (JSON)::

    {"event": "approval_requested", "id": "apr_...", "agent": "...", "action": {...summary...},
     "reason": "...", "group": "finance", "mode": "hold", "created_at": "...Z",
     "expires_at": "...Z", "link": "https://console.example/console#approval=apr_..."}

Headers: ``x-chaperone-event``, ``x-chaperone-delivery`` (one id per notification, the same on
every attempt, for receivers to drop duplicates) and, with a secret, ``x-chaperone-signature:
t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``. The secret file is read at each
delivery, so a rotated Secret takes effect at once. Logs name the approval and the outcome,
never the body.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import orjson
import structlog

from ext_proc.approvals.model import Approval, timestamp
from ext_proc.config import ApprovalsConfig

log = structlog.get_logger("chaperone.approvals")

EVENT_REQUESTED = "approval_requested"
SIGNATURE_HEADER = "x-chaperone-signature"
MAX_IN_FLIGHT = 100
DEFAULT_BACKOFF_SECONDS = 0.5
_RETRY_STATUSES = frozenset({408, 429})


class Notifier(Protocol):
    def notify(self, approval: Approval) -> None:
        """Announce a new request; returns at once."""

    async def close(self) -> None: ...


class NullNotifier:
    """No webhook configured."""

    def notify(self, approval: Approval) -> None:
        return None

    async def close(self) -> None:
        return None


def console_link(approval_id: str, base_url: str | None = None) -> str:
    return f"{(base_url or '').rstrip('/')}/console#approval={approval_id}"


def signature(secret: bytes, sent_at: int, body: bytes) -> str:
    digest = hmac.new(secret, str(sent_at).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={sent_at},v1={digest}"


def payload(approval: Approval, base_url: str | None) -> dict[str, Any]:
    return {
        "event": EVENT_REQUESTED,
        "id": approval.id,
        "agent": approval.agent,
        "action": approval.action,
        "reason": approval.reason,
        "group": approval.group,
        "mode": approval.mode.value,
        "created_at": timestamp(approval.created_at),
        "expires_at": timestamp(approval.expires_at),
        "link": console_link(approval.id, base_url),
    }


class WebhookNotifier:
    def __init__(
        self,
        url: str,
        *,
        secret_file: str | None = None,
        timeout_seconds: float = 2.0,
        attempts: int = 3,
        backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
        console_base_url: str | None = None,
    ) -> None:
        self._url = url
        self._secret_file = secret_file
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._base_url = console_base_url
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[bool]] = set()

    @staticmethod
    def of(config: ApprovalsConfig) -> Notifier:
        if config.webhook_url is None:
            return NullNotifier()
        return WebhookNotifier(
            config.webhook_url,
            secret_file=config.webhook_secret_file,
            timeout_seconds=config.webhook_timeout_seconds,
            attempts=config.webhook_attempts,
            console_base_url=config.console_base_url,
        )

    def notify(self, approval: Approval) -> None:
        if len(self._tasks) >= MAX_IN_FLIGHT:
            log.warning("approval_webhook_dropped", approval_id=approval.id, in_flight=len(self._tasks))
            return
        task = asyncio.create_task(self.deliver(approval), name=f"approval-webhook-{approval.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the deliveries in flight (tests, and a graceful stop)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.drain()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def deliver(self, approval: Approval) -> bool:
        """Send one notification, with retries; True when the receiver took it."""
        body = orjson.dumps(payload(approval, self._base_url))
        headers = {
            "content-type": "application/json",
            "x-chaperone-event": EVENT_REQUESTED,
            "x-chaperone-delivery": str(uuid.uuid4()),
        }
        for attempt in range(1, self._attempts + 1):
            if not self._sign(headers, body, approval.id):
                return False
            outcome, retry = await self._attempt(body, headers)
            if outcome == "delivered":
                log.info("approval_webhook_delivered", approval_id=approval.id, attempt=attempt)
                return True
            log.warning("approval_webhook_failed", approval_id=approval.id, attempt=attempt, outcome=outcome)
            if not retry:
                return False
            if attempt < self._attempts:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        return False

    async def _attempt(self, body: bytes, headers: dict[str, str]) -> tuple[str, bool]:
        """("delivered", _) or (what went wrong, whether to retry)."""
        try:
            async with self._client().post(self._url, data=body, headers=headers) as response:
                status = response.status
                await response.read()
        except TimeoutError:
            return "timeout", True
        except (aiohttp.ClientError, OSError) as exc:
            return type(exc).__name__, True
        if 200 <= status < 300:
            return "delivered", False
        return f"status {status}", status >= 500 or status in _RETRY_STATUSES

    def _sign(self, headers: dict[str, str], body: bytes, approval_id: str) -> bool:
        if self._secret_file is None:
            return True
        try:
            secret = Path(self._secret_file).read_bytes().strip()
        except OSError:
            secret = b""
        if not secret:
            # Configured to sign: never send unsigned instead.
            log.error("approval_webhook_failed", approval_id=approval_id, outcome="secret file unreadable")
            return False
        headers[SIGNATURE_HEADER] = signature(secret, int(time.time()), body)
        return True

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session
