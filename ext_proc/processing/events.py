"""The domain of one ext_proc stream: what Envoy sent (events) and what we answer (actions).

These small frozen dataclasses are all the state machine sees and returns; protocol.py converts
them to and from Envoy's protobuf messages, so stream.py never imports gRPC or protobuf.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from ext_proc.enforcement.handoff import NO_HANDOFF, Handoff
from ext_proc.policy.decision import BodyMode, Decision, Inspection

Headers = tuple[tuple[str, str], ...]


class Direction(enum.Enum):
    REQUEST = "request"
    RESPONSE = "response"


@dataclass(frozen=True, slots=True)
class CheckSummary:
    """What the ext_authz decision for this request told ext_proc (through dynamic metadata)."""

    decision_id: str
    inspect: Inspection
    # The route's ext_authz context extensions, so that every phase's input has them.
    context_extensions: dict[str, str] = field(default_factory=dict)
    # The check decision's sensitive-data table, applied to this request's bodies.
    sensitive_data: dict[str, str] | None = None
    # The agent, and what the check left for the later phases (enforcement/handoff.py).
    handoff: Handoff = NO_HANDOFF


@dataclass(frozen=True, slots=True)
class HeadersEvent:
    direction: Direction
    headers: dict[str, str]  # lower-case names; repeated headers joined with ","
    end_of_stream: bool
    check: CheckSummary | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BodyEvent:
    direction: Direction
    data: bytes
    end_of_stream: bool


@dataclass(frozen=True, slots=True)
class TrailersEvent:
    direction: Direction


Event = HeadersEvent | BodyEvent | TrailersEvent


@dataclass(frozen=True, slots=True)
class ProcessingMode:
    """The phases Envoy should send for the rest of the stream (ext_proc mode_override)."""

    response_headers: bool = False
    request_body: BodyMode = BodyMode.NONE
    response_body: BodyMode = BodyMode.NONE
    request_trailers: bool = False
    response_trailers: bool = False


@dataclass(frozen=True, slots=True)
class HeaderChanges:
    set: Headers = ()
    remove: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.set or self.remove)

    def merged(self, other: HeaderChanges) -> HeaderChanges:
        return HeaderChanges(self.set + other.set, self.remove + other.remove)


NO_HEADER_CHANGES = HeaderChanges()


@dataclass(frozen=True, slots=True)
class Continue:
    """Let the message through, possibly changed."""

    headers: HeaderChanges = NO_HEADER_CHANGES
    body: bytes | None = None  # the replacement for this message's body
    mode: ProcessingMode | None = None
    dynamic_metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    """Answer the client now (ext_proc immediate_response); the upstream never sees the rest."""

    status: int
    headers: Headers
    body: bytes
    details: str


Action = Continue | Reject

CONTINUE = Continue()


def request_changes(decision: Decision) -> HeaderChanges:
    """A decision's changes to the request headers."""
    return HeaderChanges(decision.headers, decision.request_headers_to_remove)


def response_changes(decision: Decision) -> HeaderChanges:
    """A decision's changes to the response headers."""
    return HeaderChanges(decision.response_headers_to_add, decision.response_headers_to_remove)
