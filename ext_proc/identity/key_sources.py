"""Where the identity provider's keys come from: a file (re-read on change) or a URL.

The URL is fetched with aiohttp on the event loop, never blocking it: once at start, then every
``jwks_refresh_seconds``, and again when a token names a key id the set does not have (the
provider rotated its keys). That last fetch is rate-limited (``jwks_min_refetch_seconds``) and
shared by concurrent requests, so tokens with made-up key ids cannot flood the provider. A fetch
that fails or returns garbage keeps the last good set.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Protocol

import aiohttp
import structlog

from ext_proc.identity.jwks import MAX_JWKS_BYTES, KeySet, parse_jwks
from ext_proc.watch import FileLoadError, WatchedFile

log = structlog.get_logger("chaperone.identity")


class KeySource(Protocol):
    def current(self) -> KeySet | None: ...

    async def refetch(self) -> bool:
        """Try to get a newer key set now; True when the set changed."""
        ...


class FileKeys:
    """A JWKS file; the reload poller re-reads it, so a refetch has nothing to add."""

    def __init__(self, path: str) -> None:
        self.file = WatchedFile("identity.jwt.jwks_file", path, parse_jwks, max_bytes=MAX_JWKS_BYTES)

    def current(self) -> KeySet | None:
        return self.file.value

    async def refetch(self) -> bool:
        return False


class RemoteKeys:
    def __init__(
        self,
        url: str,
        *,
        refresh_seconds: float,
        min_refetch_seconds: float,
        timeout_ms: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._refresh_seconds = refresh_seconds
        self._min_refetch_seconds = min_refetch_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout_ms / 1000)
        self._clock = clock
        self._keys: KeySet | None = None
        self._session: aiohttp.ClientSession | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._inflight: asyncio.Task[bool] | None = None
        self._last_attempt: float | None = None
        self.fetches = 0
        self.refetches_refused = 0

    def current(self) -> KeySet | None:
        return self._keys

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        await self._fetch_shared()
        self._refresher = asyncio.create_task(self._refresh_loop(), name="jwks-refresh")

    async def stop(self) -> None:
        for task in (self._refresher, self._inflight):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def refetch(self) -> bool:
        if self._inflight is None and not self._refetch_allowed():
            self.refetches_refused += 1
            return False
        return await self._fetch_shared()

    def _refetch_allowed(self) -> bool:
        last = self._last_attempt
        return last is None or self._clock() - last >= self._min_refetch_seconds

    async def _fetch_shared(self) -> bool:
        # One fetch at a time; every caller waiting meanwhile gets its outcome. Shielded: a
        # request that gives up does not cancel the fetch the others wait for.
        if self._inflight is None:
            self._inflight = asyncio.create_task(self._fetch(), name="jwks-fetch")
            self._inflight.add_done_callback(self._fetch_done)
        return await asyncio.shield(self._inflight)

    def _fetch_done(self, task: asyncio.Task[bool]) -> None:
        if self._inflight is task:
            self._inflight = None

    async def _refresh_loop(self) -> None:
        while True:
            # Until a first set arrives, retry at the refetch pace rather than the refresh pace.
            wait = self._refresh_seconds if self._keys is not None else max(self._min_refetch_seconds, 1.0)
            await asyncio.sleep(wait)
            try:
                await self._fetch_shared()
            except Exception:  # the refresher must outlive any surprise; the last good set stays
                log.exception("jwks_refresh_crashed", url=self._url)

    async def _fetch(self) -> bool:
        self._last_attempt = self._clock()
        self.fetches += 1
        try:
            keys = parse_jwks(await self._download(), self._url)
        except (aiohttp.ClientError, TimeoutError, FileLoadError) as exc:
            log.error(
                "jwks_fetch_failed", url=self._url, error=_describe(exc), have_keys=self._keys is not None
            )
            return False
        if self._keys is not None and keys.digest == self._keys.digest:
            return False  # the same set: keep the object, so cached verifications stay valid
        self._keys = keys
        log.info("jwks_updated", url=self._url, keys=len(keys.keys), kids=[k.kid for k in keys.keys])
        return True

    async def _download(self) -> bytes:
        assert self._session is not None, "start() first"
        async with self._session.get(self._url, headers={"accept": "application/json"}) as response:
            if response.status != 200:
                raise FileLoadError(f"{self._url}: HTTP status {response.status}")
            data = await response.content.read(MAX_JWKS_BYTES + 1)
        if len(data) > MAX_JWKS_BYTES:
            raise FileLoadError(f"{self._url}: larger than {MAX_JWKS_BYTES} bytes")
        return data


def _describe(exc: BaseException) -> str:
    if isinstance(exc, FileLoadError):
        return str(exc)
    return type(exc).__name__
