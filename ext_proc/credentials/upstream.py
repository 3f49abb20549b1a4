"""Upstream credentials: secrets read from files and set on requests the policy allowed.

Each credential is one file (a key of a mounted Secret), read before serving and again when it
changes, so a rotated Secret takes effect without a restart. Surrounding whitespace (the
trailing newline of ``echo`` or an editor) is dropped; a value that is empty or holds control
characters is refused, since it would produce an invalid or split header.

Fail closed: a credential that cannot be read after a change is unavailable until the file is
readable again; requests that need it are refused (``credential_unavailable``), never sent with a
stale or missing secret. Values are never logged; their repr is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog

from ext_proc.credentials.config import UpstreamCredentialConfig
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.watch import FileLoadError, WatchedFile

log = structlog.get_logger("chaperone.credentials")

MAX_CREDENTIAL_FILE_BYTES = 64 * 1024
# Only names that could come from a policy are echoed in errors; a longer one is cut.
_NAME_IN_MESSAGE = 64


class HeaderValue:
    """A ready header value (prefix and secret); the repr never shows it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "HeaderValue(<hidden>)"


def parse_secret(data: bytes, path: Path, prefix: str = "") -> HeaderValue:
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise FileLoadError(f"{path}: a credential must be ASCII") from None
    if not text:
        raise FileLoadError(f"{path}: the credential is empty")
    if not all(" " <= c <= "~" or c == "\t" for c in text):
        raise FileLoadError(f"{path}: the credential holds control characters")
    return HeaderValue(prefix + text)


@dataclass(frozen=True, slots=True)
class _Entry:
    header: str
    file: WatchedFile[HeaderValue]


class UpstreamCredentials:
    def __init__(self, config: dict[str, UpstreamCredentialConfig]) -> None:
        self._entries = {name: self._load(name, cfg) for name, cfg in config.items()}

    @property
    def names(self) -> list[str]:
        return sorted(self._entries)

    @property
    def files(self) -> list[WatchedFile[HeaderValue]]:
        return [entry.file for entry in self._entries.values()]

    def credential_headers(self, name: str) -> list[tuple[str, str]]:
        """The headers to set on the upstream request; ChaperoneError when there are none to set."""
        entry = self._entries.get(name)
        if entry is None:
            raise ChaperoneError(
                ErrorCode.CREDENTIAL_UNKNOWN,
                f"credential {name[:_NAME_IN_MESSAGE]!r} is not configured (credentials.upstream)",
                http_status=500,
            )
        if entry.file.error is not None:
            raise ChaperoneError(
                ErrorCode.CREDENTIAL_UNAVAILABLE, f"credential {name!r} cannot be read", http_status=503
            )
        return [(entry.header, entry.file.value.value)]

    @staticmethod
    def _load(name: str, config: UpstreamCredentialConfig) -> _Entry:
        prefix = config.prefix
        watched = WatchedFile(
            f"credentials.upstream.{name}",
            config.file,
            lambda data, path: parse_secret(data, path, prefix),
            max_bytes=MAX_CREDENTIAL_FILE_BYTES,
        )
        log.info("credential_loaded", credential_name=name, path=config.file, header=config.header)
        return _Entry(config.header, watched)
