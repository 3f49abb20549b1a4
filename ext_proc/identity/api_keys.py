"""API keys: generated once, handed to the agent, stored only as hashes.

Hashing. A key made by ``new_key`` carries 256 random bits, so a fast hash is as safe as a slow
one: nobody can search a 2^256 space, and a slow password hash (bcrypt, scrypt, Argon2) would
cost milliseconds on every request for no gain. SHA-256 (``sha256:<hex>``) is therefore enough.
For keys of unknown quality, or to keep a stolen key file from confirming a guessed key, the
hashes can be HMAC-SHA256 with a pepper (``hmac-sha256:<hex>``) that lives in another Secret.

The key file (YAML or JSON, typically a mounted Secret) maps an agent id to one hash or a list of
hashes; several per agent let a new key roll out before the old one is removed::

    support-bot:
      - sha256:4f1c...      # the current key
      - sha256:9a0e...      # the next one, during a rotation
    billing-agent: hmac-sha256:77b2...

Lookup. Hashes are indexed by a short prefix of the digest; the full digest is compared with
``hmac.compare_digest``, so the time a comparison takes says nothing about how much of a stored
hash a presented key matched.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from ext_proc.identity.model import AuthMethod, Proof, valid_agent_id
from ext_proc.watch import FileLoadError

KEY_PREFIX = "chp_"
KEY_RANDOM_BYTES = 32
SHA256 = "sha256"
HMAC_SHA256 = "hmac-sha256"
SCHEMES = (SHA256, HMAC_SHA256)
# The index key: 8 bytes of a uniformly distributed digest keep buckets at one entry in practice.
BUCKET_BYTES = 8
# Shown in input.agent.key_id and the audit log, to tell an agent's keys apart during a rotation.
KEY_ID_HEX_CHARS = 12
MAX_KEY_FILE_BYTES = 4 * 1024 * 1024
MIN_PEPPER_BYTES = 32


@dataclass(frozen=True, slots=True)
class StoredKey:
    agent_id: str
    scheme: str
    digest: bytes
    proof: Proof  # what presenting this key proves, built once

    @classmethod
    def make(cls, agent_id: str, scheme: str, digest: bytes) -> StoredKey:
        key_id = digest.hex()[:KEY_ID_HEX_CHARS]
        return cls(agent_id, scheme, digest, Proof(agent_id, AuthMethod.API_KEY, key_id=key_id))

    @property
    def key_id(self) -> str | None:
        return self.proof.key_id


class Pepper:
    """The HMAC pepper; its repr never shows the bytes."""

    __slots__ = ("secret",)

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def __repr__(self) -> str:
        return "Pepper(<hidden>)"


class ApiKeySet:
    """The hashes of one key file, indexed for lookup."""

    def __init__(self, keys: list[StoredKey]) -> None:
        self._buckets: dict[tuple[str, bytes], list[StoredKey]] = {}
        for key in keys:
            self._buckets.setdefault((key.scheme, key.digest[:BUCKET_BYTES]), []).append(key)
        self.schemes = frozenset(key.scheme for key in keys)
        self.size = len(keys)

    def find(self, key: str, pepper: Pepper | None) -> StoredKey | None:
        """The stored key this presented key hashes to, or None."""
        raw = key.encode()
        for scheme in self.schemes:
            digest = _digest(scheme, raw, pepper)
            if digest is None:
                continue
            found = self._match(scheme, digest)
            if found is not None:
                return found
        return None

    def _match(self, scheme: str, digest: bytes) -> StoredKey | None:
        found = None
        for stored in self._buckets.get((scheme, digest[:BUCKET_BYTES]), ()):
            if hmac.compare_digest(stored.digest, digest):
                found = stored
        return found


def _digest(scheme: str, raw: bytes, pepper: Pepper | None) -> bytes | None:
    if scheme == SHA256:
        return hashlib.sha256(raw).digest()
    if pepper is None:
        return None
    return hmac.digest(pepper.secret, raw, "sha256")


def hash_key(key: str, pepper: Pepper | None = None) -> str:
    """The line to store for ``key``: ``sha256:<hex>``, or ``hmac-sha256:<hex>`` with a pepper."""
    scheme = SHA256 if pepper is None else HMAC_SHA256
    digest = _digest(scheme, key.encode(), pepper)
    assert digest is not None
    return f"{scheme}:{digest.hex()}"


def new_key() -> str:
    """A new random key: a recognizable prefix and 256 bits, URL-safe, no dots (never JWT-shaped)."""
    return KEY_PREFIX + secrets.token_urlsafe(KEY_RANDOM_BYTES)


def parse_pepper(data: bytes, path: Path) -> Pepper:
    secret = data.strip()
    if len(secret) < MIN_PEPPER_BYTES:
        raise FileLoadError(f"{path}: a pepper needs at least {MIN_PEPPER_BYTES} bytes")
    return Pepper(secret)


def parse_key_file(data: bytes, path: Path, *, peppered: bool = False) -> ApiKeySet:
    """Parse and check a key file; FileLoadError names the file and the agent or line at fault.

    ``peppered``: a pepper is configured, so hmac-sha256 hashes can be checked (without one they
    could never match, and an agent would be locked out without a word).
    """
    document = _load_document(data, path)
    if document is None:
        return ApiKeySet([])
    if not isinstance(document, dict):
        raise FileLoadError(f"{path}: expected a mapping of agent id to key hashes")
    keys = list(_stored_keys(document, path))
    seen: dict[bytes, str] = {}
    for key in keys:
        if key.digest in seen and seen[key.digest] != key.agent_id:
            raise FileLoadError(
                f"{path}: the same key hash is listed for {seen[key.digest]!r} and {key.agent_id!r}"
            )
        seen[key.digest] = key.agent_id
        if key.scheme == HMAC_SHA256 and not peppered:
            raise FileLoadError(f"{path}: {key.agent_id}: hmac-sha256 hashes need api_keys.pepper_file")
    return ApiKeySet(keys)


def _load_document(data: bytes, path: Path) -> Any:
    if path.suffix == ".json":
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise FileLoadError(f"{path}: invalid JSON at line {exc.lineno}") from None
    try:
        return yaml.safe_load(data)
    except yaml.MarkedYAMLError as exc:
        # The message of a YAML error quotes the line; only its position is reported.
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else "?"
        raise FileLoadError(f"{path}: invalid YAML at line {line}") from None
    except yaml.YAMLError:
        raise FileLoadError(f"{path}: invalid YAML") from None


def _stored_keys(document: dict[Any, Any], path: Path) -> Iterator[StoredKey]:
    for agent_id, hashes in document.items():
        if not valid_agent_id(agent_id):
            raise FileLoadError(f"{path}: an agent id must be 1-256 visible ASCII characters")
        entries = [hashes] if isinstance(hashes, str) else hashes
        if not isinstance(entries, list) or not entries:
            raise FileLoadError(f"{path}: {agent_id}: expected a hash or a non-empty list of hashes")
        for index, entry in enumerate(entries):
            yield _stored_key(agent_id, entry, f"{path}: {agent_id}[{index}]")


def _stored_key(agent_id: str, entry: Any, where: str) -> StoredKey:
    scheme, _, hex_digest = entry.partition(":") if isinstance(entry, str) else ("", "", "")
    if scheme not in SCHEMES:
        raise FileLoadError(f"{where}: expected sha256:<hex> or hmac-sha256:<hex>")
    try:
        digest = bytes.fromhex(hex_digest)
    except ValueError:
        digest = b""
    if len(digest) != hashlib.sha256().digest_size:
        raise FileLoadError(f"{where}: expected 64 hexadecimal digits after {scheme}:")
    return StoredKey.make(agent_id, scheme, digest)
