"""An approval request: one action a policy wants a person to approve or deny.

The record is what the operator API returns and what both store backends keep. ``action`` is
the summary the gateway was given (already redacted); it is stored and returned to operators,
never logged. ``fingerprint`` identifies "the same action by the same agent" for retry mode and
is never shown: computed over unredacted arguments, a plain hash of a low-entropy value (a card
number, an SSN) could be reversed by trying candidates.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

ID_PREFIX = "apr_"
# 16 random bytes (128 bits) in URL-safe base64: unguessable, and safe in a URL fragment.
_ID_BYTES = 16
ID_PATTERN = re.compile(r"^apr_[A-Za-z0-9_-]{22}$")
# Keys of an action document that change from one attempt to the next without changing what
# the action does (the JSON-RPC request id, the transport session, the batch flag).
VOLATILE_ACTION_KEYS = frozenset({"id", "session_id", "batch"})


class Status(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"


class Mode(enum.StrEnum):
    HOLD = "hold"  # the call waits for the decision
    RETRY = "retry"  # the call was refused; one retry passes once approved


@dataclass(frozen=True, slots=True)
class Approval:
    id: str
    status: Status
    mode: Mode
    agent: str | None
    action: Mapping[str, Any]
    fingerprint: str
    reason: str
    group: str | None
    decision_id: str | None
    created_at: float  # seconds since the epoch
    expires_at: float  # a pending request is refused (expired) from then on
    decided_by: str | None = None
    decided_at: float | None = None  # also set when it expired
    comment: str | None = None
    used_at: float | None = None  # retry mode: when the approved retry went through

    def overdue(self, now: float) -> bool:
        """Pending, but past its expiry: it can no longer be decided."""
        return self.status is Status.PENDING and now >= self.expires_at

    def as_json(self) -> dict[str, Any]:
        """The operator API's shape (README, "Human approval"); no fingerprint."""
        return {
            "id": self.id,
            "status": self.status.value,
            "mode": self.mode.value,
            "agent": self.agent,
            "action": self.action,
            "reason": self.reason,
            "group": self.group,
            "decision_id": self.decision_id,
            "created_at": timestamp(self.created_at),
            "expires_at": timestamp(self.expires_at),
            "decided_by": self.decided_by,
            "decided_at": timestamp(self.decided_at),
            "comment": self.comment,
            "used_at": timestamp(self.used_at),
        }


def new_id() -> str:
    return ID_PREFIX + secrets.token_urlsafe(_ID_BYTES)


def fingerprint(agent: str | None, action: Mapping[str, Any]) -> str:
    """A stable hash of the agent and the canonical action (sorted keys, volatile keys left out).

    Pass the unredacted action when the stored summary is redacted: two calls whose arguments
    differ only in a redacted value must not share a fingerprint.
    """
    canonical = {key: value for key, value in action.items() if key not in VOLATILE_ACTION_KEYS}
    document = orjson.dumps({"agent": agent, "action": canonical}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(document).hexdigest()


def action_names(action: Mapping[str, Any]) -> dict[str, str]:
    """The names in an action summary that are safe to log: protocol, method, tool, model."""
    return {key: value for key in _NAME_KEYS if isinstance(value := action.get(key), str)}


_NAME_KEYS = ("protocol", "method", "tool", "model")


def timestamp(seconds: float | None) -> str | None:
    """RFC 3339 UTC with milliseconds, as the operator API and webhooks show times."""
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
