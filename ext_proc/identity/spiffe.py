"""Workload identity: the mTLS peer's SPIFFE ID, as Envoy reports it, mapped to an agent id.

Envoy puts the peer certificate's URI SAN in ``attributes.source.principal`` of the ext_authz
CheckRequest. The ID is checked against the SPIFFE ID standard (SPIFFE-ID.md §2): scheme
``spiffe``, a trust domain of lower-case letters, digits, ``.``, ``-`` and ``_``, no port or
user info, a path of non-empty segments of letters, digits, ``.``, ``-`` and ``_`` (never ``.``
or ``..``), no trailing slash, query or fragment, at most 2048 bytes. Only IDs of the configured
trust domain whose path matches the configured pattern name an agent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ext_proc.identity.model import IdentityError

SCHEME = "spiffe://"
MAX_SPIFFE_ID_BYTES = 2048
AGENT_PLACEHOLDER = "{agent}"
ANY_SEGMENT = "*"

_TRUST_DOMAIN = re.compile(r"^[a-z0-9._-]+$")
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")


def valid_trust_domain(value: str) -> bool:
    return _TRUST_DOMAIN.match(value) is not None


@dataclass(frozen=True, slots=True)
class SpiffeId:
    trust_domain: str
    segments: tuple[str, ...]


def parse_spiffe_id(value: str) -> SpiffeId | None:
    """The ID's parts, or None when ``value`` is not a valid SPIFFE ID."""
    # Every character a SPIFFE ID may hold is ASCII, so the length in characters is in bytes.
    if not value.isascii() or len(value) > MAX_SPIFFE_ID_BYTES or not value.startswith(SCHEME):
        return None
    rest = value[len(SCHEME) :]
    trust_domain, slash, path = rest.partition("/")
    if not valid_trust_domain(trust_domain):
        return None  # also refuses a port (":"), user info ("@"), query ("?") or fragment ("#")
    if not slash:
        return SpiffeId(trust_domain, ())
    segments = tuple(path.split("/"))
    if not all(_valid_segment(s) for s in segments):
        return None
    return SpiffeId(trust_domain, segments)


def _valid_segment(segment: str) -> bool:
    return segment not in (".", "..") and _SEGMENT.match(segment) is not None


def parse_pattern(pattern: str) -> tuple[str, ...]:
    """``/ns/agents/sa/{agent}`` as segments; ValueError naming what is wrong."""
    if not pattern.startswith("/"):
        raise ValueError(f"agent_from: expected a path starting with '/', got {pattern!r}")
    segments = tuple(pattern[1:].split("/"))
    if segments.count(AGENT_PLACEHOLDER) != 1:
        raise ValueError(f"agent_from: expected exactly one {AGENT_PLACEHOLDER} segment, got {pattern!r}")
    for segment in segments:
        if segment not in (AGENT_PLACEHOLDER, ANY_SEGMENT) and not _valid_segment(segment):
            raise ValueError(f"agent_from: {segment!r} is not a valid SPIFFE path segment")
    return segments


class SpiffeMapper:
    """SPIFFE ID -> agent id, by trust domain and path pattern."""

    def __init__(self, trust_domain: str, agent_from: str) -> None:
        self._trust_domain = trust_domain
        self._pattern = parse_pattern(agent_from)
        self._agent_index = self._pattern.index(AGENT_PLACEHOLDER)

    def agent_for(self, principal: str) -> str | IdentityError:
        spiffe_id = parse_spiffe_id(principal)
        if spiffe_id is None:
            return IdentityError.SPIFFE_ID_INVALID
        if spiffe_id.trust_domain != self._trust_domain or not self._matches(spiffe_id.segments):
            return IdentityError.SPIFFE_ID_NOT_MAPPED
        return spiffe_id.segments[self._agent_index]

    def _matches(self, segments: tuple[str, ...]) -> bool:
        if len(segments) != len(self._pattern):
            return False
        return all(
            p in (AGENT_PLACEHOLDER, ANY_SEGMENT) or p == s
            for p, s in zip(self._pattern, segments, strict=True)
        )
