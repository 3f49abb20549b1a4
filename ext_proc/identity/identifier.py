"""Who is calling: every agent credential of a request verified, then combined into one identity.

Rules (documented for policy authors in policies/README.md, "Agent identity"):

- The credentials looked at: ``Authorization: Bearer`` (a JWT or an API key), the API key header,
  and the mTLS peer's SPIFFE ID (when ``identity.spiffe`` is configured). No credential at all
  is an anonymous request (``authenticated: false``, no error); the policy decides.
- Every credential present is verified. If one fails, the request is not authenticated and the
  identity carries that failure's code (the first in the order above), even if another
  credential is valid: an invalid credential is never ignored in favour of a valid one.
- Valid credentials that name different agents are a conflict (``credential_conflict``).
  When they agree, ``method`` is the strongest (jwt, then api_key, then spiffe) and ``methods``
  lists them all.

Files (the key file, a JWKS file, secrets) are read before serving and re-read on a background
thread when they change; a JWKS URL is fetched on the event loop with aiohttp. ``identify`` does
no blocking I/O. Measured (``python -m tests.bench.identity``): about 3.5 µs for an API key,
5-6 µs for a JWT seen before (the verified-token cache), 0.1-0.2 ms to verify a new JWT.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

import structlog

from ext_proc.identity.api_keys import MAX_KEY_FILE_BYTES, ApiKeySet, Pepper, parse_key_file, parse_pepper
from ext_proc.identity.config import IdentityConfig
from ext_proc.identity.headers import CredentialKind, HeaderRules, Presented, presented_credentials
from ext_proc.identity.jwt_verify import MAX_HMAC_SECRET_BYTES, JwtVerifier, parse_hmac_secret
from ext_proc.identity.key_sources import FileKeys, KeySource, RemoteKeys
from ext_proc.identity.model import ANONYMOUS, MISSING, AgentIdentity, AuthMethod, IdentityError, Proof
from ext_proc.identity.spiffe import SpiffeMapper
from ext_proc.watch import Poller, WatchedFile

if TYPE_CHECKING:  # ext_proc.config imports this package's config: no import cycle at run time
    from ext_proc.config import Config

log = structlog.get_logger("chaperone.identity")

_STRENGTH = (AuthMethod.JWT, AuthMethod.API_KEY, AuthMethod.SPIFFE)
MAX_KNOWN_WORKLOADS = 1024
Outcome = Proof | IdentityError


class _Refreshable(Protocol):
    def refresh(self) -> bool: ...


class Identifier:
    """Built once from the ``identity`` section; ``identify`` is called per request."""

    def __init__(
        self,
        config: IdentityConfig,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = config.enabled
        self._rules = HeaderRules(
            api_key_header=config.api_keys.header if config.api_keys.enabled else None,
            bearer_api_keys=config.api_keys.enabled and config.api_keys.bearer,
            bearer_jwt=config.jwt.enabled,
            max_bytes=config.max_credential_bytes,
        )
        self._watched: list[_Refreshable] = []
        self._pepper = self._watch_pepper(config)
        self._api_keys = self._watch_key_file(config)
        self._remote: RemoteKeys | None = None
        self.jwt = self._jwt_verifier(config, clock, monotonic) if config.jwt.enabled else None
        spiffe = config.spiffe
        self._spiffe = (
            SpiffeMapper(spiffe.trust_domain, spiffe.agent_from)
            if spiffe.trust_domain is not None and spiffe.agent_from is not None
            else None
        )
        self._workloads: dict[str, Proof] = {}
        self._poller = Poller("identity-reloader", config.reload_interval_seconds, self.poll)

    @classmethod
    def from_config(cls, config: Config) -> Identifier:
        return cls(config.identity)

    async def start(self) -> None:
        """Fetch a remote key set (a failure is logged and retried) and start watching files."""
        if self._remote is not None:
            await self._remote.start()
        if self._watched:
            self._poller.start()

    async def stop(self) -> None:
        self._poller.stop()
        if self._remote is not None:
            await self._remote.stop()

    def poll(self) -> None:
        """Re-read the files that changed (the watcher thread calls this)."""
        for watched in self._watched:
            watched.refresh()

    async def identify(self, headers: Mapping[str, str], principal: str | None = None) -> AgentIdentity:
        """The caller's identity; never raises. ``principal``: Envoy's ``source.principal``."""
        if not self.enabled:
            return ANONYMOUS
        presented = presented_credentials(headers, self._rules)
        use_principal = self._spiffe is not None and bool(principal)
        if not presented and not use_principal:
            # Identity is configured and the call proves none: say so, so that a policy cannot
            # mistake it for a deployment without identity (the default policy refuses it).
            return MISSING
        strip = tuple(p.header for p in presented)
        try:
            outcomes = [await self._verify(p) for p in presented]
            if use_principal:
                outcomes.append(self._verify_principal(principal or ""))
        except Exception as exc:  # a bug must not become an allow, nor an error without a code
            log.error("identify_failed", error=type(exc).__name__)
            return AgentIdentity(error=IdentityError.IDENTITY_ERROR, credential_headers=strip)
        return combine(outcomes, strip)

    async def _verify(self, presented: Presented) -> Outcome:
        if presented.kind is CredentialKind.JWT:
            assert self.jwt is not None
            return await self.jwt.verify(presented.value)
        if presented.kind is CredentialKind.API_KEY:
            return self._verify_api_key(presented.value)
        return presented.error or IdentityError.CREDENTIAL_MALFORMED

    def _verify_api_key(self, key: str) -> Outcome:
        assert self._api_keys is not None
        pepper = self._pepper.value if self._pepper is not None else None
        stored = self._api_keys.value.find(key, pepper)
        if stored is None:
            return IdentityError.API_KEY_INVALID
        return stored.proof

    def _verify_principal(self, principal: str) -> Outcome:
        assert self._spiffe is not None
        proof = self._workloads.get(principal)
        if proof is not None:
            return proof
        agent = self._spiffe.agent_for(principal)
        if isinstance(agent, IdentityError):
            return agent
        if len(self._workloads) >= MAX_KNOWN_WORKLOADS:
            self._workloads.clear()  # a pod has a handful of peers; this only bounds a flood
        proof = self._workloads[principal] = Proof(agent, AuthMethod.SPIFFE, spiffe_id=principal)
        return proof

    def _watch_pepper(self, config: IdentityConfig) -> WatchedFile[Pepper] | None:
        path = config.api_keys.pepper_file
        if path is None or not config.api_keys.enabled:
            return None
        watched = WatchedFile(
            "identity.api_keys.pepper_file", path, parse_pepper, max_bytes=MAX_KEY_FILE_BYTES
        )
        self._watched.append(watched)
        return watched

    def _watch_key_file(self, config: IdentityConfig) -> WatchedFile[ApiKeySet] | None:
        path = config.api_keys.file
        if path is None:
            return None
        peppered = config.api_keys.pepper_file is not None
        watched = WatchedFile(
            "identity.api_keys.file",
            path,
            lambda data, where: parse_key_file(data, where, peppered=peppered),
            max_bytes=MAX_KEY_FILE_BYTES,
        )
        self._watched.append(watched)
        log.info("api_keys_loaded", path=path, keys=watched.value.size)
        return watched

    def _jwt_verifier(
        self, config: IdentityConfig, clock: Callable[[], float], monotonic: Callable[[], float]
    ) -> JwtVerifier:
        jwt = config.jwt
        keys: KeySource | None = None
        if jwt.jwks_file is not None:
            file_keys = FileKeys(jwt.jwks_file)
            self._watched.append(file_keys.file)
            keys = file_keys
        elif jwt.jwks_url is not None:
            self._remote = RemoteKeys(
                jwt.jwks_url,
                refresh_seconds=jwt.jwks_refresh_seconds,
                min_refetch_seconds=jwt.jwks_min_refetch_seconds,
                timeout_ms=jwt.jwks_timeout_ms,
                clock=monotonic,
            )
            keys = self._remote
        secret = None
        if jwt.hs256_secret_file is not None:
            secret = WatchedFile(
                "identity.jwt.hs256_secret_file",
                jwt.hs256_secret_file,
                parse_hmac_secret,
                max_bytes=MAX_HMAC_SECRET_BYTES,
            )
            self._watched.append(secret)
        return JwtVerifier(jwt, keys, secret, clock)


def combine(outcomes: list[Outcome], strip: tuple[str, ...]) -> AgentIdentity:
    """One identity from the outcome of each credential (rules in the module docstring)."""
    if len(outcomes) == 1 and isinstance(outcomes[0], Proof):
        return outcomes[0].identity(strip)
    for outcome in outcomes:
        if isinstance(outcome, IdentityError):
            return AgentIdentity(error=outcome, credential_headers=strip)
    proofs = sorted((o for o in outcomes if isinstance(o, Proof)), key=lambda p: _STRENGTH.index(p.method))
    if len({p.agent_id for p in proofs}) > 1:
        return AgentIdentity(error=IdentityError.CREDENTIAL_CONFLICT, credential_headers=strip)
    primary = proofs[0]
    return AgentIdentity(
        authenticated=True,
        agent_id=primary.agent_id,
        method=primary.method,
        methods=tuple(dict.fromkeys(p.method for p in proofs)),
        claims=next((p.claims for p in proofs if p.claims is not None), None),
        spiffe_id=next((p.spiffe_id for p in proofs if p.spiffe_id is not None), None),
        key_id=next((p.key_id for p in proofs if p.key_id is not None), None),
        expires_at=next((p.expires_at for p in proofs if p.expires_at is not None), None),
        credential_headers=strip,
    )
