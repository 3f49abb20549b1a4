"""The hash chain that makes the audit trail tamper-evident. Pure: no I/O.

Every audit event carries ``chain`` (the id of this process's segment), ``seq`` (0, 1, 2...
within the segment), ``prev`` (the previous event's ``hash``) and ``hash``: the SHA-256, in hex,
of the event's canonical JSON without ``hash`` (``prev`` included). Canonical JSON is orjson's
compact output with keys sorted, so a verifier parses a line, drops ``hash`` and hashes again.

A process starts a new segment with a ``chain_start`` event (seq 0). When it writes to a file
that already holds a segment, the new segment links to it: ``prev`` is the last event's hash, and
``prev_chain``/``prev_seq`` name that event. Without such a file (standard output), ``prev`` of
``chain_start`` is null and the segment stands alone.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

# The value of the "audit" key: marks a line as an audit event and names the schema version.
SCHEMA_VERSION = 1
CHAIN_START = "chain_start"


def canonical(event: Mapping[str, Any]) -> bytes:
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS, default=str)


def event_hash(event: Mapping[str, Any]) -> str:
    """The hash of an event, over every field but ``hash`` itself."""
    if "hash" in event:
        event = {key: value for key, value in event.items() if key != "hash"}
    return hashlib.sha256(canonical(event)).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last event of a segment: where the next segment links."""

    chain: str
    seq: int
    hash: str

    @staticmethod
    def of(event: Mapping[str, Any]) -> ChainHead | None:
        chain, seq, digest = event.get("chain"), event.get("seq"), event.get("hash")
        if isinstance(chain, str) and isinstance(seq, int) and isinstance(digest, str):
            return ChainHead(chain, seq, digest)
        return None


class Chain:
    """One segment: seals events in order. Not thread-safe (the audit log holds a lock)."""

    def __init__(self, previous: ChainHead | None = None, chain_id: str | None = None) -> None:
        self.id = chain_id or uuid.uuid4().hex
        self.previous = previous
        self._seq = -1
        self._last: str | None = previous.hash if previous is not None else None

    def start_fields(self) -> dict[str, Any]:
        """What the segment's first event says of the segment before it."""
        if self.previous is None:
            return {"prev_chain": None}
        return {"prev_chain": self.previous.chain, "prev_seq": self.previous.seq}

    def seal(self, event: dict[str, Any]) -> dict[str, Any]:
        """Number the event, link it to the previous one and add its hash (in place)."""
        self._seq += 1
        event["chain"] = self.id
        event["seq"] = self._seq
        event["prev"] = self._last
        digest = event_hash(event)
        event["hash"] = digest
        self._last = digest
        return event

    @property
    def head(self) -> ChainHead | None:
        if self._last is None or self._seq < 0:
            return None
        return ChainHead(self.id, self._seq, self._last)
