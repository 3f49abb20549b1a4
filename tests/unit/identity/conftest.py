from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ext_proc.config import Config
from ext_proc.identity.config import IdentityConfig
from ext_proc.identity.identifier import Identifier
from tests.jwt_keys import AUDIENCE, ISSUER


class Clock:
    """A settable wall clock for expiry tests (tokens carry real times, so it starts at now)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def identity_config(section: dict[str, Any]) -> IdentityConfig:
    """The identity section exactly as `chaperone serve` would validate it."""
    return msgspec.convert({"identity": section}, Config, strict=True).identity


def jwt_section(**jwt: Any) -> dict[str, Any]:
    return {"jwt": {"issuer": ISSUER, "audiences": [AUDIENCE], **jwt}}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_identifier(clock: Clock) -> Callable[..., Identifier]:
    def make(section: dict[str, Any], monotonic: Callable[[], float] = time.monotonic) -> Identifier:
        return Identifier(identity_config(section), clock=clock, monotonic=monotonic)

    return make


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def keys_file(path: Path, entries: dict[str, list[str]]) -> Path:
    lines = []
    for agent, hashes in entries.items():
        lines.append(f"{agent}:")
        lines += [f"  - {h}" for h in hashes]
    path.write_text("\n".join(lines) + "\n")
    return path
