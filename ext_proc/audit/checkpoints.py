"""Checkpoints: the chain's head, signed and anchored, so that a log cut short is detectable.

A hash chain alone shows an edit or a removal inside the log, not that its newest events were
cut off (the shortened log is a valid chain), nor a tail rewritten with fresh hashes. So every
``every_events`` events, ``every_seconds`` after the last event when events were written since,
after a recorded gap, and at shutdown (``final``), the log writes a ``checkpoint`` event:

- with ``key_file`` (an Ed25519 private key, PEM) it carries ``signature``, over the chain id and
  the sequence number and hash of the event it follows (its own ``seq - 1`` and ``prev``), and
  ``key_id``: rewriting any event up to it, or forging a checkpoint, needs the private key;
- with ``anchor_file`` its line is also written there (atomically: a temporary file renamed): kept
  on storage the log's writer cannot rewrite (another volume, shipped off the host), it names an
  event the log must contain, so a log cut before it fails ``chaperone audit verify --anchor``.

Signing costs ~60 µs, once per checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

CHECKPOINT = "checkpoint"
SIGNED_PREFIX = b"chaperone audit checkpoint v1\n"


class CheckpointKeyError(ValueError):
    """The key file cannot be used; the message names it."""


def signed_message(chain: str, seq: int, digest: str) -> bytes:
    """What a checkpoint's signature covers: the event it follows."""
    return SIGNED_PREFIX + f"{chain}\n{seq}\n{digest}".encode()


def key_id(public_key: ed25519.Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_private_key(path: str) -> ed25519.Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as exc:
        raise CheckpointKeyError(f"audit.checkpoint.key_file {path}: {exc.strerror}") from None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise CheckpointKeyError(f"{path}: not an unencrypted PEM private key") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise CheckpointKeyError(f"{path}: an Ed25519 key is required")
    return key


def load_public_key(path: str) -> ed25519.Ed25519PublicKey:
    """An Ed25519 public key (PEM), or the public half of a private one."""
    data = Path(path).read_bytes()
    key: Any
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise CheckpointKeyError(f"{path}: not a PEM public key") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise CheckpointKeyError(f"{path}: an Ed25519 key is required")
    return key


def signature_fields(key: ed25519.Ed25519PrivateKey, chain: str, seq: int, digest: str) -> dict[str, str]:
    signature = key.sign(signed_message(chain, seq, digest))
    return {"key_id": key_id(key.public_key()), "signature": base64.b64encode(signature).decode()}


def signature_valid(public_key: ed25519.Ed25519PublicKey, event: dict[str, Any]) -> bool:
    """The checkpoint's signature over the event it follows (its ``seq - 1`` and ``prev``)."""
    signature, chain, seq, prev = (event.get(k) for k in ("signature", "chain", "seq", "prev"))
    if not (isinstance(signature, str) and isinstance(chain, str) and isinstance(seq, int)):
        return False
    if not isinstance(prev, str):
        return False
    try:
        public_key.verify(base64.b64decode(signature, validate=True), signed_message(chain, seq - 1, prev))
    except (InvalidSignature, ValueError):
        return False
    return True


class Cadence:
    """When the next checkpoint is due."""

    def __init__(self, every_events: int, every_seconds: float) -> None:
        self.every_events = every_events
        self.every_seconds = every_seconds
        self._events = 0
        self._first_at: float | None = None

    def written(self, now: float) -> None:
        self._events += 1
        if self._first_at is None:
            self._first_at = now

    def full(self) -> bool:
        return self._events >= self.every_events

    def due(self, now: float) -> bool:
        if not self._events:
            return False
        first = self._first_at if self._first_at is not None else now
        return self.full() or now - first >= self.every_seconds

    def reset(self) -> None:
        self._events = 0
        self._first_at = None


def write_anchor(path: str, line: bytes) -> None:
    """Replace the anchor file with this checkpoint's line, atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        os.write(handle, line)
        os.fsync(handle)
    finally:
        os.close(handle)
    try:
        os.replace(temporary, target)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
        raise
