"""The credential broker: what a policy's ``credential`` and ``mint_token`` fields turn into.

One object built from the ``credentials`` section. Its files are read before serving and watched
on a background thread; ``credential_headers`` and ``mint_headers`` do no I/O. Minting signs on
the event loop: about 50 µs with Ed25519 or EC P-256, 0.5 ms with RSA 2048 (prefer the former).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ext_proc.admin.app import AdminExtension
from ext_proc.credentials.admin import jwks_extension
from ext_proc.credentials.config import CredentialsConfig
from ext_proc.credentials.decision import MintToken
from ext_proc.credentials.minting import TokenMinter
from ext_proc.credentials.upstream import UpstreamCredentials
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.watch import Poller

if TYPE_CHECKING:  # ext_proc.config imports this package's config: no import cycle at run time
    from ext_proc.config import Config


class CredentialBroker:
    def __init__(self, config: CredentialsConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.upstream = UpstreamCredentials(config.upstream)
        self.minter = TokenMinter(config.minting, clock) if config.minting.enabled else None
        self._poller = Poller("credentials-reloader", config.reload_interval_seconds, self.poll)
        self._watching = bool(config.upstream) or self.minter is not None

    @classmethod
    def from_config(cls, config: Config) -> CredentialBroker:
        return cls(config.credentials)

    async def start(self) -> None:
        if self._watching:
            self._poller.start()

    async def stop(self) -> None:
        self._poller.stop()

    def poll(self) -> None:
        """Re-read the files that changed (the watcher thread calls this)."""
        for watched in self.upstream.files:
            watched.refresh()
        if self.minter is not None:
            self.minter.poll()

    def credential_headers(self, name: str) -> list[tuple[str, str]]:
        """Headers that put credential ``name`` on the upstream request.

        ChaperoneError ``credential_unknown`` (500) when no such credential is configured,
        ``credential_unavailable`` (503) when its file cannot be read: the request is refused.
        """
        return self.upstream.credential_headers(name)

    def mint(
        self,
        subject: str,
        audience: str | Sequence[str],
        ttl_seconds: int | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A token signed for ``subject`` (the agent id); ChaperoneError ``token_mint_failed``."""
        if self.minter is None:
            raise ChaperoneError(
                ErrorCode.TOKEN_MINT_FAILED,
                "minting is not configured (credentials.minting.key_file)",
                http_status=500,
            )
        return self.minter.mint(subject, audience, ttl_seconds, claims)

    def mint_headers(self, request: MintToken, subject: str) -> list[tuple[str, str]]:
        """A decision's ``mint_token``, minted for ``subject``, as the header to set."""
        token = self.mint(subject, request.audience, request.ttl_seconds, request.claims)
        return [(request.header, request.prefix + token)]

    def jwks(self) -> dict[str, Any]:
        return self.minter.jwks() if self.minter is not None else {"keys": []}

    def admin_extension(self) -> AdminExtension:
        """Serves ``/.well-known/jwks.json`` when minting is configured; adds nothing otherwise."""
        if self.minter is None:
            return lambda _app: None
        return jwks_extension(self.jwks)
