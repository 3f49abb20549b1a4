"""Verified tokens, remembered until they expire so a signature is checked once per token.

Entries are keyed by the SHA-256 of the token, never the token: a memory dump or a debugger shows
no usable credential. An entry also records the key material it was verified with (the key set
or the HMAC secret object); when that material is replaced (a rotation, a key withdrawn), the
entry no longer counts and the token is verified again against the new keys.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from ext_proc.identity.model import Proof


@dataclass(frozen=True, slots=True)
class CachedToken:
    proof: Proof
    # Accepted while now < valid_until (the token's exp plus the leeway).
    valid_until: float
    material: object


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenCache:
    """A bounded LRU map from token digest to the proof its verification gave."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[bytes, CachedToken] = OrderedDict()
        self.hits = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: bytes, now: float, current: tuple[object, ...]) -> Proof | None:
        """The proof of a verified token, if it has not expired and its key material is current."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if now >= entry.valid_until or not any(entry.material is m for m in current):
            del self._entries[digest]
            return None
        self._entries.move_to_end(digest)
        self.hits += 1
        return entry.proof

    def put(self, digest: bytes, entry: CachedToken) -> None:
        if self._size == 0:
            return
        self._entries[digest] = entry
        self._entries.move_to_end(digest)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
